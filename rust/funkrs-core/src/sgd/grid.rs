//! The `B × B` block grid over (user, item) pairs and the stratum walk over it.

use rayon::prelude::*;

use super::kernel::{update, Step};
use crate::data::Interactions;
use crate::par::Par;
use crate::rng::Rng;

/// One rating, packed for streaming.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Entry {
    pub u: u32,
    pub i: u32,
    pub r: f32,
}

/// Ratings grouped by block; block `(ub, ib)` is `entries[ptr[ub * b + ib]..ptr[ub * b + ib + 1]]`.
pub(crate) struct Grid {
    pub b: usize,
    entries: Vec<Entry>,
    ptr: Vec<usize>,
}

/// Assigns each of `n` ids to one of `b` equal-sized groups through a seeded permutation.
fn groups(n: usize, b: usize, rng: &mut Rng) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..n as u32).collect();
    rng.shuffle(&mut perm);
    let mut group = vec![0u32; n];
    for (rank, &id) in perm.iter().enumerate() {
        group[id as usize] = (rank * b / n.max(1)) as u32;
    }
    group
}

impl Grid {
    /// Groups the ratings into blocks and shuffles each block (all from `seed`).
    pub fn new(data: &Interactions<'_>, b: usize, seed: u64, parallel: bool) -> Self {
        let mut rng = Rng::stream(seed, 2);
        let ug = groups(data.n_users, b, &mut rng);
        let ig = groups(data.n_items, b, &mut rng);
        let block_of = |j: usize| {
            ug[data.users[j] as usize] as usize * b + ig[data.items[j] as usize] as usize
        };
        let mut ptr = vec![0usize; b * b + 1];
        for j in 0..data.len() {
            ptr[block_of(j) + 1] += 1;
        }
        for x in 0..b * b {
            ptr[x + 1] += ptr[x];
        }
        let mut next = ptr[..b * b].to_vec();
        let mut entries = vec![Entry { u: 0, i: 0, r: 0.0 }; data.len()];
        for j in 0..data.len() {
            let slot = &mut next[block_of(j)];
            entries[*slot] = Entry {
                u: data.users[j],
                i: data.items[j],
                r: data.ratings[j],
            };
            *slot += 1;
        }
        let mut chunks: Vec<(usize, &mut [Entry])> = Vec::with_capacity(b * b);
        let mut rest = entries.as_mut_slice();
        for x in 0..b * b {
            let (head, tail) = rest.split_at_mut(ptr[x + 1] - ptr[x]);
            chunks.push((x, head));
            rest = tail;
        }
        let shuffle = |(x, block): &mut (usize, &mut [Entry])| {
            Rng::stream(seed, 10_000 + *x as u64).shuffle(block);
        };
        if parallel {
            chunks.par_iter_mut().for_each(shuffle);
        } else {
            chunks.iter_mut().for_each(shuffle);
        }
        Grid { b, entries, ptr }
    }

    fn block(&self, ub: usize, ib: usize) -> &[Entry] {
        let x = ub * self.b + ib;
        &self.entries[self.ptr[x]..self.ptr[x + 1]]
    }

    /// Runs the `b` blocks `(ub, (ub + s) mod b)` and returns their summed squared errors,
    /// added in block order so the sum does not depend on scheduling.
    pub fn run_stratum(
        &self,
        s: usize,
        p: &mut [f32],
        q: &mut [f32],
        bu: &mut [f32],
        bi: &mut [f32],
        step: &Step,
        par: Par<'_>,
    ) -> f64 {
        let shared = Shared {
            p: p.as_mut_ptr(),
            q: q.as_mut_ptr(),
            bu: bu.as_mut_ptr(),
            bi: bi.as_mut_ptr(),
            n_users: bu.len(),
            n_items: bi.len(),
        };
        assert_eq!(p.len(), shared.n_users * step.kp);
        assert_eq!(q.len(), shared.n_items * step.kp);
        let run = |ub: usize| {
            let block = self.block(ub, (ub + s) % self.b);
            // SAFETY: blocks of one stratum touch disjoint user groups and disjoint item
            // groups, so no two concurrent calls alias a row; ids were range-checked by
            // `Interactions::new` and the lengths are asserted above.
            unsafe { shared.run_block(block, step) }
        };
        let sums: Vec<f64> = if par.is_parallel() && self.b > 1 {
            par.install(|| (0..self.b).into_par_iter().map(run).collect())
        } else {
            (0..self.b).map(run).collect()
        };
        sums.iter().sum()
    }
}

/// Raw views of the parameters, shared by the blocks of one stratum.
struct Shared {
    p: *mut f32,
    q: *mut f32,
    bu: *mut f32,
    bi: *mut f32,
    n_users: usize,
    n_items: usize,
}

// SAFETY: `Shared` is only used by `run_stratum`, whose concurrent blocks write disjoint rows.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

impl Shared {
    /// # Safety
    /// No other thread may touch the rows of the users and items in `block` during the call,
    /// and every id must be below `n_users` / `n_items`.
    unsafe fn run_block(&self, block: &[Entry], step: &Step) -> f64 {
        let kp = step.kp;
        let mut sq = 0.0f64;
        for e in block {
            let (u, i) = (e.u as usize, e.i as usize);
            debug_assert!(u < self.n_users && i < self.n_items);
            // SAFETY: in range (caller contract) and not aliased by another thread.
            let (pu, qi, bu, bi) = unsafe {
                (
                    std::slice::from_raw_parts_mut(self.p.add(u * kp), kp),
                    std::slice::from_raw_parts_mut(self.q.add(i * kp), kp),
                    &mut *self.bu.add(u),
                    &mut *self.bi.add(i),
                )
            };
            let err = update(pu, qi, bu, bi, e.r, step);
            sq += f64::from(err * err);
        }
        sq
    }
}
