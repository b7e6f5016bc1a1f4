//! Core errors become the exception classes of `funkrs.exceptions`.
//!
//! The classes are defined in Python, where each one derives from both `FunkrsError` and the
//! matching built-in (`ValueError`, `IndexError`, `MemoryError`, ...); this layer only looks
//! them up by name when it raises, so there is one hierarchy and no class defined twice.

use funkrs_core::FunkError;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::types::PyType;
use pyo3::PyErr;

/// Wrapper so that `?` turns a core error into a `PyErr`.
pub struct PyFunkErr(pub FunkError);

impl From<FunkError> for PyFunkErr {
    fn from(e: FunkError) -> Self {
        PyFunkErr(e)
    }
}

/// The `funkrs.exceptions` class for each kind of core error.
fn class_name(e: &FunkError) -> &'static str {
    match e {
        FunkError::InvalidParam { .. } => "InvalidParameterError",
        FunkError::Shape(_) => "ShapeError",
        FunkError::NonFinite { .. } | FunkError::NonFiniteEntry { .. } => "NonFiniteError",
        FunkError::IndexOutOfRange { .. } => "IndexOutOfRangeError",
        FunkError::Diverged { .. } | FunkError::NoConvergence(_) => "ConvergenceError",
        FunkError::OutOfMemory { .. } => "OutOfMemoryError",
        FunkError::Interrupted => "KeyboardInterrupt",
    }
}

/// An instance of `funkrs.exceptions.<name>` carrying `msg`.
///
/// Should the module fail to import, the import error itself is returned: it says what is
/// broken, where a substitute class would hide it.
pub fn funkrs_error(name: &str, msg: String) -> PyErr {
    Python::attach(|py| {
        let class = py
            .import("funkrs.exceptions")
            .and_then(|m| m.getattr(name))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
        match class {
            Ok(class) => PyErr::from_type(class, msg),
            Err(e) => e,
        }
    })
}

/// `funkrs.exceptions.InvalidParameterError(msg)`.
pub fn invalid_parameter(msg: String) -> PyErr {
    funkrs_error("InvalidParameterError", msg)
}

impl From<PyFunkErr> for PyErr {
    fn from(e: PyFunkErr) -> PyErr {
        let msg = e.0.to_string();
        match e.0 {
            FunkError::Interrupted => PyKeyboardInterrupt::new_err(msg),
            ref other => funkrs_error(class_name(other), msg),
        }
    }
}
