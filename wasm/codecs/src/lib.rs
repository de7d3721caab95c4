//! Block codecs for singlet's SquashFS writer and reader that no Deno built-in provides,
//! compiled to wasm32: LZ4 block compression (`lz4_flex`), xz compression (`lzma-rust`'s
//! LZMA2 encoder in our .xz container, `xz.rs`) and xz / lzma decompression (`lzma-rs`). gzip and zstd stay on `node:zlib` (faster, see DEVELOPERS.md); LZ4 block
//! decoding lives in the reader's own crate (`sqfs_read/src/lz4.rs`).
//!
//! # ABI
//!
//! Raw `extern "C"` functions over `(ptr, len)` pairs in linear memory, `i32` results:
//! `>= 0` success, `-1` the input is corrupt or too large for `cap`, `-2` a valid stream
//! using a feature `lzma-rs` lacks (xz BCJ/delta filters: `mksquashfs -Xbcj`), `-3` ABI misuse. The
//! message of the last failure is at `cx_error_ptr()`/`cx_error_len()`.
//!
//! - `cx_abi_version() -> u32`
//! - `cx_alloc(len) -> ptr`, `cx_free(ptr, len)`: buffers the host fills or reads.
//! - `cx_lz4_compress(src, src_len, dst, dst_cap) -> len`: one LZ4 block (raw block
//!   format, as SquashFS stores it), `0` when it does not fit in `dst_cap`.
//! - `cx_xz_compress(src, src_len, dst, dst_cap, preset, dict_size) -> len`: one .xz
//!   stream (CRC32 check, LZMA2 at xz preset 0-9 with that dictionary), `0` when it does
//!   not fit in `dst_cap`.
//! - `cx_xz_decompress(src, src_len, cap) -> len` and `cx_lzma_decompress(...)`: one xz
//!   stream / one `.lzma` (LZMA-alone) stream, at most `cap` bytes; the result is at
//!   `cx_out_ptr()` until the next call.

use std::cell::RefCell;
use std::io::Write;

mod xz;

/// The ABI revision the TypeScript marshaller checks.
const ABI_VERSION: u32 = 2;
const E_CORRUPT: i32 = -1;
const E_UNSUPPORTED: i32 = -2;
const E_USAGE: i32 = -3;

thread_local! {
    static LAST_ERROR: RefCell<String> = RefCell::new(String::new());
    static OUT: RefCell<Vec<u8>> = RefCell::new(Vec::new());
}

fn fail(code: i32, message: String) -> i32 {
    LAST_ERROR.with(|m| *m.borrow_mut() = message);
    code
}

/// The ABI version (`ABI_VERSION`).
#[no_mangle]
pub extern "C" fn cx_abi_version() -> u32 {
    ABI_VERSION
}

/// Allocate `len` bytes for the host (`0` for an empty buffer).
#[no_mangle]
pub extern "C" fn cx_alloc(len: usize) -> *mut u8 {
    if len == 0 {
        return core::ptr::null_mut();
    }
    let mut v = Vec::<u8>::with_capacity(len);
    let p = v.as_mut_ptr();
    core::mem::forget(v);
    p
}

/// Free a buffer from `cx_alloc` with the same length.
///
/// # Safety
/// `ptr` must come from `cx_alloc(len)` and not be freed twice.
#[no_mangle]
pub unsafe extern "C" fn cx_free(ptr: *mut u8, len: usize) {
    if !ptr.is_null() && len != 0 {
        drop(Vec::from_raw_parts(ptr, 0, len));
    }
}

/// Pointer to the last error message (UTF-8).
#[no_mangle]
pub extern "C" fn cx_error_ptr() -> *const u8 {
    LAST_ERROR.with(|m| m.borrow().as_ptr())
}

/// Length of the last error message.
#[no_mangle]
pub extern "C" fn cx_error_len() -> usize {
    LAST_ERROR.with(|m| m.borrow().len())
}

/// Pointer to the last decompression result.
#[no_mangle]
pub extern "C" fn cx_out_ptr() -> *const u8 {
    OUT.with(|o| o.borrow().as_ptr())
}

unsafe fn slice<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        core::slice::from_raw_parts(ptr, len)
    }
}

/// Compress one block with LZ4 (block format, no frame) into `dst`.
///
/// # Safety
/// `src`/`dst` must be valid for `src_len`/`dst_cap` bytes and must not overlap.
#[no_mangle]
pub unsafe extern "C" fn cx_lz4_compress(
    src: *const u8,
    src_len: usize,
    dst: *mut u8,
    dst_cap: usize,
) -> i32 {
    if src_len > i32::MAX as usize || (dst_cap != 0 && dst.is_null()) {
        return fail(E_USAGE, "lz4: bad buffer".to_string());
    }
    let input = slice(src, src_len);
    // lz4_flex wants room for the worst case; compress into scratch space of that size and
    // copy out only a result that fits (the caller's cap is "smaller than the input").
    OUT.with(|o| {
        let mut scratch = o.borrow_mut();
        scratch.clear();
        scratch.resize(lz4_flex::block::get_maximum_output_size(src_len), 0);
        match lz4_flex::block::compress_into(input, &mut scratch) {
            Ok(n) if n <= dst_cap => {
                if n > 0 {
                    core::ptr::copy_nonoverlapping(scratch.as_ptr(), dst, n);
                }
                n as i32
            }
            // Does not fit: the caller stores the block uncompressed.
            _ => 0,
        }
    })
}

/// Compress one block into one .xz stream (SquashFS compressor 4) into `dst`.
///
/// `preset` is xz's 0-9; `dict_size` the LZMA2 dictionary, 4 KiB to 1 GiB (SquashFS: the
/// block size).
///
/// # Safety
/// `src`/`dst` must be valid for `src_len`/`dst_cap` bytes and must not overlap.
#[no_mangle]
pub unsafe extern "C" fn cx_xz_compress(
    src: *const u8,
    src_len: usize,
    dst: *mut u8,
    dst_cap: usize,
    preset: u32,
    dict_size: u32,
) -> i32 {
    if src_len > i32::MAX as usize || (dst_cap != 0 && dst.is_null()) {
        return fail(E_USAGE, "xz: bad buffer".to_string());
    }
    if preset > 9 {
        return fail(E_USAGE, format!("xz: preset {} is not 0 to 9", preset));
    }
    if !(4096..=1 << 30).contains(&dict_size) {
        return fail(E_USAGE, format!("xz: dictionary size {} is not 4 KiB to 1 GiB", dict_size));
    }
    let stream = xz::compress(slice(src, src_len), preset, dict_size);
    if stream.len() > dst_cap {
        // Does not fit: the caller stores the block uncompressed.
        return 0;
    }
    if !stream.is_empty() {
        core::ptr::copy_nonoverlapping(stream.as_ptr(), dst, stream.len());
    }
    stream.len() as i32
}

/// A `Write` into `OUT` that refuses to grow past a bound (decompression bombs, corrupt
/// sizes): the bound is the block size the image declares.
struct Bounded<'a> {
    out: &'a mut Vec<u8>,
    cap: usize,
}

impl Write for Bounded<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > self.cap {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Other,
                format!("it decompresses to more than {} bytes", self.cap),
            ));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

unsafe fn decompress(
    what: &str,
    src: *const u8,
    src_len: usize,
    cap: usize,
    run: fn(&mut &[u8], &mut Bounded) -> Result<(), lzma_rs::error::Error>,
) -> i32 {
    if cap > i32::MAX as usize {
        return fail(E_USAGE, format!("{}: output bound too large", what));
    }
    let mut input = slice(src, src_len);
    OUT.with(|o| {
        let mut out = o.borrow_mut();
        out.clear();
        let mut sink = Bounded { out: &mut out, cap };
        match run(&mut input, &mut sink) {
            Ok(()) => out.len() as i32,
            Err(e) => {
                let text = format!("{:?}", e);
                if text.contains("Unknown filter") {
                    // lzma-rs decodes LZMA2 only; BCJ filters (mksquashfs -Xbcj) are valid xz.
                    fail(E_UNSUPPORTED, format!("{} filter is not supported ({}): singlet decodes xz images made without -Xbcj", what, text))
                } else {
                    fail(E_CORRUPT, format!("{} block: {}", what, text))
                }
            }
        }
    })
}

/// Decompress one xz stream (SquashFS compressor 4) of at most `cap` bytes.
///
/// # Safety
/// `src` must be valid for `src_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn cx_xz_decompress(src: *const u8, src_len: usize, cap: usize) -> i32 {
    decompress("xz", src, src_len, cap, |i, o| lzma_rs::xz_decompress(i, o))
}

/// Decompress one LZMA-alone stream (SquashFS compressor 2, 13-byte header) of at most `cap`
/// bytes.
///
/// # Safety
/// `src` must be valid for `src_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn cx_lzma_decompress(src: *const u8, src_len: usize, cap: usize) -> i32 {
    decompress("lzma", src, src_len, cap, |i, o| lzma_rs::lzma_decompress(i, o))
}
