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
        ..SgdParams::default()
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
            ..SgdParams::default()
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
        ..SgdParams::default()
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
        ..SgdParams::default()
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
                ..SgdParams::default()
            },
            "n_factors",
        ),
        (
            SgdParams {
                lr: -1.0,
                ..SgdParams::default()
            },
            "lr",
        ),
        (
            SgdParams {
                reg: f32::NAN,
                ..SgdParams::default()
            },
            "reg",
        ),
        (
            SgdParams {
                n_blocks: Some(0),
                ..SgdParams::default()
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
        ..SgdParams::default()
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
        ..SgdParams::default()
    };
    let f = fit(&data, &params, Par::Seq, &mut NoMonitor).unwrap();
    assert!(f.user_bias.iter().all(|&b| b == 0.0));
    assert!(f.item_bias.iter().all(|&b| b == 0.0));
    assert_eq!(f.user_factors.len(), 30 * 5);
}
