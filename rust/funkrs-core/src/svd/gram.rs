//! The tall-case kernels behind [`super::svd`]: Gram route and direct route, plus the
//! orthonormalisation of the recovered factor (see the module docs of [`super`]).

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::linalg::svd::{self as fsvd, ComputeSvdVectors};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Spec};
use rayon::prelude::*;

use super::faer_par;
use crate::{FunkError, Par};

/// `(U, σ, V)` of a thin SVD.
type ThinSvd = (Mat<f64>, Vec<f64>, Mat<f64>);

/// Columns with `σ_i < WEAK · σ_1` are re-orthogonalised explicitly: below it, `A v_i / σ_i`
/// loses more than about `ε / WEAK²` of orthogonality.
const WEAK: f64 = 0.05;

/// Gram route for `m ≥ n`: writes `U` (`m × k`) into `big`, `σ` into `s`, returns `V_k`.
pub(super) fn gram_svd_tall(
    a: MatRef<'_, f64>,
    k: usize,
    par: Par<'_>,
    mut big: MatMut<'_, f64>,
    s: &mut [f64],
) -> Result<Mat<f64>, FunkError> {
    let fpar = faer_par(par);
    let n = a.ncols();
    let g = gram_lower(a, par);
    let mut lambda = Diag::<f64>::zeros(n);
    let mut vecs = Mat::<f64>::zeros(n, n);
    let params = Spec::default();
    let req = self_adjoint_evd_scratch::<f64>(n, ComputeEigenvectors::Yes, fpar, params);
    let mut buf = MemBuffer::new(req);
    self_adjoint_evd(
        g.as_ref(),
        lambda.as_mut(),
        Some(vecs.as_mut()),
        fpar,
        MemStack::new(&mut buf),
        params,
    )
    .map_err(|_| FunkError::NoConvergence("symmetric eigensolver (Gram route)".into()))?;
    drop(g);
    // eigenvalues come ascending: the k largest are the last k, reversed.
    let mut v = Mat::from_fn(n, k, |i, j| vecs[(i, n - 1 - j)]);
    let rest = Mat::from_fn(n, n - k, |i, j| vecs[(i, n - 1 - k - j)]);
    drop(vecs);
    matmul(big.rb_mut(), Accum::Replace, a, v.as_ref(), 1.0, fpar);
    column_norms(big.rb(), s);
    sort_descending(s, big.rb_mut(), v.as_mut());
    orthonormalize(a, big.rb_mut(), s, v.as_mut(), rest.as_ref(), fpar)?;
    sort_descending(s, big, v.as_mut());
    Ok(v)
}

/// Rows per part of the Gram product of a tall matrix: parts of this many rows are summed in
/// a fixed order, whatever the thread count, so the result does not depend on it.
const GRAM_PART_ROWS: usize = 2048;

/// Most parts held at once (each an `n × n` partial sum).
const GRAM_MAX_PARTS: usize = 16;

/// The lower half of `G = AᵀA` (the upper half is zero).
///
/// A tall-and-skinny `A` (many rows per column) gives faer's parallel product only `n × n`
/// output tiles to share out while the rows are summed in one long loop, which leaves a second
/// thread mostly idle. Summed instead over parts of the rows, each product sequential and the
/// parts run in parallel and added in order, the two-thread Gram of a 50000 × 300 matrix
/// runs about 2.5× faster (`benchmarks/svd.py`). Square-ish matrices have tiles enough.
fn gram_lower(a: MatRef<'_, f64>, par: Par<'_>) -> Mat<f64> {
    let (m, n) = a.shape();
    let by_memory = (1usize << 25) / (n * n).max(1);
    let parts = (m / GRAM_PART_ROWS)
        .min(m / (4 * n).max(1))
        .min(GRAM_MAX_PARTS)
        .min(by_memory);
    let lower = |rows: MatRef<'_, f64>, fpar: faer::Par| {
        let mut g = Mat::<f64>::zeros(n, n);
        triangular::matmul(
            g.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            rows.transpose(),
            BlockStructure::Rectangular,
            rows,
            BlockStructure::Rectangular,
            1.0,
            fpar,
        );
        g
    };
    if parts < 2 {
        return lower(a, faer_par(par));
    }
    let step = m.div_ceil(parts);
    let part = |p: usize| {
        let lo = (p * step).min(m);
        lower(a.subrows(lo, ((p + 1) * step).min(m) - lo), faer::Par::Seq)
    };
    let done: Vec<Mat<f64>> = if par.is_parallel() {
        par.install(|| (0..parts).into_par_iter().map(part).collect())
    } else {
        (0..parts).map(part).collect()
    };
    let mut done = done.into_iter();
    let mut g = done.next().unwrap_or_else(|| Mat::zeros(n, n));
    for p in done {
        g += &p;
    }
    g
}

/// `s[j] = ‖W_{:,j}‖`, in one pass over the rows when `W` is row-major (walking a column of
/// a row-major matrix touches one cache line per entry).
fn column_norms(w: MatRef<'_, f64>, s: &mut [f64]) {
    if w.col_stride() == 1 && w.ncols() > 1 {
        let mut sum = vec![0.0_f64; w.ncols()];
        for i in 0..w.nrows() {
            for (acc, x) in sum.iter_mut().zip(w.row(i).iter()) {
                *acc += x * x;
            }
        }
        for (j, (sj, x)) in s.iter_mut().zip(sum).enumerate() {
            // Near the bottom of the range the squares lose digits: those columns are measured
            // again with faer's scaled norm.
            *sj = if x > 1e-280 && x.is_finite() {
                x.sqrt()
            } else {
                w.col(j).norm_l2()
            };
        }
    } else {
        for (j, sj) in s.iter_mut().enumerate() {
            *sj = w.col(j).norm_l2();
        }
    }
}

/// `W_{:,j} ← inv[j] · W_{:,j}`, row by row when `W` is row-major.
fn scale_columns(mut w: MatMut<'_, f64>, inv: &[f64]) {
    if w.col_stride() == 1 && w.ncols() > 1 {
        for i in 0..w.nrows() {
            for (x, c) in w.rb_mut().row_mut(i).iter_mut().zip(inv) {
                *x *= c;
            }
        }
    } else {
        for (j, &c) in inv.iter().enumerate() {
            w.rb_mut().col_mut(j).iter_mut().for_each(|x| *x *= c);
        }
    }
}

/// faer's direct SVD for `m ≥ n`, truncated to `k`.
pub(super) fn direct_svd_tall(
    a: MatRef<'_, f64>,
    k: usize,
    par: Par<'_>,
    mut big: MatMut<'_, f64>,
    s: &mut [f64],
) -> Result<Mat<f64>, FunkError> {
    let (u, sd, v) = thin_svd(a, faer_par(par))?;
    big.copy_from(u.as_ref().subcols(0, k));
    s.copy_from_slice(&sd[..k]);
    Ok(v.as_ref().subcols(0, k).to_owned())
}

/// Stable sort of the triplets by descending `σ` (a no-op when already sorted).
fn sort_descending(s: &mut [f64], mut u: MatMut<'_, f64>, mut v: MatMut<'_, f64>) {
    let k = s.len();
    let mut perm: Vec<usize> = (0..k).collect();
    perm.sort_by(|&x, &y| s[y].total_cmp(&s[x]));
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return;
    }
    let sorted: Vec<f64> = perm.iter().map(|&p| s[p]).collect();
    s.copy_from_slice(&sorted);
    let mut row = vec![0.0; k];
    for mat in [u.rb_mut(), v.rb_mut()] {
        let mut mat = mat;
        for i in 0..mat.nrows() {
            for (j, &p) in perm.iter().enumerate() {
                row[j] = mat[(i, p)];
            }
            for (j, &x) in row.iter().enumerate() {
                mat[(i, j)] = x;
            }
        }
    }
}

/// Turns the columns `W_{:,i} = A v_i` (norms `s`, sorted descending) into orthonormal `u_i`.
///
/// Strong columns are normalised. The weak block is projected off the strong columns and
/// re-decomposed directly, `W_w = Q Σ Zᵀ`, so that `A (V_w Z) = Q Σ` holds to working
/// precision even where the Gram eigenvectors of nearby small eigenvalues are mixed; its
/// left vectors are then orthogonalised again, completing the basis where needed. When the
/// truncation reaches weak columns, the eigenvectors beyond `k` (`rest`) join the weak block:
/// the Gram matrix cannot tell their directions apart from the last kept ones.
fn orthonormalize(
    a: MatRef<'_, f64>,
    mut w: MatMut<'_, f64>,
    s: &mut [f64],
    mut v: MatMut<'_, f64>,
    rest: MatRef<'_, f64>,
    fpar: faer::Par,
) -> Result<(), FunkError> {
    let (m, k) = w.shape();
    let tau = WEAK * s.first().copied().unwrap_or(0.0);
    let ns = s.iter().take_while(|&&x| x > 0.0 && x >= tau).count();
    let inv: Vec<f64> = s[..ns].iter().map(|&sj| 1.0 / sj).collect();
    scale_columns(w.rb_mut().subcols_mut(0, ns), &inv);
    if ns == k {
        return Ok(());
    }
    let nw = k - ns;
    let nx = rest.ncols();
    let (strong, mut tail) = w.split_at_col_mut(ns);
    let strong = strong.rb();
    let mut weak = Mat::<f64>::zeros(m, nw + nx);
    weak.as_mut().subcols_mut(0, nw).copy_from(tail.rb());
    matmul(
        weak.as_mut().subcols_mut(nw, nx),
        Accum::Replace,
        a,
        rest,
        1.0,
        fpar,
    );
    for _ in 0..2 {
        project_out(strong, weak.as_mut(), fpar);
    }
    let (q, sw, z) = scaled_thin_svd(weak.as_ref(), fpar)?;
    s[ns..].copy_from_slice(&sw[..nw]);
    let mut vw = Mat::<f64>::zeros(v.nrows(), nw + nx);
    vw.as_mut()
        .subcols_mut(0, nw)
        .copy_from(v.rb().subcols(ns, nw));
    vw.as_mut().subcols_mut(nw, nx).copy_from(rest);
    let z = z.as_ref().subcols(0, nw);
    matmul(
        v.rb_mut().subcols_mut(ns, nw),
        Accum::Replace,
        vw.as_ref(),
        z,
        1.0,
        fpar,
    );
    let mut basis = vec![0.0; m * nw];
    let mut bm = MatMut::from_column_major_slice_mut(&mut basis, m, nw);
    bm.copy_from(q.as_ref().subcols(0, nw));
    for _ in 0..2 {
        project_out(strong, bm.rb_mut(), fpar);
    }
    let mut cover: Option<Vec<f64>> = None;
    for j in 0..nw {
        let (done, tail) = basis.split_at_mut(j * m);
        let x = &mut tail[..m];
        let done = MatRef::from_column_major_slice(done, m, j);
        if !orthogonalize_column(strong, done, x, 1.0) {
            let cov = cover.get_or_insert_with(|| coverage(strong, done));
            complete_column(strong, done, x, cov);
        }
        if let Some(cov) = cover.as_mut() {
            cov.iter_mut()
                .zip(x.iter())
                .for_each(|(c, &xi)| *c += xi * xi);
        }
    }
    tail.copy_from(MatRef::from_column_major_slice(&basis, m, nw));
    Ok(())
}

/// [`thin_svd`] of `a` scaled by a power of two so that its largest entry is about 1: the
/// weak block can be subnormal.
fn scaled_thin_svd(a: MatRef<'_, f64>, fpar: faer::Par) -> Result<ThinSvd, FunkError> {
    let mut amax = 0.0_f64;
    for j in 0..a.ncols() {
        amax = a.col(j).iter().fold(amax, |acc, x| acc.max(x.abs()));
    }
    if amax == 0.0 || (0.5..=2.0).contains(&amax) {
        return thin_svd(a, fpar);
    }
    let e = (amax.log2().round() as i32).clamp(-1000, 1000);
    let scale = 2.0_f64.powi(-e);
    let scaled = Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)] * scale);
    let (u, mut s, v) = thin_svd(scaled.as_ref(), fpar)?;
    for x in &mut s {
        *x /= scale;
    }
    Ok((u, s, v))
}

/// Thin SVD `(U, σ, V)` of a tall `a` by faer's direct method.
fn thin_svd(a: MatRef<'_, f64>, fpar: faer::Par) -> Result<ThinSvd, FunkError> {
    let (m, n) = a.shape();
    let mut sd = Diag::<f64>::zeros(n);
    let mut u = Mat::<f64>::zeros(m, n);
    let mut v = Mat::<f64>::zeros(n, n);
    let params = Spec::default();
    let req = fsvd::svd_scratch::<f64>(
        m,
        n,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::Thin,
        fpar,
        params,
    );
    let mut buf = MemBuffer::new(req);
    fsvd::svd(
        a,
        sd.as_mut(),
        Some(u.as_mut()),
        Some(v.as_mut()),
        fpar,
        MemStack::new(&mut buf),
        params,
    )
    .map_err(|_| FunkError::NoConvergence("direct SVD".into()))?;
    let s = (0..n).map(|j| sd[j]).collect();
    Ok((u, s, v))
}

/// `X ← X − Q (Qᵀ X)` for a block `Q` with orthonormal columns.
pub(super) fn project_out(q: MatRef<'_, f64>, mut x: MatMut<'_, f64>, fpar: faer::Par) {
    if q.ncols() == 0 || x.ncols() == 0 {
        return;
    }
    let mut c = Mat::<f64>::zeros(q.ncols(), x.ncols());
    matmul(c.as_mut(), Accum::Replace, q.transpose(), x.rb(), 1.0, fpar);
    matmul(x.rb_mut(), Accum::Add, q, c.as_ref(), -1.0, fpar);
}

/// Scales `x` to unit length, first by an exact power of two so that a subnormal `x` keeps
/// its precision and `1/‖x‖` cannot overflow.
fn normalize(x: &mut [f64]) {
    let amax = x.iter().fold(0.0_f64, |acc, v| acc.max(v.abs()));
    if amax == 0.0 {
        return;
    }
    let e = (amax.log2().round() as i32).clamp(-1000, 1000);
    let scale = 2.0_f64.powi(-e);
    for v in x.iter_mut() {
        *v *= scale;
    }
    let nx = norm(x);
    for v in x.iter_mut() {
        *v /= nx;
    }
}

fn norm(x: &[f64]) -> f64 {
    MatRef::from_column_major_slice(x, x.len(), 1).norm_l2()
}

/// Orthogonalises `x` (already projected off `strong`, from an original norm `orig`) against
/// `done` (and, once it has cancelled, `strong` again) until a pass keeps at least half its
/// norm ("twice is enough"); normalises it and returns `true`, or returns `false` when `x` is
/// numerically in their span.
fn orthogonalize_column(
    strong: MatRef<'_, f64>,
    done: MatRef<'_, f64>,
    x: &mut [f64],
    orig: f64,
) -> bool {
    let m = x.len();
    let mut prev = norm(x);
    let mut cancelled = prev < 0.5 * orig;
    for pass in 0..4 {
        if prev == 0.0 || !prev.is_finite() {
            return false;
        }
        let mut xm = MatMut::from_column_major_slice_mut(x, m, 1);
        if cancelled {
            project_out(strong, xm.rb_mut(), faer::Par::Seq);
        }
        project_out(done, xm.rb_mut(), faer::Par::Seq);
        let now = norm(x);
        if now >= 0.5 * prev && pass >= 1 {
            normalize(x);
            return true;
        }
        cancelled |= now < 0.5 * prev;
        prev = now;
    }
    false
}

/// `Σ_c Q[r, c]²` over the accepted columns: how much of `e_r` the basis already covers.
fn coverage(strong: MatRef<'_, f64>, done: MatRef<'_, f64>) -> Vec<f64> {
    (0..strong.nrows())
        .map(|r| {
            let a: f64 = strong.row(r).iter().map(|x| x * x).sum();
            let b: f64 = done.row(r).iter().map(|x| x * x).sum();
            a + b
        })
        .collect()
}

/// Replaces `x` by the unit vector `e_r` least covered by the basis, orthogonalised against
/// it: a valid singular vector for a zero (or negligible) singular value.
fn complete_column(strong: MatRef<'_, f64>, done: MatRef<'_, f64>, x: &mut [f64], cov: &[f64]) {
    let m = x.len();
    let r = (0..m)
        .min_by(|&p, &q| cov[p].total_cmp(&cov[q]))
        .unwrap_or(0);
    for v in x.iter_mut() {
        *v = 0.0;
    }
    x[r] = 1.0;
    let mut xm = MatMut::from_column_major_slice_mut(x, m, 1);
    for _ in 0..2 {
        project_out(strong, xm.rb_mut(), faer::Par::Seq);
        project_out(done, xm.rb_mut(), faer::Par::Seq);
    }
    normalize(x);
}
