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

use crate::blocks::{check_common, init_rows, n_groups, padded, unpad, BlockGrid, Entry};
use crate::data::Interactions;
use crate::mem::Need;
use crate::par::Par;
use crate::sgd::{dot8, AlignedF32, Units};
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

/// Raw views of the parameters one block updates: padded factor rows of `kp` floats and
/// the biases.
#[derive(Clone, Copy)]
struct Rows {
    p: *mut f32,
    q: *mut f32,
    bu: *mut f32,
    bi: *mut f32,
}

// SAFETY: a block only touches the rows of its own users and items, and the blocks that run
// at once share none (the grid); `Rows` is only a way to hand the buffers to them.
unsafe impl Send for Rows {}
unsafe impl Sync for Rows {}

/// Constants of one projected step.
#[derive(Clone, Copy, Debug)]
struct Step {
    lr: f32,
    reg: f32,
    /// Padded row length, a multiple of 8.
    kp: usize,
}

/// How many ratings ahead the block loops prefetch the item row: the item rows of a block
/// are drawn from its whole item group, the user rows of a block (a few hundred, interleaved
/// in rounds) stay in L1.
const PREFETCH_AHEAD: usize = 8;

/// Prefetches every cache line of the item row of `e` (rows start on a line: `AlignedF32`).
#[inline(always)]
#[allow(clippy::inline_always)] // the kernels' innermost loop
fn fetch(x: Rows, kp: usize, e: &Entry) {
    let row = x.q.wrapping_add(e.i as usize * kp);
    let mut off = 0;
    while off < kp {
        crate::hint::prefetch(row.wrapping_add(off));
        off += 16;
    }
}

/// `max(v, 0)` with `maxps`' semantics (`v > 0 ? v : 0`): −0 and NaN give +0, as the AVX2
/// loop's `_mm256_max_ps(v, 0)` does, so that both loops give the same bits.
#[inline(always)]
#[allow(clippy::inline_always)] // the kernels' innermost loop
fn project(v: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        0.0
    }
}

/// The bias steps of one rating once its dot product is known; returns the error (before
/// the update).
///
/// # Safety
/// `u` and `i` index `x.bu` and `x.bi`; no other thread touches them.
#[inline(always)]
#[allow(clippy::inline_always)] // the kernels' innermost loop
unsafe fn bias_step(x: Rows, e: &Entry, dot: f32, s: Step) -> f32 {
    // SAFETY: caller contract.
    let (bu, bi) = unsafe { (&mut *x.bu.add(e.u as usize), &mut *x.bi.add(e.i as usize)) };
    let err = e.r - (*bu + *bi + dot);
    *bu += s.lr * (err - s.reg * *bu);
    *bi += s.lr * (err - s.reg * *bi);
    err
}

/// Projected SGD over one block's ratings, one at a time (portable code); returns their
/// squared error (before each update), summed in f64 in block order.
///
/// Per rating, with `le = lr·err` and `lreg = lr·reg`, both rows from the old values:
/// `p ← max(0, le·q + (p − lreg·p))` and `q ← max(0, le·p + (q − lreg·q))`, each a pair of
/// fused multiply-adds (`f32::mul_add`, which rounds once on every platform, as the AVX2
/// loop's hardware FMA does); the dot product is `sgd`'s [`dot8`] (same lane order as the
/// AVX2 loop's). The AVX2 loop does exactly these operations, so both give the same bits.
///
/// # Safety
/// Every `u`/`i` of `block` indexes a row (`s.kp` floats) of `x.p`/`x.q` and an entry of
/// `x.bu`/`x.bi`, and no other thread touches those during the call.
#[inline(always)]
#[allow(clippy::inline_always)] // also compiled inside the AVX2 copy for wide rows
unsafe fn block_portable(block: &[Entry], x: Rows, s: Step) -> f64 {
    let kp = s.kp;
    let (le_of, lreg) = (|err: f32| s.lr * err, s.lr * s.reg);
    let mut sse = 0f64;
    for (j, e) in block.iter().enumerate() {
        if let Some(ahead) = block.get(j + PREFETCH_AHEAD) {
            fetch(x, kp, ahead);
        }
        // SAFETY: in range and exclusive (caller contract); `p` and `q` are different
        // buffers.
        let (p, q) = unsafe {
            (
                std::slice::from_raw_parts_mut(x.p.add(e.u as usize * kp), kp),
                std::slice::from_raw_parts_mut(x.q.add(e.i as usize * kp), kp),
            )
        };
        // SAFETY: caller contract.
        let err = unsafe { bias_step(x, e, dot8(p, q), s) };
        sse += f64::from(err) * f64::from(err);
        let le = le_of(err);
        for (pc, qc) in p.chunks_exact_mut(8).zip(q.chunks_exact_mut(8)) {
            let pa: [f32; 8] = (*pc).try_into().expect("8 lanes");
            let qa: [f32; 8] = (*qc).try_into().expect("8 lanes");
            for l in 0..8 {
                pc[l] = project(le.mul_add(qa[l], (-lreg).mul_add(pa[l], pa[l])));
                qc[l] = project(le.mul_add(pa[l], (-lreg).mul_add(qa[l], qa[l])));
            }
        }
    }
    sse
}

/// The AVX2 + FMA block loop for rows of `C` 8-lane chunks (`kp = 8·C`): [`block_portable`]'s
/// operations in its order, with the rows held in registers, and two consecutive ratings that
/// share no user and no item run side by side (their dot products, errors and steps
/// interleaved), so that the CPU overlaps their dependency chains. Parameters of the two are
/// disjoint and the squared errors are summed in block order, so the bits are those of one
/// rating at a time.
///
/// # Safety
/// The CPU supports AVX2 and FMA, `s.kp == 8·C`, and [`block_portable`]'s contract.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2<const C: usize>(block: &[Entry], x: Rows, s: Step) -> f64 {
    use std::arch::x86_64::{
        __m256, _mm256_fmadd_ps, _mm256_fnmadd_ps, _mm256_loadu_ps, _mm256_max_ps, _mm256_set1_ps,
        _mm256_setzero_ps, _mm256_storeu_ps,
    };
    debug_assert_eq!(s.kp, 8 * C);
    let kp = s.kp;
    let zero = _mm256_setzero_ps();
    let lreg = _mm256_set1_ps(s.lr * s.reg);
    let rows = |e: &Entry| {
        (
            x.p.wrapping_add(e.u as usize * kp),
            x.q.wrapping_add(e.i as usize * kp),
        )
    };
    // SAFETY (both closures): rows of `kp = 8·C` floats, in range (caller contract).
    let load = |r: *mut f32| -> [__m256; C] {
        std::array::from_fn(|c| unsafe { _mm256_loadu_ps(r.add(8 * c)) })
    };
    // `dot8`'s order: even chunks into one sum, odd chunks into the other, then the fold.
    let dot = |p: &[__m256; C], q: &[__m256; C]| {
        let mut acc = [zero; 2];
        for c in 0..C {
            acc[c % 2] = _mm256_fmadd_ps(p[c], q[c], acc[c % 2]);
        }
        crate::sgd::fold_avx2(acc[0], acc[1])
    };
    let step = |(pr, qr): (*mut f32, *mut f32), p: &[__m256; C], q: &[__m256; C], err: f32| {
        let le = _mm256_set1_ps(s.lr * err);
        for c in 0..C {
            let np = _mm256_fmadd_ps(le, q[c], _mm256_fnmadd_ps(lreg, p[c], p[c]));
            let nq = _mm256_fmadd_ps(le, p[c], _mm256_fnmadd_ps(lreg, q[c], q[c]));
            // SAFETY: as `load`.
            unsafe {
                _mm256_storeu_ps(pr.add(8 * c), _mm256_max_ps(np, zero));
                _mm256_storeu_ps(qr.add(8 * c), _mm256_max_ps(nq, zero));
            }
        }
    };
    let mut sse = 0f64;
    let mut j = 0;
    while j < block.len() {
        let e0 = &block[j];
        match block.get(j + 1) {
            Some(e1) if e1.u != e0.u && e1.i != e0.i => {
                for ahead in block.iter().skip(j + PREFETCH_AHEAD).take(2) {
                    fetch(x, kp, ahead);
                }
                let (r0, r1) = (rows(e0), rows(e1));
                let (p0, q0, p1, q1) = (load(r0.0), load(r0.1), load(r1.0), load(r1.1));
                let (d0, d1) = (dot(&p0, &q0), dot(&p1, &q1));
                // SAFETY: caller contract; the two ratings share no bias.
                let (err0, err1) = unsafe { (bias_step(x, e0, d0, s), bias_step(x, e1, d1, s)) };
                sse += f64::from(err0) * f64::from(err0);
                sse += f64::from(err1) * f64::from(err1);
                step(r0, &p0, &q0, err0);
                step(r1, &p1, &q1, err1);
                j += 2;
            }
            _ => {
                if let Some(ahead) = block.get(j + PREFETCH_AHEAD) {
                    fetch(x, kp, ahead);
                }
                let r0 = rows(e0);
                let (p0, q0) = (load(r0.0), load(r0.1));
                // SAFETY: caller contract.
                let err0 = unsafe { bias_step(x, e0, dot(&p0, &q0), s) };
                sse += f64::from(err0) * f64::from(err0);
                step(r0, &p0, &q0, err0);
                j += 1;
            }
        }
    }
    sse
}

/// [`block_portable`] compiled for AVX2 and FMA (rows wider than [`block_avx2`] handles).
///
/// # Safety
/// The CPU supports AVX2 and FMA, and [`block_portable`]'s contract.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_wide_avx2(block: &[Entry], x: Rows, s: Step) -> f64 {
    // SAFETY: forwarded contract.
    unsafe { block_portable(block, x, s) }
}

/// Projected SGD over one block with the fastest loop the CPU has; all give the same bits.
///
/// # Safety
/// As [`block_portable`].
unsafe fn run_block(block: &[Entry], x: Rows, s: Step, avx2: bool) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: AVX2 and FMA were detected; the rest is the caller's contract.
        return unsafe {
            match s.kp / 8 {
                1 => block_avx2::<1>(block, x, s),
                2 => block_avx2::<2>(block, x, s),
                3 => block_avx2::<3>(block, x, s),
                4 => block_avx2::<4>(block, x, s),
                _ => block_wide_avx2(block, x, s),
            }
        };
    }
    let _ = avx2;
    // SAFETY: forwarded contract.
    unsafe { block_portable(block, x, s) }
}

/// `n` rows of width `k` widened to `kp` with zeros, starting on a cache line (with `kp = 16`
/// every row is exactly one line).
fn pad_aligned(v: &[f32], k: usize, kp: usize) -> AlignedF32 {
    let mut out = AlignedF32::zeros(v.len() / k.max(1) * kp);
    for (to, from) in out.chunks_exact_mut(kp).zip(v.chunks_exact(k)) {
        to[..k].copy_from_slice(from);
    }
    out
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
    let mut p = pad_aligned(&init_rows(nu, k, params.seed, 1, par, uniform), k, kp);
    let mut q = pad_aligned(&init_rows(ni, k, params.seed, 2, par, uniform), k, kp);
    let (mut bu, mut bi) = (vec![0f32; nu], vec![0f32; ni]);
    let (lr, reg) = (params.lr, params.reg);
    #[cfg(target_arch = "x86_64")]
    let avx2 = crate::hint::has_avx2_fma();
    #[cfg(not(target_arch = "x86_64"))]
    let avx2 = false;
    let rows = Rows {
        p: p.as_mut_ptr(),
        q: q.as_mut_ptr(),
        bu: bu.as_mut_ptr(),
        bi: bi.as_mut_ptr(),
    };
    let step = Step { lr, reg, kp };
    let mut train_rmse = Vec::with_capacity(params.n_epochs);
    for epoch in 1..=params.n_epochs {
        // SAFETY: the grid's ids index the rows (it was built from `data`); the blocks of a
        // stratum share no user and no item and each runs on one thread; the buffers outlive
        // the epoch and nothing else touches them meanwhile.
        let sse = grid.epoch(params.seed, epoch, par, check, |block| unsafe {
            run_block(block, rows, step, avx2)
        })?;
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

    /// The AVX2 loops (rows in registers for 1 to 4 chunks, the portable code compiled for
    /// AVX2 beyond) give the portable loop's bits: pairs side by side, single ratings, rows
    /// clamped at 0, and the squared error.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_block_loops_match_the_portable_one_bit_for_bit() {
        if !crate::hint::has_avx2_fma() {
            return;
        }
        let mut rng = crate::rng::Rng::new(17);
        for (kp, n_users, n_items) in [(8, 3, 2), (16, 5, 40), (24, 4, 3), (32, 9, 7), (48, 6, 11)]
        {
            // Runs of one user and repeated items, so that pairs that share a row occur.
            let mut block: Vec<Entry> = (0..600)
                .map(|j| Entry {
                    u: if j % 40 < 8 { 0 } else { (j % n_users) as u32 },
                    i: rng.below(n_items as u64) as u32,
                    r: rng.next_f64() as f32 * 6.0 - 3.0,
                })
                .collect();
            // A last rating far below any prediction pushes its rows below zero, where the
            // projection clamps them (and no later step moves them off again).
            block.last_mut().expect("ratings").r = -100.0;
            let mut draw = |n: usize, lo: f64| -> Vec<f32> {
                (0..n).map(|_| (rng.next_f64() + lo) as f32 * 0.5).collect()
            };
            let start = (
                draw(n_users * kp, 0.0),
                draw(n_items * kp, 0.0),
                draw(n_users, -0.5),
                draw(n_items, -0.5),
            );
            let step = Step {
                lr: 0.05,
                reg: 0.02,
                kp,
            };
            let run = |avx2: bool| {
                let (mut p, mut q, mut bu, mut bi) = start.clone();
                let x = Rows {
                    p: p.as_mut_ptr(),
                    q: q.as_mut_ptr(),
                    bu: bu.as_mut_ptr(),
                    bi: bi.as_mut_ptr(),
                };
                // SAFETY: ids in range; nothing else touches the buffers.
                let sse = unsafe { run_block(&block, x, step, avx2) };
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                (sse.to_bits(), bits(&p), bits(&q), bits(&bu), bits(&bi))
            };
            let portable = run(false);
            assert!(run(true) == portable, "kp {kp}");
            let zeros = portable
                .1
                .iter()
                .chain(&portable.2)
                .filter(|&&b| b == 0)
                .count();
            assert!(zeros > 0, "kp {kp}: no factor was clamped");
            assert!(portable
                .1
                .iter()
                .chain(&portable.2)
                .all(|&b| f32::from_bits(b) >= 0.0));
        }
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
