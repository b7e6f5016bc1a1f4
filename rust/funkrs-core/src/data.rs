//! Rating data: a borrowed COO view ([`Interactions`]) and a compressed-row index ([`Csr`]).

use rayon::prelude::*;

use crate::par::Par;
use crate::FunkError;

/// A borrowed set of observed ratings in coordinate form: `ratings[j]` is the rating that user
/// `users[j]` gave item `items[j]`. Ids are inner ids in `0..n_users` and `0..n_items`.
#[derive(Clone, Copy, Debug)]
pub struct Interactions<'a> {
    /// Inner user id per rating.
    pub users: &'a [u32],
    /// Inner item id per rating.
    pub items: &'a [u32],
    /// Rating values.
    pub ratings: &'a [f32],
    /// Number of users (exclusive bound on `users`).
    pub n_users: usize,
    /// Number of items (exclusive bound on `items`).
    pub n_items: usize,
}

impl<'a> Interactions<'a> {
    /// Checks lengths, id ranges and that every rating is finite.
    pub fn new(
        users: &'a [u32],
        items: &'a [u32],
        ratings: &'a [f32],
        n_users: usize,
        n_items: usize,
    ) -> Result<Self, FunkError> {
        if users.len() != items.len() || users.len() != ratings.len() {
            return Err(FunkError::Shape(format!(
                "users, items and ratings must have the same length, got {}, {} and {}",
                users.len(),
                items.len(),
                ratings.len()
            )));
        }
        check_ids("user", users, n_users)?;
        check_ids("item", items, n_items)?;
        if let Some(position) = ratings.iter().position(|r| !r.is_finite()) {
            return Err(FunkError::NonFinite {
                what: "rating",
                position,
                value: f64::from(ratings[position]),
            });
        }
        Ok(Interactions {
            users,
            items,
            ratings,
            n_users,
            n_items,
        })
    }

    /// Number of ratings.
    pub fn len(&self) -> usize {
        self.ratings.len()
    }

    /// Whether there are no ratings.
    pub fn is_empty(&self) -> bool {
        self.ratings.is_empty()
    }

    /// Mean rating, accumulated in f64 (0 for no ratings).
    pub fn mean(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        self.ratings.iter().map(|&r| f64::from(r)).sum::<f64>() / self.len() as f64
    }
}

/// Returns an error naming the first id that is not below `size`.
pub fn check_ids(what: &'static str, ids: &[u32], size: usize) -> Result<(), FunkError> {
    match ids.iter().position(|&x| x as usize >= size) {
        Some(position) => Err(FunkError::IndexOutOfRange {
            what,
            index: u64::from(ids[position]),
            position,
            size,
        }),
        None => Ok(()),
    }
}

/// Compressed sparse rows: the columns of row `r` are `indices[indptr[r]..indptr[r + 1]]`,
/// sorted ascending.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Csr {
    /// Row offsets, `n_rows + 1` entries.
    pub indptr: Vec<u64>,
    /// Column indices.
    pub indices: Vec<u32>,
}

impl Csr {
    /// Builds the row index of `(rows[j], cols[j])` pairs by a counting sort.
    ///
    /// Ids must already be in range (see [`Interactions::new`]).
    pub fn from_coo(rows: &[u32], cols: &[u32], n_rows: usize) -> Self {
        Self::from_coo_in(rows, cols, n_rows, Par::Seq)
    }

    /// [`Csr::from_coo`], sorting the rows on `par`'s threads (the result does not depend
    /// on them).
    ///
    /// # Panics
    /// If `rows` and `cols` differ in length or a row is not below `n_rows`.
    pub fn from_coo_in(rows: &[u32], cols: &[u32], n_rows: usize, par: Par<'_>) -> Self {
        assert_eq!(rows.len(), cols.len(), "rows and cols differ in length");
        let mut indptr = vec![0u64; n_rows + 1];
        for &r in rows {
            indptr[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            indptr[r + 1] += indptr[r];
        }
        let mut next: Vec<u64> = indptr[..n_rows].to_vec();
        let mut indices = vec![0u32; cols.len()];
        for (&r, &c) in rows.iter().zip(cols) {
            let slot = &mut next[r as usize];
            indices[*slot as usize] = c;
            *slot += 1;
        }
        sort_rows(&indptr, &mut indices, par);
        Csr { indptr, indices }
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Sorted column indices of row `r` (empty for a row past the end).
    pub fn row(&self, r: usize) -> &[u32] {
        if r >= self.n_rows() {
            return &[];
        }
        &self.indices[self.indptr[r] as usize..self.indptr[r + 1] as usize]
    }
}

/// A CSR index grown by new `(row, col)` pairs, with each column's entry count before and
/// after (see [`Csr::merge`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Merged {
    /// The merged index.
    pub csr: Csr,
    /// Entries per column in the index given.
    pub counts_before: Vec<u64>,
    /// Entries per column in the merged index.
    pub counts_after: Vec<u64>,
}

impl Csr {
    /// [`merge`] of this index.
    ///
    /// # Errors
    /// As [`merge`].
    pub fn merge(
        &self,
        rows: &[u32],
        cols: &[u32],
        n_rows: usize,
        n_cols: usize,
    ) -> Result<Merged, FunkError> {
        merge(&self.indptr, &self.indices, rows, cols, n_rows, n_cols)
    }
}

/// The CSR index `(indptr, indices)` (rows sorted, distinct) with the pairs
/// `(rows[j], cols[j])` added, grown to
/// `n_rows` rows (rows past the old ones start empty): each row's old columns and its
/// new ones merged in order, pairs already present or repeated dropped. One linear pass
/// over the index (a copy, and a count per column) plus a sort of the new pairs.
///
/// # Errors
/// [`FunkError::Shape`] if `rows` and `cols` differ in length, the index is malformed or
/// has more rows than `n_rows`; [`FunkError::IndexOutOfRange`] for a row or column (new
/// or old) past `n_rows` or `n_cols`.
pub fn merge(
    indptr: &[u64],
    indices: &[u32],
    rows: &[u32],
    cols: &[u32],
    n_rows: usize,
    n_cols: usize,
) -> Result<Merged, FunkError> {
    if rows.len() != cols.len() {
        return Err(FunkError::Shape("rows and cols differ in length".into()));
    }
    let p = indptr;
    let n_old = p.len().saturating_sub(1);
    let ok = !p.is_empty()
        && p[0] == 0
        && p.windows(2).all(|w| w[0] <= w[1])
        && p[n_old] as usize == indices.len()
        && n_old <= n_rows;
    if !ok {
        return Err(FunkError::Shape(
            "malformed index, or more rows than n_rows".into(),
        ));
    }
    check_ids("row", rows, n_rows)?;
    check_ids("column", cols, n_cols)?;
    let mut counts_before = vec![0u64; n_cols];
    for (position, &c) in indices.iter().enumerate() {
        match counts_before.get_mut(c as usize) {
            Some(n) => *n += 1,
            None => {
                return Err(FunkError::IndexOutOfRange {
                    what: "column",
                    index: u64::from(c),
                    position,
                    size: n_cols,
                })
            }
        }
    }
    let mut order: Vec<u32> = (0..rows.len() as u32).collect();
    order.sort_unstable_by_key(|&j| (rows[j as usize], cols[j as usize]));
    let mut counts_after = counts_before.clone();
    let mut out_ptr = Vec::with_capacity(n_rows + 1);
    out_ptr.push(0u64);
    let old_indices = indices;
    let mut indices = Vec::with_capacity(old_indices.len() + rows.len());
    let mut next = 0usize;
    for r in 0..n_rows {
        let old: &[u32] = if r < n_old {
            &old_indices[p[r] as usize..p[r + 1] as usize]
        } else {
            &[]
        };
        let start = next;
        while next < order.len() && rows[order[next] as usize] as usize == r {
            next += 1;
        }
        if start == next {
            indices.extend_from_slice(old);
        } else {
            let fresh = order[start..next].iter().map(|&j| cols[j as usize]);
            let mut o = 0usize;
            let mut last: Option<u32> = None;
            for c in fresh {
                if last == Some(c) {
                    continue;
                }
                last = Some(c);
                while o < old.len() && old[o] < c {
                    indices.push(old[o]);
                    o += 1;
                }
                if o < old.len() && old[o] == c {
                    continue; // already seen
                }
                indices.push(c);
                counts_after[c as usize] += 1;
            }
            indices.extend_from_slice(&old[o..]);
        }
        out_ptr.push(indices.len() as u64);
    }
    Ok(Merged {
        csr: Csr {
            indptr: out_ptr,
            indices,
        },
        counts_before,
        counts_after,
    })
}

/// Entries per part of [`sort_rows`] when it runs in parallel.
const SORT_PART: u64 = 1 << 16;

/// Sorts the columns of every row; in parallel, over runs of whole rows of about
/// [`SORT_PART`] entries each.
fn sort_rows(indptr: &[u64], indices: &mut [u32], par: Par<'_>) {
    let sort = |ptr: &[u64], part: &mut [u32]| {
        let base = ptr[0];
        for w in ptr.windows(2) {
            part[(w[0] - base) as usize..(w[1] - base) as usize].sort_unstable();
        }
    };
    if !par.is_parallel() {
        sort(indptr, indices);
        return;
    }
    let n_rows = indptr.len() - 1;
    let mut parts: Vec<(&[u64], &mut [u32])> = Vec::new();
    let mut rest = indices;
    let mut r0 = 0;
    while r0 < n_rows {
        let mut r1 = r0 + 1;
        while r1 < n_rows && indptr[r1] - indptr[r0] < SORT_PART {
            r1 += 1;
        }
        let len = (indptr[r1] - indptr[r0]) as usize;
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
        parts.push((&indptr[r0..=r1], head));
        rest = tail;
        r0 = r1;
    }
    par.install(|| {
        parts
            .into_par_iter()
            .for_each(|(ptr, part)| sort(ptr, part));
    });
}

#[cfg(test)]
mod tests {

    #[test]
    fn merge_adds_new_pairs_in_order_and_counts_columns() {
        let csr = Csr::from_coo(&[0, 0, 1], &[1, 3, 0], 2);
        let m = csr.merge(&[2, 0, 0, 0, 1], &[1, 2, 3, 2, 0], 3, 4).unwrap();
        assert_eq!(m.csr.indptr, vec![0, 3, 4, 5]);
        assert_eq!(m.csr.indices, vec![1, 2, 3, 0, 1]);
        assert_eq!(m.counts_before, vec![1, 1, 0, 1]);
        assert_eq!(m.counts_after, vec![1, 2, 1, 1]);
        assert!(csr.merge(&[0], &[4], 3, 4).is_err());
        assert!(csr.merge(&[0], &[1], 1, 4).is_err());
    }

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn interactions_reject_bad_input() {
        let err = Interactions::new(&[0, 1], &[0], &[1.0, 2.0], 2, 2).unwrap_err();
        assert!(matches!(err, FunkError::Shape(_)));
        let err = Interactions::new(&[0, 5], &[0, 0], &[1.0, 2.0], 2, 1).unwrap_err();
        assert_eq!(
            err,
            FunkError::IndexOutOfRange {
                what: "user",
                index: 5,
                position: 1,
                size: 2
            }
        );
        let err = Interactions::new(&[0, 1], &[0, 0], &[1.0, f32::NAN], 2, 1).unwrap_err();
        assert!(matches!(err, FunkError::NonFinite { position: 1, .. }));
    }

    #[test]
    fn csr_rows_sorted_in_parallel_match_the_sequential_sort() {
        let mut rng = crate::rng::Rng::new(3);
        let n = 5 * SORT_PART as usize + 77;
        let (n_rows, n_cols) = (1000usize, 5000u64);
        let rows: Vec<u32> = (0..n).map(|_| rng.below(n_rows as u64) as u32).collect();
        let cols: Vec<u32> = (0..n).map(|_| rng.below(n_cols) as u32).collect();
        let pool = crate::par::build_pool(2).unwrap();
        let seq = Csr::from_coo(&rows, &cols, n_rows);
        let par = Csr::from_coo_in(&rows, &cols, n_rows, Par::Pool(&pool));
        assert_eq!(seq, par);
        assert!((0..n_rows).all(|r| seq.row(r).windows(2).all(|w| w[0] <= w[1])));
        assert_eq!(seq.indices.len(), n);
    }

    proptest! {
        #[test]
        fn csr_round_trips_coo(pairs in proptest::collection::btree_set((0u32..20, 0u32..30), 0..200)) {
            let rows: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            let cols: Vec<u32> = pairs.iter().map(|p| p.1).collect();
            let csr = Csr::from_coo(&rows, &cols, 20);
            let mut back = Vec::new();
            for r in 0..20 {
                for &c in csr.row(r) {
                    back.push((r as u32, c));
                }
            }
            let expected: Vec<(u32, u32)> = pairs.into_iter().collect();
            prop_assert_eq!(back, expected);
        }
    }
}
