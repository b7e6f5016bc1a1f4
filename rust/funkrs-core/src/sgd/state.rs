//! The parameters being trained, validation scoring and early stopping.

use rayon::prelude::*;

use super::aligned::AlignedF32;
use super::layout::Relabel;
use super::units::Units;
use super::{padded, EpochStats, Factors, SgdParams};
use crate::data::Interactions;
use crate::par::{Disjoint, Par};
use crate::rng::Rng;
use crate::FunkError;

/// Held-out ratings scored after every epoch. Ids are inner ids of the training data;
/// a negative id (unknown at fit time) is predicted by the baseline fallback.
#[derive(Clone, Copy, Debug)]
pub struct Validation<'a> {
    /// User per rating.
    pub users: &'a [i64],
    /// Item per rating.
    pub items: &'a [i64],
    /// Ratings.
    pub ratings: &'a [f32],
    /// Clip predictions to `[lo, hi]` before scoring (as `predict` does).
    pub clip: Option<(f32, f32)>,
}

impl Validation<'_> {
    pub(crate) fn validate(&self, n_users: usize, n_items: usize) -> Result<(), FunkError> {
        if self.users.len() != self.items.len() || self.users.len() != self.ratings.len() {
            return Err(FunkError::Shape(
                "validation users, items and ratings differ in length".into(),
            ));
        }
        if self.ratings.is_empty() {
            return Err(FunkError::Shape("the validation set is empty".into()));
        }
        for (what, ids, size) in [
            ("validation user", self.users, n_users),
            ("validation item", self.items, n_items),
        ] {
            if let Some(position) = ids.iter().position(|&x| x >= size as i64) {
                return Err(FunkError::IndexOutOfRange {
                    what,
                    index: ids[position] as u64,
                    position,
                    size,
                });
            }
        }
        if let Some(position) = self.ratings.iter().position(|r| !r.is_finite()) {
            return Err(FunkError::NonFinite {
                what: "validation rating",
                position,
                value: f64::from(self.ratings[position]),
            });
        }
        Ok(())
    }
}

/// Early-stopping rule: stop after `patience` epochs without a validation RMSE at least
/// `min_delta` below the best so far; the best epoch's parameters are kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    /// Epochs to wait for an improvement.
    pub patience: usize,
    /// Smallest decrease of the validation RMSE that counts as an improvement.
    pub min_delta: f64,
}

impl EarlyStopping {
    pub(crate) fn validate(&self, has_validation: bool) -> Result<(), FunkError> {
        if !has_validation {
            return Err(FunkError::InvalidParam {
                name: "patience",
                reason: "early stopping needs validation ratings".into(),
            });
        }
        if self.patience == 0 {
            return Err(FunkError::InvalidParam {
                name: "patience",
                reason: "must be at least 1".into(),
            });
        }
        if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
            return Err(FunkError::InvalidParam {
                name: "min_delta",
                reason: format!("must be >= 0, got {}", self.min_delta),
            });
        }
        Ok(())
    }
}

/// Padded factor rows (`kp` floats each, the padding stays zero) and biases, indexed by
/// internal ids (see [`Relabel`]).
#[derive(Clone)]
pub(crate) struct State {
    pub p: AlignedF32,
    pub q: AlignedF32,
    pub bu: Vec<f32>,
    pub bi: Vec<f32>,
    pub k: usize,
    pub kp: usize,
    /// `μ` inside predictions of known pairs (0 when unbiased), in training units.
    pub mu: f32,
    /// The training units the parameters are in.
    pub units: Units,
}

impl State {
    /// Seeded normal factors (see [`init_factors`]), zero biases.
    pub fn new(
        data: &Interactions<'_>,
        params: &SgdParams,
        relabel: &Relabel,
        units: Units,
        par: Par<'_>,
    ) -> Self {
        let k = params.n_factors;
        let kp = padded(k);
        let [p, q] = init_factors([&relabel.user, &relabel.item], k, params, par);
        State {
            p,
            q,
            bu: vec![0.0; data.n_users],
            bi: vec![0.0; data.n_items],
            k,
            kp,
            mu: if params.biased {
                units.to_model(data.mean() as f32)
            } else {
                0.0
            },
            units,
        }
    }

    /// RMSE on `v` (caller's ids), summed in fixed chunks so the result does not depend on
    /// the threads.
    pub fn rmse(&self, v: &Validation<'_>, biased: bool, relabel: &Relabel, par: Par<'_>) -> f64 {
        const CHUNK: usize = 1 << 14;
        let fallback = if biased { self.mu } else { 0.0 };
        let inner = |x: i64, map: &[u32]| usize::try_from(x).ok().map(|x| map[x] as usize);
        let one = |j: usize| -> f64 {
            let (u, i) = (v.users[j], v.items[j]);
            let mut pred = match (inner(u, &relabel.user), inner(i, &relabel.item)) {
                (Some(u), Some(i)) => {
                    let pu = &self.p[u * self.kp..u * self.kp + self.k];
                    let qi = &self.q[i * self.kp..i * self.kp + self.k];
                    let dot: f32 = pu.iter().zip(qi).map(|(a, b)| a * b).sum();
                    if biased {
                        self.mu + self.bu[u] + self.bi[i] + dot
                    } else {
                        dot
                    }
                }
                (Some(u), None) => fallback + self.bu[u],
                (None, Some(i)) => fallback + self.bi[i],
                (None, None) => fallback,
            };
            pred = self.units.to_ratings(pred);
            if let Some((lo, hi)) = v.clip {
                pred = pred.clamp(lo, hi);
            }
            f64::from(v.ratings[j] - pred).powi(2)
        };
        let n = v.ratings.len();
        let chunk_sum = |c: usize| (c * CHUNK..((c + 1) * CHUNK).min(n)).map(one).sum::<f64>();
        let n_chunks = n.div_ceil(CHUNK);
        let sums: Vec<f64> = if par.is_parallel() {
            par.install(|| (0..n_chunks).into_par_iter().map(chunk_sum).collect())
        } else {
            (0..n_chunks).map(chunk_sum).collect()
        };
        (sums.iter().sum::<f64>() / n as f64).sqrt()
    }

    /// Unpadded factors in the caller's id order, plus metadata.
    pub fn into_factors(
        self,
        data: &Interactions<'_>,
        params: &SgdParams,
        relabel: &Relabel,
        history: Vec<EpochStats>,
        best_epoch: Option<usize>,
    ) -> Factors {
        let mut f = Factors {
            n_factors: self.k,
            user_factors: Relabel::gather(&relabel.user, &self.p, self.kp, self.k),
            item_factors: Relabel::gather(&relabel.item, &self.q, self.kp, self.k),
            user_bias: Relabel::gather(&relabel.user, &self.bu, 1, 1),
            item_bias: Relabel::gather(&relabel.item, &self.bi, 1, 1),
            global_mean: data.mean() as f32,
            biased: params.biased,
            history,
            best_epoch,
        };
        // Back to the ratings' units: each side of the dot product takes √s.
        let (root, s) = (self.units.scale.sqrt(), self.units.scale);
        Units::rescale(&mut f.user_factors, root);
        Units::rescale(&mut f.item_factors, root);
        Units::rescale(&mut f.user_bias, s);
        Units::rescale(&mut f.item_bias, s);
        f
    }
}

/// Tracks the best validation RMSE and keeps a copy of the parameters that reached it.
pub(crate) struct Stopper {
    rule: EarlyStopping,
    best: Option<(usize, f64, State)>,
    waited: usize,
}

impl Stopper {
    pub fn new(rule: EarlyStopping) -> Self {
        Stopper {
            rule,
            best: None,
            waited: 0,
        }
    }

    /// Records epoch `epoch`'s validation RMSE; returns whether to stop.
    pub fn observe(&mut self, epoch: usize, rmse: f64, state: &State) -> bool {
        let improved = match &self.best {
            None => true,
            Some((_, best, _)) => rmse < best - self.rule.min_delta,
        };
        if improved {
            self.best = Some((epoch, rmse, state.clone()));
            self.waited = 0;
            false
        } else {
            self.waited += 1;
            self.waited >= self.rule.patience
        }
    }

    /// Puts the best parameters back into `state`; returns their epoch.
    pub fn finish(self, state: &mut State) -> Option<usize> {
        let (epoch, _, best) = self.best?;
        *state = best;
        Some(epoch)
    }
}

/// Rows per random stream of [`init_factors`].
const INIT_CHUNK: usize = 1024;

/// Normal initial factors of the users (`maps[0]`) and the items (`maps[1]`), with the
/// padding columns set to zero (they then stay zero).
///
/// Row `x` of the caller's numbering is stored at row `maps[m][x]`. Each matrix's rows are
/// drawn in chunks of [`INIT_CHUNK`] consecutive caller ids, chunk `c` of matrix `m` from its
/// own stream of the seed, so the chunks can be drawn on several threads and the values never
/// depend on how many. The chunks of both matrices go through one parallel loop (users
/// first), so that a matrix's last chunk does not leave the other threads idle.
fn init_factors(maps: [&[u32]; 2], k: usize, params: &SgdParams, par: Par<'_>) -> [AlignedF32; 2] {
    let kp = padded(k);
    let mut out = maps.map(|map| AlignedF32::zeros(map.len() * kp));
    let [users, items] = &mut out;
    let rows = [Disjoint::new(users), Disjoint::new(items)];
    let chunks: Vec<(usize, usize, &[u32])> = maps
        .iter()
        .enumerate()
        .flat_map(|(m, map)| {
            map.chunks(INIT_CHUNK)
                .enumerate()
                .map(move |(c, ids)| (m, c, ids))
        })
        .collect();
    let draw = |&(m, c, ids): &(usize, usize, &[u32])| {
        let mut rng = Rng::stream(params.seed, ((m as u64 + 1) << 32) | c as u64);
        for &row in ids {
            // SAFETY: `maps[m]` is a permutation of `0..maps[m].len()`, so every chunk writes
            // its own rows of matrix `m`, each inside the buffer.
            let row = unsafe { rows[m].slice(row as usize * kp, k) };
            rng.fill_normal(row, params.init_mean, params.init_std);
        }
    };
    if par.is_parallel() {
        par.install(|| chunks.par_iter().for_each(draw));
    } else {
        chunks.iter().for_each(draw);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{init_factors, Par, SgdParams, INIT_CHUNK};
    use crate::rng::Rng;

    /// The initial factors do not depend on the threads, row `x` lands at `map[x]` with its
    /// padding zero, and the chunks and the two matrices draw from different streams.
    #[test]
    fn initial_factors_are_the_same_on_any_threads() {
        let n = 3 * INIT_CHUNK + 17;
        let mut map: Vec<u32> = (0..n as u32).collect();
        Rng::new(4).shuffle(&mut map);
        let users: Vec<u32> = (0..40).rev().collect();
        let params = SgdParams {
            n_factors: 5,
            seed: 9,
            ..SgdParams::surprise()
        };
        let seq = init_factors([&users, &map], 5, &params, Par::Seq);
        let pool = crate::par::build_pool(2).unwrap();
        let par = init_factors([&users, &map], 5, &params, Par::Pool(&pool));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for m in 0..2 {
            assert_eq!(bits(&seq[m]), bits(&par[m]), "matrix {m}");
        }
        let row = |x: usize| &seq[1][map[x] as usize * 8..map[x] as usize * 8 + 8];
        for x in [0, INIT_CHUNK - 1, INIT_CHUNK, n - 1] {
            assert!(row(x)[..5].iter().all(|v| *v != 0.0) && row(x)[5..] == [0.0; 3]);
        }
        // The first rows of two chunks differ (distinct streams).
        assert_ne!(row(0), row(INIT_CHUNK));
        // The users' row 0 is stored at its mapped place, and with one map for both, the
        // users' matrix (stream family 0) differs from the items' (family 1).
        let user_row = |x: usize| &seq[0][users[x] as usize * 8..users[x] as usize * 8 + 8];
        assert!(user_row(0)[..5].iter().all(|v| *v != 0.0) && user_row(0)[5..] == [0.0; 3]);
        let [a, b] = init_factors([&map, &map], 5, &params, Par::Seq);
        assert_ne!(bits(&a), bits(&b));
        assert_eq!(bits(&b), bits(&seq[1]));
    }
}
