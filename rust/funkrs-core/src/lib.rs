//! funkrs-core: the pure-Rust kernels behind the `funkrs` Python package.
//!
//! Nothing in this crate knows about Python: kernels take slices and parameter structs and
//! return owned vectors or a [`FunkError`]. Parallel entry points take a [`Par`] so that the
//! caller decides which thread pool runs them.

pub mod als;
mod blocks;
pub mod data;
pub mod error;
pub mod foldin;
mod hint;
pub mod ials;
pub mod increment;
pub mod index;
pub mod mem;
pub mod nmf;
pub mod par;
pub mod predict;
pub mod rng;
pub mod sgd;
pub mod svd;
pub mod svdpp;
pub mod topk;

pub use data::{Csr, Interactions};
pub use error::FunkError;
pub use par::Par;
pub use sgd::{EpochStats, Factors, Monitor, NoMonitor, SgdParams};
