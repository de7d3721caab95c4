//! SquashFS 4.0 structure parser for singlet's reader, compiled to wasm32.
//!
//! The crate does no I/O and no decompression: the host (TypeScript, `core/squashfs`)
//! reads byte ranges of the image, decompresses metadata blocks with `node:zlib`, and
//! feeds them in. The crate validates everything it is given and flattens the directory
//! tree into one record buffer, so the host crosses the ABI a handful of times per image,
//! not once per inode.
//!
//! # ABI
//!
//! Raw `extern "C"` functions over `(ptr, len)` pairs in linear memory. Functions return
//! `i32`: `>= 0` on success, a negative `E_*` code (see `error.rs`) on failure, with a
//! message at `sq_error_ptr()`/`sq_error_len()`. Handles are opaque non-zero `i32`s.
//!
//! Protocol: `sq_open(superblock)` → read `sq_layout` slots → feed the xattr header
//! (`sq_set_xattr_header`) and the table indexes (`sq_set_index`) → the layout now also
//! gives the end of the directory and xattr key/value regions → feed the decompressed
//! regions (`sq_set_meta`) and tables (`sq_set_table`) → `sq_walk` / `sq_fragments` /
//! `sq_xattrs`, whose result is at `sq_out_ptr`/`sq_out_len` until the next call.
//!
//! # Walk record (little-endian)
//!
//! ```text
//!  0 u32 parent record index (u32::MAX for the root)
//!  4 u32 first record index of the same inode (== own index unless a hard link)
//!  8 u8  basic type (1 dir, 2 file, 3 symlink, 4 blkdev, 5 chrdev, 6 fifo, 7 socket)
//! 10 u16 name length        12 u16 permission bits
//! 16 u32 uid   20 u32 gid   24 u32 mtime   28 u32 inode number
//! 32 u32 nlink 36 u32 xattr id (u32::MAX: none)   40 u64 size
//! 48 name bytes, then, on the first record of an inode only:
//!    file:    u64 blocks start, u32 fragment, u32 fragment offset, u32 n, u32 sizes[n]
//!    symlink: target bytes (size of them)
//!    device:  u32 major, u32 minor
//! ```

pub mod cursor;
pub mod dir;
pub mod error;
pub mod inode;
pub mod inflate;
pub mod lz4;
pub mod meta;
pub mod reader;
pub mod superblock;
pub mod table;
pub mod xattr;

use std::cell::RefCell;

use error::Error;
use reader::Reader;

thread_local! {
    static LAST_ERROR: RefCell<String> = RefCell::new(String::new());
}

fn fail(e: Error) -> i32 {
    LAST_ERROR.with(|m| *m.borrow_mut() = e.message);
    e.code
}

fn slice<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        // SAFETY: the host passes a region it allocated with `sq_alloc` and filled.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

fn with_reader(handle: i32, f: impl FnOnce(&mut Reader) -> error::Result<i32>) -> i32 {
    if handle <= 0 {
        return fail(error::usage("invalid reader handle"));
    }
    // SAFETY: handles are `Box<Reader>` pointers returned by `sq_open` and not yet closed.
    let reader = unsafe { &mut *(handle as usize as *mut Reader) };
    match f(reader) {
        Ok(v) => v,
        Err(e) => fail(e),
    }
}

/// Allocate `len` bytes for the host to fill; 0 on failure.
#[no_mangle]
pub extern "C" fn sq_alloc(len: usize) -> *mut u8 {
    let mut v: Vec<u8> = Vec::new();
    if v.try_reserve_exact(len.max(1)).is_err() {
        return std::ptr::null_mut();
    }
    let ptr = v.as_mut_ptr();
    std::mem::forget(v);
    ptr
}

/// Free a region from `sq_alloc`.
#[no_mangle]
pub extern "C" fn sq_free(ptr: *mut u8, len: usize) {
    if !ptr.is_null() {
        // SAFETY: `ptr` came from `sq_alloc(len)`, whose capacity is `len.max(1)`.
        unsafe { drop(Vec::from_raw_parts(ptr, 0, len.max(1))) };
    }
}

/// Address of the last error message (UTF-8).
#[no_mangle]
pub extern "C" fn sq_error_ptr() -> *const u8 {
    LAST_ERROR.with(|m| m.borrow().as_ptr())
}

/// Length of the last error message.
#[no_mangle]
pub extern "C" fn sq_error_len() -> usize {
    LAST_ERROR.with(|m| m.borrow().len())
}

/// Parse the superblock; `image_size` (split in two u32 halves) is the bytes available
/// from the superblock on. Returns a handle.
#[no_mangle]
pub extern "C" fn sq_open(ptr: *const u8, len: usize, size_lo: u32, size_hi: u32) -> i32 {
    let size = (size_hi as u64) << 32 | size_lo as u64;
    match Reader::open(slice(ptr, len), size) {
        Ok(r) => Box::into_raw(Box::new(r)) as usize as i32,
        Err(e) => fail(e),
    }
}

/// Release a reader.
#[no_mangle]
pub extern "C" fn sq_close(handle: i32) {
    if handle > 0 {
        // SAFETY: see `with_reader`; the host closes each handle once.
        unsafe { drop(Box::from_raw(handle as usize as *mut Reader)) };
    }
}

/// Address of the reader's layout array (`reader::LAYOUT_SLOTS` u64s).
#[no_mangle]
pub extern "C" fn sq_layout(handle: i32) -> i32 {
    with_reader(handle, |r| Ok(r.layout.as_ptr() as usize as i32))
}

/// Feed the 16-byte xattr table header.
#[no_mangle]
pub extern "C" fn sq_set_xattr_header(handle: i32, ptr: *const u8, len: usize) -> i32 {
    with_reader(handle, |r| r.set_xattr_header(slice(ptr, len)).map(|_| 0))
}

/// Feed the raw index of table `kind`.
#[no_mangle]
pub extern "C" fn sq_set_index(handle: i32, kind: u32, ptr: *const u8, len: usize) -> i32 {
    with_reader(handle, |r| r.set_index(kind, slice(ptr, len)).map(|_| 0))
}

/// Feed the decompressed data of table `kind`.
#[no_mangle]
pub extern "C" fn sq_set_table(handle: i32, kind: u32, ptr: *const u8, len: usize) -> i32 {
    with_reader(handle, |r| {
        r.set_table(kind, slice(ptr, len).to_vec()).map(|_| 0)
    })
}

/// Feed a decompressed metadata region and its block map.
#[no_mangle]
pub extern "C" fn sq_set_meta(
    handle: i32,
    kind: u32,
    ptr: *const u8,
    len: usize,
    map_ptr: *const u8,
    map_len: usize,
) -> i32 {
    with_reader(handle, |r| {
        r.set_meta(kind, slice(ptr, len).to_vec(), slice(map_ptr, map_len))
            .map(|_| 0)
    })
}

/// Walk the tree; returns the number of records in the output buffer.
#[no_mangle]
pub extern "C" fn sq_walk(handle: i32) -> i32 {
    with_reader(handle, |r| {
        let n = r.walk()?;
        if n > i32::MAX as u32 {
            return Err(Error {
                code: error::E_LIMIT,
                message: "too many entries".into(),
            });
        }
        Ok(n as i32)
    })
}

/// Validate the fragment table; returns its entry count (12 bytes each in the output).
#[no_mangle]
pub extern "C" fn sq_fragments(handle: i32) -> i32 {
    with_reader(handle, |r| r.fragments().map(|n| n as i32))
}

/// Decompress one LZ4 block (at most `cap` bytes) into the output buffer; returns its length.
#[no_mangle]
pub extern "C" fn sq_lz4(handle: i32, ptr: *const u8, len: usize, cap: usize) -> i32 {
    with_reader(handle, |r| {
        let mut out = std::mem::take(&mut r.out);
        let result = lz4::decompress(slice(ptr, len), cap, &mut out);
        r.out = out;
        result.map(|_| r.out.len() as i32)
    })
}

/// Inflate one zlib stream (at most `cap` bytes) into the output buffer; returns its length.
#[no_mangle]
pub extern "C" fn sq_inflate(handle: i32, ptr: *const u8, len: usize, cap: usize) -> i32 {
    with_reader(handle, |r| {
        let mut out = std::mem::take(&mut r.out);
        let result = inflate::decompress(slice(ptr, len), cap, &mut out);
        r.out = out;
        result.map(|_| r.out.len() as i32)
    })
}

/// Decode the xattrs of xattr id `idx` into the output buffer.
#[no_mangle]
pub extern "C" fn sq_xattrs(handle: i32, idx: u32) -> i32 {
    with_reader(handle, |r| r.xattrs(idx).map(|_| 0))
}

/// Address of the output buffer.
#[no_mangle]
pub extern "C" fn sq_out_ptr(handle: i32) -> i32 {
    with_reader(handle, |r| Ok(r.out.as_ptr() as usize as i32))
}

/// Length of the output buffer.
#[no_mangle]
pub extern "C" fn sq_out_len(handle: i32) -> i32 {
    with_reader(handle, |r| Ok(r.out.len() as i32))
}
