//! The 96-byte SquashFS 4.0 superblock: parsed and checked against the image size before
//! anything else is read, so every later offset can be trusted to lie inside the image.

use crate::cursor::Cursor;
use crate::error::{corrupt, unsupported, Result};

/// Size of the superblock on disk.
pub const SUPERBLOCK_SIZE: usize = 96;
/// "hsqs" read as a little-endian u32.
pub const MAGIC: u32 = 0x7371_7368;
/// Marks an absent optional table.
pub const NO_TABLE: u64 = u64::MAX;

/// Superblock flag: no fragments.
pub const FLAG_NO_FRAGMENTS: u16 = 0x0010;
/// Superblock flag: no xattrs.
pub const FLAG_NO_XATTRS: u16 = 0x0200;
/// Superblock flag: a compressor-options metadata block follows the superblock.
pub const FLAG_COMPRESSOR_OPTIONS: u16 = 0x0400;

/// The fields of the superblock (little-endian on disk).
#[derive(Debug, Clone)]
pub struct Superblock {
    /// Number of inodes; inode numbers run from 1 to this.
    pub inode_count: u32,
    /// Image modification time, seconds since the epoch.
    pub mod_time: u32,
    /// Data block size in bytes, a power of two from 4 KiB to 1 MiB.
    pub block_size: u32,
    /// Entries in the fragment table.
    pub fragment_count: u32,
    /// 1 gzip, 2 lzma, 3 lzo, 4 xz, 5 lz4, 6 zstd.
    pub compression: u16,
    /// log2(block_size).
    pub block_log: u16,
    /// Feature flags (`FLAG_*`).
    pub flags: u16,
    /// Entries in the uid/gid table.
    pub id_count: u16,
    /// Reference (block << 16 | offset) of the root directory inode.
    pub root_inode: u64,
    /// Bytes of the image in use; the rest is padding.
    pub bytes_used: u64,
    /// Start of the id table index.
    pub id_table: u64,
    /// Start of the xattr id table header, or `NO_TABLE`.
    pub xattr_table: u64,
    /// Start of the inode table.
    pub inode_table: u64,
    /// Start of the directory table.
    pub dir_table: u64,
    /// Start of the fragment table index, or `NO_TABLE`.
    pub fragment_table: u64,
    /// Start of the export table index, or `NO_TABLE`.
    pub export_table: u64,
}

fn check_start(name: &str, value: u64, optional: bool, bytes_used: u64) -> Result<()> {
    if optional && value == NO_TABLE {
        return Ok(());
    }
    if value < SUPERBLOCK_SIZE as u64 || value >= bytes_used {
        return Err(corrupt(format!(
            "superblock {} start {} lies outside the image (96..{})",
            name, value, bytes_used
        )));
    }
    Ok(())
}

impl Superblock {
    /// Parse and validate a superblock.
    ///
    /// `image_size` is the number of bytes available from the superblock to the end of the
    /// file (or partition); every table start must lie below `bytes_used <= image_size`.
    pub fn parse(bytes: &[u8], image_size: u64) -> Result<Superblock> {
        let mut c = Cursor::new(bytes, 0, "superblock");
        if bytes.len() < SUPERBLOCK_SIZE || image_size < SUPERBLOCK_SIZE as u64 {
            return Err(corrupt(format!(
                "image is {} bytes, smaller than a SquashFS superblock (96)",
                image_size.min(bytes.len() as u64)
            )));
        }
        let magic = c.u32()?;
        if magic != MAGIC {
            return Err(corrupt(format!(
                "bad magic 0x{:08x} (a SquashFS image starts with \"hsqs\")",
                magic
            )));
        }
        let inode_count = c.u32()?;
        let mod_time = c.u32()?;
        let block_size = c.u32()?;
        let fragment_count = c.u32()?;
        let compression = c.u16()?;
        let block_log = c.u16()?;
        let flags = c.u16()?;
        let id_count = c.u16()?;
        let major = c.u16()?;
        let minor = c.u16()?;
        let sb = Superblock {
            inode_count,
            mod_time,
            block_size,
            fragment_count,
            compression,
            block_log,
            flags,
            id_count,
            root_inode: c.u64()?,
            bytes_used: c.u64()?,
            id_table: c.u64()?,
            xattr_table: c.u64()?,
            inode_table: c.u64()?,
            dir_table: c.u64()?,
            fragment_table: c.u64()?,
            export_table: c.u64()?,
        };
        if major != 4 || minor != 0 {
            return Err(unsupported(format!(
                "SquashFS version {}.{} (only 4.0 is supported)",
                major, minor
            )));
        }
        if !(12..=20).contains(&block_log) || block_size != 1u32 << block_log {
            return Err(corrupt(format!(
                "block size {} does not match block log {} (expected a power of two from 4 KiB to 1 MiB)",
                block_size, block_log
            )));
        }
        if !(1..=6).contains(&compression) {
            return Err(corrupt(format!("unknown compressor id {}", compression)));
        }
        if sb.bytes_used < SUPERBLOCK_SIZE as u64 || sb.bytes_used > image_size {
            return Err(corrupt(format!(
                "superblock says {} bytes are used but the image has {} bytes",
                sb.bytes_used, image_size
            )));
        }
        if inode_count == 0 {
            return Err(corrupt("inode count is 0".to_string()));
        }
        if id_count == 0 {
            return Err(corrupt("id table is empty".to_string()));
        }
        check_start("inode table", sb.inode_table, false, sb.bytes_used)?;
        check_start("directory table", sb.dir_table, false, sb.bytes_used)?;
        check_start("id table", sb.id_table, false, sb.bytes_used)?;
        check_start("xattr table", sb.xattr_table, true, sb.bytes_used)?;
        check_start("fragment table", sb.fragment_table, true, sb.bytes_used)?;
        check_start("export table", sb.export_table, true, sb.bytes_used)?;
        if sb.inode_table >= sb.dir_table {
            return Err(corrupt(format!(
                "inode table start {} is not before directory table start {}",
                sb.inode_table, sb.dir_table
            )));
        }
        if fragment_count > 0 && sb.fragment_table == NO_TABLE {
            return Err(corrupt(format!(
                "{} fragments but no fragment table",
                fragment_count
            )));
        }
        let root_block = sb.root_inode >> 16;
        if (sb.root_inode & 0xffff) >= 8192 || root_block >= sb.dir_table - sb.inode_table {
            return Err(corrupt(format!(
                "root inode reference 0x{:x} points outside the inode table",
                sb.root_inode
            )));
        }
        Ok(sb)
    }
}
