use super::*;
use crate::par::build_pool;

/// A noiseless rank-`r` matrix observed at a random `density` of its cells.
pub(crate) fn low_rank(
    n_users: usize,
    n_items: usize,
    r: usize,
    density: f64,
    seed: u64,
) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut a = vec![0.0f32; n_users * r];
    let mut b = vec![0.0f32; n_items * r];
    rng.fill_normal(&mut a, 0.0, 1.0);
    rng.fill_normal(&mut b, 0.0, 1.0);
    let (mut us, mut is, mut rs) = (vec![], vec![], vec![]);
    for u in 0..n_users {
        for i in 0..n_items {
            if rng.next_f64() < density {
                let v: f32 = (0..r).map(|f| a[u * r + f] * b[i * r + f]).sum();
                us.push(u as u32);
                is.push(i as u32);
                rs.push(3.0 + v);
            }
        }
    }
    (us, is, rs)
}

fn rmse(f: &Factors, us: &[u32], is: &[u32], rs: &[f32]) -> f64 {
    let k = f.n_factors;
    let sq: f64 = us
        .iter()
        .zip(is)
        .zip(rs)
        .map(|((&u, &i), &r)| {
            let (u, i) = (u as usize, i as usize);
            let dot: f32 = (0..k)
                .map(|x| f.user_factors[u * k + x] * f.item_factors[i * k + x])
                .sum();
            let pred = f.global_mean + f.user_bias[u] + f.item_bias[i] + dot;
            f64::from((r - pred).powi(2))
        })
        .sum();
    (sq / rs.len() as f64).sqrt()
}

#[test]
fn recovers_held_out_entries_of_a_low_rank_matrix() {
    let (us, is, rs) = low_rank(300, 200, 3, 0.3, 11);
    let n = rs.len();
    let cut = n * 9 / 10;
    let mut idx: Vec<usize> = (0..n).collect();
    Rng::new(5).shuffle(&mut idx);
    let pick = |ix: &[usize]| -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        (
            ix.iter().map(|&j| us[j]).collect(),
            ix.iter().map(|&j| is[j]).collect(),
            ix.iter().map(|&j| rs[j]).collect(),
        )
    };
    let (tu, ti, tr) = pick(&idx[..cut]);
    let (vu, vi, vr) = pick(&idx[cut..]);
    let data = Interactions::new(&tu, &ti, &tr, 300, 200).unwrap();
    let params = SgdParams {
        n_factors: 3,
        n_epochs: 300,
        lr: 0.01,
        reg: 0.0,
        seed: 3,
        ..SgdParams::surprise()
    };
    let f = fit(&data, &params, Par::Seq, &mut NoMonitor).unwrap();
    let first = f.history[0].train_rmse;
    let last = f.history.last().unwrap().train_rmse;
    assert!(last < first / 10.0, "train rmse {first} -> {last}");
    let test = rmse(&f, &vu, &vi, &vr);
    assert!(test < 0.05, "held-out rmse {test}");
}

#[test]
fn same_seed_gives_identical_bits_for_any_thread_count() {
    let (us, is, rs) = low_rank(120, 90, 4, 0.4, 2);
    let data = Interactions::new(&us, &is, &rs, 120, 90).unwrap();
    for reshuffle in [false, true] {
        let params = SgdParams {
            n_factors: 12,
            n_epochs: 4,
            n_blocks: Some(5),
            seed: 99,
            reshuffle,
            ..SgdParams::surprise()
        };
        let seq = fit(&data, &params, Par::Seq, &mut NoMonitor).unwrap();
        for threads in [1, 2, 4] {
            let pool = build_pool(threads).unwrap();
            let got = fit(&data, &params, Par::Pool(&pool), &mut NoMonitor).unwrap();
            assert_eq!(got.user_factors, seq.user_factors, "threads={threads}");
            assert_eq!(got.item_factors, seq.item_factors, "threads={threads}");
            assert_eq!(got.user_bias, seq.user_bias, "threads={threads}");
        }
    }
    let params = SgdParams {
        n_factors: 12,
        n_epochs: 4,
        n_blocks: Some(5),
        seed: 99,
        ..SgdParams::surprise()
    };
    let seq = fit(&data, &params, Par::Seq, &mut NoMonitor).unwrap();
    let other = fit(
        &data,
        &SgdParams {
            seed: 100,
            ..params.clone()
        },
        Par::Seq,
        &mut NoMonitor,
    )
    .unwrap();
    assert_ne!(other.user_factors, seq.user_factors);
}

#[test]
fn a_huge_learning_rate_is_reported_as_divergence() {
    let (us, is, rs) = low_rank(50, 40, 2, 0.5, 1);
    let data = Interactions::new(&us, &is, &rs, 50, 40).unwrap();
    let params = SgdParams {
        lr: 50.0,
        n_epochs: 50,
        ..SgdParams::surprise()
    };
    let err = fit(&data, &params, Par::Seq, &mut NoMonitor).unwrap_err();
    assert!(matches!(err, FunkError::Diverged { .. }), "{err:?}");
    assert!(err.to_string().contains("smaller learning rate"));
}

#[test]
fn invalid_parameters_are_named() {
    let (us, is, rs) = low_rank(5, 5, 1, 1.0, 1);
    let data = Interactions::new(&us, &is, &rs, 5, 5).unwrap();
    for (params, name) in [
        (
            SgdParams {
                n_factors: 0,
                ..SgdParams::surprise()
            },
            "n_factors",
        ),
        (
            SgdParams {
                lr: -1.0,
                ..SgdParams::surprise()
            },
            "lr",
        ),
        (
            SgdParams {
                reg: f32::NAN,
                ..SgdParams::surprise()
            },
            "reg",
        ),
        (
            SgdParams {
                n_blocks: Some(0),
                ..SgdParams::surprise()
            },
            "n_blocks",
        ),
    ] {
        match fit(&data, &params, Par::Seq, &mut NoMonitor) {
            Err(FunkError::InvalidParam { name: got, .. }) => assert_eq!(got, name),
            other => panic!("expected InvalidParam({name}), got {other:?}"),
        }
    }
}

#[test]
fn monitor_can_interrupt_between_strata() {
    struct StopAfter(usize);
    impl Monitor for StopAfter {
        fn check(&mut self) -> Result<(), FunkError> {
            if self.0 == 0 {
                return Err(FunkError::Interrupted);
            }
            self.0 -= 1;
            Ok(())
        }
    }
    let (us, is, rs) = low_rank(60, 60, 2, 0.5, 4);
    let data = Interactions::new(&us, &is, &rs, 60, 60).unwrap();
    let params = SgdParams {
        n_blocks: Some(3),
        ..SgdParams::surprise()
    };
    let err = fit(&data, &params, Par::Seq, &mut StopAfter(4)).unwrap_err();
    assert_eq!(err, FunkError::Interrupted);
}

#[test]
fn unbiased_model_keeps_zero_biases() {
    let (us, is, rs) = low_rank(30, 30, 2, 0.5, 8);
    let data = Interactions::new(&us, &is, &rs, 30, 30).unwrap();
    let params = SgdParams {
        biased: false,
        n_factors: 5,
        ..SgdParams::surprise()
    };
    let f = fit(&data, &params, Par::Seq, &mut NoMonitor).unwrap();
    assert!(f.user_bias.iter().all(|&b| b == 0.0));
    assert!(f.item_bias.iter().all(|&b| b == 0.0));
    assert_eq!(f.user_factors.len(), 30 * 5);
}

type Triples<T> = (Vec<T>, Vec<T>, Vec<f32>);

fn split(us: &[u32], is: &[u32], rs: &[f32], cut: usize) -> (Triples<u32>, Triples<i64>) {
    let mut idx: Vec<usize> = (0..rs.len()).collect();
    Rng::new(5).shuffle(&mut idx);
    let train = (
        idx[..cut].iter().map(|&j| us[j]).collect(),
        idx[..cut].iter().map(|&j| is[j]).collect(),
        idx[..cut].iter().map(|&j| rs[j]).collect(),
    );
    let valid = (
        idx[cut..].iter().map(|&j| i64::from(us[j])).collect(),
        idx[cut..].iter().map(|&j| i64::from(is[j])).collect(),
        idx[cut..].iter().map(|&j| rs[j]).collect(),
    );
    (train, valid)
}

#[test]
fn validation_is_tracked_and_early_stopping_keeps_the_best_epoch() {
    let (us, is, mut rs) = low_rank(150, 100, 3, 0.3, 21);
    let mut noise = vec![0.0f32; rs.len()];
    Rng::new(77).fill_normal(&mut noise, 0.0, 0.5);
    rs.iter_mut().zip(&noise).for_each(|(r, n)| *r += n);
    let cut = rs.len() * 8 / 10;
    let ((tu, ti, tr), (vu, vi, vr)) = split(&us, &is, &rs, cut);
    let data = Interactions::new(&tu, &ti, &tr, 150, 100).unwrap();
    let v = Validation {
        users: &vu,
        items: &vi,
        ratings: &vr,
        clip: None,
    };
    // Large factors and no regularisation overfit quickly, so validation RMSE turns up.
    let params = SgdParams {
        n_factors: 40,
        n_epochs: 200,
        lr: 0.03,
        reg: 0.0,
        seed: 1,
        ..SgdParams::surprise()
    };
    let opts = FitOptions {
        validation: Some(v),
        early_stopping: Some(EarlyStopping {
            patience: 3,
            min_delta: 0.0,
        }),
    };
    let f = fit_with(&data, &params, &opts, Par::Seq, &mut NoMonitor).unwrap();
    let vals: Vec<f64> = f
        .history
        .iter()
        .map(|s| s.validation_rmse.unwrap())
        .collect();
    let best = f.best_epoch.unwrap();
    assert!(f.history.len() < 200, "did not stop early");
    assert_eq!(f.history.len(), best + 3);
    let best_val = vals[best - 1];
    assert!(vals.iter().all(|&x| x >= best_val));
    // The returned parameters are those of the best epoch: rescoring them gives its RMSE.
    let recomputed = rmse_i64(&f, &vu, &vi, &vr);
    assert!(
        (recomputed - best_val).abs() < 1e-4,
        "{recomputed} vs {best_val}"
    );
}

fn rmse_i64(f: &Factors, us: &[i64], is: &[i64], rs: &[f32]) -> f64 {
    let us: Vec<u32> = us.iter().map(|&x| x as u32).collect();
    let is: Vec<u32> = is.iter().map(|&x| x as u32).collect();
    rmse(f, &us, &is, rs)
}

#[test]
fn early_stopping_needs_validation() {
    let (us, is, rs) = low_rank(20, 20, 2, 0.5, 1);
    let data = Interactions::new(&us, &is, &rs, 20, 20).unwrap();
    let opts = FitOptions {
        validation: None,
        early_stopping: Some(EarlyStopping {
            patience: 2,
            min_delta: 0.0,
        }),
    };
    let err = fit_with(
        &data,
        &SgdParams::surprise(),
        &opts,
        Par::Seq,
        &mut NoMonitor,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        FunkError::InvalidParam {
            name: "patience",
            ..
        }
    ));
}

#[test]
fn learning_rate_decays_as_documented() {
    let (us, is, rs) = low_rank(30, 30, 2, 0.5, 2);
    let data = Interactions::new(&us, &is, &rs, 30, 30).unwrap();
    let params = SgdParams {
        lr: 0.01,
        lr_decay: 0.5,
        n_epochs: 3,
        ..SgdParams::surprise()
    };
    let f = fit(&data, &params, Par::Seq, &mut NoMonitor).unwrap();
    let lrs: Vec<f32> = f.history.iter().map(|s| s.lr).collect();
    assert_eq!(lrs, vec![0.01, 0.01 / 1.5, 0.01 / 2.0]);
}

#[test]
fn feature_wise_schedule_fits_and_is_thread_independent() {
    let (us, is, rs) = low_rank(120, 80, 2, 0.4, 9);
    let data = Interactions::new(&us, &is, &rs, 120, 80).unwrap();
    let params = SgdParams {
        n_factors: 3,
        n_epochs: 60,
        lr: 0.01,
        reg: 0.0,
        schedule: Schedule::FeatureWise,
        n_blocks: Some(3),
        seed: 4,
        ..SgdParams::surprise()
    };
    let f = fit(&data, &params, Par::Seq, &mut NoMonitor).unwrap();
    // biases + 3 factors, n_epochs each
    assert_eq!(f.history.len(), 4 * 60);
    assert_eq!(f.history[0].feature, None);
    assert_eq!(f.history[60].feature, Some(0));
    assert_eq!(f.history.last().unwrap().feature, Some(2));
    let first = f.history[0].train_rmse;
    let last = f.history.last().unwrap().train_rmse;
    assert!(last < first / 3.0, "{first} -> {last}");
    assert!((rmse(&f, &us, &is, &rs) - last).abs() < 0.05);
    let pool = build_pool(2).unwrap();
    let g = fit(&data, &params, Par::Pool(&pool), &mut NoMonitor).unwrap();
    assert_eq!(f.user_factors, g.user_factors);
}
