//! Factor matrices between the core's row-major buffers and numpy, shared by the bindings.

use funkrs_core::FunkError;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::errors::PyFunkErr;

/// The core's row-major `rows × k` factors as a numpy matrix (moved, not copied).
pub fn factor_matrix(
    py: Python<'_>,
    rows: usize,
    k: usize,
    data: Vec<f32>,
) -> PyResult<Bound<'_, PyArray2<f32>>> {
    let a = Array2::from_shape_vec((rows, k), data)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py))
}

/// `(n_users, n_items, k)` of a fitted model's factors, which must have the same width.
pub fn factor_shapes(
    user_factors: &PyReadonlyArray2<'_, f32>,
    item_factors: &PyReadonlyArray2<'_, f32>,
) -> PyResult<(usize, usize, usize)> {
    let (n_users, k) = (user_factors.shape()[0], user_factors.shape()[1]);
    let (n_items, k_items) = (item_factors.shape()[0], item_factors.shape()[1]);
    if k_items != k {
        return Err(PyFunkErr(FunkError::Shape(format!(
            "user_factors have {k} columns, item_factors {k_items}"
        )))
        .into());
    }
    Ok((n_users, n_items, k))
}
