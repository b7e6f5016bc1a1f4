//! Truncated SVD of a mean-imputed rating matrix `X = S + a bᵀ` that is never materialised
//! (see the module docs of [`super`]).
//!
//! [`imputed_svd`] runs randomized subspace iteration with a Rayleigh–Ritz step each round:
//!
//! 1. `Y = X V` (on the first round `V = Ω`, an `n × l` Gaussian block, `l = k + oversample`);
//! 2. `Q = orth(Y)`; `Z = Xᵀ Q = W Σ Ũᵀ` (dense thin SVD of an `n × l` block);
//! 3. `U = Q Ũ`, `V = W`, so that `Xᵀ U = V Σ` holds exactly.
//!
//! The residual of the other side, `‖X v_i − σ_i u_i‖`, is read off the next round's `Y` for
//! free; iteration stops when it is below `tol · σ_1` for the `k` leading triplets (then each
//! is an exact singular triplet of a matrix within that distance of `X`). Each round costs two
//! sparse products, `O(nnz · l + (m + n) · l)`, plus dense work `O((m + n) l²)`.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::householder;
use faer::linalg::matmul::matmul;
use faer::linalg::qr::no_pivoting::factor as qr;
use faer::{Accum, Conj, Mat, MatMut, MatRef, Spec};
use rayon::prelude::*;

use super::{faer_par, svd, SvdMethod};
use crate::rng::Rng;
use crate::{FunkError, Par};

/// The implicit matrix `X = S + a bᵀ`, with `S_{ui} = r_{ui} − a_u b_i` on observed cells.
///
/// Observed cells are stored once, compressed along the longer side (users for a tall
/// matrix). The product whose output is the long side gathers rows of the short input block;
/// the other scatters into per-thread copies of its short output block, which stay in cache,
/// while the long input block is streamed in order. `(user, item)` pairs must be unique.
#[derive(Clone, Debug)]
pub struct ImputedMatrix {
    m: usize,
    n: usize,
    by_rows: bool,
    cells: Compressed,
    a: Vec<f64>,
    b: Vec<f64>,
}

/// Compressed rows: the entries of row `r` are `idx/val[ptr[r]..ptr[r + 1]]`.
#[derive(Clone, Debug)]
struct Compressed {
    ptr: Vec<usize>,
    idx: Vec<u32>,
    val: Vec<f32>,
}

impl Compressed {
    /// Counting sort of `(major[j], minor[j], values[j])` by `major`.
    fn build(major: &[u32], minor: &[u32], values: &[f32], n_major: usize) -> Self {
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
            idx[*slot] = c;
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
        let cells = if by_rows {
            Compressed::build(users, items, ratings, m)
        } else {
            Compressed::build(items, users, ratings, n)
        };
        Ok(ImputedMatrix {
            m,
            n,
            by_rows,
            cells,
            a,
            b,
        })
    }

    /// `(m, n)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.m, self.n)
    }

    /// `out = X B` for a row-major `n × l` block `B`; `out` is row-major `m × l`.
    pub fn apply(&self, blk: &[f64], l: usize, out: &mut [f64], par: Par<'_>) {
        if self.by_rows {
            gather(&self.cells, &self.a, &self.b, blk, l, out, par);
        } else {
            scatter(&self.cells, &self.b, &self.a, blk, l, out, par);
        }
    }

    /// `out = Xᵀ C` for a row-major `m × l` block `C`; `out` is row-major `n × l`.
    pub fn apply_t(&self, blk: &[f64], l: usize, out: &mut [f64], par: Par<'_>) {
        if self.by_rows {
            scatter(&self.cells, &self.a, &self.b, blk, l, out, par);
        } else {
            gather(&self.cells, &self.b, &self.a, blk, l, out, par);
        }
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
    // qᵀ B, the rank-one part shared by every output row.
    let mut qb = vec![0.0; l];
    for (qc, row) in q.iter().zip(blk.chunks_exact(l)) {
        for (acc, x) in qb.iter_mut().zip(row) {
            *acc += qc * x;
        }
    }
    let one_row = |(r, dst): (usize, &mut [f64])| {
        let pr = p[r];
        for (d, x) in dst.iter_mut().zip(&qb) {
            *d = pr * x;
        }
        let (idx, val) = s.row(r);
        for (&c, &v) in idx.iter().zip(val) {
            let c = c as usize;
            let w = f64::from(v) - pr * q[c];
            for (d, x) in dst.iter_mut().zip(&blk[c * l..(c + 1) * l]) {
                *d += w * x;
            }
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
    let n_rows = p.len();
    let nnz = s.idx.len();
    let chunks = par.n_threads().max(1);
    let bounds: Vec<usize> = (0..=chunks)
        .map(|t| s.ptr.partition_point(|&x| x < nnz * t / chunks).min(n_rows))
        .collect();
    let one_chunk = |t: usize| {
        let mut acc = vec![0.0; out.len()];
        let mut pb = vec![0.0; l];
        for r in bounds[t]..bounds[t + 1] {
            let src = &blk[r * l..(r + 1) * l];
            let pr = p[r];
            for (d, x) in pb.iter_mut().zip(src) {
                *d += pr * x;
            }
            let (idx, val) = s.row(r);
            for (&c, &v) in idx.iter().zip(val) {
                let c = c as usize;
                let w = f64::from(v) - pr * q[c];
                for (d, x) in acc[c * l..(c + 1) * l].iter_mut().zip(src) {
                    *d += w * x;
                }
            }
        }
        (acc, pb)
    };
    let parts: Vec<(Vec<f64>, Vec<f64>)> = if chunks > 1 {
        par.install(|| (0..chunks).into_par_iter().map(one_chunk).collect())
    } else {
        vec![one_chunk(0)]
    };
    let mut pb = vec![0.0; l];
    out.fill(0.0);
    for (acc, part_pb) in &parts {
        for (o, x) in out.iter_mut().zip(acc) {
            *o += x;
        }
        for (o, x) in pb.iter_mut().zip(part_pb) {
            *o += x;
        }
    }
    for (qc, row) in q.iter().zip(out.chunks_exact_mut(l)) {
        for (o, x) in row.iter_mut().zip(&pb) {
            *o += qc * x;
        }
    }
}

/// Settings of [`imputed_svd`].
#[derive(Clone, Debug)]
pub struct ImputedParams {
    /// Number of singular triplets returned.
    pub k: usize,
    /// Extra columns of the iterated block (`l = k + oversample`): faster convergence.
    pub oversample: usize,
    /// Stop when `‖X v_i − σ_i u_i‖ ≤ tol · σ_1` for the `k` leading triplets.
    pub tol: f64,
    /// Maximum number of rounds (two sparse products each).
    pub max_iter: usize,
    /// Seed of the Gaussian start block.
    pub seed: u64,
}

impl Default for ImputedParams {
    fn default() -> Self {
        ImputedParams {
            k: 10,
            oversample: 10,
            tol: 1e-10,
            max_iter: 200,
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
}

/// A rank-`k` SVD of an [`ImputedMatrix`], plus how the iteration went.
#[derive(Clone, Debug)]
pub struct ImputedSvd {
    /// The triplets (`u` is `m × k`, `vt` is `k × n`, both row-major).
    pub svd: super::Svd,
    /// Rounds run.
    pub n_iter: usize,
    /// Largest residual `‖X v_i − σ_i u_i‖ / σ_1` over the `k` triplets at the end.
    pub residual: f64,
    /// Whether `residual ≤ tol`.
    pub converged: bool,
}

/// Rank-`k` SVD of `x` by randomized subspace iteration (see the module docs).
pub fn imputed_svd(
    x: &ImputedMatrix,
    params: &ImputedParams,
    par: Par<'_>,
) -> Result<ImputedSvd, FunkError> {
    let (m, n) = x.shape();
    params.validate(m, n)?;
    let k = params.k;
    let l = (k + params.oversample).min(m.min(n));
    let mut v = gaussian(n * l, params.seed);
    let mut y = vec![0.0; m * l];
    let mut z = vec![0.0; n * l];
    let mut state: Option<(Vec<f64>, Vec<f64>)> = None; // (U row-major m×l, σ)
    let mut residual = f64::INFINITY;
    for it in 0..params.max_iter {
        x.apply(&v, l, &mut y, par);
        if let Some((u, s)) = &state {
            residual = ritz_residual(&y, u, s, l, k);
            if residual <= params.tol {
                return Ok(finish(u, s, &v, m, n, l, k, it, residual, true));
            }
        }
        let q = orthonormal_basis(&y, m, l, par);
        x.apply_t(&q, l, &mut z, par);
        let r = svd(
            MatRef::from_row_major_slice(&z, n, l),
            None,
            SvdMethod::Direct,
            par,
        )?;
        // U = Q Ũ with Ũ = (r.vt)ᵀ.
        let mut u = vec![0.0; m * l];
        matmul(
            MatMut::from_row_major_slice_mut(&mut u, m, l),
            Accum::Replace,
            MatRef::from_row_major_slice(&q, m, l),
            MatRef::from_row_major_slice(&r.vt, l, l).transpose(),
            1.0,
            faer_par(par),
        );
        v = r.u;
        state = Some((u, r.s));
    }
    x.apply(&v, l, &mut y, par);
    let (u, s) = state.expect("max_iter ≥ 1");
    residual = residual.min(ritz_residual(&y, &u, &s, l, k));
    let converged = residual <= params.tol;
    Ok(finish(
        &u,
        &s,
        &v,
        m,
        n,
        l,
        k,
        params.max_iter,
        residual,
        converged,
    ))
}

/// `max_i ‖Y_{:,i} − σ_i U_{:,i}‖ / σ_1` over the first `k` columns.
fn ritz_residual(y: &[f64], u: &[f64], s: &[f64], l: usize, k: usize) -> f64 {
    let mut acc = vec![0.0; k];
    for (yr, ur) in y.chunks_exact(l).zip(u.chunks_exact(l)) {
        for i in 0..k {
            let d = yr[i] - s[i] * ur[i];
            acc[i] += d * d;
        }
    }
    let top = s.first().copied().unwrap_or(0.0);
    if top == 0.0 {
        return 0.0;
    }
    acc.iter().fold(0.0_f64, |m, &x| m.max(x.sqrt())) / top
}

/// A row-major `m × l` orthonormal basis of the range of the row-major block `y`
/// (Householder QR, so it stays orthonormal however ill-conditioned `y` is).
fn orthonormal_basis(y: &[f64], m: usize, l: usize, par: Par<'_>) -> Vec<f64> {
    let fpar = faer_par(par);
    let mut a = Mat::<f64>::zeros(m, l);
    a.copy_from(MatRef::from_row_major_slice(y, m, l));
    let bs = qr::recommended_block_size::<f64>(m, l);
    let mut coeff = Mat::<f64>::zeros(bs, l);
    let params = Spec::default();
    let mut buf = MemBuffer::new(qr::qr_in_place_scratch::<f64>(m, l, bs, fpar, params));
    qr::qr_in_place(
        a.as_mut(),
        coeff.as_mut(),
        fpar,
        MemStack::new(&mut buf),
        params,
    );
    let mut q = Mat::<f64>::identity(m, l);
    let req =
        householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(m, bs, l);
    let mut buf = MemBuffer::new(req);
    householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
        a.as_ref(),
        coeff.as_ref(),
        Conj::No,
        q.as_mut(),
        fpar,
        MemStack::new(&mut buf),
    );
    let mut out = vec![0.0; m * l];
    MatMut::from_row_major_slice_mut(&mut out, m, l).copy_from(q.as_ref());
    out
}

/// Truncates the Ritz triplets to `k` and packs them as an [`super::Svd`].
fn finish(
    u: &[f64],
    s: &[f64],
    v: &[f64],
    m: usize,
    n: usize,
    l: usize,
    k: usize,
    n_iter: usize,
    residual: f64,
    converged: bool,
) -> ImputedSvd {
    let u_k: Vec<f64> = u
        .chunks_exact(l)
        .flat_map(|r| r[..k].iter().copied())
        .collect();
    let mut vt = vec![0.0; k * n];
    for (c, row) in v.chunks_exact(l).enumerate() {
        for (i, &x) in row[..k].iter().enumerate() {
            vt[i * n + c] = x;
        }
    }
    ImputedSvd {
        svd: super::Svd {
            u: u_k,
            s: s[..k].to_vec(),
            vt,
            m,
            n,
            k,
        },
        n_iter,
        residual,
        converged,
    }
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
        let blk = gaussian(n * l, 2);
        let mut out = vec![0.0; m * l];
        x.apply(&blk, l, &mut out, par);
        let d = MatRef::from_row_major_slice(&dense, m, n);
        let want = d * MatRef::from_row_major_slice(&blk, n, l);
        for i in 0..m {
            for j in 0..l {
                assert!((out[i * l + j] - want[(i, j)]).abs() < 1e-12);
            }
        }
        let blk = gaussian(m * l, 3);
        let mut out = vec![0.0; n * l];
        x.apply_t(&blk, l, &mut out, par);
        let want = d.transpose() * MatRef::from_row_major_slice(&blk, m, l);
        for i in 0..n {
            for j in 0..l {
                assert!((out[i * l + j] - want[(i, j)]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn matches_the_dense_svd() {
        let (m, n, k) = (60, 35, 5);
        let (x, dense) = example(m, n, 4);
        let params = ImputedParams {
            k,
            tol: 1e-13,
            ..ImputedParams::default()
        };
        let got = imputed_svd(&x, &params, Par::Seq).unwrap();
        assert!(got.converged, "residual {}", got.residual);
        let want = svd(
            MatRef::from_row_major_slice(&dense, m, n),
            Some(k),
            SvdMethod::Direct,
            Par::Seq,
        )
        .unwrap();
        for (a, b) in got.svd.s.iter().zip(&want.s) {
            assert!((a - b).abs() <= 1e-10 * want.s[0], "{a} vs {b}");
        }
        // rank-k reconstructions agree
        let rec = |r: &super::super::Svd| {
            let u = MatRef::from_row_major_slice(&r.u, m, k);
            let vt = MatRef::from_row_major_slice(&r.vt, k, n);
            let us = faer::Mat::from_fn(m, k, |i, j| u[(i, j)] * r.s[j]);
            us * vt
        };
        let diff = rec(&got.svd) - rec(&want);
        assert!(diff.norm_max() < 1e-9, "{}", diff.norm_max());
    }
}
