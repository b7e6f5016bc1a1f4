//! Top-`n` scoring: for each query vector, the `n` targets with the largest
//! $s_{j} = c + x^\top y_j + b_j$, ties broken by the lower target id, optionally over a
//! candidate subset and skipping excluded targets (for example the items a user has seen).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::data::Csr;
use crate::mem::{try_vec, Need};
use crate::par::Par;
use crate::FunkError;

/// Query side of a top-`n` search.
#[derive(Clone, Copy, Debug)]
pub struct Queries<'a> {
    /// `n_queries × k`, row-major.
    pub vectors: &'a [f32],
    /// Constant added to every score of the query (`μ + b_u` for recommendations).
    pub offsets: &'a [f32],
    /// For query `j`, skip the targets in `exclude.row(exclude_rows[j])`.
    pub exclude: Option<(&'a Csr, &'a [u32])>,
}

/// Target side of a top-`n` search.
#[derive(Clone, Copy, Debug)]
pub struct Targets<'a> {
    /// `n_targets × k`, row-major.
    pub vectors: &'a [f32],
    /// Per-target additive term (`b_i`), or empty for none.
    pub bias: &'a [f32],
    /// Sorted candidate target ids, or `None` for all targets.
    pub candidates: Option<&'a [u32]>,
}

/// Result of [`top_n`]: `n` slots per query, best first; unused slots hold id `-1` and NaN.
#[derive(Clone, Debug, PartialEq)]
pub struct TopN {
    /// Slots per query.
    pub n: usize,
    /// Target ids, `n_queries × n`.
    pub ids: Vec<i64>,
    /// Scores, `n_queries × n`.
    pub scores: Vec<f32>,
}

#[derive(Clone, Copy, PartialEq)]
struct Scored {
    score: f32,
    id: u32,
}

impl Eq for Scored {}

impl Ord for Scored {
    /// "Greater" means better: higher score, then lower id.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.id.cmp(&self.id))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Queries per parallel task; their heaps live across all target blocks.
const QUERY_BLOCK: usize = 96;
/// Queries scored together against each panel (register tile: 6 × 16 accumulator lanes).
const QUERY_TILE: usize = 6;
/// Targets per panel: two 8-lane vectors per factor.
const LANES: usize = 16;
/// Targets per cache block (at k = 32 the block's panels are 64 KiB, L2-resident).
const TARGET_BLOCK: usize = 512;

/// For every query, the `n` best targets (see the module documentation).
///
/// Scores are computed as a cache-blocked matrix product: the candidate targets are packed
/// once into panels of 16 (`k × 16` floats, lane-contiguous), each parallel task takes
/// `QUERY_BLOCK` queries and walks the panels block by block, scoring a register tile of
/// `QUERY_TILE` queries × 16 targets per panel load, and keeps a bounded heap per query.
/// Each tile row is compared with its heap's admission threshold in vector registers, so
/// only the lanes that would enter a heap leave them; such a candidate is checked against
/// the exclusion list only then. Every score is the same sequence of fused multiply-adds
/// (factor 0 first, from 0.0) plus the bias on every path (AVX2, portable), so rankings
/// do not depend on the instruction set. Memory beyond the output is the packed panel (one
/// copy of the candidate vectors) plus O(threads · n) heaps.
pub fn top_n(
    k: usize,
    queries: &Queries<'_>,
    targets: &Targets<'_>,
    n: usize,
    par: Par<'_>,
) -> Result<TopN, FunkError> {
    let n_queries = queries.offsets.len();
    let n_targets = targets
        .vectors
        .len()
        .checked_div(k)
        .unwrap_or(targets.bias.len());
    validate(k, queries, targets, n_queries, n_targets)?;
    let cells = (n_queries as u128).saturating_mul(n as u128);
    let lists = || format!("the top-{n} lists of {n_queries} queries");
    Need::default()
        .add::<i64>(cells, lists)
        .add::<f32>(cells, lists)
        .add::<f32>((n_targets as u128).saturating_mul(k as u128 + 1), || {
            format!("the packed candidates ({n_targets} × {k})")
        })
        .check("; ask for a shorter list or fewer users per call")?;
    let mut ids = try_vec(n_queries * n, -1i64, lists)?;
    let mut scores = try_vec(n_queries * n, f32::NAN, lists)?;
    if n == 0 || n_queries == 0 {
        return Ok(TopN { n, ids, scores });
    }
    let all: Vec<u32>;
    let cand: &[u32] = if let Some(c) = targets.candidates {
        c
    } else {
        all = (0..n_targets as u32).collect();
        &all
    };
    let panel = Panel::pack(k, targets, cand);
    let task = |c: usize, out_ids: &mut [i64], out_scores: &mut [f32]| {
        let q0 = c * QUERY_BLOCK;
        let nq = out_ids.len() / n;
        let best = score_block(k, queries, &panel, q0, nq, n);
        for (j, heap) in best.into_iter().enumerate() {
            for (slot, s) in heap.into_sorted_vec().iter().enumerate() {
                out_ids[j * n + slot] = i64::from(s.0.id);
                out_scores[j * n + slot] = s.0.score + queries.offsets[q0 + j];
            }
        }
    };
    if par.is_parallel() {
        par.install(|| {
            ids.par_chunks_mut(QUERY_BLOCK * n)
                .zip(scores.par_chunks_mut(QUERY_BLOCK * n))
                .enumerate()
                .for_each(|(c, (ci, cs))| task(c, ci, cs));
        });
    } else {
        for (c, (ci, cs)) in ids
            .chunks_mut(QUERY_BLOCK * n)
            .zip(scores.chunks_mut(QUERY_BLOCK * n))
            .enumerate()
        {
            task(c, ci, cs);
        }
    }
    Ok(TopN { n, ids, scores })
}

fn validate(
    k: usize,
    queries: &Queries<'_>,
    targets: &Targets<'_>,
    n_queries: usize,
    n_targets: usize,
) -> Result<(), FunkError> {
    if queries.vectors.len() != n_queries * k || targets.vectors.len() != n_targets * k {
        return Err(FunkError::Shape(
            "query or target matrix does not have k columns".into(),
        ));
    }
    if !targets.bias.is_empty() && targets.bias.len() != n_targets {
        return Err(FunkError::Shape(
            "target bias length differs from target count".into(),
        ));
    }
    if let Some(c) = targets.candidates {
        crate::data::check_ids("candidate item", c, n_targets)?;
        if c.windows(2).any(|w| w[0] >= w[1]) {
            return Err(FunkError::Shape(
                "candidate ids must be sorted and distinct".into(),
            ));
        }
    }
    if let Some((csr, rows)) = queries.exclude {
        if rows.len() != n_queries {
            return Err(FunkError::Shape(
                "one exclusion row per query is needed".into(),
            ));
        }
        crate::data::check_ids("exclusion row", rows, csr.n_rows())?;
    }
    Ok(())
}

/// Candidate vectors packed `LANES` at a time: panel `c` holds `k × LANES` floats, lane `l`
/// of row `f` being factor `f` of candidate `LANES·c + l`; missing lanes are zero with bias
/// −∞.
struct Panel<'a> {
    data: Vec<f32>,
    bias: Vec<f32>,
    ids: &'a [u32],
}

impl<'a> Panel<'a> {
    fn pack(k: usize, targets: &Targets<'_>, ids: &'a [u32]) -> Self {
        let n_panels = ids.len().div_ceil(LANES);
        let mut data = vec![0.0f32; n_panels * k * LANES];
        let mut bias = vec![f32::NEG_INFINITY; n_panels * LANES];
        for (j, &t) in ids.iter().enumerate() {
            let (c, l) = (j / LANES, j % LANES);
            let row = &targets.vectors[t as usize * k..(t as usize + 1) * k];
            for (f, &v) in row.iter().enumerate() {
                data[(c * k + f) * LANES + l] = v;
            }
            bias[j] = targets.bias.get(t as usize).copied().unwrap_or(0.0);
        }
        Panel { data, bias, ids }
    }

    fn n_panels(&self) -> usize {
        self.bias.len() / LANES
    }
}

type Heap = BinaryHeap<std::cmp::Reverse<Scored>>;

/// Scores of one tile (`QUERY_TILE` rows × `LANES` targets, bias added).
type Tile = [[f32; LANES]; QUERY_TILE];

/// The score a candidate must beat to enter `heap` (−∞ while it is not full). A score that
/// is not `<=` it (greater, or NaN) is admitted, as the heap's order (`total_cmp`) wants.
fn threshold(heap: &Heap, n: usize) -> f32 {
    if heap.len() == n {
        heap.peek().map_or(f32::NEG_INFINITY, |s| s.0.score)
    } else {
        f32::NEG_INFINITY
    }
}

/// Heaps of the `nq` queries starting at `q0`.
fn score_block(
    k: usize,
    queries: &Queries<'_>,
    panel: &Panel<'_>,
    q0: usize,
    nq: usize,
    n: usize,
) -> Vec<Heap> {
    let mut heaps: Vec<Heap> = (0..nq).map(|_| BinaryHeap::with_capacity(n + 1)).collect();
    let mut thr = vec![f32::NEG_INFINITY; nq];
    let excluded: Vec<&[u32]> = (q0..q0 + nq)
        .map(|j| match queries.exclude {
            Some((csr, rows)) => csr.row(rows[j] as usize),
            None => &[],
        })
        .collect();
    let kernel = TileKernel::detect();
    let mut tile: Tile = [[0.0; LANES]; QUERY_TILE];
    for pb in (0..panel.n_panels()).step_by(TARGET_BLOCK / LANES) {
        let pe = (pb + TARGET_BLOCK / LANES).min(panel.n_panels());
        for t0 in (0..nq).step_by(QUERY_TILE) {
            let tn = (nq - t0).min(QUERY_TILE);
            let x: [&[f32]; QUERY_TILE] = std::array::from_fn(|r| {
                let q = q0 + t0 + r.min(tn - 1);
                &queries.vectors[q * k..(q + 1) * k]
            });
            if pb == 0 {
                // The first block admits the most candidates, each looked up in its query's
                // exclusion list: start pulling those lists in (up to 4 KiB each).
                for row in &excluded[t0..t0 + tn] {
                    for o in (0..row.len().min(1024)).step_by(16) {
                        crate::hint::prefetch(row[o..].as_ptr().cast::<f32>());
                    }
                }
            }
            let mut t: [f32; QUERY_TILE] = std::array::from_fn(|r| thr[t0 + r.min(tn - 1)]);
            // The rows past `tn` repeat the last query; their lanes are never candidates.
            let rows = if tn == QUERY_TILE {
                u128::MAX
            } else {
                (1u128 << (tn * LANES)) - 1
            };
            for c in pb..pe {
                let data = &panel.data[c * k * LANES..(c + 1) * k * LANES];
                let bias: &[f32; LANES] = panel.bias[c * LANES..(c + 1) * LANES]
                    .try_into()
                    .expect("LANES lanes");
                let masks = kernel.run(data, bias, &x, &t, &mut tile) & rows;
                if masks == 0 {
                    continue; // the usual case once the heaps are full
                }
                for r in 0..tn {
                    let mut m = (masks >> (r * LANES)) as u16;
                    let heap = &mut heaps[t0 + r];
                    while m != 0 {
                        let l = m.trailing_zeros() as usize;
                        m &= m - 1;
                        let score = tile[r][l];
                        // Targets arrive in increasing id order, so a tie never displaces.
                        if score <= t[r] || score == f32::NEG_INFINITY {
                            continue; // beaten by an earlier lane, or a padding lane
                        }
                        let id = panel.ids[c * LANES + l];
                        if excluded[t0 + r].binary_search(&id).is_ok() {
                            continue;
                        }
                        heap.push(std::cmp::Reverse(Scored { score, id }));
                        if heap.len() > n {
                            heap.pop();
                        }
                        t[r] = threshold(heap, n);
                    }
                }
            }
            thr[t0..t0 + tn].copy_from_slice(&t[..tn]);
        }
    }
    heaps
}

/// The tile kernel the CPU runs; every variant computes bit-identical scores and masks.
#[derive(Clone, Copy)]
enum TileKernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl TileKernel {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::hint::has_avx2_fma() {
                return TileKernel::Avx2;
            }
        }
        TileKernel::Portable
    }

    /// Fills `out[r][l] = (Σ_f x[r][f] · panel[f][l] as fused multiply-adds) + bias[l]` and
    /// returns the admission mask: bit `r·LANES + l` is set when `out[r][l]` is not `<=`
    /// `thr[r]`.
    #[inline]
    fn run(
        self,
        panel: &[f32],
        bias: &[f32; LANES],
        x: &[&[f32]; QUERY_TILE],
        thr: &[f32; QUERY_TILE],
        out: &mut Tile,
    ) -> u128 {
        let k = x[0].len();
        assert!(panel.len() == k * LANES && x.iter().all(|r| r.len() == k));
        match self {
            TileKernel::Portable => tile_portable(panel, bias, x, thr, out),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: detected AVX2 and FMA; the lengths were checked above.
            TileKernel::Avx2 => unsafe { tile_avx2(panel, bias, x, thr, out) },
        }
    }
}

#[allow(clippy::neg_cmp_op_on_partial_ord)] // `!(s <= t)` admits NaN, as it must
fn tile_portable(
    panel: &[f32],
    bias: &[f32; LANES],
    x: &[&[f32]; QUERY_TILE],
    thr: &[f32; QUERY_TILE],
    out: &mut Tile,
) -> u128 {
    let mut acc: Tile = [[0.0; LANES]; QUERY_TILE];
    for (f, lanes) in panel.chunks_exact(LANES).enumerate() {
        for r in 0..QUERY_TILE {
            let xf = x[r][f];
            for l in 0..LANES {
                acc[r][l] = xf.mul_add(lanes[l], acc[r][l]);
            }
        }
    }
    let mut masks = 0u128;
    for r in 0..QUERY_TILE {
        for l in 0..LANES {
            let s = acc[r][l] + bias[l];
            out[r][l] = s;
            if !(s <= thr[r]) {
                masks |= 1 << (r * LANES + l);
            }
        }
    }
    masks
}

/// [`tile_portable`] in AVX2 registers: 12 accumulators of 8 lanes, two panel loads and six
/// broadcasts per factor.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `panel` holds `k × LANES` floats and every `x[r]` `k`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2(
    panel: &[f32],
    bias: &[f32; LANES],
    x: &[&[f32]; QUERY_TILE],
    thr: &[f32; QUERY_TILE],
    out: &mut Tile,
) -> u128 {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_broadcast_ss, _mm256_cmp_ps, _mm256_fmadd_ps, _mm256_loadu_ps,
        _mm256_movemask_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps, _CMP_NLE_UQ,
    };
    let k = x[0].len();
    let p = panel.as_ptr();
    let xp: [*const f32; QUERY_TILE] = std::array::from_fn(|r| x[r].as_ptr());
    let mut acc = [[_mm256_setzero_ps(); 2]; QUERY_TILE];
    for f in 0..k {
        // SAFETY: f < k, so the reads stay inside panel (k × 16) and x[r] (k).
        unsafe {
            let y0 = _mm256_loadu_ps(p.add(f * LANES));
            let y1 = _mm256_loadu_ps(p.add(f * LANES + 8));
            for r in 0..QUERY_TILE {
                let xb = _mm256_broadcast_ss(&*xp[r].add(f));
                acc[r][0] = _mm256_fmadd_ps(xb, y0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(xb, y1, acc[r][1]);
            }
        }
    }
    // SAFETY: bias and every out row hold 16 floats.
    unsafe {
        let b0 = _mm256_loadu_ps(bias.as_ptr());
        let b1 = _mm256_loadu_ps(bias.as_ptr().add(8));
        let mut masks = 0u128;
        for r in 0..QUERY_TILE {
            let s0 = _mm256_add_ps(acc[r][0], b0);
            let s1 = _mm256_add_ps(acc[r][1], b1);
            _mm256_storeu_ps(out[r].as_mut_ptr(), s0);
            _mm256_storeu_ps(out[r].as_mut_ptr().add(8), s1);
            let t = _mm256_set1_ps(thr[r]);
            let m0 = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NLE_UQ>(s0, t)) as u32;
            let m1 = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NLE_UQ>(s1, t)) as u32;
            masks |= u128::from(m0 | (m1 << 8)) << (r * LANES);
        }
        masks
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn brute(
        k: usize,
        x: &[f32],
        y: &[f32],
        bias: &[f32],
        skip: &[u32],
        n: usize,
    ) -> Vec<(i64, f32)> {
        let nt = bias.len();
        let mut all: Vec<(i64, f32)> = (0..nt)
            .filter(|t| !skip.contains(&(*t as u32)))
            .map(|t| {
                let s: f32 = (0..k).map(|f| x[f] * y[t * k + f]).sum::<f32>() + bias[t];
                (t as i64, s)
            })
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    proptest! {
        #[test]
        fn equals_a_sort_based_reference(
            k in 1usize..6, nt in 1usize..600, nq in 1usize..80, n in 0usize..12,
            seed in any::<u64>(),
        ) {
            let mut rng = crate::rng::Rng::new(seed);
            let mut draw = |len: usize| -> Vec<f32> {
                // Coarse values so that ties occur and the tie rule is exercised.
                (0..len).map(|_| (rng.below(5) as f32) - 2.0).collect()
            };
            let x = draw(nq * k);
            let y = draw(nt * k);
            let bias = draw(nt);
            let offsets = vec![0.5f32; nq];
            let rows: Vec<u32> = (0..nq as u32).collect();
            let mut lists = vec![];
            let mut cols = vec![];
            for q in 0..nq {
                for t in 0..nt as u32 {
                    if (t as usize + q) % 3 == 0 {
                        lists.push(q as u32);
                        cols.push(t);
                    }
                }
            }
            let csr = Csr::from_coo(&lists, &cols, nq);
            let got = top_n(
                k,
                &Queries { vectors: &x, offsets: &offsets, exclude: Some((&csr, &rows)) },
                &Targets { vectors: &y, bias: &bias, candidates: None },
                n,
                Par::Seq,
            ).unwrap();
            for q in 0..nq {
                let want = brute(k, &x[q * k..(q + 1) * k], &y, &bias, csr.row(q), n);
                for slot in 0..n {
                    if let Some(&(id, s)) = want.get(slot) {
                        prop_assert_eq!(got.ids[q * n + slot], id);
                        prop_assert!((got.scores[q * n + slot] - (s + 0.5)).abs() < 1e-5);
                    } else {
                        prop_assert_eq!(got.ids[q * n + slot], -1);
                    }
                }
            }
        }
    }

    #[test]
    fn every_tile_kernel_gives_the_portable_bits() {
        let mut rng = crate::rng::Rng::new(7);
        for k in [1usize, 5, 32, 37] {
            let mut draw = |len: usize| -> Vec<f32> {
                (0..len)
                    .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
                    .collect()
            };
            let panel = draw(k * LANES);
            let bias: [f32; LANES] = draw(LANES).try_into().unwrap();
            let xs = draw(k * QUERY_TILE);
            let x: [&[f32]; QUERY_TILE] = std::array::from_fn(|r| &xs[r * k..(r + 1) * k]);
            let thr = [f32::NEG_INFINITY, -0.5, 0.0, 0.1, 0.5, f32::NAN];
            let mut want: Tile = [[0.0; LANES]; QUERY_TILE];
            let want_mask = tile_portable(&panel, &bias, &x, &thr, &mut want);
            let mut got: Tile = [[0.0; LANES]; QUERY_TILE];
            let got_mask = TileKernel::detect().run(&panel, &bias, &x, &thr, &mut got);
            assert_eq!(want_mask, got_mask);
            for r in 0..QUERY_TILE {
                for l in 0..LANES {
                    assert_eq!(
                        want[r][l].to_bits(),
                        got[r][l].to_bits(),
                        "k={k} r={r} l={l}"
                    );
                    let fused =
                        (0..k).fold(0.0f32, |a, f| x[r][f].mul_add(panel[f * LANES + l], a));
                    assert_eq!(want[r][l].to_bits(), (fused + bias[l]).to_bits());
                }
            }
        }
    }

    #[test]
    fn candidates_restrict_and_parallel_matches_sequential() {
        let k = 2;
        let x: Vec<f32> = (0..200).map(|v| ((v * 7) % 11) as f32 - 5.0).collect();
        let y: Vec<f32> = (0..60).map(|v| ((v * 3) % 7) as f32 - 3.0).collect();
        let offsets = vec![0.0f32; 100];
        let cands = [1u32, 4, 9, 20];
        let q = Queries {
            vectors: &x,
            offsets: &offsets,
            exclude: None,
        };
        let t = Targets {
            vectors: &y,
            bias: &[],
            candidates: Some(&cands),
        };
        let seq = top_n(k, &q, &t, 3, Par::Seq).unwrap();
        assert!(seq.ids.iter().all(|id| cands.contains(&(*id as u32))));
        let pool = crate::par::build_pool(2).unwrap();
        let par = top_n(k, &q, &t, 3, Par::Pool(&pool)).unwrap();
        assert_eq!(seq, par);
    }
}
