//! Where parallel work runs.
//!
//! Kernels never build or use rayon's global pool implicitly: they take a [`Par`] and run
//! their parallel sections through [`Par::install`]. `Par::Seq` runs everything on the
//! calling thread.

use rayon::ThreadPool;

/// The parallelism a kernel may use.
#[derive(Clone, Copy, Debug)]
pub enum Par<'a> {
    /// Run on the calling thread only.
    Seq,
    /// Run parallel sections inside this pool.
    Pool(&'a ThreadPool),
}

impl Par<'_> {
    /// Number of threads that parallel sections use.
    pub fn n_threads(&self) -> usize {
        match self {
            Par::Seq => 1,
            Par::Pool(pool) => pool.current_num_threads(),
        }
    }

    /// Runs `f` inside the pool (or directly for `Seq`).
    ///
    /// Inside `f`, rayon's parallel iterators use the pool's threads.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match self {
            Par::Seq => f(),
            Par::Pool(pool) => pool.install(f),
        }
    }

    /// Whether parallel iterators should be used at all.
    pub fn is_parallel(&self) -> bool {
        self.n_threads() > 1
    }
}

/// A buffer that several threads write at once, each at its own positions.
pub(crate) struct Disjoint<T>(*mut T);

// SAFETY: the callers of `slice` promise that no two threads touch the same positions.
unsafe impl<T: Send> Sync for Disjoint<T> {}
unsafe impl<T: Send> Send for Disjoint<T> {}

impl<T> Disjoint<T> {
    pub(crate) fn new(buf: &mut [T]) -> Self {
        Disjoint(buf.as_mut_ptr())
    }

    /// Positions `at..at + len` of the buffer.
    ///
    /// # Safety
    /// They lie inside the buffer, which outlives the returned slice, and no other thread
    /// touches them while the slice lives.
    #[allow(clippy::mut_from_ref)] // the point of the type; see the contract
    pub(crate) unsafe fn slice(&self, at: usize, len: usize) -> &mut [T] {
        // SAFETY: caller contract.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(at), len) }
    }
}

/// Builds a pool with `n_threads` workers whose threads are named `funkrs-N`.
pub fn build_pool(n_threads: usize) -> Result<ThreadPool, crate::FunkError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n_threads.max(1))
        .thread_name(|i| format!("funkrs-{i}"))
        .build()
        .map_err(|e| crate::FunkError::InvalidParam {
            name: "n_threads",
            reason: e.to_string(),
        })
}
