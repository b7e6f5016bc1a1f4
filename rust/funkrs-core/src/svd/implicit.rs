//! Truncated SVD of a mean-imputed rating matrix `X = S + a bᵀ` that is never materialised
//! (see the module docs of [`super`]).
//!
//! Let `C` be `X` or `Xᵀ`, whichever is tall (`ns = min(m, n)` columns). [`imputed_svd`] runs
//! a block Lanczos iteration on the short-side Gram matrix `G = Cᵀ C` (`ns × ns`, never formed):
//!
//! 1. the Krylov basis `V` (orthonormal, `ns × p`) grows by one block of `b` columns per step:
//!    `W = G V_new` is computed in a single pass over the stored cells ([`ImputedMatrix::gram`],
//!    no block on the long side), the new columns of `T = Vᵀ G V` are `Vᵀ W`, and the next block
//!    is `W` orthogonalised against all of `V` (full reorthogonalisation, twice);
//! 2. Rayleigh–Ritz: `T = Z Θ Zᵀ`; the Ritz vectors `V z_i` approximate right singular vectors
//!    and `θ_i` the squared singular values. Their residuals `‖G V z_i − θ_i V z_i‖` are read off
//!    the coupling of the newest block (the only part of `G V` outside the basis), so each
//!    step's convergence test costs no product;
//! 3. when `p` would exceed the basis limit, the iteration restarts thick: the `k + oversample`
//!    leading Ritz vectors (on which `T` is diagonal) are kept and the newest block appended;
//! 4. it stops when `‖G v_i − θ_i v_i‖ / (σ_i σ_1) ≤ tol` for the `k` leading pairs, which is
//!    the residual `‖Xᵀ u_i − σ_i v_i‖ / σ_1` of the triplet with `u_i = C v_i / σ_i`.
//!
//! Then `u_i = C v_i / σ_i` with `σ_i = ‖C v_i‖` (not `√θ_i`, which would square the dynamic
//! range), and one more product `Cᵀ U` measures the residuals of the returned triplets, so the
//! reported residual is computed, not estimated. Each triplet is then an exact singular triplet
//! of a matrix within `residual · σ_1` of `X` (in spectral norm).
//!
//! Why Lanczos rather than subspace iteration: beyond its low rank, a rating matrix has a bulk
//! of noise singular values with tiny relative gaps. Subspace iteration converges like
//! `(σ_{l+1} / σ_i)^{2t}` after `t` rounds, i.e. needs `O(1 / gap)` rounds there; a Krylov
//! method needs `O(1 / √gap)` products (the Chebyshev acceleration it gets for free), and the
//! restart keeps the memory bounded. Working with `G` squares the condition number, so the
//! attainable relative residual for a triplet is about `ε σ_1 / σ_i` rather than `ε`: far below
//! any useful tolerance unless `σ_i` is many orders of magnitude below `σ_1`.
//!
//! Each step costs `4 · nnz · b` flops in one pass over the cells, plus `O(ns · p · b)` for the
//! reorthogonalisation and `O(p³)` for the small eigenproblem.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::linalg::matmul::matmul;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Spec};
use rayon::prelude::*;

use super::faer_par;
use super::gram::project_out;
use crate::mem::Need;
use crate::rng::Rng;
use crate::{FunkError, Par};

/// The implicit matrix `X = S + a bᵀ`, with `S_{ui} = r_{ui} − a_u b_i` on observed cells.
///
/// Observed cells are stored once, compressed along the longer side (users for a tall
/// matrix): this is the tall matrix `C` (`X` or `Xᵀ`). The short side is relabelled by
/// descending number of cells, so the rows of a short-side block that most cells touch sit
/// together in cache. The product whose output is the long side gathers rows of the short
/// input block; the other scatters into per-thread copies of its short output block while
/// the long input block is streamed in order. `(user, item)` pairs must be unique.
#[derive(Clone, Debug)]
pub struct ImputedMatrix {
    m: usize,
    n: usize,
    by_rows: bool,
    cells: Compressed,
    /// Fill on the long side of `C = S_c + p qᵀ`.
    p: Vec<f64>,
    /// Fill on the short side, in the relabelled order.
    q: Vec<f64>,
    /// Original short-side index of each relabelled one.
    short_ids: Vec<u32>,
}

/// Compressed rows: the entries of row `r` are `idx/val[ptr[r]..ptr[r + 1]]`.
#[derive(Clone, Debug)]
struct Compressed {
    ptr: Vec<usize>,
    idx: Vec<u32>,
    val: Vec<f32>,
}

impl Compressed {
    /// Counting sort of `(major[j], label[minor[j]], values[j])` by `major`.
    fn build(major: &[u32], minor: &[u32], label: &[u32], values: &[f32], n_major: usize) -> Self {
        let mut ptr = vec![0usize; n_major + 1];
        for &r in major {
            ptr[r as usize + 1] += 1;
        }
        for r in 0..n_major {
            ptr[r + 1] += ptr[r];
        }
        let mut next = ptr[..n_major].to_vec();
        let mut idx = vec![0u32; major.len()];
        let mut val = vec![0f32; major.len()];
        for ((&r, &c), &v) in major.iter().zip(minor).zip(values) {
            let slot = &mut next[r as usize];
            idx[*slot] = label[c as usize];
            val[*slot] = v;
            *slot += 1;
        }
        Compressed { ptr, idx, val }
    }

    fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (lo, hi) = (self.ptr[r], self.ptr[r + 1]);
        (&self.idx[lo..hi], &self.val[lo..hi])
    }
}

impl ImputedMatrix {
    /// Builds `X = S + a bᵀ` from observed ratings (inner ids) and the fill vectors.
    pub fn new(
        users: &[u32],
        items: &[u32],
        ratings: &[f32],
        a: Vec<f64>,
        b: Vec<f64>,
    ) -> Result<Self, FunkError> {
        let (m, n) = (a.len(), b.len());
        crate::Interactions::new(users, items, ratings, m, n)?;
        for (what, v) in [("a", &a), ("b", &b)] {
            if let Some(position) = v.iter().position(|x| !x.is_finite()) {
                return Err(FunkError::NonFinite {
                    what,
                    position,
                    value: v[position],
                });
            }
        }
        let by_rows = m >= n;
        let (major, minor, p, q_orig) = if by_rows {
            (users, items, a, b)
        } else {
            (items, users, b, a)
        };
        let (n_major, ns) = (p.len(), q_orig.len());
        let mut counts = vec![0usize; ns];
        for &c in minor {
            counts[c as usize] += 1;
        }
        let mut short_ids: Vec<u32> = (0..ns as u32).collect();
        short_ids.sort_by_key(|&c| std::cmp::Reverse(counts[c as usize]));
        let mut label = vec![0u32; ns];
        for (new, &old) in short_ids.iter().enumerate() {
            label[old as usize] = new as u32;
        }
        let q = short_ids.iter().map(|&old| q_orig[old as usize]).collect();
        let cells = Compressed::build(major, minor, &label, ratings, n_major);
        Ok(ImputedMatrix {
            m,
            n,
            by_rows,
            cells,
            p,
            q,
            short_ids,
        })
    }

    /// `(m, n)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.m, self.n)
    }

    /// `out = X B` for a row-major `n × l` block `B`; `out` is row-major `m × l`.
    pub fn apply(&self, blk: &[f64], l: usize, out: &mut [f64], par: Par<'_>) {
        if self.by_rows {
            self.c_mul(blk, l, out, par);
        } else {
            self.ct_mul(blk, l, out, par);
        }
    }

    /// `out = Xᵀ C` for a row-major `m × l` block `C`; `out` is row-major `n × l`.
    pub fn apply_t(&self, blk: &[f64], l: usize, out: &mut [f64], par: Par<'_>) {
        if self.by_rows {
            self.ct_mul(blk, l, out, par);
        } else {
            self.c_mul(blk, l, out, par);
        }
    }

    /// Length of the short side, `min(m, n)`.
    pub fn short_len(&self) -> usize {
        self.q.len()
    }

    /// A short-side block (row-major, original order) in the relabelled order.
    fn relabel(&self, blk: &[f64], l: usize) -> Vec<f64> {
        assert_eq!(blk.len(), self.q.len() * l, "block has the wrong shape");
        let mut out = vec![0.0; blk.len()];
        for (dst, &old) in out.chunks_exact_mut(l).zip(&self.short_ids) {
            let old = old as usize;
            dst.copy_from_slice(&blk[old * l..(old + 1) * l]);
        }
        out
    }

    /// Writes a relabelled short-side block back in the original order.
    fn unlabel(&self, src: &[f64], l: usize, out: &mut [f64]) {
        assert_eq!(out.len(), self.q.len() * l, "output has the wrong shape");
        for (row, &old) in src.chunks_exact(l).zip(&self.short_ids) {
            let old = old as usize;
            out[old * l..(old + 1) * l].copy_from_slice(row);
        }
    }

    /// `out = Cᵀ C B` for a row-major `min(m, n) × l` block `B` (`C` is `X` or `Xᵀ`, whichever
    /// is tall): the Gram matrix of `X` on its short side (`XᵀX` for a tall `X`) applied in one
    /// pass over the stored cells, without an intermediate block on the long side.
    pub fn gram(&self, blk: &[f64], l: usize, out: &mut [f64], par: Par<'_>) {
        let blk = self.relabel(blk, l);
        let mut tmp = vec![0.0; blk.len()];
        fused_gram(&self.cells, &self.p, &self.q, &blk, l, &mut tmp, par);
        self.unlabel(&tmp, l, out);
    }

    /// `out = C B`: short-side block in, long-side block out (both row-major).
    fn c_mul(&self, blk: &[f64], l: usize, out: &mut [f64], par: Par<'_>) {
        let blk = self.relabel(blk, l);
        gather(&self.cells, &self.p, &self.q, &blk, l, out, par);
    }

    /// `out = Cᵀ B`: long-side block in, short-side block out (both row-major).
    fn ct_mul(&self, blk: &[f64], l: usize, out: &mut [f64], par: Par<'_>) {
        let mut tmp = vec![0.0; out.len()];
        scatter(&self.cells, &self.p, &self.q, blk, l, &mut tmp, par);
        self.unlabel(&tmp, l, out);
    }
}

/// `out = (S + p qᵀ) B` where `S` is stored by rows in `s` with `S_{rc} = v − p_r q_c`.
fn gather(
    s: &Compressed,
    p: &[f64],
    q: &[f64],
    blk: &[f64],
    l: usize,
    out: &mut [f64],
    par: Par<'_>,
) {
    assert_eq!(blk.len(), q.len() * l, "block has the wrong shape");
    assert_eq!(out.len(), p.len() * l, "output has the wrong shape");
    let qb = qt_block(q, blk, l);
    let one_row = |(r, dst): (usize, &mut [f64])| {
        let pr = p[r];
        for (d, x) in dst.iter_mut().zip(&qb) {
            *d = pr * x;
        }
        let (idx, val) = s.row(r);
        for (&c, &v) in idx.iter().zip(val) {
            let c = c as usize;
            axpy(dst, f64::from(v) - pr * q[c], &blk[c * l..(c + 1) * l]);
        }
    };
    if par.is_parallel() {
        par.install(|| {
            out.par_chunks_mut(l)
                .enumerate()
                .with_min_len(64)
                .for_each(one_row);
        });
    } else {
        out.chunks_mut(l).enumerate().for_each(one_row);
    }
}

/// `out = (S + p qᵀ)ᵀ B` for `S` stored by rows in `s` (`S_{rc} = v − p_r q_c`): each
/// thread scatters a contiguous share of the rows (balanced by cell count) into its own copy
/// of `out`, and the copies are summed in a fixed order (deterministic for a thread count).
fn scatter(
    s: &Compressed,
    p: &[f64],
    q: &[f64],
    blk: &[f64],
    l: usize,
    out: &mut [f64],
    par: Par<'_>,
) {
    assert_eq!(blk.len(), p.len() * l, "block has the wrong shape");
    assert_eq!(out.len(), q.len() * l, "output has the wrong shape");
    let chunks = par.n_threads().max(1);
    let bounds = balanced_bounds(s, p.len(), chunks);
    let one_chunk = |t: usize| {
        let mut acc = vec![0.0; out.len()];
        let mut pb = vec![0.0; l];
        for r in bounds[t]..bounds[t + 1] {
            let src = &blk[r * l..(r + 1) * l];
            let pr = p[r];
            axpy(&mut pb, pr, src);
            let (idx, val) = s.row(r);
            for (&c, &v) in idx.iter().zip(val) {
                let c = c as usize;
                axpy(&mut acc[c * l..(c + 1) * l], f64::from(v) - pr * q[c], src);
            }
        }
        (acc, pb)
    };
    reduce_parts(&per_chunk(chunks, par, one_chunk), q, l, out);
}

/// Row ranges of `s` for `chunks` threads, balanced by number of cells.
fn balanced_bounds(s: &Compressed, n_rows: usize, chunks: usize) -> Vec<usize> {
    let nnz = s.idx.len();
    (0..=chunks)
        .map(|t| s.ptr.partition_point(|&x| x < nnz * t / chunks).min(n_rows))
        .collect()
}

/// `out = Cᵀ C B` for `C = S + p qᵀ` stored by rows in `s` (`S_{rc} = v − p_r q_c`), `B` a
/// row-major `len(q) × l` block. Row by row, `w = c_rᵀ B` is gathered and `c_r w` scattered
/// while the row's cells are in cache; the rank-one parts are summed separately:
/// `c_rᵀ B = s_rᵀ B + p_r (qᵀ B)` and `Σ_r c_r w_r = Σ_r s_r w_r + q Σ_r p_r w_r`. Each thread
/// scatters into its own copy of `out`, summed in a fixed order (deterministic for a thread
/// count).
fn fused_gram(
    s: &Compressed,
    p: &[f64],
    q: &[f64],
    blk: &[f64],
    l: usize,
    out: &mut [f64],
    par: Par<'_>,
) {
    assert_eq!(blk.len(), q.len() * l, "block has the wrong shape");
    assert_eq!(out.len(), q.len() * l, "output has the wrong shape");
    let qb = qt_block(q, blk, l);
    let chunks = par.n_threads().max(1);
    let bounds = balanced_bounds(s, p.len(), chunks);
    let one_chunk = |t: usize| {
        let mut acc = vec![0.0; out.len()];
        let mut pw = vec![0.0; l];
        let mut w = vec![0.0; l];
        let mut sv: Vec<f64> = Vec::new();
        for (r, &pr) in p.iter().enumerate().take(bounds[t + 1]).skip(bounds[t]) {
            let (idx, val) = s.row(r);
            sv.clear();
            sv.extend(
                idx.iter()
                    .zip(val)
                    .map(|(&c, &v)| f64::from(v) - pr * q[c as usize]),
            );
            for (d, x) in w.iter_mut().zip(&qb) {
                *d = pr * x;
            }
            for (&c, &sc) in idx.iter().zip(&sv) {
                let c = c as usize;
                axpy(&mut w, sc, &blk[c * l..(c + 1) * l]);
            }
            axpy(&mut pw, pr, &w);
            for (&c, &sc) in idx.iter().zip(&sv) {
                let c = c as usize;
                axpy(&mut acc[c * l..(c + 1) * l], sc, &w);
            }
        }
        (acc, pw)
    };
    reduce_parts(&per_chunk(chunks, par, one_chunk), q, l, out);
}

/// `qᵀ B` for a row-major `len(q) × l` block `B`: the rank-one part shared by every row.
fn qt_block(q: &[f64], blk: &[f64], l: usize) -> Vec<f64> {
    let mut qb = vec![0.0; l];
    for (qc, row) in q.iter().zip(blk.chunks_exact(l)) {
        axpy(&mut qb, *qc, row);
    }
    qb
}

/// `f(0), …, f(chunks − 1)`, in parallel when there is more than one chunk, in chunk order.
fn per_chunk<T: Send>(chunks: usize, par: Par<'_>, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if chunks > 1 {
        par.install(|| (0..chunks).into_par_iter().map(&f).collect())
    } else {
        vec![f(0)]
    }
}

/// `out = Σ_t acc_t + q (Σ_t pb_t)ᵀ`, summed in the order of `parts`.
fn reduce_parts(parts: &[(Vec<f64>, Vec<f64>)], q: &[f64], l: usize, out: &mut [f64]) {
    let mut pb = vec![0.0; l];
    out.fill(0.0);
    for (acc, part_pb) in parts {
        for (o, x) in out.iter_mut().zip(acc) {
            *o += x;
        }
        for (o, x) in pb.iter_mut().zip(part_pb) {
            *o += x;
        }
    }
    for (qc, row) in q.iter().zip(out.chunks_exact_mut(l)) {
        axpy(row, *qc, &pb);
    }
}

/// `y += alpha x`.
#[inline]
fn axpy(y: &mut [f64], alpha: f64, x: &[f64]) {
    for (d, v) in y.iter_mut().zip(x) {
        *d += alpha * v;
    }
}

/// Settings of [`imputed_svd`].
#[derive(Clone, Debug)]
pub struct ImputedParams {
    /// Number of singular triplets returned.
    pub k: usize,
    /// Ritz vectors kept beyond `k` when the Krylov basis is restarted.
    pub oversample: usize,
    /// Columns of each block Lanczos step; `0` chooses [`DEFAULT_BLOCK_SIZE`].
    pub block_size: usize,
    /// Largest Krylov basis (columns on the short side) before a thick restart; `0` chooses
    /// `max(DEFAULT_MAX_BASIS, 3 (k + oversample))`. Always at least `k + oversample + 2 ·
    /// block_size` and at most `min(m, n)`.
    pub max_basis: usize,
    /// Stop when `‖Xᵀ u_i − σ_i v_i‖ ≤ tol · σ_1` (estimated) for the `k` leading triplets.
    pub tol: f64,
    /// Maximum number of block Lanczos steps (one Gram product of `block_size` columns each).
    pub max_iter: usize,
    /// Seed of the Gaussian start block.
    pub seed: u64,
}

/// Default tolerance of [`ImputedParams::tol`].
pub const DEFAULT_TOL: f64 = 1e-8;
/// Default [`ImputedParams::block_size`].
pub const DEFAULT_BLOCK_SIZE: usize = 16;
/// Default lower bound of the Krylov basis size ([`ImputedParams::max_basis`]).
pub const DEFAULT_MAX_BASIS: usize = 400;
/// Default [`ImputedParams::max_iter`].
pub const DEFAULT_MAX_ITER: usize = 1000;
/// Default [`ImputedParams::oversample`].
pub const DEFAULT_OVERSAMPLE: usize = 10;

impl Default for ImputedParams {
    fn default() -> Self {
        ImputedParams {
            k: 10,
            oversample: DEFAULT_OVERSAMPLE,
            block_size: 0,
            max_basis: 0,
            tol: DEFAULT_TOL,
            max_iter: DEFAULT_MAX_ITER,
            seed: 0,
        }
    }
}

impl ImputedParams {
    /// Checks the ranges against a matrix of shape `(m, n)`.
    pub fn validate(&self, m: usize, n: usize) -> Result<(), FunkError> {
        let p = m.min(n);
        if self.k == 0 || self.k > p {
            return Err(FunkError::InvalidParam {
                name: "k",
                reason: format!("must be between 1 and min(m, n) = {p}, got {}", self.k),
            });
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(FunkError::InvalidParam {
                name: "tol",
                reason: format!("must be a finite number ≥ 0, got {}", self.tol),
            });
        }
        if self.max_iter == 0 {
            return Err(FunkError::InvalidParam {
                name: "max_iter",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// `(block, keep, cap)`: block width, Ritz vectors kept at a restart, largest basis, for a
    /// short side of length `ns`.
    fn sizes(&self, ns: usize) -> (usize, usize, usize) {
        let keep = (self.k + self.oversample).min(ns);
        let block = if self.block_size == 0 {
            DEFAULT_BLOCK_SIZE
        } else {
            self.block_size
        };
        let block = block.clamp(1, ns);
        let cap = if self.max_basis == 0 {
            DEFAULT_MAX_BASIS.max(3 * keep)
        } else {
            self.max_basis
        };
        let cap = cap.max(keep + 2 * block).min(ns);
        (block, keep, cap)
    }
}

/// A rank-`k` SVD of an [`ImputedMatrix`], plus how the iteration went.
#[derive(Clone, Debug)]
pub struct ImputedSvd {
    /// The triplets (`u` is `m × k`, `vt` is `k × n`, both row-major).
    pub svd: super::Svd,
    /// Block Lanczos steps run (one Gram product of `block_size` columns each).
    pub n_iter: usize,
    /// Largest residual over the `k` returned triplets, computed from them with two extra
    /// products: `max_i (‖X v_i − σ_i u_i‖² + ‖Xᵀ u_i − σ_i v_i‖²)^½ / σ_1`.
    pub residual: f64,
    /// Whether `residual ≤ tol`.
    pub converged: bool,
}

/// Rank-`k` SVD of `x` by thick-restarted block Lanczos on its short-side Gram matrix (see
/// the module docs).
pub fn imputed_svd(
    x: &ImputedMatrix,
    params: &ImputedParams,
    par: Par<'_>,
) -> Result<ImputedSvd, FunkError> {
    let (m, n) = x.shape();
    params.validate(m, n)?;
    let ns = x.short_len();
    let k = params.k;
    let (block, keep, cap) = params.sizes(ns);
    let long = m.max(n) as u128;
    Need::default()
        .add::<f64>((ns as u128).saturating_mul(cap as u128 * 4), || {
            format!("the Lanczos basis ({ns} × {cap}, with its work copies)")
        })
        .add::<f64>(long.saturating_mul(block.max(k) as u128 * 2), || {
            format!("the long-side blocks ({long} × {})", block.max(k))
        })
        .add::<f64>((cap as u128).saturating_mul(cap as u128 * 2), || {
            format!("the projected matrix ({cap} × {cap})")
        })
        .check("; pass a smaller k")?;
    let fpar = faer_par(par);
    let mut rng = Rng::new(params.seed);
    let mut basis = Mat::<f64>::zeros(ns, cap);
    let mut t = Mat::<f64>::zeros(cap, cap);
    let start = gaussian_block(ns, block, &mut rng);
    let (first, _) = extend_basis(
        basis.subcols(0, 0),
        start.as_ref(),
        ns,
        max_col_norm(start.as_ref()),
        &mut rng,
        fpar,
    )?;
    let mut p = first.ncols();
    basis.subcols_mut(0, p).copy_from(&first);
    let mut s = 0; // the newest block is basis[:, s..p]
    let mut steps = 0;
    let (mut blk, mut out) = (Vec::new(), Vec::new());
    let z = loop {
        let w = p - s;
        blk.resize(ns * w, 0.0);
        out.resize(ns * w, 0.0);
        MatMut::from_row_major_slice_mut(&mut blk, ns, w).copy_from(basis.subcols(s, w));
        x.gram(&blk, w, &mut out, par);
        steps += 1;
        if let Some(bad) = out.iter().find(|v| !v.is_finite()) {
            return Err(FunkError::NoConvergence(format!(
                "imputed SVD: the Gram product overflowed ({bad}); rescale the ratings"
            )));
        }
        let mut y = Mat::<f64>::zeros(ns, w);
        y.copy_from(MatRef::from_row_major_slice(&out, ns, w));
        let scale = max_col_norm(y.as_ref());
        let vb = basis.subcols(0, p);
        // The new columns of T = Vᵀ G V, and Y ← (I − V Vᵀ) G V_new (twice).
        let mut h = Mat::<f64>::zeros(p, w);
        matmul(
            h.as_mut(),
            Accum::Replace,
            vb.transpose(),
            y.as_ref(),
            1.0,
            fpar,
        );
        for j in 0..w {
            for i in 0..p {
                let v = if i >= s {
                    0.5 * (h[(i, j)] + h[(s + j, i - s)])
                } else {
                    h[(i, j)]
                };
                t[(i, s + j)] = v;
                t[(s + j, i)] = v;
            }
        }
        matmul(y.as_mut(), Accum::Add, vb, h.as_ref(), -1.0, fpar);
        project_out(vb, y.as_mut(), fpar);
        let (theta, z) = ritz(t.submatrix(0, 0, p, p), fpar)?;
        let room = ns - p;
        let (next, coef) = if room > 0 {
            extend_basis(vb, y.as_ref(), room, scale, &mut rng, fpar)?
        } else {
            (Mat::zeros(ns, 0), Mat::zeros(0, w))
        };
        let done = converged_pairs(&theta, z.subrows(s, w), coef.as_ref(), k, params.tol);
        if done || room == 0 || steps >= params.max_iter {
            break z;
        }
        let r = next.ncols();
        if p + r > cap {
            // Thick restart: keep the `keep` leading Ritz vectors, on which T is diagonal.
            let kept = vb * z.subcols(0, keep);
            basis.subcols_mut(0, keep).copy_from(&kept);
            t.fill(0.0);
            for (i, &th) in theta.iter().take(keep).enumerate() {
                t[(i, i)] = th;
            }
            p = keep;
        }
        basis.subcols_mut(p, r).copy_from(&next);
        s = p;
        p += r;
    };
    let v_k = basis.subcols(0, p) * z.subcols(0, k);
    drop(basis);
    finish(x, v_k, steps, params.tol, &mut rng, par)
}

/// Eigenpairs of the symmetric `t`, descending.
fn ritz(t: MatRef<'_, f64>, fpar: faer::Par) -> Result<(Vec<f64>, Mat<f64>), FunkError> {
    let p = t.nrows();
    let mut lambda = Diag::<f64>::zeros(p);
    let mut vecs = Mat::<f64>::zeros(p, p);
    let params = Spec::default();
    let req = self_adjoint_evd_scratch::<f64>(p, ComputeEigenvectors::Yes, fpar, params);
    let mut buf = MemBuffer::new(req);
    self_adjoint_evd(
        t,
        lambda.as_mut(),
        Some(vecs.as_mut()),
        fpar,
        MemStack::new(&mut buf),
        params,
    )
    .map_err(|_| FunkError::NoConvergence("symmetric eigensolver (Lanczos Ritz step)".into()))?;
    let theta = (0..p).map(|j| lambda[p - 1 - j]).collect();
    let z = Mat::from_fn(p, p, |i, j| vecs[(i, p - 1 - j)]);
    Ok((theta, z))
}

/// Whether the `k` leading Ritz pairs have converged: `e_i = ‖G v_i − θ_i v_i‖ / (σ_i σ_1)`
/// (`σ = √θ`) is the residual `‖Xᵀ u_i − σ_i v_i‖ / σ_1` that the triplet
/// `(X v_i / σ_i, σ_i, v_i)` will have, and pair `i` is done when `e_i ≤ tol` or when `e_i`
/// is at the attainable accuracy of the Gram route, `16 ε σ_1 / σ_i` (rounding in `G`, of size
/// `ε σ_1²`, divided by `σ_i σ_1`), below which iterating cannot go.
///
/// Only the newest block `z_last` of the Ritz vectors meets `G`'s part outside the basis,
/// `(I − V Vᵀ) G V = Q coef E_lastᵀ`, so `‖G v_i − θ_i v_i‖ = ‖coef z_last,i‖`.
fn converged_pairs(
    theta: &[f64],
    z_last: MatRef<'_, f64>,
    coef: MatRef<'_, f64>,
    k: usize,
    tol: f64,
) -> bool {
    if theta.len() < k {
        return false;
    }
    let top = theta[0].max(0.0).sqrt();
    if top == 0.0 {
        return true;
    }
    (0..k).all(|i| {
        let mut r2 = 0.0;
        for a in 0..coef.nrows() {
            let mut acc = 0.0;
            for b in 0..coef.ncols() {
                acc += coef[(a, b)] * z_last[(b, i)];
            }
            r2 += acc * acc;
        }
        let sigma = theta[i].max(0.0).sqrt().max(f64::EPSILON * top);
        let floor = 16.0 * f64::EPSILON * top / sigma;
        r2.sqrt() / (sigma * top) <= tol.max(floor)
    })
}

/// Largest column norm of `a` (0 for no columns).
fn max_col_norm(a: MatRef<'_, f64>) -> f64 {
    (0..a.ncols()).fold(0.0_f64, |acc, j| acc.max(a.col(j).norm_l2()))
}

/// Orthonormal columns `Q` (at most `room` of them, `room ≥ 1`) spanning the block `r`, which
/// is already orthogonal to the orthonormal `v`, and `coef = Qᵀ r`, so that `r ≈ Q coef`.
///
/// Columns are taken one by one (Gram–Schmidt against `Q` so far, repeated while a pass
/// removes more than half the norm, then also against `v`). A column that is numerically in
/// the span already (norm ≤ `1e-13 · scale`) is replaced by a random direction, orthogonalised
/// the same way, so the basis keeps growing (its coupling in `coef` is then ~0).
fn extend_basis(
    v: MatRef<'_, f64>,
    r: MatRef<'_, f64>,
    room: usize,
    scale: f64,
    rng: &mut Rng,
    fpar: faer::Par,
) -> Result<(Mat<f64>, Mat<f64>), FunkError> {
    let (ns, w) = r.shape();
    let width = w.min(room);
    let mut q = Mat::<f64>::zeros(ns, width);
    let negligible = 1e-13 * scale;
    for j in 0..width {
        let mut x = Mat::from_fn(ns, 1, |i, _| r[(i, j)]);
        let done = q.subcols(0, j);
        if !orthonormalize_against(v, done, x.as_mut(), negligible, fpar) {
            x = random_orthonormal(v, done, rng, fpar)?;
        }
        q.col_mut(j).copy_from(x.col(0));
    }
    let mut coef = Mat::<f64>::zeros(width, w);
    matmul(coef.as_mut(), Accum::Replace, q.transpose(), r, 1.0, fpar);
    Ok((q, coef))
}

/// A random unit column orthogonal to `v` and `q` (whose columns together must number fewer
/// than their rows). Fails only if the blocks hold non-finite values.
fn random_orthonormal(
    v: MatRef<'_, f64>,
    q: MatRef<'_, f64>,
    rng: &mut Rng,
    fpar: faer::Par,
) -> Result<Mat<f64>, FunkError> {
    for _ in 0..16 {
        let mut x = gaussian_block(v.nrows(), 1, rng);
        if orthonormalize_against(v, q, x.as_mut(), 0.0, fpar) {
            return Ok(x);
        }
    }
    Err(FunkError::NoConvergence(
        "imputed SVD: could not extend an orthonormal basis (non-finite values?)".into(),
    ))
}

/// Makes the column `x` orthogonal to `v` and `q` (both orthonormal) and of unit norm; `false`
/// when its norm drops to `negligible` or below (then `x` is left unnormalised).
fn orthonormalize_against(
    v: MatRef<'_, f64>,
    q: MatRef<'_, f64>,
    mut x: MatMut<'_, f64>,
    negligible: f64,
    fpar: faer::Par,
) -> bool {
    let mut before = x.rb().norm_l2();
    project_out(q, x.rb_mut(), fpar);
    let mut now = x.rb().norm_l2();
    // Twice is enough (Kahan–Parlett): repeat, against both blocks, while a pass cancels
    // more than half of the norm.
    let mut passes = 0;
    while now <= 0.5 * before && now > negligible && passes < 4 {
        before = now;
        project_out(v, x.rb_mut(), fpar);
        project_out(q, x.rb_mut(), fpar);
        now = x.rb().norm_l2();
        passes += 1;
    }
    if now.is_nan() || now <= negligible || now == 0.0 {
        return false;
    }
    for i in 0..x.nrows() {
        x[(i, 0)] /= now;
    }
    true
}

/// Turns the short-side Ritz vectors `v_k` into the returned triplets: `u_i = C v_i / σ_i`
/// with `σ_i = ‖C v_i‖` (sorted descending; a column of a numerically zero or tiny `σ_i` is
/// orthogonalised against the ones before it), then measures the residuals with `Cᵀ U`.
fn finish(
    x: &ImputedMatrix,
    v_k: Mat<f64>,
    n_iter: usize,
    tol: f64,
    rng: &mut Rng,
    par: Par<'_>,
) -> Result<ImputedSvd, FunkError> {
    let (m, n) = x.shape();
    let (ns, k) = v_k.shape();
    let nl = m.max(n);
    let fpar = faer_par(par);
    let mut vrm = vec![0.0; ns * k];
    MatMut::from_row_major_slice_mut(&mut vrm, ns, k).copy_from(&v_k);
    let mut long = vec![0.0; nl * k];
    x.c_mul(&vrm, k, &mut long, par);
    let mut norms = vec![0.0; k];
    for row in long.chunks_exact(k) {
        for (acc, x) in norms.iter_mut().zip(row) {
            *acc += x * x;
        }
    }
    for x in &mut norms {
        *x = x.sqrt();
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&i, &j| norms[j].total_cmp(&norms[i]));
    let s: Vec<f64> = order.iter().map(|&j| norms[j]).collect();
    let v = Mat::from_fn(ns, k, |i, j| v_k[(i, order[j])]);
    drop(v_k);
    let top = s[0];
    // Columns of a tiny σ_i are orthogonalised below instead of scaled: `C v_i / σ_i` is only
    // orthogonal to the others to about ε σ_1² / (σ_i σ_j).
    let weak: Vec<bool> = s.iter().map(|&x| x <= 1e-3 * top).collect();
    let scale: Vec<f64> = s
        .iter()
        .zip(&weak)
        .map(|(&x, &w)| if w { 1.0 } else { 1.0 / x })
        .collect();
    let mut tmp = vec![0.0; k];
    for row in long.chunks_exact_mut(k) {
        for ((t, &j), c) in tmp.iter_mut().zip(&order).zip(&scale) {
            *t = row[j] * c;
        }
        row.copy_from_slice(&tmp);
    }
    let mut u = MatMut::from_row_major_slice_mut(&mut long, nl, k);
    // ‖C v_i − σ_i u_i‖: rounding for u_i = C v_i / σ_i; measured where u_i is modified.
    let mut side_c = vec![0.0; k];
    for j in (0..k).filter(|&j| weak[j]) {
        let original = u.rb().col(j).to_owned();
        let (done, mut rest) = u.rb_mut().split_at_col_mut(j);
        let mut col = rest.rb_mut().subcols_mut(0, 1);
        let negligible = f64::EPSILON * top * (nl as f64).sqrt();
        let empty = MatRef::from_column_major_slice(&[], nl, 0);
        if !orthonormalize_against(empty, done.rb(), col.rb_mut(), negligible, fpar) {
            col.copy_from(random_orthonormal(empty, done.rb(), rng, fpar)?);
        }
        let mut d2 = 0.0;
        for i in 0..nl {
            let d = original[i] - s[j] * col[(i, 0)];
            d2 += d * d;
        }
        side_c[j] = d2.sqrt();
    }
    // ‖Cᵀ u_i − σ_i v_i‖ from one more product.
    let urm = long;
    let mut ctu = vec![0.0; ns * k];
    x.ct_mul(&urm, k, &mut ctu, par);
    let mut residual = 0.0_f64;
    if top > 0.0 {
        for j in 0..k {
            let mut d2 = side_c[j] * side_c[j];
            for i in 0..ns {
                let d = ctu[i * k + j] - s[j] * v[(i, j)];
                d2 += d * d;
            }
            residual = residual.max(d2.sqrt() / top);
        }
    }
    drop(ctu);
    // Pack: the short side is the item side (`v`) for a tall X, the user side otherwise.
    let (u_out, vt_out) = if x.by_rows {
        (urm, col_major_storage(v.as_ref()))
    } else {
        let mut vrm = vec![0.0; ns * k];
        MatMut::from_row_major_slice_mut(&mut vrm, ns, k).copy_from(&v);
        let u = MatRef::from_row_major_slice(&urm, nl, k);
        (vrm, col_major_storage(u))
    };
    Ok(ImputedSvd {
        svd: super::Svd {
            u: u_out,
            s,
            vt: vt_out,
            m,
            n,
            k,
        },
        n_iter,
        residual,
        converged: residual <= tol,
    })
}

/// The column-major storage of `a` (its transpose, row-major).
fn col_major_storage(a: MatRef<'_, f64>) -> Vec<f64> {
    let (r, c) = a.shape();
    let mut out = vec![0.0; r * c];
    MatMut::from_column_major_slice_mut(&mut out, r, c).copy_from(a);
    out
}

/// An `r × c` block of standard normal draws (column-major fill order).
fn gaussian_block(r: usize, c: usize, rng: &mut Rng) -> Mat<f64> {
    let g = gaussian(r * c, rng.next_u64());
    Mat::from_fn(r, c, |i, j| g[j * r + i])
}

/// `len` standard normal draws (Box–Muller on the funkrs generator).
fn gaussian(len: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len + 1);
    while out.len() < len {
        let u1 = 1.0 - rng.next_f64();
        let u2 = rng.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        out.push(r * t.cos());
        out.push(r * t.sin());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use faer::MatRef;

    use super::super::{svd, Svd, SvdMethod};
    use super::*;

    /// A small incomplete matrix, its item-mean fill and the dense filled matrix.
    fn example(m: usize, n: usize, seed: u64) -> (ImputedMatrix, Vec<f64>) {
        let mut rng = Rng::new(seed);
        let (mut us, mut is, mut rs) = (vec![], vec![], vec![]);
        for u in 0..m {
            for i in 0..n {
                if rng.next_f64() < 0.4 || u == i % m || i == u % n {
                    us.push(u as u32);
                    is.push(i as u32);
                    rs.push((1.0 + 4.0 * rng.next_f64()) as f32);
                }
            }
        }
        let mut mean = vec![0.0; n];
        let mut cnt = vec![0.0; n];
        for (&i, &r) in is.iter().zip(&rs) {
            mean[i as usize] += f64::from(r);
            cnt[i as usize] += 1.0;
        }
        for (mu, c) in mean.iter_mut().zip(&cnt) {
            *mu /= c;
        }
        let mut dense: Vec<f64> = (0..m * n).map(|j| mean[j % n]).collect();
        for ((&u, &i), &r) in us.iter().zip(&is).zip(&rs) {
            dense[u as usize * n + i as usize] = f64::from(r);
        }
        let x = ImputedMatrix::new(&us, &is, &rs, vec![1.0; m], mean).unwrap();
        (x, dense)
    }

    /// A fully observed `m × n` matrix `U diag(sigma) Vᵀ` (random orthonormal `U`, `V`), as an
    /// [`ImputedMatrix`] with a zero fill, and its dense (float32-rounded) entries.
    fn with_spectrum(m: usize, n: usize, sigma: &[f64], seed: u64) -> (ImputedMatrix, Vec<f64>) {
        let mut rng = Rng::new(seed);
        let r = sigma.len();
        let orth = |rows: usize, rng: &mut Rng| {
            let g = gaussian_block(rows, r, rng);
            let empty = MatRef::from_column_major_slice(&[], rows, 0);
            let mut q = Mat::<f64>::zeros(rows, r);
            for j in 0..r {
                let mut x = Mat::from_fn(rows, 1, |i, _| g[(i, j)]);
                assert!(orthonormalize_against(
                    empty,
                    q.subcols(0, j),
                    x.as_mut(),
                    0.0,
                    faer::Par::Seq
                ));
                q.col_mut(j).copy_from(x.col(0));
            }
            q
        };
        let u = orth(m, &mut rng);
        let v = orth(n, &mut rng);
        let us = Mat::from_fn(m, r, |i, j| u[(i, j)] * sigma[j]);
        let a = us * v.transpose();
        let (mut users, mut items, mut vals, mut dense) = (vec![], vec![], vec![], vec![]);
        for i in 0..m {
            for j in 0..n {
                let x = a[(i, j)] as f32;
                users.push(i as u32);
                items.push(j as u32);
                vals.push(x);
                dense.push(f64::from(x));
            }
        }
        let x = ImputedMatrix::new(&users, &items, &vals, vec![0.0; m], vec![0.0; n]).unwrap();
        (x, dense)
    }

    #[test]
    fn products_match_the_dense_matrix() {
        let pool = crate::par::build_pool(3).unwrap();
        for par in [Par::Seq, Par::Pool(&pool)] {
            check_products(13, 9, 3, par);
            check_products(7, 16, 4, par);
        }
    }

    fn check_products(m: usize, n: usize, l: usize, par: Par<'_>) {
        let (x, dense) = example(m, n, 1);
        let mut rng = Rng::new(2);
        let d = MatRef::from_row_major_slice(&dense, m, n);
        let close = |got: &[f64], want: &Mat<f64>| {
            for i in 0..want.nrows() {
                for j in 0..l {
                    assert!((got[i * l + j] - want[(i, j)]).abs() < 1e-11);
                }
            }
        };
        let blk = gaussian(n * l, 2);
        let mut out = vec![0.0; m * l];
        x.apply(&blk, l, &mut out, par);
        close(&out, &(d * MatRef::from_row_major_slice(&blk, n, l)));
        let blk = gaussian(m * l, 3);
        let mut out = vec![0.0; n * l];
        x.apply_t(&blk, l, &mut out, par);
        close(
            &out,
            &(d.transpose() * MatRef::from_row_major_slice(&blk, m, l)),
        );
        // The Gram product on the short side.
        let ns = m.min(n);
        let g = if m >= n {
            d.transpose() * d
        } else {
            d * d.transpose()
        };
        let blk = gaussian(ns * l, rng.next_u64());
        let mut out = vec![0.0; ns * l];
        x.gram(&blk, l, &mut out, par);
        close(&out, &(&g * MatRef::from_row_major_slice(&blk, ns, l)));
    }

    /// `U Σ Vᵀ` as a dense matrix.
    fn reconstruct(r: &Svd) -> Mat<f64> {
        let (m, n, k) = (r.m, r.n, r.k);
        let u = MatRef::from_row_major_slice(&r.u, m, k);
        let vt = MatRef::from_row_major_slice(&r.vt, k, n);
        let us = Mat::from_fn(m, k, |i, j| u[(i, j)] * r.s[j]);
        us * vt
    }

    fn dense_svd(dense: &[f64], m: usize, n: usize, k: usize) -> Svd {
        svd(
            MatRef::from_row_major_slice(dense, m, n),
            Some(k),
            SvdMethod::Direct,
            Par::Seq,
        )
        .unwrap()
    }

    /// `max |AᵀA − I|` for a row-major `r × c` block `A` with orthonormal columns (`r ≥ c`),
    /// or `max |AAᵀ − I|` for one with orthonormal rows (`r < c`).
    fn orthogonality(a: &[f64], r: usize, c: usize) -> f64 {
        let a = MatRef::from_row_major_slice(a, r, c);
        let a = if r >= c { a } else { a.transpose() };
        let g = a.transpose() * a;
        (g - Mat::<f64>::identity(r.min(c), r.min(c))).norm_max()
    }

    #[test]
    fn matches_the_dense_svd() {
        // tall (cells stored by rows) and wide (by columns), one thread and three
        let pool = crate::par::build_pool(3).unwrap();
        for (m, n, par) in [(60, 35, Par::Seq), (35, 60, Par::Pool(&pool))] {
            let k = 5;
            let (x, dense) = example(m, n, 4);
            let params = ImputedParams {
                k,
                tol: 1e-13,
                ..ImputedParams::default()
            };
            let got = imputed_svd(&x, &params, par).unwrap();
            assert!(got.converged, "residual {}", got.residual);
            let want = dense_svd(&dense, m, n, k);
            for (a, b) in got.svd.s.iter().zip(&want.s) {
                assert!((a - b).abs() <= 1e-10 * want.s[0], "{a} vs {b}");
            }
            let diff = reconstruct(&got.svd) - reconstruct(&want);
            assert!(diff.norm_max() < 1e-9, "{}", diff.norm_max());
            assert!(orthogonality(&got.svd.u, m, k) < 1e-12);
            assert!(orthogonality(&got.svd.vt, k, n) < 1e-12);
        }
    }

    #[test]
    fn converges_on_a_clustered_spectrum_with_restarts() {
        // Five separated values, then 195 within 1% of each other: subspace iteration would
        // need thousands of rounds to separate σ_10 from σ_11 (relative gap 5e-5).
        let (m, n) = (260, 200);
        let mut sigma: Vec<f64> = vec![50.0, 40.0, 30.0, 20.0, 10.0];
        sigma.extend((0..195).map(|i| 1.0 - 5e-5 * i as f64));
        let (x, dense) = with_spectrum(m, n, &sigma, 7);
        let k = 10;
        let params = ImputedParams {
            k,
            oversample: 5,
            block_size: 4,
            max_basis: 60, // forces restarts (the short side is 200)
            tol: 1e-9,
            max_iter: 2000,
            seed: 3,
        };
        let got = imputed_svd(&x, &params, Par::Seq).unwrap();
        assert!(
            got.converged,
            "residual {} after {}",
            got.residual, got.n_iter
        );
        assert!(got.residual <= 1e-9);
        // it did restart: more columns went through the Gram product than the basis holds
        assert!(got.n_iter * 4 > 60, "{} steps", got.n_iter);
        let want = dense_svd(&dense, m, n, k);
        for (a, b) in got.svd.s.iter().zip(&want.s) {
            // singular values are accurate to about residual² / gap
            assert!((a - b).abs() <= 1e-10 * want.s[0], "{a} vs {b}");
        }
        assert!(orthogonality(&got.svd.u, m, k) < 1e-12);
        assert!(orthogonality(&got.svd.vt, k, n) < 1e-12);
    }

    #[test]
    fn the_reported_residual_is_measured() {
        // A loose tolerance stops early; the reported residual is that of the returned
        // triplets, recomputed densely here.
        let (m, n) = (120, 90);
        let mut sigma: Vec<f64> = vec![9.0, 7.0, 5.0];
        sigma.extend((0..87).map(|i| 1.0 - 1e-3 * i as f64));
        let (x, dense) = with_spectrum(m, n, &sigma, 11);
        let k = 6;
        let params = ImputedParams {
            k,
            block_size: 2,
            max_basis: 30,
            tol: 1e-4,
            ..ImputedParams::default()
        };
        let got = imputed_svd(&x, &params, Par::Seq).unwrap();
        let d = MatRef::from_row_major_slice(&dense, m, n);
        let u = MatRef::from_row_major_slice(&got.svd.u, m, k);
        let vt = MatRef::from_row_major_slice(&got.svd.vt, k, n);
        let mut worst = 0.0_f64;
        for i in 0..k {
            let s = got.svd.s[i];
            let r1 = d * vt.row(i).transpose().as_mat() - u.col(i).as_mat() * faer::Scale(s);
            let r2 =
                d.transpose() * u.col(i).as_mat() - vt.row(i).transpose().as_mat() * faer::Scale(s);
            worst = worst.max(r1.norm_l2().hypot(r2.norm_l2()));
        }
        let want = worst / got.svd.s[0];
        assert!(
            (got.residual - want).abs() <= 1e-12 + 1e-6 * want,
            "{} vs {want}",
            got.residual
        );
        assert_eq!(got.converged, got.residual <= 1e-4);
    }

    #[test]
    fn a_rank_deficient_matrix_gives_orthonormal_factors() {
        // every rating equal: X = 3·11ᵀ has rank one; asking for three triplets
        let (m, n) = (8, 6);
        let users: Vec<u32> = (0..m * n).map(|j| (j / n) as u32).collect();
        let items: Vec<u32> = (0..m * n).map(|j| (j % n) as u32).collect();
        let vals = vec![3.0f32; m * n];
        let x = ImputedMatrix::new(&users, &items, &vals, vec![1.0; m], vec![3.0; n]).unwrap();
        let params = ImputedParams {
            k: 3,
            tol: 1e-12,
            ..ImputedParams::default()
        };
        let got = imputed_svd(&x, &params, Par::Seq).unwrap();
        assert!(got.svd.u.iter().chain(&got.svd.vt).all(|v| v.is_finite()));
        assert!((got.svd.s[0] - 3.0 * ((m * n) as f64).sqrt()).abs() < 1e-12);
        assert!(got.svd.s[1].abs() < 1e-12 && got.svd.s[2].abs() < 1e-12);
        assert!(orthogonality(&got.svd.u, m, 3) < 1e-12);
        assert!(orthogonality(&got.svd.vt, 3, n) < 1e-12);
        assert!(got.converged, "residual {}", got.residual);
    }

    #[test]
    fn a_zero_matrix_is_not_an_error() {
        let x =
            ImputedMatrix::new(&[0, 1], &[1, 0], &[0.0, 0.0], vec![0.0; 3], vec![0.0; 2]).unwrap();
        let got = imputed_svd(
            &x,
            &ImputedParams {
                k: 2,
                ..ImputedParams::default()
            },
            Par::Seq,
        )
        .unwrap();
        assert_eq!(got.svd.s, vec![0.0, 0.0]);
        assert!(got.converged);
        assert!(orthogonality(&got.svd.u, 3, 2) < 1e-12);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let (x, _) = example(6, 5, 1);
        for params in [
            ImputedParams {
                k: 0,
                ..ImputedParams::default()
            },
            ImputedParams {
                k: 6,
                ..ImputedParams::default()
            },
            ImputedParams {
                tol: f64::NAN,
                ..ImputedParams::default()
            },
            ImputedParams {
                max_iter: 0,
                ..ImputedParams::default()
            },
        ] {
            assert!(imputed_svd(&x, &params, Par::Seq).is_err());
        }
    }
}
