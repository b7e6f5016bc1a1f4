//! The per-rating update and the loop over one block, written so that LLVM vectorises the
//! row operations over 8-wide lanes.
//!
//! On x86-64 the block loop is compiled twice, for the baseline ISA and for AVX2 with FMA, and
//! picked at run time. Both use fused multiply-adds in the same places (hardware FMA in the
//! AVX2 loop, [`f32::mul_add`] in the portable one, which rounds once like the hardware
//! instruction on every platform) and reduce the dot product in the same lane order, so the
//! two give bit-identical results. Fusing saves a third of the arithmetic instructions of a row
//! update: the one-thread MovieLens-small epochs (k = 100) got 10% faster.
//!
//! The AVX2 loop also reorders the work without changing the arithmetic (see
//! [`step_then_dot_avx2`]): it updates two consecutive ratings side by side when they share no
//! user and no item, and from k = 64 on it steps the rows of one rating (or pair) in the same
//! pass over the lanes that computes the next one's dot products. Every parameter still goes
//! through the same operations in the same order, so the result stays bit-identical to one
//! rating at a time.

use super::layout::{Entry, Segments};
use crate::hint::prefetch;

/// Constants of one SGD step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub lr: f32,
    pub reg: f32,
    pub mu: f32,
    pub biased: bool,
    /// Padded row length (a multiple of 8).
    pub kp: usize,
}

/// Raw views of the parameters that one block updates.
#[derive(Clone, Copy)]
pub(crate) struct Params {
    pub p: *mut f32,
    pub q: *mut f32,
    pub bu: *mut f32,
    pub bi: *mut f32,
}

/// How many ratings ahead the loop prefetches the item row ([`fetch`]).
const PREFETCH_AHEAD: usize = 8;

/// Shortest padded row for which the AVX2 loop steps each rating in the pass of the next
/// one's dot products ([`step_then_dot_avx2`]); shorter rows are stepped right after their
/// own dot products. The one pass wins from 64 floats on (4 users interleaved, rows in L2:
/// 17.1 against 18.7 ns per rating at 64, 23.8 against 28.8 at 104) and loses below: at 32
/// floats it runs `benchmarks/sgd.py` at ML-25M shape about 19% slower.
const FUSE_MIN_KP: usize = 64;

/// Whether the AVX2 loop steps each rating in the pass of the next one's dot products at
/// padded row length `kp` (the block loop and [`segment_layout`] decide by it).
fn one_pass(kp: usize) -> bool {
    kp >= FUSE_MIN_KP
}

/// The segment layout the block loop runs fastest on at padded row length `kp`: users grouped
/// by number of ratings where the one-pass loop runs (it needs independent pairs), rank order
/// elsewhere. It depends on `kp` alone, never on the CPU, so results do not either.
pub(crate) fn segment_layout(kp: usize) -> Segments {
    if one_pass(kp) {
        Segments::ByCount
    } else {
        Segments::Rank
    }
}

/// Dot product of two rows of equal, 8-divisible length.
///
/// Two 8-lane partial sums (even and odd chunks of 8, so that two independent chains overlap),
/// each accumulated with fused multiply-adds, added lane-wise, folded to 4 lanes
/// (`l + (l + 4)`), then to `(s0 + s2) + (s1 + s3)`. [`step_then_dot_avx2`] performs exactly
/// these operations in this order, so the two give bit-identical results.
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop: it must inline into the ISA-specific copy
pub(crate) fn dot8(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    debug_assert_eq!(a.len() % 8, 0);
    let mut acc0 = [0.0f32; 8];
    let mut acc1 = [0.0f32; 8];
    let mut pairs = a.chunks_exact(16).zip(b.chunks_exact(16));
    for (x, y) in &mut pairs {
        for l in 0..8 {
            acc0[l] = x[l].mul_add(y[l], acc0[l]);
            acc1[l] = x[8 + l].mul_add(y[8 + l], acc1[l]);
        }
    }
    let tail = a.len() / 16 * 16;
    if tail < a.len() {
        for l in 0..8 {
            acc0[l] = a[tail + l].mul_add(b[tail + l], acc0[l]);
        }
    }
    let mut s = [0.0f32; 4];
    for l in 0..4 {
        s[l] = (acc0[l] + acc1[l]) + (acc0[l + 4] + acc1[l + 4]);
    }
    (s[0] + s[2]) + (s[1] + s[3])
}

/// The end of an AVX2 dot product ([`dot8`]'s lane order): folds the two 8-lane partial sums to
/// one float.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn fold_avx2(acc0: std::arch::x86_64::__m256, acc1: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm_add_ps, _mm_add_ss,
        _mm_cvtss_f32, _mm_movehl_ps, _mm_shuffle_ps,
    };
    // (acc0 + acc1) per lane, then lanes l and l + 4: the portable version's
    // `(acc0[l] + acc1[l]) + (acc0[l + 4] + acc1[l + 4])`.
    let acc = _mm256_add_ps(acc0, acc1);
    let s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
    // (s0 + s2, s1 + s3), then their sum.
    let t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps::<0b01>(t, t)))
}

/// One Funk update for rating `r` of the pair whose rows are `p` and `q` (portable code);
/// returns the error before the update.
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop: it must inline into the ISA-specific copy
pub(crate) fn update(
    p: &mut [f32],
    q: &mut [f32],
    bu: &mut f32,
    bi: &mut f32,
    r: f32,
    s: &Step,
) -> f32 {
    let e = bias_step(dot8(p, q), bu, bi, r, s);
    step_rows(p, q, s.lr * e, s.lr * s.reg);
    e
}

/// `p += le·q − lreg·p` and `q += le·p − lreg·q`, both from the old rows, as two fused
/// multiply-adds per value: `le·q + (p − lreg·p)`.
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop
fn step_rows(p: &mut [f32], q: &mut [f32], le: f32, lreg: f32) {
    for (x, y) in p.chunks_exact_mut(8).zip(q.chunks_exact_mut(8)) {
        // Load, compute and store whole lanes: the two rows may not alias, but after
        // inlining LLVM can no longer prove it for element-wise stores.
        let pa: [f32; 8] = (*x).try_into().expect("8 lanes");
        let qa: [f32; 8] = (*y).try_into().expect("8 lanes");
        let mut np = [0.0f32; 8];
        let mut nq = [0.0f32; 8];
        for l in 0..8 {
            np[l] = le.mul_add(qa[l], (-lreg).mul_add(pa[l], pa[l]));
            nq[l] = le.mul_add(pa[l], (-lreg).mul_add(qa[l], qa[l]));
        }
        x.copy_from_slice(&np);
        y.copy_from_slice(&nq);
    }
}

/// One 8-lane chunk of [`step_rows`]: `p += le·q − lreg·p`, `q += le·p − lreg·q` (old rows).
///
/// # Safety
/// The CPU supports AVX2 and FMA; 8 floats are readable and writable at `p` and at `q`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn step8_avx2(
    p: *mut f32,
    q: *mut f32,
    le: std::arch::x86_64::__m256,
    lreg: std::arch::x86_64::__m256,
) {
    use std::arch::x86_64::{_mm256_fmadd_ps, _mm256_fnmadd_ps, _mm256_loadu_ps, _mm256_storeu_ps};
    // SAFETY: caller contract.
    unsafe {
        let pa = _mm256_loadu_ps(p);
        let qa = _mm256_loadu_ps(q);
        // `fnmadd(a, b, c)` is `c − a·b` rounded once, i.e. `(−a).mul_add(b, c)`.
        let np = _mm256_fmadd_ps(le, qa, _mm256_fnmadd_ps(lreg, pa, pa));
        let nq = _mm256_fmadd_ps(le, pa, _mm256_fnmadd_ps(lreg, qa, qa));
        _mm256_storeu_ps(p, np);
        _mm256_storeu_ps(q, nq);
    }
}

/// The scalar part of [`update`] once the dot product is known: the error, then the bias
/// steps; returns the error.
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop
fn bias_step(dot: f32, bu: &mut f32, bi: &mut f32, r: f32, s: &Step) -> f32 {
    let pred = if s.biased {
        s.mu + *bu + *bi + dot
    } else {
        dot
    };
    let e = r - pred;
    if s.biased {
        *bu += s.lr * (e - s.reg * *bu);
        *bi += s.lr * (e - s.reg * *bi);
    }
    e
}

/// Whether the `N` ratings from `entries[j]` on exist and share no user and no item.
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop
fn independent<const N: usize>(entries: &[Entry], j: usize) -> bool {
    let Some(w) = entries.get(j..j + N) else {
        return false;
    };
    (1..N).all(|b| (0..b).all(|a| w[a].u != w[b].u && w[a].i != w[b].i))
}

/// The segments of a block in the order they are visited: the whole block with
/// `order = None`, otherwise for each `o` of `order` the segment from `starts[o]` to
/// `starts[o + 1]` (or to the end of the block).
fn segments<'a>(
    block: &'a [Entry],
    starts: &'a [u32],
    order: Option<&'a [u32]>,
) -> impl Iterator<Item = &'a [Entry]> + 'a {
    let whole = order.is_none().then_some(block);
    let parts = order.unwrap_or_default().iter().map(move |&o| {
        let lo = starts[o as usize] as usize;
        let hi = starts
            .get(o as usize + 1)
            .map_or(block.len(), |&e| e as usize);
        &block[lo..hi]
    });
    whole.into_iter().chain(parts)
}

/// Prefetches every other cache line of the item row of `e` and its last float (a row need
/// not be line-aligned), leaving the lines between to the hardware's own prefetcher.
///
/// The user row is left to the cache: a segment alternates four users (see
/// [`super::grid::Grid`]), so their rows stay in L1 while their ratings stream past, and
/// prefetches of them only take load slots from the kernel. Item rows by contrast are drawn
/// at random from the whole item group. Without any prefetch, `benchmarks/sgd.py` at ML-25M
/// shape (k = 32, one thread) runs about 10% slower; prefetching the user rows as well, or
/// every line of the item row, is about 2-4% slower than this.
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop
fn fetch(x: Params, kp: usize, e: &Entry) {
    let qa = x.q.wrapping_add(e.i as usize * kp);
    let mut off = 0;
    while off < kp {
        prefetch(qa.wrapping_add(off));
        off += 32;
    }
    prefetch(qa.wrapping_add(kp - 1));
}

/// The portable block loop; returns the sum of squared errors (one sum per segment, the
/// segments' sums added in turn).
///
/// With `order = None` the block is streamed front to back. Otherwise its user segments
/// (`starts[o]` is where segment `o` begins; it ends where segment `o + 1` begins) are visited
/// in the given order.
///
/// # Safety
/// Every `u`/`i` in `block` indexes a valid row of `x.p`/`x.q` (`kp` floats each) and entry
/// of `x.bu`/`x.bi`, and no other thread touches those rows during the call.
unsafe fn run_block_portable(
    block: &[Entry],
    starts: &[u32],
    order: Option<&[u32]>,
    x: Params,
    s: &Step,
) -> f64 {
    // SAFETY: forwarded caller contract.
    segments(block, starts, order).fold(0.0, |sq, seg| sq + unsafe { run_entries(seg, x, s) })
}

/// Streams `entries` one rating at a time, prefetching the factor rows a few ratings ahead.
///
/// # Safety
/// As [`run_block_portable`].
#[inline(always)]
#[allow(clippy::inline_always)] // the innermost loop
unsafe fn run_entries(entries: &[Entry], x: Params, s: &Step) -> f64 {
    let kp = s.kp;
    let mut sq = 0.0f64;
    for (j, e) in entries.iter().enumerate() {
        if let Some(ahead) = entries.get(j + PREFETCH_AHEAD) {
            fetch(x, kp, ahead);
        }
        let (u, i) = (e.u as usize, e.i as usize);
        // SAFETY: in range and touched by no one else (caller contract); the two rows lie in
        // different buffers.
        let err = unsafe {
            update(
                std::slice::from_raw_parts_mut(x.p.add(u * kp), kp),
                std::slice::from_raw_parts_mut(x.q.add(i * kp), kp),
                &mut *x.bu.add(u),
                &mut *x.bi.add(i),
                e.r,
                s,
            )
        };
        sq += f64::from(err * err);
    }
    sq
}

/// A rating whose error is known and whose rows are still to be stepped.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Stepping {
    p: *mut f32,
    q: *mut f32,
    /// The learning rate times the error.
    le: f32,
}

/// The user row and the item row of one rating.
#[cfg(target_arch = "x86_64")]
type RowPair = (*mut f32, *mut f32);

/// Steps the rows of the ratings `done` and returns the dot products of the row pairs `next`,
/// in one pass over the lanes.
///
/// Each 8-lane chunk is stepped for every rating of `done` (as [`step_rows`]) before `next`
/// reads it, so `next` sees what it would see if `done` were stepped in full first, even
/// where the two share a row. The dot products are [`dot8`]'s operations in its order (two
/// partial sums over the even and the odd chunks, then [`fold_avx2`]).
///
/// Why one pass: a dot product is a chain of dependent operations (multiply-adds, fold,
/// error) that its row step must wait for, and a row step is some 200 loads, multiply-adds
/// and stores (k = 100); done in turn, the next rating's chain could not start before the
/// step was nearly through the CPU, so the two alternated. In one pass the next ratings'
/// loads and multiply-adds run among the current ones' stores: on pairs that share no row
/// with the pair before, 29.3 → 24.7 ns per rating (k = 100, standalone probe).
///
/// # Safety
/// The CPU supports AVX2 and FMA; every row has `kp` floats, `kp` a multiple of 8; no two
/// ratings of `done` share a row (the rows of `next` may be any rows, `done`'s included).
///
/// Not a `target_feature` function, so that it can be forced inline: it must only be called
/// from AVX2-and-FMA code, where the intrinsics inline (out of line, as a function with the
/// features, the block loop lost 10% at k = 100 to calls that pass the rows through memory).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop
unsafe fn step_then_dot_avx2<const D: usize, const N: usize>(
    done: [Stepping; D],
    next: [RowPair; N],
    lreg: f32,
    kp: usize,
) -> [f32; N] {
    use std::arch::x86_64::{
        __m256, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_setzero_ps,
    };
    debug_assert_eq!(kp % 8, 0);
    // SAFETY (every intrinsic below): the CPU supports AVX2 and FMA (caller contract).
    let lreg = unsafe { _mm256_set1_ps(lreg) };
    let le = done.map(|d| unsafe { _mm256_set1_ps(d.le) });
    let mut acc0 = [unsafe { _mm256_setzero_ps() }; N];
    let mut acc1 = acc0;
    // SAFETY (both closures): 8 floats at `j` with `j + 8 <= kp` in every row (caller
    // contract); `done`'s rows are pairwise disjoint.
    let step = |j: usize| {
        for (d, &le) in done.iter().zip(&le) {
            unsafe { step8_avx2(d.p.add(j), d.q.add(j), le, lreg) };
        }
    };
    let dot = |acc: &mut [__m256; N], j: usize| {
        for (a, &(p, q)) in acc.iter_mut().zip(&next) {
            *a = unsafe {
                _mm256_fmadd_ps(_mm256_loadu_ps(p.add(j)), _mm256_loadu_ps(q.add(j)), *a)
            };
        }
    };
    let mut j = 0;
    while j + 16 <= kp {
        step(j);
        dot(&mut acc0, j);
        step(j + 8);
        dot(&mut acc1, j + 8);
        j += 16;
    }
    if j < kp {
        step(j);
        dot(&mut acc0, j);
    }
    std::array::from_fn(|r| unsafe { fold_avx2(acc0[r], acc1[r]) })
}

/// Up to two ratings whose errors are known and whose rows are still to be stepped (two only
/// if they share no row).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
enum Pending {
    None,
    One(Stepping),
    Two(Stepping, Stepping),
}

/// Steps the pending ratings and returns the dot products of `next`: in one pass
/// ([`step_then_dot_avx2`]) when `next` shares no row with them, else the steps in full first
/// and the dot products after.
///
/// Where they share a row (a user's consecutive ratings, most of all), each chunk would be
/// read right after it is written, and the one pass measured slower than the two: 31.9 against
/// 29.7 ns per rating on ratings of one user at a time (k = 100, standalone probe).
///
/// # Safety
/// As [`step_then_dot_avx2`], with `kp = s.kp` (and forced inline for the same reason).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop
unsafe fn advance_avx2<const N: usize>(pending: Pending, next: [RowPair; N], s: &Step) -> [f32; N] {
    let (lreg, kp) = (s.lr * s.reg, s.kp);
    let shares = |a: &Stepping| next.iter().any(|&(p, q)| a.p == p || a.q == q);
    // SAFETY: forwarded contract.
    unsafe {
        let pending = match pending {
            Pending::One(a) if shares(&a) => {
                step_then_dot_avx2::<1, 0>([a], [], lreg, kp);
                Pending::None
            }
            Pending::Two(a, b) if shares(&a) || shares(&b) => {
                step_then_dot_avx2::<2, 0>([a, b], [], lreg, kp);
                Pending::None
            }
            other => other,
        };
        match pending {
            Pending::None => step_then_dot_avx2::<0, N>([], next, lreg, kp),
            Pending::One(a) => step_then_dot_avx2([a], next, lreg, kp),
            Pending::Two(a, b) => step_then_dot_avx2([a, b], next, lreg, kp),
        }
    }
}

/// The AVX2 block loop: the updates of [`run_block_portable`], in the same order and with
/// the same operations, reordered as [`step_then_dot_avx2`] describes: two consecutive
/// ratings of a segment that share no user and no item go side by side, and the rows of
/// each rating (or pair) are stepped in the pass that computes the next one's dot products,
/// across segment boundaries too. Returns the sum of squared errors, summed as the portable
/// loop sums it.
///
/// # Safety
/// As [`run_block_portable`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_block_avx2<const FUSE: bool>(
    block: &[Entry],
    starts: &[u32],
    order: Option<&[u32]>,
    x: Params,
    s: &Step,
) -> f64 {
    let kp = s.kp;
    let rows = |e: &Entry| {
        (
            x.p.wrapping_add(e.u as usize * kp),
            x.q.wrapping_add(e.i as usize * kp),
        )
    };
    // SAFETY: ids in range, entries touched by no one else (caller contract); the references
    // live for the call only.
    let bias = |e: &Entry, dot: f32| unsafe {
        bias_step(
            dot,
            &mut *x.bu.add(e.u as usize),
            &mut *x.bi.add(e.i as usize),
            e.r,
            s,
        )
    };
    let stepping = |e: &Entry, err: f32| {
        let (p, q) = rows(e);
        Stepping {
            p,
            q,
            le: s.lr * err,
        }
    };
    let mut pending = Pending::None;
    let mut total = 0.0f64;
    for seg in segments(block, starts, order) {
        let mut sq = 0.0f64;
        let mut j = 0;
        while j < seg.len() {
            if independent::<2>(seg, j) {
                for ahead in seg.iter().skip(j + PREFETCH_AHEAD).take(2) {
                    fetch(x, kp, ahead);
                }
                let (e0, e1) = (&seg[j], &seg[j + 1]);
                // SAFETY: AVX2 code, rows in range (caller contract); a pending pair shares
                // no row (it was checked like this one).
                let d = unsafe { advance_avx2(pending, [rows(e0), rows(e1)], s) };
                let (r0, r1) = (bias(e0, d[0]), bias(e1, d[1]));
                sq += f64::from(r0 * r0);
                sq += f64::from(r1 * r1);
                pending = Pending::Two(stepping(e0, r0), stepping(e1, r1));
                j += 2;
            } else {
                if let Some(ahead) = seg.get(j + PREFETCH_AHEAD) {
                    fetch(x, kp, ahead);
                }
                let e = &seg[j];
                // SAFETY: as above.
                let [d] = unsafe { advance_avx2(pending, [rows(e)], s) };
                let r = bias(e, d);
                sq += f64::from(r * r);
                pending = Pending::One(stepping(e, r));
                j += 1;
            }
            if !FUSE {
                // SAFETY: as above.
                unsafe { advance_avx2::<0>(pending, [], s) };
                pending = Pending::None;
            }
        }
        total += sq;
    }
    // SAFETY: as above.
    unsafe { advance_avx2::<0>(pending, [], s) };
    total
}

/// Runs SGD over one block with the widest instruction set the CPU has.
///
/// # Safety
/// As [`run_block_portable`].
pub(crate) unsafe fn run_block(
    block: &[Entry],
    starts: &[u32],
    order: Option<&[u32]>,
    x: Params,
    s: &Step,
) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::hint::has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA; the rest is the caller's contract.
            return unsafe {
                if one_pass(s.kp) {
                    run_block_avx2::<true>(block, starts, order, x, s)
                } else {
                    run_block_avx2::<false>(block, starts, order, x, s)
                }
            };
        }
    }
    // SAFETY: forwarded caller contract.
    unsafe { run_block_portable(block, starts, order, x, s) }
}

#[cfg(test)]
mod tests {
    use super::{dot8, Entry, Params, Step};
    use crate::rng::Rng;

    /// Runs blocks through both AVX2 loops (pairs side by side; each step right after its dot
    /// products, or in the pass of the next ones) and the portable loop (one rating at a time,
    /// each in full) and checks that every parameter and the loss come out bit-identical:
    /// whole blocks, and blocks cut into segments visited in a shuffled order (the one-pass
    /// loop carries its pending step across segments).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_block_loop_matches_the_portable_one_bit_for_bit() {
        if !crate::hint::has_avx2_fma() {
            return;
        }
        let mut rng = Rng::new(11);
        for (kp, n_users, n_items, biased) in [
            (8, 3, 2, true),
            (16, 5, 40, false),
            (24, 4, 3, true),
            (104, 7, 9, true),
        ] {
            // Runs of a user, runs of interleaved users, and repeated items: pairs, single
            // ratings, and consecutive updates that share a row all occur.
            let block: Vec<Entry> = (0..500)
                .map(|j| Entry {
                    u: if j % 50 < 10 { 0 } else { (j % n_users) as u32 },
                    i: rng.below(n_items as u64) as u32,
                    r: 1.0 + rng.below(9) as f32 * 0.5,
                })
                .collect();
            let mut draw = |n: usize| -> Vec<f32> {
                (0..n).map(|_| rng.next_f64() as f32 * 0.2 - 0.1).collect()
            };
            let start = (
                draw(n_users * kp),
                draw(n_items * kp),
                draw(n_users),
                draw(n_items),
            );
            let step = Step {
                lr: 0.02,
                reg: 0.05,
                mu: 3.5,
                biased,
                kp,
            };
            let starts: Vec<u32> = vec![0, 1, 2, 37, 38, 120, 121, 122, 300, 499];
            let mut order: Vec<u32> = (0..starts.len() as u32).collect();
            rng.shuffle(&mut order);
            for (starts, order) in [(&[0][..], None), (&starts[..], Some(&order[..]))] {
                // 0: portable; 1: AVX2, each step right after its dot products; 2: AVX2, each
                // step in the pass of the next dot products.
                let run = |loop_: u8| {
                    let (mut p, mut q, mut bu, mut bi) = start.clone();
                    let x = Params {
                        p: p.as_mut_ptr(),
                        q: q.as_mut_ptr(),
                        bu: bu.as_mut_ptr(),
                        bi: bi.as_mut_ptr(),
                    };
                    // SAFETY: ids are in range; nothing else touches the buffers.
                    let sq = unsafe {
                        match loop_ {
                            0 => super::run_block_portable(&block, starts, order, x, &step),
                            1 => super::run_block_avx2::<false>(&block, starts, order, x, &step),
                            _ => super::run_block_avx2::<true>(&block, starts, order, x, &step),
                        }
                    };
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    (sq.to_bits(), bits(&p), bits(&q), bits(&bu), bits(&bi))
                };
                let portable = run(0);
                for loop_ in [1, 2] {
                    assert!(
                        run(loop_) == portable,
                        "loop {loop_}, kp {kp}, segments {}",
                        starts.len()
                    );
                }
                assert!(portable.1 != start.0.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn dot8_sums_the_products() {
        let a: Vec<f32> = (0..24).map(|x| x as f32).collect();
        let b = vec![0.5f32; 24];
        assert!((dot8(&a, &b) - 138.0).abs() < 1e-6);
    }

    /// The AVX2 pass alone: its dot products are [`dot8`]'s and its steps
    /// [`super::step_rows`]'s, bit for bit, at every row length; and when the next rows are
    /// the stepped ones, the dot product reads them after the step.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_step_and_dot_are_bit_identical_to_the_portable_ones() {
        use super::{step_then_dot_avx2, Stepping};
        if !crate::hint::has_avx2_fma() {
            return;
        }
        let mut rng = Rng::new(7);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for len in (8..=136).step_by(8) {
            for _ in 0..50 {
                let a: Vec<f32> = (0..len).map(|_| rng.next_f64() as f32 - 0.5).collect();
                let b: Vec<f32> = (0..len)
                    .map(|_| (rng.next_f64() as f32 - 0.5) * 1e3)
                    .collect();
                let (mut pa, mut pb) = (a.clone(), b.clone());
                let next = [(pa.as_mut_ptr(), pb.as_mut_ptr())];
                // SAFETY: AVX2 was detected; equal lengths, multiples of 8.
                let [fast] = unsafe { step_then_dot_avx2::<0, 1>([], next, 0.0, len) };
                assert_eq!(fast.to_bits(), dot8(&a, &b).to_bits(), "len {len}");

                let (mut p1, mut q1) = (a.clone(), b.clone());
                super::step_rows(&mut p1, &mut q1, 0.013, 0.0007);
                let (mut p2, mut q2) = (a.clone(), b.clone());
                let done = Stepping {
                    p: p2.as_mut_ptr(),
                    q: q2.as_mut_ptr(),
                    le: 0.013,
                };
                let next = [(p2.as_mut_ptr(), q2.as_mut_ptr())];
                // SAFETY: as above; `done` is one rating.
                let [after] = unsafe { step_then_dot_avx2::<1, 1>([done], next, 0.0007, len) };
                assert_eq!(bits(&p1), bits(&p2), "len {len}");
                assert_eq!(bits(&q1), bits(&q2), "len {len}");
                assert_eq!(after.to_bits(), dot8(&p1, &q1).to_bits(), "len {len}");
            }
        }
    }
}
