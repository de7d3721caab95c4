//! SquashFS 4.0 image structures for singlet, compiled to WebAssembly.
//!
//! The crate builds the metadata of an image (inode table, directory table with headers and
//! indexes, fragment, id and xattr tables, superblock) from a tree the host describes node by
//! node. It does no I/O and no compression of its own: the host (Deno) writes data blocks
//! and passes their locations in, and compresses metadata blocks through the imported
//! `sqfs_host_compress` function, so the crate stays compressor-agnostic.
//!
//! Exports (all return a negative error code on failure, see [`abi`]):
//! - `sqfs_init(block_size, compressor_id, flags)`: start an image; node 0 is the root.
//! - `sqfs_node(kind, mode, uid, gid, mtime) -> id`: a new inode (kind = basic type 1..7).
//! - `sqfs_set_meta(id, mode, uid, gid, mtime)`: replace a node's metadata.
//! - `sqfs_link(parent, child, name_ptr, name_len)`: name a node inside a directory.
//! - `sqfs_xattr_clear(id)`, `sqfs_xattr_add(id, key_ptr, key_len, value_ptr, value_len)`.
//! - `sqfs_file(id, size, start, frag, frag_offset, sparse, blocks_ptr, count)`: a regular
//!   file's data location (`size`, `start`, `sparse` as f64; `blocks` as u32 LE words).
//! - `sqfs_symlink(id, target_ptr, target_len)`, `sqfs_device(id, major, minor)`.
//! - `sqfs_fragment(start, size_word) -> index`: record a written fragment block.
//! - `sqfs_finish(data_end) -> len`: build everything; `sqfs_result_ptr()` then points at
//!   `len` bytes: the 96-byte superblock followed by the tables, to be written at
//!   `data_end`. Free them with `sqfs_free(ptr, len)`.

pub mod abi;
mod image;
mod meta;

use abi::{code, fail, slice};
use image::Image;
use std::cell::RefCell;

thread_local! {
    static IMAGE: RefCell<Option<Image>> = RefCell::new(None);
    static RESULT: RefCell<usize> = RefCell::new(0);
}

/// ABI version of this module; the TypeScript marshaller refuses a mismatch.
#[no_mangle]
pub extern "C" fn sqfs_abi_version() -> u32 {
    1
}

fn with_image(f: impl FnOnce(&mut Image) -> Result<i32, image::Fail>) -> i32 {
    IMAGE.with(|cell| {
        let mut guard = cell.borrow_mut();
        match guard.as_mut() {
            None => fail(code::STATE, "no image started (call sqfs_init)"),
            Some(img) => match f(img) {
                Ok(v) => v,
                Err((c, m)) => fail(c, &m),
            },
        }
    })
}

/// Start an image.
#[no_mangle]
pub extern "C" fn sqfs_init(block_size: u32, compressor: u32, flags: u32) -> i32 {
    if !block_size.is_power_of_two() || !(4096..=1 << 20).contains(&block_size) {
        return fail(code::INVALID_ARGUMENT, "block size must be a power of two from 4 KiB to 1 MiB");
    }
    IMAGE.with(|cell| *cell.borrow_mut() = Some(Image::new(block_size, compressor as u16, flags as u16)));
    0
}

/// Create a node.
#[no_mangle]
pub extern "C" fn sqfs_node(kind: u32, mode: u32, uid: u32, gid: u32, mtime: u32) -> i32 {
    with_image(|img| {
        if !(1..=7).contains(&kind) {
            return Err((code::INVALID_ARGUMENT, format!("unknown inode type {}", kind)));
        }
        if img.nodes.len() >= i32::MAX as usize {
            return Err((code::LIMIT, "too many entries".into()));
        }
        img.nodes.push(image::Node { kind: kind as u8, mode: mode as u16, uid, gid, mtime, frag: 0xFFFF_FFFF, ..Default::default() });
        Ok(img.nodes.len() as i32 - 1)
    })
}

/// Replace a node's metadata.
#[no_mangle]
pub extern "C" fn sqfs_set_meta(id: u32, mode: u32, uid: u32, gid: u32, mtime: u32) -> i32 {
    with_image(|img| {
        let n = img.node(id)?;
        n.mode = mode as u16;
        n.uid = uid;
        n.gid = gid;
        n.mtime = mtime;
        Ok(0)
    })
}

/// Name a node inside a directory.
///
/// # Safety
/// `name_ptr`/`name_len` must be a buffer of this module.
#[no_mangle]
pub unsafe extern "C" fn sqfs_link(parent: u32, child: u32, name_ptr: *const u8, name_len: usize) -> i32 {
    let name = slice(name_ptr, name_len);
    with_image(|img| img.link(parent, child, name).map(|_| 0))
}

/// Drop a node's extended attributes.
#[no_mangle]
pub extern "C" fn sqfs_xattr_clear(id: u32) -> i32 {
    with_image(|img| {
        img.node(id)?.xattrs.clear();
        Ok(0)
    })
}

/// Add one extended attribute (full name with its `user.`/`trusted.`/`security.` prefix).
///
/// # Safety
/// Both ranges must be buffers of this module.
#[no_mangle]
pub unsafe extern "C" fn sqfs_xattr_add(id: u32, key_ptr: *const u8, key_len: usize, value_ptr: *const u8, value_len: usize) -> i32 {
    let key = slice(key_ptr, key_len);
    let value = slice(value_ptr, value_len);
    with_image(|img| {
        let prefixes: [(&[u8], u16); 3] = [(b"user.", 0), (b"trusted.", 1), (b"security.", 2)];
        for (prefix, ty) in prefixes {
            if key.starts_with(prefix) && key.len() > prefix.len() {
                let name = &key[prefix.len()..];
                if name.len() > 0xFFFF || value.len() > u32::MAX as usize {
                    return Err((code::LIMIT, "extended attribute too large".into()));
                }
                img.node(id)?.xattrs.push((ty, name.to_vec(), value.to_vec()));
                return Ok(0);
            }
        }
        Err((code::INVALID_ARGUMENT, format!("unsupported extended attribute namespace in {:?}", String::from_utf8_lossy(key))))
    })
}

/// Set a regular file's data location.
///
/// # Safety
/// `blocks_ptr` must hold `count` little-endian u32 words in this module's memory.
#[no_mangle]
pub unsafe extern "C" fn sqfs_file(id: u32, size: f64, start: f64, frag: u32, frag_offset: u32, sparse: f64, blocks_ptr: *const u8, count: usize) -> i32 {
    let words = slice(blocks_ptr, count * 4);
    with_image(|img| {
        let block_size = img.block_size as u64;
        let n = img.node(id)?;
        if n.kind != image::FILE {
            return Err((code::INVALID_ARGUMENT, "not a regular file".into()));
        }
        n.size = size as u64;
        n.start = start as u64;
        n.frag = frag;
        n.frag_offset = frag_offset;
        n.sparse = sparse as u64;
        let expected = if frag == 0xFFFF_FFFF { (n.size + block_size - 1) / block_size } else { n.size / block_size };
        if expected != count as u64 {
            return Err((code::INVALID_ARGUMENT, format!("{} block sizes for a file needing {}", count, expected)));
        }
        n.blocks = words.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
        Ok(0)
    })
}

/// Set a symlink's target.
///
/// # Safety
/// The range must be a buffer of this module.
#[no_mangle]
pub unsafe extern "C" fn sqfs_symlink(id: u32, target_ptr: *const u8, target_len: usize) -> i32 {
    let target = slice(target_ptr, target_len);
    with_image(|img| {
        let n = img.node(id)?;
        if n.kind != image::SYMLINK || target.is_empty() {
            return Err((code::INVALID_ARGUMENT, "not a symlink, or an empty target".into()));
        }
        n.target = target.to_vec();
        Ok(0)
    })
}

/// Set a device node's numbers.
#[no_mangle]
pub extern "C" fn sqfs_device(id: u32, major: u32, minor: u32) -> i32 {
    with_image(|img| {
        if major > 0xFFF || minor > 0xFFFFF {
            return Err((code::LIMIT, format!("device {}:{} does not fit SquashFS's 32-bit encoding", major, minor)));
        }
        let n = img.node(id)?;
        if n.kind != image::BLKDEV && n.kind != image::CHRDEV {
            return Err((code::INVALID_ARGUMENT, "not a device".into()));
        }
        n.rdev = (minor & 0xFF) | (major << 8) | ((minor & !0xFF) << 12);
        Ok(0)
    })
}

/// Record a fragment block written by the host; returns its index.
#[no_mangle]
pub extern "C" fn sqfs_fragment(start: f64, size_word: u32) -> i32 {
    with_image(|img| {
        img.fragments.push((start as u64, size_word));
        Ok(img.fragments.len() as i32 - 1)
    })
}

/// Build the superblock and tables.
#[no_mangle]
pub extern "C" fn sqfs_finish(data_end: f64) -> i32 {
    let result = IMAGE.with(|cell| {
        let mut guard = cell.borrow_mut();
        match guard.take() {
            None => Err((code::STATE, "no image started".to_string())),
            Some(mut img) => img.finish(data_end as u64),
        }
    });
    match result {
        Ok(bytes) => {
            if bytes.len() > i32::MAX as usize {
                return fail(code::LIMIT, "tables over 2 GiB");
            }
            let (ptr, len) = abi::give(bytes);
            RESULT.with(|r| *r.borrow_mut() = ptr as usize);
            len as i32
        }
        Err((c, m)) => fail(c, &m),
    }
}

/// Where the bytes of the last `sqfs_finish` are.
#[no_mangle]
pub extern "C" fn sqfs_result_ptr() -> usize {
    RESULT.with(|r| *r.borrow())
}
