//! The `B × B` block grid over (user, item) pairs and the stratum walk over it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;

use super::kernel::{run_block, Params, Step};
use super::layout::{Entry, Relabel, Segments};
use super::negatives::Negatives;
use super::state::State;
use super::units::Units;
use crate::data::Interactions;
use crate::par::{Disjoint, Par};
use crate::rng::Rng;

/// Ratings grouped by block; block `(ub, ib)` is `entries[ptr[x]..ptr[x + 1]]` with
/// `x = ub * b + ib`.
///
/// Entries carry *internal* ids (see [`Relabel`]): the users of one group are numbered
/// consecutively, and so are the items, so that the rows and biases a block updates form one
/// contiguous range, and two blocks that run at once never share a cache line except at the
/// one boundary between their ranges.
///
/// Inside a block the ratings are grouped by user, four users to a *segment* whose ratings
/// alternate between them (see [`interleave_users`]; each user's items in seeded random
/// order), so that the users' rows stay in L1 while their ratings stream past. Block `x`'s
/// segments start at `segs[seg_ptr[x]..seg_ptr[x + 1]]` (offsets within the block); they are
/// laid out in a seeded order, and with `reshuffle` every epoch visits them in a fresh one.
pub(crate) struct Grid {
    pub b: usize,
    /// From the caller's ids to the internal ones.
    pub relabel: Relabel,
    /// Internal ids of item group `g` are `item_start[g]..item_start[g + 1]`.
    pub item_start: Vec<u32>,
    seed: u64,
    /// Visit each block's user segments in a fresh order every epoch (else: setup order).
    reshuffle: bool,
    entries: Vec<Entry>,
    ptr: Vec<usize>,
    /// Per stratum `s`, `lpt[s * b..(s + 1) * b]`: its blocks' `ub` by decreasing size.
    lpt: Vec<u32>,
    segs: Vec<u32>,
    seg_ptr: Vec<usize>,
}

/// Internal ids that number group 0's members first, then group 1's, ... each group's members
/// in the order they come in `order` (every id once); also the internal id where each group
/// starts (`b + 1` entries, the last one the total).
fn group_major(group: &[u32], order: impl Iterator<Item = u32>, b: usize) -> (Vec<u32>, Vec<u32>) {
    let mut start = vec![0u32; b + 1];
    for &g in group {
        start[g as usize + 1] += 1;
    }
    for g in 0..b {
        start[g + 1] += start[g];
    }
    let mut next = start[..b].to_vec();
    let mut id = vec![0u32; group.len()];
    for x in order {
        let slot = &mut next[group[x as usize] as usize];
        id[x as usize] = *slot;
        *slot += 1;
    }
    (id, start)
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

/// Index `ub · b + ib` of the `ub`-th block of stratum `s`, the block `(ub, (ub + s) mod b)`:
/// the blocks of one stratum share no user group and no item group.
fn stratum_block(b: usize, s: usize, ub: usize) -> usize {
    ub * b + (ub + s) % b
}

/// Users whose ratings are interleaved within a segment.
const INTERLEAVE: usize = 4;

/// Writes the user-sorted ratings `sorted` into `out` in segments of [`INTERLEAVE`] users
/// whose ratings alternate (u0, u1, u2, u3, u0, ...); returns the segment starts.
///
/// Consecutive updates of one user form a dependency chain through its row; alternating
/// users lets the CPU overlap the chains while the rows stay in L1, and lets the AVX2 kernel
/// update two ratings side by side. Once the fewer-rated users of a segment run out, only
/// one user is left, one rating at a time: so a segment takes users with similar numbers of
/// ratings in the block (users by decreasing count, ties in `sorted`'s order, four by four),
/// and the segments are laid out in an order drawn from `rng`, so that an epoch does not
/// visit the most active users first. On MovieLens small (8 × 8 blocks) this leaves 3.9% of
/// the ratings without an independent partner instead of 37% with the users grouped at
/// random, which is what lets the AVX2 kernel's one-pass loop pair most updates.
///
/// With [`Segments::Rank`] the users are taken in `sorted`'s order and so are the segments:
/// below k = 64 the AVX2 kernel steps each rating before the next dot product, where
/// partners matter less, and grouping by count gave nothing at ML-25M shape (k = 32, one
/// thread: 67-73M updates/s grouped, 72M in rank order), so results there stay as they were.
fn interleave_users(
    sorted: &[Entry],
    out: &mut [Entry],
    layout: Segments,
    rng: &mut Rng,
) -> Vec<u32> {
    debug_assert_eq!(sorted.len(), out.len());
    let mut user_starts = Vec::new();
    for (j, e) in sorted.iter().enumerate() {
        if j == 0 || sorted[j - 1].u != e.u {
            user_starts.push(j);
        }
    }
    user_starts.push(sorted.len());
    let mut runs: Vec<(usize, usize)> = user_starts.windows(2).map(|w| (w[0], w[1])).collect();
    if layout == Segments::ByCount {
        runs.sort_by_key(|&(lo, hi)| std::cmp::Reverse(hi - lo));
    }
    let mut groups: Vec<&[(usize, usize)]> = runs.chunks(INTERLEAVE).collect();
    if layout == Segments::ByCount {
        rng.shuffle(&mut groups);
    }
    let mut seg_starts = Vec::with_capacity(groups.len());
    let mut at = 0;
    for group in groups {
        seg_starts.push(at as u32);
        let longest = group.iter().map(|&(lo, hi)| hi - lo).max().unwrap_or(0);
        for t in 0..longest {
            for &(lo, hi) in group {
                if lo + t < hi {
                    out[at] = sorted[lo + t];
                    at += 1;
                }
            }
        }
    }
    debug_assert_eq!(at, out.len());
    seg_starts
}

/// Most ratings per chunk of [`scatter`].
const SCATTER_CHUNK: usize = 1 << 16;

/// Fewest ratings per chunk of [`scatter`] (below this a chunk's per-block offsets cost more
/// than its ratings).
const SCATTER_MIN_CHUNK: usize = 1 << 12;

/// Ratings per chunk of [`scatter`] on `threads` threads: about four chunks per thread, within
/// [`SCATTER_MIN_CHUNK`]`..=`[`SCATTER_CHUNK`]. Only the speed depends on it.
fn scatter_chunk(n: usize, threads: usize) -> usize {
    n.div_ceil(4 * threads.max(1))
        .clamp(SCATTER_MIN_CHUNK, SCATTER_CHUNK)
}

/// Groups the ratings by block (a stable counting sort) with internal ids: block `x` (user
/// group `x / b`, item group `x % b`) is `entries[ptr[x]..ptr[x + 1]]`, its ratings in the
/// order they come in `data`.
///
/// Both passes run over chunks of `chunk` ratings, in parallel if asked: every chunk first
/// counts its ratings per block, then writes them from its own offsets, which start where the
/// earlier chunks' ratings of that block end. The write pass finds each rating's block again
/// rather than keeping one per rating (that would add 2-4 bytes per rating to the peak memory).
/// The output is that of the sequential sort whatever the chunks and threads.
fn scatter(
    data: &Interactions<'_>,
    b: usize,
    (ug, ig): (&[u32], &[u32]),
    relabel: &Relabel,
    chunk: usize,
    parallel: bool,
    units: Units,
) -> (Vec<Entry>, Vec<usize>) {
    let n = data.len();
    let chunk = chunk.max(1);
    let n_chunks = n.div_ceil(chunk);
    let range = |c: usize| c * chunk..((c + 1) * chunk).min(n);
    // Per chunk `c`, `offsets[c * bb..(c + 1) * bb]`: first its count of ratings per block,
    // then the slot where its first rating of each block goes.
    let bb = b * b;
    let mut offsets = vec![0usize; n_chunks * bb];
    let block_of = |u: u32, i: u32| ug[u as usize] as usize * b + ig[i as usize] as usize;
    let count = |(c, counts): (usize, &mut [usize])| {
        let r = range(c);
        // The blocks first, then the counts: two loops whose iterations do not wait on each
        // other (a count may have been incremented by the rating just before).
        let ids: Vec<u32> = data.users[r.clone()]
            .iter()
            .zip(&data.items[r])
            .map(|(&u, &i)| block_of(u, i) as u32)
            .collect();
        for id in ids {
            counts[id as usize] += 1;
        }
    };
    if parallel {
        offsets.par_chunks_mut(bb).enumerate().for_each(count);
    } else {
        offsets.chunks_mut(bb).enumerate().for_each(count);
    }
    let mut ptr = vec![0usize; bb + 1];
    let mut at = 0;
    for x in 0..bb {
        ptr[x] = at;
        for c in 0..n_chunks {
            let count = offsets[c * bb + x];
            offsets[c * bb + x] = at;
            at += count;
        }
    }
    ptr[bb] = at;
    debug_assert_eq!(at, n);
    // Zeros first, so that the page faults of a large buffer are taken in order (and in
    // parallel) rather than scattered through the writes below.
    let zero = Entry { u: 0, i: 0, r: 0.0 };
    let mut entries = Vec::new();
    if parallel {
        (0..n)
            .into_par_iter()
            .map(|_| zero)
            .collect_into_vec(&mut entries);
    } else {
        entries = vec![zero; n];
    }
    let slots = Disjoint::new(&mut entries);
    let write = |(c, next): (usize, &mut [usize])| {
        let r = range(c);
        let rows = data.users[r.clone()]
            .iter()
            .zip(&data.items[r.clone()])
            .zip(&data.ratings[r]);
        for ((&u, &i), &r) in rows {
            let slot = &mut next[block_of(u, i)];
            let e = Entry {
                u: relabel.user[u as usize],
                i: relabel.item[i as usize],
                r: units.to_model(r),
            };
            // SAFETY: `*slot < n = entries.len()`: the chunks' offsets partition `0..n`, each
            // chunk writes as many slots of block `x` as it counted, from its own offset, so
            // no slot is written twice and concurrent chunks never touch the same slot.
            unsafe { slots.slice(*slot, 1)[0] = e };
            *slot += 1;
        }
    };
    if parallel {
        offsets.par_chunks_mut(bb).enumerate().for_each(write);
    } else {
        offsets.chunks_mut(bb).enumerate().for_each(write);
    }
    (entries, ptr)
}

impl Grid {
    /// Groups the ratings into blocks and shuffles each block (all from `seed`).
    pub fn new(
        data: &Interactions<'_>,
        b: usize,
        seed: u64,
        reshuffle: bool,
        layout: Segments,
        parallel: bool,
    ) -> Self {
        Grid::in_units(data, b, seed, reshuffle, layout, parallel, Units::IDENTITY)
    }

    /// [`Grid::new`] with the ratings stored in training `units`.
    pub fn in_units(
        data: &Interactions<'_>,
        b: usize,
        seed: u64,
        reshuffle: bool,
        layout: Segments,
        parallel: bool,
        units: Units,
    ) -> Self {
        let mut rng = Rng::stream(seed, 2);
        let ug = groups(data.n_users, b, &mut rng);
        let ig = groups(data.n_items, b, &mut rng);
        // A random rank per user (it breaks ties when a block groups its users by number of
        // ratings): users are numbered in rank order within their group, so a block (whose
        // users all come from one group) is put in rank order by a counting sort over its
        // group's id range.
        let mut user_rank: Vec<u32> = (0..data.n_users as u32).collect();
        rng.shuffle(&mut user_rank);
        let mut by_rank = vec![0u32; data.n_users];
        for (u, &r) in user_rank.iter().enumerate() {
            by_rank[r as usize] = u as u32;
        }
        let (user, first_user) = group_major(&ug, by_rank.into_iter(), b);
        // Items keep their id order within a group.
        let (item, item_start) = group_major(&ig, 0..data.n_items as u32, b);
        let relabel = Relabel { user, item };
        // Inside the fit's pool when parallel; never ask outside one (that would start rayon's
        // global pool).
        let threads = if parallel {
            rayon::current_num_threads()
        } else {
            1
        };
        let chunk = scatter_chunk(data.len(), threads);
        let (mut entries, ptr) = scatter(data, b, (&ug, &ig), &relabel, chunk, parallel, units);
        let mut chunks: Vec<(usize, &mut [Entry])> = Vec::with_capacity(b * b);
        let mut rest = entries.as_mut_slice();
        for x in 0..b * b {
            let (head, tail) = rest.split_at_mut(ptr[x + 1] - ptr[x]);
            chunks.push((x, head));
            rest = tail;
        }
        let arrange = |(x, block): &mut (usize, &mut [Entry])| -> Vec<u32> {
            let mut rng = Rng::stream(seed, 10_000 + *x as u64);
            rng.shuffle(block);
            // Stable counting sort by rank (`e.u - first`): each user's items keep the order
            // drawn above.
            let (first, end) = (first_user[*x / b], first_user[*x / b + 1]);
            let mut start = vec![0u32; (end - first) as usize + 1];
            for e in block.iter() {
                start[(e.u - first) as usize + 1] += 1;
            }
            for j in 1..start.len() {
                start[j] += start[j - 1];
            }
            let mut sorted = block.to_vec();
            for e in block.iter() {
                let slot = &mut start[(e.u - first) as usize];
                sorted[*slot as usize] = *e;
                *slot += 1;
            }
            interleave_users(&sorted, block, layout, &mut rng)
        };
        let per_block: Vec<Vec<u32>> = if parallel {
            chunks.par_iter_mut().map(arrange).collect()
        } else {
            chunks.iter_mut().map(arrange).collect()
        };
        let mut seg_ptr = Vec::with_capacity(b * b + 1);
        seg_ptr.push(0);
        for starts in &per_block {
            seg_ptr.push(seg_ptr.last().copied().unwrap_or(0) + starts.len());
        }
        let segs = per_block.concat();
        let mut lpt = Vec::with_capacity(b * b);
        for s in 0..b {
            let mut order: Vec<u32> = (0..b as u32).collect();
            let size = |ub: u32| {
                let x = stratum_block(b, s, ub as usize);
                ptr[x + 1] - ptr[x]
            };
            order.sort_by_key(|&ub| std::cmp::Reverse(size(ub)));
            lpt.extend(order);
        }
        Grid {
            b,
            relabel,
            item_start,
            seed,
            reshuffle,
            entries,
            ptr,
            lpt,
            segs,
            seg_ptr,
        }
    }

    /// All ratings, block after block.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Block `x`'s ratings and the starts of its segments.
    pub fn block(&self, x: usize) -> (&[Entry], &[u32]) {
        (
            &self.entries[self.ptr[x]..self.ptr[x + 1]],
            &self.segs[self.seg_ptr[x]..self.seg_ptr[x + 1]],
        )
    }

    /// Position in [`Grid::entries`] of the `ub`-th block of stratum `s` (see
    /// [`stratum_block`]).
    pub fn block_range(&self, s: usize, ub: usize) -> std::ops::Range<usize> {
        let x = stratum_block(self.b, s, ub);
        self.ptr[x]..self.ptr[x + 1]
    }

    /// Number of ratings in stratum `s`.
    pub fn stratum_len(&self, s: usize) -> usize {
        (0..self.b).map(|ub| self.block_range(s, ub).len()).sum()
    }

    /// Splits an epoch's strata into runs of consecutive strata of at least [`CHECK_WORK`]
    /// `/ width` ratings (the last run may be shorter), where `width` is the number of floats
    /// an update touches per row: the caller checks for interruption between runs.
    pub fn runs<'s>(&self, strata: &'s [usize], width: usize) -> Vec<&'s [usize]> {
        let min_len = CHECK_WORK / width.max(1);
        let mut runs = Vec::new();
        let (mut from, mut len) = (0, 0);
        for (j, &s) in strata.iter().enumerate() {
            len += self.stratum_len(s);
            if len >= min_len {
                runs.push(&strata[from..=j]);
                (from, len) = (j + 1, 0);
            }
        }
        if from < strata.len() {
            runs.push(&strata[from..]);
        }
        runs
    }

    /// Runs the blocks of `strata`, in that order, and returns each stratum's summed squared
    /// errors (added in block order, so the sums do not depend on scheduling).
    pub fn run_strata(
        &self,
        epoch: usize,
        strata: &[usize],
        state: &mut State,
        step: &Step,
        negatives: Option<&Negatives>,
        par: Par<'_>,
    ) -> Vec<f64> {
        let (p, q, bu, bi) = (&mut state.p, &mut state.q, &mut state.bu, &mut state.bi);
        let shared = Shared {
            x: Params {
                p: p.as_mut_ptr(),
                q: q.as_mut_ptr(),
                bu: bu.as_mut_ptr(),
                bi: bi.as_mut_ptr(),
            },
            n_users: bu.len(),
            n_items: bi.len(),
        };
        assert_eq!(p.len(), shared.n_users * step.kp);
        assert_eq!(q.len(), shared.n_items * step.kp);
        let run = |s: usize, ub: usize| {
            let x = stratum_block(self.b, s, ub);
            let block = &self.entries[self.ptr[x]..self.ptr[x + 1]];
            let starts = &self.segs[self.seg_ptr[x]..self.seg_ptr[x + 1]];
            let order: Option<Vec<u32>> = self.reshuffle.then(|| {
                let mut order: Vec<u32> = (0..starts.len() as u32).collect();
                Rng::stream(self.seed ^ ((epoch as u64) << 40), 20_000 + x as u64)
                    .shuffle(&mut order);
                order
            });
            // SAFETY: `for_strata` never runs two blocks that share a user group or an item
            // group at once; ids were range-checked by `Interactions::new` and the lengths
            // are asserted above.
            let sq = unsafe { shared.run_block(block, starts, order.as_deref(), step) };
            match negatives {
                Some(neg) => {
                    let (drawn, neg_starts) = neg.draw(x, epoch);
                    // SAFETY: as above; the negatives of block `x` have users of its user
                    // group and items of its item group (`Negatives::draw`).
                    let neg_sq = unsafe { shared.run_block(&drawn, neg_starts, None, step) };
                    // Only divergence of the sampled targets counts; the loss reported is
                    // the observed ratings'.
                    if neg_sq.is_finite() {
                        sq
                    } else {
                        neg_sq
                    }
                }
                None => sq,
            }
        };
        self.for_strata(strata, par, run)
    }

    /// Calls `run(s, ub)` for the `b` blocks `(ub, (ub + s) mod b)` of every stratum `s` of
    /// `strata`, and returns per stratum the sum of the results in block order.
    ///
    /// Every user group and every item group sees its blocks in the order of `strata`, and no
    /// two blocks that share a group run at once; so the parameters go through the same
    /// updates in the same order as when the strata run one after the other.
    ///
    /// In parallel there is no barrier between strata: the block of user group `ub` in the
    /// `j`-th stratum waits only until the `j` blocks before it of its user group and of its
    /// item group are done. The threads take blocks stratum by stratum, each stratum's
    /// largest first (so that the last ones to finish are small). A thread only ever waits
    /// for blocks taken before its own, so some thread always makes progress.
    pub fn for_strata(
        &self,
        strata: &[usize],
        par: Par<'_>,
        run: impl Fn(usize, usize) -> f64 + Sync,
    ) -> Vec<f64> {
        let b = self.b;
        if !(par.is_parallel() && b > 1) {
            return strata
                .iter()
                .map(|&s| (0..b).map(|ub| run(s, ub)).sum())
                .collect();
        }
        let n = strata.len() * b;
        let next = AtomicUsize::new(0);
        let counters = || (0..b).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>();
        // Blocks done so far per user group and per item group.
        let (user_done, item_done) = (counters(), counters());
        // Set if a block panics: the blocks waiting for it give up, and rayon passes the
        // panic on once every thread has returned.
        let failed = AtomicBool::new(false);
        let done: Vec<Vec<(usize, f64)>> = par.install(|| {
            rayon::broadcast(|_| {
                let mut mine = Vec::new();
                loop {
                    let t = next.fetch_add(1, Ordering::Relaxed);
                    if t >= n {
                        break;
                    }
                    let (j, s) = (t / b, strata[t / b]);
                    let ub = self.lpt[s * b + t % b] as usize;
                    let ib = stratum_block(b, s, ub) % b;
                    let ready = wait_until(&failed, || {
                        user_done[ub].load(Ordering::Acquire) == j
                            && item_done[ib].load(Ordering::Acquire) == j
                    });
                    if !ready {
                        break;
                    }
                    let guard = FailOnUnwind(&failed);
                    mine.push((j * b + ub, run(s, ub)));
                    std::mem::forget(guard);
                    user_done[ub].store(j + 1, Ordering::Release);
                    item_done[ib].store(j + 1, Ordering::Release);
                }
                mine
            })
        });
        let mut sums = vec![0.0f64; n];
        for (x, sq) in done.into_iter().flatten() {
            sums[x] = sq;
        }
        sums.chunks(b).map(|c| c.iter().sum()).collect()
    }
}

/// Ratings × row width between two interruption checks (see [`Grid::runs`]): 4M ratings at
/// k = 32, a few hundredths of a second of work on two threads; a small epoch is one run.
pub(crate) const CHECK_WORK: usize = 1 << 27;

/// Spins, then yields, until `ready()` (true) or `failed` is set (false). A block only waits
/// for blocks taken before it, so the wait ends when those finish.
fn wait_until(failed: &AtomicBool, ready: impl Fn() -> bool) -> bool {
    let mut spins = 0u32;
    while !ready() {
        if failed.load(Ordering::Relaxed) {
            return false;
        }
        if spins < 1 << 12 {
            std::hint::spin_loop();
            spins += 1;
        } else {
            std::thread::yield_now();
        }
    }
    true
}

/// Sets its flag when dropped, i.e. when the block it guards unwinds (it is forgotten
/// otherwise).
struct FailOnUnwind<'a>(&'a AtomicBool);

impl Drop for FailOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Raw views of the parameters, shared by the blocks of [`Grid::run_strata`].
struct Shared {
    x: Params,
    n_users: usize,
    n_items: usize,
}

// SAFETY: `Shared` is only used by `run_strata`, whose concurrent blocks (see
// `Grid::for_strata`) write disjoint rows.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

impl Shared {
    /// # Safety
    /// No other thread may touch the rows of the users and items in `block` during the call,
    /// and every id must be below `n_users` / `n_items`.
    unsafe fn run_block(
        &self,
        block: &[Entry],
        starts: &[u32],
        order: Option<&[u32]>,
        step: &Step,
    ) -> f64 {
        debug_assert!(block
            .iter()
            .all(|e| (e.u as usize) < self.n_users && (e.i as usize) < self.n_items));
        // SAFETY: forwarded contract.
        unsafe { run_block(block, starts, order, self.x, step) }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        group_major, groups, scatter, scatter_chunk, Grid, Relabel, Segments, SCATTER_CHUNK,
        SCATTER_MIN_CHUNK,
    };
    use crate::data::Interactions;
    use crate::rng::Rng;
    use crate::sgd::tests::low_rank;
    use crate::sgd::units::Units;

    /// Each segment alternates between its (up to four) users, keeping each user's order; the
    /// users are grouped four by four in input order (`Rank`) or by decreasing number of
    /// ratings (`ByCount`, segments in any order), and every rating is written once.
    #[test]
    fn segments_alternate_their_users_grouped_as_the_layout_says() {
        use super::{interleave_users, Entry};
        let counts = [3usize, 9, 1, 5, 5, 2, 7, 4, 8, 6];
        let mut sorted = Vec::new();
        for (u, &c) in counts.iter().enumerate() {
            for t in 0..c {
                sorted.push(Entry {
                    u: u as u32,
                    i: t as u32,
                    r: 0.0,
                });
            }
        }
        let cases = [
            (
                Segments::Rank,
                vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]],
            ),
            (
                Segments::ByCount,
                vec![vec![1, 8, 6, 9], vec![3, 4, 7, 0], vec![5, 2]],
            ),
        ];
        for (layout, mut expected) in cases {
            let mut out = sorted.clone();
            let starts = interleave_users(&sorted, &mut out, layout, &mut Rng::new(1));
            let mut groups = Vec::new();
            for (s, &lo) in starts.iter().enumerate() {
                let hi = starts.get(s + 1).map_or(out.len(), |&e| e as usize);
                let seg = &out[lo as usize..hi];
                let mut users: Vec<u32> = Vec::new();
                for e in seg {
                    if !users.contains(&e.u) {
                        users.push(e.u);
                    }
                }
                // Round robin: the t-th visit of every user, users in first-seen order.
                let mut expect_seq = Vec::new();
                for t in 0..seg.len() as u32 {
                    for &u in &users {
                        if t < counts[u as usize] as u32 {
                            expect_seq.push((u, t));
                        }
                    }
                }
                let got: Vec<(u32, u32)> = seg.iter().map(|e| (e.u, e.i)).collect();
                assert_eq!(got, expect_seq, "{layout:?}");
                groups.push(users);
            }
            if layout == Segments::ByCount {
                groups.sort();
                expected.sort();
            }
            assert_eq!(groups, expected, "{layout:?}");
        }
    }

    /// The parallel scatter over several chunks gives the sequential one, and both are the
    /// stable counting sort written out rating by rating, whatever the chunk size.
    #[test]
    fn scatter_is_a_stable_sort_by_block_whatever_the_threads_and_chunks() {
        let (n_users, n_items, b) = (300usize, 200usize, 5usize);
        let n = 3 * SCATTER_CHUNK + 123;
        let mut rng = Rng::new(5);
        let us: Vec<u32> = (0..n).map(|_| rng.below(n_users as u64) as u32).collect();
        let is: Vec<u32> = (0..n).map(|_| rng.below(n_items as u64) as u32).collect();
        let rs: Vec<f32> = (0..n).map(|j| j as f32).collect();
        let data = Interactions::new(&us, &is, &rs, n_users, n_items).unwrap();
        let (ug, ig) = (groups(n_users, b, &mut rng), groups(n_items, b, &mut rng));
        let relabel = Relabel {
            user: group_major(&ug, (0..n_users as u32).rev(), b).0,
            item: group_major(&ig, 0..n_items as u32, b).0,
        };
        let mut expected: Vec<Vec<(u32, u32, f32)>> = vec![Vec::new(); b * b];
        for j in 0..n {
            let (u, i) = (us[j] as usize, is[j] as usize);
            expected[ug[u] as usize * b + ig[i] as usize].push((
                relabel.user[u],
                relabel.item[i],
                rs[j],
            ));
        }
        let pool = crate::par::build_pool(2).unwrap();
        let chunks = [SCATTER_CHUNK, SCATTER_MIN_CHUNK, 1_000, 7, n];
        for (chunk, parallel) in chunks.into_iter().flat_map(|c| [(c, false), (c, true)]) {
            let (entries, ptr) = pool.install(|| {
                scatter(
                    &data,
                    b,
                    (&ug, &ig),
                    &relabel,
                    chunk,
                    parallel,
                    Units::IDENTITY,
                )
            });
            for (x, want) in expected.iter().enumerate() {
                let got: Vec<(u32, u32, f32)> = entries[ptr[x]..ptr[x + 1]]
                    .iter()
                    .map(|e| (e.u, e.i, e.r))
                    .collect();
                assert!(
                    &got == want,
                    "block {x}, chunk {chunk}, parallel {parallel}"
                );
            }
            assert_eq!(ptr[b * b], n);
        }
        // About four chunks per thread, within the bounds.
        assert_eq!(scatter_chunk(80_000, 2), 10_000);
        assert_eq!(scatter_chunk(80_000, 64), SCATTER_MIN_CHUNK);
        assert_eq!(scatter_chunk(20_000_000, 2), SCATTER_CHUNK);
        assert_eq!(scatter_chunk(0, 1), SCATTER_MIN_CHUNK);
    }

    /// On several threads, every user group and every item group still sees its blocks in
    /// stratum order, never two at once, and the per-stratum sums equal the sequential ones.
    #[test]
    fn barrier_free_strata_keep_each_groups_order_and_never_overlap() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Mutex;
        let (us, is, rs) = low_rank(90, 80, 2, 0.3, 6);
        let data = Interactions::new(&us, &is, &rs, 90, 80).unwrap();
        let b = 7;
        let grid = Grid::new(&data, b, 3, false, Segments::ByCount, false);
        let strata: Vec<usize> = vec![4, 0, 6, 2, 5, 1, 3, 4, 2];
        let pool = crate::par::build_pool(4).unwrap();
        let flags = || (0..b).map(|_| AtomicBool::new(false)).collect::<Vec<_>>();
        for round in 0..20 {
            let (user_busy, item_busy) = (flags(), flags());
            let by_user = Mutex::new(vec![Vec::new(); b]);
            let by_item = Mutex::new(vec![Vec::new(); b]);
            let run = |s: usize, ub: usize| -> f64 {
                let ib = (ub + s) % b;
                assert!(
                    !user_busy[ub].swap(true, Ordering::SeqCst),
                    "user group {ub} twice"
                );
                assert!(
                    !item_busy[ib].swap(true, Ordering::SeqCst),
                    "item group {ib} twice"
                );
                by_user.lock().unwrap()[ub].push(s);
                by_item.lock().unwrap()[ib].push(s);
                // Uneven work, so that threads overtake each other.
                std::thread::sleep(std::time::Duration::from_micros(
                    ((ub * 7 + s + round) % 5) as u64 * 40,
                ));
                user_busy[ub].store(false, Ordering::SeqCst);
                item_busy[ib].store(false, Ordering::SeqCst);
                (s * 100 + ub) as f64 + grid.block_range(s, ub).len() as f64 * 0.5
            };
            let par = grid.for_strata(&strata, crate::par::Par::Pool(&pool), run);
            let (by_user, by_item) = (
                by_user.lock().unwrap().clone(),
                by_item.lock().unwrap().clone(),
            );
            for g in 0..b {
                assert_eq!(by_user[g], strata, "user group {g}");
                assert_eq!(by_item[g], strata, "item group {g}");
            }
            let seq = grid.for_strata(&strata, crate::par::Par::Seq, run);
            assert_eq!(par, seq);
        }
        // Runs of strata cover the epoch in order: one run for this small grid, one run per
        // stratum when the rows are so wide that every stratum is enough work.
        let runs = grid.runs(&strata, 8);
        assert_eq!(runs, vec![&strata[..]]);
        let runs = grid.runs(&strata, super::CHECK_WORK);
        assert_eq!(runs.len(), strata.len());
        assert_eq!(runs.concat(), strata);
    }

    /// A block that panics does not leave the other threads waiting: the panic comes out.
    #[test]
    fn a_panicking_block_ends_the_walk_with_its_panic() {
        let (us, is, rs) = low_rank(40, 30, 2, 0.3, 6);
        let data = Interactions::new(&us, &is, &rs, 40, 30).unwrap();
        let grid = Grid::new(&data, 4, 3, false, Segments::ByCount, false);
        let pool = crate::par::build_pool(3).unwrap();
        let strata = [0, 1, 2, 3, 0, 1];
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            grid.for_strata(&strata, crate::par::Par::Pool(&pool), |s, ub| {
                assert!(!(s == 1 && ub == 2), "block (1, 2) fails");
                0.0
            })
        }));
        assert!(out.is_err());
    }

    /// Inverse of a relabelling map.
    fn invert(map: &[u32]) -> Vec<u32> {
        let mut inv = vec![u32::MAX; map.len()];
        for (x, &to) in map.iter().enumerate() {
            inv[to as usize] = x as u32;
        }
        inv
    }

    #[test]
    fn relabelling_is_a_permutation_with_contiguous_groups_and_keeps_every_rating() {
        let (us, is, rs) = low_rank(70, 45, 2, 0.3, 4);
        let data = Interactions::new(&us, &is, &rs, 70, 45).unwrap();
        for b in [1, 3, 7] {
            let grid = Grid::new(&data, b, 8, false, Segments::ByCount, false);
            let (user_of, item_of) = (invert(&grid.relabel.user), invert(&grid.relabel.item));
            assert!(user_of.iter().all(|&u| u != u32::MAX), "b={b}: users");
            assert!(item_of.iter().all(|&i| i != u32::MAX), "b={b}: items");
            for s in 0..b {
                for ub in 0..b {
                    let block = &grid.entries()[grid.block_range(s, ub)];
                    // The internal ids of a group form one range: its bounds span no more
                    // ids than the group has members.
                    for (ids, n) in [
                        (block.iter().map(|e| e.u).collect::<Vec<_>>(), 70usize),
                        (block.iter().map(|e| e.i).collect::<Vec<_>>(), 45),
                    ] {
                        if let (Some(lo), Some(hi)) = (ids.iter().min(), ids.iter().max()) {
                            assert!(((hi - lo) as usize) < n.div_ceil(b), "b={b}");
                        }
                    }
                }
            }
            let mut back: Vec<(u32, u32, u32)> = grid
                .entries()
                .iter()
                .map(|e| (user_of[e.u as usize], item_of[e.i as usize], e.r.to_bits()))
                .collect();
            let mut orig: Vec<(u32, u32, u32)> = (0..data.len())
                .map(|j| (us[j], is[j], rs[j].to_bits()))
                .collect();
            back.sort_unstable();
            orig.sort_unstable();
            assert_eq!(back, orig, "b={b}");
            let x: Vec<f32> = (0..70 * 3).map(|v| v as f32).collect();
            let moved = Relabel::gather(&grid.relabel.user, &x, 3, 3);
            for u in 0..70 {
                let to = grid.relabel.user[u] as usize;
                assert_eq!(moved[u * 3..u * 3 + 3], x[to * 3..to * 3 + 3]);
            }
        }
    }
}
