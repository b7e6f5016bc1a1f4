//! The per-rating update and the loop over one block, written so that LLVM vectorises the
//! row operations over 8-wide lanes.
//!
//! On x86-64 the block loop is compiled twice, for the baseline ISA and for AVX2, and picked
//! at run time. Neither version uses fused multiply-adds and both reduce the dot product in
//! the same lane order, so the two give bit-identical results.

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
/// Two 8-lane partial sums (even and odd chunks of 8, so that two independent add chains
/// overlap), added lane-wise, folded to 4 lanes (`l + (l + 4)`), then to
/// `(s0 + s2) + (s1 + s3)`. [`dot_avx2`] performs exactly these operations in this order, so
/// the two give bit-identical results.
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
            acc0[l] += x[l] * y[l];
            acc1[l] += x[8 + l] * y[8 + l];
        }
    }
    let tail = a.len() / 16 * 16;
    if tail < a.len() {
        for l in 0..8 {
            acc0[l] += a[tail + l] * b[tail + l];
        }
    }
    let mut s = [0.0f32; 4];
    for l in 0..4 {
        s[l] = (acc0[l] + acc1[l]) + (acc0[l + 4] + acc1[l + 4]);
    }
    (s[0] + s[2]) + (s[1] + s[3])
}

/// [`dot8`] with AVX intrinsics (the portable version's lane arithmetic, in the same order).
///
/// # Safety
/// The CPU supports AVX; `a` and `b` have the same length, a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_loadu_ps,
        _mm256_mul_ps, _mm256_setzero_ps, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_movehl_ps,
        _mm_shuffle_ps,
    };
    debug_assert_eq!(a.len(), b.len());
    debug_assert_eq!(a.len() % 8, 0);
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut j = 0;
    // SAFETY: every load reads 8 floats at `j < n` with `j + 8 <= n` (or `j + 16 <= n`).
    unsafe {
        while j + 16 <= n {
            acc0 = _mm256_add_ps(
                acc0,
                _mm256_mul_ps(_mm256_loadu_ps(pa.add(j)), _mm256_loadu_ps(pb.add(j))),
            );
            acc1 = _mm256_add_ps(
                acc1,
                _mm256_mul_ps(
                    _mm256_loadu_ps(pa.add(j + 8)),
                    _mm256_loadu_ps(pb.add(j + 8)),
                ),
            );
            j += 16;
        }
        if j < n {
            acc0 = _mm256_add_ps(
                acc0,
                _mm256_mul_ps(_mm256_loadu_ps(pa.add(j)), _mm256_loadu_ps(pb.add(j))),
            );
        }
    }
    // (acc0 + acc1) per lane, then lanes l and l + 4: the portable version's
    // `(acc0[l] + acc1[l]) + (acc0[l + 4] + acc1[l + 4])`.
    let acc = _mm256_add_ps(acc0, acc1);
    let s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
    // (s0 + s2, s1 + s3), then their sum.
    let t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps::<0b01>(t, t)))
}

/// [`dot8`], through [`dot_avx2`] when `AVX` (only instantiated inside AVX2 code).
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop
fn dot<const AVX: bool>(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if AVX {
        // SAFETY: `AVX` is only set by `run_block_avx2`, which runs on CPUs with AVX2; the
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
    let dot = dot::<AVX>(p, q);
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
    let le = s.lr * e;
    let lreg = s.lr * s.reg;
    #[cfg(target_arch = "x86_64")]
    if AVX {
        // SAFETY: `AVX` is only set inside AVX2 code; the rows have equal, 8-divisible
        // lengths and do not overlap.
        unsafe { step_rows_avx2(p, q, le, lreg) };
        return e;
    }
    step_rows(p, q, le, lreg);
    e
}

/// `p += le·q − lreg·p` and `q += le·p − lreg·q`, both from the old rows.
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
            np[l] = pa[l] + (le * qa[l] - lreg * pa[l]);
            nq[l] = qa[l] + (le * pa[l] - lreg * qa[l]);
        }
        x.copy_from_slice(&np);
        y.copy_from_slice(&nq);
    }
}

/// [`step_rows`] with AVX intrinsics (the same operations in the same order, no FMA).
///
/// # Safety
/// The CPU supports AVX; `p` and `q` have the same length, a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn step_rows_avx2(p: &mut [f32], q: &mut [f32], le: f32, lreg: f32) {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_set1_ps, _mm256_storeu_ps,
        _mm256_sub_ps,
    };
    debug_assert_eq!(p.len(), q.len());
    debug_assert_eq!(p.len() % 8, 0);
    let (pp, pq) = (p.as_mut_ptr(), q.as_mut_ptr());
    let (vle, vreg) = (_mm256_set1_ps(le), _mm256_set1_ps(lreg));
    let mut j = 0;
    while j < p.len() {
        // SAFETY: `j + 8 <= len` for both rows.
        unsafe {
            let pa = _mm256_loadu_ps(pp.add(j));
            let qa = _mm256_loadu_ps(pq.add(j));
            let np = _mm256_add_ps(
                pa,
                _mm256_sub_ps(_mm256_mul_ps(vle, qa), _mm256_mul_ps(vreg, pa)),
            );
            let nq = _mm256_add_ps(
                qa,
                _mm256_sub_ps(_mm256_mul_ps(vle, pa), _mm256_mul_ps(vreg, qa)),
            );
            _mm256_storeu_ps(pp.add(j), np);
            _mm256_storeu_ps(pq.add(j), nq);
        }
        j += 8;
    }
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
    let mut sq = 0.0f64;
    for (j, e) in entries.iter().enumerate() {
        if let Some(ahead) = entries.get(j + PREFETCH_AHEAD) {
            // Every cache line of both rows (16 floats per line; the rows need not be
            // line-aligned, hence the last float too).
            let pa = x.p.wrapping_add(ahead.u as usize * kp);
            let qa = x.q.wrapping_add(ahead.i as usize * kp);
            let mut off = 0;
            while off < kp {
                prefetch(pa.wrapping_add(off));
                prefetch(qa.wrapping_add(off));
                off += 16;
            }
            prefetch(pa.wrapping_add(kp - 1));
            prefetch(qa.wrapping_add(kp - 1));
        }
        let (u, i) = (e.u as usize, e.i as usize);
        // SAFETY: in range and unaliased (caller contract).
        let (pu, qi, bu, bi) = unsafe {
            (
                std::slice::from_raw_parts_mut(x.p.add(u * kp), kp),
                std::slice::from_raw_parts_mut(x.q.add(i * kp), kp),
                &mut *x.bu.add(u),
                &mut *x.bi.add(i),
            )
        };
        let err = update::<AVX>(pu, qi, bu, bi, e.r, s);
        sq += f64::from(err * err);
    }
    sq
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
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
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2; the rest is the caller's contract.
            return unsafe { run_block_avx2(block, starts, order, x, s) };
        }
    }
    // SAFETY: forwarded caller contract.
    unsafe { run_block_body::<false>(block, starts, order, x, s) }
}

#[cfg(test)]
mod tests {
    use super::dot8;
    use crate::rng::Rng;

    #[test]
    fn dot8_sums_the_products() {
        let a: Vec<f32> = (0..24).map(|x| x as f32).collect();
        let b = vec![0.5f32; 24];
        assert!((dot8(&a, &b) - 138.0).abs() < 1e-6);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_dot_is_bit_identical_to_the_portable_one() {
        if !std::arch::is_x86_feature_detected!("avx2") {
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
