//! Fold-in: factors for new users against fixed item factors, by ridge least squares.
//!
//! For a user with ratings $r_{ui}$, $i \in I_u$, solve
//! $\min_{p, b} \sum_{i \in I_u} (r_{ui} - \mu - b_i - b - p^\top q_i)^2 + \lambda |I_u| (\lVert p\rVert^2 + b^2)$
//! (the regularisation that SGD applies once per rating, summed), i.e. the normal equations
//! $(X^\top X + \lambda |I_u| I) w = X^\top y$ with rows $x_i = (q_i, 1)$ and
//! $y_i = r_{ui} - \mu - b_i$. Unbiased models drop the bias column and $\mu + b_i$.
//! Each system is solved by Cholesky in f64, users in parallel.

use rayon::prelude::*;

use crate::par::Par;
use crate::predict::ModelView;
use crate::FunkError;

/// New users' ratings: user `u`'s items are `items[indptr[u]..indptr[u + 1]]` (inner item
/// ids of the model) with ratings `ratings[...]`.
#[derive(Clone, Copy, Debug)]
pub struct UserRatings<'a> {
    /// Row offsets, one more than the number of users.
    pub indptr: &'a [u64],
    /// Item per rating.
    pub items: &'a [u32],
    /// Ratings.
    pub ratings: &'a [f32],
}

/// Factors (`n × k`, row-major) and biases of the folded-in users.
pub fn fold_in(
    model: &ModelView<'_>,
    data: &UserRatings<'_>,
    reg: f32,
    par: Par<'_>,
) -> Result<(Vec<f32>, Vec<f32>), FunkError> {
    model.validate()?;
    let n = data.indptr.len().saturating_sub(1);
    let ok = !data.indptr.is_empty()
        && data.indptr.windows(2).all(|w| w[0] <= w[1])
        && data.indptr[n] as usize == data.items.len()
        && data.items.len() == data.ratings.len();
    if !ok {
        return Err(FunkError::Shape("malformed fold-in ratings index".into()));
    }
    crate::data::check_ids("item", data.items, model.n_items())?;
    if !(reg.is_finite() && reg > 0.0) {
        return Err(FunkError::InvalidParam {
            name: "reg",
            reason: format!("fold-in needs reg > 0, got {reg}"),
        });
    }
    let k = model.k;
    let mut p = vec![0.0f32; n * k];
    let mut b = vec![0.0f32; n];
    let solve = |(u, (pu, bu)): (usize, (&mut [f32], &mut f32))| {
        let (lo, hi) = (data.indptr[u] as usize, data.indptr[u + 1] as usize);
        solve_user(
            model,
            &data.items[lo..hi],
            &data.ratings[lo..hi],
            reg,
            pu,
            bu,
        );
    };
    if par.is_parallel() {
        par.install(|| {
            p.par_chunks_mut(k.max(1))
                .zip(b.par_iter_mut())
                .enumerate()
                .for_each(solve);
        });
    } else {
        p.chunks_mut(k.max(1))
            .zip(b.iter_mut())
            .enumerate()
            .for_each(solve);
    }
    Ok((p, b))
}

fn solve_user(
    m: &ModelView<'_>,
    items: &[u32],
    ratings: &[f32],
    reg: f32,
    pu: &mut [f32],
    bu: &mut f32,
) {
    if items.is_empty() {
        return; // no known items: zero factors and bias, i.e. the baseline
    }
    let k = m.k;
    let d = if m.biased { k + 1 } else { k };
    let mut a = vec![0.0f64; d * d];
    let mut rhs = vec![0.0f64; d];
    let mut x = vec![0.0f64; d];
    for (&i, &r) in items.iter().zip(ratings) {
        let i = i as usize;
        for (xf, &q) in x.iter_mut().zip(&m.item_factors[i * k..(i + 1) * k]) {
            *xf = f64::from(q);
        }
        let mut y = f64::from(r);
        if m.biased {
            x[k] = 1.0;
            y -= f64::from(m.global_mean + m.item_bias[i]);
        }
        for row in 0..d {
            rhs[row] += x[row] * y;
            for col in 0..=row {
                a[row * d + col] += x[row] * x[col];
            }
        }
    }
    let lambda = f64::from(reg) * items.len() as f64;
    for j in 0..d {
        a[j * d + j] += lambda;
    }
    cholesky_solve(&mut a, &mut rhs, d);
    for (dst, &v) in pu.iter_mut().zip(&rhs) {
        *dst = v as f32;
    }
    if m.biased {
        *bu = rhs[k] as f32;
    }
}

/// Solves `A w = b` in place for symmetric positive definite `A` (lower triangle used).
fn cholesky_solve(a: &mut [f64], b: &mut [f64], d: usize) {
    for j in 0..d {
        let mut s = a[j * d + j];
        for t in 0..j {
            s -= a[j * d + t] * a[j * d + t];
        }
        // λ > 0 keeps the matrix positive definite; the floor guards against round-off.
        let ljj = s.max(f64::MIN_POSITIVE).sqrt();
        a[j * d + j] = ljj;
        for i in j + 1..d {
            let mut s = a[i * d + j];
            for t in 0..j {
                s -= a[i * d + t] * a[j * d + t];
            }
            a[i * d + j] = s / ljj;
        }
    }
    for i in 0..d {
        let mut s = b[i];
        for t in 0..i {
            s -= a[i * d + t] * b[t];
        }
        b[i] = s / a[i * d + i];
    }
    for i in (0..d).rev() {
        let mut s = b[i];
        for t in i + 1..d {
            s -= a[t * d + i] * b[t];
        }
        b[i] = s / a[i * d + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_user_from_exact_ratings() {
        // Items span the space; the user's true factors and bias are recovered as reg → 0.
        let k = 3;
        let q: Vec<f32> = vec![
            1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.5, -1.0, 2.0,
        ];
        let bi = vec![0.1, -0.2, 0.0, 0.3, 0.05];
        let truth = [0.5f32, -1.0, 2.0];
        let bu_true = 0.25f32;
        let items: Vec<u32> = (0..5).collect();
        let ratings: Vec<f32> = items
            .iter()
            .map(|&i| {
                let i = i as usize;
                let dot: f32 = (0..k).map(|f| truth[f] * q[i * k + f]).sum();
                3.0 + bu_true + bi[i] + dot
            })
            .collect();
        let pu_dummy = vec![0.0f32; 0];
        let m = ModelView {
            k,
            user_factors: &pu_dummy,
            item_factors: &q,
            user_bias: &[],
            item_bias: &bi,
            global_mean: 3.0,
            biased: true,
        };
        let data = UserRatings {
            indptr: &[0, 5, 5],
            items: &items,
            ratings: &ratings,
        };
        let (p, b) = fold_in(&m, &data, 1e-7, Par::Seq).unwrap();
        for f in 0..k {
            assert!((p[f] - truth[f]).abs() < 1e-3, "{p:?}");
        }
        assert!((b[0] - bu_true).abs() < 1e-3);
        // The second user has no ratings: the baseline.
        assert_eq!(&p[k..], &[0.0, 0.0, 0.0]);
        assert!(b[1].abs() < f32::EPSILON);
        assert!(fold_in(&m, &data, 0.0, Par::Seq).is_err());
    }
}
