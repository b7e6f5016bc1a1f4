//! `sgd_fit`: Funk SVD training.

use funkrs_core::sgd::{self, EpochStats, Monitor, SgdParams};
use funkrs_core::{FunkError, Interactions};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::enter::enter;
use crate::errors::PyFunkErr;

/// Checks for Ctrl-C between strata and reports epochs to an optional Python callback.
struct PyMonitor {
    callback: Option<Py<PyAny>>,
    error: Option<PyErr>,
}

impl PyMonitor {
    fn stash(&mut self, e: PyErr) -> FunkError {
        self.error = Some(e);
        FunkError::Interrupted
    }
}

impl Monitor for PyMonitor {
    fn check(&mut self) -> Result<(), FunkError> {
        #[allow(clippy::redundant_closure_for_method_calls)]
        // the method is not general over lifetimes
        let res = Python::attach(|py| py.check_signals());
        res.map_err(|e| self.stash(e))
    }

    fn on_epoch(&mut self, stats: &EpochStats) -> Result<(), FunkError> {
        let Some(cb) = &self.callback else {
            return Ok(());
        };
        let res = Python::attach(|py| {
            let out = cb.call1(py, (stats.epoch, stats.train_rmse, stats.seconds))?;
            // A callback returning False asks to stop; None or True continue.
            Ok::<bool, PyErr>(
                out.bind(py).is_instance_of::<pyo3::types::PyBool>() && !out.extract::<bool>(py)?,
            )
        });
        match res {
            Ok(false) => Ok(()),
            Ok(true) => Err(FunkError::Interrupted),
            Err(e) => Err(self.stash(e)),
        }
    }
}

type FitOutput<'py> = (
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray1<f32>>,
    Bound<'py, PyArray1<f32>>,
    f32,
    Vec<(usize, f64, f64)>,
);

/// Trains Funk SVD; returns `(P, Q, b_u, b_i, mu, history)`.
#[pyfunction]
#[pyo3(signature = (users, items, ratings, n_users, n_items, *, n_factors, n_epochs, lr, reg,
    init_std, init_mean=0.0, biased=true, seed=0, n_blocks=None, reshuffle=false, n_threads=None,
    callback=None))]
pub fn sgd_fit<'py>(
    py: Python<'py>,
    users: PyReadonlyArray1<'py, u32>,
    items: PyReadonlyArray1<'py, u32>,
    ratings: PyReadonlyArray1<'py, f32>,
    n_users: usize,
    n_items: usize,
    n_factors: usize,
    n_epochs: usize,
    lr: f32,
    reg: f32,
    init_std: f32,
    init_mean: f32,
    biased: bool,
    seed: u64,
    n_blocks: Option<usize>,
    reshuffle: bool,
    n_threads: Option<i64>,
    callback: Option<Py<PyAny>>,
) -> PyResult<FitOutput<'py>> {
    let (u, i, r) = (users.as_slice()?, items.as_slice()?, ratings.as_slice()?);
    let data = Interactions::new(u, i, r, n_users, n_items).map_err(PyFunkErr)?;
    let params = SgdParams {
        n_factors,
        n_epochs,
        lr,
        reg,
        init_std,
        init_mean,
        biased,
        seed,
        n_blocks,
        reshuffle,
    };
    let mut monitor = PyMonitor {
        callback,
        error: None,
    };
    let res = enter(py, n_threads, |par| {
        sgd::fit(&data, &params, par, &mut monitor)
    });
    if let Some(e) = monitor.error.take() {
        return Err(e);
    }
    let f = res?;
    let k = f.n_factors;
    let p = numpy::ndarray::Array2::from_shape_vec((n_users, k), f.user_factors)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    let q = numpy::ndarray::Array2::from_shape_vec((n_items, k), f.item_factors)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    let history = f
        .history
        .iter()
        .map(|s| (s.epoch, s.train_rmse, s.seconds))
        .collect();
    Ok((
        p.into_pyarray(py),
        q.into_pyarray(py),
        f.user_bias.into_pyarray(py),
        f.item_bias.into_pyarray(py),
        f.global_mean,
        history,
    ))
}
