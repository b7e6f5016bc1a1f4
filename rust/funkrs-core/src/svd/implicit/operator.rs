//! The implicit matrix `X = S + a bᵀ` and its products `X B`, `Xᵀ C` and `Xᵀ X B`, each one
//! pass over the stored cells (see [`super`]).

use rayon::prelude::*;

use crate::{FunkError, Par};

/// The implicit matrix `X = S + a bᵀ`, with `S_{ui} = r_{ui} − a_u b_i` on observed cells.
///
/// Observed cells are stored once, compressed along the longer side (users for a tall
/// matrix): this is the tall matrix `C` (`X` or `Xᵀ`). The short side is relabelled by
/// descending number of cells, so the rows of a short-side block that most cells touch sit
/// together in cache. The product whose output is the long side gathers rows of the short
/// input block; the other scatters into per-thread copies of its short output block while
/// the long input block is streamed in order. `(user, item)` pairs must be unique.
#[derive(Clone, Debug)]
pub struct ImputedMatrix {
    m: usize,
    n: usize,
    pub(super) by_rows: bool,
    cells: Compressed,
    /// Fill on the long side of `C = S_c + p qᵀ`.
    p: Vec<f64>,
    /// Fill on the short side, in the relabelled order.
    q: Vec<f64>,
    /// Original short-side index of each relabelled one.
    short_ids: Vec<u32>,
}

/// Compressed rows: the entries of row `r` are `idx/val[ptr[r]..ptr[r + 1]]`.
#[derive(Clone, Debug)]
struct Compressed {
    ptr: Vec<usize>,
    idx: Vec<u32>,
    val: Vec<f32>,
}

impl Compressed {
    /// Counting sort of `(major[j], label[minor[j]], values[j])` by `major`.
    fn build(major: &[u32], minor: &[u32], label: &[u32], values: &[f32], n_major: usize) -> Self {
        let mut ptr = vec![0usize; n_major + 1];
        for &r in major {
            ptr[r as usize + 1] += 1;
        }
        for r in 0..n_major {
            ptr[r + 1] += ptr[r];
        }
        let mut next = ptr[..n_major].to_vec();
        let mut idx = vec![0u32; major.len()];
        let mut val = vec![0f32; major.len()];
        for ((&r, &c), &v) in major.iter().zip(minor).zip(values) {
            let slot = &mut next[r as usize];
            idx[*slot] = label[c as usize];
            val[*slot] = v;
            *slot += 1;
        }
        Compressed { ptr, idx, val }
    }

    fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (lo, hi) = (self.ptr[r], self.ptr[r + 1]);
        (&self.idx[lo..hi], &self.val[lo..hi])
    }
}

impl ImputedMatrix {
    /// Builds `X = S + a bᵀ` from observed ratings (inner ids) and the fill vectors.
    pub fn new(
        users: &[u32],
        items: &[u32],
        ratings: &[f32],
        a: Vec<f64>,
        b: Vec<f64>,
    ) -> Result<Self, FunkError> {
        let (m, n) = (a.len(), b.len());
        crate::Interactions::new(users, items, ratings, m, n)?;
        for (what, v) in [("a", &a), ("b", &b)] {
            if let Some(position) = v.iter().position(|x| !x.is_finite()) {
                return Err(FunkError::NonFinite {
                    what,
                    position,
                    value: v[position],
                });
            }
        }
        let by_rows = m >= n;
        let (major, minor, p, q_orig) = if by_rows {
            (users, items, a, b)
        } else {
            (items, users, b, a)
        };
        let (n_major, ns) = (p.len(), q_orig.len());
        let mut counts = vec![0usize; ns];
        for &c in minor {
            counts[c as usize] += 1;
        }
        let mut short_ids: Vec<u32> = (0..ns as u32).collect();
        short_ids.sort_by_key(|&c| std::cmp::Reverse(counts[c as usize]));
        let mut label = vec![0u32; ns];
        for (new, &old) in short_ids.iter().enumerate() {
            label[old as usize] = new as u32;
        }
        let q = short_ids.iter().map(|&old| q_orig[old as usize]).collect();
        let cells = Compressed::build(major, minor, &label, ratings, n_major);
        Ok(ImputedMatrix {
            m,
            n,
            by_rows,
            cells,
            p,
            q,
            short_ids,
        })
    }

    /// `(m, n)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.m, self.n)
    }

    /// `out = X B` for a row-major `n × l` block `B`; `out` is row-major `m × l`.
    pub fn apply(&self, blk: &[f64], l: usize, out: &mut [f64], par: Par<'_>) {
        if self.by_rows {
            self.c_mul(blk, l, out, par);
        } else {
            self.ct_mul(blk, l, out, par);
        }
    }

    /// `out = Xᵀ C` for a row-major `m × l` block `C`; `out` is row-major `n × l`.
    pub fn apply_t(&self, blk: &[f64], l: usize, out: &mut [f64], par: Par<'_>) {
        if self.by_rows {
            self.ct_mul(blk, l, out, par);
        } else {
            self.c_mul(blk, l, out, par);
        }
    }

    /// Length of the short side, `min(m, n)`.
    pub fn short_len(&self) -> usize {
        self.q.len()
    }

    /// A short-side block (row-major, original order) in the relabelled order.
    fn relabel(&self, blk: &[f64], l: usize) -> Vec<f64> {
        assert_eq!(blk.len(), self.q.len() * l, "block has the wrong shape");
        let mut out = vec![0.0; blk.len()];
        for (dst, &old) in out.chunks_exact_mut(l).zip(&self.short_ids) {
            let old = old as usize;
            dst.copy_from_slice(&blk[old * l..(old + 1) * l]);
        }
        out
    }

    /// Writes a relabelled short-side block back in the original order.
    fn unlabel(&self, src: &[f64], l: usize, out: &mut [f64]) {
        assert_eq!(out.len(), self.q.len() * l, "output has the wrong shape");
        for (row, &old) in src.chunks_exact(l).zip(&self.short_ids) {
            let old = old as usize;
            out[old * l..(old + 1) * l].copy_from_slice(row);
        }
    }

    /// `out = Cᵀ C B` for a row-major `min(m, n) × l` block `B` (`C` is `X` or `Xᵀ`, whichever
    /// is tall): the Gram matrix of `X` on its short side (`XᵀX` for a tall `X`) applied in one
    /// pass over the stored cells, without an intermediate block on the long side.
    pub fn gram(&self, blk: &[f64], l: usize, out: &mut [f64], par: Par<'_>) {
        let blk = self.relabel(blk, l);
        let mut tmp = vec![0.0; blk.len()];
        fused_gram(&self.cells, &self.p, &self.q, &blk, l, &mut tmp, par);
        self.unlabel(&tmp, l, out);
    }

    /// `out = C B`: short-side block in, long-side block out (both row-major).
    pub(super) fn c_mul(&self, blk: &[f64], l: usize, out: &mut [f64], par: Par<'_>) {
        let blk = self.relabel(blk, l);
        gather(&self.cells, &self.p, &self.q, &blk, l, out, par);
    }

    /// `out = Cᵀ B`: long-side block in, short-side block out (both row-major).
    pub(super) fn ct_mul(&self, blk: &[f64], l: usize, out: &mut [f64], par: Par<'_>) {
        let mut tmp = vec![0.0; out.len()];
        scatter(&self.cells, &self.p, &self.q, blk, l, &mut tmp, par);
        self.unlabel(&tmp, l, out);
    }
}

/// `out = (S + p qᵀ) B` where `S` is stored by rows in `s` with `S_{rc} = v − p_r q_c`.
fn gather(
    s: &Compressed,
    p: &[f64],
    q: &[f64],
    blk: &[f64],
    l: usize,
    out: &mut [f64],
    par: Par<'_>,
) {
    assert_eq!(blk.len(), q.len() * l, "block has the wrong shape");
    assert_eq!(out.len(), p.len() * l, "output has the wrong shape");
    let qb = qt_block(q, blk, l);
    let one_row = |(r, dst): (usize, &mut [f64])| {
        let pr = p[r];
        for (d, x) in dst.iter_mut().zip(&qb) {
            *d = pr * x;
        }
        let (idx, val) = s.row(r);
        for (&c, &v) in idx.iter().zip(val) {
            let c = c as usize;
            axpy(dst, f64::from(v) - pr * q[c], &blk[c * l..(c + 1) * l]);
        }
    };
    if par.is_parallel() {
        par.install(|| {
            out.par_chunks_mut(l)
                .enumerate()
                .with_min_len(64)
                .for_each(one_row);
        });
    } else {
        out.chunks_mut(l).enumerate().for_each(one_row);
    }
}

/// `out = (S + p qᵀ)ᵀ B` for `S` stored by rows in `s` (`S_{rc} = v − p_r q_c`): each
/// thread scatters a contiguous share of the rows (balanced by cell count) into its own copy
/// of `out`, and the copies are summed in a fixed order (deterministic for a thread count).
fn scatter(
    s: &Compressed,
    p: &[f64],
    q: &[f64],
    blk: &[f64],
    l: usize,
    out: &mut [f64],
    par: Par<'_>,
) {
    assert_eq!(blk.len(), p.len() * l, "block has the wrong shape");
    assert_eq!(out.len(), q.len() * l, "output has the wrong shape");
    let chunks = par.n_threads().max(1);
    let bounds = balanced_bounds(s, p.len(), chunks);
    let one_chunk = |t: usize| {
        let mut acc = vec![0.0; out.len()];
        let mut pb = vec![0.0; l];
        for r in bounds[t]..bounds[t + 1] {
            let src = &blk[r * l..(r + 1) * l];
            let pr = p[r];
            axpy(&mut pb, pr, src);
            let (idx, val) = s.row(r);
            for (&c, &v) in idx.iter().zip(val) {
                let c = c as usize;
                axpy(&mut acc[c * l..(c + 1) * l], f64::from(v) - pr * q[c], src);
            }
        }
        (acc, pb)
    };
    reduce_parts(&per_chunk(chunks, par, one_chunk), q, l, out);
}

/// Row ranges of `s` for `chunks` threads, balanced by number of cells.
fn balanced_bounds(s: &Compressed, n_rows: usize, chunks: usize) -> Vec<usize> {
    let nnz = s.idx.len();
    (0..=chunks)
        .map(|t| s.ptr.partition_point(|&x| x < nnz * t / chunks).min(n_rows))
        .collect()
}

/// `out = Cᵀ C B` for `C = S + p qᵀ` stored by rows in `s` (`S_{rc} = v − p_r q_c`), `B` a
/// row-major `len(q) × l` block. Row by row, `w = c_rᵀ B` is gathered and `c_r w` scattered
/// while the row's cells are in cache; the rank-one parts are summed separately:
/// `c_rᵀ B = s_rᵀ B + p_r (qᵀ B)` and `Σ_r c_r w_r = Σ_r s_r w_r + q Σ_r p_r w_r`. Each thread
/// scatters into its own copy of `out`, summed in a fixed order (deterministic for a thread
/// count).
fn fused_gram(
    s: &Compressed,
    p: &[f64],
    q: &[f64],
    blk: &[f64],
    l: usize,
    out: &mut [f64],
    par: Par<'_>,
) {
    assert_eq!(blk.len(), q.len() * l, "block has the wrong shape");
    assert_eq!(out.len(), q.len() * l, "output has the wrong shape");
    let qb = qt_block(q, blk, l);
    let chunks = par.n_threads().max(1);
    let bounds = balanced_bounds(s, p.len(), chunks);
    let one_chunk = |t: usize| {
        let mut acc = vec![0.0; out.len()];
        let mut pw = vec![0.0; l];
        let mut w = vec![0.0; l];
        let mut sv: Vec<f64> = Vec::new();
        for (r, &pr) in p.iter().enumerate().take(bounds[t + 1]).skip(bounds[t]) {
            let (idx, val) = s.row(r);
            sv.clear();
            sv.extend(
                idx.iter()
                    .zip(val)
                    .map(|(&c, &v)| f64::from(v) - pr * q[c as usize]),
            );
            for (d, x) in w.iter_mut().zip(&qb) {
                *d = pr * x;
            }
            for (&c, &sc) in idx.iter().zip(&sv) {
                let c = c as usize;
                axpy(&mut w, sc, &blk[c * l..(c + 1) * l]);
            }
            axpy(&mut pw, pr, &w);
            for (&c, &sc) in idx.iter().zip(&sv) {
                let c = c as usize;
                axpy(&mut acc[c * l..(c + 1) * l], sc, &w);
            }
        }
        (acc, pw)
    };
    reduce_parts(&per_chunk(chunks, par, one_chunk), q, l, out);
}

/// `qᵀ B` for a row-major `len(q) × l` block `B`: the rank-one part shared by every row.
fn qt_block(q: &[f64], blk: &[f64], l: usize) -> Vec<f64> {
    let mut qb = vec![0.0; l];
    for (qc, row) in q.iter().zip(blk.chunks_exact(l)) {
        axpy(&mut qb, *qc, row);
    }
    qb
}

/// `f(0), …, f(chunks − 1)`, in parallel when there is more than one chunk, in chunk order.
fn per_chunk<T: Send>(chunks: usize, par: Par<'_>, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if chunks > 1 {
        par.install(|| (0..chunks).into_par_iter().map(&f).collect())
    } else {
        vec![f(0)]
    }
}

/// `out = Σ_t acc_t + q (Σ_t pb_t)ᵀ`, summed in the order of `parts`.
fn reduce_parts(parts: &[(Vec<f64>, Vec<f64>)], q: &[f64], l: usize, out: &mut [f64]) {
    let mut pb = vec![0.0; l];
    out.fill(0.0);
    for (acc, part_pb) in parts {
        for (o, x) in out.iter_mut().zip(acc) {
            *o += x;
        }
        for (o, x) in pb.iter_mut().zip(part_pb) {
            *o += x;
        }
    }
    for (qc, row) in q.iter().zip(out.chunks_exact_mut(l)) {
        axpy(row, *qc, &pb);
    }
}

/// `y += alpha x`.
#[inline]
fn axpy(y: &mut [f64], alpha: f64, x: &[f64]) {
    for (d, v) in y.iter_mut().zip(x) {
        *d += alpha * v;
    }
}
