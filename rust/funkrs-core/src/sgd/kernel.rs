//! The per-rating update, written so that LLVM vectorises it over 8-wide lanes.

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

/// Dot product of two rows of equal, 8-divisible length with eight partial sums.
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop: measured faster inlined
pub(crate) fn dot8(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// One Funk update for rating `r` of the pair whose rows are `p` and `q`; returns the error
/// before the update.
#[inline(always)]
#[allow(clippy::inline_always)] // the SGD inner loop: measured faster inlined
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
        for l in 0..8 {
            let pf = x[l];
            let qf = y[l];
            x[l] = pf + (le * qf - lreg * pf);
            y[l] = qf + (le * pf - lreg * qf);
        }
    }
    e
}
