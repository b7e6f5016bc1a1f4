//! `ials_fit`: alternating least squares for implicit feedback.

use funkrs_core::ials::{self, IalsParams};
use funkrs_core::increment::Increment;
use funkrs_core::Interactions;
use numpy::{PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{factor_matrix, factor_shapes};
use crate::enter::enter_interruptible;
use crate::errors::PyFunkErr;

type IalsOutput<'py> = (
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray2<f32>>,
    Vec<f64>,
);

/// Fits implicit-feedback ALS; returns `(X, Y, seconds per iteration)`. Options left at
/// `None` take the core's defaults.
#[pyfunction]
#[pyo3(signature = (users, items, values, n_users, n_items, *, n_factors=None, n_iter=None,
    reg=None, alpha=None, cg_steps=None, init_std=None, seed=0, n_threads=None))]
pub fn ials_fit<'py>(
    py: Python<'py>,
    users: PyReadonlyArray1<'py, u32>,
    items: PyReadonlyArray1<'py, u32>,
    values: PyReadonlyArray1<'py, f32>,
    n_users: usize,
    n_items: usize,
    n_factors: Option<usize>,
    n_iter: Option<usize>,
    reg: Option<f32>,
    alpha: Option<f32>,
    cg_steps: Option<usize>,
    init_std: Option<f32>,
    seed: u64,
    n_threads: Option<i64>,
) -> PyResult<IalsOutput<'py>> {
    let (u, i, v) = (users.as_slice()?, items.as_slice()?, values.as_slice()?);
    let data = Interactions::new(u, i, v, n_users, n_items).map_err(PyFunkErr)?;
    let d = IalsParams::default();
    let params = IalsParams {
        n_factors: n_factors.unwrap_or(d.n_factors),
        n_iter: n_iter.unwrap_or(d.n_iter),
        reg: reg.unwrap_or(d.reg),
        alpha: alpha.unwrap_or(d.alpha),
        cg_steps: cg_steps.unwrap_or(d.cg_steps),
        init_std: init_std.unwrap_or(d.init_std),
        seed,
    };
    let f = enter_interruptible(py, n_threads, |par, check| {
        ials::fit(&data, &params, par, check)
    })?;
    let k = f.n_factors;
    let x = factor_matrix(py, n_users, k, f.user_factors)?;
    let y = factor_matrix(py, n_items, k, f.item_factors)?;
    let seconds = f.history.iter().map(|s| s.seconds).collect();
    Ok((x, y, seconds))
}

/// Updates implicit-ALS factors with new interactions (see `funkrs_core::ials::update`);
/// returns `(X, Y, seconds per alternation)`.
#[pyfunction]
#[pyo3(signature = (users, items, values, user_factors, item_factors, seen_indptr,
    seen_indices, n_old_users, n_old_items, *, reg, alpha, old_weight, cg_steps, n_iter=1,
    n_threads=None))]
pub fn ials_update<'py>(
    py: Python<'py>,
    users: PyReadonlyArray1<'py, u32>,
    items: PyReadonlyArray1<'py, u32>,
    values: PyReadonlyArray1<'py, f32>,
    user_factors: PyReadonlyArray2<'py, f32>,
    item_factors: PyReadonlyArray2<'py, f32>,
    seen_indptr: PyReadonlyArray1<'py, u64>,
    seen_indices: PyReadonlyArray1<'py, u32>,
    n_old_users: usize,
    n_old_items: usize,
    reg: f32,
    alpha: f32,
    old_weight: f32,
    cg_steps: usize,
    n_iter: usize,
    n_threads: Option<i64>,
) -> PyResult<IalsOutput<'py>> {
    let (n_users, n_items, k) = factor_shapes(&user_factors, &item_factors)?;
    let params = IalsParams {
        n_factors: k.max(1),
        reg,
        alpha,
        cg_steps: cg_steps.max(1),
        ..IalsParams::default()
    };
    let inc = Increment {
        users: users.as_slice()?,
        items: items.as_slice()?,
        values: values.as_slice()?,
        n_users,
        n_items,
        n_old_users,
        n_old_items,
        seen_indptr: seen_indptr.as_slice()?,
        seen_indices: seen_indices.as_slice()?,
    };
    let (x, y) = (user_factors.as_slice()?, item_factors.as_slice()?);
    let f = enter_interruptible(py, n_threads, |par, check| {
        ials::update(
            x, y, k, &inc, &params, old_weight, cg_steps, n_iter, par, check,
        )
    })?;
    let x = factor_matrix(py, n_users, k, f.user_factors)?;
    let y = factor_matrix(py, n_items, k, f.item_factors)?;
    let seconds = f.history.iter().map(|s| s.seconds).collect();
    Ok((x, y, seconds))
}
