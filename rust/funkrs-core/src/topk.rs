//! Top-`n` scoring: for each query vector, the `n` targets with the largest
//! $s_{j} = c + x^\top y_j + b_j$, ties broken by the lower target id, optionally over a
//! candidate subset and skipping excluded targets (for example the items a user has seen).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::data::Csr;
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

/// Queries per parallel task in [`top_n`].
const QUERY_CHUNK: usize = 32;

/// For every query, the `n` best targets (see the module documentation).
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
    }
    if let Some((_, rows)) = queries.exclude {
        if rows.len() != n_queries {
            return Err(FunkError::Shape(
                "one exclusion row per query is needed".into(),
            ));
        }
    }
    let mut ids = vec![-1i64; n_queries * n];
    let mut scores = vec![f32::NAN; n_queries * n];
    if n == 0 || n_queries == 0 {
        return Ok(TopN { n, ids, scores });
    }
    let one = |j: usize, out_ids: &mut [i64], out_scores: &mut [f32]| {
        let x = &queries.vectors[j * k..(j + 1) * k];
        let excluded: &[u32] = match queries.exclude {
            Some((csr, rows)) => csr.row(rows[j] as usize),
            None => &[],
        };
        let mut heap: BinaryHeap<std::cmp::Reverse<Scored>> = BinaryHeap::with_capacity(n + 1);
        let mut consider = |t: u32| {
            if excluded.binary_search(&t).is_ok() {
                return;
            }
            let y = &targets.vectors[t as usize * k..(t as usize + 1) * k];
            let mut score: f32 = x.iter().zip(y).map(|(a, b)| a * b).sum();
            if !targets.bias.is_empty() {
                score += targets.bias[t as usize];
            }
            let cand = Scored { score, id: t };
            if heap.len() < n {
                heap.push(std::cmp::Reverse(cand));
            } else if cand > heap.peek().expect("heap is full").0 {
                heap.pop();
                heap.push(std::cmp::Reverse(cand));
            }
        };
        match targets.candidates {
            Some(c) => c.iter().copied().for_each(&mut consider),
            None => (0..n_targets as u32).for_each(&mut consider),
        }
        let best = heap.into_sorted_vec();
        for (slot, s) in best.iter().enumerate() {
            out_ids[slot] = i64::from(s.0.id);
            out_scores[slot] = s.0.score + queries.offsets[j];
        }
    };
    if par.is_parallel() {
        par.install(|| {
            ids.par_chunks_mut(QUERY_CHUNK * n)
                .zip(scores.par_chunks_mut(QUERY_CHUNK * n))
                .enumerate()
                .for_each(|(c, (ci, cs))| {
                    for (r, (oi, os)) in ci.chunks_mut(n).zip(cs.chunks_mut(n)).enumerate() {
                        one(c * QUERY_CHUNK + r, oi, os);
                    }
                });
        });
    } else {
        for (j, (oi, os)) in ids.chunks_mut(n).zip(scores.chunks_mut(n)).enumerate() {
            one(j, oi, os);
        }
    }
    Ok(TopN { n, ids, scores })
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
            k in 1usize..6, nt in 1usize..40, nq in 1usize..8, n in 0usize..12,
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
