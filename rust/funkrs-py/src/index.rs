//! `IdIndex`: the Rust hash/direct index behind `Vocabulary.numbers` for integer ids.

use funkrs_core::index::IdIndex as CoreIndex;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::enter::enter;
use crate::errors::PyFunkErr;

/// Raw `int64` id → inner id index (built once per vocabulary).
#[pyclass(module = "funkrs._funkrs", frozen)]
pub struct IdIndex {
    inner: CoreIndex,
    len: usize,
}

impl IdIndex {
    /// The core index.
    pub(crate) fn core(&self) -> &CoreIndex {
        &self.inner
    }
}

#[pymethods]
impl IdIndex {
    #[new]
    fn new(py: Python<'_>, ids: PyReadonlyArray1<'_, i64>) -> PyResult<Self> {
        let ids = ids.as_slice()?;
        let inner = py.detach(|| CoreIndex::new(ids)).map_err(PyFunkErr)?;
        Ok(IdIndex {
            inner,
            len: ids.len(),
        })
    }

    /// Inner ids of `queries`, `-1` where unknown.
    #[pyo3(signature = (queries, n_threads=None))]
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        queries: PyReadonlyArray1<'py, i64>,
        n_threads: Option<i64>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let q = queries.as_slice()?;
        let out = enter(py, n_threads, |par| Ok(self.inner.lookup(q, par)))?;
        Ok(out.into_pyarray(py))
    }

    fn __len__(&self) -> usize {
        self.len
    }
}

/// Fixed-width string (numpy `<U`, viewed as `uint32` rows) → inner id index.
#[pyclass(module = "funkrs._funkrs", frozen)]
pub struct StrIndex {
    inner: funkrs_core::index::StrIndex,
    len: usize,
}

#[pymethods]
impl StrIndex {
    #[new]
    fn new(py: Python<'_>, codes: PyReadonlyArray2<'_, u32>) -> PyResult<Self> {
        let width = codes.shape()[1];
        let len = codes.shape()[0];
        let data = codes.as_slice()?;
        let inner = py
            .detach(|| funkrs_core::index::StrIndex::new(data, width))
            .map_err(PyFunkErr)?;
        Ok(StrIndex { inner, len })
    }

    /// Inner ids of the query rows, `-1` where unknown.
    #[pyo3(signature = (queries, n_threads=None))]
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        queries: PyReadonlyArray2<'py, u32>,
        n_threads: Option<i64>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let width = queries.shape()[1];
        let q = queries.as_slice()?;
        let out = enter(py, n_threads, |par| Ok(self.inner.lookup(q, width, par)))?;
        Ok(out.into_pyarray(py))
    }

    fn __len__(&self) -> usize {
        self.len
    }
}
