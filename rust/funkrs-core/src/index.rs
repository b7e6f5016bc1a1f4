//! Raw integer id → inner id lookup: a direct table for dense ids, open addressing otherwise.

use rayon::prelude::*;

use crate::par::Par;
use crate::FunkError;

/// Maps distinct `i64` raw ids to their positions `0..n`.
#[derive(Clone, Debug)]
pub enum IdIndex {
    /// Ids within `[min, min + table.len())`; `u32::MAX` marks a hole.
    Dense {
        /// Smallest id.
        min: i64,
        /// Position of `min + j`, or `u32::MAX`.
        table: Vec<u32>,
    },
    /// Linear-probing hash table with a power-of-two capacity.
    Hash {
        /// Slot keys (`EMPTY` for free slots; the empty key itself is stored aside).
        keys: Vec<i64>,
        /// Slot values.
        vals: Vec<u32>,
        /// Position of the id equal to `EMPTY`, if present.
        empty_key_pos: Option<u32>,
    },
}

const EMPTY: i64 = i64::MIN;
/// Queries per parallel task in [`IdIndex::lookup`].
const LOOKUP_CHUNK: usize = 1 << 15;
const MISSING: u32 = u32::MAX;

#[inline]
fn slot(key: i64, mask: usize) -> usize {
    // Fibonacci hashing: multiplicative mixing spreads sequential ids.
    ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17) as usize & mask
}

impl IdIndex {
    /// Builds the index; duplicate ids are an error.
    pub fn new(ids: &[i64]) -> Result<Self, FunkError> {
        if ids.len() >= MISSING as usize {
            return Err(FunkError::Shape("too many ids for a u32 index".into()));
        }
        if ids.is_empty() {
            return Ok(IdIndex::Dense {
                min: 0,
                table: Vec::new(),
            });
        }
        let (min, max) = ids
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let span = (max as i128 - min as i128 + 1) as u128;
        let index = if span <= 4 * ids.len() as u128 + 1024 {
            let mut table = vec![MISSING; span as usize];
            for (pos, &id) in ids.iter().enumerate() {
                let cell = &mut table[(id - min) as usize];
                if *cell != MISSING {
                    return Err(duplicate(id, pos));
                }
                *cell = pos as u32;
            }
            IdIndex::Dense { min, table }
        } else {
            Self::hashed(ids)?
        };
        Ok(index)
    }

    fn hashed(ids: &[i64]) -> Result<Self, FunkError> {
        let cap = (ids.len() * 2).next_power_of_two().max(16);
        let mask = cap - 1;
        let mut keys = vec![EMPTY; cap];
        let mut vals = vec![MISSING; cap];
        let mut empty_key_pos = None;
        for (pos, &id) in ids.iter().enumerate() {
            if id == EMPTY {
                if empty_key_pos.replace(pos as u32).is_some() {
                    return Err(duplicate(id, pos));
                }
                continue;
            }
            let mut s = slot(id, mask);
            loop {
                if keys[s] == EMPTY {
                    keys[s] = id;
                    vals[s] = pos as u32;
                    break;
                }
                if keys[s] == id {
                    return Err(duplicate(id, pos));
                }
                s = (s + 1) & mask;
            }
        }
        Ok(IdIndex::Hash {
            keys,
            vals,
            empty_key_pos,
        })
    }

    /// Number of ids (positions `0..len`); counted, so O(table size).
    pub fn len(&self) -> usize {
        match self {
            IdIndex::Dense { table, .. } => table.iter().filter(|&&v| v != MISSING).count(),
            IdIndex::Hash {
                vals,
                empty_key_pos,
                ..
            } => {
                vals.iter().filter(|&&v| v != MISSING).count()
                    + usize::from(empty_key_pos.is_some())
            }
        }
    }

    /// Whether the index holds no id.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inner id of `id`, if present.
    #[inline]
    pub fn get(&self, id: i64) -> Option<u32> {
        let pos = match self {
            IdIndex::Dense { min, table } => {
                let off = id.checked_sub(*min)?;
                *table.get(usize::try_from(off).ok()?)?
            }
            IdIndex::Hash {
                keys,
                vals,
                empty_key_pos,
            } => {
                if id == EMPTY {
                    return *empty_key_pos;
                }
                let mask = keys.len() - 1;
                let mut s = slot(id, mask);
                loop {
                    if keys[s] == id {
                        break vals[s];
                    }
                    if keys[s] == EMPTY {
                        return None;
                    }
                    s = (s + 1) & mask;
                }
            }
        };
        (pos != MISSING).then_some(pos)
    }

    /// Inner ids of `queries` (`-1` for unknown ones), in parallel chunks.
    pub fn lookup(&self, queries: &[i64], par: Par<'_>) -> Vec<i64> {
        let mut out = vec![0i64; queries.len()];
        let fill = |(dst, src): (&mut [i64], &[i64])| {
            for (d, &q) in dst.iter_mut().zip(src) {
                *d = self.get(q).map_or(-1, i64::from);
            }
        };
        if par.is_parallel() && queries.len() > LOOKUP_CHUNK {
            par.install(|| {
                out.par_chunks_mut(LOOKUP_CHUNK)
                    .zip(queries.par_chunks(LOOKUP_CHUNK))
                    .for_each(fill);
            });
        } else {
            fill((&mut out, queries));
        }
        out
    }
}

fn duplicate(id: i64, position: usize) -> FunkError {
    FunkError::Shape(format!("id {id} at position {position} is a duplicate"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn finds_every_id_and_nothing_else(
            ids in proptest::collection::hash_set(any::<i64>(), 0..300),
            probes in proptest::collection::vec(any::<i64>(), 0..100),
            dense in any::<bool>(),
        ) {
            let mut ids: Vec<i64> = ids.into_iter().collect();
            if dense {
                ids = (0..ids.len() as i64).map(|x| x * 3 - 7).collect();
            }
            let index = IdIndex::new(&ids).unwrap();
            for (pos, &id) in ids.iter().enumerate() {
                prop_assert_eq!(index.get(id), Some(pos as u32));
            }
            for p in probes {
                let expected = ids.iter().position(|&x| x == p).map(|x| x as u32);
                prop_assert_eq!(index.get(p), expected);
            }
        }
    }

    #[test]
    fn extreme_ids_and_duplicates() {
        let ids = [i64::MIN, i64::MAX, 0, -1];
        let index = IdIndex::new(&ids).unwrap();
        assert!(matches!(index, IdIndex::Hash { .. }));
        assert_eq!(
            index.lookup(&[i64::MAX, i64::MIN, 5], Par::Seq),
            vec![1, 0, -1]
        );
        assert!(IdIndex::new(&[4, 5, 4]).is_err());
        assert!(IdIndex::new(&[i64::MIN, 9, i64::MIN]).is_err());
        assert!(IdIndex::new(&[1 << 40, 9, 1 << 40]).is_err());
    }
}

/// Maps distinct fixed-width strings (numpy `<U` rows: `width` UCS-4 code points, padded
/// with trailing zeros) to their positions, by open addressing on a hash of the row.
#[derive(Clone, Debug)]
pub struct StrIndex {
    data: Vec<u32>,
    width: usize,
    slots: Vec<u32>,
}

/// The row without its zero padding.
#[inline]
fn trimmed(row: &[u32]) -> &[u32] {
    let end = row.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
    &row[..end]
}

#[inline]
fn hash_row(row: &[u32]) -> u64 {
    // FNV-1a over code points, then a multiplicative finaliser.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in row {
        h = (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3);
    }
    h.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl StrIndex {
    /// Builds the index of `data.len() / width` rows; duplicates are an error.
    pub fn new(data: &[u32], width: usize) -> Result<Self, FunkError> {
        let n = data.len().checked_div(width).unwrap_or(0);
        if width > 0 && data.len() != n * width {
            return Err(FunkError::Shape(
                "string data is not a whole number of rows".into(),
            ));
        }
        if n >= MISSING as usize {
            return Err(FunkError::Shape("too many ids for a u32 index".into()));
        }
        let cap = (n * 2).next_power_of_two().max(16);
        let mut index = StrIndex {
            data: data.to_vec(),
            width,
            slots: vec![MISSING; cap],
        };
        for pos in 0..n {
            let row = trimmed(&data[pos * width..(pos + 1) * width]);
            let mask = cap - 1;
            let mut s = (hash_row(row) >> 17) as usize & mask;
            loop {
                let here = index.slots[s];
                if here == MISSING {
                    index.slots[s] = pos as u32;
                    break;
                }
                if index.row(here as usize) == row {
                    return Err(FunkError::Shape(format!(
                        "string id at position {pos} is a duplicate"
                    )));
                }
                s = (s + 1) & mask;
            }
        }
        Ok(index)
    }

    fn row(&self, pos: usize) -> &[u32] {
        trimmed(&self.data[pos * self.width..(pos + 1) * self.width])
    }

    /// Position of the string `row` (zero padding ignored), if present.
    pub fn get(&self, row: &[u32]) -> Option<u32> {
        let row = trimmed(row);
        let mask = self.slots.len() - 1;
        let mut s = (hash_row(row) >> 17) as usize & mask;
        loop {
            let here = self.slots[s];
            if here == MISSING {
                return None;
            }
            if self.row(here as usize) == row {
                return Some(here);
            }
            s = (s + 1) & mask;
        }
    }

    /// Positions of the query rows (`width` code points each), `-1` for unknown ones.
    pub fn lookup(&self, queries: &[u32], width: usize, par: Par<'_>) -> Vec<i64> {
        let n = queries.len().checked_div(width).unwrap_or(0);
        let mut out = vec![-1i64; if width == 0 { 0 } else { n }];
        if width == 0 {
            return out;
        }
        let fill = |(dst, src): (&mut [i64], &[u32])| {
            for (d, q) in dst.iter_mut().zip(src.chunks_exact(width)) {
                *d = self.get(q).map_or(-1, i64::from);
            }
        };
        if par.is_parallel() && n > LOOKUP_CHUNK {
            par.install(|| {
                out.par_chunks_mut(LOOKUP_CHUNK)
                    .zip(queries.par_chunks(LOOKUP_CHUNK * width))
                    .for_each(fill);
            });
        } else {
            fill((&mut out, queries));
        }
        out
    }
}

#[cfg(test)]
mod str_tests {
    use super::*;

    fn encode(words: &[&str], width: usize) -> Vec<u32> {
        let mut out = vec![0u32; words.len() * width];
        for (r, w) in words.iter().enumerate() {
            for (c, ch) in w.chars().enumerate() {
                out[r * width + c] = ch as u32;
            }
        }
        out
    }

    #[test]
    fn finds_strings_across_widths() {
        let words = ["", "a", "ab", "héllo", "ab\u{1F600}"];
        let index = StrIndex::new(&encode(&words, 6), 6).unwrap();
        let queries = encode(&["ab", "zz", "", "héllo", "ab\u{1F600}", "a"], 8);
        assert_eq!(index.lookup(&queries, 8, Par::Seq), vec![2, -1, 0, 3, 4, 1]);
        assert!(StrIndex::new(&encode(&["x", "x"], 3), 3).is_err());
    }
}
