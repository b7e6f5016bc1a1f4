//! Alternating least squares for implicit feedback (Hu, Koren & Volinsky, ICDM 2008), with
//! conjugate-gradient solves.
//!
//! Every observed pair `(u, i)` with value `r ≥ 0` (a count, a play time, a weight) has
//! preference 1 and confidence `c = 1 + α r`; every other pair has preference 0 and confidence
//! 1. The loss over *all* pairs is
//!
//! $$ \sum_{u,i} c_{ui} (p_{ui} - x_u^\top y_i)^2 + \lambda \Big(\sum_u \lVert x_u \rVert^2 +
//!    \sum_i \lVert y_i \rVert^2\Big). $$
//!
//! With the item factors `Y` fixed, each user's factors solve
//!
//! $$ \big(Y^\top Y + \textstyle\sum_{i \in I(u)} \alpha r_{ui}\, y_i y_i^\top + \lambda I\big)
//!    x_u = \textstyle\sum_{i \in I(u)} (1 + \alpha r_{ui})\, y_i, $$
//!
//! and symmetrically for items. `YᵀY` (`k × k`) is shared by every user and formed once per
//! half-step; the rest only touches the user's own items. As in the `implicit` package, the
//! system is not formed: `cg_steps` conjugate-gradient steps, warm-started from the current
//! `x_u`, apply it as `YᵀY p + λ p + Σ α r (y_i · p) y_i`, which costs `O(|I(u)| k + k²)` per
//! step instead of `O(|I(u)| k²)` to build the matrix.
//!
//! Deterministic for a seed whatever the thread count: each row is solved on its own from
//! inputs fixed for the half-step, the initial factors are drawn in fixed chunks each from its
//! own stream of the seed, and `YᵀY` is summed over fixed chunks of rows in a fixed order.

use std::time::Instant;

use rayon::prelude::*;

use crate::data::Interactions;
use crate::mem::Need;
use crate::par::Par;
use crate::rng::Rng;
use crate::FunkError;

/// Hyperparameters of [`fit`]; defaults as the `implicit` package's
/// `AlternatingLeastSquares`.
#[derive(Clone, Debug, PartialEq)]
pub struct IalsParams {
    /// Number of latent factors `k`.
    pub n_factors: usize,
    /// Alternations (each one solves all users, then all items).
    pub n_iter: usize,
    /// L2 regularisation `λ`.
    pub reg: f32,
    /// Confidence slope `α`: an observed value `r` has confidence `1 + α r`.
    pub alpha: f32,
    /// Conjugate-gradient steps per row and half-step.
    pub cg_steps: usize,
    /// Standard deviation of the normal initial factors.
    pub init_std: f32,
    /// Seed of the initial factors.
    pub seed: u64,
}

impl Default for IalsParams {
    fn default() -> Self {
        IalsParams {
            n_factors: 100,
            n_iter: 15,
            reg: 0.01,
            alpha: 1.0,
            cg_steps: 3,
            init_std: 0.01,
            seed: 0,
        }
    }
}

impl IalsParams {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), FunkError> {
        if self.n_factors == 0 {
            return Err(FunkError::invalid("n_factors", "must be at least 1"));
        }
        if !(self.reg.is_finite() && self.reg >= 0.0) {
            return Err(FunkError::invalid(
                "reg",
                format!("must be a finite number >= 0, got {}", self.reg),
            ));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(FunkError::invalid(
                "alpha",
                format!("must be a finite number > 0, got {}", self.alpha),
            ));
        }
        if self.cg_steps == 0 {
            return Err(FunkError::invalid("cg_steps", "must be at least 1"));
        }
        if !(self.init_std.is_finite() && self.init_std > 0.0) {
            return Err(FunkError::invalid(
                "init_std",
                format!("must be a finite number > 0, got {}", self.init_std),
            ));
        }
        Ok(())
    }
}

/// What one alternation took.
#[derive(Clone, Debug, PartialEq)]
pub struct IterStats {
    /// 1-based alternation number.
    pub iteration: usize,
    /// Wall-clock seconds of the alternation.
    pub seconds: f64,
}

/// Fitted factors, row-major `n_users × k` and `n_items × k`.
#[derive(Clone, Debug, PartialEq)]
pub struct IalsFactors {
    /// User factors.
    pub user_factors: Vec<f32>,
    /// Item factors.
    pub item_factors: Vec<f32>,
    /// `k`.
    pub n_factors: usize,
    /// One entry per alternation.
    pub history: Vec<IterStats>,
}

/// The observed pairs compressed by row, with `α r` per pair.
struct Rows {
    ptr: Vec<usize>,
    idx: Vec<u32>,
    weight: Vec<f32>,
}

impl Rows {
    /// Counting sort of `(rows[j], cols[j], α vals[j])` by row, each row's pairs in input order.
    fn new(rows: &[u32], cols: &[u32], vals: &[f32], alpha: f32, n_rows: usize) -> Self {
        let mut ptr = vec![0usize; n_rows + 1];
        for &r in rows {
            ptr[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            ptr[r + 1] += ptr[r];
        }
        let mut next = ptr[..n_rows].to_vec();
        let mut idx = vec![0u32; rows.len()];
        let mut weight = vec![0f32; rows.len()];
        for ((&r, &c), &v) in rows.iter().zip(cols).zip(vals) {
            let slot = &mut next[r as usize];
            idx[*slot] = c;
            weight[*slot] = alpha * v;
            *slot += 1;
        }
        Rows { ptr, idx, weight }
    }
}

/// Rows per task of the parallel loops (fixed: the work split never depends on the threads).
const ROWS_PER_TASK: usize = 256;

/// Rows per partial sum of `YᵀY`.
const GRAM_CHUNK: usize = 4096;

/// `a·b + c`: fused on CPUs with FMA (the copy of the row loop compiled for it), plain
/// multiply and add in the portable copy, where `f32::mul_add` would be a call into the C
/// library. The two copies round differently, so the factors depend on the instruction set
/// (never on the thread count).
#[inline(always)]
#[allow(clippy::inline_always)] // inlined into the ISA-specific copies of the row loop
fn madd<const F: bool>(a: f32, b: f32, c: f32) -> f32 {
    if F {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
#[allow(clippy::inline_always)] // inlined into the ISA-specific copies of the row loop
fn dot<const F: bool>(a: &[f32], b: &[f32]) -> f32 {
    // Sixteen independent partial sums (two vector registers), so that two chains of
    // multiply-adds are in flight.
    let mut acc = [0f32; 16];
    let (ac, ar) = a.split_at(a.len() - a.len() % 16);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(16).zip(bc.chunks_exact(16)) {
        for l in 0..16 {
            acc[l] = madd::<F>(x[l], y[l], acc[l]);
        }
    }
    let mut h = [0f32; 8];
    for l in 0..8 {
        h[l] = acc[l] + acc[l + 8];
    }
    let mut s = ((h[0] + h[4]) + (h[1] + h[5])) + ((h[2] + h[6]) + (h[3] + h[7]));
    for (x, y) in ar.iter().zip(br) {
        s = madd::<F>(*x, *y, s);
    }
    s
}

#[inline(always)]
#[allow(clippy::inline_always)] // inlined into the ISA-specific copies of the row loop
fn axpy<const F: bool>(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = madd::<F>(a, *xi, *yi);
    }
}

/// `YᵀY + λ I` (row-major `k × k`) of the row-major `y` (`n × k`), summed in `f64` over fixed
/// chunks in order.
fn gram(y: &[f32], k: usize, reg: f32, par: Par<'_>) -> Vec<f32> {
    let partial = |chunk: &[f32]| {
        let mut g = vec![0f64; k * k];
        for row in chunk.chunks_exact(k) {
            for (a, &ya) in row.iter().enumerate() {
                let ya = f64::from(ya);
                for (gb, &yb) in g[a * k..(a + 1) * k].iter_mut().zip(row) {
                    *gb += ya * f64::from(yb);
                }
            }
        }
        g
    };
    let parts: Vec<Vec<f64>> = if par.is_parallel() {
        par.install(|| y.par_chunks(GRAM_CHUNK * k).map(partial).collect())
    } else {
        y.chunks(GRAM_CHUNK * k).map(partial).collect()
    };
    let mut g = vec![0f64; k * k];
    for p in &parts {
        for (a, b) in g.iter_mut().zip(p) {
            *a += b;
        }
    }
    for a in 0..k {
        g[a * k + a] += f64::from(reg);
    }
    g.into_iter().map(|x| x as f32).collect()
}

/// `out[c0..c0 + B] = Σ_j v_j G[j, c0..c0 + B]`, the block held in registers.
#[inline(always)]
#[allow(clippy::inline_always)] // inlined into the ISA-specific copies of the row loop
fn gemv_block<const F: bool, const B: usize>(g: &[f32], v: &[f32], c0: usize, out: &mut [f32]) {
    let k = v.len();
    let mut acc = [0f32; B];
    for (j, &vj) in v.iter().enumerate() {
        let row: &[f32; B] = g[j * k + c0..j * k + c0 + B].try_into().unwrap();
        for l in 0..B {
            acc[l] = madd::<F>(vj, row[l], acc[l]);
        }
    }
    out[c0..c0 + B].copy_from_slice(&acc);
}

/// `out = G v` for the symmetric row-major `k × k` matrix `g` (exactly symmetric: see
/// [`gram`]), as a sum of `G`'s rows scaled by `v`, in column blocks that stay in registers.
#[inline(always)]
#[allow(clippy::inline_always)] // inlined into the ISA-specific copies of the row loop
fn gemv<const F: bool>(g: &[f32], v: &[f32], out: &mut [f32]) {
    let k = v.len();
    let mut c0 = 0;
    while c0 + 64 <= k {
        gemv_block::<F, 64>(g, v, c0, out);
        c0 += 64;
    }
    while c0 + 16 <= k {
        gemv_block::<F, 16>(g, v, c0, out);
        c0 += 16;
    }
    for c in c0..k {
        out[c] = dot::<F>(&g[c * k..(c + 1) * k], v);
    }
}

/// Conjugate-gradient steps on one row's system (see the module docs), from the current `x`.
#[inline(always)]
#[allow(clippy::inline_always)] // inlined into the AVX2 copy of the row loop
fn solve_row<const F: bool>(
    x: &mut [f32],
    idx: &[u32],
    weight: &[f32],
    other: &[f32],
    g: &[f32],
    steps: usize,
    scratch: &mut [f32],
) {
    let k = x.len();
    let (r, rest) = scratch.split_at_mut(k);
    let (p, ap) = rest.split_at_mut(k);
    // r = b − A x, with b = Σ (1 + w) y_i and A = G + Σ w y_i y_iᵀ.
    gemv::<F>(g, x, r);
    for v in r.iter_mut() {
        *v = -*v;
    }
    for (&i, &w) in idx.iter().zip(weight) {
        let yi = &other[i as usize * k..(i as usize + 1) * k];
        let coef = (1.0 + w) - w * dot::<F>(yi, x);
        axpy::<F>(r, coef, yi);
    }
    p.copy_from_slice(r);
    let mut rs = dot::<F>(r, r);
    for _ in 0..steps {
        if rs < 1e-20 {
            break;
        }
        gemv::<F>(g, p, ap);
        for (&i, &w) in idx.iter().zip(weight) {
            let yi = &other[i as usize * k..(i as usize + 1) * k];
            axpy::<F>(ap, w * dot::<F>(yi, p), yi);
        }
        let pap = dot::<F>(p, ap);
        if pap.is_nan() || pap <= 0.0 {
            break;
        }
        let a = rs / pap;
        axpy::<F>(x, a, p);
        axpy::<F>(r, -a, ap);
        let rs_new = dot::<F>(r, r);
        let beta = rs_new / rs;
        for (pi, &ri) in p.iter_mut().zip(r.iter()) {
            *pi = ri + beta * *pi;
        }
        rs = rs_new;
    }
}

/// Solves rows `t · ROWS_PER_TASK ..` of `x` (the rows of `chunk`).
#[inline(always)]
#[allow(clippy::inline_always)] // inlined into the AVX2 copy below
fn solve_rows<const F: bool>(
    chunk: &mut [f32],
    t: usize,
    rows: &Rows,
    other: &[f32],
    g: &[f32],
    k: usize,
    steps: usize,
) {
    let mut scratch = vec![0f32; 3 * k];
    for (j, row) in chunk.chunks_exact_mut(k).enumerate() {
        let u = t * ROWS_PER_TASK + j;
        let (lo, hi) = (rows.ptr[u], rows.ptr[u + 1]);
        solve_row::<F>(
            row,
            &rows.idx[lo..hi],
            &rows.weight[lo..hi],
            other,
            g,
            steps,
            &mut scratch,
        );
    }
}

/// [`solve_rows`] compiled for AVX2: the same multiplies and adds in the same order on wider
/// registers, so the same bits as the portable copy, about twice as fast.
///
/// # Safety
/// The CPU supports AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn solve_rows_avx2(
    chunk: &mut [f32],
    t: usize,
    rows: &Rows,
    other: &[f32],
    g: &[f32],
    k: usize,
    steps: usize,
) {
    solve_rows::<false>(chunk, t, rows, other, g, k, steps);
}

/// [`solve_rows`] compiled for AVX2 with fused multiply-adds (one instruction and one
/// rounding for each `a·b + c`).
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn solve_rows_fma(
    chunk: &mut [f32],
    t: usize,
    rows: &Rows,
    other: &[f32],
    g: &[f32],
    k: usize,
    steps: usize,
) {
    solve_rows::<true>(chunk, t, rows, other, g, k, steps);
}

/// Solves every row of `x` against the fixed `other` factors.
fn half_step(
    x: &mut [f32],
    rows: &Rows,
    other: &[f32],
    k: usize,
    params: &IalsParams,
    par: Par<'_>,
) {
    let g = gram(other, k, params.reg, par);
    #[cfg(target_arch = "x86_64")]
    let avx2 = is_x86_feature_detected!("avx2");
    #[cfg(target_arch = "x86_64")]
    let fma = avx2 && is_x86_feature_detected!("fma");
    let task = |(t, chunk): (usize, &mut [f32])| {
        #[cfg(target_arch = "x86_64")]
        if fma {
            // SAFETY: AVX2 and FMA were detected at run time.
            unsafe { solve_rows_fma(chunk, t, rows, other, &g, k, params.cg_steps) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: AVX2 was detected at run time.
            unsafe { solve_rows_avx2(chunk, t, rows, other, &g, k, params.cg_steps) };
            return;
        }
        solve_rows::<false>(chunk, t, rows, other, &g, k, params.cg_steps);
    };
    par.for_each_chunk_mut(x, ROWS_PER_TASK * k, task);
}

/// Seeded normal factors for `n` rows, drawn in fixed chunks each from its own stream.
fn init(n: usize, k: usize, params: &IalsParams, stream: u64, par: Par<'_>) -> Vec<f32> {
    let mut out = vec![0f32; n * k];
    let draw = |(c, chunk): (usize, &mut [f32])| {
        let mut rng = Rng::stream(params.seed, (stream << 32) | c as u64);
        rng.fill_normal(chunk, 0.0, params.init_std);
    };
    par.for_each_chunk_mut(&mut out, ROWS_PER_TASK * k, draw);
    out
}

/// Fits implicit-feedback ALS on `data` (values are the `r ≥ 0` of the module docs);
/// `check` is called from the calling thread before every half-step, and an error from it
/// stops the fit (Ctrl-C).
pub fn fit(
    data: &Interactions<'_>,
    params: &IalsParams,
    par: Par<'_>,
    check: &mut dyn FnMut() -> Result<(), FunkError>,
) -> Result<IalsFactors, FunkError> {
    params.validate()?;
    if data.is_empty() {
        return Err(FunkError::Shape("cannot fit on zero interactions".into()));
    }
    if let Some(position) = data.ratings.iter().position(|&r| r < 0.0) {
        return Err(FunkError::InvalidParam {
            name: "ratings",
            reason: format!(
                "implicit feedback needs values >= 0 (counts or weights), got {} at position \
                 {position}",
                data.ratings[position]
            ),
        });
    }
    let k = params.n_factors;
    let rows = (data.n_users + data.n_items) as u128;
    let nnz = data.len() as u128;
    Need::default()
        .add::<f32>(rows.saturating_mul(k as u128), || {
            format!(
                "the factors ({} users and {} items × {k} factors)",
                data.n_users, data.n_items
            )
        })
        .add::<u64>(nnz.saturating_mul(4), || {
            format!("the interactions by user and by item ({nnz} pairs)")
        })
        .check("; use fewer factors")?;
    let by_user = Rows::new(
        data.users,
        data.items,
        data.ratings,
        params.alpha,
        data.n_users,
    );
    let by_item = Rows::new(
        data.items,
        data.users,
        data.ratings,
        params.alpha,
        data.n_items,
    );
    let mut x = init(data.n_users, k, params, 1, par);
    let mut y = init(data.n_items, k, params, 2, par);
    let mut history = Vec::new();
    for iteration in 1..=params.n_iter {
        let start = Instant::now();
        check()?;
        half_step(&mut x, &by_user, &y, k, params, par);
        check()?;
        half_step(&mut y, &by_item, &x, k, params, par);
        if let Some(bad) = x.iter().chain(&y).find(|v| !v.is_finite()) {
            return Err(FunkError::NoConvergence(format!(
                "implicit ALS: a factor became {bad} at iteration {iteration}; use a smaller \
                 alpha or a larger reg"
            )));
        }
        history.push(IterStats {
            iteration,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    Ok(IalsFactors {
        user_factors: x,
        item_factors: y,
        n_factors: k,
        history,
    })
}

/// The row solve of an update (see [`update`]).
struct ImplicitRow {
    k: usize,
    reg: f32,
    alpha: f64,
    /// The confidence weight `α r` assumed for the old interactions (their values are not
    /// stored): the fit's mean.
    old_weight: f64,
    /// Conjugate-gradient steps at most.
    steps: usize,
}

/// `Σ_j a_j b_j` in `f64`.
fn dot64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `out = G v` for a row-major `k × k` matrix in `f32`, in `f64`.
fn gemv64(g: &[f32], v: &[f64], out: &mut [f64]) {
    let k = v.len();
    for (r, o) in out.iter_mut().enumerate() {
        *o = g[r * k..(r + 1) * k]
            .iter()
            .zip(v)
            .map(|(&a, &b)| f64::from(a) * b)
            .sum();
    }
}

impl crate::increment::RowUpdate for ImplicitRow {
    /// `YᵀY + λI` of the other side now, and before the update.
    type Prep = (Vec<f32>, Vec<f32>);

    fn width(&self) -> usize {
        self.k
    }

    fn prepare(&self, other: &[f32], other_orig: &[f32], par: Par<'_>) -> Self::Prep {
        (
            gram(other, self.k, self.reg, par),
            gram(other_orig, self.k, self.reg, par),
        )
    }

    fn solve(
        &self,
        (g, g_orig): &Self::Prep,
        job: &crate::increment::RowJob<'_>,
        out: &mut [f32],
    ) -> bool {
        let k = self.k;
        let row = |m: &[f32], j: u32| -> Vec<f64> {
            let j = j as usize;
            m[j * k..(j + 1) * k]
                .iter()
                .map(|&v| f64::from(v))
                .collect()
        };
        let cur: Vec<f64> = job.cur.iter().map(|&v| f64::from(v)).collect();
        let orig: Vec<f64> = job.orig.iter().map(|&v| f64::from(v)).collect();
        let step: Vec<f64> = cur.iter().zip(&orig).map(|(a, b)| a - b).collect();
        let old: Vec<Vec<f64>> = job
            .old_idx
            .iter()
            .map(|&j| row(job.other_orig, j))
            .collect();
        let new: Vec<(Vec<f64>, f64)> = job
            .new_idx
            .iter()
            .zip(job.new_val)
            .map(|(&j, &v)| (row(job.other, j), self.alpha * f64::from(v)))
            .collect();
        // r0 = (b_new − A_new x) − (b_old − A_old x_orig): the change of the row's residual,
        // in which the old interactions' unknown targets cancel.
        let mut r = vec![0f64; k];
        let mut tmp = vec![0f64; k];
        gemv64(g_orig, &orig, &mut tmp);
        r.copy_from_slice(&tmp);
        gemv64(g, &cur, &mut tmp);
        for (a, b) in r.iter_mut().zip(&tmp) {
            *a -= b;
        }
        if step.iter().any(|&v| v != 0.0) {
            for y in &old {
                let c = self.old_weight * dot64(y, &step);
                for (a, b) in r.iter_mut().zip(y) {
                    *a -= c * b;
                }
            }
        }
        for (y, w) in &new {
            let c = (1.0 + w) - w * dot64(y, &cur);
            for (a, b) in r.iter_mut().zip(y) {
                *a += c * b;
            }
        }
        // Conjugate gradient on A_new δ = r0 from δ = 0, then x + δ.
        let apply = |p: &[f64], ap: &mut [f64]| {
            gemv64(g, p, ap);
            for y in &old {
                let c = self.old_weight * dot64(y, p);
                for (a, b) in ap.iter_mut().zip(y) {
                    *a += c * b;
                }
            }
            for (y, w) in &new {
                let c = w * dot64(y, p);
                for (a, b) in ap.iter_mut().zip(y) {
                    *a += c * b;
                }
            }
        };
        let mut delta = vec![0f64; k];
        let mut p = r.clone();
        let mut ap = vec![0f64; k];
        let mut rs = dot64(&r, &r);
        let tol = rs * 1e-12;
        for _ in 0..self.steps {
            if rs <= tol || rs == 0.0 {
                break;
            }
            apply(&p, &mut ap);
            let pap = dot64(&p, &ap);
            if pap.is_nan() || pap <= 0.0 {
                break;
            }
            let a = rs / pap;
            for j in 0..k {
                delta[j] += a * p[j];
                r[j] -= a * ap[j];
            }
            let rs_new = dot64(&r, &r);
            let beta = rs_new / rs;
            for j in 0..k {
                p[j] = r[j] + beta * p[j];
            }
            rs = rs_new;
        }
        if delta.iter().all(|&v| v == 0.0) {
            out.copy_from_slice(job.cur);
            return true;
        }
        for ((o, &c), &dl) in out.iter_mut().zip(&cur).zip(&delta) {
            *o = (c + dl) as f32;
        }
        out.iter().all(|v| v.is_finite())
    }
}

/// Updates fitted factors (rows grown to the increment's users and items, new rows zero)
/// with the interactions of `inc` by `n_iter` alternations over the rows they touch.
///
/// A touched row moves by the solution `δ` of `A_new δ = r₀`, where `A_new` is its system
/// with the new interactions, and `r₀` the change of its residual `b − A x` from before
/// the update to now. The old interactions' values are not stored (only which items each
/// user had): their targets cancel in `r₀`, and in `A_new` (and in the part of `r₀` due to
/// the row's own move) their confidence weight is taken as `old_weight`, the fit's mean
/// `α r`. The old partners enter as they were before the update; the new interactions,
/// `YᵀY` and the row itself as they are now. So a row whose system did not change stays
/// exactly as it was, and rows no new interaction touches keep their bits. Each solve runs
/// conjugate gradient in `f64` to a residual reduced `10⁶`-fold, at most `steps` steps.
#[allow(clippy::too_many_arguments)]
pub fn update(
    user_factors: &[f32],
    item_factors: &[f32],
    k: usize,
    inc: &crate::increment::Increment<'_>,
    params: &IalsParams,
    old_weight: f32,
    steps: usize,
    n_iter: usize,
    par: Par<'_>,
    check: &mut dyn FnMut() -> Result<(), FunkError>,
) -> Result<IalsFactors, FunkError> {
    params.validate()?;
    inc.validate()?;
    if k == 0 || user_factors.len() != inc.n_users * k || item_factors.len() != inc.n_items * k {
        return Err(FunkError::Shape(format!(
            "factors of {} and {} values do not fit {} users and {} items of {k} factors",
            user_factors.len(),
            item_factors.len(),
            inc.n_users,
            inc.n_items
        )));
    }
    if let Some(position) = inc.values.iter().position(|&r| r < 0.0) {
        return Err(FunkError::InvalidParam {
            name: "ratings",
            reason: format!(
                "implicit feedback needs values >= 0 (counts or weights), got {} at position \
                 {position}",
                inc.values[position]
            ),
        });
    }
    if !(old_weight.is_finite() && old_weight >= 0.0) {
        return Err(FunkError::invalid(
            "old_weight",
            format!("must be a finite number >= 0, got {old_weight}"),
        ));
    }
    let row = ImplicitRow {
        k,
        reg: params.reg,
        alpha: f64::from(params.alpha),
        old_weight: f64::from(old_weight),
        steps,
    };
    let mut x = user_factors.to_vec();
    let mut y = item_factors.to_vec();
    let done = crate::increment::alternate(&row, inc, &mut x, &mut y, n_iter, par, check)?;
    if let Some(bad) = x.iter().chain(&y).find(|v| !v.is_finite()) {
        return Err(FunkError::NoConvergence(format!(
            "implicit ALS update: a factor became {bad}; use a smaller alpha or a larger reg"
        )));
    }
    Ok(IalsFactors {
        user_factors: x,
        item_factors: y,
        n_factors: k,
        history: done
            .seconds
            .iter()
            .enumerate()
            .map(|(j, &seconds)| IterStats {
                iteration: j + 1,
                seconds,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact minimiser of one row's system, by Gaussian elimination in f64.
    fn exact_row(idx: &[u32], r: &[f32], y: &[f32], k: usize, reg: f64, alpha: f64) -> Vec<f64> {
        let n_items = y.len() / k;
        let mut a = vec![0f64; k * k];
        let mut b = vec![0f64; k];
        for i in 0..n_items {
            let yi = &y[i * k..(i + 1) * k];
            let (c, p) = match idx.iter().position(|&j| j as usize == i) {
                Some(pos) => (1.0 + alpha * f64::from(r[pos]), 1.0),
                None => (1.0, 0.0),
            };
            for s in 0..k {
                b[s] += c * p * f64::from(yi[s]);
                for t in 0..k {
                    a[s * k + t] += c * f64::from(yi[s]) * f64::from(yi[t]);
                }
            }
        }
        for s in 0..k {
            a[s * k + s] += reg;
        }
        // Gaussian elimination (the matrix is SPD).
        for col in 0..k {
            for row in col + 1..k {
                let f = a[row * k + col] / a[col * k + col];
                for c in col..k {
                    a[row * k + c] -= f * a[col * k + c];
                }
                b[row] -= f * b[col];
            }
        }
        let mut xs = vec![0f64; k];
        for row in (0..k).rev() {
            let s: f64 = (row + 1..k).map(|c| a[row * k + c] * xs[c]).sum();
            xs[row] = (b[row] - s) / a[row * k + row];
        }
        xs
    }

    #[test]
    fn conjugate_gradient_reaches_the_exact_row_solution() {
        let (k, n_items) = (4, 9);
        let mut rng = Rng::new(3);
        let mut y = vec![0f32; n_items * k];
        rng.fill_normal(&mut y, 0.0, 0.5);
        let idx = [1u32, 4, 7];
        let r = [2.0f32, 1.0, 5.0];
        let (reg, alpha) = (0.1f32, 2.0f32);
        let params = IalsParams {
            n_factors: k,
            reg,
            alpha,
            cg_steps: k, // k steps of CG solve a k × k SPD system (to rounding)
            ..IalsParams::default()
        };
        let g = gram(&y, k, params.reg, Par::Seq);
        let weight: Vec<f32> = r.iter().map(|v| alpha * v).collect();
        let mut x = vec![0f32; k];
        let mut scratch = vec![0f32; 3 * k];
        for _ in 0..3 {
            solve_row::<false>(&mut x, &idx, &weight, &y, &g, params.cg_steps, &mut scratch);
        }
        let want = exact_row(&idx, &r, &y, k, f64::from(reg), f64::from(alpha));
        for (a, b) in x.iter().zip(&want) {
            assert!((f64::from(*a) - b).abs() < 1e-4, "{x:?} vs {want:?}");
        }
    }

    fn example() -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        let mut rng = Rng::new(5);
        let (mut us, mut is, mut rs) = (vec![], vec![], vec![]);
        for u in 0..700u32 {
            for i in 0..300u32 {
                if rng.next_f64() < 0.05 {
                    us.push(u);
                    is.push(i);
                    rs.push((1.0 + 4.0 * rng.next_f64()).floor() as f32);
                }
            }
        }
        (us, is, rs)
    }

    #[test]
    fn same_bits_for_any_thread_count() {
        let (us, is, rs) = example();
        let data = Interactions::new(&us, &is, &rs, 700, 300).unwrap();
        let params = IalsParams {
            n_factors: 12,
            n_iter: 3,
            ..IalsParams::default()
        };
        let seq = fit(&data, &params, Par::Seq, &mut || Ok(())).unwrap();
        for threads in [2, 3] {
            let pool = crate::par::build_pool(threads).unwrap();
            let got = fit(&data, &params, Par::Pool(&pool), &mut || Ok(())).unwrap();
            assert_eq!(got.user_factors, seq.user_factors, "{threads} threads");
            assert_eq!(got.item_factors, seq.item_factors, "{threads} threads");
        }
    }

    #[test]
    fn bad_input_is_an_error_and_check_stops_the_fit() {
        let (us, is, mut rs) = example();
        let data = Interactions::new(&us, &is, &rs, 700, 300).unwrap();
        let bad = IalsParams {
            alpha: 0.0,
            ..IalsParams::default()
        };
        assert!(matches!(
            fit(&data, &bad, Par::Seq, &mut || Ok(())),
            Err(FunkError::InvalidParam { name: "alpha", .. })
        ));
        let stop = fit(&data, &IalsParams::default(), Par::Seq, &mut || {
            Err(FunkError::Interrupted)
        });
        assert_eq!(stop.unwrap_err(), FunkError::Interrupted);
        rs[3] = -1.0;
        let neg = Interactions::new(&us, &is, &rs, 700, 300).unwrap();
        assert!(matches!(
            fit(&neg, &IalsParams::default(), Par::Seq, &mut || Ok(())),
            Err(FunkError::InvalidParam {
                name: "ratings",
                ..
            })
        ));
    }
}
