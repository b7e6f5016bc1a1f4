//! The parameters being trained, validation scoring and early stopping.

use rayon::prelude::*;

use super::aligned::AlignedF32;
use super::grid::Relabel;
use super::{padded, EpochStats, Factors, SgdParams};
use crate::data::Interactions;
use crate::par::Par;
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
    /// `μ` inside predictions of known pairs (0 when unbiased).
    pub mu: f32,
}

impl State {
    /// Seeded normal factors (drawn in the caller's id order, stored by internal id), zero
    /// biases.
    pub fn new(data: &Interactions<'_>, params: &SgdParams, relabel: &Relabel) -> Self {
        let k = params.n_factors;
        let kp = padded(k);
        State {
            p: init_factors(&relabel.user, k, params, 0),
            q: init_factors(&relabel.item, k, params, 1),
            bu: vec![0.0; data.n_users],
            bi: vec![0.0; data.n_items],
            k,
            kp,
            mu: if params.biased {
                data.mean() as f32
            } else {
                0.0
            },
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
        Factors {
            n_factors: self.k,
            user_factors: Relabel::gather(&relabel.user, &self.p, self.kp, self.k),
            item_factors: Relabel::gather(&relabel.item, &self.q, self.kp, self.k),
            user_bias: Relabel::gather(&relabel.user, &self.bu, 1, 1),
            item_bias: Relabel::gather(&relabel.item, &self.bi, 1, 1),
            global_mean: data.mean() as f32,
            biased: params.biased,
            history,
            best_epoch,
        }
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

/// Normal initial factors with the padding columns set to zero (they then stay zero): row
/// `x` of the caller's numbering gets the `x`-th draws of the stream and is stored at row
/// `map[x]`.
fn init_factors(map: &[u32], k: usize, params: &SgdParams, stream: u64) -> AlignedF32 {
    let kp = padded(k);
    let mut out = AlignedF32::zeros(map.len() * kp);
    let mut rng = Rng::stream(params.seed, stream);
    for &row in map {
        let at = row as usize * kp;
        rng.fill_normal(&mut out[at..at + k], params.init_mean, params.init_std);
    }
    out
}
