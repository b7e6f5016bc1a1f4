//! `als_fit`: alternating least squares for explicit ratings.

use funkrs_core::als::{self, AlsParams};
use funkrs_core::increment::Increment;
use funkrs_core::Interactions;
use numpy::ndarray::Array1;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{factor_matrix, factor_shapes};
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
    let p = factor_matrix(py, n_users, k, f.user_factors)?;
    let q = factor_matrix(py, n_items, k, f.item_factors)?;
    let history = f
        .history
        .iter()
        .map(|h| (h.iteration, h.train_rmse, h.seconds))
        .collect();
    Ok((
        p,
        q,
        Array1::from(f.user_bias).into_pyarray(py),
        Array1::from(f.item_bias).into_pyarray(py),
        f.global_mean,
        history,
    ))
}

type AlsUpdateOutput<'py> = (
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray1<f32>>,
    Bound<'py, PyArray1<f32>>,
    Vec<f64>,
);

/// Updates an ALS model with new ratings (see `funkrs_core::als::update`); returns
/// `(P, Q, b_u, b_i, seconds per alternation)` in rating units.
#[pyfunction]
#[pyo3(signature = (users, items, ratings, user_factors, item_factors, user_bias, item_bias,
    global_mean, scale, seen_indptr, seen_indices, n_old_users, n_old_items, *, reg,
    n_iter=1, biased=true, n_threads=None))]
pub fn als_update<'py>(
    py: Python<'py>,
    users: PyReadonlyArray1<'py, u32>,
    items: PyReadonlyArray1<'py, u32>,
    ratings: PyReadonlyArray1<'py, f32>,
    user_factors: PyReadonlyArray2<'py, f32>,
    item_factors: PyReadonlyArray2<'py, f32>,
    user_bias: PyReadonlyArray1<'py, f32>,
    item_bias: PyReadonlyArray1<'py, f32>,
    global_mean: f32,
    scale: f64,
    seen_indptr: PyReadonlyArray1<'py, u64>,
    seen_indices: PyReadonlyArray1<'py, u32>,
    n_old_users: usize,
    n_old_items: usize,
    reg: f32,
    n_iter: usize,
    biased: bool,
    n_threads: Option<i64>,
) -> PyResult<AlsUpdateOutput<'py>> {
    let (n_users, n_items, k) = factor_shapes(&user_factors, &item_factors)?;
    let model = als::AlsModel {
        n_factors: k,
        user_factors: user_factors.as_slice()?,
        item_factors: item_factors.as_slice()?,
        user_bias: user_bias.as_slice()?,
        item_bias: item_bias.as_slice()?,
        global_mean,
        scale,
        biased,
    };
    let inc = Increment {
        users: users.as_slice()?,
        items: items.as_slice()?,
        values: ratings.as_slice()?,
        n_users,
        n_items,
        n_old_users,
        n_old_items,
        seen_indptr: seen_indptr.as_slice()?,
        seen_indices: seen_indices.as_slice()?,
    };
    let f = enter_interruptible(py, n_threads, |par, check| {
        als::update(&model, &inc, reg, n_iter, par, check)
    })?;
    let p = factor_matrix(py, n_users, k, f.user_factors)?;
    let q = factor_matrix(py, n_items, k, f.item_factors)?;
    Ok((
        p,
        q,
        Array1::from(f.user_bias).into_pyarray(py),
        Array1::from(f.item_bias).into_pyarray(py),
        f.history.iter().map(|h| h.seconds).collect(),
    ))
}
