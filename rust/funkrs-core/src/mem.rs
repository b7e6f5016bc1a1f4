//! Memory checks before the large allocations whose size follows from user input.
//!
//! An infallible allocation that fails aborts the whole process, and a size computation that
//! overflows panics. Entry points therefore add up what they will allocate ([`Need`]), refuse
//! a total above the machine's physical memory, and reserve their largest buffers with
//! [`try_vec`], so that an impossible request ("`n_factors = 10⁹`") becomes
//! [`FunkError::OutOfMemory`] naming the buffer and its size.

use crate::FunkError;

/// `bytes` in binary units, three significant digits ("1.50 GiB").
pub fn human_bytes(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes == u128::MAX {
        return "more bytes than a 128-bit count holds".into();
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes} bytes");
    }
    let digits = if value >= 100.0 { 0 } else { 3 };
    let number = format!("{value:.digits$}");
    let number = if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        &number
    };
    format!("{number} {}", UNITS[unit])
}

/// Physical memory of this machine in bytes, where the platform reports it.
pub fn physical_memory() -> Option<u128> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf reads a system constant; it has no preconditions.
        let (pages, size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && size > 0 {
            return Some(pages as u128 * size as u128);
        }
    }
    None
}

/// Bytes of `count` values of `T`, saturating.
pub fn bytes_of<T>(count: u128) -> u128 {
    count.saturating_mul(std::mem::size_of::<T>() as u128)
}

/// A running total of the memory a call will allocate, with the largest part remembered so
/// that the error names it.
#[derive(Debug, Default)]
pub struct Need {
    total: u128,
    largest: (u128, String),
}

impl Need {
    /// Adds a buffer of `count` values of `T`, described by `what` (evaluated only if it is the
    /// largest part so far).
    #[must_use]
    pub fn add<T>(mut self, count: u128, what: impl FnOnce() -> String) -> Self {
        let bytes = bytes_of::<T>(count);
        self.total = self.total.saturating_add(bytes);
        if bytes > self.largest.0 {
            self.largest = (bytes, what());
        }
        self
    }

    /// Fails when the total exceeds the physical memory (or overflows), naming the largest
    /// part and the total.
    pub fn check(self, hint: &'static str) -> Result<(), FunkError> {
        let limit = physical_memory().unwrap_or(u128::MAX - 1);
        if self.total <= limit {
            return Ok(());
        }
        let (bytes, what) = self.largest;
        let total = human_bytes(self.total);
        let what = if bytes == self.total {
            format!("this call needs {total} of memory for {what}")
        } else {
            format!(
                "this call needs {total} of memory, {} of it for {what}",
                human_bytes(bytes)
            )
        };
        Err(FunkError::OutOfMemory {
            what: format!("{what}; this machine has {}", human_bytes(limit)),
            bytes: self.total,
            hint,
        })
    }
}

/// `len` copies of `value`, or [`FunkError::OutOfMemory`] when the allocator refuses.
pub fn try_vec<T: Clone>(
    len: usize,
    value: T,
    what: impl FnOnce() -> String,
) -> Result<Vec<T>, FunkError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        let bytes = bytes_of::<T>(len as u128);
        FunkError::OutOfMemory {
            what: format!("could not allocate {} for {}", human_bytes(bytes), what()),
            bytes,
            hint: "",
        }
    })?;
    v.resize(len, value);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sizes_in_binary_units() {
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3 GiB");
        assert_eq!(human_bytes(200 << 20), "200 MiB");
        assert!(human_bytes(u128::MAX).contains("128-bit"));
    }

    #[test]
    fn refuses_more_than_the_machine_has() {
        let need = Need::default()
            .add::<f32>(1 << 20, || "small".into())
            .add::<f32>(u128::from(u64::MAX), || "factors: huge".into());
        let err = need.check("; use fewer factors").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("factors: huge"), "{msg}");
        assert!(msg.ends_with("; use fewer factors"), "{msg}");
        assert!(Need::default()
            .add::<f64>(1000, || "fine".into())
            .check("")
            .is_ok());
    }

    #[test]
    fn a_refused_reservation_is_an_error() {
        let err = try_vec(usize::MAX / 2, 0u64, || "a buffer".into()).unwrap_err();
        assert!(matches!(err, FunkError::OutOfMemory { .. }), "{err}");
        assert_eq!(try_vec(3, 1u8, || "x".into()).unwrap(), vec![1, 1, 1]);
    }
}
