//! Warm-started SGD: more epochs of the same kernel over new ratings, starting from a fitted
//! model instead of random factors.
//!
//! The ratings given (new ones, plus any replayed old ones) are laid out on a grid of their
//! own, exactly as [`super::fit`] lays out a training set, and trained for `n_epochs` with the
//! joint schedule, in the training units of the original fit (the centre `c` and scale `s`
//! the caller passes). Only the rows and biases of users and items that occur in the ratings
//! change; every other row is returned with the bits it came in with (the round trip through
//! training units is skipped for them).

use super::aligned::AlignedF32;
use super::grid::Grid;
use super::layout::Relabel;
use super::state::State;
use super::units::Units;
use super::{grid_size, kernel, padded, Factors, FitOptions, Monitor, Run, SgdParams};
use crate::data::Interactions;
use crate::par::Par;
use crate::FunkError;

/// The fitted model an update starts from, in the ratings' units, rows in the caller's ids
/// (already grown to the users and items of the new ratings).
#[derive(Clone, Copy, Debug)]
pub struct Warm<'a> {
    /// `n_users × k`, row-major.
    pub user_factors: &'a [f32],
    /// `n_items × k`, row-major.
    pub item_factors: &'a [f32],
    /// `b_u`.
    pub user_bias: &'a [f32],
    /// `b_i`.
    pub item_bias: &'a [f32],
    /// `μ` (kept as it is).
    pub global_mean: f32,
    /// The centre `c` of the training units of the original fit.
    pub center: f32,
    /// The scale `s` (> 0) of the training units of the original fit.
    pub scale: f32,
}

impl Warm<'_> {
    fn validate(&self, data: &Interactions<'_>, k: usize) -> Result<(), FunkError> {
        let shapes = [
            ("user_factors", self.user_factors.len(), data.n_users * k),
            ("item_factors", self.item_factors.len(), data.n_items * k),
            ("user_bias", self.user_bias.len(), data.n_users),
            ("item_bias", self.item_bias.len(), data.n_items),
        ];
        for (name, got, want) in shapes {
            if got != want {
                return Err(FunkError::Shape(format!(
                    "warm start {name} has {got} values, expected {want}"
                )));
            }
        }
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(FunkError::invalid(
                "scale",
                format!("must be a finite number > 0, got {}", self.scale),
            ));
        }
        if !(self.center.is_finite() && self.global_mean.is_finite()) {
            return Err(FunkError::invalid(
                "center",
                "the centre and μ must be finite",
            ));
        }
        Ok(())
    }
}

/// `n` rows of `k` values of `src` (caller's ids), scaled by `factor`, stored padded to `kp`
/// at the internal rows `map` gives.
fn scatter_rows(map: &[u32], src: &[f32], k: usize, kp: usize, factor: f32) -> AlignedF32 {
    let mut out = AlignedF32::zeros(map.len() * kp);
    for (x, &to) in map.iter().enumerate() {
        let to = to as usize * kp;
        for (d, s) in out[to..to + k].iter_mut().zip(&src[x * k..(x + 1) * k]) {
            *d = s * factor;
        }
    }
    out
}

fn scatter_bias(map: &[u32], src: &[f32], factor: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; map.len()];
    for (x, &to) in map.iter().enumerate() {
        out[to as usize] = src[x] * factor;
    }
    out
}

/// Puts back the rows (of `k` values) whose flag is false from `orig`.
fn keep_untouched(out: &mut [f32], orig: &[f32], touched: &[bool], k: usize) {
    for (x, &t) in touched.iter().enumerate() {
        if !t {
            out[x * k..(x + 1) * k].copy_from_slice(&orig[x * k..(x + 1) * k]);
        }
    }
}

/// Trains `params.n_epochs` epochs of the joint schedule on `data`, starting from `warm`.
///
/// `params.n_factors` must be the width of `warm`'s factors; `params.init_*` and
/// `params.standardize` are not used (the units are `warm`'s), nor is the feature-wise
/// schedule (an error). Deterministic for `params.seed` at any thread count. With no
/// ratings, or zero epochs, `warm` comes back bit for bit.
pub fn update(
    data: &Interactions<'_>,
    warm: &Warm<'_>,
    params: &SgdParams,
    par: Par<'_>,
    monitor: &mut dyn Monitor,
) -> Result<Factors, FunkError> {
    params.validate()?;
    let k = params.n_factors;
    warm.validate(data, k)?;
    if params.schedule != super::Schedule::Joint {
        return Err(FunkError::invalid(
            "schedule",
            "updates train with the joint schedule only",
        ));
    }
    let unchanged = || Factors {
        n_factors: k,
        user_factors: warm.user_factors.to_vec(),
        item_factors: warm.item_factors.to_vec(),
        user_bias: warm.user_bias.to_vec(),
        item_bias: warm.item_bias.to_vec(),
        global_mean: warm.global_mean,
        biased: params.biased,
        history: Vec::new(),
        best_epoch: None,
    };
    if data.is_empty() || params.n_epochs == 0 {
        return Ok(unchanged());
    }
    let units = Units {
        center: warm.center,
        scale: warm.scale,
    };
    let b = params.n_blocks.unwrap_or_else(|| grid_size(data));
    let kp = padded(k);
    let layout = kernel::segment_layout(kp);
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
    let relabel: &Relabel = &grid.relabel;
    let root = units.scale.sqrt();
    let mut state = State {
        p: scatter_rows(&relabel.user, warm.user_factors, k, kp, 1.0 / root),
        q: scatter_rows(&relabel.item, warm.item_factors, k, kp, 1.0 / root),
        bu: scatter_bias(&relabel.user, warm.user_bias, 1.0 / units.scale),
        bi: scatter_bias(&relabel.item, warm.item_bias, 1.0 / units.scale),
        k,
        kp,
        mu: if params.biased {
            units.to_model(warm.global_mean)
        } else {
            0.0
        },
        units,
    };
    let options = FitOptions::default();
    let mut run = Run {
        negatives: None,
        data,
        relabel,
        params,
        options: &options,
        par,
        history: Vec::with_capacity(params.n_epochs),
        stopper: None,
    };
    run.joint(&grid, &mut state, monitor)?;
    let history = std::mem::take(&mut run.history);
    let mut f = state.into_factors(data, params, relabel, history, None);
    f.global_mean = warm.global_mean;
    let mut users = vec![false; data.n_users];
    let mut items = vec![false; data.n_items];
    for (&u, &i) in data.users.iter().zip(data.items) {
        users[u as usize] = true;
        items[i as usize] = true;
    }
    keep_untouched(&mut f.user_factors, warm.user_factors, &users, k);
    keep_untouched(&mut f.item_factors, warm.item_factors, &items, k);
    keep_untouched(&mut f.user_bias, warm.user_bias, &users, 1);
    keep_untouched(&mut f.item_bias, warm.item_bias, &items, 1);
    if !params.biased {
        f.user_bias.copy_from_slice(warm.user_bias);
        f.item_bias.copy_from_slice(warm.item_bias);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sgd::{fit, NoMonitor};

    fn toy() -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        let mut rng = crate::rng::Rng::new(3);
        let (mut u, mut i, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for x in 0..6000u32 {
            let (a, b) = (x % 300, (x * 7 + x / 300) % 200);
            u.push(a);
            i.push(b);
            r.push(1.0 + 4.0 * rng.next_f64() as f32 + (a % 3) as f32 * 0.1);
        }
        (u, i, r)
    }

    #[test]
    fn an_update_is_deterministic_touches_only_its_rows_and_is_empty_safe() {
        let (u, i, r) = toy();
        let data = Interactions::new(&u, &i, &r, 300, 200).unwrap();
        let params = SgdParams {
            n_factors: 8,
            n_epochs: 3,
            ..SgdParams::default()
        };
        let f = fit(&data, &params, Par::Seq, &mut NoMonitor).unwrap();
        let warm = Warm {
            user_factors: &f.user_factors,
            item_factors: &f.item_factors,
            user_bias: &f.user_bias,
            item_bias: &f.item_bias,
            global_mean: f.global_mean,
            center: f.global_mean,
            scale: 1.2,
        };
        let (nu, ni, nr) = (vec![0u32, 5, 5], vec![1u32, 2, 9], vec![5.0f32, 1.0, 3.0]);
        let new = Interactions::new(&nu, &ni, &nr, 300, 200).unwrap();
        let seq = update(&new, &warm, &params, Par::Seq, &mut NoMonitor).unwrap();
        let pool = crate::par::build_pool(2).unwrap();
        let two = update(&new, &warm, &params, Par::Pool(&pool), &mut NoMonitor).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&seq.user_factors), bits(&two.user_factors));
        assert_eq!(bits(&seq.item_factors), bits(&two.item_factors));
        assert_eq!(seq.history.len(), 3);
        // Rows the new ratings do not touch keep their bits; touched ones move.
        assert_eq!(bits(&seq.user_factors[8..16]), bits(&f.user_factors[8..16]));
        assert_ne!(bits(&seq.user_factors[0..8]), bits(&f.user_factors[0..8]));
        assert_eq!(bits(&seq.item_bias[3..9]), bits(&f.item_bias[3..9]));
        assert_ne!(bits(&seq.item_bias[9..10]), bits(&f.item_bias[9..10]));
        // No ratings: the model comes back unchanged.
        let none = Interactions::new(&[], &[], &[], 300, 200).unwrap();
        let same = update(&none, &warm, &params, Par::Seq, &mut NoMonitor).unwrap();
        assert_eq!(bits(&same.user_factors), bits(&f.user_factors));
        // A wrong width is a shape error.
        let wide = SgdParams {
            n_factors: 9,
            ..params
        };
        assert!(update(&new, &warm, &wide, Par::Seq, &mut NoMonitor).is_err());
    }
}
