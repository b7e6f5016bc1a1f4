//! Where parallel work runs.
//!
//! Kernels never build or use rayon's global pool implicitly: they take a [`Par`] and run
//! their parallel sections through [`Par::install`]. `Par::Seq` runs everything on the
//! calling thread. Pools come from [`build_pool`]. A pool leaves the placement of its workers
//! to the scheduler; with [`Pool::spreading`] turned on, [`Pool::install`] first puts them on
//! separate CPUs before each parallel section it starts from outside the pool. That is
//! opt-in: it changes thread affinities, which a library should not do to its caller's
//! threads unasked (inside a Spark executor, a cgroup-limited container or next to another
//! process pinned to the same CPUs), for a gain measured on one 2-vCPU machine shape.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rayon::ThreadPool;

/// The parallelism a kernel may use.
#[derive(Clone, Copy, Debug)]
pub enum Par<'a> {
    /// Run on the calling thread only.
    Seq,
    /// Run parallel sections inside this pool.
    Pool(&'a Pool),
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

    /// Calls `f((c, chunk))` for the `c`-th chunk of `size` elements of `buf`, in the pool
    /// when parallel: the chunks never depend on the thread count, so neither do results
    /// computed chunk by chunk.
    pub fn for_each_chunk_mut<T: Send>(
        &self,
        buf: &mut [T],
        size: usize,
        f: impl Fn((usize, &mut [T])) + Sync + Send,
    ) {
        if self.is_parallel() {
            self.install(|| buf.par_chunks_mut(size).enumerate().for_each(&f));
        } else {
            buf.chunks_mut(size).enumerate().for_each(&f);
        }
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

/// A rayon pool built by [`build_pool`], plus what [`Pool::spread`] needs. It dereferences to
/// the [`ThreadPool`] for everything but [`Pool::install`].
pub struct Pool {
    rayon: ThreadPool,
    /// Kernel thread id of each worker, 0 until the worker has started (Linux only; the
    /// slots stay 0 elsewhere).
    tids: Arc<[AtomicI32]>,
    /// Whether [`Pool::install`] calls [`Pool::spread`].
    spread: bool,
    /// When the pool was built, and nanoseconds from then to the end of the last section
    /// started from outside the pool (0: none yet).
    born: Instant,
    last_end: AtomicU64,
    /// How many times [`Pool::spread`] pinned a worker (tests check that sections spread).
    #[cfg(test)]
    placed: std::sync::atomic::AtomicUsize,
}

/// How long rayon's workers may idle before they may be asleep: an idle worker yields a few
/// tens of times and then sleeps: an `install` + `broadcast` cost 7 µs while the
/// pool had idled up to 10 µs and 12 µs from 20 µs on (the workers had to be woken).
const SLEEP_AFTER: Duration = Duration::from_micros(10);

/// [`SLEEP_AFTER`] in nanoseconds.
const SLEEP_AFTER_NS: u64 = SLEEP_AFTER.as_nanos() as u64;

impl std::ops::Deref for Pool {
    type Target = ThreadPool;

    fn deref(&self) -> &ThreadPool {
        &self.rayon
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("n_threads", &self.rayon.current_num_threads())
            .finish_non_exhaustive()
    }
}

/// Builds a pool with `n_threads` workers whose threads are named `funkrs-N`.
pub fn build_pool(n_threads: usize) -> Result<Pool, crate::FunkError> {
    let n = n_threads.max(1);
    let tids: Arc<[AtomicI32]> = (0..n).map(|_| AtomicI32::new(0)).collect();
    let slots = Arc::clone(&tids);
    let built = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("funkrs-{i}"))
        .start_handler(move |i| slots[i].store(affinity::thread_id(), Ordering::Relaxed))
        .build()
        .map_err(|e| crate::FunkError::InvalidParam {
            name: "n_threads",
            reason: e.to_string(),
        })?;
    Ok(Pool {
        rayon: built,
        tids,
        spread: false,
        born: Instant::now(),
        last_end: AtomicU64::new(0),
        #[cfg(test)]
        placed: std::sync::atomic::AtomicUsize::new(0),
    })
}

impl Pool {
    /// The same pool, with [`Pool::install`] spreading the workers (opt-in) or leaving their
    /// placement to the scheduler (the default).
    #[must_use]
    pub fn spreading(self, on: bool) -> Self {
        Pool { spread: on, ..self }
    }

    /// Runs `f` inside the pool, as [`ThreadPool::install`]; on a spreading pool, called from
    /// outside the pool when the workers may have fallen asleep (the pool has been idle for
    /// 10 µs or more, `SLEEP_AFTER`), it first puts them on separate CPUs ([`Pool::spread`]).
    ///
    /// Any section, not only the first of a call: a fit's setup runs several sections with
    /// sequential work between them, long enough for the workers to fall asleep. Spread once
    /// per call, a two-thread MovieLens-small fit that came after a busy second of Python
    /// (Surprise) had its first epoch take 2.0 ms instead of 1.05 and its second 1.45
    /// instead of 0.97; spread before every section, 1.10 and 1.01. But the epochs follow
    /// one another 1.6 µs apart (median), the workers still awake, and there a spread (13 µs
    /// median) only costs.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        if self.rayon.current_thread_index().is_some() {
            return self.rayon.install(f);
        }
        let now = || u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let last = self.last_end.load(Ordering::Relaxed);
        if self.spread && (last == 0 || now().saturating_sub(last) >= SLEEP_AFTER_NS) {
            self.spread();
        }
        let out = self.rayon.install(f);
        self.last_end.store(now(), Ordering::Relaxed);
        out
    }

    /// Makes the workers wake up on separate CPUs for the next job from outside the pool,
    /// when the pool has a worker for every CPU this process may use (Linux; elsewhere, or
    /// with fewer workers than CPUs, it does nothing).
    ///
    /// Why: workers woken by a thread that has been busy for a while are queued on that
    /// thread's CPU, and the idle CPUs pull them only at the scheduler's next load balance.
    /// On the 2-vCPU machine the benchmarks run on, the second worker of a pool idle for
    /// 30 ms started its first task after a median 2.4 ms, so a short parallel section (the
    /// whole setup of a MovieLens-small fit) ran on one CPU. Here each sleeping worker is
    /// pinned to one CPU, so that it wakes up there, and the first thing it runs puts its
    /// affinity back to every CPU the caller may use: the pinning lasts until the worker
    /// runs. The second worker then started after 0.07 ms.
    ///
    /// It costs two system calls per worker and one in the caller, plus a broadcast job: 13 µs
    /// median on two workers, hence [`Pool::install`] calls it only when the
    /// workers may be asleep. From inside the pool it does nothing. Best effort: a failed
    /// system call leaves the placement to the scheduler.
    pub fn spread(&self) {
        if self.rayon.current_thread_index().is_some() {
            return;
        }
        let Some(allowed) = affinity::current() else {
            return;
        };
        let cpus = affinity::cpus(&allowed);
        if cpus.len() < 2 || self.tids.len() < cpus.len() {
            return;
        }
        let mut pinned = false;
        for (w, tid) in self.tids.iter().enumerate() {
            let tid = tid.load(Ordering::Relaxed);
            if tid > 0 {
                pinned |= affinity::pin(tid, cpus[w % cpus.len()]);
            }
        }
        if pinned {
            #[cfg(test)]
            self.placed.fetch_add(1, Ordering::Relaxed);
            self.rayon.spawn_broadcast(move |_| {
                affinity::restore(&allowed);
            });
        }
    }
}

/// Thread affinity through the Linux system calls.
#[cfg(target_os = "linux")]
mod affinity {
    use std::mem::{size_of, zeroed};

    /// A CPU mask.
    pub(super) type Mask = libc::cpu_set_t;

    /// Bits in a [`Mask`].
    const BITS: usize = 8 * size_of::<Mask>();

    /// The calling thread's kernel id (through `syscall`: glibc's `gettid` wrapper only
    /// exists from 2.30 on, and manylinux wheels link against older ones).
    pub(super) fn thread_id() -> i32 {
        // SAFETY: `gettid` takes no arguments and touches no memory.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        i32::try_from(tid).unwrap_or(0)
    }

    /// The CPUs the calling thread may run on.
    pub(super) fn current() -> Option<Mask> {
        // SAFETY: an all-zero `cpu_set_t` is a valid (empty) mask, and the call writes at most
        // `size_of::<Mask>()` bytes into it.
        unsafe {
            let mut mask: Mask = zeroed();
            (libc::sched_getaffinity(0, size_of::<Mask>(), &mut mask) == 0).then_some(mask)
        }
    }

    /// The CPUs of `mask`, in increasing order.
    pub(super) fn cpus(mask: &Mask) -> Vec<usize> {
        // SAFETY: every index is below the mask's size in bits.
        (0..BITS)
            .filter(|&c| unsafe { libc::CPU_ISSET(c, mask) })
            .collect()
    }

    /// Lets thread `tid` run on `cpu` only; whether that worked.
    pub(super) fn pin(tid: i32, cpu: usize) -> bool {
        if cpu >= BITS {
            return false;
        }
        // SAFETY: `cpu` is below the mask's size in bits; the call reads the mask only.
        unsafe {
            let mut mask: Mask = zeroed();
            libc::CPU_SET(cpu, &mut mask);
            libc::sched_setaffinity(tid, size_of::<Mask>(), &mask) == 0
        }
    }

    /// Lets the calling thread run on the CPUs of `mask`.
    pub(super) fn restore(mask: &Mask) {
        // SAFETY: the call reads the mask only. A failure leaves the thread where it is.
        unsafe {
            libc::sched_setaffinity(0, size_of::<Mask>(), mask);
        }
    }
}

/// Elsewhere: no thread ids, no masks; [`Pool::spread`] does nothing.
#[cfg(not(target_os = "linux"))]
#[allow(clippy::trivially_copy_pass_by_ref)] // the Linux module's signatures
mod affinity {
    #[derive(Clone, Copy)]
    pub(super) struct Mask;

    pub(super) fn thread_id() -> i32 {
        0
    }

    pub(super) fn current() -> Option<Mask> {
        None
    }

    pub(super) fn cpus(_: &Mask) -> Vec<usize> {
        Vec::new()
    }

    pub(super) fn pin(_: i32, _: usize) -> bool {
        false
    }

    pub(super) fn restore(_: &Mask) {}
}

#[cfg(test)]
mod tests {
    use super::{affinity, build_pool};

    /// After `spread`, every worker may again run on every CPU the caller may use (the
    /// pinning never outlasts the worker's wake-up), whether or not the pool fills the
    /// machine, also when it is called twice in a row.
    #[test]
    #[cfg(target_os = "linux")]
    fn spread_never_leaves_a_worker_pinned() {
        let allowed = affinity::current().expect("sched_getaffinity works on Linux");
        let n_cpus = affinity::cpus(&allowed).len();
        for n in [1, n_cpus, n_cpus + 1] {
            let pool = build_pool(n).unwrap().spreading(true);
            // Workers record their ids as they start; wait until all have.
            pool.broadcast(|_| ());
            assert!(pool
                .tids
                .iter()
                .all(|t| t.load(super::Ordering::Relaxed) > 0));
            for _ in 0..2 {
                pool.spread();
                // A broadcast runs after the restoring job on every worker.
                let masks = pool.broadcast(|_| affinity::current().map(|m| affinity::cpus(&m)));
                for (w, mask) in masks.into_iter().enumerate() {
                    assert_eq!(mask, Some(affinity::cpus(&allowed)), "worker {w} of {n}");
                }
            }
            // From inside the pool it does nothing (and does not deadlock).
            pool.install(|| pool.spread());
        }
    }

    /// Every section started from outside a pool that fills the machine after the workers
    /// may have fallen asleep spreads them (not only the first of a call), sections started
    /// from inside the pool do not, nor do any once spreading is off; and no worker stays
    /// pinned after a section.
    /// Spreading happens only when asked for, and only where there is more than one CPU to
    /// spread over: with one CPU, a spreading pool pins nothing.
    #[test]
    #[cfg(target_os = "linux")]
    fn install_spreads_before_every_section_from_outside() {
        let allowed = affinity::current().expect("sched_getaffinity works on Linux");
        let n_cpus = affinity::cpus(&allowed).len();
        let idle = || std::thread::sleep(super::SLEEP_AFTER * 100);
        let default = build_pool(n_cpus).unwrap();
        default.broadcast(|_| ());
        idle();
        default.install(|| ());
        assert_eq!(
            default.placed.load(super::Ordering::Relaxed),
            0,
            "spread by default"
        );
        let pool = build_pool(n_cpus).unwrap().spreading(true);
        pool.broadcast(|_| ()); // every worker has recorded its id
        let placed = || pool.placed.load(super::Ordering::Relaxed);
        if n_cpus < 2 {
            idle();
            pool.install(|| ());
            assert_eq!(placed(), 0, "pinned a worker with one CPU to spread over");
            return;
        }
        for round in 1..=3 {
            idle();
            pool.install(|| ());
            assert_eq!(placed(), round);
        }
        idle();
        pool.install(|| pool.install(|| ()));
        assert_eq!(placed(), 4, "a nested section spread again");
        let masks = pool.broadcast(|_| affinity::current().map(|m| affinity::cpus(&m)));
        assert!(masks
            .iter()
            .all(|m| m.as_ref() == Some(&affinity::cpus(&allowed))));
        let off = build_pool(n_cpus).unwrap().spreading(true).spreading(false);
        off.broadcast(|_| ());
        idle();
        off.install(|| ());
        assert_eq!(off.placed.load(super::Ordering::Relaxed), 0);
    }

    /// `pin` really restricts a thread, and `restore` undoes it.
    #[test]
    #[cfg(target_os = "linux")]
    fn pin_and_restore_change_the_calling_threads_mask() {
        let allowed = affinity::current().expect("sched_getaffinity works on Linux");
        let cpu = affinity::cpus(&allowed)[0];
        std::thread::spawn(move || {
            assert!(affinity::pin(affinity::thread_id(), cpu));
            assert_eq!(
                affinity::current().map(|m| affinity::cpus(&m)),
                Some(vec![cpu])
            );
            affinity::restore(&allowed);
            assert_eq!(
                affinity::current().map(|m| affinity::cpus(&m)),
                Some(affinity::cpus(&allowed))
            );
        })
        .join()
        .unwrap();
    }
}
