//! Truncated SVD of `S + a bᵀ` without materialising it (see the module docs of [`super`]).
