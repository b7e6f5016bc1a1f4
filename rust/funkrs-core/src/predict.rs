//! Batch prediction of `(user, item)` pairs with the unknown-id fallback.

use rayon::prelude::*;

use crate::hint::prefetch;
use crate::index::IdIndex;
use crate::par::Par;
use crate::FunkError;

/// Read-only view of a trained model's parameters.
#[derive(Clone, Copy, Debug)]
pub struct ModelView<'a> {
    /// Number of factors `k`.
    pub k: usize,
    /// `n_users × k`, row-major.
    pub user_factors: &'a [f32],
    /// `n_items × k`, row-major.
    pub item_factors: &'a [f32],
    /// `b_u`.
    pub user_bias: &'a [f32],
    /// `b_i`.
    pub item_bias: &'a [f32],
    /// `μ`.
    pub global_mean: f32,
    /// Whether `μ + b_u + b_i` enters predictions of known pairs.
    pub biased: bool,
}

impl ModelView<'_> {
    /// Number of users.
    pub fn n_users(&self) -> usize {
        self.user_bias.len()
    }
    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    /// Checks that the factor matrices agree with the bias vectors.
    pub fn validate(&self) -> Result<(), FunkError> {
        if self.user_factors.len() != self.n_users() * self.k
            || self.item_factors.len() != self.n_items() * self.k
        {
            return Err(FunkError::Shape(format!(
                "factor matrices ({} and {} values) do not match {} users, {} items and k={}",
                self.user_factors.len(),
                self.item_factors.len(),
                self.n_users(),
                self.n_items(),
                self.k
            )));
        }
        Ok(())
    }

    /// Prediction for inner ids; a negative id means unknown, which falls back to `μ` plus the
    /// bias that is known.
    #[inline]
    pub fn score(&self, u: i64, i: i64) -> f32 {
        let k = self.k;
        match (usize::try_from(u).ok(), usize::try_from(i).ok()) {
            (Some(u), Some(i)) => {
                let p = &self.user_factors[u * k..(u + 1) * k];
                let q = &self.item_factors[i * k..(i + 1) * k];
                let dot = dot(p, q);
                if self.biased {
                    self.global_mean + self.user_bias[u] + self.item_bias[i] + dot
                } else {
                    dot
                }
            }
            (Some(u), None) => self.global_mean + self.user_bias[u],
            (None, Some(i)) => self.global_mean + self.item_bias[i],
            (None, None) => self.global_mean,
        }
    }
}

/// Dot product with eight independent partial sums (vectorisable, short dependency chain).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Options of [`predict`].
#[derive(Clone, Copy, Debug, Default)]
pub struct PredictOptions {
    /// Clip predictions to `[lo, hi]`.
    pub clip: Option<(f32, f32)>,
    /// Return NaN for pairs with an unknown user or item instead of the baseline.
    pub unknown_nan: bool,
}

/// Pairs per parallel task in [`predict`].
const PREDICT_CHUNK: usize = 1 << 14;
/// Pairs whose ids are resolved at a time inside a task (the buffers stay in L1/L2).
const RESOLVE: usize = 1 << 10;
/// How many pairs ahead the factor rows are prefetched.
const AHEAD: usize = 16;

fn check_lengths(users: usize, items: usize) -> Result<(), FunkError> {
    if users != items {
        return Err(FunkError::Shape(format!(
            "users and items must have the same length, got {users} and {items}"
        )));
    }
    Ok(())
}

/// Predicts every pair; ids are inner ids, negative for unknown.
pub fn predict(
    model: &ModelView<'_>,
    users: &[i64],
    items: &[i64],
    opts: PredictOptions,
    par: Par<'_>,
) -> Result<Vec<f32>, FunkError> {
    model.validate()?;
    check_lengths(users.len(), items.len())?;
    check_inner("user", users, model.n_users())?;
    check_inner("item", items, model.n_items())?;
    Ok(score_pairs(model, users.len(), opts, par, |lo, u, i| {
        u.copy_from_slice(&users[lo..lo + u.len()]);
        i.copy_from_slice(&items[lo..lo + i.len()]);
    }))
}

/// Predicts every pair of *raw* integer ids, mapping them through the fitted indexes in the
/// same pass (no intermediate inner-id arrays); ids missing from an index are unknown.
pub fn predict_raw(
    model: &ModelView<'_>,
    users: &[i64],
    items: &[i64],
    user_index: &IdIndex,
    item_index: &IdIndex,
    opts: PredictOptions,
    par: Par<'_>,
) -> Result<Vec<f32>, FunkError> {
    model.validate()?;
    check_lengths(users.len(), items.len())?;
    if user_index.len() != model.n_users() || item_index.len() != model.n_items() {
        return Err(FunkError::Shape(format!(
            "the id indexes ({} users, {} items) do not match the model ({} users, {} items)",
            user_index.len(),
            item_index.len(),
            model.n_users(),
            model.n_items()
        )));
    }
    let inner = |index: &IdIndex, raw: &[i64], out: &mut [i64]| {
        for (o, &r) in out.iter_mut().zip(raw) {
            *o = index.get(r).map_or(-1, i64::from);
        }
    };
    Ok(score_pairs(model, users.len(), opts, par, |lo, u, i| {
        inner(user_index, &users[lo..lo + u.len()], u);
        inner(item_index, &items[lo..lo + i.len()], i);
    }))
}

/// Scores `n` pairs; `resolve(lo, users, items)` fills the inner ids (negative: unknown, else
/// in range) of pairs `lo..lo + users.len()`.
fn score_pairs<R>(
    model: &ModelView<'_>,
    n: usize,
    opts: PredictOptions,
    par: Par<'_>,
    resolve: R,
) -> Vec<f32>
where
    R: Fn(usize, &mut [i64], &mut [i64]) + Sync,
{
    let one = |u: i64, i: i64| {
        if opts.unknown_nan && (u < 0 || i < 0) {
            return f32::NAN;
        }
        let s = model.score(u, i);
        match opts.clip {
            Some((lo, hi)) => s.clamp(lo, hi),
            None => s,
        }
    };
    let k = model.k;
    let prefetch_row = |id: i64, rows: &[f32]| {
        if let Ok(id) = usize::try_from(id) {
            let row = rows.as_ptr().wrapping_add(id * k);
            // Every cache line of the row (16 floats each).
            for off in (0..k).step_by(16) {
                prefetch(row.wrapping_add(off));
            }
        }
    };
    // Scores pairs `lo..lo + dst.len()` a buffer of resolved ids at a time, prefetching the
    // rows a few pairs ahead (user rows are the large, cache-missing side).
    let run = |lo: usize, dst: &mut [f32]| {
        let mut us = [0i64; RESOLVE];
        let mut is = [0i64; RESOLVE];
        for (b, out) in dst.chunks_mut(RESOLVE).enumerate() {
            let m = out.len();
            let (us, is) = (&mut us[..m], &mut is[..m]);
            resolve(lo + b * RESOLVE, us, is);
            for j in 0..AHEAD.min(m) {
                prefetch_row(us[j], model.user_factors);
                prefetch_row(is[j], model.item_factors);
            }
            for (j, d) in out.iter_mut().enumerate() {
                if j + AHEAD < m {
                    prefetch_row(us[j + AHEAD], model.user_factors);
                    prefetch_row(is[j + AHEAD], model.item_factors);
                }
                *d = one(us[j], is[j]);
            }
        }
    };
    let mut out = vec![0.0f32; n];
    if par.is_parallel() && n > PREDICT_CHUNK {
        par.install(|| {
            out.par_chunks_mut(PREDICT_CHUNK)
                .enumerate()
                .for_each(|(c, dst)| run(c * PREDICT_CHUNK, dst));
        });
    } else {
        run(0, &mut out);
    }
    out
}

fn check_inner(what: &'static str, ids: &[i64], size: usize) -> Result<(), FunkError> {
    match ids.iter().position(|&x| x >= size as i64) {
        Some(position) => Err(FunkError::IndexOutOfRange {
            what,
            index: ids[position] as u64,
            position,
            size,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Factors, user biases and item biases of a 2-user, 2-item model with k = 2.
    type Params = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

    fn model() -> Params {
        (
            vec![1.0, 2.0, 0.5, 0.5],
            vec![1.0, 1.0, 2.0, 0.0],
            vec![0.1, -0.1],
            vec![0.2, 0.3],
        )
    }

    /// The biased view of `model()` with `μ = 3`.
    fn view((p, q, bu, bi): &Params) -> ModelView<'_> {
        ModelView {
            k: 2,
            user_factors: p,
            item_factors: q,
            user_bias: bu,
            item_bias: bi,
            global_mean: 3.0,
            biased: true,
        }
    }

    #[test]
    fn raw_ids_map_through_the_indexes_like_inner_ids() {
        let params = model();
        let m = view(&params);
        let users = IdIndex::new(&[70, 10]).unwrap();
        let items = IdIndex::new(&[5, -1_000_000_000_000]).unwrap();
        let n = 3 * PREDICT_CHUNK + 17; // several parallel tasks and a ragged end
        let raw_u: Vec<i64> = (0..n as i64)
            .map(|j| [70, 10, 99][j as usize % 3])
            .collect();
        let raw_i: Vec<i64> = (0..n as i64)
            .map(|j| [5, -1_000_000_000_000, 6, 5][j as usize % 4])
            .collect();
        let inner = |ix: &IdIndex, raw: &[i64]| -> Vec<i64> {
            raw.iter()
                .map(|&r| ix.get(r).map_or(-1, i64::from))
                .collect()
        };
        let opts = PredictOptions::default();
        let expected = predict(
            &m,
            &inner(&users, &raw_u),
            &inner(&items, &raw_i),
            opts,
            Par::Seq,
        )
        .unwrap();
        let pool = crate::par::build_pool(2).unwrap();
        for par in [Par::Seq, Par::Pool(&pool)] {
            let got = predict_raw(&m, &raw_u, &raw_i, &users, &items, opts, par).unwrap();
            assert_eq!(got, expected);
        }
        let wrong = IdIndex::new(&[1, 2, 3]).unwrap();
        assert!(predict_raw(&m, &raw_u, &raw_i, &wrong, &items, opts, Par::Seq).is_err());
    }

    #[test]
    fn scores_known_and_unknown_pairs() {
        let params = model();
        let m = view(&params);
        let out = predict(
            &m,
            &[0, 1, 0, -1, -1],
            &[1, 0, -1, 1, -1],
            PredictOptions::default(),
            Par::Seq,
        )
        .unwrap();
        let expected = [3.0 + 0.1 + 0.3 + 2.0, 3.0 - 0.1 + 0.2 + 1.0, 3.1, 3.3, 3.0];
        for (a, b) in out.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{out:?}");
        }
        let opts = PredictOptions {
            clip: Some((1.0, 5.0)),
            unknown_nan: true,
        };
        let out = predict(&m, &[0, 0], &[1, -1], opts, Par::Seq).unwrap();
        assert!((out[0] - 5.0).abs() < f32::EPSILON);
        assert!(out[1].is_nan());
    }

    #[test]
    fn rejects_ids_out_of_range() {
        let params = model();
        let m = view(&params);
        let err = predict(&m, &[0, 2], &[0, 0], PredictOptions::default(), Par::Seq).unwrap_err();
        assert!(matches!(
            err,
            FunkError::IndexOutOfRange {
                what: "user",
                position: 1,
                ..
            }
        ));
    }
}
