//! Thick-restarted block Lanczos on the short-side Gram matrix of an [`ImputedMatrix`] (see
//! [`super`] for the iteration and its accuracy).

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::linalg::matmul::matmul;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Spec};

use super::operator::ImputedMatrix;
use crate::mem::Need;
use crate::rng::Rng;
use crate::svd::faer_par;
use crate::svd::gram::project_out;
use crate::{FunkError, Par};

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
    pub svd: crate::svd::Svd,
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
pub(super) fn orthonormalize_against(
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
        svd: crate::svd::Svd {
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
pub(super) fn gaussian_block(r: usize, c: usize, rng: &mut Rng) -> Mat<f64> {
    let g = gaussian(r * c, rng.next_u64());
    Mat::from_fn(r, c, |i, j| g[j * r + i])
}

/// `len` standard normal draws (Box–Muller on the funkrs generator).
pub(super) fn gaussian(len: usize, seed: u64) -> Vec<f64> {
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
