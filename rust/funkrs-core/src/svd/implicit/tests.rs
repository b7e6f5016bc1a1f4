//! Tests of the imputed SVD against the dense computation.

use faer::{Mat, MatRef};

use super::lanczos::{gaussian, gaussian_block, orthonormalize_against};
use super::*;
use crate::rng::Rng;
use crate::svd::{svd, Svd, SvdMethod};
use crate::Par;

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
    let x = ImputedMatrix::new(&[0, 1], &[1, 0], &[0.0, 0.0], vec![0.0; 3], vec![0.0; 2]).unwrap();
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
