//! Alternating least squares for explicit ratings, with biases and weighted-λ regularisation
//! (Zhou et al. 2008, the objective of Spark MLlib's `ALS`).
//!
//! The model is `r̂ = μ + b_u + b_i + p_uᵀ q_i` (or `p_uᵀ q_i` unbiased), fitted to
//!
//! $$ \sum_{(u,i)} (r_{ui} - \hat r_{ui})^2 + \lambda \Big( \sum_u n_u (\lVert p_u\rVert^2 + b_u^2)
//!    + \sum_i n_i (\lVert q_i\rVert^2 + b_i^2) \Big), $$
//!
//! where `n_u`, `n_i` count the ratings of a user or item (weighted-λ: a row's penalty grows
//! with its data, so `λ` barely depends on the density of the matrix). With the items fixed,
//! each user's augmented vector `w = (p_u, b_u)` solves the ridge problem with rows
//! `x_i = (q_i, 1)` and targets `y_i = r_{ui} − μ − b_i`:
//!
//! $$ (X^\top X + \lambda n_u I)\, w = X^\top y, $$
//!
//! and symmetrically for items. Each half-step is a batch of these independent solves, by
//! faer's Cholesky in `f64`. A row with fewer ratings than unknowns solves the equivalent
//! `n_u × n_u` system `(X Xᵀ + λ n_u I) a = y`, `w = Xᵀ a` instead (the push-through identity):
//! on MovieLens small most items have fewer ratings than there are factors.
//!
//! Scale-free: the ratings are centred on their mean `c` and divided by their standard
//! deviation `s` (unbiased: no centring, `s` the root mean square) before fitting, and the
//! result is mapped back exactly (`μ = c`, `b = s b'`, `p = √s p'`, `q = √s q'`), so `λ` and
//! `init_std` mean the same on any rating scale.
//!
//! Deterministic for a seed whatever the thread count: every row is solved on its own from
//! inputs fixed for the half-step, the initial item factors are drawn in fixed chunks each from
//! its own stream of the seed, and the training error is summed over fixed chunks in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, MatMut, MatRef, Spec};
use rayon::prelude::*;

use crate::data::Interactions;
use crate::mem::Need;
use crate::par::Par;
use crate::rng::Rng;
use crate::FunkError;

/// Hyperparameters of [`fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct AlsParams {
    /// Number of latent factors `k`.
    pub n_factors: usize,
    /// Alternations (each one solves all users, then all items).
    pub n_iter: usize,
    /// Weighted-λ regularisation, in standardised units when `standardize`.
    pub reg: f32,
    /// Standard deviation of the normal initial item factors.
    pub init_std: f32,
    /// Fit `μ + b_u + b_i + p_uᵀq_i` (true) or `p_uᵀq_i`.
    pub biased: bool,
    /// Fit in standardised units (see the module docs).
    pub standardize: bool,
    /// Seed of the initial item factors.
    pub seed: u64,
}

/// The defaults of [`AlsParams`], chosen by `benchmarks/tune_defaults.py --solver als`.
pub mod defaults {
    /// Alternations.
    pub const N_ITER: usize = 10;
    /// Weighted-λ regularisation (standardised units).
    pub const REG: f32 = 0.08;
    /// Standard deviation of the initial item factors.
    pub const INIT_STD: f32 = 0.1;
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            n_factors: 100,
            n_iter: defaults::N_ITER,
            reg: defaults::REG,
            init_std: defaults::INIT_STD,
            biased: true,
            standardize: true,
            seed: 0,
        }
    }
}

impl AlsParams {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), FunkError> {
        if self.n_factors == 0 {
            return Err(FunkError::invalid("n_factors", "must be at least 1"));
        }
        if !(self.reg.is_finite() && self.reg > 0.0) {
            return Err(FunkError::invalid(
                "reg",
                format!(
                    "must be a finite number > 0 (it keeps every row's system solvable), got {}",
                    self.reg
                ),
            ));
        }
        if !(self.init_std.is_finite() && self.init_std > 0.0) {
            return Err(FunkError::invalid(
                "init_std",
                format!("must be a finite number > 0, got {}", self.init_std),
            ));
        }
        Ok(())
    }
}

/// What one alternation took and reached.
#[derive(Clone, Debug, PartialEq)]
pub struct AlsIter {
    /// 1-based alternation number.
    pub iteration: usize,
    /// RMSE on the training ratings after the alternation, in rating units.
    pub train_rmse: f64,
    /// Wall-clock seconds of the alternation.
    pub seconds: f64,
}

/// Fitted parameters in rating units: factors row-major `n_users × k` and `n_items × k`.
#[derive(Clone, Debug, PartialEq)]
pub struct AlsFactors {
    /// User factors `p_u`.
    pub user_factors: Vec<f32>,
    /// Item factors `q_i`.
    pub item_factors: Vec<f32>,
    /// User biases (zeros when unbiased).
    pub user_bias: Vec<f32>,
    /// Item biases (zeros when unbiased).
    pub item_bias: Vec<f32>,
    /// `μ` (the mean rating; 0 when unbiased).
    pub global_mean: f32,
    /// `k`.
    pub n_factors: usize,
    /// One entry per alternation.
    pub history: Vec<AlsIter>,
}

/// The ratings compressed by row (by user or by item), standardised.
struct Rows {
    ptr: Vec<usize>,
    idx: Vec<u32>,
    val: Vec<f32>,
}

impl Rows {
    /// Counting sort of `(rows[j], cols[j], (vals[j] − c) / s)` by row, each row's pairs in
    /// input order.
    fn new(rows: &[u32], cols: &[u32], vals: &[f32], c: f64, s: f64, n_rows: usize) -> Self {
        let mut ptr = vec![0usize; n_rows + 1];
        for &r in rows {
            ptr[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            ptr[r + 1] += ptr[r];
        }
        let mut next = ptr[..n_rows].to_vec();
        let mut idx = vec![0u32; rows.len()];
        let mut val = vec![0f32; rows.len()];
        for ((&r, &col), &v) in rows.iter().zip(cols).zip(vals) {
            let slot = &mut next[r as usize];
            idx[*slot] = col;
            val[*slot] = ((f64::from(v) - c) / s) as f32;
            *slot += 1;
        }
        Rows { ptr, idx, val }
    }

    fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (lo, hi) = (self.ptr[r], self.ptr[r + 1]);
        (&self.idx[lo..hi], &self.val[lo..hi])
    }
}

/// Rows per task of the parallel loops (fixed: the work split never depends on the threads).
const ROWS_PER_TASK: usize = 64;

/// The layout of one side's parameters: `d = k + 1` columns per row when biased (the last
/// one is the bias), `k` otherwise.
#[derive(Clone, Copy)]
struct Layout {
    k: usize,
    biased: bool,
}

impl Layout {
    fn d(self) -> usize {
        self.k + usize::from(self.biased)
    }
}

/// Per-task buffers of [`solve_row`], grown as needed and reused row after row.
#[derive(Default)]
struct Scratch {
    /// `Xᵀ`, column-major `d × n`: column `j` is the row `x_j`.
    xt: Vec<f64>,
    /// Targets, then the dual solution.
    y: Vec<f64>,
    /// The system matrix, column-major `m × m`.
    a: Vec<f64>,
    /// The primal right-hand side and solution.
    w: Vec<f64>,
    /// faer's workspace and the size it was made for.
    stack: Option<(usize, MemBuffer)>,
}

/// faer's workspace for an `m × m` factorisation and solve, from `slot` or newly made.
fn stack_for(slot: &mut Option<(usize, MemBuffer)>, m: usize) -> &mut MemStack {
    {
        if !matches!(slot, Some((cap, _)) if *cap >= m) {
            let req =
                llt::factor::cholesky_in_place_scratch::<f64>(m, faer::Par::Seq, Spec::default())
                    .or(llt::solve::solve_in_place_scratch::<f64>(
                        m,
                        1,
                        faer::Par::Seq,
                    ));
            *slot = Some((m, MemBuffer::new(req)));
        }
        let (_, buf) = slot.as_mut().expect("just made");
        MemStack::new(buf)
    }
}

/// Solves one row's ridge problem against the fixed `other` side into `out` (`d` values).
/// Returns false if a Cholesky factorisation met a non-positive pivot (non-finite input).
fn solve_row(
    out: &mut [f32],
    idx: &[u32],
    val: &[f32],
    other: &[f32],
    lay: Layout,
    reg: f32,
    sc: &mut Scratch,
) -> bool {
    let (k, d, n) = (lay.k, lay.d(), idx.len());
    if n == 0 {
        out.fill(0.0); // no ratings: the baseline (zero factors and bias)
        return true;
    }
    // Xᵀ (d × n) and y: rows x_j = (q_j, 1) and targets r − b_j (biased), or q_j and r.
    sc.xt.resize(d * n, 0.0);
    sc.y.resize(n, 0.0);
    for ((col, yj), (&i, &r)) in sc
        .xt
        .chunks_exact_mut(d)
        .zip(sc.y.iter_mut())
        .zip(idx.iter().zip(val))
    {
        let row = &other[i as usize * d..(i as usize + 1) * d];
        for (c, &v) in col[..k].iter_mut().zip(&row[..k]) {
            *c = f64::from(v);
        }
        *yj = f64::from(r);
        if lay.biased {
            col[k] = 1.0;
            *yj -= f64::from(row[k]);
        }
    }
    let xt = MatRef::from_column_major_slice(&sc.xt, d, n);
    let lambda = f64::from(reg) * n as f64;
    // The smaller of the two equivalent systems: d × d (primal) or n × n (dual).
    let primal = n >= d;
    let m = if primal { d } else { n };
    sc.a.resize(m * m, 0.0);
    let mut a = MatMut::from_column_major_slice_mut(&mut sc.a, m, m);
    let (lhs, rhs) = if primal {
        (xt, xt.transpose())
    } else {
        (xt.transpose(), xt)
    };
    triangular::matmul(
        a.rb_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        lhs,
        BlockStructure::Rectangular,
        rhs,
        BlockStructure::Rectangular,
        1.0,
        faer::Par::Seq,
    );
    for j in 0..m {
        a[(j, j)] += lambda;
    }
    if primal {
        // w = Xᵀ y, column by column of Xᵀ.
        sc.w.clear();
        sc.w.resize(d, 0.0);
        for (col, &yj) in sc.xt.chunks_exact(d).zip(&sc.y) {
            for (w, &x) in sc.w.iter_mut().zip(col) {
                *w += x * yj;
            }
        }
    }
    let mut a = MatMut::from_column_major_slice_mut(&mut sc.a, m, m);
    if llt::factor::cholesky_in_place(
        a.rb_mut(),
        llt::factor::LltRegularization::default(),
        faer::Par::Seq,
        stack_for(&mut sc.stack, m),
        Spec::default(),
    )
    .is_err()
    {
        return false;
    }
    let rhs = if primal { &mut sc.w } else { &mut sc.y };
    llt::solve::solve_in_place(
        a.rb(),
        MatMut::from_column_major_slice_mut(rhs.as_mut_slice(), m, 1),
        faer::Par::Seq,
        stack_for(&mut sc.stack, m),
    );
    if !primal {
        // w = Xᵀ a.
        sc.w.clear();
        sc.w.resize(d, 0.0);
        for (col, &aj) in sc.xt.chunks_exact(d).zip(&sc.y) {
            for (w, &x) in sc.w.iter_mut().zip(col) {
                *w += x * aj;
            }
        }
    }
    for (o, &w) in out.iter_mut().zip(&sc.w) {
        *o = w as f32;
    }
    true
}

/// Solves every row of `side` (`n × d`) against the fixed `other` side.
fn half_step(
    side: &mut [f32],
    rows: &Rows,
    other: &[f32],
    lay: Layout,
    reg: f32,
    par: Par<'_>,
) -> Result<(), FunkError> {
    let d = lay.d();
    let failed = AtomicBool::new(false);
    let task = |(t, chunk): (usize, &mut [f32])| {
        let mut sc = Scratch::default();
        for (j, out) in chunk.chunks_exact_mut(d).enumerate() {
            let (idx, val) = rows.row(t * ROWS_PER_TASK + j);
            if !solve_row(out, idx, val, other, lay, reg, &mut sc) {
                failed.store(true, Ordering::Relaxed);
            }
        }
    };
    par.for_each_chunk_mut(side, ROWS_PER_TASK * d, task);
    if failed.load(Ordering::Relaxed) {
        return Err(FunkError::NoConvergence(format!(
            "ALS: a row's normal equations were not positive definite (reg={reg}); the factors \
             are no longer finite, use a larger reg"
        )));
    }
    Ok(())
}

/// Root mean squared training error (standardised units) of the current parameters.
fn train_rmse(users: &[f32], items: &[f32], by_user: &Rows, lay: Layout, par: Par<'_>) -> f64 {
    let d = lay.d();
    let n_users = by_user.ptr.len() - 1;
    let part = |t: usize| {
        let mut sse = 0f64;
        for u in t * ROWS_PER_TASK..((t + 1) * ROWS_PER_TASK).min(n_users) {
            let pu = &users[u * d..(u + 1) * d];
            let (idx, val) = by_user.row(u);
            for (&i, &r) in idx.iter().zip(val) {
                let qi = &items[i as usize * d..(i as usize + 1) * d];
                let mut pred: f32 = pu[..lay.k]
                    .iter()
                    .zip(&qi[..lay.k])
                    .map(|(a, b)| a * b)
                    .sum();
                if lay.biased {
                    pred += pu[lay.k] + qi[lay.k];
                }
                sse += f64::from(r - pred).powi(2);
            }
        }
        sse
    };
    let tasks = n_users.div_ceil(ROWS_PER_TASK);
    let parts: Vec<f64> = if par.is_parallel() {
        par.install(|| (0..tasks).into_par_iter().map(part).collect())
    } else {
        (0..tasks).map(part).collect()
    };
    let n = by_user.idx.len().max(1) as f64;
    (parts.iter().sum::<f64>() / n).sqrt()
}

/// Seeded normal item factors (biases zero), drawn in fixed chunks each from its own stream.
fn init_items(n: usize, lay: Layout, params: &AlsParams, par: Par<'_>) -> Vec<f32> {
    let d = lay.d();
    let mut out = vec![0f32; n * d];
    let draw = |(c, chunk): (usize, &mut [f32])| {
        let mut rng = Rng::stream(params.seed, c as u64);
        for row in chunk.chunks_exact_mut(d) {
            rng.fill_normal(&mut row[..lay.k], 0.0, params.init_std);
        }
    };
    par.for_each_chunk_mut(&mut out, ROWS_PER_TASK * d, draw);
    out
}

/// The centre `c` and scale `s` of the ratings (see the module docs).
fn standardisation(ratings: &[f32], biased: bool, standardize: bool) -> (f64, f64) {
    let n = ratings.len() as f64;
    let c = if biased {
        ratings.iter().map(|&r| f64::from(r)).sum::<f64>() / n
    } else {
        0.0
    };
    if !standardize {
        return (c, 1.0);
    }
    let s = (ratings
        .iter()
        .map(|&r| (f64::from(r) - c).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    (c, if s > 0.0 && s.is_finite() { s } else { 1.0 })
}

/// Fits biased (or unbiased) ALS on `data`; `check` is called from the calling thread before
/// every half-step, and an error from it stops the fit (Ctrl-C).
pub fn fit(
    data: &Interactions<'_>,
    params: &AlsParams,
    par: Par<'_>,
    check: &mut dyn FnMut() -> Result<(), FunkError>,
) -> Result<AlsFactors, FunkError> {
    params.validate()?;
    if data.is_empty() {
        return Err(FunkError::Shape("cannot fit on zero ratings".into()));
    }
    let lay = Layout {
        k: params.n_factors,
        biased: params.biased,
    };
    let d = lay.d();
    let rows = (data.n_users + data.n_items) as u128;
    let nnz = data.len() as u128;
    Need::default()
        .add::<f32>(rows.saturating_mul(2 * d as u128), || {
            format!(
                "the factors ({} users and {} items × {d} parameters, fitted and returned)",
                data.n_users, data.n_items
            )
        })
        .add::<u64>(nnz.saturating_mul(4), || {
            format!("the ratings by user and by item ({nnz} ratings)")
        })
        .check("; use fewer factors")?;
    let (c, s) = standardisation(data.ratings, params.biased, params.standardize);
    let by_user = Rows::new(data.users, data.items, data.ratings, c, s, data.n_users);
    let by_item = Rows::new(data.items, data.users, data.ratings, c, s, data.n_items);
    let mut users = vec![0f32; data.n_users * d];
    let mut items = init_items(data.n_items, lay, params, par);
    let mut history = Vec::with_capacity(params.n_iter);
    for iteration in 1..=params.n_iter {
        let start = Instant::now();
        check()?;
        half_step(&mut users, &by_user, &items, lay, params.reg, par)?;
        check()?;
        half_step(&mut items, &by_item, &users, lay, params.reg, par)?;
        if let Some(bad) = users.iter().chain(&items).find(|v| !v.is_finite()) {
            return Err(FunkError::NoConvergence(format!(
                "ALS: a parameter became {bad} at iteration {iteration}; use a larger reg"
            )));
        }
        let rmse = train_rmse(&users, &items, &by_user, lay, par) * s;
        history.push(AlsIter {
            iteration,
            train_rmse: rmse,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    Ok(unscale(users, items, lay, c, s, history))
}

/// Splits the augmented rows into factors and biases, in rating units.
fn unscale(
    users: Vec<f32>,
    items: Vec<f32>,
    lay: Layout,
    c: f64,
    s: f64,
    history: Vec<AlsIter>,
) -> AlsFactors {
    let (k, d) = (lay.k, lay.d());
    let root = s.sqrt();
    let split = |aug: Vec<f32>| {
        let n = aug.len() / d;
        let mut f = Vec::with_capacity(n * k);
        let mut b = vec![0f32; n];
        for (row, bias) in aug.chunks_exact(d).zip(b.iter_mut()) {
            f.extend(row[..k].iter().map(|&v| (f64::from(v) * root) as f32));
            if lay.biased {
                *bias = (f64::from(row[k]) * s) as f32;
            }
        }
        (f, b)
    };
    let (user_factors, user_bias) = split(users);
    let (item_factors, item_bias) = split(items);
    AlsFactors {
        user_factors,
        item_factors,
        user_bias,
        item_bias,
        global_mean: c as f32,
        n_factors: k,
        history,
    }
}

/// A fitted model in rating units, rows already grown to the increment's users and items
/// (new rows zero), with the scale `s` of its training units (`μ` is the centre).
#[derive(Clone, Copy, Debug)]
pub struct AlsModel<'a> {
    /// `k`.
    pub n_factors: usize,
    /// `n_users × k`, row-major.
    pub user_factors: &'a [f32],
    /// `n_items × k`, row-major.
    pub item_factors: &'a [f32],
    /// `b_u` (zeros when unbiased).
    pub user_bias: &'a [f32],
    /// `b_i`.
    pub item_bias: &'a [f32],
    /// `μ`, the centre of the training units (0 when unbiased).
    pub global_mean: f32,
    /// The scale `s > 0` of the training units.
    pub scale: f64,
    /// Whether the model is biased.
    pub biased: bool,
}

/// The row solve of an update: the old ratings enter through their normal equations
/// rebuilt from the row before the update (see [`update`]).
struct ExplicitRow {
    lay: Layout,
    reg: f64,
}

impl ExplicitRow {
    /// `x = (q, 1)` (biased) or `q` from an augmented row, and the partner's bias.
    fn x(&self, row: &[f32], x: &mut [f64]) -> f64 {
        let k = self.lay.k;
        for (a, &v) in x[..k].iter_mut().zip(&row[..k]) {
            *a = f64::from(v);
        }
        if self.lay.biased {
            x[k] = 1.0;
            f64::from(row[k])
        } else {
            0.0
        }
    }
}

/// Adds `x xᵀ` to the lower triangle of the column-major `d × d` matrix `a`.
fn add_outer(a: &mut [f64], x: &[f64]) {
    let d = x.len();
    for c in 0..d {
        let xc = x[c];
        for r in c..d {
            a[c * d + r] += x[r] * xc;
        }
    }
}

impl crate::increment::RowUpdate for ExplicitRow {
    type Prep = ();

    fn width(&self) -> usize {
        self.lay.d()
    }

    fn prepare(&self, _: &[f32], _: &[f32], _: Par<'_>) {}

    fn solve(&self, (): &(), job: &crate::increment::RowJob<'_>, out: &mut [f32]) -> bool {
        let d = self.lay.d();
        let mut a = vec![0f64; d * d];
        let mut x = vec![0f64; d];
        // The old ratings: X_oᵀX_o + λ n_o I from the partners as they were, and X_oᵀy_o
        // recovered as that matrix times the row as it was (the row solved them).
        for &j in job.old_idx {
            let j = j as usize;
            self.x(&job.other_orig[j * d..(j + 1) * d], &mut x);
            add_outer(&mut a, &x);
        }
        let lambda_old = self.reg * job.old_idx.len() as f64;
        for c in 0..d {
            a[c * d + c] += lambda_old;
        }
        let mut b = vec![0f64; d];
        for c in 0..d {
            let wc = f64::from(job.orig[c]);
            for r in 0..d {
                let v = if r >= c { a[c * d + r] } else { a[r * d + c] };
                b[r] += v * wc;
            }
        }
        // The new ratings against the partners as they are now.
        for (&j, &y) in job.new_idx.iter().zip(job.new_val) {
            let j = j as usize;
            let bias = self.x(&job.other[j * d..(j + 1) * d], &mut x);
            add_outer(&mut a, &x);
            let t = f64::from(y) - bias;
            for (bb, &xv) in b.iter_mut().zip(&x) {
                *bb += xv * t;
            }
        }
        let lambda_new = self.reg * job.new_idx.len() as f64;
        for c in 0..d {
            a[c * d + c] += lambda_new;
        }
        let mut a = MatMut::from_column_major_slice_mut(&mut a, d, d);
        let mut slot = None;
        if llt::factor::cholesky_in_place(
            a.rb_mut(),
            llt::factor::LltRegularization::default(),
            faer::Par::Seq,
            stack_for(&mut slot, d),
            Spec::default(),
        )
        .is_err()
        {
            return false;
        }
        llt::solve::solve_in_place(
            a.rb(),
            MatMut::from_column_major_slice_mut(&mut b, d, 1),
            faer::Par::Seq,
            stack_for(&mut slot, d),
        );
        for (o, &w) in out.iter_mut().zip(&b) {
            *o = w as f32;
        }
        b.iter().all(|w| w.is_finite())
    }
}

/// Updates a fitted model with the ratings of `inc` (in rating units) by `n_iter`
/// alternations over the rows they touch, each row solved exactly as in [`fit`] against
/// the fixed other side, in the training units of the fit (`μ` and `model.scale`).
///
/// The training ratings are not stored, only which items each user rated. A touched row's
/// old ratings enter through their normal equations: `X_oᵀX_o + λ n_o I` is rebuilt from its
/// old partners as they were before the update, and `X_oᵀy_o` as that matrix times the row
/// as it was (exact when the row was solved against those partners, as at the end of
/// [`fit`]); the new ratings add their own terms against the partners as they are now. So an
/// update with no new ratings for a row leaves it as it was, and rows no new rating touches
/// keep their exact bits. New rows (zero) start from their new ratings alone; see
/// [`crate::increment`] for the order of the half-steps. `μ` stays.
pub fn update(
    model: &AlsModel<'_>,
    inc: &crate::increment::Increment<'_>,
    reg: f32,
    n_iter: usize,
    par: Par<'_>,
    check: &mut dyn FnMut() -> Result<(), FunkError>,
) -> Result<AlsFactors, FunkError> {
    inc.validate()?;
    let k = model.n_factors;
    let shapes = [
        ("user_factors", model.user_factors.len(), inc.n_users * k),
        ("item_factors", model.item_factors.len(), inc.n_items * k),
        ("user_bias", model.user_bias.len(), inc.n_users),
        ("item_bias", model.item_bias.len(), inc.n_items),
    ];
    for (name, got, want) in shapes {
        if got != want {
            return Err(FunkError::Shape(format!(
                "{name} has {got} values, expected {want}"
            )));
        }
    }
    if k == 0 {
        return Err(FunkError::invalid("n_factors", "must be at least 1"));
    }
    if !(reg.is_finite() && reg > 0.0) {
        return Err(FunkError::invalid(
            "reg",
            format!("must be a finite number > 0, got {reg}"),
        ));
    }
    if !(model.scale.is_finite() && model.scale > 0.0 && model.global_mean.is_finite()) {
        return Err(FunkError::invalid(
            "scale",
            format!("must be a finite number > 0, got {}", model.scale),
        ));
    }
    let lay = Layout {
        k,
        biased: model.biased,
    };
    let (d, s, root) = (lay.d(), model.scale, model.scale.sqrt());
    let mu = f64::from(model.global_mean);
    let aug = |f: &[f32], b: &[f32]| {
        let mut out = vec![0f32; b.len() * d];
        for (r, row) in out.chunks_exact_mut(d).enumerate() {
            for (o, &v) in row[..k].iter_mut().zip(&f[r * k..(r + 1) * k]) {
                *o = (f64::from(v) / root) as f32;
            }
            if lay.biased {
                row[k] = (f64::from(b[r]) / s) as f32;
            }
        }
        out
    };
    let mut users = aug(model.user_factors, model.user_bias);
    let mut items = aug(model.item_factors, model.item_bias);
    let values: Vec<f32> = inc
        .values
        .iter()
        .map(|&r| ((f64::from(r) - mu) / s) as f32)
        .collect();
    let scaled = crate::increment::Increment {
        values: &values,
        ..*inc
    };
    let row = ExplicitRow {
        lay,
        reg: f64::from(reg),
    };
    let done =
        crate::increment::alternate(&row, &scaled, &mut users, &mut items, n_iter, par, check)?;
    if let Some(bad) = users.iter().chain(&items).find(|v| !v.is_finite()) {
        return Err(FunkError::NoConvergence(format!(
            "ALS update: a parameter became {bad}; use a larger reg"
        )));
    }
    // Rows the update rewrote go back to rating units; every other row keeps its bits.
    let back = |aug: &[f32], f: &[f32], b: &[f32], touched: &[bool]| {
        let (mut f, mut b) = (f.to_vec(), b.to_vec());
        for (r, _) in touched.iter().enumerate().filter(|(_, &t)| t) {
            for (o, &v) in f[r * k..(r + 1) * k].iter_mut().zip(&aug[r * d..r * d + k]) {
                *o = (f64::from(v) * root) as f32;
            }
            if lay.biased {
                b[r] = (f64::from(aug[r * d + k]) * s) as f32;
            }
        }
        (f, b)
    };
    let (user_factors, user_bias) = back(&users, model.user_factors, model.user_bias, &done.users);
    let (item_factors, item_bias) = back(&items, model.item_factors, model.item_bias, &done.items);
    let history = done
        .seconds
        .iter()
        .enumerate()
        .map(|(j, &seconds)| AlsIter {
            iteration: j + 1,
            train_rmse: f64::NAN,
            seconds,
        })
        .collect();
    Ok(AlsFactors {
        user_factors,
        item_factors,
        user_bias,
        item_bias,
        global_mean: model.global_mean,
        n_factors: k,
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dense ridge solution of `min ‖y − X w‖² + λ‖w‖²` by Gaussian elimination in f64.
    #[allow(clippy::needless_range_loop)] // row operations read one row while writing another
    fn ridge(x: &[Vec<f64>], y: &[f64], lambda: f64) -> Vec<f64> {
        let d = x[0].len();
        let mut a = vec![vec![0f64; d + 1]; d];
        for (row, &t) in x.iter().zip(y) {
            for s in 0..d {
                for u in 0..d {
                    a[s][u] += row[s] * row[u];
                }
                a[s][d] += row[s] * t;
            }
        }
        for (s, r) in a.iter_mut().enumerate() {
            r[s] += lambda;
        }
        for col in 0..d {
            for row in col + 1..d {
                let f = a[row][col] / a[col][col];
                for c in col..=d {
                    a[row][c] -= f * a[col][c];
                }
            }
        }
        let mut w = vec![0f64; d];
        for row in (0..d).rev() {
            let s: f64 = (row + 1..d).map(|c| a[row][c] * w[c]).sum();
            w[row] = (a[row][d] - s) / a[row][row];
        }
        w
    }

    #[test]
    fn a_row_solve_is_the_closed_form_ridge_solution_primal_and_dual() {
        let lay = Layout { k: 3, biased: true };
        let mut rng = Rng::new(11);
        let n_other = 8;
        let mut other = vec![0f32; n_other * 4];
        rng.fill_normal(&mut other, 0.0, 1.0);
        let reg = 0.3f32;
        // 6 ratings ≥ d = 4 (primal) and 2 ratings < d (dual).
        for idx in [vec![0u32, 2, 3, 5, 6, 7], vec![1u32, 4]] {
            let val: Vec<f32> = idx.iter().map(|&i| 0.5 * i as f32 - 1.0).collect();
            let mut out = vec![0f32; 4];
            assert!(solve_row(
                &mut out,
                &idx,
                &val,
                &other,
                lay,
                reg,
                &mut Scratch::default()
            ));
            let x: Vec<Vec<f64>> = idx
                .iter()
                .map(|&i| {
                    let r = &other[i as usize * 4..i as usize * 4 + 4];
                    vec![f64::from(r[0]), f64::from(r[1]), f64::from(r[2]), 1.0]
                })
                .collect();
            let y: Vec<f64> = idx
                .iter()
                .zip(&val)
                .map(|(&i, &v)| f64::from(v) - f64::from(other[i as usize * 4 + 3]))
                .collect();
            let want = ridge(&x, &y, f64::from(reg) * idx.len() as f64);
            for (a, b) in out.iter().zip(&want) {
                assert!((f64::from(*a) - b).abs() < 1e-5, "{out:?} vs {want:?}");
            }
        }
    }

    fn low_rank(noise: f64) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        let (nu, ni, k) = (300usize, 200usize, 3usize);
        let mut rng = Rng::new(7);
        let mut p = vec![0f32; nu * k];
        let mut q = vec![0f32; ni * k];
        rng.fill_normal(&mut p, 0.0, 1.0);
        rng.fill_normal(&mut q, 0.0, 1.0);
        let (mut us, mut is, mut rs) = (vec![], vec![], vec![]);
        for u in 0..nu {
            for i in 0..ni {
                if rng.next_f64() < 0.3 {
                    let dot: f32 = (0..k).map(|f| p[u * k + f] * q[i * k + f]).sum();
                    us.push(u as u32);
                    is.push(i as u32);
                    rs.push(3.0 + dot + (noise * (rng.next_f64() - 0.5)) as f32);
                }
            }
        }
        (us, is, rs)
    }

    #[test]
    fn recovers_a_low_rank_matrix_and_the_same_bits_for_any_thread_count() {
        let (us, is, rs) = low_rank(0.0);
        let data = Interactions::new(&us, &is, &rs, 300, 200).unwrap();
        let params = AlsParams {
            n_factors: 3,
            n_iter: 15,
            reg: 1e-4,
            ..AlsParams::default()
        };
        let seq = fit(&data, &params, Par::Seq, &mut || Ok(())).unwrap();
        let last = seq.history.last().unwrap().train_rmse;
        assert!(last < 0.02, "train RMSE {last}");
        for threads in [2, 3] {
            let pool = crate::par::build_pool(threads).unwrap();
            let got = fit(&data, &params, Par::Pool(&pool), &mut || Ok(())).unwrap();
            assert_eq!(got.user_factors, seq.user_factors, "{threads} threads");
            assert_eq!(got.item_bias, seq.item_bias, "{threads} threads");
        }
    }

    #[test]
    fn scale_free_an_affine_map_of_the_ratings_maps_the_predictions() {
        let (us, is, rs) = low_rank(1.0);
        let scaled: Vec<f32> = rs.iter().map(|r| 10.0 * r - 7.0).collect();
        let params = AlsParams {
            n_factors: 4,
            n_iter: 3,
            ..AlsParams::default()
        };
        let a = fit(
            &Interactions::new(&us, &is, &rs, 300, 200).unwrap(),
            &params,
            Par::Seq,
            &mut || Ok(()),
        )
        .unwrap();
        let b = fit(
            &Interactions::new(&us, &is, &scaled, 300, 200).unwrap(),
            &params,
            Par::Seq,
            &mut || Ok(()),
        )
        .unwrap();
        let ratio = b.history[2].train_rmse / a.history[2].train_rmse;
        assert!((ratio - 10.0).abs() < 1e-3, "{ratio}");
        assert!((b.global_mean - (10.0 * a.global_mean - 7.0)).abs() < 1e-3);
    }

    #[test]
    fn bad_input_is_an_error_and_check_stops_the_fit() {
        let (us, is, rs) = low_rank(1.0);
        let data = Interactions::new(&us, &is, &rs, 300, 200).unwrap();
        let bad = AlsParams {
            reg: 0.0,
            ..AlsParams::default()
        };
        assert!(matches!(
            fit(&data, &bad, Par::Seq, &mut || Ok(())),
            Err(FunkError::InvalidParam { name: "reg", .. })
        ));
        let stop = fit(&data, &AlsParams::default(), Par::Seq, &mut || {
            Err(FunkError::Interrupted)
        });
        assert_eq!(stop.unwrap_err(), FunkError::Interrupted);
        let empty = Interactions::new(&[], &[], &[], 3, 3).unwrap();
        assert!(fit(&empty, &AlsParams::default(), Par::Seq, &mut || Ok(())).is_err());
    }
}
