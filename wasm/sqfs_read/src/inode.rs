//! Inodes: the 16-byte common header and the basic/extended variants of each type, with
//! every index (uid/gid, fragment, xattr, block list) checked against its table.

use crate::cursor::Cursor;
use crate::error::{corrupt, Result};
use crate::meta::MetaTable;

/// Basic directory inode type.
pub const DIR: u16 = 1;
/// Basic regular file.
pub const FILE: u16 = 2;
/// Basic symlink.
pub const SYMLINK: u16 = 3;
/// Basic block device.
pub const BLKDEV: u16 = 4;
/// Basic character device.
pub const CHRDEV: u16 = 5;
/// Basic FIFO.
pub const FIFO: u16 = 6;
/// Basic socket.
pub const SOCKET: u16 = 7;

/// No fragment / no xattrs marker.
pub const NONE32: u32 = u32::MAX;
/// Longest symlink target accepted (Linux PATH_MAX, as unsquashfs).
pub const SYMLINK_MAX: u32 = 4096;

/// Limits an inode is checked against.
pub struct Limits {
    /// Superblock inode count.
    pub inode_count: u32,
    /// Number of ids in the id table.
    pub id_count: u32,
    /// Number of fragment entries.
    pub fragment_count: u32,
    /// Number of xattr id entries.
    pub xattr_count: u32,
    /// Data block size.
    pub block_size: u32,
    /// Bytes used by the image (data must end before this).
    pub bytes_used: u64,
}

/// What a directory inode points at.
#[derive(Debug, Clone, Copy)]
pub struct DirInfo {
    /// Metadata block of the listing, relative to the directory table start.
    pub block: u32,
    /// Offset in that block.
    pub offset: u16,
    /// Listing size in bytes + 3.
    pub size: u32,
    /// Inode number of the parent directory.
    pub parent: u32,
}

/// Where a regular file's data lives.
#[derive(Debug, Clone)]
pub struct FileInfo {
    /// Absolute image offset of the first data block.
    pub blocks_start: u64,
    /// File size in bytes.
    pub size: u64,
    /// Fragment index or `NONE32`.
    pub fragment: u32,
    /// Offset of the tail inside the fragment block.
    pub fragment_offset: u32,
    /// Index into the inode table data where the block-size list starts.
    pub block_list_at: usize,
    /// Number of entries in the block list.
    pub block_count: u32,
}

/// Type-specific part of an inode.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Directory.
    Dir(DirInfo),
    /// Regular file.
    File(FileInfo),
    /// Symlink with its target's position in the inode table data.
    Symlink { at: usize, len: u32 },
    /// Block or character device.
    Device { major: u32, minor: u32 },
    /// FIFO or socket.
    Ipc,
}

/// A parsed inode.
#[derive(Debug, Clone)]
pub struct Inode {
    /// Basic type (1..7) even for extended inodes.
    pub basic_type: u16,
    /// Permission bits (low 12 bits of st_mode).
    pub mode: u16,
    /// Index into the id table.
    pub uid_idx: u16,
    /// Index into the id table.
    pub gid_idx: u16,
    /// Modification time.
    pub mtime: u32,
    /// Inode number, 1..=inode_count.
    pub number: u32,
    /// Link count.
    pub nlink: u32,
    /// Xattr id or `NONE32`.
    pub xattr: u32,
    /// Type-specific data.
    pub kind: Kind,
}

/// Parse the inode at `reference` ((block << 16) | offset) in the inode table.
pub fn parse(table: &MetaTable, reference: u64, lim: &Limits) -> Result<Inode> {
    let at = table.resolve_ref(reference)?;
    let mut c = Cursor::new(&table.data, at, "inode");
    let itype = c.u16()?;
    let mode = c.u16()?;
    let uid_idx = c.u16()?;
    let gid_idx = c.u16()?;
    let mtime = c.u32()?;
    let number = c.u32()?;
    if itype == 0 || itype > 14 {
        return Err(corrupt(format!(
            "inode 0x{:x} has invalid type {}",
            reference, itype
        )));
    }
    if number == 0 || number > lim.inode_count {
        return Err(corrupt(format!(
            "inode number {} is outside 1..{}",
            number, lim.inode_count
        )));
    }
    if mode & 0xf000 != 0 {
        // mksquashfs stores only permission bits; accept but drop file-type bits.
    }
    if uid_idx as u32 >= lim.id_count || gid_idx as u32 >= lim.id_count {
        return Err(corrupt(format!(
            "inode {} uid/gid index {}/{} outside the id table ({} entries)",
            number, uid_idx, gid_idx, lim.id_count
        )));
    }
    let basic_type = if itype > 7 { itype - 7 } else { itype };
    let extended = itype > 7;
    let mut nlink = 1;
    let mut xattr = NONE32;
    let kind = match itype {
        1 => {
            let block = c.u32()?;
            nlink = c.u32()?;
            let size = c.u16()? as u32;
            let offset = c.u16()?;
            let parent = c.u32()?;
            Kind::Dir(DirInfo {
                block,
                offset,
                size,
                parent,
            })
        }
        8 => {
            nlink = c.u32()?;
            let size = c.u32()?;
            let block = c.u32()?;
            let parent = c.u32()?;
            let _index_count = c.u16()?;
            let offset = c.u16()?;
            xattr = c.u32()?;
            Kind::Dir(DirInfo {
                block,
                offset,
                size,
                parent,
            })
        }
        2 | 9 => {
            let (blocks_start, size, fragment, fragment_offset) = if itype == 2 {
                let start = c.u32()? as u64;
                let frag = c.u32()?;
                let off = c.u32()?;
                let size = c.u32()? as u64;
                (start, size, frag, off)
            } else {
                let start = c.u64()?;
                let size = c.u64()?;
                let _sparse = c.u64()?;
                nlink = c.u32()?;
                let frag = c.u32()?;
                let off = c.u32()?;
                xattr = c.u32()?;
                (start, size, frag, off)
            };
            let bs = lim.block_size as u64;
            let block_count = if fragment == NONE32 {
                (size + bs - 1) / bs
            } else {
                size / bs
            };
            if fragment != NONE32 {
                if fragment >= lim.fragment_count {
                    return Err(corrupt(format!(
                        "inode {} fragment index {} outside the fragment table ({} entries)",
                        number, fragment, lim.fragment_count
                    )));
                }
                if fragment_offset as u64 + size % bs > bs {
                    return Err(corrupt(format!(
                        "inode {} fragment tail ({} bytes at {}) exceeds the block size",
                        number,
                        size % bs,
                        fragment_offset
                    )));
                }
            }
            // The block list must be present in the table: this bounds block_count by
            // the inode table size before anything is allocated for it.
            if block_count > (c.remaining() / 4) as u64 {
                return Err(corrupt(format!(
                    "inode {} claims {} data blocks (size {}) but the inode table ends first",
                    number, block_count, size
                )));
            }
            let block_list_at = c.pos();
            let mut end = blocks_start;
            for _ in 0..block_count {
                let b = c.u32()?;
                let on_disk = (b & 0x00ff_ffff) as u64;
                if (b & !0x0100_0000) > 0x00ff_ffff || on_disk > bs {
                    return Err(corrupt(format!(
                        "inode {} has a data block of invalid size 0x{:x}",
                        number, b
                    )));
                }
                end += on_disk;
            }
            if block_count > 0 && end > lim.bytes_used {
                return Err(corrupt(format!(
                    "inode {} data ({}..{}) runs past the image end {}",
                    number, blocks_start, end, lim.bytes_used
                )));
            }
            Kind::File(FileInfo {
                blocks_start,
                size,
                fragment,
                fragment_offset,
                block_list_at,
                block_count: block_count as u32,
            })
        }
        3 | 10 => {
            nlink = c.u32()?;
            let len = c.u32()?;
            if len == 0 || len > SYMLINK_MAX {
                return Err(corrupt(format!(
                    "inode {} symlink target size {} is out of range 1..{}",
                    number, len, SYMLINK_MAX
                )));
            }
            let at = c.pos();
            c.bytes(len as usize)?;
            if extended {
                xattr = c.u32()?;
            }
            Kind::Symlink { at, len }
        }
        4 | 5 | 11 | 12 => {
            nlink = c.u32()?;
            let dev = c.u32()?;
            if extended {
                xattr = c.u32()?;
            }
            Kind::Device {
                major: (dev & 0xfff00) >> 8,
                minor: (dev & 0xff) | ((dev >> 12) & 0xfff00),
            }
        }
        _ => {
            nlink = c.u32()?;
            if extended {
                xattr = c.u32()?;
            }
            Kind::Ipc
        }
    };
    if xattr != NONE32 && xattr >= lim.xattr_count {
        return Err(corrupt(format!(
            "inode {} xattr index {} outside the xattr table ({} entries)",
            number, xattr, lim.xattr_count
        )));
    }
    Ok(Inode {
        basic_type,
        mode: mode & 0o7777,
        uid_idx,
        gid_idx,
        mtime,
        number,
        nlink,
        xattr,
        kind,
    })
}
