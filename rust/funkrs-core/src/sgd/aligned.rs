//! Factor storage that starts on a cache-line boundary.

use std::ops::{Deref, DerefMut};

/// One 64-byte cache line of floats.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A float buffer whose first element sits on a 64-byte boundary.
///
/// With rows of a multiple of 8 floats, every 8-lane load and store of the SGD kernel is then
/// 32-byte aligned and never straddles two cache lines (an allocator only promises 16 bytes,
/// which splits every other 32-byte access of some rows in two).
#[derive(Clone)]
pub(crate) struct AlignedF32 {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedF32 {
    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        AlignedF32 {
            lines: vec![Line([0.0; 16]); len.div_ceil(16)],
            len,
        }
    }
}

impl Deref for AlignedF32 {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` over 16 floats, so the lines are `16 · lines.len() >=
        // len` contiguous, initialised floats.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }
}

impl DerefMut for AlignedF32 {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::AlignedF32;

    #[test]
    fn keeps_the_values_on_a_line_boundary() {
        for n in [0usize, 1, 15, 16, 17, 1000] {
            let values: Vec<f32> = (0..n).map(|x| x as f32).collect();
            let mut a = AlignedF32::zeros(n);
            a.copy_from_slice(&values);
            assert_eq!(&a[..], &values[..]);
            assert_eq!(a.as_ptr() as usize % 64, 0);
            if n > 0 {
                a[n - 1] = -1.0;
                assert_eq!(a.clone()[n - 1].to_bits(), (-1.0f32).to_bits());
            }
        }
    }
}
