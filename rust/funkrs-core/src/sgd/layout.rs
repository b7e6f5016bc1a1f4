//! The data layout shared by the grid, the kernel and the parameter state: a packed rating,
//! the internal numbering of users and items, and the segment layouts of a block. A leaf:
//! it depends on nothing else in `sgd`, so that the modules using it do not depend on one
//! another through it.

/// One rating, packed for streaming.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Entry {
    pub u: u32,
    pub i: u32,
    pub r: f32,
}

/// Internal ids: `user[u]` is the internal id of user `u` (likewise items). Internal ids
/// run group by group; this is a permutation fixed by the seed, so it changes where the
/// parameters live in memory but not the arithmetic: results stay bit-identical.
pub(crate) struct Relabel {
    pub user: Vec<u32>,
    pub item: Vec<u32>,
}

impl Relabel {
    /// Row `x` of the result is the first `keep` values of row `map[x]` of `src` (rows of
    /// `width` values): back to the caller's numbering, dropping any padding.
    pub fn gather<T: Copy>(map: &[u32], src: &[T], width: usize, keep: usize) -> Vec<T> {
        debug_assert_eq!(src.len(), map.len() * width);
        debug_assert!(keep <= width);
        let mut out = Vec::with_capacity(map.len() * keep);
        for &from in map {
            let from = from as usize * width;
            out.extend_from_slice(&src[from..from + keep]);
        }
        out
    }
}

/// Which users share a segment, and in which order a block lays its segments out (see
/// `grid::interleave_users`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Segments {
    /// Four by four in rank order; segments in that order.
    Rank,
    /// Four by four by decreasing number of ratings; segments in a seeded order.
    ByCount,
}
