//! `dense_svd`: the Gram-route (or direct) SVD of a float64 matrix.

use funkrs_core::svd::{self, SvdMethod};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
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
