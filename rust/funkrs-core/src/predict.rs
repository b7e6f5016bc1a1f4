//! Batch prediction of `(user, item)` pairs with the unknown-id fallback.

use rayon::prelude::*;

use crate::hint::prefetch;
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

/// Predicts every pair; ids are inner ids, negative for unknown.
pub fn predict(
    model: &ModelView<'_>,
    users: &[i64],
    items: &[i64],
    opts: PredictOptions,
    par: Par<'_>,
) -> Result<Vec<f32>, FunkError> {
    model.validate()?;
    if users.len() != items.len() {
        return Err(FunkError::Shape(format!(
            "users and items must have the same length, got {} and {}",
            users.len(),
            items.len()
        )));
    }
    check_inner("user", users, model.n_users())?;
    check_inner("item", items, model.n_items())?;
    let one = |(&u, &i): (&i64, &i64)| {
        if opts.unknown_nan && (u < 0 || i < 0) {
            return f32::NAN;
        }
        let s = model.score(u, i);
        match opts.clip {
            Some((lo, hi)) => s.clamp(lo, hi),
            None => s,
        }
    };
    let mut out = vec![0.0f32; users.len()];
    let k = model.k;
    // Scores pairs `lo..lo + dst.len()`, prefetching the user row a few pairs ahead (user
    // rows are the large, cache-missing side).
    let run = |lo: usize, dst: &mut [f32]| {
        let (us, is) = (&users[lo..lo + dst.len()], &items[lo..lo + dst.len()]);
        for (j, d) in dst.iter_mut().enumerate() {
            if let (Some(&ua), Some(&ia)) = (us.get(j + 16), is.get(j + 16)) {
                for (id, rows) in [(ua, model.user_factors), (ia, model.item_factors)] {
                    if let Ok(id) = usize::try_from(id) {
                        let row = rows.as_ptr().wrapping_add(id * k);
                        // Every cache line of the row (16 floats each).
                        for off in (0..k).step_by(16) {
                            prefetch(row.wrapping_add(off));
                        }
                    }
                }
            }
            *d = one((&us[j], &is[j]));
        }
    };
    if par.is_parallel() && users.len() > PREDICT_CHUNK {
        par.install(|| {
            out.par_chunks_mut(PREDICT_CHUNK)
                .enumerate()
                .for_each(|(c, dst)| run(c * PREDICT_CHUNK, dst));
        });
    } else {
        run(0, &mut out);
    }
    Ok(out)
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

    fn model() -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        (
            vec![1.0, 2.0, 0.5, 0.5],
            vec![1.0, 1.0, 2.0, 0.0],
            vec![0.1, -0.1],
            vec![0.2, 0.3],
        )
    }

    #[test]
    fn scores_known_and_unknown_pairs() {
        let (p, q, bu, bi) = model();
        let m = ModelView {
            k: 2,
            user_factors: &p,
            item_factors: &q,
            user_bias: &bu,
            item_bias: &bi,
            global_mean: 3.0,
            biased: true,
        };
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
        let (p, q, bu, bi) = model();
        let m = ModelView {
            k: 2,
            user_factors: &p,
            item_factors: &q,
            user_bias: &bu,
            item_bias: &bi,
            global_mean: 3.0,
            biased: true,
        };
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
