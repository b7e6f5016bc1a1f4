//! CPU hints and feature checks shared by the kernels.

/// Asks the CPU to pull the cache line holding `ptr` into L1 (a no-op off x86-64).
#[inline(always)]
#[allow(clippy::inline_always)] // a single instruction inside hot loops
pub(crate) fn prefetch(ptr: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint; it never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(ptr.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// Whether the CPU has AVX2 and FMA, which the kernels' fast loops need.
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}
