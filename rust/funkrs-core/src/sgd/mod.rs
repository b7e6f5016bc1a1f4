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
//! There is no barrier between strata: a block starts as soon as the previous blocks of its
//! user group and of its item group are done (`Grid::for_strata`), which gives every
//! parameter the same updates in the same order as walking the strata one by one.
//! The grid and every order are drawn from the seed, never from the thread count, so a seed
//! gives bit-identical factors for any number of threads.
//!
//! Inside a fit, users and items are renumbered group by group (see `grid::Relabel`), so the
//! rows and biases one block updates are contiguous and two concurrent blocks never write the
//! same cache line but at the edge of their ranges; factor rows are padded to a multiple of 8
//! floats and start on a cache line, so no 8-lane access is split.

mod aligned;
mod featurewise;
mod grid;
mod kernel;
mod layout;
mod negatives;
mod state;
mod units;
mod update;

use std::time::Instant;

pub(crate) use aligned::AlignedF32;
use grid::Grid;
pub(crate) use kernel::dot8;
#[cfg(target_arch = "x86_64")]
pub(crate) use kernel::fold_avx2;
use layout::{Entry, Relabel};
use negatives::Negatives;
pub use state::{EarlyStopping, Validation};
use state::{State, Stopper};
pub(crate) use units::Units;
pub use update::{update, Warm};

use crate::data::Interactions;
use crate::mem::Need;
use crate::par::Par;
use crate::rng::Rng;
use crate::FunkError;

/// How the factors are trained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Schedule {
    /// Every epoch updates all `k` factors of each pair (Surprise, LIBMF).
    #[default]
    Joint,
    /// Funk's original schedule: biases first, then factor 1 for `n_epochs` epochs, then
    /// factor 2, ... each against the cached prediction of the ones already trained.
    FeatureWise,
}

/// The library's defaults, defined once: [`SgdParams::default`] and the Python estimator
/// (through the extension module's `SGD_DEFAULTS`) both read them.
///
/// `lr`, `reg` and `init_std` are in standardised units ([`SgdParams::standardize`] is on),
/// so they mean the same on every rating scale; `benchmarks/tune_defaults.py` chose them on
/// the validation parts of generated shapes of five rating scales and MovieLens small.
/// [`SgdParams::surprise`] gives Surprise's `SVD()` settings instead.
pub mod defaults {
    /// [`super::SgdParams::n_factors`].
    pub const N_FACTORS: usize = 100;
    /// [`super::SgdParams::n_epochs`].
    pub const N_EPOCHS: usize = 20;
    /// [`super::SgdParams::lr`].
    pub const LR: f64 = 0.025;
    /// [`super::SgdParams::reg`].
    pub const REG: f64 = 0.035;
    /// [`super::SgdParams::init_std`].
    pub const INIT_STD: f64 = 0.005;
    /// [`super::SgdParams::standardize`].
    pub const STANDARDIZE: bool = true;
}

/// Hyperparameters of [`fit`]; the names follow Surprise's `SVD`, the defaults are
/// [`defaults`].
#[derive(Clone, Debug, PartialEq)]
pub struct SgdParams {
    /// Number of latent factors `k`.
    pub n_factors: usize,
    /// Number of passes over the ratings (per factor with [`Schedule::FeatureWise`]).
    pub n_epochs: usize,
    /// Learning rate `η`.
    pub lr: f32,
    /// Learning-rate decay: epoch `t` (1-based) uses `η / (1 + lr_decay · (t − 1))`;
    /// 0 keeps it constant (Surprise's behaviour).
    pub lr_decay: f32,
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
    /// Joint (default) or Funk's feature-at-a-time schedule.
    pub schedule: Schedule,
    /// The ranking objective: per rating and epoch, this many unobserved pairs of the same
    /// user, drawn afresh every epoch, are trained towards `negative_target` (see the
    /// `negatives` module); 0 (the default) trains on the observed ratings only.
    pub negative_ratio: f32,
    /// The value the sampled unobserved pairs are trained towards (in the ratings' units).
    pub negative_target: f32,
    /// Train in standardised units (see the `units` module): `lr`, `reg` and `init_std`
    /// then mean the same on every rating scale. The factors, biases and RMSEs returned are
    /// in the ratings' units either way.
    pub standardize: bool,
}

impl Default for SgdParams {
    fn default() -> Self {
        SgdParams {
            n_factors: defaults::N_FACTORS,
            n_epochs: defaults::N_EPOCHS,
            lr: defaults::LR as f32,
            lr_decay: 0.0,
            reg: defaults::REG as f32,
            init_std: defaults::INIT_STD as f32,
            init_mean: 0.0,
            biased: true,
            seed: 0,
            n_blocks: None,
            reshuffle: false,
            schedule: Schedule::Joint,
            negative_ratio: 0.0,
            negative_target: 0.0,
            standardize: defaults::STANDARDIZE,
        }
    }
}

impl SgdParams {
    /// Surprise's `SVD()` settings: `lr` 0.005, `reg` 0.02, `init_std` 0.1, trained in the
    /// ratings' own units.
    pub fn surprise() -> Self {
        SgdParams {
            lr: 0.005,
            reg: 0.02,
            init_std: 0.1,
            standardize: false,
            ..SgdParams::default()
        }
    }
}

impl SgdParams {
    /// Checks every field, naming the first one that is out of range.
    pub fn validate(&self) -> Result<(), FunkError> {
        if self.n_factors == 0 {
            return Err(FunkError::invalid("n_factors", "must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(FunkError::invalid(
                "lr",
                format!("must be a positive number, got {}", self.lr),
            ));
        }
        if !(self.lr_decay.is_finite() && self.lr_decay >= 0.0) {
            return Err(FunkError::invalid(
                "lr_decay",
                format!("must be >= 0, got {}", self.lr_decay),
            ));
        }
        if !(self.reg.is_finite() && self.reg >= 0.0) {
            return Err(FunkError::invalid(
                "reg",
                format!("must be >= 0, got {}", self.reg),
            ));
        }
        if !(self.init_std.is_finite() && self.init_std >= 0.0) {
            return Err(FunkError::invalid(
                "init_std",
                format!("must be >= 0, got {}", self.init_std),
            ));
        }
        if !self.init_mean.is_finite() {
            return Err(FunkError::invalid("init_mean", "must be finite"));
        }
        if !(self.negative_ratio.is_finite() && self.negative_ratio >= 0.0) {
            return Err(FunkError::invalid(
                "negatives",
                format!("must be a finite number >= 0, got {}", self.negative_ratio),
            ));
        }
        if !self.negative_target.is_finite() {
            return Err(FunkError::invalid("negative_target", "must be finite"));
        }
        if self.negative_ratio > 0.0 && self.schedule == Schedule::FeatureWise {
            return Err(FunkError::invalid(
                "negatives",
                "the ranking objective works with the joint schedule only",
            ));
        }
        if self.n_blocks == Some(0) {
            return Err(FunkError::invalid("n_blocks", "must be at least 1"));
        }
        Ok(())
    }

    /// Learning rate of 1-based epoch `t`.
    fn lr_at(&self, t: usize) -> f32 {
        self.lr / (1.0 + self.lr_decay * (t - 1) as f32)
    }
}

/// Statistics of one finished epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    /// 1-based epoch number (counted across factors with the feature-wise schedule).
    pub epoch: usize,
    /// The factor being trained (feature-wise schedule; `None` for the bias phase or the
    /// joint schedule).
    pub feature: Option<usize>,
    /// RMSE of the errors seen during the epoch (before each update).
    pub train_rmse: f64,
    /// RMSE on the validation ratings after the epoch, if any were given.
    pub validation_rmse: Option<f64>,
    /// Learning rate used.
    pub lr: f32,
    /// Wall-clock seconds the epoch took (validation included).
    pub seconds: f64,
}

/// Hooks the driver calls from the thread that called [`fit`].
pub trait Monitor {
    /// Called between runs of strata (about every 4M ratings at k = 32, fewer at larger k, and
    /// at least once per epoch); an error stops training.
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
    /// With early stopping: the epoch whose parameters these are.
    pub best_epoch: Option<usize>,
}

/// Optional inputs of [`fit_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct FitOptions<'a> {
    /// Held-out ratings scored after every epoch.
    pub validation: Option<Validation<'a>>,
    /// Stop when the validation RMSE stops improving and keep the best epoch.
    pub early_stopping: Option<EarlyStopping>,
}

/// Picks the grid size from the data alone (never from the thread count): about 1,000
/// ratings per block, at most 32 per side.
///
/// Small data still gets several blocks per stratum, so that two or more threads can share a
/// stratum evenly (on MovieLens small, 8 × 8 blocks instead of 2 × 2 took the fastest
/// two-thread epochs from 40 to 34 ms; one thread is indifferent); 32 per side keeps an item
/// group's rows within L2 at k = 32 on large data.
fn grid_size(data: &Interactions<'_>) -> usize {
    let b = ((data.len() as f64 / 1_000.0).sqrt() as usize).clamp(1, 32);
    b.min(data.n_users).min(data.n_items).max(1)
}

/// Rounds `k` up to a multiple of 8 so that the inner loops run on whole SIMD lanes.
pub(crate) fn padded(k: usize) -> usize {
    k.div_ceil(8) * 8
}

/// What a fit allocates: the grid (plus the negatives' grid), the padded factor rows while
/// training, and the unpadded factors it returns.
fn memory_need(data: &Interactions<'_>, params: &SgdParams) -> Need {
    let rows = (data.n_users + data.n_items) as u128;
    let k = params.n_factors as u128;
    let kp = padded(params.n_factors) as u128;
    let nnz = data.len() as u128;
    let negatives = (nnz as f64 * f64::from(params.negative_ratio.max(0.0))).ceil() as u128;
    let factors = || {
        format!(
            "the factors ({} users and {} items × {} factors)",
            data.n_users, data.n_items, params.n_factors
        )
    };
    Need::default()
        .add::<Entry>(nnz + negatives, || {
            format!("the training grid ({nnz} ratings)")
        })
        .add::<f32>(rows.saturating_mul(kp), factors)
        .add::<f32>(rows.saturating_mul(k), factors)
}

/// Trains Funk SVD on `data`; see the module documentation for the model and the schedule.
pub fn fit(
    data: &Interactions<'_>,
    params: &SgdParams,
    par: Par<'_>,
    monitor: &mut dyn Monitor,
) -> Result<Factors, FunkError> {
    fit_with(data, params, &FitOptions::default(), par, monitor)
}

/// [`fit`] with validation ratings and early stopping.
pub fn fit_with(
    data: &Interactions<'_>,
    params: &SgdParams,
    options: &FitOptions<'_>,
    par: Par<'_>,
    monitor: &mut dyn Monitor,
) -> Result<Factors, FunkError> {
    params.validate()?;
    if data.is_empty() {
        return Err(FunkError::Shape("cannot fit on zero ratings".into()));
    }
    if let Some(v) = &options.validation {
        v.validate(data.n_users, data.n_items)?;
    }
    if let Some(es) = &options.early_stopping {
        es.validate(options.validation.is_some())?;
        if params.schedule == Schedule::FeatureWise {
            return Err(FunkError::invalid(
                "patience",
                "early stopping works with the joint schedule only",
            ));
        }
    }
    memory_need(data, params).check("; use fewer factors")?;
    let b = params.n_blocks.unwrap_or_else(|| grid_size(data));
    let layout = kernel::segment_layout(padded(params.n_factors));
    let units = Units::of(data, params.biased, params.standardize);
    let grid = par.install(|| {
        Grid::in_units(
            data,
            b,
            params.seed,
            params.reshuffle,
            layout,
            par.is_parallel(),
            units,
        )
    });
    let negatives = (params.negative_ratio > 0.0).then(|| {
        par.install(|| {
            Negatives::new(
                data,
                &grid,
                params.negative_ratio,
                units.to_model(params.negative_target),
                params.seed,
                params.n_factors,
                par.is_parallel(),
            )
        })
    });
    let mut state = State::new(data, params, &grid.relabel, units, par);
    let mut run = Run {
        negatives: negatives.as_ref(),
        data,
        relabel: &grid.relabel,
        params,
        options,
        par,
        history: Vec::with_capacity(params.n_epochs),
        stopper: options.early_stopping.map(Stopper::new),
    };
    match params.schedule {
        Schedule::Joint => run.joint(&grid, &mut state, monitor)?,
        Schedule::FeatureWise => featurewise::train(&mut run, &grid, &mut state, monitor)?,
    }
    let best_epoch = match run.stopper.take() {
        Some(stopper) => stopper.finish(&mut state),
        None => None,
    };
    Ok(state.into_factors(data, params, &grid.relabel, run.history, best_epoch))
}

/// Passes a finite stratum loss through; a non-finite one is divergence.
pub(crate) fn check_loss(epoch: usize, sq: f64, lr: f32) -> Result<f64, FunkError> {
    if sq.is_finite() {
        Ok(sq)
    } else {
        Err(FunkError::Diverged {
            epoch,
            loss: sq,
            lr,
        })
    }
}

/// What one training run shares between its epochs.
pub(crate) struct Run<'a, 'd> {
    pub data: &'a Interactions<'d>,
    /// Caller's ids to the internal ids the grid and the state use.
    pub relabel: &'a Relabel,
    pub params: &'a SgdParams,
    pub options: &'a FitOptions<'a>,
    pub par: Par<'a>,
    pub history: Vec<EpochStats>,
    pub stopper: Option<Stopper>,
    /// Sampled unobserved pairs of the ranking objective.
    pub negatives: Option<&'a Negatives>,
}

impl Run<'_, '_> {
    /// The joint schedule: every epoch walks all strata in a seeded order.
    fn joint(
        &mut self,
        grid: &Grid,
        state: &mut State,
        monitor: &mut dyn Monitor,
    ) -> Result<(), FunkError> {
        for epoch in 1..=self.params.n_epochs {
            let start = Instant::now();
            let lr = self.params.lr_at(epoch);
            let step = kernel::Step {
                lr,
                reg: self.params.reg,
                mu: state.mu,
                biased: self.params.biased,
                kp: state.kp,
            };
            let mut sq = 0.0f64;
            let strata = self.strata(grid, epoch);
            for run in grid.runs(&strata, state.kp) {
                let negatives = self.negatives;
                for sq_s in grid.run_strata(epoch, run, state, &step, negatives, self.par) {
                    sq += check_loss(epoch, sq_s, lr)?;
                }
                monitor.check()?;
            }
            if self.end_epoch(epoch, None, sq, lr, start, state, monitor)? {
                break;
            }
        }
        Ok(())
    }

    /// The seeded order of strata of `epoch`.
    pub(crate) fn strata(&self, grid: &Grid, epoch: usize) -> Vec<usize> {
        let mut strata: Vec<usize> = (0..grid.b).collect();
        Rng::stream(self.params.seed, 1000 + epoch as u64).shuffle(&mut strata);
        strata
    }

    /// Validation, history, the monitor and early stopping; returns whether to stop.
    pub(crate) fn end_epoch(
        &mut self,
        epoch: usize,
        feature: Option<usize>,
        sq: f64,
        lr: f32,
        start: Instant,
        state: &mut State,
        monitor: &mut dyn Monitor,
    ) -> Result<bool, FunkError> {
        let validation_rmse = self
            .options
            .validation
            .as_ref()
            .map(|v| state.rmse(v, self.params.biased, self.relabel, self.par));
        let stats = EpochStats {
            epoch,
            feature,
            train_rmse: (sq / self.data.len() as f64).sqrt() * f64::from(state.units.scale),
            validation_rmse,
            lr,
            seconds: start.elapsed().as_secs_f64(),
        };
        monitor.on_epoch(&stats)?;
        self.history.push(stats);
        Ok(match (&mut self.stopper, validation_rmse) {
            (Some(stopper), Some(v)) => stopper.observe(epoch, v, state),
            _ => false,
        })
    }
}

#[cfg(test)]
mod tests;
