//! SVD++ (Koren, KDD 2008): biased matrix factorization whose user factor also carries the
//! items the user rated,
//!
//! $$ \hat r_{ui} = \mu + b_u + b_i + q_i^\top \big(p_u + |N(u)|^{-1/2} \textstyle\sum_{j \in N(u)} y_j\big), $$
//!
//! with `N(u)` the items `u` rated in training, trained by SGD on the squared error plus
//! `λ` times the squared norms of every parameter.
//!
//! **Scale-free.** As `funk-sgd`, the fit trains on `r' = (r − c)/s` (`c` the mean training
//! rating, `s` the standard deviation about it) and maps the result back exactly, so `lr`,
//! `reg` and `init_std` mean the same on any rating scale.
//!
//! **The implicit sum once per epoch.** Updating every `y_j` of `N(u)` after each rating
//! (as Surprise does) costs `O(|N(u)| k)` per rating. Here `z_u = |N(u)|^{-1/2} Σ y_j` is
//! formed once per epoch for every user; during the epoch each rating `(u, i)` with error
//! `e` updates `b_u`, `b_i`, `p_u`, `q_i` (with `p_u + z_u` as the user side) and adds
//! `e q_i` to the user's gradient sum `g_u`; after the epoch every `y_j` takes one step from
//! the gradients of the users `U(j)` who rated it (see `update_y`): the sum
//! `Σ_{u ∈ U(j)} |N(u)|^{-1/2} g_u` of the per-rating gradients Surprise applies, scaled by
//! `η_y / |U(j)|` (the data term's curvature grows with `|U(j)|`, and the raw sum, applied at
//! once without the feedback a per-rating update gets, diverged on dense data), with
//! Surprise's penalty (`λ` once per rating of each user of `U(j)`) as a proximal step. It is
//! the usual "once per user pass" trick with the pass being the user's ratings of the whole
//! epoch, because the grid splits each user's ratings over `B` blocks.
//!
//! **Deterministic at any thread count.** The SGD runs on the seeded block grid of
//! `crate::blocks` (blocks of one stratum share no user and no item, each block runs on one
//! thread, strata one after the other); `z_u` is computed per user and the `y_j` update per
//! item, each row from inputs fixed during that step, summed in a fixed order.
//!
//! The fitted user factor is `√s (p_u + z_u)` with the final `y`, the item factor `√s q_i`,
//! so `μ + b_u + b_i + p_u·q_i` — all that the scoring kernels know — is SVD++'s prediction.
//! `y` itself is not returned.

use crate::blocks::{
    check_common, dot, init_rows, n_groups, pad, padded, unpad, Adjacency, BlockGrid, Entry,
    SharedRows, ROWS_PER_TASK,
};
use crate::data::Interactions;
use crate::mem::Need;
use crate::par::Par;
use crate::sgd::Units;
use crate::FunkError;

/// The defaults, defined once (the extension module's `SVDPP_DEFAULTS` reads them); `lr`,
/// `reg`, `lr_y` and `init_std` are in standardised units. `benchmarks/tune_svdpp_nmf.py` chose
/// them on the training parts of the generated shapes and MovieLens small (at `k = 20`).
pub mod defaults {
    /// [`super::SvdppParams::n_factors`] (Surprise's `SVDpp` default).
    pub const N_FACTORS: usize = 20;
    /// [`super::SvdppParams::n_epochs`].
    pub const N_EPOCHS: usize = 20;
    /// [`super::SvdppParams::lr`].
    pub const LR: f64 = 0.025;
    /// [`super::SvdppParams::reg`].
    pub const REG: f64 = 0.05;
    /// [`super::SvdppParams::lr_y`].
    pub const LR_Y: f64 = 0.3;
    /// [`super::SvdppParams::init_std`].
    pub const INIT_STD: f64 = 0.01;
}

/// Hyperparameters of [`fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct SvdppParams {
    /// Number of latent factors `k`.
    pub n_factors: usize,
    /// Passes over the ratings.
    pub n_epochs: usize,
    /// Learning rate `η` (standardised units).
    pub lr: f32,
    /// L2 regularisation `λ` of every parameter.
    pub reg: f32,
    /// Step size `η_y` of the end-of-epoch `y` update (see the module docs).
    pub lr_y: f32,
    /// Standard deviation of the normal initial `p` and `q` (`y` starts at 0).
    pub init_std: f32,
    /// Seed of the grid, the orders and the initial factors.
    pub seed: u64,
}

impl Default for SvdppParams {
    fn default() -> Self {
        SvdppParams {
            n_factors: defaults::N_FACTORS,
            n_epochs: defaults::N_EPOCHS,
            lr: defaults::LR as f32,
            reg: defaults::REG as f32,
            lr_y: defaults::LR_Y as f32,
            init_std: defaults::INIT_STD as f32,
            seed: 0,
        }
    }
}

impl SvdppParams {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), FunkError> {
        check_common(self.n_factors, self.lr, self.reg)?;
        if !(self.lr_y.is_finite() && self.lr_y >= 0.0) {
            return Err(FunkError::InvalidParam {
                name: "lr_y",
                reason: format!("must be a finite number >= 0, got {}", self.lr_y),
            });
        }
        if !(self.init_std.is_finite() && self.init_std >= 0.0) {
            return Err(FunkError::InvalidParam {
                name: "init_std",
                reason: format!("must be a finite number >= 0, got {}", self.init_std),
            });
        }
        Ok(())
    }
}

/// The fitted parameters of `μ + b_u + b_i + p_u·q_i`, in the ratings' units; factors
/// row-major `n × k`.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedFactors {
    /// User factors (for SVD++, `p_u + |N(u)|^-½ Σ y_j`).
    pub user_factors: Vec<f32>,
    /// Item factors.
    pub item_factors: Vec<f32>,
    /// `b_u`.
    pub user_bias: Vec<f32>,
    /// `b_i`.
    pub item_bias: Vec<f32>,
    /// `μ`.
    pub global_mean: f32,
    /// `k`.
    pub n_factors: usize,
    /// Training RMSE of each epoch (ratings' units, from the errors met during the epoch).
    pub train_rmse: Vec<f64>,
}

/// `z_u = norm_u Σ_{j ∈ N(u)} y_j` for every user.
fn implicit_sums(
    z: &mut [f32],
    y: &[f32],
    by_user: &Adjacency,
    norm: &[f32],
    k: usize,
    par: Par<'_>,
) {
    par.for_each_chunk_mut(z, ROWS_PER_TASK * k, |(t, chunk)| {
        for (j, zu) in chunk.chunks_exact_mut(k).enumerate() {
            let u = t * ROWS_PER_TASK + j;
            zu.fill(0.0);
            for &i in by_user.row(u) {
                let yi = &y[i as usize * k..(i as usize + 1) * k];
                for (a, b) in zu.iter_mut().zip(yi) {
                    *a += b;
                }
            }
            for a in zu.iter_mut() {
                *a *= norm[u];
            }
        }
    });
}

/// The end-of-epoch `y` step of the module docs: with `n = |U(j)|` and `H = Σ_{u ∈ U(j)}
/// |N(u)|` (how many per-rating updates Surprise would apply to `y_j`),
/// `y_j ← (y_j + (η_y / n) Σ_u |N(u)|^-½ g_u) / (1 + η_y λ H / n)`: a gradient step
/// scaled by the curvature of the data term (`∝ n`) and a proximal step for the penalty
/// `λ H ‖y_j‖²`, which is Surprise's per-rating decay summed, and stable at any step.
#[allow(clippy::too_many_arguments)]
fn update_y(
    y: &mut [f32],
    g: &[f32],
    by_item: &Adjacency,
    norm: &[f32],
    counts: &[f32],
    k: usize,
    lr_y: f32,
    reg: f32,
    par: Par<'_>,
) {
    par.for_each_chunk_mut(y, ROWS_PER_TASK * k, |(t, chunk)| {
        let mut acc = vec![0f32; k];
        for (j, yj) in chunk.chunks_exact_mut(k).enumerate() {
            let i = t * ROWS_PER_TASK + j;
            let users = by_item.row(i);
            if users.is_empty() {
                continue;
            }
            acc.fill(0.0);
            let mut h = 0f32;
            for &u in users {
                let w = norm[u as usize];
                h += counts[u as usize];
                let gu = &g[u as usize * k..(u as usize + 1) * k];
                for (a, b) in acc.iter_mut().zip(gu) {
                    *a += w * b;
                }
            }
            let step = lr_y / users.len() as f32;
            let shrink = 1.0 / (1.0 + step * reg * h);
            for (a, b) in yj.iter_mut().zip(&acc) {
                *a = (*a + step * b) * shrink;
            }
        }
    });
}

/// The parameters one stratum updates, shared between its blocks.
struct Shared<'a> {
    p: SharedRows<'a>,
    q: SharedRows<'a>,
    g: SharedRows<'a>,
    bu: SharedRows<'a>,
    bi: SharedRows<'a>,
}

/// SGD over one block's ratings; returns their squared error (before each update).
#[inline(always)]
#[allow(clippy::inline_always)] // inlined into the AVX2 copy
fn run_block(block: &[Entry], s: &Shared<'_>, z: &[f32], k: usize, lr: f32, reg: f32) -> f64 {
    let mut sse = 0f64;
    let mut pz = vec![0f32; k];
    for e in block {
        let (u, i) = (e.u as usize, e.i as usize);
        // SAFETY: the blocks of a stratum share no user and no item (the grid), and this
        // block runs on one thread.
        let (p, g, bu, q, bi) =
            unsafe { (s.p.row(u), s.g.row(u), s.bu.row(u), s.q.row(i), s.bi.row(i)) };
        let zu = &z[u * k..(u + 1) * k];
        for ((a, b), c) in pz.iter_mut().zip(p.iter()).zip(zu) {
            *a = b + c;
        }
        let err = e.r - (bu[0] + bi[0] + dot(q, &pz));
        sse += f64::from(err) * f64::from(err);
        bu[0] += lr * (err - reg * bu[0]);
        bi[0] += lr * (err - reg * bi[0]);
        for (((pf, qf), gf), &zf) in p.iter_mut().zip(q.iter_mut()).zip(g.iter_mut()).zip(&pz) {
            let (a, b) = (*pf, *qf);
            *pf = a + lr * (err * b - reg * a);
            *gf += err * b;
            *qf = b + lr * (err * zf - reg * b);
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
unsafe fn run_block_avx2(
    block: &[Entry],
    s: &Shared<'_>,
    z: &[f32],
    k: usize,
    lr: f32,
    reg: f32,
) -> f64 {
    run_block(block, s, z, k, lr, reg)
}

/// `|N(u)|^-½` per row of `adj` (0 for a row without ratings).
pub(crate) fn inv_sqrt_counts(adj: &Adjacency, n: usize) -> Vec<f32> {
    (0..n)
        .map(|u| {
            let c = adj.row(u).len();
            if c == 0 {
                0.0
            } else {
                (1.0 / (c as f64).sqrt()) as f32
            }
        })
        .collect()
}

/// Fits SVD++ on `data`; `check` runs on the calling thread before every stratum (an error
/// from it, such as Ctrl-C, stops the fit).
pub fn fit(
    data: &Interactions<'_>,
    params: &SvdppParams,
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
    let rows = (nu as u128) * 3 + (ni as u128) * 2;
    let nnz = data.len() as u128;
    Need::default()
        .add::<f32>(rows.saturating_mul(k as u128), || {
            format!("the factors ({nu} users and {ni} items × {k} factors)")
        })
        .add::<u32>(nnz.saturating_mul(5), || {
            format!("the ratings by block, user and item ({nnz} ratings)")
        })
        .check("; use fewer factors")?;
    let units = Units::of(data, true, true);
    let grid = BlockGrid::new(data, n_groups(data.len(), nu, ni), params.seed, |r| {
        units.to_model(r)
    });
    let by_user = Adjacency::new(data.users, data.items, nu);
    let by_item = Adjacency::new(data.items, data.users, ni);
    let norm = inv_sqrt_counts(&by_user, nu);
    let counts: Vec<f32> = (0..nu).map(|u| by_user.row(u).len() as f32).collect();
    let std = params.init_std;
    let p = init_rows(nu, k, params.seed, 1, par, |rng, c| {
        rng.fill_normal(c, 0.0, std);
    });
    let q = init_rows(ni, k, params.seed, 2, par, |rng, c| {
        rng.fill_normal(c, 0.0, std);
    });
    let (mut p, mut q) = (pad(&p, k, kp), pad(&q, k, kp));
    let mut y = vec![0f32; ni * kp];
    let mut z = vec![0f32; nu * kp];
    let mut g = vec![0f32; nu * kp];
    let (mut bu, mut bi) = (vec![0f32; nu], vec![0f32; ni]);
    let (lr, reg) = (params.lr, params.reg);
    #[cfg(target_arch = "x86_64")]
    let avx2 = is_x86_feature_detected!("avx2");
    let mut train_rmse = Vec::with_capacity(params.n_epochs);
    for epoch in 1..=params.n_epochs {
        implicit_sums(&mut z, &y, &by_user, &norm, kp, par);
        g.fill(0.0);
        let sse = {
            let shared = Shared {
                p: SharedRows::new(&mut p, kp),
                q: SharedRows::new(&mut q, kp),
                g: SharedRows::new(&mut g, kp),
                bu: SharedRows::new(&mut bu, 1),
                bi: SharedRows::new(&mut bi, 1),
            };
            let z = &z;
            grid.epoch(params.seed, epoch, par, check, |block| {
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: AVX2 was detected at run time.
                    return unsafe { run_block_avx2(block, &shared, z, kp, lr, reg) };
                }
                run_block(block, &shared, z, kp, lr, reg)
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
        update_y(
            &mut y,
            &g,
            &by_item,
            &norm,
            &counts,
            kp,
            params.lr_y,
            reg,
            par,
        );
    }
    implicit_sums(&mut z, &y, &by_user, &norm, kp, par);
    let root = units.scale.sqrt();
    for (a, b) in p.iter_mut().zip(&z) {
        *a = root * (*a + b);
    }
    for a in &mut q {
        *a *= root;
    }
    for a in bu.iter_mut().chain(bi.iter_mut()) {
        *a *= units.scale;
    }
    if let Some(bad) = p
        .iter()
        .chain(&q)
        .chain(&bu)
        .chain(&bi)
        .find(|v| !v.is_finite())
    {
        return Err(FunkError::Diverged {
            epoch: params.n_epochs,
            loss: f64::from(*bad),
            lr,
        });
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
pub(crate) mod tests {
    use super::*;
    use crate::par::build_pool;
    use crate::rng::Rng;

    /// Noise-free rank-`rank` ratings `3 + p_u·q_i`, each cell observed with probability `density`.
    pub(crate) fn low_rank(
        nu: usize,
        ni: usize,
        rank: usize,
        density: f64,
        seed: u64,
    ) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        let mut rng = Rng::new(seed);
        let mut p = vec![0f32; nu * rank];
        let mut q = vec![0f32; ni * rank];
        rng.fill_normal(&mut p, 0.0, 0.6);
        rng.fill_normal(&mut q, 0.0, 0.6);
        let (mut u, mut i, mut r) = (vec![], vec![], vec![]);
        for a in 0..nu {
            for b in 0..ni {
                if rng.next_f64() < density {
                    u.push(a as u32);
                    i.push(b as u32);
                    r.push(3.0 + dot(&p[a * rank..(a + 1) * rank], &q[b * rank..(b + 1) * rank]));
                }
            }
        }
        (u, i, r)
    }

    fn predict(f: &FittedFactors, u: usize, i: usize) -> f32 {
        let k = f.n_factors;
        f.global_mean
            + f.user_bias[u]
            + f.item_bias[i]
            + dot(
                &f.user_factors[u * k..(u + 1) * k],
                &f.item_factors[i * k..(i + 1) * k],
            )
    }

    #[test]
    fn same_bits_at_any_thread_count_and_the_fit_improves() {
        let (u, i, r) = low_rank(200, 120, 3, 0.3, 1);
        let data = Interactions::new(&u, &i, &r, 200, 120).unwrap();
        let params = SvdppParams {
            n_factors: 8,
            n_epochs: 30,
            lr: 0.03,
            ..SvdppParams::default()
        };
        let one = fit(&data, &params, Par::Seq, &mut || Ok(())).unwrap();
        for n in [2, 3] {
            let pool = build_pool(n).unwrap();
            let many = fit(&data, &params, Par::Pool(&pool), &mut || Ok(())).unwrap();
            assert_eq!(many, one, "{n} threads");
        }
        let h = &one.train_rmse;
        assert!(h[h.len() - 1] < 0.6 * h[0], "{h:?}");
        let other = fit(
            &data,
            &SvdppParams { seed: 1, ..params },
            Par::Seq,
            &mut || Ok(()),
        )
        .unwrap();
        assert_ne!(other.user_factors, one.user_factors);
    }

    #[test]
    fn the_returned_factors_predict_what_training_saw() {
        let (u, i, r) = low_rank(150, 100, 2, 0.4, 2);
        let data = Interactions::new(&u, &i, &r, 150, 100).unwrap();
        let params = SvdppParams {
            n_factors: 6,
            n_epochs: 100,
            lr: 0.03,
            reg: 0.005,
            lr_y: 0.1,
            init_std: 0.1,
            ..SvdppParams::default()
        };
        let f = fit(&data, &params, Par::Seq, &mut || Ok(())).unwrap();
        let sse: f64 = u
            .iter()
            .zip(&i)
            .zip(&r)
            .map(|((&a, &b), &x)| f64::from(predict(&f, a as usize, b as usize) - x).powi(2))
            .sum();
        let rmse = (sse / r.len() as f64).sqrt();
        // The last epoch's running RMSE and the RMSE of the returned model agree roughly.
        assert!(rmse < 0.2, "{rmse}");
        assert!(
            (rmse - f.train_rmse.last().unwrap()).abs() < 0.1,
            "{rmse} {:?}",
            f.train_rmse
        );
    }

    #[test]
    fn scale_free_an_affine_map_of_the_ratings_maps_the_predictions() {
        let (u, i, r) = low_rank(80, 60, 2, 0.4, 3);
        let r2: Vec<f32> = r.iter().map(|x| 20.0 * x - 50.0).collect();
        let a = Interactions::new(&u, &i, &r, 80, 60).unwrap();
        let b = Interactions::new(&u, &i, &r2, 80, 60).unwrap();
        let params = SvdppParams {
            n_factors: 4,
            n_epochs: 5,
            ..SvdppParams::default()
        };
        let fa = fit(&a, &params, Par::Seq, &mut || Ok(())).unwrap();
        let fb = fit(&b, &params, Par::Seq, &mut || Ok(())).unwrap();
        for (x, y) in [(0usize, 1usize), (5, 7), (30, 2)] {
            let want = 20.0 * predict(&fa, x, y) - 50.0;
            assert!(
                (predict(&fb, x, y) - want).abs() < 1e-2 * want.abs().max(1.0),
                "{x} {y}"
            );
        }
    }

    #[test]
    fn bad_options_and_interruption() {
        let (u, i, r) = low_rank(20, 10, 2, 0.5, 4);
        let data = Interactions::new(&u, &i, &r, 20, 10).unwrap();
        for (bad, name) in [
            (
                SvdppParams {
                    lr: 0.0,
                    ..SvdppParams::default()
                },
                "lr",
            ),
            (
                SvdppParams {
                    reg: f32::NAN,
                    ..SvdppParams::default()
                },
                "reg",
            ),
            (
                SvdppParams {
                    init_std: -1.0,
                    ..SvdppParams::default()
                },
                "init_std",
            ),
            (
                SvdppParams {
                    n_factors: 0,
                    ..SvdppParams::default()
                },
                "n_factors",
            ),
        ] {
            match fit(&data, &bad, Par::Seq, &mut || Ok(())) {
                Err(FunkError::InvalidParam { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        let stop = fit(&data, &SvdppParams::default(), Par::Seq, &mut || {
            Err(FunkError::Interrupted)
        });
        assert_eq!(stop, Err(FunkError::Interrupted));
    }
}
