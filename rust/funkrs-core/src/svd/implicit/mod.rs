//! Truncated SVD of a mean-imputed rating matrix `X = S + a bᵀ` that is never materialised
//! (see the module docs of [`super`]).
//!
//! Let `C` be `X` or `Xᵀ`, whichever is tall (`ns = min(m, n)` columns). [`imputed_svd`] runs
//! a block Lanczos iteration on the short-side Gram matrix `G = Cᵀ C` (`ns × ns`, never formed):
//!
//! 1. the Krylov basis `V` (orthonormal, `ns × p`) grows by one block of `b` columns per step:
//!    `W = G V_new` is computed in a single pass over the stored cells ([`ImputedMatrix::gram`],
//!    no block on the long side), the new columns of `T = Vᵀ G V` are `Vᵀ W`, and the next block
//!    is `W` orthogonalised against all of `V` (full reorthogonalisation, twice);
//! 2. Rayleigh–Ritz: `T = Z Θ Zᵀ`; the Ritz vectors `V z_i` approximate right singular vectors
//!    and `θ_i` the squared singular values. Their residuals `‖G V z_i − θ_i V z_i‖` are read off
//!    the coupling of the newest block (the only part of `G V` outside the basis), so each
//!    step's convergence test costs no product;
//! 3. when `p` would exceed the basis limit, the iteration restarts thick: the `k + oversample`
//!    leading Ritz vectors (on which `T` is diagonal) are kept and the newest block appended;
//! 4. it stops when `‖G v_i − θ_i v_i‖ / (σ_i σ_1) ≤ tol` for the `k` leading pairs, which is
//!    the residual `‖Xᵀ u_i − σ_i v_i‖ / σ_1` of the triplet with `u_i = C v_i / σ_i`.
//!
//! Then `u_i = C v_i / σ_i` with `σ_i = ‖C v_i‖` (not `√θ_i`, which would square the dynamic
//! range), and one more product `Cᵀ U` measures the residuals of the returned triplets, so the
//! reported residual is computed, not estimated. Each triplet is then an exact singular triplet
//! of a matrix within `residual · σ_1` of `X` (in spectral norm).
//!
//! Why Lanczos rather than subspace iteration: beyond its low rank, a rating matrix has a bulk
//! of noise singular values with tiny relative gaps. Subspace iteration converges like
//! `(σ_{l+1} / σ_i)^{2t}` after `t` rounds, i.e. needs `O(1 / gap)` rounds there; a Krylov
//! method needs `O(1 / √gap)` products (the Chebyshev acceleration it gets for free), and the
//! restart keeps the memory bounded. Working with `G` squares the condition number, so the
//! attainable relative residual for a triplet is about `ε σ_1 / σ_i` rather than `ε`: far below
//! any useful tolerance unless `σ_i` is many orders of magnitude below `σ_1`.
//!
//! Each step costs `4 · nnz · b` flops in one pass over the cells, plus `O(ns · p · b)` for the
//! reorthogonalisation and `O(p³)` for the small eigenproblem.
//!
//! `operator.rs` holds the implicit matrix and its products, `lanczos.rs` the iteration.

mod lanczos;
mod operator;
#[cfg(test)]
mod tests;

pub use lanczos::{
    imputed_svd, ImputedParams, ImputedSvd, DEFAULT_BLOCK_SIZE, DEFAULT_MAX_BASIS,
    DEFAULT_MAX_ITER, DEFAULT_OVERSAMPLE, DEFAULT_TOL,
};
pub use operator::ImputedMatrix;
