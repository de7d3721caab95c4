//! SquashFS 4.0 image structures for singlet, compiled to WebAssembly.
//!
//! The crate builds the metadata of an image (inode table, directory table with headers and
//! indexes, fragment, id and xattr tables, superblock) from a tree the host describes node by
//! node. It does no I/O and no compression of its own: the host (Deno) writes data blocks
//! and passes their locations in, and compresses metadata blocks through the imported
//! `compress` function, so the crate stays compressor-agnostic.

pub mod abi;

/// ABI version of this module; the TypeScript marshaller refuses a mismatch.
#[no_mangle]
pub extern "C" fn sqfs_abi_version() -> u32 {
    1
}
