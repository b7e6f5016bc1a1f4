//! Running core work detached from the interpreter, inside a cached funkrs thread pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use funkrs_core::par::{build_pool, Pool};
use funkrs_core::{FunkError, Par};
use pyo3::prelude::*;

use crate::errors::PyFunkErr;

/// Threads used when the caller passes `n_threads=None`: `FUNKRS_NUM_THREADS` if set, else the
/// number of cores.
#[pyfunction]
pub fn default_n_threads() -> usize {
    std::env::var("FUNKRS_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Whether parallel sections first put the pool's workers on separate CPUs
/// ([`Pool::spread`]): only with `FUNKRS_SPREAD_WORKERS=1` (read when the first pool is built).
/// Off by default: a library does not change its caller's thread affinities unasked.
fn spread_workers() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("FUNKRS_SPREAD_WORKERS").is_ok_and(|v| v.trim() == "1"))
}

fn pool(n_threads: usize) -> Result<Arc<Pool>, FunkError> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<Pool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(p) = pools.get(&n_threads) {
        return Ok(Arc::clone(p));
    }
    let p = Arc::new(build_pool(n_threads)?.spreading(spread_workers()));
    pools.insert(n_threads, Arc::clone(&p));
    Ok(p)
}

/// Checks a user-given thread count.
pub fn resolve_threads(n_threads: Option<i64>) -> PyResult<usize> {
    match n_threads {
        None => Ok(default_n_threads()),
        Some(n) if n >= 1 => Ok(usize::try_from(n).unwrap_or(usize::MAX).min(1024)),
        Some(n) => Err(crate::errors::invalid_parameter(format!(
            "n_threads must be a positive integer or None, got {n}"
        ))),
    }
}

/// Detaches from the interpreter and runs `f` with a [`Par`] for `n_threads` threads.
///
/// `f` runs on the calling thread (so that it can check for Ctrl-C between steps); its
/// parallel sections run in the pool.
pub fn enter<T, F>(py: Python<'_>, n_threads: Option<i64>, f: F) -> PyResult<T>
where
    T: Send,
    F: Send + FnOnce(Par<'_>) -> Result<T, FunkError>,
{
    let n = resolve_threads(n_threads)?;
    py.detach(|| {
        if n <= 1 {
            return f(Par::Seq);
        }
        let p = pool(n)?;
        f(Par::Pool(&p))
    })
    .map_err(|e| PyFunkErr(e).into())
}

/// [`enter`] for a kernel that polls for Ctrl-C: `f` gets the [`Par`] and a `check` closure
/// to call between steps. A pending signal stops the kernel with [`FunkError::Interrupted`],
/// and the signal's own Python exception (`KeyboardInterrupt`) is what this returns.
pub fn enter_interruptible<T, F>(py: Python<'_>, n_threads: Option<i64>, f: F) -> PyResult<T>
where
    T: Send,
    F: Send + FnOnce(Par<'_>, &mut dyn FnMut() -> Result<(), FunkError>) -> Result<T, FunkError>,
{
    let mut stashed: Option<PyErr> = None;
    let res = enter(py, n_threads, |par| {
        let mut check = || {
            #[allow(clippy::redundant_closure_for_method_calls)]
            // the method is not general over lifetimes
            let signals = Python::attach(|py| py.check_signals());
            signals.map_err(|e| {
                stashed = Some(e);
                FunkError::Interrupted
            })
        };
        f(par, &mut check)
    });
    match stashed {
        Some(e) => Err(e),
        None => res,
    }
}
