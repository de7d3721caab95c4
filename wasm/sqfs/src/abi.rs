//! The raw `extern "C"` ABI shared by every export: buffers are passed as (pointer, length)
//! pairs into this module's linear memory, which the host fills after calling
//! [`sqfs_alloc`]; failures return a negative error code and leave a message readable
//! through [`sqfs_error_ptr`] / [`sqfs_error_len`].

use std::cell::RefCell;

/// Error codes returned (negated) by exports.
pub mod code {
    /// An argument was out of range or malformed.
    pub const INVALID_ARGUMENT: i32 = -1;
    /// An unknown handle (node, writer) was passed.
    pub const BAD_HANDLE: i32 = -2;
    /// The image would exceed a SquashFS limit (entries, ids, sizes).
    pub const LIMIT: i32 = -3;
    /// The host's metadata compressor failed.
    pub const COMPRESS: i32 = -4;
    /// The call came in the wrong state (e.g. adding after finish).
    pub const STATE: i32 = -5;
}

thread_local! {
    static LAST_ERROR: RefCell<Vec<u8>> = RefCell::new(Vec::new());
}

/// Record `message` as the last error and return `code`.
pub fn fail(code: i32, message: &str) -> i32 {
    LAST_ERROR.with(|e| {
        let mut e = e.borrow_mut();
        e.clear();
        e.extend_from_slice(message.as_bytes());
    });
    code
}

/// Allocate `len` bytes the host may fill; returns the pointer (never null for len 0).
#[no_mangle]
pub extern "C" fn sqfs_alloc(len: usize) -> *mut u8 {
    let mut buf: Vec<u8> = Vec::with_capacity(len.max(1));
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr
}

/// Free a buffer returned by [`sqfs_alloc`] (or handed out by an export) of `len` bytes.
///
/// # Safety
/// `ptr` and `len` must come from a previous allocation of this module.
#[no_mangle]
pub unsafe extern "C" fn sqfs_free(ptr: *mut u8, len: usize) {
    if !ptr.is_null() {
        drop(Vec::from_raw_parts(ptr, 0, len.max(1)));
    }
}

/// Pointer to the UTF-8 message of the last error.
#[no_mangle]
pub extern "C" fn sqfs_error_ptr() -> *const u8 {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Length of the message of the last error.
#[no_mangle]
pub extern "C" fn sqfs_error_len() -> usize {
    LAST_ERROR.with(|e| e.borrow().len())
}

/// Borrow a host-provided (pointer, length) buffer.
///
/// # Safety
/// The range must lie in this module's memory and stay untouched during the borrow.
pub unsafe fn slice<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, len)
    }
}

/// Hand a byte vector to the host: returns its pointer; its length and capacity are equal
/// (so the host frees it with `sqfs_free(ptr, len)`).
pub fn give(mut bytes: Vec<u8>) -> (*mut u8, usize) {
    bytes.shrink_to_fit();
    let mut bytes = std::mem::ManuallyDrop::new(bytes.into_boxed_slice());
    (bytes.as_mut_ptr(), bytes.len())
}
