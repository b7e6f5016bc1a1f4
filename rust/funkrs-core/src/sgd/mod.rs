//! Funk SVD trained by stochastic gradient descent on the observed ratings only.
//!
//! The model predicts $\hat r_{ui} = \mu + b_u + b_i + p_u^\top q_i$ (biased, the default) or
//! $\hat r_{ui} = p_u^\top q_i$ (unbiased) and minimises
//! $\sum_{(u,i)} (r_{ui} - \hat r_{ui})^2 + \lambda (b_u^2 + b_i^2 + \lVert p_u\rVert^2 + \lVert q_i\rVert^2)$
//! with Funk's per-rating updates, $e = r - \hat r$:
//! $b_u \mathrel{+}= \eta (e - \lambda b_u)$, $p_u \mathrel{+}= \eta (e q_i - \lambda p_u)$,
//! $q_i \mathrel{+}= \eta (e p_u - \lambda q_i)$ (the old $p_u$ in the update of $q_i$).
//!
//! Parallelism follows DSGD/FPSGD: users and items are split into `B` groups each (from the
//! seed), the ratings into the `B × B` blocks of that grid, and an epoch walks `B` strata; the
//! blocks of one stratum share no user and no item, so they run concurrently without races.
//! The grid and every order are drawn from the seed, never from the thread count, so a seed
//! gives bit-identical factors for any number of threads.

mod grid;
mod kernel;

use std::time::Instant;

use grid::Grid;

use crate::data::Interactions;
use crate::par::Par;
use crate::rng::Rng;
use crate::FunkError;

/// Hyperparameters of [`fit`]; names and defaults follow Surprise's `SVD`.
#[derive(Clone, Debug, PartialEq)]
pub struct SgdParams {
    /// Number of latent factors `k`.
    pub n_factors: usize,
    /// Number of passes over the ratings.
    pub n_epochs: usize,
    /// Learning rate `η`.
    pub lr: f32,
    /// L2 regularisation `λ`.
    pub reg: f32,
    /// Standard deviation of the normal initialisation of the factors.
    pub init_std: f32,
    /// Mean of the normal initialisation of the factors.
    pub init_mean: f32,
    /// Whether to learn `μ`, `b_u` and `b_i`.
    pub biased: bool,
    /// Seed of every random choice (initialisation, grid, orders).
    pub seed: u64,
    /// Grid size `B`; `None` picks one from the data size (never from the thread count).
    pub n_blocks: Option<usize>,
    /// Visit the users of each block in a fresh seeded order every epoch (slower: the
    /// ratings are then no longer streamed in memory order). By default the order is drawn
    /// once and epochs differ by their seeded stratum order.
    pub reshuffle: bool,
}

impl Default for SgdParams {
    fn default() -> Self {
        SgdParams {
            n_factors: 100,
            n_epochs: 20,
            lr: 0.005,
            reg: 0.02,
            init_std: 0.1,
            init_mean: 0.0,
            biased: true,
            seed: 0,
            n_blocks: None,
            reshuffle: false,
        }
    }
}

fn invalid(name: &'static str, reason: impl Into<String>) -> FunkError {
    FunkError::InvalidParam {
        name,
        reason: reason.into(),
    }
}

impl SgdParams {
    /// Checks every field, naming the first one that is out of range.
    pub fn validate(&self) -> Result<(), FunkError> {
        if self.n_factors == 0 {
            return Err(invalid("n_factors", "must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(invalid(
                "lr",
                format!("must be a positive number, got {}", self.lr),
            ));
        }
        if !(self.reg.is_finite() && self.reg >= 0.0) {
            return Err(invalid("reg", format!("must be >= 0, got {}", self.reg)));
        }
        if !(self.init_std.is_finite() && self.init_std >= 0.0) {
            return Err(invalid(
                "init_std",
                format!("must be >= 0, got {}", self.init_std),
            ));
        }
        if !self.init_mean.is_finite() {
            return Err(invalid("init_mean", "must be finite"));
        }
        if self.n_blocks == Some(0) {
            return Err(invalid("n_blocks", "must be at least 1"));
        }
        Ok(())
    }
}

/// Statistics of one finished epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// RMSE of the errors seen during the epoch (before each update).
    pub train_rmse: f64,
    /// Wall-clock seconds the epoch took.
    pub seconds: f64,
}

/// Hooks the driver calls from the thread that called [`fit`].
pub trait Monitor {
    /// Called between strata (a few dozen times per epoch); an error stops training.
    fn check(&mut self) -> Result<(), FunkError> {
        Ok(())
    }
    /// Called after every epoch; an error stops training.
    fn on_epoch(&mut self, _stats: &EpochStats) -> Result<(), FunkError> {
        Ok(())
    }
}

/// A [`Monitor`] that never stops anything.
pub struct NoMonitor;
impl Monitor for NoMonitor {}

/// Trained model: row-major factor matrices plus biases.
#[derive(Clone, Debug, PartialEq)]
pub struct Factors {
    /// Number of factors `k`.
    pub n_factors: usize,
    /// `n_users × k`, row-major.
    pub user_factors: Vec<f32>,
    /// `n_items × k`, row-major.
    pub item_factors: Vec<f32>,
    /// `b_u` (zeros when unbiased).
    pub user_bias: Vec<f32>,
    /// `b_i` (zeros when unbiased).
    pub item_bias: Vec<f32>,
    /// Mean training rating `μ` (the fallback prediction even when unbiased).
    pub global_mean: f32,
    /// Whether `μ + b_u + b_i` enters predictions of known pairs.
    pub biased: bool,
    /// One entry per finished epoch.
    pub history: Vec<EpochStats>,
}

/// Picks the grid size from the data alone: about 20k ratings per block, at most 32 per side
/// (so that at k = 32 an item group's rows stay within L2 on large data).
fn grid_size(data: &Interactions<'_>) -> usize {
    let b = ((data.len() as f64 / 20_000.0).sqrt() as usize).clamp(1, 32);
    b.min(data.n_users).min(data.n_items).max(1)
}

/// Rounds `k` up to a multiple of 8 so that the inner loops run on whole SIMD lanes.
pub(crate) fn padded(k: usize) -> usize {
    k.div_ceil(8) * 8
}

/// Trains Funk SVD on `data`; see the module documentation for the model and the schedule.
pub fn fit(
    data: &Interactions<'_>,
    params: &SgdParams,
    par: Par<'_>,
    monitor: &mut dyn Monitor,
) -> Result<Factors, FunkError> {
    params.validate()?;
    if data.is_empty() {
        return Err(FunkError::Shape("cannot fit on zero ratings".into()));
    }
    let k = params.n_factors;
    let kp = padded(k);
    let mu = if params.biased {
        data.mean() as f32
    } else {
        0.0
    };
    let mut p = init_factors(data.n_users, k, params, 0);
    let mut q = init_factors(data.n_items, k, params, 1);
    let mut bu = vec![0.0f32; data.n_users];
    let mut bi = vec![0.0f32; data.n_items];
    let b = params.n_blocks.unwrap_or_else(|| grid_size(data));
    let grid = par.install(|| Grid::new(data, b, params.seed, params.reshuffle, par.is_parallel()));
    let mut history = Vec::with_capacity(params.n_epochs);
    let hp = kernel::Step {
        lr: params.lr,
        reg: params.reg,
        mu,
        biased: params.biased,
        kp,
    };
    for epoch in 1..=params.n_epochs {
        let start = Instant::now();
        let mut order_rng = Rng::stream(params.seed, 1000 + epoch as u64);
        let mut strata: Vec<usize> = (0..grid.b).collect();
        order_rng.shuffle(&mut strata);
        let mut sq = 0.0f64;
        for &s in &strata {
            let sq_s = grid.run_stratum(epoch, s, &mut p, &mut q, &mut bu, &mut bi, &hp, par);
            if !sq_s.is_finite() {
                return Err(FunkError::Diverged {
                    epoch,
                    loss: sq_s,
                    lr: params.lr,
                });
            }
            sq += sq_s;
            monitor.check()?;
        }
        let stats = EpochStats {
            epoch,
            train_rmse: (sq / data.len() as f64).sqrt(),
            seconds: start.elapsed().as_secs_f64(),
        };
        monitor.on_epoch(&stats)?;
        history.push(stats);
    }
    Ok(Factors {
        n_factors: k,
        user_factors: unpad(&p, k, kp),
        item_factors: unpad(&q, k, kp),
        user_bias: bu,
        item_bias: bi,
        global_mean: data.mean() as f32,
        biased: params.biased,
        history,
    })
}

/// Normal initial factors with the padding columns set to zero (they then stay zero).
fn init_factors(n_rows: usize, k: usize, params: &SgdParams, stream: u64) -> Vec<f32> {
    let kp = padded(k);
    let mut dense = vec![0.0f32; n_rows * k];
    Rng::stream(params.seed, stream).fill_normal(&mut dense, params.init_mean, params.init_std);
    let mut out = vec![0.0f32; n_rows * kp];
    for (dst, src) in out.chunks_exact_mut(kp).zip(dense.chunks_exact(k)) {
        dst[..k].copy_from_slice(src);
    }
    out
}

fn unpad(x: &[f32], k: usize, kp: usize) -> Vec<f32> {
    if k == kp {
        return x.to_vec();
    }
    x.chunks_exact(kp)
        .flat_map(|row| &row[..k])
        .copied()
        .collect()
}

#[cfg(test)]
mod tests;
