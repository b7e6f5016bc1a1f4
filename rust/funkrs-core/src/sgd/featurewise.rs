//! Funk's original schedule: one factor at a time against cached predictions.
//!
//! With $c_{ui}$ the cached prediction of the parameters already trained (initially $\mu$),
//! the bias phase fits $c_{ui} + b_u + b_i$, then factor $f = 1..k$ fits
//! $c_{ui} + p_{uf} q_{if}$ for `n_epochs` epochs each, after which $p_{uf} q_{if}$ is added
//! to the cache. Factor $f$ starts from the seeded normal initialisation; the factors not yet
//! trained are zero, so they do not enter any prediction. The blocks of a stratum are trained
//! in parallel exactly as in the joint schedule.

use std::time::Instant;

use rayon::prelude::*;

use super::grid::Grid;
use super::layout::Entry;
use super::state::State;
use super::{check_loss, Monitor, Run};
use crate::par::Par;
use crate::rng::Rng;
use crate::FunkError;

/// Which parameters a phase trains.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Biases,
    Factor(usize),
}

/// Raw views of the parameters and the cache, shared by the blocks of one stratum.
#[derive(Clone, Copy)]
struct Views {
    p: *mut f32,
    q: *mut f32,
    bu: *mut f32,
    bi: *mut f32,
    cache: *mut f32,
    kp: usize,
}

// SAFETY: used only by `Grid::for_strata`, which never runs two blocks that share rows or
// cache ranges at once.
unsafe impl Sync for Views {}
unsafe impl Send for Views {}

pub(crate) fn train(
    run: &mut Run<'_, '_>,
    grid: &Grid,
    state: &mut State,
    monitor: &mut dyn Monitor,
) -> Result<(), FunkError> {
    let k = state.k;
    let kp = state.kp;
    let init = (run.params.init_mean, run.params.init_std);
    state.p.iter_mut().for_each(|x| *x = 0.0);
    state.q.iter_mut().for_each(|x| *x = 0.0);
    let mut cache = vec![state.mu; grid.entries().len()];
    let mut phases = Vec::with_capacity(k + 1);
    if run.params.biased {
        phases.push(Phase::Biases);
    }
    phases.extend((0..k).map(Phase::Factor));
    let mut epoch = 0;
    for phase in phases {
        if let Phase::Factor(f) = phase {
            // Drawn in the caller's id order (users, then items), as rows are numbered there.
            let mut rng = Rng::stream(run.params.seed, 500 + f as u64);
            for (rows, map) in [
                (&mut state.p, &run.relabel.user),
                (&mut state.q, &run.relabel.item),
            ] {
                for &row in map {
                    let mut v = [0.0f32];
                    rng.fill_normal(&mut v, init.0, init.1);
                    rows[row as usize * kp + f] = v[0];
                }
            }
        }
        for t in 1..=run.params.n_epochs {
            epoch += 1;
            let start = Instant::now();
            let lr = run.params.lr_at(t);
            let mut sq = 0.0;
            let order = run.strata(grid, epoch);
            // One factor per update: about the cost of an 8-lane row.
            for strata in grid.runs(&order, 8) {
                let sums = train_strata(
                    grid,
                    strata,
                    phase,
                    &mut cache,
                    state,
                    (lr, run.params.reg),
                    run.par,
                );
                for sq_s in sums {
                    sq += check_loss(epoch, sq_s, lr)?;
                }
                monitor.check()?;
            }
            let feature = match phase {
                Phase::Biases => None,
                Phase::Factor(f) => Some(f),
            };
            run.end_epoch(epoch, feature, sq, lr, start, state, monitor)?;
        }
        absorb(grid.entries(), phase, &mut cache, state, run.par);
    }
    Ok(())
}

/// Adds the phase's trained term to every cached prediction.
fn absorb(entries: &[Entry], phase: Phase, cache: &mut [f32], state: &State, par: Par<'_>) {
    let kp = state.kp;
    let term = |e: &Entry| match phase {
        Phase::Biases => state.bu[e.u as usize] + state.bi[e.i as usize],
        Phase::Factor(f) => state.p[e.u as usize * kp + f] * state.q[e.i as usize * kp + f],
    };
    if par.is_parallel() {
        par.install(|| {
            cache
                .par_iter_mut()
                .zip(entries.par_iter())
                .for_each(|(c, e)| *c += term(e));
        });
    } else {
        cache
            .iter_mut()
            .zip(entries)
            .for_each(|(c, e)| *c += term(e));
    }
}

/// Trains `phase` over the blocks of `strata`; returns each stratum's squared errors.
fn train_strata(
    grid: &Grid,
    strata: &[usize],
    phase: Phase,
    cache: &mut [f32],
    state: &mut State,
    (lr, reg): (f32, f32),
    par: Par<'_>,
) -> Vec<f64> {
    let views = Views {
        p: state.p.as_mut_ptr(),
        q: state.q.as_mut_ptr(),
        bu: state.bu.as_mut_ptr(),
        bi: state.bi.as_mut_ptr(),
        cache: cache.as_mut_ptr(),
        kp: state.kp,
    };
    assert_eq!(cache.len(), grid.entries().len());
    let entries = grid.entries();
    let run = |s: usize, ub: usize| -> f64 {
        let range = grid.block_range(s, ub);
        // SAFETY: blocks that run at once have disjoint users, items and cache ranges; ids
        // were range-checked when the data was validated, and `cache` covers every entry.
        unsafe { block(&entries[range.clone()], range.start, phase, views, lr, reg) }
    };
    grid.for_strata(strata, par, run)
}

/// # Safety
/// No other thread touches the rows of these entries or `cache[offset..offset + len]`.
unsafe fn block(
    entries: &[Entry],
    offset: usize,
    phase: Phase,
    v: Views,
    lr: f32,
    reg: f32,
) -> f64 {
    let mut sq = 0.0f64;
    for (j, e) in entries.iter().enumerate() {
        let (u, i) = (e.u as usize, e.i as usize);
        // SAFETY: caller contract.
        unsafe {
            let base = *v.cache.add(offset + j);
            let err = match phase {
                Phase::Biases => {
                    let (bu, bi) = (&mut *v.bu.add(u), &mut *v.bi.add(i));
                    let err = e.r - (base + *bu + *bi);
                    *bu += lr * (err - reg * *bu);
                    *bi += lr * (err - reg * *bi);
                    err
                }
                Phase::Factor(f) => {
                    let (pf, qf) = (&mut *v.p.add(u * v.kp + f), &mut *v.q.add(i * v.kp + f));
                    let err = e.r - (base + *pf * *qf);
                    let (p0, q0) = (*pf, *qf);
                    *pf += lr * (err * q0 - reg * p0);
                    *qf += lr * (err * p0 - reg * q0);
                    err
                }
            };
            sq += f64::from(err * err);
        }
    }
    sq
}
