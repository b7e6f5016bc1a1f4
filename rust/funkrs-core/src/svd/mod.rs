//! Dense singular value decomposition through the eigendecomposition of a Gram matrix, and the
//! truncated SVD of a mean-imputed rating matrix that is never materialised.
//!
//! # Dense SVD ([`svd`])
//!
//! For $A \in \mathbb{R}^{m \times n}$ with $m \ge n$ (otherwise work on $A^\top$ and swap the
//! factors), the thin SVD $A = U \Sigma V^\top$ follows from
//!
//! $$ G = A^\top A = V \Sigma^2 V^\top, \qquad U = A V \Sigma^{-1}. $$
//!
//! [`SvdMethod::Gram`] forms the lower half of $G$ (a symmetric rank-$m$ update, $m n^2$
//! flops), diagonalises it with faer's symmetric eigensolver, reverses the eigenpairs to
//! descending order, and recovers the other factor by one product $W = A V_k$. Each singular
//! value is taken as $\sigma_i = \lVert W_{:,i} \rVert$ rather than $\sqrt{\lambda_i}$: the
//! norm does not square the dynamic range, while $\sqrt{\lambda_i}$ of a computed eigenvalue
//! (error $\approx \varepsilon \sigma_1^2$) carries a *relative* error of about
//! $\varepsilon \sigma_1^2 / \sigma_i^2$ and cannot resolve $\sigma_i < \sqrt{\varepsilon}\,
//! \sigma_1$ at all. Columns $u_i = W_{:,i} / \sigma_i$ are orthogonal to about
//! $\varepsilon \sigma_1^2 / (\sigma_i \sigma_j)$, which is fine for the "strong" columns
//! ($\sigma_i \ge 0.05\,\sigma_1$). The "weak" block is projected off the strong columns and
//! decomposed directly, $W_w = Q \Sigma_w Z^\top$, so that $A (V_w Z) = Q \Sigma_w$ holds to
//! working precision even though the Gram eigenvectors of nearby small eigenvalues are mixed
//! (when $k$ truncates inside the weak range, the remaining eigenvectors join that block for
//! the same reason). Its columns are then orthogonalised against everything before them,
//! twice; a numerically dependent column (a zero singular value of a rank-deficient matrix)
//! is replaced by the unit vector $e_r$ least covered by the basis so far, orthogonalised, so
//! $U^\top U = I$ always holds and no NaN can appear.
//!
//! **Accuracy cost of the Gram route.** With the steps above, singular *values* come out to
//! about $\varepsilon \sigma_1$ absolute, as from LAPACK. Singular *vectors* inherit the
//! eigenvector error of $G$: $\approx \varepsilon \sigma_1^2 / (\sigma_i\,\mathrm{gap}_i)$
//! instead of $\varepsilon \sigma_1 / \mathrm{gap}_i$, i.e. a relative error of about
//! $\varepsilon \sigma_1^2 / \sigma_i^2$ for the directions of small $\sigma_i$. Users who need
//! those directions accurately choose [`SvdMethod::Direct`] (faer's bidiagonal
//! divide-and-conquer SVD, slower, backward stable).
//!
//! Input whose largest magnitude is outside $[2^{-300}, 2^{300}]$ is scaled by an exact power
//! of two first, so $G$ neither overflows nor underflows.
//!
//! # Imputed SVD ([`implicit`])
//!
//! A rating matrix filled with means is $X = S + a b^\top$: $S$ holds $r_{ui} - a_u b_i$ on the
//! observed cells and zero elsewhere, and $a b^\top$ is the rank-one fill (item means:
//! $a = 1, b = \mu$; user means: $a = \mu_u, b = 1$; global mean: $a = 1, b = g \cdot 1$).
//! Products $X B = S B + a (b^\top B)$ and $X^\top C = S^\top C + b (a^\top C)$ cost
//! $O(\mathrm{nnz} \cdot l + (m + n) l)$, and so does the short-side Gram product
//! $X^\top X B$ in one pass over the cells; a thick-restarted block Lanczos iteration on the
//! Gram matrix returns the rank-$k$ SVD without forming the dense $m \times n$ matrix.

#![allow(non_snake_case)]

mod gram;
pub mod implicit;

use faer::{Mat, MatMut, MatRef};

use crate::mem::Need;
use crate::{FunkError, Par};

/// How [`svd`] computes the decomposition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SvdMethod {
    /// Eigendecomposition of the smaller Gram matrix (fast; see the module docs for accuracy).
    #[default]
    Gram,
    /// faer's direct SVD (bidiagonalisation + divide and conquer): slower, backward stable.
    Direct,
}

impl SvdMethod {
    /// Parses `"gram"` or `"direct"`.
    pub fn parse(name: &str) -> Result<Self, FunkError> {
        match name {
            "gram" => Ok(SvdMethod::Gram),
            "direct" => Ok(SvdMethod::Direct),
            other => Err(FunkError::InvalidParam {
                name: "method",
                reason: format!("expected 'gram' or 'direct', got {other:?}"),
            }),
        }
    }
}

/// A thin (possibly truncated) SVD in row-major buffers: `A ≈ U diag(S) Vt`.
#[derive(Clone, Debug, PartialEq)]
pub struct Svd {
    /// Left singular vectors, row-major `m × k`.
    pub u: Vec<f64>,
    /// Singular values, descending, `k` entries.
    pub s: Vec<f64>,
    /// Right singular vectors (transposed), row-major `k × n`.
    pub vt: Vec<f64>,
    /// Rows of `A`.
    pub m: usize,
    /// Columns of `A`.
    pub n: usize,
    /// Number of singular triplets kept.
    pub k: usize,
}

/// Converts the funkrs parallelism to faer's.
pub(crate) fn faer_par(par: Par<'_>) -> faer::Par {
    match par.n_threads() {
        0 | 1 => faer::Par::Seq,
        n => faer::Par::rayon(n),
    }
}

/// Thin SVD of `a`, keeping the `k` largest singular triplets (all `min(m, n)` by default).
///
/// Any strides are accepted: a row-major and a column-major buffer are both read in place.
/// Errors: a NaN or infinite entry ([`FunkError::NonFiniteEntry`], naming its row and column)
/// or `k > min(m, n)` ([`FunkError::InvalidParam`]).
pub fn svd(
    a: MatRef<'_, f64>,
    k: Option<usize>,
    method: SvdMethod,
    par: Par<'_>,
) -> Result<Svd, FunkError> {
    let (m, n) = a.shape();
    let p = m.min(n);
    let k = k.unwrap_or(p);
    if k > p {
        return Err(FunkError::InvalidParam {
            name: "k",
            reason: format!("must be at most min(m, n) = {p} for a {m} × {n} matrix, got {k}"),
        });
    }
    let (long, short) = (m.max(n) as u128, p as u128);
    Need::default()
        .add::<f64>(long.saturating_mul(k as u128), || {
            format!("the {long}-row singular vectors ({long} × {k})")
        })
        .add::<f64>(short.saturating_mul(short).saturating_mul(3), || {
            format!("the Gram matrix and its eigenvectors ({p} × {p}, three copies)")
        })
        .add::<f64>(short.saturating_mul(k as u128), || {
            format!("the {p} × {k} factor")
        })
        .check("; pass a smaller k or a smaller matrix")?;
    let amax = check_finite(a)?;
    let mut out = Svd {
        u: vec![0.0; m * k],
        s: vec![0.0; k],
        vt: vec![0.0; k * n],
        m,
        n,
        k,
    };
    if k == 0 {
        return Ok(out);
    }
    let scale = safe_scale(amax);
    let scaled: Option<Mat<f64>> = scale.map(|c| Mat::from_fn(m, n, |i, j| a[(i, j)] * c));
    let a = scaled.as_ref().map_or(a, Mat::as_ref);
    par.install(|| {
        if m >= n {
            let big = MatMut::from_row_major_slice_mut(&mut out.u, m, k);
            let small = run(a, k, method, par, big, &mut out.s)?;
            copy_into(
                small.as_ref(),
                MatMut::from_column_major_slice_mut(&mut out.vt, n, k),
            );
        } else {
            let big = MatMut::from_column_major_slice_mut(&mut out.vt, n, k);
            let small = run(a.transpose(), k, method, par, big, &mut out.s)?;
            copy_into(
                small.as_ref(),
                MatMut::from_row_major_slice_mut(&mut out.u, m, k),
            );
        }
        Ok::<(), FunkError>(())
    })?;
    if let Some(c) = scale {
        for s in &mut out.s {
            *s /= c;
        }
    }
    Ok(out)
}

/// Tall case (`m ≥ n`): writes the `m × k` factor into `big`, the values into `s`, and returns
/// the `n × k` factor.
fn run(
    a: MatRef<'_, f64>,
    k: usize,
    method: SvdMethod,
    par: Par<'_>,
    big: MatMut<'_, f64>,
    s: &mut [f64],
) -> Result<Mat<f64>, FunkError> {
    match method {
        SvdMethod::Gram => gram::gram_svd_tall(a, k, par, big, s),
        SvdMethod::Direct => gram::direct_svd_tall(a, k, par, big, s),
    }
}

fn copy_into(src: MatRef<'_, f64>, mut dst: MatMut<'_, f64>) {
    dst.copy_from(src);
}

/// Largest magnitude of `a`, or the position of the first non-finite entry.
fn check_finite(a: MatRef<'_, f64>) -> Result<f64, FunkError> {
    if a.row_stride() == 1 && a.col_stride() != 1 {
        return check_finite(a.transpose()).map_err(|e| match e {
            FunkError::NonFiniteEntry {
                what,
                row,
                col,
                value,
            } => FunkError::NonFiniteEntry {
                what,
                row: col,
                col: row,
                value,
            },
            other => other,
        });
    }
    let (m, n) = a.shape();
    let mut amax = 0.0_f64;
    for i in 0..m {
        for j in 0..n {
            let x = a[(i, j)];
            if !x.is_finite() {
                return Err(FunkError::NonFiniteEntry {
                    what: "A",
                    row: i,
                    col: j,
                    value: x,
                });
            }
            amax = amax.max(x.abs());
        }
    }
    Ok(amax)
}

/// A power of two that brings `amax` into `[2^-300, 2^300]` (`None` when it already is, or
/// is 0).
fn safe_scale(amax: f64) -> Option<f64> {
    const HI: f64 = 2.037_035_976_334_486e90; // 2^300
    const LO: f64 = 4.909_093_465_297_727e-91; // 2^-300
    if amax == 0.0 || (LO..=HI).contains(&amax) {
        return None;
    }
    let e = (amax.log2().round() as i32).clamp(-1000, 1000);
    Some(2.0_f64.powi(-e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(m: usize, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..m * n).map(|_| rng.next_f64() * 2.0 - 1.0).collect()
    }

    /// `‖A − U S Vᵀ‖_F / ‖A‖_F`, `‖UᵀU − I‖_max`, `‖VᵀV − I‖_max`.
    fn errors(a: &[f64], r: &Svd) -> (f64, f64, f64) {
        let (m, n, k) = (r.m, r.n, r.k);
        let u = MatRef::from_row_major_slice(&r.u, m, k);
        let vt = MatRef::from_row_major_slice(&r.vt, k, n);
        let a = MatRef::from_row_major_slice(a, m, n);
        let us = Mat::from_fn(m, k, |i, j| u[(i, j)] * r.s[j]);
        let diff = a - &us * vt;
        let anorm = a.norm_l2().max(f64::MIN_POSITIVE);
        let eye = |q: Mat<f64>| {
            let d = q.nrows();
            (0..d)
                .flat_map(|i| (0..d).map(move |j| (i, j)))
                .map(|(i, j)| (q[(i, j)] - f64::from(u8::from(i == j))).abs())
                .fold(0.0, f64::max)
        };
        (
            diff.norm_l2() / anorm,
            eye(u.transpose() * u),
            eye(vt * vt.transpose()),
        )
    }

    fn check(a: &[f64], m: usize, n: usize, method: SvdMethod) -> Svd {
        let r = svd(
            MatRef::from_row_major_slice(a, m, n),
            None,
            method,
            Par::Seq,
        )
        .unwrap();
        let (rec, uo, vo) = errors(a, &r);
        let tol = 50.0 * f64::EPSILON * (m.max(n) as f64).sqrt();
        assert!(
            rec <= tol,
            "reconstruction {rec:e} > {tol:e} ({m}×{n}, {method:?})"
        );
        assert!(
            uo <= tol && vo <= tol,
            "orthonormality {uo:e} {vo:e} ({m}×{n})"
        );
        assert!(r.s.windows(2).all(|w| w[0] >= w[1]) && r.s.iter().all(|&x| x >= 0.0));
        r
    }

    #[test]
    fn random_shapes_reconstruct() {
        for (m, n) in [
            (1, 1),
            (1, 7),
            (7, 1),
            (40, 13),
            (13, 40),
            (64, 64),
            (300, 120),
        ] {
            for method in [SvdMethod::Gram, SvdMethod::Direct] {
                check(&random(m, n, (m * 1000 + n) as u64), m, n, method);
            }
        }
    }

    #[test]
    fn rank_deficient_and_zero_get_orthonormal_vectors() {
        let (m, n, r) = (50, 20, 3);
        let b = random(m, r, 1);
        let c = random(r, n, 2);
        let a: Vec<f64> = (0..m * n)
            .map(|idx| {
                (0..r)
                    .map(|l| b[idx / n * r + l] * c[l * n + idx % n])
                    .sum()
            })
            .collect();
        let res = check(&a, m, n, SvdMethod::Gram);
        assert!(
            res.s[r..].iter().all(|&x| x <= 1e-13 * res.s[0]),
            "{:?}",
            res.s
        );
        check(&[0.0; 12], 3, 4, SvdMethod::Gram);
        check(&[0.0; 12], 4, 3, SvdMethod::Gram);
        let mut dup = random(6, 5, 3);
        dup.extend_from_within(0..30);
        check(&dup, 12, 5, SvdMethod::Gram);
    }

    #[test]
    fn gram_and_direct_singular_values_agree() {
        let (m, n) = (120, 45);
        let a = random(m, n, 9);
        let g = check(&a, m, n, SvdMethod::Gram);
        let d = check(&a, m, n, SvdMethod::Direct);
        for (x, y) in g.s.iter().zip(&d.s) {
            assert!((x - y).abs() <= 1e-13 * d.s[0], "{x} vs {y}");
        }
    }

    /// A tall matrix takes the Gram product summed over row parts (and a wide one its
    /// transpose): accurate, and the same bits for any thread count.
    #[test]
    fn tall_gram_by_parts_is_accurate_and_thread_independent() {
        for (m, n) in [(8200, 30), (30, 8200)] {
            let a = random(m, n, 11);
            let seq = check(&a, m, n, SvdMethod::Gram);
            let direct = check(&a, m, n, SvdMethod::Direct);
            for (x, y) in seq.s.iter().zip(&direct.s) {
                assert!((x - y).abs() <= 1e-13 * direct.s[0], "{x} vs {y}");
            }
            for threads in [2, 3] {
                let pool = crate::par::build_pool(threads).unwrap();
                let par = svd(
                    MatRef::from_row_major_slice(&a, m, n),
                    None,
                    SvdMethod::Gram,
                    Par::Pool(&pool),
                )
                .unwrap();
                assert_eq!(par, seq, "{m}×{n} on {threads} threads");
            }
        }
    }

    #[test]
    fn extreme_scales_do_not_overflow() {
        let base = random(30, 8, 4);
        for scale in [1e-300, 1e-160, 1e160, 1e300] {
            let a: Vec<f64> = base.iter().map(|x| x * scale).collect();
            let r = check(&a, 30, 8, SvdMethod::Gram);
            assert!(r.s.iter().all(|s| s.is_finite()));
        }
    }

    #[test]
    fn column_major_input_and_truncation() {
        let (m, n) = (30, 12);
        let a = random(m, n, 5);
        let row = svd(
            MatRef::from_row_major_slice(&a, m, n),
            Some(4),
            SvdMethod::Gram,
            Par::Seq,
        );
        let t = MatRef::from_row_major_slice(&a, m, n)
            .transpose()
            .to_owned();
        let mut colmajor = vec![0.0; m * n];
        MatMut::from_column_major_slice_mut(&mut colmajor, n, m).copy_from(t.as_ref());
        let col = svd(
            MatRef::from_column_major_slice(&colmajor, n, m).transpose(),
            Some(4),
            SvdMethod::Gram,
            Par::Seq,
        );
        assert_eq!(row.unwrap().s.len(), 4);
        assert_eq!(col.unwrap().s.len(), 4);
    }

    #[test]
    fn non_finite_and_bad_k_are_errors() {
        let mut a = random(4, 3, 6);
        a[7] = f64::NAN;
        let err = svd(
            MatRef::from_row_major_slice(&a, 4, 3),
            None,
            SvdMethod::Gram,
            Par::Seq,
        );
        assert!(matches!(
            err,
            Err(FunkError::NonFiniteEntry { row: 2, col: 1, .. })
        ));
        let a = random(4, 3, 6);
        let err = svd(
            MatRef::from_row_major_slice(&a, 4, 3),
            Some(4),
            SvdMethod::Gram,
            Par::Seq,
        );
        assert!(matches!(
            err,
            Err(FunkError::InvalidParam { name: "k", .. })
        ));
    }
}
