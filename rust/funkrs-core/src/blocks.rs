//! The seeded block grid shared by the `svdpp` and `nmf` solvers: what makes their SGD
//! parallel and deterministic.
//!
//! Users and items are dealt into `B` groups each through seeded permutations; the ratings
//! fall into the `B × B` blocks of that grid. An epoch walks the `B` strata in a seeded
//! order; stratum `s` is the blocks `(g, (g + s) mod B)`, `g = 0..B`, which share no user
//! group and no item group, so they run at once without two of them touching the same user
//! or item row. Each block runs on one thread from its first rating to its last, and every
//! stratum waits for the previous one, so every parameter gets the same updates in the same
//! order at any thread count. `B` depends on the data size only, never on the threads.
//!
//! Inside a block the users come in a seeded order and each user's items in a seeded order,
//! interleaved in rounds (every user's first rating, then every user's second, ...), so that
//! consecutive updates rarely touch the same row.

use rayon::prelude::*;

use crate::data::Interactions;
use crate::par::{Disjoint, Par};
use crate::rng::Rng;
use crate::FunkError;

/// One rating, in training units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Entry {
    pub u: u32,
    pub i: u32,
    pub r: f32,
}

/// The grid: block `x = g · b + h` (user group `g`, item group `h`) is
/// `entries[ptr[x]..ptr[x + 1]]`.
pub(crate) struct BlockGrid {
    pub b: usize,
    entries: Vec<Entry>,
    ptr: Vec<usize>,
}

/// Groups per side for `nnz` ratings: about 1024 ratings per block and at most 16 groups, a
/// function of the data alone.
pub(crate) fn n_groups(nnz: usize, n_users: usize, n_items: usize) -> usize {
    let b = ((nnz / 1024) as f64).sqrt().floor() as usize;
    b.clamp(1, 16).min(n_users.max(1)).min(n_items.max(1))
}

/// A seeded assignment of `n` ids to `b` groups of sizes differing by at most one.
fn groups(n: usize, b: usize, rng: &mut Rng) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..n as u32).collect();
    rng.shuffle(&mut perm);
    let mut group = vec![0u32; n];
    for (pos, &id) in perm.iter().enumerate() {
        group[id as usize] = (pos % b) as u32;
    }
    group
}

/// Reorders a block whose ratings come in runs of one user each into rounds: every user's
/// first rating (users in run order), then every user's second, ... Consecutive updates then
/// touch different user rows wherever more than one user is left, so they do not wait on one
/// another and the CPU overlaps them; the order is still fixed by the seed alone.
fn interleave(block: &mut [Entry]) {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for j in 1..=block.len() {
        if j == block.len() || block[j].u != block[start].u {
            runs.push((start, j));
            start = j;
        }
    }
    let mut out = Vec::with_capacity(block.len());
    let mut round = 0;
    while out.len() < block.len() {
        runs.retain(|&(a, b)| a + round < b);
        out.extend(runs.iter().map(|&(a, _)| block[a + round]));
        round += 1;
    }
    block.copy_from_slice(&out);
}

impl BlockGrid {
    /// Lays out `data`'s ratings, each mapped by `to_units`, on a `b × b` grid drawn from
    /// `seed`.
    pub fn new(
        data: &Interactions<'_>,
        b: usize,
        seed: u64,
        to_units: impl Fn(f32) -> f32,
    ) -> Self {
        let mut rng = Rng::stream(seed, 0xB10C);
        let ug = groups(data.n_users, b, &mut rng);
        let ig = groups(data.n_items, b, &mut rng);
        // Users in a seeded order: counting sort of the ratings by the user's rank.
        let mut rank: Vec<u32> = (0..data.n_users as u32).collect();
        rng.shuffle(&mut rank);
        let mut start = vec![0usize; data.n_users + 1];
        for &u in data.users {
            start[rank[u as usize] as usize + 1] += 1;
        }
        for x in 0..data.n_users {
            start[x + 1] += start[x];
        }
        let mut next = start[..data.n_users].to_vec();
        let mut order = vec![0u32; data.len()];
        for (j, &u) in data.users.iter().enumerate() {
            let slot = &mut next[rank[u as usize] as usize];
            order[*slot] = j as u32;
            *slot += 1;
        }
        // Each user's items in a seeded order.
        for x in 0..data.n_users {
            rng.shuffle(&mut order[start[x]..start[x + 1]]);
        }
        // Stable counting sort by block keeps both orders within each block.
        let key = |j: usize| {
            ug[data.users[j] as usize] as usize * b + ig[data.items[j] as usize] as usize
        };
        let mut ptr = vec![0usize; b * b + 1];
        for &j in &order {
            ptr[key(j as usize) + 1] += 1;
        }
        for x in 0..b * b {
            ptr[x + 1] += ptr[x];
        }
        let mut fill = ptr[..b * b].to_vec();
        let mut entries = vec![Entry { u: 0, i: 0, r: 0.0 }; data.len()];
        for &j in &order {
            let j = j as usize;
            let slot = &mut fill[key(j)];
            entries[*slot] = Entry {
                u: data.users[j],
                i: data.items[j],
                r: to_units(data.ratings[j]),
            };
            *slot += 1;
        }
        for x in 0..b * b {
            interleave(&mut entries[ptr[x]..ptr[x + 1]]);
        }
        BlockGrid { b, entries, ptr }
    }

    /// The ratings of block `x`.
    pub fn block(&self, x: usize) -> &[Entry] {
        &self.entries[self.ptr[x]..self.ptr[x + 1]]
    }

    /// Every rating, block by block.
    #[cfg(test)]
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// One epoch: the strata in the order drawn for `epoch` from `seed`, the blocks of each
    /// stratum at once. `f(block ratings)` returns the block's squared error; the total is
    /// summed in a fixed order. `check` runs on the calling thread before every stratum.
    pub fn epoch(
        &self,
        seed: u64,
        epoch: usize,
        par: Par<'_>,
        check: &mut dyn FnMut() -> Result<(), FunkError>,
        f: impl Fn(&[Entry]) -> f64 + Sync + Send,
    ) -> Result<f64, FunkError> {
        let b = self.b;
        let mut strata: Vec<usize> = (0..b).collect();
        Rng::stream(seed, 0x5747_0000 | epoch as u64).shuffle(&mut strata);
        let mut total = 0f64;
        for &s in &strata {
            check()?;
            let block = |g: usize| f(self.block(g * b + (g + s) % b));
            let sse: Vec<f64> = if par.is_parallel() && b > 1 {
                par.install(|| (0..b).into_par_iter().map(block).collect())
            } else {
                (0..b).map(block).collect()
            };
            total += sse.iter().sum::<f64>();
        }
        Ok(total)
    }
}

/// Rows of a parameter matrix that the blocks of one stratum update at once, each block its
/// own rows (the grid guarantees it).
pub(crate) struct SharedRows<'a> {
    buf: Disjoint<f32>,
    width: usize,
    len: usize,
    _owner: std::marker::PhantomData<&'a mut [f32]>,
}

impl<'a> SharedRows<'a> {
    pub fn new(buf: &'a mut [f32], width: usize) -> Self {
        let len = buf.len();
        SharedRows {
            buf: Disjoint::new(buf),
            width,
            len,
            _owner: std::marker::PhantomData,
        }
    }

    /// Row `r`.
    ///
    /// # Safety
    /// No other thread uses row `r` while the returned slice lives.
    #[allow(clippy::mut_from_ref)] // the point of the type; see the contract
    pub unsafe fn row(&self, r: usize) -> &mut [f32] {
        assert!((r + 1) * self.width <= self.len, "row {r} out of range");
        // SAFETY: in bounds (checked above); exclusive by the caller's contract.
        unsafe { self.buf.slice(r * self.width, self.width) }
    }
}

/// Rows of the ratings by row id: `idx[ptr[r]..ptr[r + 1]]` are the columns of row `r`, in
/// input order.
pub(crate) struct Adjacency {
    pub ptr: Vec<usize>,
    pub idx: Vec<u32>,
}

impl Adjacency {
    pub fn new(rows: &[u32], cols: &[u32], n_rows: usize) -> Self {
        let mut ptr = vec![0usize; n_rows + 1];
        for &r in rows {
            ptr[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            ptr[r + 1] += ptr[r];
        }
        let mut next = ptr[..n_rows].to_vec();
        let mut idx = vec![0u32; rows.len()];
        for (&r, &c) in rows.iter().zip(cols) {
            let slot = &mut next[r as usize];
            idx[*slot] = c;
            *slot += 1;
        }
        Adjacency { ptr, idx }
    }

    pub fn row(&self, r: usize) -> &[u32] {
        &self.idx[self.ptr[r]..self.ptr[r + 1]]
    }
}

/// Rows per task of the per-row parallel loops and per seeded stream of the initial values
/// (fixed, so neither depends on the threads).
pub(crate) const ROWS_PER_TASK: usize = 256;

/// `n × k` values drawn by `draw(rng, chunk)`, in fixed chunks each from its own stream.
pub(crate) fn init_rows(
    n: usize,
    k: usize,
    seed: u64,
    stream: u64,
    par: Par<'_>,
    draw: impl Fn(&mut Rng, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    let mut out = vec![0f32; n * k];
    par.for_each_chunk_mut(&mut out, ROWS_PER_TASK * k.max(1), |(c, chunk)| {
        let mut rng = Rng::stream(seed, (stream << 32) | c as u64);
        draw(&mut rng, chunk);
    });
    out
}

/// `a · b` with eight partial sums in a fixed association (the same bits wherever it runs;
/// plain multiplies and adds, no fused multiply-add).
#[inline(always)]
#[allow(clippy::inline_always)] // the kernels' innermost loop
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, ar) = a.split_at(a.len() - a.len() % 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// Row width used inside a fit: `k` rounded up to a multiple of 8, so that every row is a
/// whole number of 8-lane chunks. The padding columns start at 0 and every update keeps
/// them there (each is a product with a zero).
pub(crate) fn padded(k: usize) -> usize {
    k.div_ceil(8) * 8
}

/// `n` rows of width `k` widened to `kp` with zeros.
pub(crate) fn pad(v: &[f32], k: usize, kp: usize) -> Vec<f32> {
    if k == kp {
        return v.to_vec();
    }
    let mut out = Vec::with_capacity(v.len() / k.max(1) * kp);
    for row in v.chunks_exact(k) {
        out.extend_from_slice(row);
        out.resize(out.len() + kp - k, 0.0);
    }
    out
}

/// The first `k` columns of rows of width `kp`.
pub(crate) fn unpad(v: &[f32], k: usize, kp: usize) -> Vec<f32> {
    if k == kp {
        return v.to_vec();
    }
    v.chunks_exact(kp)
        .flat_map(|row| &row[..k])
        .copied()
        .collect()
}

/// Checks the options every grid solver shares, naming the first one out of range.
pub(crate) fn check_common(n_factors: usize, lr: f32, reg: f32) -> Result<(), FunkError> {
    if n_factors == 0 {
        return Err(FunkError::InvalidParam {
            name: "n_factors",
            reason: "must be at least 1".into(),
        });
    }
    if !(lr.is_finite() && lr > 0.0) {
        return Err(FunkError::InvalidParam {
            name: "lr",
            reason: format!("must be a finite number > 0, got {lr}"),
        });
    }
    if !(reg.is_finite() && reg >= 0.0) {
        return Err(FunkError::InvalidParam {
            name: "reg",
            reason: format!("must be a finite number >= 0, got {reg}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rating_once_and_strata_share_no_user_or_item() {
        let mut rng = Rng::new(3);
        let (nu, ni, n) = (50usize, 40usize, 900usize);
        let mut pairs = std::collections::BTreeSet::new();
        while pairs.len() < n {
            pairs.insert((rng.below(nu as u64) as u32, rng.below(ni as u64) as u32));
        }
        let u: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        let i: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        let r: Vec<f32> = (0..n).map(|j| j as f32).collect();
        let data = Interactions::new(&u, &i, &r, nu, ni).unwrap();
        let grid = BlockGrid::new(&data, 4, 7, |x| x);
        let mut seen: Vec<f32> = grid.entries().iter().map(|e| e.r).collect();
        seen.sort_by(f32::total_cmp);
        assert_eq!(seen, r);
        let b = grid.b;
        for s in 0..b {
            let mut users = std::collections::HashSet::new();
            let mut items = std::collections::HashSet::new();
            for g in 0..b {
                let block = grid.block(g * b + (g + s) % b);
                let bu: std::collections::HashSet<u32> = block.iter().map(|e| e.u).collect();
                let bi: std::collections::HashSet<u32> = block.iter().map(|e| e.i).collect();
                assert!(users.is_disjoint(&bu) && items.is_disjoint(&bi));
                users.extend(bu);
                items.extend(bi);
                // Rounds: a user comes back only after every user still left has had a turn.
                let mut count = std::collections::HashMap::new();
                let mut last_round = 0;
                for e in block {
                    let c = count.entry(e.u).or_insert(0usize);
                    assert!(*c >= last_round, "user {} out of its round", e.u);
                    last_round = *c;
                    *c += 1;
                }
            }
        }
        assert_eq!(n_groups(900, 50, 40), 1);
        assert_eq!(n_groups(80_000, 600, 9000), 8);
        assert_eq!(n_groups(1 << 30, 5, 1 << 20), 5);
    }
}
