//! The rows an increment of ratings touches, for the ALS updates ([`crate::als::update`],
//! [`crate::ials::update`]).
//!
//! A fitted model does not keep its training ratings, only which items each user rated (the
//! seen-items index). For every user and item that a new rating touches, [`Touched`] lists
//! its new ratings and its old partners (the items a user rated before, the users who rated an
//! item before): what a row solve needs besides the factors.

use crate::par::Par;
use crate::FunkError;

/// New ratings in a model's inner ids, with the model's seen-items index (already holding
/// the new pairs) and the sizes before the increment.
#[derive(Clone, Copy, Debug)]
pub struct Increment<'a> {
    /// User per new rating.
    pub users: &'a [u32],
    /// Item per new rating.
    pub items: &'a [u32],
    /// Value per new rating (in whatever units the caller solves in).
    pub values: &'a [f32],
    /// Users of the grown model.
    pub n_users: usize,
    /// Items of the grown model.
    pub n_items: usize,
    /// Users before the increment (rows from here on are new).
    pub n_old_users: usize,
    /// Items before the increment.
    pub n_old_items: usize,
    /// Seen-items CSR row pointers, `n_users + 1`.
    pub seen_indptr: &'a [u64],
    /// Seen-items CSR items, sorted within each row, new pairs included.
    pub seen_indices: &'a [u32],
}

impl Increment<'_> {
    /// Checks lengths and index bounds.
    pub fn validate(&self) -> Result<(), FunkError> {
        if self.users.len() != self.items.len() || self.users.len() != self.values.len() {
            return Err(FunkError::Shape(
                "users, items and values of the increment differ in length".into(),
            ));
        }
        if self.n_old_users > self.n_users || self.n_old_items > self.n_items {
            return Err(FunkError::Shape(
                "the model had more users or items before the increment than after".into(),
            ));
        }
        crate::data::check_ids("user", self.users, self.n_users)?;
        crate::data::check_ids("item", self.items, self.n_items)?;
        let p = self.seen_indptr;
        let ok = p.len() == self.n_users + 1
            && p[0] == 0
            && p.windows(2).all(|w| w[0] <= w[1])
            && p[self.n_users] as usize == self.seen_indices.len();
        if !ok {
            return Err(FunkError::Shape("malformed seen-items index".into()));
        }
        crate::data::check_ids("seen item", self.seen_indices, self.n_items)?;
        if let Some(position) = self.values.iter().position(|v| !v.is_finite()) {
            return Err(FunkError::NonFinite {
                what: "value",
                position,
                value: f64::from(self.values[position]),
            });
        }
        Ok(())
    }
}

/// One side's touched rows: their new ratings and their old partners, row by row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Touched {
    /// The touched rows, increasing.
    pub rows: Vec<u32>,
    /// `new_ptr[t]..new_ptr[t + 1]` are row `rows[t]`'s new ratings.
    pub new_ptr: Vec<usize>,
    /// The other side of each new rating.
    pub new_idx: Vec<u32>,
    /// The value of each new rating.
    pub new_val: Vec<f32>,
    /// `old_ptr[t]..old_ptr[t + 1]` are row `rows[t]`'s old partners.
    pub old_ptr: Vec<usize>,
    /// The old partners (increasing within a row).
    pub old_idx: Vec<u32>,
}

impl Touched {
    /// Row `t`'s new ratings `(partners, values)` and old partners.
    pub fn row(&self, t: usize) -> (&[u32], &[f32], &[u32]) {
        let (a, b) = (self.new_ptr[t], self.new_ptr[t + 1]);
        let (c, d) = (self.old_ptr[t], self.old_ptr[t + 1]);
        (
            &self.new_idx[a..b],
            &self.new_val[a..b],
            &self.old_idx[c..d],
        )
    }

    /// Number of touched rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is touched.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Groups `(rows[j], cols[j], vals[j])` by row: the distinct rows, increasing, and each
/// one's pairs sorted by column (input order among equal columns).
fn group(rows: &[u32], cols: &[u32], vals: &[f32]) -> (Vec<u32>, Vec<usize>, Vec<u32>, Vec<f32>) {
    let mut order: Vec<u32> = (0..rows.len() as u32).collect();
    order.sort_by_key(|&j| (rows[j as usize], cols[j as usize], j));
    let mut touched = Vec::new();
    let mut ptr = vec![0usize];
    let mut idx = Vec::with_capacity(rows.len());
    let mut val = Vec::with_capacity(rows.len());
    for (n, &j) in order.iter().enumerate() {
        let r = rows[j as usize];
        if touched.last() != Some(&r) {
            if !touched.is_empty() {
                ptr.push(n);
            }
            touched.push(r);
        }
        idx.push(cols[j as usize]);
        val.push(vals[j as usize]);
    }
    ptr.push(order.len());
    if touched.is_empty() {
        ptr = vec![0];
    }
    (touched, ptr, idx, val)
}

/// The entries of the sorted `all` that are not in the sorted `drop`.
fn minus(all: &[u32], drop: &[u32], out: &mut Vec<u32>) {
    let mut d = 0;
    for &v in all {
        while d < drop.len() && drop[d] < v {
            d += 1;
        }
        if d < drop.len() && drop[d] == v {
            continue;
        }
        out.push(v);
    }
}

/// The touched users and the touched items of `inc`.
///
/// A user's old partners are its seen items minus those of its new ratings; an item's are
/// the users whose seen lists hold it, minus the new raters. The item side scans the whole
/// seen index once (`O(nnz)`, no per-item index is stored); everything else is
/// `O(increment + touched rows' partners)`.
pub fn touched(inc: &Increment<'_>) -> (Touched, Touched) {
    let (urows, uptr, uidx, uval) = group(inc.users, inc.items, inc.values);
    let (irows, iptr, iidx, ival) = group(inc.items, inc.users, inc.values);
    // Users: seen row minus the new items.
    let mut old_ptr = vec![0usize];
    let mut old_idx = Vec::new();
    for (t, &u) in urows.iter().enumerate() {
        let (lo, hi) = (
            inc.seen_indptr[u as usize] as usize,
            inc.seen_indptr[u as usize + 1] as usize,
        );
        minus(
            &inc.seen_indices[lo..hi],
            &uidx[uptr[t]..uptr[t + 1]],
            &mut old_idx,
        );
        old_ptr.push(old_idx.len());
    }
    let users = Touched {
        rows: urows.clone(),
        new_ptr: uptr.clone(),
        new_idx: uidx.clone(),
        new_val: uval,
        old_ptr,
        old_idx,
    };
    // Items: one pass over the old users' seen rows, skipping each user's new pairs.
    let mut slot = vec![u32::MAX; inc.n_items];
    for (t, &i) in irows.iter().enumerate() {
        slot[i as usize] = t as u32;
    }
    let mut counts = vec![0usize; irows.len() + 1];
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    let mut next_touched = 0usize;
    for u in 0..inc.n_old_users {
        let (lo, hi) = (inc.seen_indptr[u] as usize, inc.seen_indptr[u + 1] as usize);
        let fresh: &[u32] = if urows.get(next_touched) == Some(&(u as u32)) {
            let t = next_touched;
            next_touched += 1;
            &uidx[uptr[t]..uptr[t + 1]]
        } else {
            &[]
        };
        for &i in &inc.seen_indices[lo..hi] {
            let s = slot[i as usize];
            if s != u32::MAX && fresh.binary_search(&i).is_err() {
                pairs.push((s, u as u32));
                counts[s as usize + 1] += 1;
            }
        }
    }
    for t in 0..irows.len() {
        counts[t + 1] += counts[t];
    }
    let mut old_idx = vec![0u32; pairs.len()];
    let mut next = counts[..irows.len()].to_vec();
    // Users were visited in increasing order, so each item's partners come out sorted.
    for &(s, u) in &pairs {
        old_idx[next[s as usize]] = u;
        next[s as usize] += 1;
    }
    let items = Touched {
        rows: irows,
        new_ptr: iptr,
        new_idx: iidx,
        new_val: ival,
        old_ptr: counts,
        old_idx,
    };
    (users, items)
}

/// What a row solve gets: the row before the update and now, its usable new ratings, its old
/// partners, and the other side now and before the update.
pub(crate) struct RowJob<'a> {
    pub(crate) orig: &'a [f32],
    pub(crate) cur: &'a [f32],
    pub(crate) new_idx: &'a [u32],
    pub(crate) new_val: &'a [f32],
    pub(crate) old_idx: &'a [u32],
    pub(crate) other: &'a [f32],
    pub(crate) other_orig: &'a [f32],
}

/// One kind of row update (explicit or implicit ALS).
pub(crate) trait RowUpdate: Sync {
    /// What a half-step computes once for all its rows (a Gram matrix, or nothing).
    type Prep: Sync;
    /// Values per row.
    fn width(&self) -> usize;
    /// The half-step's shared part, from the other side now and before the update.
    fn prepare(&self, other: &[f32], other_orig: &[f32], par: Par<'_>) -> Self::Prep;
    /// The row's new values, or None if it failed (a non-positive pivot: non-finite input).
    fn solve(&self, prep: &Self::Prep, job: &RowJob<'_>, out: &mut [f32]) -> bool;
}

/// Touched rows per parallel task (fixed: the split never depends on the thread count).
const TOUCHED_PER_TASK: usize = 32;

/// Solves the touched rows of one side (those in `only`, if given) that have anything to
/// solve from, writes them into `own` and marks them in `solved`.
#[allow(clippy::too_many_arguments)]
fn half_step<U: RowUpdate>(
    upd: &U,
    t: &Touched,
    only: Option<&[bool]>,
    own: &mut [f32],
    own_orig: &[f32],
    other: &[f32],
    other_orig: &[f32],
    n_old_other: usize,
    other_solved: &[bool],
    solved: &mut [bool],
    par: Par<'_>,
) -> Result<Vec<bool>, FunkError> {
    let d = upd.width();
    let prep = upd.prepare(other, other_orig, par);
    let n = t.len();
    let mut out = vec![0f32; n * d];
    // 0 skipped, 1 solved from all its new ratings, 2 failed, 3 solved without some of them
    let mut status = vec![0u8; n];
    let own_ro: &[f32] = own;
    let task = |(c, (chunk, st)): (usize, (&mut [f32], &mut [u8]))| {
        let mut idx = Vec::new();
        let mut val = Vec::new();
        for (j, (o, s)) in chunk.chunks_exact_mut(d).zip(st.iter_mut()).enumerate() {
            let r = c * TOUCHED_PER_TASK + j;
            if only.is_some_and(|m| !m[r]) {
                continue;
            }
            let (ni, nv, old) = t.row(r);
            idx.clear();
            val.clear();
            for (&i, &v) in ni.iter().zip(nv) {
                if (i as usize) < n_old_other || other_solved[i as usize] {
                    idx.push(i);
                    val.push(v);
                }
            }
            if idx.is_empty() && old.is_empty() {
                continue;
            }
            let row = t.rows[r] as usize;
            let job = RowJob {
                orig: &own_orig[row * d..(row + 1) * d],
                cur: &own_ro[row * d..(row + 1) * d],
                new_idx: &idx,
                new_val: &val,
                old_idx: old,
                other,
                other_orig,
            };
            *s = match (upd.solve(&prep, &job, o), idx.len() == ni.len()) {
                (false, _) => 2,
                (true, true) => 1,
                (true, false) => 3,
            };
        }
    };
    if par.is_parallel() {
        use rayon::prelude::*;
        par.install(|| {
            out.par_chunks_mut(TOUCHED_PER_TASK * d.max(1))
                .zip(status.par_chunks_mut(TOUCHED_PER_TASK))
                .enumerate()
                .for_each(task);
        });
    } else {
        out.chunks_mut(TOUCHED_PER_TASK * d.max(1))
            .zip(status.chunks_mut(TOUCHED_PER_TASK))
            .enumerate()
            .for_each(task);
    }
    if status.contains(&2) {
        return Err(FunkError::NoConvergence(
            "ALS update: a row's normal equations were not positive definite; the factors \
             are no longer finite, use a larger reg"
                .into(),
        ));
    }
    let mut incomplete = vec![false; n];
    for (r, &s) in status.iter().enumerate() {
        if s == 1 || s == 3 {
            let row = t.rows[r] as usize;
            own[row * d..(row + 1) * d].copy_from_slice(&out[r * d..(r + 1) * d]);
            solved[row] = true;
        }
        incomplete[r] = s != 1 && !only.is_some_and(|m| !m[r]);
    }
    Ok(incomplete)
}

/// `n_iter` alternations over the touched rows of `users` and `items` (`width` values per
/// row, rewritten in place): the touched users against the items, then the touched items
/// against the users. A new rating counts in a half-step once its partner row is old or has
/// been solved; after the alternations, the touched rows whose last solve could not use
/// all their new ratings (a partner that was new and not yet solved) get one more
/// half-step, users first, then items. `check` runs before every half-step. Rows with
/// nothing to solve from keep their values.
#[allow(clippy::too_many_arguments)]
pub(crate) fn alternate<U: RowUpdate>(
    upd: &U,
    inc: &Increment<'_>,
    users: &mut [f32],
    items: &mut [f32],
    n_iter: usize,
    par: Par<'_>,
    check: &mut dyn FnMut() -> Result<(), FunkError>,
) -> Result<Updated, FunkError> {
    let (tu, ti) = touched(inc);
    let users_orig = users.to_vec();
    let items_orig = items.to_vec();
    let mut user_solved = vec![false; inc.n_users];
    let mut item_solved = vec![false; inc.n_items];
    let mut seconds = Vec::with_capacity(n_iter);
    let (mut late_users, mut late_items) = (Vec::new(), Vec::new());
    for _ in 0..n_iter {
        let start = std::time::Instant::now();
        check()?;
        late_users = half_step(
            upd,
            &tu,
            None,
            users,
            &users_orig,
            items,
            &items_orig,
            inc.n_old_items,
            &item_solved,
            &mut user_solved,
            par,
        )?;
        check()?;
        late_items = half_step(
            upd,
            &ti,
            None,
            items,
            &items_orig,
            users,
            &users_orig,
            inc.n_old_users,
            &user_solved,
            &mut item_solved,
            par,
        )?;
        seconds.push(start.elapsed().as_secs_f64());
    }
    // Rows that could not use every new rating (its partner was new and not yet solved)
    // get one more half-step each side, users first.
    if n_iter > 0 && late_users.iter().any(|&l| l) {
        check()?;
        half_step(
            upd,
            &tu,
            Some(&late_users),
            users,
            &users_orig,
            items,
            &items_orig,
            inc.n_old_items,
            &item_solved,
            &mut user_solved,
            par,
        )?;
    }
    if n_iter > 0 && late_items.iter().any(|&l| l) {
        check()?;
        half_step(
            upd,
            &ti,
            Some(&late_items),
            items,
            &items_orig,
            users,
            &users_orig,
            inc.n_old_users,
            &user_solved,
            &mut item_solved,
            par,
        )?;
    }
    Ok(Updated {
        users: user_solved,
        items: item_solved,
        seconds,
    })
}

/// What [`alternate`] did: the rows it rewrote, and the seconds of each alternation.
pub(crate) struct Updated {
    pub(crate) users: Vec<bool>,
    pub(crate) items: Vec<bool>,
    pub(crate) seconds: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touched_rows_list_new_ratings_and_old_partners() {
        // 3 old users, 3 old items; user 0 saw items 0, 1; user 1 saw 1, 2; user 2 saw 0.
        // New: (0, 2) 5.0, (3, 1) 4.0 (new user 3), (1, 3) 2.0 (new item 3).
        let seen_indptr = [0u64, 3, 6, 7, 8];
        let seen_indices = [0u32, 1, 2, 1, 2, 3, 0, 1];
        let inc = Increment {
            users: &[0, 3, 1],
            items: &[2, 1, 3],
            values: &[5.0, 4.0, 2.0],
            n_users: 4,
            n_items: 4,
            n_old_users: 3,
            n_old_items: 3,
            seen_indptr: &seen_indptr,
            seen_indices: &seen_indices,
        };
        inc.validate().unwrap();
        let (users, items) = touched(&inc);
        assert_eq!(users.rows, vec![0, 1, 3]);
        assert_eq!(users.row(0), (&[2u32][..], &[5.0f32][..], &[0u32, 1][..]));
        assert_eq!(users.row(1), (&[3u32][..], &[2.0f32][..], &[1u32, 2][..]));
        assert_eq!(users.row(2), (&[1u32][..], &[4.0f32][..], &[][..]));
        assert_eq!(items.rows, vec![1, 2, 3]);
        assert_eq!(items.row(0), (&[3u32][..], &[4.0f32][..], &[0u32, 1][..]));
        assert_eq!(items.row(1), (&[0u32][..], &[5.0f32][..], &[1u32][..]));
        assert_eq!(items.row(2), (&[1u32][..], &[2.0f32][..], &[][..]));
    }

    #[test]
    fn an_empty_increment_touches_nothing() {
        let inc = Increment {
            users: &[],
            items: &[],
            values: &[],
            n_users: 1,
            n_items: 1,
            n_old_users: 1,
            n_old_items: 1,
            seen_indptr: &[0, 1],
            seen_indices: &[0],
        };
        let (users, items) = touched(&inc);
        assert!(users.is_empty() && items.is_empty());
        assert_eq!((users.len(), users.new_ptr.len()), (0, 1));
    }
}
