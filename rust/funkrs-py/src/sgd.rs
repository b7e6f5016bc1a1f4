//! `sgd_fit`: Funk SVD training.

use funkrs_core::sgd::{
    self, EarlyStopping, EpochStats, FitOptions, Monitor, Schedule, SgdParams, Validation,
};
use funkrs_core::{FunkError, Interactions};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::factor_matrix;
use crate::enter::enter;
use crate::errors::PyFunkErr;

/// Checks for Ctrl-C between runs of strata and reports epochs to an optional Python callback.
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

fn stats_dict<'py>(py: Python<'py>, s: &EpochStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("epoch", s.epoch)?;
    d.set_item("feature", s.feature)?;
    d.set_item("train_rmse", s.train_rmse)?;
    d.set_item("validation_rmse", s.validation_rmse)?;
    d.set_item("lr", s.lr)?;
    d.set_item("seconds", s.seconds)?;
    Ok(d)
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
            let out = cb.call1(py, (stats_dict(py, stats)?,))?;
            // A callback returning False asks to stop; None or True continue.
            let out = out.bind(py);
            Ok::<bool, PyErr>(
                out.is_instance_of::<pyo3::types::PyBool>() && !out.extract::<bool>()?,
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
    Vec<Bound<'py, PyDict>>,
    Option<usize>,
);

type ValidationArrays<'py> = (
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, f32>,
);

fn parse_schedule(schedule: &str) -> PyResult<Schedule> {
    match schedule {
        "joint" => Ok(Schedule::Joint),
        "feature-wise" => Ok(Schedule::FeatureWise),
        other => Err(crate::errors::invalid_parameter(format!(
            "schedule must be 'joint' or 'feature-wise', got {other:?}"
        ))),
    }
}

/// Trains Funk SVD; returns `(P, Q, b_u, b_i, mu, history, best_epoch)`. Hyperparameters left
/// at `None` take the core's defaults (`SGD_DEFAULTS`).
#[pyfunction]
#[pyo3(signature = (users, items, ratings, n_users, n_items, *, n_factors=None, n_epochs=None,
    lr=None, reg=None, init_std=None, init_mean=0.0, lr_decay=0.0, biased=true, seed=0,
    n_blocks=None, reshuffle=false, schedule="joint", negatives=0.0, negative_target=0.0,
    standardize=None, validation=None, clip=None, patience=None, min_delta=0.0, n_threads=None,
    callback=None))]
pub fn sgd_fit<'py>(
    py: Python<'py>,
    users: PyReadonlyArray1<'py, u32>,
    items: PyReadonlyArray1<'py, u32>,
    ratings: PyReadonlyArray1<'py, f32>,
    n_users: usize,
    n_items: usize,
    n_factors: Option<usize>,
    n_epochs: Option<usize>,
    lr: Option<f32>,
    reg: Option<f32>,
    init_std: Option<f32>,
    init_mean: f32,
    lr_decay: f32,
    biased: bool,
    seed: u64,
    n_blocks: Option<usize>,
    reshuffle: bool,
    schedule: &str,
    negatives: f32,
    negative_target: f32,
    standardize: Option<bool>,
    validation: Option<ValidationArrays<'py>>,
    clip: Option<(f32, f32)>,
    patience: Option<usize>,
    min_delta: f64,
    n_threads: Option<i64>,
    callback: Option<Py<PyAny>>,
) -> PyResult<FitOutput<'py>> {
    let (u, i, r) = (users.as_slice()?, items.as_slice()?, ratings.as_slice()?);
    let data = Interactions::new(u, i, r, n_users, n_items).map_err(PyFunkErr)?;
    let d = SgdParams::default();
    let params = SgdParams {
        n_factors: n_factors.unwrap_or(d.n_factors),
        n_epochs: n_epochs.unwrap_or(d.n_epochs),
        lr: lr.unwrap_or(d.lr),
        lr_decay,
        reg: reg.unwrap_or(d.reg),
        init_std: init_std.unwrap_or(d.init_std),
        init_mean,
        biased,
        seed,
        n_blocks,
        reshuffle,
        schedule: parse_schedule(schedule)?,
        negative_ratio: negatives,
        negative_target,
        standardize: standardize.unwrap_or(d.standardize),
    };
    let options = FitOptions {
        validation: match &validation {
            Some((vu, vi, vr)) => Some(Validation {
                users: vu.as_slice()?,
                items: vi.as_slice()?,
                ratings: vr.as_slice()?,
                clip,
            }),
            None => None,
        },
        early_stopping: patience.map(|patience| EarlyStopping {
            patience,
            min_delta,
        }),
    };
    let mut monitor = PyMonitor {
        callback,
        error: None,
    };
    let res = enter(py, n_threads, |par| {
        sgd::fit_with(&data, &params, &options, par, &mut monitor)
    });
    if let Some(e) = monitor.error.take() {
        return Err(e);
    }
    let f = res?;
    let k = f.n_factors;
    let p = factor_matrix(py, n_users, k, f.user_factors)?;
    let q = factor_matrix(py, n_items, k, f.item_factors)?;
    let history = f
        .history
        .iter()
        .map(|s| stats_dict(py, s))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((
        p,
        q,
        f.user_bias.into_pyarray(py),
        f.item_bias.into_pyarray(py),
        f.global_mean,
        history,
        f.best_epoch,
    ))
}

type UpdateOutput<'py> = (
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray1<f32>>,
    Bound<'py, PyArray1<f32>>,
    Vec<Bound<'py, PyDict>>,
);

/// Warm-started Funk SGD over `(users, items, ratings)` (inner ids of the grown model),
/// starting from the given factors and biases in the ratings' units, trained in the units
/// `(center, scale)`; returns `(P, Q, b_u, b_i, history)`. Rows no rating touches come back
/// bit for bit.
#[pyfunction]
#[pyo3(signature = (users, items, ratings, user_factors, item_factors, user_bias, item_bias,
    global_mean, center, scale, *, n_epochs, lr, reg, lr_decay=0.0, biased=true, seed=0,
    n_blocks=None, reshuffle=false, n_threads=None))]
pub fn sgd_update<'py>(
    py: Python<'py>,
    users: PyReadonlyArray1<'py, u32>,
    items: PyReadonlyArray1<'py, u32>,
    ratings: PyReadonlyArray1<'py, f32>,
    user_factors: numpy::PyReadonlyArray2<'py, f32>,
    item_factors: numpy::PyReadonlyArray2<'py, f32>,
    user_bias: PyReadonlyArray1<'py, f32>,
    item_bias: PyReadonlyArray1<'py, f32>,
    global_mean: f32,
    center: f32,
    scale: f32,
    n_epochs: usize,
    lr: f32,
    reg: f32,
    lr_decay: f32,
    biased: bool,
    seed: u64,
    n_blocks: Option<usize>,
    reshuffle: bool,
    n_threads: Option<i64>,
) -> PyResult<UpdateOutput<'py>> {
    let (n_users, n_items, k) = crate::arrays::factor_shapes(&user_factors, &item_factors)?;
    let contiguous = |name: &str| {
        crate::errors::funkrs_error("ShapeError", format!("{name} must be C-contiguous"))
    };
    let (u, i, r) = (users.as_slice()?, items.as_slice()?, ratings.as_slice()?);
    let data = Interactions::new(u, i, r, n_users, n_items).map_err(PyFunkErr)?;
    let warm = sgd::Warm {
        user_factors: user_factors
            .as_slice()
            .map_err(|_| contiguous("user_factors"))?,
        item_factors: item_factors
            .as_slice()
            .map_err(|_| contiguous("item_factors"))?,
        user_bias: user_bias.as_slice()?,
        item_bias: item_bias.as_slice()?,
        global_mean,
        center,
        scale,
    };
    let params = SgdParams {
        n_factors: k.max(1),
        n_epochs,
        lr,
        lr_decay,
        reg,
        biased,
        seed,
        n_blocks,
        reshuffle,
        ..SgdParams::default()
    };
    let mut monitor = PyMonitor {
        callback: None,
        error: None,
    };
    let res = enter(py, n_threads, |par| {
        sgd::update(&data, &warm, &params, par, &mut monitor)
    });
    if let Some(e) = monitor.error.take() {
        return Err(e);
    }
    let f = res?;
    let p = factor_matrix(py, n_users, k, f.user_factors)?;
    let q = factor_matrix(py, n_items, k, f.item_factors)?;
    let history = f
        .history
        .iter()
        .map(|s| stats_dict(py, s))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((
        p,
        q,
        f.user_bias.into_pyarray(py),
        f.item_bias.into_pyarray(py),
        history,
    ))
}
