//! Sampled unobserved pairs for the ranking objective.
//!
//! Following Steck (KDD 2010), the ranking objective treats the unobserved pairs as ratings of
//! a low value $r_0$ with a small weight $w$:
//! $\sum_{\text{observed}} (r_{ui} - \hat r_{ui})^2 + w \sum_{\text{unobserved}} (r_0 - \hat r_{ui})^2$
//! (plus the usual L2 terms). Summing over every unobserved pair is out of reach, so each epoch
//! draws, per observed rating, `ratio` unobserved pairs of the same user with items drawn
//! uniformly: an unbiased sample of the second sum with `w = ratio · nnz / #unobserved`.
//!
//! The samples live in a second grid over the same user and item groups as the ratings (the
//! grouping depends only on the seed and the numbers of users and items), so the negatives of
//! block `x` touch only the rows block `x` touches and run right after it, in the same
//! thread, with the same kernel. Every epoch redraws each negative's item within its block's
//! item group from a stream fixed by the seed, the epoch and the block, so the draws, and the
//! trained factors, do not depend on the number of threads.

use super::grid::Grid;
use super::kernel::segment_layout;
use super::layout::Entry;
use super::padded;
use crate::data::Interactions;
use crate::rng::Rng;

/// Draws to try before keeping an item the user rated (only very dense rows get there).
const TRIES: usize = 8;

/// Negatives of a fit: their grid, and the observed items of every user to avoid.
pub(crate) struct Negatives {
    grid: Grid,
    /// `seen[seen_ptr[u]..seen_ptr[u + 1]]`: sorted internal item ids rated by internal user `u`.
    seen_ptr: Vec<usize>,
    seen: Vec<u32>,
    seed: u64,
}

impl Negatives {
    /// Lays out `ratio` negatives per rating of `data` (the fraction by a seeded coin), valued
    /// `target`, over the grid `ratings` uses.
    pub fn new(
        data: &Interactions<'_>,
        ratings: &Grid,
        ratio: f32,
        target: f32,
        seed: u64,
        k: usize,
        parallel: bool,
    ) -> Self {
        let whole = ratio.floor() as usize;
        let frac = f64::from(ratio - ratio.floor());
        let mut rng = Rng::stream(seed, 3);
        let mut users = Vec::with_capacity((data.len() as f64 * f64::from(ratio)) as usize + 1);
        for &u in data.users {
            let extra = usize::from(frac > 0.0 && rng.next_f64() < frac);
            users.resize(users.len() + whole + extra, u);
        }
        // A first item per negative; it only decides the item group (uniform), as every epoch
        // redraws the item within the group.
        let n_items = data.n_items as u64;
        let items: Vec<u32> = users.iter().map(|_| rng.below(n_items) as u32).collect();
        let values = vec![target; users.len()];
        let neg = Interactions {
            users: &users,
            items: &items,
            ratings: &values,
            n_users: data.n_users,
            n_items: data.n_items,
        };
        let grid = Grid::new(
            &neg,
            ratings.b,
            seed,
            false,
            segment_layout(padded(k)),
            parallel,
        );
        debug_assert!(grid.relabel.user == ratings.relabel.user);
        debug_assert!(grid.relabel.item == ratings.relabel.item);
        let (seen_ptr, seen) = seen_internal(data, ratings);
        Negatives {
            grid,
            seen_ptr,
            seen,
            seed,
        }
    }

    /// Block `x`'s negatives with items drawn for `epoch`, and their segment starts.
    pub fn draw(&self, x: usize, epoch: usize) -> (Vec<Entry>, &[u32]) {
        let (block, starts) = self.grid.block(x);
        let g = x % self.grid.b;
        let (lo, hi) = (self.grid.item_start[g], self.grid.item_start[g + 1]);
        let width = u64::from(hi - lo);
        let mut rng = Rng::stream(self.seed ^ ((epoch as u64) << 40), 40_000 + x as u64);
        let drawn = block
            .iter()
            .map(|e| {
                let u = e.u as usize;
                let rated = &self.seen[self.seen_ptr[u]..self.seen_ptr[u + 1]];
                let mut i = lo + rng.below(width) as u32;
                for _ in 1..TRIES {
                    if rated.binary_search(&i).is_err() {
                        break;
                    }
                    i = lo + rng.below(width) as u32;
                }
                Entry { i, ..*e }
            })
            .collect();
        (drawn, starts)
    }
}

/// Per internal user, the sorted internal ids of the items they rated.
fn seen_internal(data: &Interactions<'_>, grid: &Grid) -> (Vec<usize>, Vec<u32>) {
    let mut ptr = vec![0usize; data.n_users + 1];
    for &u in data.users {
        ptr[grid.relabel.user[u as usize] as usize + 1] += 1;
    }
    for u in 0..data.n_users {
        ptr[u + 1] += ptr[u];
    }
    let mut next = ptr[..data.n_users].to_vec();
    let mut seen = vec![0u32; data.len()];
    for (&u, &i) in data.users.iter().zip(data.items) {
        let slot = &mut next[grid.relabel.user[u as usize] as usize];
        seen[*slot] = grid.relabel.item[i as usize];
        *slot += 1;
    }
    for u in 0..data.n_users {
        seen[ptr[u]..ptr[u + 1]].sort_unstable();
    }
    (ptr, seen)
}

#[cfg(test)]
mod tests {
    use super::Negatives;
    use crate::sgd::grid::Grid;
    use crate::sgd::layout::Segments;
    use crate::sgd::tests::low_rank;

    #[test]
    fn draws_stay_in_the_block_avoid_rated_items_and_repeat_for_a_seed() {
        let (u, i, r) = low_rank(60, 40, 2, 0.3, 7);
        let data = crate::Interactions::new(&u, &i, &r, 60, 40).unwrap();
        let grid = Grid::new(&data, 3, 11, false, Segments::Rank, false);
        let neg = Negatives::new(&data, &grid, 1.5, -2.0, 11, 8, false);
        let rated: std::collections::HashSet<(u32, u32)> = u
            .iter()
            .zip(&i)
            .map(|(&u, &i)| (grid.relabel.user[u as usize], grid.relabel.item[i as usize]))
            .collect();
        let mut total = 0;
        for x in 0..9 {
            let (a, _) = neg.draw(x, 1);
            let (b, _) = neg.draw(x, 1);
            let (c, _) = neg.draw(x, 2);
            let (lo, hi) = (grid.item_start[x % 3], grid.item_start[x % 3 + 1]);
            for e in &a {
                assert!((lo..hi).contains(&e.i));
                assert!(!rated.contains(&(e.u, e.i)));
                assert!((e.r + 2.0).abs() < 1e-6);
            }
            assert!(a.iter().zip(&b).all(|(a, b)| (a.u, a.i) == (b.u, b.i)));
            assert!(a.len() < 3 || a.iter().zip(&c).any(|(a, c)| a.i != c.i));
            total += a.len();
        }
        // 1.5 per rating: the whole part exactly, the fraction by a coin.
        let n = data.len() as f64;
        assert!((total as f64) > 1.3 * n && (total as f64) < 1.7 * n);
    }
}
