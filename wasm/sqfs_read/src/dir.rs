//! Directory listings: runs of a 12-byte header followed by up to 256 entries, each
//! naming an inode in one inode-table block. Names are validated (no '/', NUL, "." or
//! "..", not empty) and must be strictly sorted, which also rules out duplicates: the two
//! defects behind unsquashfs' CVE-2021-40153 and CVE-2021-41072.

use crate::cursor::Cursor;
use crate::error::{corrupt, Result};
use crate::inode::DirInfo;
use crate::meta::MetaTable;

/// Longest name a directory entry may carry (name_size is stored minus one, u16; Linux
/// NAME_MAX is 255 and mksquashfs enforces it).
pub const NAME_MAX: usize = 256;

/// One directory entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Inode reference (block << 16 | offset) in the inode table.
    pub inode_ref: u64,
    /// Inode number as recorded in the directory (header base + delta).
    pub inode_number: u32,
    /// Basic inode type recorded in the directory.
    pub basic_type: u16,
    /// Position of the name in the directory table data.
    pub name_at: usize,
    /// Length of the name.
    pub name_len: usize,
}

/// Why a name is refused, or None when it is safe to use as one path component.
pub fn bad_name(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name == b"." || name == b".." {
        Some("is \".\" or \"..\"")
    } else if name.contains(&b'/') {
        Some("contains '/'")
    } else if name.contains(&0) {
        Some("contains a NUL byte")
    } else {
        None
    }
}

fn show(name: &[u8]) -> String {
    let mut s = String::new();
    for &b in name.iter().take(64) {
        if (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{:02x}", b));
        }
    }
    s
}

/// Read the listing of directory inode `number`, validating headers, names and order.
pub fn read(
    table: &MetaTable,
    info: &DirInfo,
    number: u32,
    inode_count: u32,
) -> Result<Vec<Entry>> {
    if info.size < 3 {
        return Err(corrupt(format!(
            "directory inode {} has invalid listing size {}",
            number, info.size
        )));
    }
    let len = (info.size - 3) as usize;
    let mut entries = Vec::new();
    if len == 0 {
        return Ok(entries);
    }
    let start = table.resolve(info.block as u64, info.offset as u32)?;
    if len > table.data.len() - start {
        return Err(corrupt(format!(
            "directory inode {} listing ({} bytes) runs past the directory table end",
            number, len
        )));
    }
    let data = &table.data[..start + len];
    let mut c = Cursor::new(data, start, "directory listing");
    let mut prev: Option<(usize, usize)> = None;
    while c.remaining() > 0 {
        let count = c.u32()? as usize + 1;
        let block = c.u32()? as u64;
        let base = c.u32()?;
        if count > 256 {
            return Err(corrupt(format!(
                "directory inode {} header announces {} entries (at most 256)",
                number, count
            )));
        }
        for _ in 0..count {
            let offset = c.u16()? as u64;
            let delta = c.u16()? as i16;
            let basic_type = c.u16()?;
            let name_len = c.u16()? as usize + 1;
            if name_len > NAME_MAX {
                return Err(corrupt(format!(
                    "directory inode {} has an entry name of {} bytes (at most {})",
                    number, name_len, NAME_MAX
                )));
            }
            let name_at = c.pos();
            let name = c.bytes(name_len)?;
            if let Some(why) = bad_name(name) {
                return Err(corrupt(format!(
                    "directory inode {} has an entry whose name \"{}\" {}",
                    number,
                    show(name),
                    why
                )));
            }
            if let Some((pa, pl)) = prev {
                let p = &data[pa..pa + pl];
                if p >= name {
                    return Err(corrupt(format!(
                        "directory inode {} entries are {}: \"{}\" then \"{}\"",
                        number,
                        if p == name {
                            "duplicated"
                        } else {
                            "not sorted"
                        },
                        show(p),
                        show(name)
                    )));
                }
            }
            prev = Some((name_at, name_len));
            if basic_type == 0 || basic_type > 7 {
                return Err(corrupt(format!(
                    "directory inode {} entry \"{}\" has invalid type {}",
                    number,
                    show(name),
                    basic_type
                )));
            }
            let inode_number = (base as i64) + (delta as i64);
            if inode_number < 1 || inode_number > inode_count as i64 {
                return Err(corrupt(format!(
                    "directory inode {} entry \"{}\" names inode number {} outside 1..{}",
                    number,
                    show(name),
                    inode_number,
                    inode_count
                )));
            }
            if offset >= 8192 {
                return Err(corrupt(format!(
                    "directory inode {} entry \"{}\" has inode offset {} past a metadata block",
                    number,
                    show(name),
                    offset
                )));
            }
            entries.push(Entry {
                inode_ref: (block << 16) | offset,
                inode_number: inode_number as u32,
                basic_type,
                name_at,
                name_len,
            });
        }
    }
    Ok(entries)
}

/// Printable form of a name for messages.
pub fn printable(name: &[u8]) -> String {
    show(name)
}
