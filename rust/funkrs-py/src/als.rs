//! `als_fit`: alternating least squares for explicit ratings.

use funkrs_core::als::{self, AlsParams};
use funkrs_core::Interactions;
use numpy::ndarray::{Array1, Array2};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::enter::enter_interruptible;
use crate::errors::PyFunkErr;

type AlsOutput<'py> = (
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray1<f32>>,
    Bound<'py, PyArray1<f32>>,
    f32,
    Vec<(usize, f64, f64)>,
);

/// Fits ALS; returns `(P, Q, b_u, b_i, μ, [(iteration, train RMSE, seconds)])` in rating
/// units. Options left at `None` take the core's defaults.
#[pyfunction]
#[pyo3(signature = (users, items, ratings, n_users, n_items, *, n_factors=None, n_iter=None,
    reg=None, init_std=None, biased=true, standardize=true, seed=0, n_threads=None))]
pub fn als_fit<'py>(
    py: Python<'py>,
    users: PyReadonlyArray1<'py, u32>,
    items: PyReadonlyArray1<'py, u32>,
    ratings: PyReadonlyArray1<'py, f32>,
    n_users: usize,
    n_items: usize,
    n_factors: Option<usize>,
    n_iter: Option<usize>,
    reg: Option<f32>,
    init_std: Option<f32>,
    biased: bool,
    standardize: bool,
    seed: u64,
    n_threads: Option<i64>,
) -> PyResult<AlsOutput<'py>> {
    let (u, i, r) = (users.as_slice()?, items.as_slice()?, ratings.as_slice()?);
    let data = Interactions::new(u, i, r, n_users, n_items).map_err(PyFunkErr)?;
    let d = AlsParams::default();
    let params = AlsParams {
        n_factors: n_factors.unwrap_or(d.n_factors),
        n_iter: n_iter.unwrap_or(d.n_iter),
        reg: reg.unwrap_or(d.reg),
        init_std: init_std.unwrap_or(d.init_std),
        biased,
        standardize,
        seed,
    };
    let f = enter_interruptible(py, n_threads, |par, check| {
        als::fit(&data, &params, par, check)
    })?;
    let k = f.n_factors;
    let shape_err =
        |e: numpy::ndarray::ShapeError| pyo3::exceptions::PyRuntimeError::new_err(e.to_string());
    let p = Array2::from_shape_vec((n_users, k), f.user_factors).map_err(shape_err)?;
    let q = Array2::from_shape_vec((n_items, k), f.item_factors).map_err(shape_err)?;
    let history = f
        .history
        .iter()
        .map(|h| (h.iteration, h.train_rmse, h.seconds))
        .collect();
    Ok((
        p.into_pyarray(py),
        q.into_pyarray(py),
        Array1::from(f.user_bias).into_pyarray(py),
        Array1::from(f.item_bias).into_pyarray(py),
        f.global_mean,
        history,
    ))
}
