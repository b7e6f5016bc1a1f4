//! Biased non-negative matrix factorization by projected SGD:
//! $\hat r_{ui} = \mu + b_u + b_i + p_u^\top q_i$ with $p_u, q_i \ge 0$ at every step.
//!
//! Each rating's SGD step (the squared error plus `λ` times the squared norms, as
//! `funk-sgd`) is followed by the projection onto the constraint, `max(0, ·)` per factor, so
//! the factors are non-negative after every update, not only at the end.
//!
//! **Why projected SGD rather than multiplicative updates.** Lee and Seung's multiplicative
//! updates (Surprise's `NMF`) need non-negative targets: they cannot fit biases, whose
//! residuals have both signs, nor ratings below zero without a shift that changes what the
//! model means. Projected SGD fits the biases freely and keeps only the factors
//! non-negative, so any rating scale works (−10..10 too); it runs on the same seeded block
//! grid as `svdpp` (`crate::blocks`), so it is parallel and gives the same bits at any
//! thread count.
//!
//! **Scale-free.** Training uses `r' = (r − c)/s` (`c` the mean, `s` the standard deviation
//! of the training ratings) and maps back `μ = c`, `b = s b'`, `p = √s p'`, `q = √s q'`: the
//! scale `√s > 0` keeps the factors non-negative, so scale-freeness and the constraint combine
//! without a shift. The factors then say how much of each non-negative "part" a user likes
//! above the biases' baseline.

use crate::blocks::{
    check_common, dot, init_rows, n_groups, pad, padded, unpad, BlockGrid, Entry, SharedRows,
};
use crate::data::Interactions;
use crate::mem::Need;
use crate::par::Par;
use crate::sgd::Units;
use crate::svdpp::FittedFactors;
use crate::FunkError;

/// The defaults, defined once (the extension module's `NMF_DEFAULTS` reads them); `lr`, `reg`
/// and `init_high` are in standardised units. `benchmarks/tune_svdpp_nmf.py` chose them on the
/// training parts of the generated shapes and MovieLens small (at `k = 15`).
pub mod defaults {
    /// [`super::NmfParams::n_factors`] (Surprise's `NMF` default).
    pub const N_FACTORS: usize = 15;
    /// [`super::NmfParams::n_epochs`].
    pub const N_EPOCHS: usize = 20;
    /// [`super::NmfParams::lr`].
    pub const LR: f64 = 0.02;
    /// [`super::NmfParams::reg`].
    pub const REG: f64 = 0.02;
    /// [`super::NmfParams::init_high`].
    pub const INIT_HIGH: f64 = 0.1;
}

/// Hyperparameters of [`fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct NmfParams {
    /// Number of latent factors `k`.
    pub n_factors: usize,
    /// Passes over the ratings.
    pub n_epochs: usize,
    /// Learning rate `η` (standardised units).
    pub lr: f32,
    /// L2 regularisation `λ` of factors and biases.
    pub reg: f32,
    /// Initial factors are uniform in `[0, init_high)` (standardised units).
    pub init_high: f32,
    /// Seed of the grid, the orders and the initial factors.
    pub seed: u64,
}

impl Default for NmfParams {
    fn default() -> Self {
        NmfParams {
            n_factors: defaults::N_FACTORS,
            n_epochs: defaults::N_EPOCHS,
            lr: defaults::LR as f32,
            reg: defaults::REG as f32,
            init_high: defaults::INIT_HIGH as f32,
            seed: 0,
        }
    }
}

impl NmfParams {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), FunkError> {
        check_common(self.n_factors, self.lr, self.reg)?;
        if !(self.init_high.is_finite() && self.init_high > 0.0) {
            return Err(FunkError::InvalidParam {
                name: "init_high",
                reason: format!("must be a finite number > 0, got {}", self.init_high),
            });
        }
        Ok(())
    }
}

struct Shared<'a> {
    p: SharedRows<'a>,
    q: SharedRows<'a>,
    bu: SharedRows<'a>,
    bi: SharedRows<'a>,
}

/// Projected SGD over one block's ratings; returns their squared error (before each update).
#[inline(always)]
#[allow(clippy::inline_always)] // inlined into the AVX2 copy
fn run_block(block: &[Entry], s: &Shared<'_>, lr: f32, reg: f32) -> f64 {
    let mut sse = 0f64;
    for e in block {
        let (u, i) = (e.u as usize, e.i as usize);
        // SAFETY: the blocks of a stratum share no user and no item (the grid), and this
        // block runs on one thread.
        let (p, bu, q, bi) = unsafe { (s.p.row(u), s.bu.row(u), s.q.row(i), s.bi.row(i)) };
        let err = e.r - (bu[0] + bi[0] + dot(p, q));
        sse += f64::from(err) * f64::from(err);
        bu[0] += lr * (err - reg * bu[0]);
        bi[0] += lr * (err - reg * bi[0]);
        for (pf, qf) in p.iter_mut().zip(q.iter_mut()) {
            let (a, b) = (*pf, *qf);
            *pf = (a + lr * (err * b - reg * a)).max(0.0);
            *qf = (b + lr * (err * a - reg * b)).max(0.0);
        }
    }
    sse
}

/// [`run_block`] compiled for AVX2: the same operations in the same order, so the same bits.
///
/// # Safety
/// The CPU supports AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_block_avx2(block: &[Entry], s: &Shared<'_>, lr: f32, reg: f32) -> f64 {
    run_block(block, s, lr, reg)
}

/// Fits the biased NMF of the module docs on `data`; `check` runs on the calling thread
/// before every stratum (an error from it, such as Ctrl-C, stops the fit).
pub fn fit(
    data: &Interactions<'_>,
    params: &NmfParams,
    par: Par<'_>,
    check: &mut dyn FnMut() -> Result<(), FunkError>,
) -> Result<FittedFactors, FunkError> {
    params.validate()?;
    if data.is_empty() {
        return Err(FunkError::Shape("cannot fit on zero ratings".into()));
    }
    let k = params.n_factors;
    let kp = padded(k);
    let (nu, ni) = (data.n_users, data.n_items);
    let nnz = data.len() as u128;
    Need::default()
        .add::<f32>(((nu + ni) as u128).saturating_mul(k as u128), || {
            format!("the factors ({nu} users and {ni} items × {k} factors)")
        })
        .add::<u32>(nnz.saturating_mul(4), || {
            format!("the ratings by block ({nnz} ratings)")
        })
        .check("; use fewer factors")?;
    let units = Units::of(data, true, true);
    let grid = BlockGrid::new(data, n_groups(data.len(), nu, ni), params.seed, |r| {
        units.to_model(r)
    });
    let high = f64::from(params.init_high);
    let uniform = |rng: &mut crate::rng::Rng, c: &mut [f32]| {
        for x in c {
            *x = (rng.next_f64() * high) as f32;
        }
    };
    let mut p = pad(&init_rows(nu, k, params.seed, 1, par, uniform), k, kp);
    let mut q = pad(&init_rows(ni, k, params.seed, 2, par, uniform), k, kp);
    let (mut bu, mut bi) = (vec![0f32; nu], vec![0f32; ni]);
    let (lr, reg) = (params.lr, params.reg);
    #[cfg(target_arch = "x86_64")]
    let avx2 = is_x86_feature_detected!("avx2");
    let mut train_rmse = Vec::with_capacity(params.n_epochs);
    for epoch in 1..=params.n_epochs {
        let sse = {
            let shared = Shared {
                p: SharedRows::new(&mut p, kp),
                q: SharedRows::new(&mut q, kp),
                bu: SharedRows::new(&mut bu, 1),
                bi: SharedRows::new(&mut bi, 1),
            };
            grid.epoch(params.seed, epoch, par, check, |block| {
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: AVX2 was detected at run time.
                    return unsafe { run_block_avx2(block, &shared, lr, reg) };
                }
                run_block(block, &shared, lr, reg)
            })?
        };
        let rmse = f64::from(units.scale) * (sse / data.len() as f64).sqrt();
        if !rmse.is_finite() {
            return Err(FunkError::Diverged {
                epoch,
                loss: sse,
                lr,
            });
        }
        train_rmse.push(rmse);
    }
    let root = units.scale.sqrt();
    for a in p.iter_mut().chain(q.iter_mut()) {
        *a *= root;
    }
    for a in bu.iter_mut().chain(bi.iter_mut()) {
        *a *= units.scale;
    }
    Ok(FittedFactors {
        user_factors: unpad(&p, k, kp),
        item_factors: unpad(&q, k, kp),
        user_bias: bu,
        item_bias: bi,
        global_mean: units.center,
        n_factors: k,
        train_rmse,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::build_pool;
    use crate::svdpp::tests::low_rank;

    #[test]
    fn factors_stay_non_negative_on_any_scale_and_same_bits_at_any_thread_count() {
        let (u, i, r) = low_rank(200, 120, 3, 0.3, 5);
        let r: Vec<f32> = r.iter().map(|x| 4.0 * x - 14.0).collect(); // about −10..10
        let data = Interactions::new(&u, &i, &r, 200, 120).unwrap();
        let params = NmfParams {
            n_factors: 6,
            n_epochs: 15,
            ..NmfParams::default()
        };
        let one = fit(&data, &params, Par::Seq, &mut || Ok(())).unwrap();
        assert!(one
            .user_factors
            .iter()
            .chain(&one.item_factors)
            .all(|&x| x >= 0.0));
        assert!(one.user_factors.iter().any(|&x| x > 0.0));
        for n in [2, 4] {
            let pool = build_pool(n).unwrap();
            assert_eq!(
                fit(&data, &params, Par::Pool(&pool), &mut || Ok(())).unwrap(),
                one
            );
        }
        let h = &one.train_rmse;
        assert!(h[h.len() - 1] < h[0], "{h:?}");
    }

    #[test]
    fn bad_options_and_interruption() {
        let (u, i, r) = low_rank(20, 10, 2, 0.5, 6);
        let data = Interactions::new(&u, &i, &r, 20, 10).unwrap();
        for (bad, name) in [
            (
                NmfParams {
                    lr: -1.0,
                    ..NmfParams::default()
                },
                "lr",
            ),
            (
                NmfParams {
                    reg: -0.1,
                    ..NmfParams::default()
                },
                "reg",
            ),
            (
                NmfParams {
                    init_high: 0.0,
                    ..NmfParams::default()
                },
                "init_high",
            ),
        ] {
            match fit(&data, &bad, Par::Seq, &mut || Ok(())) {
                Err(FunkError::InvalidParam { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        let stop = fit(&data, &NmfParams::default(), Par::Seq, &mut || {
            Err(FunkError::Interrupted)
        });
        assert_eq!(stop, Err(FunkError::Interrupted));
    }
}
