//! `dense_svd`: the Gram-route (or direct) SVD of a float64 matrix; `imputed_svd`: the
//! truncated SVD of mean-imputed ratings through implicit products.

use funkrs_core::svd::implicit::{self as imputed, ImputedMatrix, ImputedParams};
use funkrs_core::svd::{self, SvdMethod};
use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::enter::enter;
use crate::errors::PyFunkErr;

type SvdOutput<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray2<f64>>,
);

/// Thin SVD `(U, S, Vt)` of a 2-D float64 array with any strides (read in place).
#[pyfunction]
#[pyo3(signature = (a, k=None, *, method="gram", n_threads=None))]
pub fn dense_svd<'py>(
    py: Python<'py>,
    a: PyReadonlyArray2<'py, f64>,
    k: Option<usize>,
    method: &str,
    n_threads: Option<i64>,
) -> PyResult<SvdOutput<'py>> {
    let method = SvdMethod::parse(method).map_err(PyFunkErr)?;
    let view = a.as_array();
    let (m, n) = view.dim();
    let strides = view.strides();
    debug_assert_eq!(a.ndim(), 2);
    // SAFETY: the pointer, shape and element strides describe the live numpy buffer, which
    // the read-only borrow `a` keeps alive and unmodified until this function returns.
    let mat =
        unsafe { faer::MatRef::<f64>::from_raw_parts(view.as_ptr(), m, n, strides[0], strides[1]) };
    let r = enter(py, n_threads, |par| svd::svd(mat, k, method, par))?;
    let shape_err =
        |e: numpy::ndarray::ShapeError| pyo3::exceptions::PyRuntimeError::new_err(e.to_string());
    let u = Array2::from_shape_vec((r.m, r.k), r.u).map_err(shape_err)?;
    let vt = Array2::from_shape_vec((r.k, r.n), r.vt).map_err(shape_err)?;
    Ok((
        u.into_pyarray(py),
        r.s.into_pyarray(py),
        vt.into_pyarray(py),
    ))
}

type ImputedOutput<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray2<f64>>,
    usize,
    f64,
    bool,
);

/// Rank-`k` SVD of `S + a bᵀ` (mean-imputed ratings) without forming it, by thick-restarted
/// block Lanczos; returns `(U, S, Vt, n_iter, residual, converged)`. Options left at `None`
/// take the core's defaults (`IMPUTED_SVD_DEFAULTS`).
#[pyfunction]
#[pyo3(signature = (users, items, ratings, a, b, *, k, oversample=None, tol=None, max_iter=None,
    block_size=None, max_basis=None, seed=0, n_threads=None))]
pub fn imputed_svd<'py>(
    py: Python<'py>,
    users: PyReadonlyArray1<'py, u32>,
    items: PyReadonlyArray1<'py, u32>,
    ratings: PyReadonlyArray1<'py, f32>,
    a: PyReadonlyArray1<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    k: usize,
    oversample: Option<usize>,
    tol: Option<f64>,
    max_iter: Option<usize>,
    block_size: Option<usize>,
    max_basis: Option<usize>,
    seed: u64,
    n_threads: Option<i64>,
) -> PyResult<ImputedOutput<'py>> {
    let (u, i, r) = (users.as_slice()?, items.as_slice()?, ratings.as_slice()?);
    let (a, b) = (a.as_slice()?.to_vec(), b.as_slice()?.to_vec());
    let params = ImputedParams {
        k,
        oversample: oversample.unwrap_or(imputed::DEFAULT_OVERSAMPLE),
        tol: tol.unwrap_or(imputed::DEFAULT_TOL),
        max_iter: max_iter.unwrap_or(imputed::DEFAULT_MAX_ITER),
        block_size: block_size.unwrap_or(0),
        max_basis: max_basis.unwrap_or(0),
        seed,
    };
    let res = enter(py, n_threads, |par| {
        let x = ImputedMatrix::new(u, i, r, a, b)?;
        imputed::imputed_svd(&x, &params, par)
    })?;
    let r = res.svd;
    let shape_err =
        |e: numpy::ndarray::ShapeError| pyo3::exceptions::PyRuntimeError::new_err(e.to_string());
    let u = Array2::from_shape_vec((r.m, r.k), r.u).map_err(shape_err)?;
    let vt = Array2::from_shape_vec((r.k, r.n), r.vt).map_err(shape_err)?;
    Ok((
        u.into_pyarray(py),
        r.s.into_pyarray(py),
        vt.into_pyarray(py),
        res.n_iter,
        res.residual,
        res.converged,
    ))
}
