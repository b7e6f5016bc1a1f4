//! Times `nmf` fits (and the funk-sgd fit at the same width) on ratings dumped to disk,
//! without Python in the loop.
//!
//! `cargo run --release -p funkrs-core --example nmf_profile -- DIR [threads] [k] [epochs] [repeats]`
//! reads `DIR/users.u32`, `DIR/items.u32`, `DIR/values.f32` (native-endian, one entry per
//! rating; users and items numbered from 0) and prints the median seconds of a fit with 0
//! epochs (the setup alone) and with `epochs` epochs. To dump MovieLens small's training part:
//!
//! ```text
//! tr = funkrs.datasets.movielens_small_split()[0]   # or any Ratings
//! tr.users.astype("uint32").tofile("DIR/users.u32"); tr.items.astype("uint32").tofile(...)
//! tr.values.astype("float32").tofile("DIR/values.f32")
//! ```

use std::time::Instant;

use funkrs_core::nmf::{fit, NmfParams};
use funkrs_core::par::build_pool;
use funkrs_core::{Interactions, Par};

fn read<T: Copy, const N: usize>(path: &str, conv: fn([u8; N]) -> T) -> Vec<T> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    bytes
        .chunks_exact(N)
        .map(|c| conv(c.try_into().expect("chunk size")))
        .collect()
}

/// CPU seconds the calling thread has run (what a one-thread fit costs, whatever else the
/// machine is running); 0 off Linux.
#[cfg(not(target_os = "linux"))]
fn thread_cpu() -> f64 {
    0.0
}

/// CPU seconds the calling thread has run (what a one-thread fit costs, whatever else the
/// machine is running).
#[cfg(target_os = "linux")]
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().expect("DIR");
    let num = |i: usize, d: usize| args.get(i).map_or(d, |a| a.parse().expect("a number"));
    let (threads, k, epochs, repeats) = (num(1, 1), num(2, 15), num(3, 20), num(4, 21));
    let users = read(&format!("{dir}/users.u32"), u32::from_ne_bytes);
    let items = read(&format!("{dir}/items.u32"), u32::from_ne_bytes);
    let values = read(&format!("{dir}/values.f32"), f32::from_ne_bytes);
    let nu = users.iter().max().map_or(0, |&u| u as usize + 1);
    let ni = items.iter().max().map_or(0, |&i| i as usize + 1);
    let data = Interactions::new(&users, &items, &values, nu, ni).unwrap();
    let pool = build_pool(threads).unwrap();
    let par = if threads > 1 {
        Par::Pool(&pool)
    } else {
        Par::Seq
    };
    for n_epochs in [0, epochs] {
        let params = NmfParams {
            n_factors: k,
            n_epochs,
            ..NmfParams::default()
        };
        let mut secs = Vec::new();
        let mut cpu = Vec::new();
        let mut last = None;
        for _ in 0..repeats {
            let (start, c0) = (Instant::now(), thread_cpu());
            last = Some(fit(&data, &params, par, &mut || Ok(())).unwrap());
            secs.push(start.elapsed().as_secs_f64());
            cpu.push(thread_cpu() - c0);
        }
        secs.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        let f = last.expect("one fit");
        println!(
            "{} ratings, {nu} users, {ni} items, k={k}, threads={threads}, epochs={n_epochs}: \
             median {:.2} ms (min {:.2}), calling thread's CPU median {:.2} ms; last train \
             RMSE {:?}",
            data.len(),
            secs[secs.len() / 2] * 1e3,
            secs[0] * 1e3,
            cpu[cpu.len() / 2] * 1e3,
            f.train_rmse.last()
        );
    }
}
