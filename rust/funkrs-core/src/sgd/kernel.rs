//! The per-rating update and the loop over one block, written so that LLVM vectorises the
//! row operations over 8-wide lanes.
//!
//! On x86-64 the block loop is compiled twice, for the baseline ISA and for AVX2 with FMA, and
//! picked at run time. Both use fused multiply-adds in the same places (hardware FMA in the
//! AVX2 loop, [`f32::mul_add`] in the portable one, which rounds once like the hardware
//! instruction on every platform) and reduce the dot product in the same lane order, so the
//! two give bit-identical results. Fusing saves a third of the arithmetic instructions of a row
//! update: the one-thread MovieLens-small epochs (k = 100) got 10% faster. The AVX2 loop also updates two
//! consecutive ratings side by side when they share no user and no item (their dependency
//! chains then overlap); that is the same arithmetic on disjoint parameters, so it too is
//! bit-identical to one rating at a time.

use super::grid::Entry;
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

/// How many ratings ahead the loop prefetches factor rows.
const PREFETCH_AHEAD: usize = 8;

/// Dot product of two rows of equal, 8-divisible length.
///
/// Two 8-lane partial sums (even and odd chunks of 8, so that two independent chains overlap),
/// each accumulated with fused multiply-adds, added lane-wise, folded to 4 lanes
/// (`l + (l + 4)`), then to `(s0 + s2) + (s1 + s3)`. [`dot_avx2`] performs exactly these
/// operations in this order, so the two give bit-identical results.
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

/// [`dot8`] with AVX2 and FMA intrinsics (the portable version's lane arithmetic, in the same
/// order).
///
/// # Safety
/// The CPU supports AVX2 and FMA; `a` and `b` have the same length, a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::{_mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps};
    debug_assert_eq!(a.len(), b.len());
    debug_assert_eq!(a.len() % 8, 0);
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut j = 0;
    // SAFETY: every load reads 8 floats at `j < n` with `j + 8 <= n` (or `j + 16 <= n`).
    unsafe {
        let load = |p: *const f32, j: usize| _mm256_loadu_ps(p.add(j));
        while j + 16 <= n {
            acc0 = _mm256_fmadd_ps(load(pa, j), load(pb, j), acc0);
            acc1 = _mm256_fmadd_ps(load(pa, j + 8), load(pb, j + 8), acc1);
            j += 16;
        }
        if j < n {
            acc0 = _mm256_fmadd_ps(load(pa, j), load(pb, j), acc0);
        }
    }
    fold_avx2(acc0, acc1)
}

/// The end of [`dot_avx2`]: folds the two 8-lane partial sums to one float.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn fold_avx2(acc0: std::arch::x86_64::__m256, acc1: std::arch::x86_64::__m256) -> f32 {
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

/// [`dot8`], through [`dot_avx2`] when `AVX` (only instantiated inside AVX2-and-FMA code).
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop
fn dot<const AVX: bool>(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if AVX {
        // SAFETY: `AVX` is only set by `run_block_avx2`, which runs on CPUs with AVX2 and FMA; the
        // rows have equal, 8-divisible lengths.
        return unsafe { dot_avx2(a, b) };
    }
    dot8(a, b)
}

/// One Funk update for rating `r` of the pair whose rows are `p` and `q`; returns the error
/// before the update.
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop: it must inline into the ISA-specific copy
pub(crate) fn update<const AVX: bool>(
    p: &mut [f32],
    q: &mut [f32],
    bu: &mut f32,
    bi: &mut f32,
    r: f32,
    s: &Step,
) -> f32 {
    let e = bias_step(dot::<AVX>(p, q), bu, bi, r, s);
    let le = s.lr * e;
    let lreg = s.lr * s.reg;
    #[cfg(target_arch = "x86_64")]
    if AVX {
        // SAFETY: `AVX` is only set inside AVX2-and-FMA code; the rows have equal, 8-divisible
        // lengths and do not overlap.
        unsafe { step_rows_avx2(p, q, le, lreg) };
        return e;
    }
    step_rows(p, q, le, lreg);
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

/// [`step_rows`] with AVX2 and FMA intrinsics (the same operations in the same order).
///
/// # Safety
/// The CPU supports AVX2 and FMA; `p` and `q` have the same length, a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn step_rows_avx2(p: &mut [f32], q: &mut [f32], le: f32, lreg: f32) {
    use std::arch::x86_64::_mm256_set1_ps;
    debug_assert_eq!(p.len(), q.len());
    debug_assert_eq!(p.len() % 8, 0);
    let (pp, pq) = (p.as_mut_ptr(), q.as_mut_ptr());
    let (vle, vreg) = (_mm256_set1_ps(le), _mm256_set1_ps(lreg));
    let mut j = 0;
    while j < p.len() {
        // SAFETY: `j + 8 <= len` for both rows.
        unsafe { step8_avx2(pp.add(j), pq.add(j), vle, vreg) };
        j += 8;
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

/// Mutable views of one rating's parameters: `p_u`, `q_i`, `b_u`, `b_i` and the rating.
type Rows<'a> = (&'a mut [f32], &'a mut [f32], &'a mut f32, &'a mut f32, f32);

/// Two [`update`]s of pairs that share no user and no item, computed side by side.
///
/// One update is a dependency chain (dot product, reduction, error, row update); written lane
/// by lane for both pairs, the two chains are interleaved in the instruction stream. It came
/// with a set of changes that together sped the epochs up (benchmarks/README.md, third
/// session); its own share was not measured apart, and a later probe found the epochs not
/// bound by that chain alone. Each pair sees exactly the operations of [`update`], and the
/// pairs touch disjoint parameters, so the result is bit-identical to the two updates in turn.
///
/// # Safety
/// The CPU supports AVX2 and FMA; all rows have length `s.kp` (a multiple of 8) and no two of the
/// rows or biases overlap.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn update_pair_avx2(
    (p0, q0, bu0, bi0, r0): Rows<'_>,
    (p1, q1, bu1, bi1, r1): Rows<'_>,
    s: &Step,
) -> (f32, f32) {
    use std::arch::x86_64::{_mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_setzero_ps};
    let n = s.kp;
    debug_assert!(p0.len() == n && q0.len() == n && p1.len() == n && q1.len() == n);
    let (a0, b0) = (p0.as_mut_ptr(), q0.as_mut_ptr());
    let (a1, b1) = (p1.as_mut_ptr(), q1.as_mut_ptr());
    let (mut x0, mut x1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let (mut y0, mut y1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut j = 0;
    // SAFETY (every access below): 8 floats at `j` with `j + 8 <= n` (caller contract).
    unsafe {
        let fma = |acc, a: *mut f32, b: *mut f32, j: usize| {
            _mm256_fmadd_ps(_mm256_loadu_ps(a.add(j)), _mm256_loadu_ps(b.add(j)), acc)
        };
        while j + 16 <= n {
            x0 = fma(x0, a0, b0, j);
            y0 = fma(y0, a1, b1, j);
            x1 = fma(x1, a0, b0, j + 8);
            y1 = fma(y1, a1, b1, j + 8);
            j += 16;
        }
        if j < n {
            x0 = fma(x0, a0, b0, j);
            y0 = fma(y0, a1, b1, j);
        }
    }
    let e0 = bias_step(fold_avx2(x0, x1), bu0, bi0, r0, s);
    let e1 = bias_step(fold_avx2(y0, y1), bu1, bi1, r1, s);
    let lreg = _mm256_set1_ps(s.lr * s.reg);
    let (le0, le1) = (_mm256_set1_ps(s.lr * e0), _mm256_set1_ps(s.lr * e1));
    let mut j = 0;
    while j < n {
        // SAFETY: `j + 8 <= n` for all four rows (caller contract).
        unsafe {
            step8_avx2(a0.add(j), b0.add(j), le0, lreg);
            step8_avx2(a1.add(j), b1.add(j), le1, lreg);
        }
        j += 8;
    }
    (e0, e1)
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

/// The block loop; returns the sum of squared errors.
///
/// With `order = None` the block is streamed front to back. Otherwise its user segments
/// (`starts[o]` is where segment `o` begins; it ends where segment `o + 1` begins) are visited
/// in the given order.
///
/// # Safety
/// Every `u`/`i` in `block` indexes a valid row of `x.p`/`x.q` (`kp` floats each) and entry
/// of `x.bu`/`x.bi`, and no other thread touches those rows during the call.
#[inline(always)]
#[allow(clippy::inline_always)] // instantiated once per ISA below
unsafe fn run_block_body<const AVX: bool>(
    block: &[Entry],
    starts: &[u32],
    order: Option<&[u32]>,
    x: Params,
    s: &Step,
) -> f64 {
    let Some(order) = order else {
        // SAFETY: forwarded caller contract.
        return unsafe { run_entries::<AVX>(block, x, s) };
    };
    let mut sq = 0.0f64;
    for &o in order {
        let lo = starts[o as usize] as usize;
        let hi = starts
            .get(o as usize + 1)
            .map_or(block.len(), |&e| e as usize);
        // SAFETY: forwarded caller contract.
        sq += unsafe { run_entries::<AVX>(&block[lo..hi], x, s) };
    }
    sq
}

/// Streams `entries`, prefetching the factor rows a few ratings ahead.
///
/// # Safety
/// As [`run_block_body`].
#[inline(always)]
#[allow(clippy::inline_always)] // the innermost loop
unsafe fn run_entries<const AVX: bool>(entries: &[Entry], x: Params, s: &Step) -> f64 {
    let kp = s.kp;
    // Every cache line of both rows of `e` (16 floats per line; the rows need not be
    // line-aligned, hence the last float too).
    let fetch = |e: &Entry| {
        let pa = x.p.wrapping_add(e.u as usize * kp);
        let qa = x.q.wrapping_add(e.i as usize * kp);
        let mut off = 0;
        while off < kp {
            prefetch(pa.wrapping_add(off));
            prefetch(qa.wrapping_add(off));
            off += 16;
        }
        prefetch(pa.wrapping_add(kp - 1));
        prefetch(qa.wrapping_add(kp - 1));
    };
    // SAFETY (all uses): in range and unaliased (caller contract).
    let rows = |e: &Entry| unsafe {
        let (u, i) = (e.u as usize, e.i as usize);
        (
            std::slice::from_raw_parts_mut(x.p.add(u * kp), kp),
            std::slice::from_raw_parts_mut(x.q.add(i * kp), kp),
            &mut *x.bu.add(u),
            &mut *x.bi.add(i),
            e.r,
        )
    };
    let mut sq = 0.0f64;
    let mut j = 0;
    while j < entries.len() {
        let e = &entries[j];
        #[cfg(target_arch = "x86_64")]
        if AVX && independent::<2>(entries, j) {
            for ahead in entries.iter().skip(j + PREFETCH_AHEAD).take(2) {
                fetch(ahead);
            }
            // SAFETY: AVX2 code; distinct users and items, so no rows overlap.
            let (e0, e1) = unsafe { update_pair_avx2(rows(&entries[j]), rows(&entries[j + 1]), s) };
            sq += f64::from(e0 * e0);
            sq += f64::from(e1 * e1);
            j += 2;
            continue;
        }
        if let Some(ahead) = entries.get(j + PREFETCH_AHEAD) {
            fetch(ahead);
        }
        let (pu, qi, bu, bi, r) = rows(e);
        let err = update::<AVX>(pu, qi, bu, bi, r, s);
        sq += f64::from(err * err);
        j += 1;
    }
    sq
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_block_avx2(
    block: &[Entry],
    starts: &[u32],
    order: Option<&[u32]>,
    x: Params,
    s: &Step,
) -> f64 {
    // SAFETY: forwarded caller contract.
    unsafe { run_block_body::<true>(block, starts, order, x, s) }
}

/// Runs SGD over one block with the widest instruction set the CPU has.
///
/// # Safety
/// As [`run_block_body`].
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
            return unsafe { run_block_avx2(block, starts, order, x, s) };
        }
    }
    // SAFETY: forwarded caller contract.
    unsafe { run_block_body::<false>(block, starts, order, x, s) }
}

#[cfg(test)]
mod tests {
    use super::{dot8, Entry, Params, Step};
    use crate::rng::Rng;

    /// Runs one block through the AVX2 loop (pairs side by side) and the portable loop (one
    /// rating at a time) and checks that every parameter comes out bit-identical.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_block_loop_matches_the_portable_one_bit_for_bit() {
        if !crate::hint::has_avx2_fma() {
            return;
        }
        let mut rng = Rng::new(11);
        for (kp, n_users, n_items, biased) in
            [(8, 3, 2, true), (16, 5, 40, false), (104, 7, 9, true)]
        {
            // Runs of a user, runs of interleaved users, and repeated items: both the pair
            // path and its one-at-a-time fallback are exercised.
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
            let run = |avx: bool| {
                let (mut p, mut q, mut bu, mut bi) = start.clone();
                let x = Params {
                    p: p.as_mut_ptr(),
                    q: q.as_mut_ptr(),
                    bu: bu.as_mut_ptr(),
                    bi: bi.as_mut_ptr(),
                };
                // SAFETY: ids are in range; nothing else touches the buffers.
                let sq = unsafe {
                    if avx {
                        super::run_block_avx2(&block, &[0], None, x, &step)
                    } else {
                        super::run_block_body::<false>(&block, &[0], None, x, &step)
                    }
                };
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                (sq.to_bits(), bits(&p), bits(&q), bits(&bu), bits(&bi))
            };
            assert!(run(true) == run(false), "kp {kp}");
        }
    }

    #[test]
    fn dot8_sums_the_products() {
        let a: Vec<f32> = (0..24).map(|x| x as f32).collect();
        let b = vec![0.5f32; 24];
        assert!((dot8(&a, &b) - 138.0).abs() < 1e-6);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_dot_is_bit_identical_to_the_portable_one() {
        if !crate::hint::has_avx2_fma() {
            return;
        }
        let mut rng = Rng::new(7);
        for len in (8..=136).step_by(8) {
            for _ in 0..50 {
                let a: Vec<f32> = (0..len).map(|_| rng.next_f64() as f32 - 0.5).collect();
                let b: Vec<f32> = (0..len)
                    .map(|_| (rng.next_f64() as f32 - 0.5) * 1e3)
                    .collect();
                // SAFETY: AVX2 was detected; equal lengths, multiples of 8.
                let fast = unsafe { super::dot_avx2(&a, &b) };
                assert_eq!(fast.to_bits(), dot8(&a, &b).to_bits(), "len {len}");
                let (mut p1, mut q1) = (a.clone(), b.clone());
                let (mut p2, mut q2) = (a.clone(), b.clone());
                super::step_rows(&mut p1, &mut q1, 0.013, 0.0007);
                // SAFETY: as above.
                unsafe { super::step_rows_avx2(&mut p2, &mut q2, 0.013, 0.0007) };
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&p1), bits(&p2), "len {len}");
                assert_eq!(bits(&q1), bits(&q2), "len {len}");
            }
        }
    }
}
