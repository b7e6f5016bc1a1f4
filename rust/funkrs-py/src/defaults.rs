//! The core's defaults, exposed so that the Python API declares none of its own.

use funkrs_core::sgd::defaults as sgd;
use funkrs_core::svd::implicit;
use pyo3::prelude::*;

/// Defaults of `sgd_fit` (and of `MatrixFactorization`): `SGD_DEFAULTS`.
#[pyclass(frozen, get_all, module = "funkrs._funkrs")]
pub struct SgdDefaults {
    n_factors: usize,
    n_epochs: usize,
    lr: f64,
    reg: f64,
    init_std: f64,
    standardize: bool,
}

/// Defaults of `imputed_svd` (and of the `imputed-svd` solver): `IMPUTED_SVD_DEFAULTS`.
#[pyclass(frozen, get_all, module = "funkrs._funkrs")]
pub struct ImputedSvdDefaults {
    oversample: usize,
    tol: f64,
    max_iter: usize,
}

/// Defaults of `ials_fit` (and of the `implicit-als` solver): `IALS_DEFAULTS`.
#[pyclass(frozen, get_all, module = "funkrs._funkrs")]
pub struct IalsDefaults {
    n_factors: usize,
    n_iter: usize,
    reg: f64,
    alpha: f64,
    cg_steps: usize,
    init_std: f64,
}

/// Defaults of `als_fit` (and of the `als` solver): `ALS_DEFAULTS`.
#[pyclass(frozen, get_all, module = "funkrs._funkrs")]
pub struct AlsDefaults {
    n_iter: usize,
    reg: f64,
    init_std: f64,
}

/// Adds `SGD_DEFAULTS`, `IMPUTED_SVD_DEFAULTS`, `IALS_DEFAULTS` and `ALS_DEFAULTS` to the
/// module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "SGD_DEFAULTS",
        SgdDefaults {
            n_factors: sgd::N_FACTORS,
            n_epochs: sgd::N_EPOCHS,
            lr: sgd::LR,
            reg: sgd::REG,
            init_std: sgd::INIT_STD,
            standardize: sgd::STANDARDIZE,
        },
    )?;
    m.add(
        "IMPUTED_SVD_DEFAULTS",
        ImputedSvdDefaults {
            oversample: implicit::DEFAULT_OVERSAMPLE,
            tol: implicit::DEFAULT_TOL,
            max_iter: implicit::DEFAULT_MAX_ITER,
        },
    )?;
    let d = funkrs_core::ials::IalsParams::default();
    m.add(
        "IALS_DEFAULTS",
        IalsDefaults {
            n_factors: d.n_factors,
            n_iter: d.n_iter,
            reg: f64::from(d.reg),
            alpha: f64::from(d.alpha),
            cg_steps: d.cg_steps,
            init_std: f64::from(d.init_std),
        },
    )?;
    let d = funkrs_core::als::AlsParams::default();
    m.add(
        "ALS_DEFAULTS",
        AlsDefaults {
            n_iter: d.n_iter,
            reg: f64::from(d.reg),
            init_std: f64::from(d.init_std),
        },
    )?;
    Ok(())
}
