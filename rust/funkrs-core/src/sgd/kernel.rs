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

/// Dot product of two rows of equal, 8-divisible length with eight partial sums.
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop: it must inline into the ISA-specific copy
pub(crate) fn dot8(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        // Whole-lane copies let LLVM keep `acc` in one vector register.
        let xa: [f32; 8] = x.try_into().expect("8 lanes");
        let ya: [f32; 8] = y.try_into().expect("8 lanes");
        for l in 0..8 {
            acc[l] += xa[l] * ya[l];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// One Funk update for rating `r` of the pair whose rows are `p` and `q`; returns the error
/// before the update.
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
    let dot = dot8(p, q);
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
    e
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
unsafe fn run_block_body(
    block: &[Entry],
    starts: &[u32],
    order: Option<&[u32]>,
    x: Params,
    s: &Step,
) -> f64 {
    let Some(order) = order else {
        // SAFETY: forwarded caller contract.
        return unsafe { run_entries(block, x, s) };
    };
    let mut sq = 0.0f64;
    for &o in order {
        let lo = starts[o as usize] as usize;
        let hi = starts
            .get(o as usize + 1)
            .map_or(block.len(), |&e| e as usize);
        // SAFETY: forwarded caller contract.
        sq += unsafe { run_entries(&block[lo..hi], x, s) };
    }
    sq
}

/// Streams `entries`, prefetching the factor rows a few ratings ahead.
///
/// # Safety
/// As [`run_block_body`].
#[inline(always)]
#[allow(clippy::inline_always)] // the innermost loop
unsafe fn run_entries(entries: &[Entry], x: Params, s: &Step) -> f64 {
    let kp = s.kp;
    let mut sq = 0.0f64;
    for (j, e) in entries.iter().enumerate() {
        if let Some(ahead) = entries.get(j + PREFETCH_AHEAD) {
            let pa = x.p.wrapping_add(ahead.u as usize * kp);
            let qa = x.q.wrapping_add(ahead.i as usize * kp);
            prefetch(pa);
            prefetch(qa);
            if kp > 16 {
                prefetch(pa.wrapping_add(16));
                prefetch(qa.wrapping_add(16));
            }
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
        let err = update(pu, qi, bu, bi, e.r, s);
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
    unsafe { run_block_body(block, starts, order, x, s) }
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
    unsafe { run_block_body(block, starts, order, x, s) }
}
