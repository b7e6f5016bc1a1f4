//! Times the Gram product and the other products of `imputed-svd`, or runs the solver, on
//! ratings dumped to disk, without Python in the loop.
//!
//! `cargo run --release -p funkrs-core --example svd_profile -- DIR [threads] [mode] [k] [tol]`
//! reads `DIR/users.u32`, `DIR/items.u32`, `DIR/values.f32` (native-endian, one entry per
//! rating) and `DIR/b.f64` (the item means); `mode` is `products` (default) or `solve`, which
//! reads `BLOCK`, `BASIS` and `MAXIT` from the environment. To dump the Netflix-shape data:
//!
//! ```text
//! d = funkrs.datasets.synthetic(480_189, 17_770, 100_000_000, random_state=0)
//! d.users.astype("uint32").tofile("DIR/users.u32"); d.items.astype("uint32").tofile(...)
//! d.values.astype("float32").tofile(...); fill_vectors(d, "item")[1].tofile("DIR/b.f64")
//! ```

use std::time::Instant;

use funkrs_core::par::build_pool;
use funkrs_core::svd::implicit::{imputed_svd, ImputedMatrix, ImputedParams};
use funkrs_core::Par;

fn read<T: Copy, const N: usize>(path: &str, conv: fn([u8; N]) -> T) -> Vec<T> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    bytes
        .chunks_exact(N)
        .map(|c| conv(c.try_into().expect("chunk size")))
        .collect()
}

/// CPU seconds (user + system) of this process so far, from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // fields 14 and 15 of the file are the 12th and 13th after the command name
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("DIR");
    let threads: usize = args.get(2).map_or(2, |s| s.parse().expect("threads"));
    let mode = args.get(3).map_or("products", String::as_str);
    let users = read(&format!("{dir}/users.u32"), u32::from_ne_bytes);
    let items = read(&format!("{dir}/items.u32"), u32::from_ne_bytes);
    let values = read(&format!("{dir}/values.f32"), f32::from_ne_bytes);
    let b = read(&format!("{dir}/b.f64"), f64::from_ne_bytes);
    let m = *users.iter().max().expect("ratings") as usize + 1;
    let nnz = values.len() as f64;
    let t = Instant::now();
    let x = ImputedMatrix::new(&users, &items, &values, vec![1.0; m], b).expect("matrix");
    drop((users, items, values));
    println!(
        "build {:.2}s, shape {:?}",
        t.elapsed().as_secs_f64(),
        x.shape()
    );
    let pool = build_pool(threads).expect("pool");
    let par = if threads > 1 {
        Par::Pool(&pool)
    } else {
        Par::Seq
    };
    let (m, n) = x.shape();
    if mode == "solve" {
        let k: usize = args.get(4).map_or(50, |s| s.parse().expect("k"));
        let tol: f64 = args.get(5).map_or(1e-6, |s| s.parse().expect("tol"));
        let env = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.parse::<usize>().expect(name))
        };
        let params = ImputedParams {
            k,
            tol,
            block_size: env("BLOCK").unwrap_or(0),
            max_basis: env("BASIS").unwrap_or(0),
            max_iter: env("MAXIT").unwrap_or(1000),
            ..ImputedParams::default()
        };
        let t = Instant::now();
        let r = imputed_svd(&x, &params, par).expect("svd");
        println!(
            "solve {:.2}s n_iter {} residual {:.2e} converged {}",
            t.elapsed().as_secs_f64(),
            r.n_iter,
            r.residual,
            r.converged
        );
        println!("sigma {:?}", r.svd.s);
        return;
    }
    let reps = 3;
    for l in [8usize, 16, 24, 32, 50] {
        let ns = m.min(n);
        let blk: Vec<f64> = (0..ns * l)
            .map(|j| ((j * 7919) % 1000) as f64 / 1e3)
            .collect();
        let mut out = vec![0.0; ns * l];
        let mut best = f64::INFINITY;
        let mut cpu = f64::INFINITY;
        for _ in 0..reps {
            let t = Instant::now();
            let c = cpu_seconds();
            x.gram(&blk, l, &mut out, par);
            cpu = cpu.min(cpu_seconds() - c);
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "l={l:3}  gram {best:.3}s wall, {cpu:.2}s cpu ({:.3} cpu-ns/nnz/col, two passes)",
            cpu * 1e9 / nnz / l as f64
        );
    }
    let l = 50;
    let blk_n: Vec<f64> = (0..n * l)
        .map(|j| ((j * 7919) % 1000) as f64 / 1e3)
        .collect();
    let blk_m: Vec<f64> = (0..m * l)
        .map(|j| ((j * 7919) % 1000) as f64 / 1e3)
        .collect();
    let mut out_m = vec![0.0; m * l];
    let mut out_n = vec![0.0; n * l];
    let (mut ta, mut tt) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..reps {
        let t = Instant::now();
        x.apply(&blk_n, l, &mut out_m, par);
        ta = ta.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        x.apply_t(&blk_m, l, &mut out_n, par);
        tt = tt.min(t.elapsed().as_secs_f64());
    }
    println!("l={l:3}  X·B {ta:.3}s  Xᵀ·C {tt:.3}s");
}
