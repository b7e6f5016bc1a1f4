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

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, MatRef};
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

/// Partial sums of `YᵀY` held at once.
const GRAM_PARTS: usize = 16;

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

/// `YᵀY + λ I_k` (row-major `kp × kp`) of the row-major `y` (`n × kp`, the columns from `k`
/// on zero padding, which get no `λ`, so that their rows and columns of the result are zero).
///
/// Each fixed chunk of [`GRAM_CHUNK`] rows is one sequential faer product in `f32` (its lower
/// half), and the chunks are summed in order in `f64`, so the result depends on the data
/// alone, never on the threads; the upper half is a copy of the lower, so the result is
/// exactly symmetric ([`gemv`] relies on it).
fn gram(y: &[f32], kp: usize, k: usize, reg: f32, par: Par<'_>) -> Vec<f32> {
    let partial = |chunk: &[f32]| {
        let rows = MatRef::from_row_major_slice(chunk, chunk.len() / kp, kp);
        let mut g = Mat::<f32>::zeros(kp, kp);
        triangular::matmul(
            g.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            rows.transpose(),
            BlockStructure::Rectangular,
            rows,
            BlockStructure::Rectangular,
            1.0,
            faer::Par::Seq,
        );
        g
    };
    let mut g = vec![0f64; kp * kp];
    // At most GRAM_PARTS partial sums are held at once.
    for group in y.chunks(GRAM_PARTS * GRAM_CHUNK * kp) {
        let parts: Vec<Mat<f32>> = if par.is_parallel() {
            par.install(|| group.par_chunks(GRAM_CHUNK * kp).map(partial).collect())
        } else {
            group.chunks(GRAM_CHUNK * kp).map(partial).collect()
        };
        for part in &parts {
            for a in 0..kp {
                for b in 0..=a {
                    g[a * kp + b] += f64::from(part[(a, b)]);
                }
            }
        }
    }
    for a in 0..k {
        g[a * kp + a] += f64::from(reg);
    }
    for a in 0..kp {
        for b in a + 1..kp {
            g[a * kp + b] = g[b * kp + a];
        }
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

/// Items per tile of [`solve_rows_tiled`]: their dot products are taken in one pass and
/// their multiply-adds into the accumulated vector in the next, while their rows are still in
/// L1 (32 rows of 64 floats are 8 KiB).
#[cfg(target_arch = "x86_64")]
const TILE: usize = 32;

/// How many items ahead [`solve_rows_tiled`] prefetches the rows it gathers.
#[cfg(target_arch = "x86_64")]
const AHEAD: usize = 8;

/// Rows with more items than this are prefetched in every pass, not only in the first
/// (their gathered rows, 256 KiB at k = 64, no longer stay in L2 from one pass to the next).
#[cfg(target_arch = "x86_64")]
const PREFETCH_ALWAYS: usize = 1024;

/// The row loop for padded rows of `C` 8-lane chunks (`kp = 8·C`), with AVX2 and FMA
/// intrinsics and the row's vectors (`x`, `r`, `p`, `A p`) held in registers.
///
/// The same conjugate-gradient steps as [`solve_row`], arranged for the CPU: every pass over
/// the row's items goes tile by tile ([`TILE`] items), first the dot products `y_i · v` four
/// at a time (one reduction for four), then the multiply-adds `Σ c_i y_i` into accumulators
/// that stay in registers, so no item waits on the previous one's reduction; the gathered
/// rows are prefetched [`AHEAD`] items ahead. `G v` is a sum of `G`'s rows scaled by `v`'s
/// entries, also in registers. Sums are taken in a fixed order that depends on the row alone,
/// never on the threads.
///
/// # Safety
/// The CPU supports AVX2 and FMA; `k == 8·C`; `chunk` holds whole rows of `k` floats, `other`
/// rows of `k` floats indexed by `rows.idx`, `g` is `k × k`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)] // chunk `c` of several row vectors in step
unsafe fn solve_rows_tiled<const C: usize>(
    chunk: &mut [f32],
    t: usize,
    rows: &Rows,
    other: &[f32],
    g: &[f32],
    k: usize,
    steps: usize,
) {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_fmadd_ps,
        _mm256_hadd_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_set1_ps, _mm256_setzero_ps,
        _mm256_storeu_ps, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_fnmadd_ps, _mm_loadu_ps,
        _mm_movehl_ps, _mm_mul_ps, _mm_set1_ps, _mm_shuffle_ps, _mm_storeu_ps,
    };
    type V<const C: usize> = [__m256; C];
    debug_assert!(k == 8 * C && C <= 16);
    let zero = _mm256_setzero_ps();
    // SAFETY (every raw access below): rows of `k = 8·C` floats inside their buffers
    // (caller contract; `idx` entries are `< other.len() / k`, checked by `Interactions`).
    let load = |ptr: *const f32| -> V<C> {
        std::array::from_fn(|c| unsafe { _mm256_loadu_ps(ptr.add(8 * c)) })
    };
    let store = |ptr: *mut f32, v: &V<C>| {
        for (c, &vc) in v.iter().enumerate() {
            unsafe { _mm256_storeu_ps(ptr.add(8 * c), vc) };
        }
    };
    let hsum = |v: __m256| {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s)))
    };
    // a · b, lanes summed pairwise in two chains.
    let dot = |a: &V<C>, b: &V<C>| {
        let mut acc = [zero; 2];
        for c in 0..C {
            acc[c % 2] = _mm256_fmadd_ps(a[c], b[c], acc[c % 2]);
        }
        hsum(_mm256_add_ps(acc[0], acc[1]))
    };
    let axpy = |y: &mut V<C>, a: f32, x: &V<C>| {
        let a = _mm256_set1_ps(a);
        for c in 0..C {
            y[c] = _mm256_fmadd_ps(a, x[c], y[c]);
        }
    };
    // G v: Σ_j v_j G[j, ·] (G is symmetric). Rows of fewer than 4 chunks use two
    // accumulator sets (even and odd j), so that they still keep enough chains of
    // multiply-adds in flight; wider rows have chains enough in one set (and no registers
    // for a second).
    let gemv = |v: &V<C>| -> V<C> {
        let mut vs = [0f32; 128];
        for (c, &vc) in v.iter().enumerate() {
            unsafe { _mm256_storeu_ps(vs.as_mut_ptr().add(8 * c), vc) };
        }
        let row = |acc: &mut V<C>, j: usize| {
            let vj = _mm256_set1_ps(vs[j]);
            let gj = unsafe { g.as_ptr().add(j * k) };
            for c in 0..C {
                acc[c] = _mm256_fmadd_ps(vj, unsafe { _mm256_loadu_ps(gj.add(8 * c)) }, acc[c]);
            }
        };
        let mut even = [zero; C];
        if C < 4 {
            let mut odd = [zero; C];
            for j in (0..k).step_by(2) {
                row(&mut even, j);
                row(&mut odd, j + 1);
            }
            std::array::from_fn(|c| _mm256_add_ps(even[c], odd[c]))
        } else {
            for j in 0..k {
                row(&mut even, j);
            }
            even
        }
    };
    let base = other.as_ptr();
    let row_of = |i: u32| unsafe { base.add(i as usize * k) };
    let fetch = |i: u32| {
        let r = row_of(i);
        let mut off = 0;
        while off < k {
            crate::hint::prefetch(unsafe { r.add(off) });
            off += 16;
        }
    };
    // acc += Σ_i c_i y_i over the row's items with c_i = w_i (y_i · v) (or, `first`, the
    // initial residual's (1 + w_i) − w_i (y_i · v)).
    //
    // The vectors are copied in and out, so that they stay in registers: through the
    // references, every multiply-add would be stored, as the gathered rows might alias them.
    // The rows are prefetched in the first pass of a row, and in every pass of rows too
    // long to stay in L2 between passes.
    let items = |acc_out: &mut V<C>, v: &V<C>, idx: &[u32], w: &[f32], first: bool| {
        let (mut acc, v) = (*acc_out, *v);
        let prefetching = first || idx.len() > PREFETCH_ALWAYS;
        let mut coef = [0f32; TILE];
        let n = idx.len();
        let mut lo = 0;
        while lo < n {
            let hi = (lo + TILE).min(n);
            let mut j = lo;
            while j + 4 <= hi {
                if prefetching {
                    for a in 0..4 {
                        if let Some(&ahead) = idx.get(j + a + AHEAD) {
                            fetch(ahead);
                        }
                    }
                }
                let ys = [
                    row_of(idx[j]),
                    row_of(idx[j + 1]),
                    row_of(idx[j + 2]),
                    row_of(idx[j + 3]),
                ];
                let mut d = [zero; 4];
                for c in 0..C {
                    for (dq, &yq) in d.iter_mut().zip(&ys) {
                        *dq = _mm256_fmadd_ps(v[c], unsafe { _mm256_loadu_ps(yq.add(8 * c)) }, *dq);
                    }
                }
                // Four reductions at once: lanes of (d0, d1) and (d2, d3) pairwise, then the
                // two 128-bit halves: [d0·, d1·, d2·, d3·].
                let h = _mm256_hadd_ps(_mm256_hadd_ps(d[0], d[1]), _mm256_hadd_ps(d[2], d[3]));
                let t = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
                let wv = unsafe { _mm_loadu_ps(w.as_ptr().add(j)) };
                let cv = if first {
                    // (1 + w) − w·t
                    _mm_fnmadd_ps(wv, t, _mm_add_ps(_mm_set1_ps(1.0), wv))
                } else {
                    _mm_mul_ps(wv, t)
                };
                unsafe { _mm_storeu_ps(coef.as_mut_ptr().add(j - lo), cv) };
                j += 4;
            }
            while j < hi {
                if let Some(&ahead) = idx.get(j + AHEAD).filter(|_| prefetching) {
                    fetch(ahead);
                }
                let y = load(row_of(idx[j]));
                let t = dot(&y, &v);
                coef[j - lo] = if first {
                    (-w[j]).mul_add(t, 1.0 + w[j])
                } else {
                    w[j] * t
                };
                j += 1;
            }
            for (jj, &cj) in coef[..hi - lo].iter().enumerate() {
                let y = row_of(idx[lo + jj]);
                let cb = _mm256_set1_ps(cj);
                for c in 0..C {
                    acc[c] = _mm256_fmadd_ps(cb, unsafe { _mm256_loadu_ps(y.add(8 * c)) }, acc[c]);
                }
            }
            lo = hi;
        }
        *acc_out = acc;
    };
    for (j, row) in chunk.chunks_exact_mut(k).enumerate() {
        let u = t * ROWS_PER_TASK + j;
        let (lo, hi) = (rows.ptr[u], rows.ptr[u + 1]);
        let (idx, w) = (&rows.idx[lo..hi], &rows.weight[lo..hi]);
        let mut x = load(row.as_ptr());
        // r = b − A x, with b = Σ (1 + w) y_i and A = G + Σ w y_i y_iᵀ.
        let gx = gemv(&x);
        let mut r: V<C> = std::array::from_fn(|c| _mm256_mul_ps(gx[c], _mm256_set1_ps(-1.0)));
        items(&mut r, &x, idx, w, true);
        let mut p = r;
        let mut rs = dot(&r, &r);
        for _ in 0..steps {
            if rs < 1e-20 {
                break;
            }
            let mut ap = gemv(&p);
            items(&mut ap, &p, idx, w, false);
            let pap = dot(&p, &ap);
            if pap.is_nan() || pap <= 0.0 {
                break;
            }
            let a = rs / pap;
            axpy(&mut x, a, &p);
            axpy(&mut r, -a, &ap);
            let rs_new = dot(&r, &r);
            let beta = _mm256_set1_ps(rs_new / rs);
            for c in 0..C {
                p[c] = _mm256_fmadd_ps(beta, p[c], r[c]);
            }
            rs = rs_new;
        }
        store(row.as_mut_ptr(), &x);
    }
}

/// Solves every row of `x` against the fixed `other` factors (rows of `kp` floats, the
/// first `k` of them the factors).
fn half_step(
    x: &mut [f32],
    rows: &Rows,
    other: &[f32],
    (k, kp): (usize, usize),
    params: &IalsParams,
    par: Par<'_>,
) {
    let g = gram(other, kp, k, params.reg, par);
    let steps = params.cg_steps;
    #[cfg(target_arch = "x86_64")]
    let avx2 = is_x86_feature_detected!("avx2");
    #[cfg(target_arch = "x86_64")]
    let fma = avx2 && is_x86_feature_detected!("fma");
    let task = |(t, chunk): (usize, &mut [f32])| {
        #[cfg(target_arch = "x86_64")]
        if fma && tiled(kp) {
            // SAFETY: AVX2 and FMA were detected at run time; `kp = 8·C` (`tiled`); the rows
            // are `kp` wide.
            unsafe {
                match kp / 8 {
                    1 => solve_rows_tiled::<1>(chunk, t, rows, other, &g, kp, steps),
                    2 => solve_rows_tiled::<2>(chunk, t, rows, other, &g, kp, steps),
                    3 => solve_rows_tiled::<3>(chunk, t, rows, other, &g, kp, steps),
                    4 => solve_rows_tiled::<4>(chunk, t, rows, other, &g, kp, steps),
                    5 => solve_rows_tiled::<5>(chunk, t, rows, other, &g, kp, steps),
                    6 => solve_rows_tiled::<6>(chunk, t, rows, other, &g, kp, steps),
                    7 => solve_rows_tiled::<7>(chunk, t, rows, other, &g, kp, steps),
                    8 => solve_rows_tiled::<8>(chunk, t, rows, other, &g, kp, steps),
                    9 => solve_rows_tiled::<9>(chunk, t, rows, other, &g, kp, steps),
                    10 => solve_rows_tiled::<10>(chunk, t, rows, other, &g, kp, steps),
                    11 => solve_rows_tiled::<11>(chunk, t, rows, other, &g, kp, steps),
                    12 => solve_rows_tiled::<12>(chunk, t, rows, other, &g, kp, steps),
                    13 => solve_rows_tiled::<13>(chunk, t, rows, other, &g, kp, steps),
                    14 => solve_rows_tiled::<14>(chunk, t, rows, other, &g, kp, steps),
                    15 => solve_rows_tiled::<15>(chunk, t, rows, other, &g, kp, steps),
                    _ => solve_rows_tiled::<16>(chunk, t, rows, other, &g, kp, steps),
                }
            };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if fma {
            // SAFETY: AVX2 and FMA were detected at run time.
            unsafe { solve_rows_fma(chunk, t, rows, other, &g, kp, steps) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: AVX2 was detected at run time.
            unsafe { solve_rows_avx2(chunk, t, rows, other, &g, kp, steps) };
            return;
        }
        solve_rows::<false>(chunk, t, rows, other, &g, kp, steps);
    };
    par.for_each_chunk_mut(x, ROWS_PER_TASK * kp, task);
}

/// Whether rows padded to `kp` floats run in [`solve_rows_tiled`] (on CPUs with AVX2 and
/// FMA): up to 128 floats.
fn tiled(kp: usize) -> bool {
    kp % 8 == 0 && kp <= 128
}

/// The row width a fit stores factors in: `k` rounded up to a multiple of 8 where
/// [`solve_rows_tiled`] will run, else `k`. The padding columns are zero throughout (every
/// term that could change them is a product with a zero: see [`gram`]).
fn row_width(k: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let kp = k.div_ceil(8) * 8;
        if tiled(kp) && crate::hint::has_avx2_fma() {
            return kp;
        }
    }
    k
}

/// `n` rows of width `k` widened to `kp` with zeros.
fn pad(v: &[f32], k: usize, kp: usize) -> Vec<f32> {
    if k == kp {
        return v.to_vec();
    }
    let mut out = vec![0f32; v.len() / k * kp];
    for (to, from) in out.chunks_exact_mut(kp).zip(v.chunks_exact(k)) {
        to[..k].copy_from_slice(from);
    }
    out
}

/// `n` rows of width `kp` narrowed to their first `k` values.
fn unpad(v: Vec<f32>, k: usize, kp: usize) -> Vec<f32> {
    if k == kp {
        return v;
    }
    v.chunks_exact(kp)
        .flat_map(|row| &row[..k])
        .copied()
        .collect()
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
        .add::<f32>(
            rows.saturating_mul(row_width(k) as u128 + k as u128),
            || {
                format!(
                    "the factors ({} users and {} items × {k} factors)",
                    data.n_users, data.n_items
                )
            },
        )
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
    let kp = row_width(k);
    let mut x = pad(&init(data.n_users, k, params, 1, par), k, kp);
    let mut y = pad(&init(data.n_items, k, params, 2, par), k, kp);
    let mut history = Vec::new();
    for iteration in 1..=params.n_iter {
        let start = Instant::now();
        check()?;
        half_step(&mut x, &by_user, &y, (k, kp), params, par);
        check()?;
        half_step(&mut y, &by_item, &x, (k, kp), params, par);
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
        user_factors: unpad(x, k, kp),
        item_factors: unpad(y, k, kp),
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
            gram(other, self.k, self.k, self.reg, par),
            gram(other_orig, self.k, self.k, self.reg, par),
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
        let g = gram(&y, k, k, params.reg, Par::Seq);
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

    /// The tiled AVX2 row loop reaches the exact solution of each row's system from padded
    /// rows (rows shorter than a tile, longer than several tiles, 4-item groups and their
    /// remainders), and leaves the padding at zero.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn tiled_rows_reach_the_exact_solution_and_keep_the_padding_zero() {
        if !crate::hint::has_avx2_fma() {
            return;
        }
        let mut rng = Rng::new(8);
        for (k, n_items) in [(4usize, 9usize), (20, 150), (64, 120)] {
            let kp = k.div_ceil(8) * 8;
            let mut y = vec![0f32; n_items * k];
            rng.fill_normal(&mut y, 0.0, 0.3);
            let yp = pad(&y, k, kp);
            // Row 0: 3 items; row 1: 70 (two full tiles and a remainder); row 2: none.
            let mut us = vec![];
            let mut is = vec![];
            let mut rs = vec![];
            for (u, count) in [(0u32, 3usize), (1, 70)] {
                let mut chosen: Vec<u32> = (0..n_items as u32).collect();
                rng.shuffle(&mut chosen);
                for &i in &chosen[..count.min(n_items)] {
                    us.push(u);
                    is.push(i);
                    rs.push(1.0 + rng.below(5) as f32);
                }
            }
            let (reg, alpha) = (0.5f32, 0.7f32);
            let rows = Rows::new(&us, &is, &rs, alpha, 3);
            let g = gram(&yp, kp, k, reg, Par::Seq);
            let mut x = vec![0f32; 3 * kp];
            for _ in 0..4 {
                // SAFETY: AVX2 and FMA detected; rows of `kp = 8·C` floats.
                unsafe {
                    match kp / 8 {
                        1 => solve_rows_tiled::<1>(&mut x, 0, &rows, &yp, &g, kp, k),
                        3 => solve_rows_tiled::<3>(&mut x, 0, &rows, &yp, &g, kp, k),
                        _ => solve_rows_tiled::<8>(&mut x, 0, &rows, &yp, &g, kp, k),
                    }
                }
            }
            for u in 0..3 {
                let (lo, hi) = (rows.ptr[u], rows.ptr[u + 1]);
                let vals: Vec<f32> = rows.weight[lo..hi].iter().map(|w| w / alpha).collect();
                let want = exact_row(
                    &rows.idx[lo..hi],
                    &vals,
                    &y,
                    k,
                    f64::from(reg),
                    f64::from(alpha),
                );
                let got = &x[u * kp..(u + 1) * kp];
                for (a, b) in got.iter().zip(&want) {
                    assert!(
                        (f64::from(*a) - b).abs() < 2e-3,
                        "k {k} row {u}: {got:?} vs {want:?}"
                    );
                }
                assert!(got[k..].iter().all(|&v| v == 0.0), "k {k}: padding {got:?}");
            }
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
