//! Mapping of `FunkError` to Python exceptions.

use funkrs_core::FunkError;
use pyo3::exceptions::{PyIndexError, PyKeyboardInterrupt, PyValueError};
use pyo3::{create_exception, PyErr};

create_exception!(
    funkrs.exceptions,
    FunkrsError,
    pyo3::exceptions::PyException,
    "Base class of the errors raised by funkrs."
);
create_exception!(
    funkrs.exceptions,
    ConvergenceError,
    FunkrsError,
    "Training diverged (the loss became NaN or infinite)."
);

/// Wrapper so that `?` turns a core error into a `PyErr`.
pub struct PyFunkErr(pub FunkError);

impl From<FunkError> for PyFunkErr {
    fn from(e: FunkError) -> Self {
        PyFunkErr(e)
    }
}

impl From<PyFunkErr> for PyErr {
    fn from(e: PyFunkErr) -> PyErr {
        let msg = e.0.to_string();
        match e.0 {
            FunkError::InvalidParam { .. }
            | FunkError::Shape(_)
            | FunkError::NonFinite { .. }
            | FunkError::NonFiniteEntry { .. } => PyValueError::new_err(msg),
            FunkError::IndexOutOfRange { .. } => PyIndexError::new_err(msg),
            FunkError::Diverged { .. } | FunkError::NoConvergence(_) => {
                ConvergenceError::new_err(msg)
            }
            FunkError::Interrupted => PyKeyboardInterrupt::new_err(msg),
        }
    }
}
