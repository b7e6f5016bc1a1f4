//! `funkrs._funkrs`: the thin PyO3 layer over `funkrs-core`.
//!
//! Each file handles one concern: array conversion happens at the top of each function,
//! the work runs detached from the interpreter inside a funkrs thread pool (`enter.rs`), and
//! core errors become Python exceptions (`errors.rs`).

// #[pyfunction] arguments are extracted by value; borrowing them is not an option.
#![allow(clippy::needless_pass_by_value)]

mod als;
mod arrays;
mod defaults;
mod enter;
mod errors;
mod ials;
mod index;
mod scoring;
mod sgd;
mod svd;
mod svdpp;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
mod _funkrs {
    #[pymodule_export]
    use crate::als::{als_fit, als_update};
    #[pymodule_export]
    use crate::defaults::{
        AlsDefaults, IalsDefaults, ImputedSvdDefaults, NmfDefaults, SgdDefaults, SvdppDefaults,
    };
    #[pymodule_export]
    use crate::ials::{ials_fit, ials_update};
    #[pymodule_export]
    use crate::index::{IdIndex, StrIndex};
    #[pymodule_export]
    use crate::scoring::{csr_from_coo, csr_merge, fold_in, predict, top_n};
    #[pymodule_export]
    use crate::sgd::{sgd_fit, sgd_update};
    #[pymodule_export]
    use crate::svd::{dense_svd, imputed_svd};
    #[pymodule_export]
    use crate::svdpp::{nmf_fit, svdpp_fit};

    use super::{Bound, PyModule, PyModuleMethods, PyResult};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add_function(pyo3::wrap_pyfunction!(crate::enter::default_n_threads, m)?)?;
        crate::defaults::register(m)?;
        Ok(())
    }
}
