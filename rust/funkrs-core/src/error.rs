//! The error type shared by every kernel.

/// What can go wrong in a kernel, one variant per kind of problem a caller can act on.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum FunkError {
    /// A hyperparameter is outside its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam {
        /// Parameter name as the user spells it.
        name: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// Array lengths or shapes do not agree.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// An index is not below the size it refers to.
    #[error("{what} index {index} at position {position} is out of range (size {size})")]
    IndexOutOfRange {
        /// Which index array ("user", "item", ...).
        what: &'static str,
        /// The offending value.
        index: u64,
        /// Its position in the input.
        position: usize,
        /// The exclusive upper bound.
        size: usize,
    },
    /// An input value is NaN or infinite.
    #[error("{what} value at position {position} is not finite ({value})")]
    NonFinite {
        /// Which array.
        what: &'static str,
        /// Its position.
        position: usize,
        /// The value.
        value: f64,
    },
    /// A matrix entry is NaN or infinite.
    #[error("{what}[{row}, {col}] is not finite ({value})")]
    NonFiniteEntry {
        /// Which matrix.
        what: &'static str,
        /// Row of the entry.
        row: usize,
        /// Column of the entry.
        col: usize,
        /// The value.
        value: f64,
    },
    /// An iterative linear-algebra routine did not converge.
    #[error("{0} did not converge")]
    NoConvergence(String),
    /// Training produced a non-finite loss.
    #[error(
        "training diverged at epoch {epoch}: the training loss became {loss}; \
         use a smaller learning rate (lr={lr}) or a larger regularisation"
    )]
    Diverged {
        /// 1-based epoch at which the loss stopped being finite.
        epoch: usize,
        /// The loss that was seen.
        loss: f64,
        /// The learning rate in use.
        lr: f32,
    },
    /// A call needs more memory than this machine can provide; it was refused before the
    /// large buffers were allocated.
    #[error("{what}{hint}")]
    OutOfMemory {
        /// What needs how much, and what the machine has.
        what: String,
        /// Bytes needed (saturating).
        bytes: u128,
        /// What to change, starting with "; " (empty when there is nothing to suggest).
        hint: &'static str,
    },
    /// The caller asked to stop (for example Ctrl-C); no result was produced.
    #[error("interrupted")]
    Interrupted,
}

impl FunkError {
    /// [`FunkError::InvalidParam`] for the option `name`, with why its value is rejected.
    pub fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        FunkError::InvalidParam {
            name,
            reason: reason.into(),
        }
    }
}
