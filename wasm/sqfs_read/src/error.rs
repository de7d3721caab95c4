//! One error type for every parser: a code the host maps to an error class, and a
//! message naming the structure and the offending value.

/// The on-disk structure is inconsistent (bad magic, index out of range, loop...).
pub const E_CORRUPT: i32 = -1;
/// A valid image using a feature this reader does not implement.
pub const E_UNSUPPORTED: i32 = -2;
/// The host called the ABI wrongly (wrong order, bad handle): a bug in singlet.
pub const E_USAGE: i32 = -3;
/// A size limit was hit (e.g. output would exceed wasm32 memory).
pub const E_LIMIT: i32 = -4;

/// A parse failure: `code` is one of the `E_*` constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Error class.
    pub code: i32,
    /// Human-readable reason, e.g. "inode table start 5000 is beyond the image end 4096".
    pub message: String,
}

/// Shorthand for results of this crate.
pub type Result<T> = core::result::Result<T, Error>;

/// Build a corruption error.
pub fn corrupt(message: String) -> Error {
    Error {
        code: E_CORRUPT,
        message,
    }
}

/// Build an "unsupported feature" error.
pub fn unsupported(message: String) -> Error {
    Error {
        code: E_UNSUPPORTED,
        message,
    }
}

/// Build an ABI-misuse error.
pub fn usage(message: &str) -> Error {
    Error {
        code: E_USAGE,
        message: message.to_string(),
    }
}
