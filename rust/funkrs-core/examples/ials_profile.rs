//! Times `implicit-als` fits on interactions dumped to disk, without Python in the loop.
//!
//! `cargo run --release -p funkrs-core --example ials_profile -- DIR [threads] [k] [iterations]`
//! reads `DIR/users.u32`, `DIR/items.u32`, `DIR/values.f32` (native-endian, one entry per
//! interaction; users and items numbered from 0) and prints the seconds of every iteration.
//! To dump the Last.fm-360K shape of `benchmarks/implicit_als.py`:
//!
//! ```text
//! d = implicit_als.generate(*implicit_als.SHAPE)
//! d.users.astype("uint32").tofile("DIR/users.u32"); d.items.astype("uint32").tofile(...)
//! np.asarray(d.values).astype("float32").tofile("DIR/values.f32")
//! ```

use std::time::Instant;

use funkrs_core::ials::{fit, IalsParams};
use funkrs_core::par::build_pool;
use funkrs_core::{Interactions, Par};

fn read<T: Copy, const N: usize>(path: &str, conv: fn([u8; N]) -> T) -> Vec<T> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    bytes
        .chunks_exact(N)
        .map(|c| conv(c.try_into().expect("chunk size")))
        .collect()
}

/// CPU seconds this process has run on all its threads (0 off Linux).
fn process_cpu() -> f64 {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    }
    #[cfg(not(target_os = "linux"))]
    0.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().expect("DIR");
    let num = |i: usize, d: usize| args.get(i).map_or(d, |a| a.parse().expect("a number"));
    let (threads, k, iterations) = (num(1, 2), num(2, 64), num(3, 3));
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
    let params = IalsParams {
        n_factors: k,
        n_iter: iterations,
        ..IalsParams::default()
    };
    let (start, cpu) = (Instant::now(), process_cpu());
    let f = fit(&data, &params, par, &mut || Ok(())).unwrap();
    let (total, cpu) = (start.elapsed().as_secs_f64(), process_cpu() - cpu);
    let secs: Vec<String> = f
        .history
        .iter()
        .map(|s| format!("{:.3}", s.seconds))
        .collect();
    let checksum: f64 = f.item_factors.iter().map(|&v| f64::from(v).abs()).sum();
    println!(
        "{} interactions, {nu} users, {ni} items, k={k}, threads={threads}: iterations [{}] s, \
         total {total:.2} s, {cpu:.2} CPU s; sum |Y| {checksum:.6}",
        data.len(),
        secs.join(", ")
    );
}
