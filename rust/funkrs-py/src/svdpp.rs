//! `svdpp_fit` and `nmf_fit`: the explicit-feedback grid solvers.

use funkrs_core::nmf::{self, NmfParams};
use funkrs_core::svdpp::{self, FittedFactors, SvdppParams};
use funkrs_core::{FunkError, Interactions, Par};
use numpy::ndarray::Array1;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::arrays::factor_matrix;
use crate::enter::enter_interruptible;
use crate::errors::PyFunkErr;

type FitOutput<'py> = (
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray1<f32>>,
    Bound<'py, PyArray1<f32>>,
    f64,
    Vec<f64>,
);

/// Runs `fit` detached from the interpreter, polling Ctrl-C before every stratum.
fn run(
    py: Python<'_>,
    n_threads: Option<i64>,
    (n_users, n_items): (usize, usize),
    fit: impl Send
        + FnOnce(
            Par<'_>,
            &mut dyn FnMut() -> Result<(), FunkError>,
        ) -> Result<FittedFactors, FunkError>,
) -> PyResult<FitOutput<'_>> {
    let f = enter_interruptible(py, n_threads, fit)?;
    let k = f.n_factors;
    let p = factor_matrix(py, n_users, k, f.user_factors)?;
    let q = factor_matrix(py, n_items, k, f.item_factors)?;
    Ok((
        p,
        q,
        Array1::from_vec(f.user_bias).into_pyarray(py),
        Array1::from_vec(f.item_bias).into_pyarray(py),
        f64::from(f.global_mean),
        f.train_rmse,
    ))
}

/// Fits SVD++; returns `(P, Q, b_u, b_i, μ, train RMSE per epoch)` with `P` the combined
/// user factors. Options left at `None` take the core's defaults.
#[pyfunction]
#[pyo3(signature = (users, items, values, n_users, n_items, *, n_factors=None, n_epochs=None,
    lr=None, reg=None, lr_y=None, init_std=None, seed=0, n_threads=None))]
pub fn svdpp_fit<'py>(
    py: Python<'py>,
    users: PyReadonlyArray1<'py, u32>,
    items: PyReadonlyArray1<'py, u32>,
    values: PyReadonlyArray1<'py, f32>,
    n_users: usize,
    n_items: usize,
    n_factors: Option<usize>,
    n_epochs: Option<usize>,
    lr: Option<f32>,
    reg: Option<f32>,
    lr_y: Option<f32>,
    init_std: Option<f32>,
    seed: u64,
    n_threads: Option<i64>,
) -> PyResult<FitOutput<'py>> {
    let (u, i, v) = (users.as_slice()?, items.as_slice()?, values.as_slice()?);
    let data = Interactions::new(u, i, v, n_users, n_items).map_err(PyFunkErr)?;
    let d = SvdppParams::default();
    let params = SvdppParams {
        n_factors: n_factors.unwrap_or(d.n_factors),
        n_epochs: n_epochs.unwrap_or(d.n_epochs),
        lr: lr.unwrap_or(d.lr),
        reg: reg.unwrap_or(d.reg),
        lr_y: lr_y.unwrap_or(d.lr_y),
        init_std: init_std.unwrap_or(d.init_std),
        seed,
    };
    run(py, n_threads, (n_users, n_items), |par, check| {
        svdpp::fit(&data, &params, par, check)
    })
}

/// Fits biased NMF by projected SGD; returns `(P, Q, b_u, b_i, μ, train RMSE per epoch)`,
/// `P, Q ≥ 0`. Options left at `None` take the core's defaults.
#[pyfunction]
#[pyo3(signature = (users, items, values, n_users, n_items, *, n_factors=None, n_epochs=None,
    lr=None, reg=None, init_high=None, seed=0, n_threads=None))]
pub fn nmf_fit<'py>(
    py: Python<'py>,
    users: PyReadonlyArray1<'py, u32>,
    items: PyReadonlyArray1<'py, u32>,
    values: PyReadonlyArray1<'py, f32>,
    n_users: usize,
    n_items: usize,
    n_factors: Option<usize>,
    n_epochs: Option<usize>,
    lr: Option<f32>,
    reg: Option<f32>,
    init_high: Option<f32>,
    seed: u64,
    n_threads: Option<i64>,
) -> PyResult<FitOutput<'py>> {
    let (u, i, v) = (users.as_slice()?, items.as_slice()?, values.as_slice()?);
    let data = Interactions::new(u, i, v, n_users, n_items).map_err(PyFunkErr)?;
    let d = NmfParams::default();
    let params = NmfParams {
        n_factors: n_factors.unwrap_or(d.n_factors),
        n_epochs: n_epochs.unwrap_or(d.n_epochs),
        lr: lr.unwrap_or(d.lr),
        reg: reg.unwrap_or(d.reg),
        init_high: init_high.unwrap_or(d.init_high),
        seed,
    };
    run(py, n_threads, (n_users, n_items), |par, check| {
        nmf::fit(&data, &params, par, check)
    })
}
