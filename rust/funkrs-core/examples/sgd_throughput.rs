//! Rating updates per second of the SGD kernel, without Python in the loop.
//!
//! `cargo run --release -p funkrs-core --example sgd_throughput -- [n_ratings] [k] [threads] [epochs] [n_users] [n_items] [n_blocks (0: auto)] [biased (0/1)]`
//! draws ratings with power-law user activity and item popularity, by default at MovieLens-25M
//! shape (162,541 users × 59,047 items; `80000 100 1 20 610 9066` is MovieLens-small's) and prints the time of each epoch. The end-to-end figures
//! against the references live in `benchmarks/sgd.py`.

use std::time::Instant;

use funkrs_core::par::build_pool;
use funkrs_core::rng::Rng;
use funkrs_core::sgd::{fit, EpochStats, Monitor, SgdParams};
use funkrs_core::{FunkError, Interactions, Par};

struct Print;
impl Monitor for Print {
    fn on_epoch(&mut self, s: &EpochStats) -> Result<(), FunkError> {
        println!(
            "epoch {} {:.3}s rmse {:.4}",
            s.epoch, s.seconds, s.train_rmse
        );
        Ok(())
    }
}

fn power_law(rng: &mut Rng, n: usize, exponent: f64) -> u32 {
    // Inverse-CDF draw from a continuous power law on [1, n + 1).
    let u = rng.next_f64();
    let a = 1.0 - exponent;
    let x = ((((n + 1) as f64).powf(a) - 1.0) * u + 1.0).powf(1.0 / a);
    ((x as usize).saturating_sub(1)).min(n - 1) as u32
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let n = args.first().copied().unwrap_or(20_000_000);
    let k = args.get(1).copied().unwrap_or(32);
    let threads = args.get(2).copied().unwrap_or(1);
    let epochs = args.get(3).copied().unwrap_or(3);
    let n_users = args.get(4).copied().unwrap_or(162_541);
    let n_items = args.get(5).copied().unwrap_or(59_047);
    let mut rng = Rng::new(0);
    let mut pu: Vec<u32> = (0..n_users as u32).collect();
    let mut pi: Vec<u32> = (0..n_items as u32).collect();
    rng.shuffle(&mut pu);
    rng.shuffle(&mut pi);
    let users: Vec<u32> = (0..n)
        .map(|_| pu[power_law(&mut rng, n_users, 0.5) as usize])
        .collect();
    let items: Vec<u32> = (0..n)
        .map(|_| pi[power_law(&mut rng, n_items, 0.8) as usize])
        .collect();
    let ratings: Vec<f32> = (0..n).map(|_| 1.0 + rng.below(9) as f32 * 0.5).collect();
    let data = Interactions::new(&users, &items, &ratings, n_users, n_items).unwrap();
    let params = SgdParams {
        n_factors: k,
        n_epochs: epochs,
        n_blocks: args.get(6).copied().filter(|&b| b > 0),
        biased: args.get(7).map_or(true, |&b| b != 0),
        ..SgdParams::surprise()
    };
    let pool = build_pool(threads).unwrap();
    let par = if threads > 1 {
        Par::Pool(&pool)
    } else {
        Par::Seq
    };
    let start = Instant::now();
    let f = fit(&data, &params, par, &mut Print).unwrap();
    let mut secs: Vec<f64> = f.history.iter().map(|s| s.seconds).collect();
    secs.sort_by(f64::total_cmp);
    let med = secs[secs.len() / 2];
    println!(
        "n={n} k={k} threads={threads}: median epoch {med:.4}s = {:.1}M updates/s (total {:.1}s)",
        n as f64 / med / 1e6,
        start.elapsed().as_secs_f64()
    );
}
