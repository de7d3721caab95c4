//! Indexed lookup tables (id, fragment, export, xattr id): an array of u64 pointers to
//! metadata blocks, each holding up to 8 KiB of fixed-size entries. The pointers are
//! checked here; the host then reads and decompresses the blocks they name.

use crate::cursor::Cursor;
use crate::error::{corrupt, Result};
use crate::meta::META_BLOCK;

/// Where an indexed table's index lies and what it describes.
#[derive(Debug, Clone, Copy, Default)]
pub struct IndexSpec {
    /// Absolute offset of the u64 index.
    pub start: u64,
    /// Number of index entries (= metadata blocks).
    pub blocks: u32,
    /// Number of table entries.
    pub entries: u32,
    /// Size of one entry in bytes.
    pub entry_size: u32,
}

impl IndexSpec {
    /// Describe a table of `entries` entries of `entry_size` bytes whose index is at `start`,
    /// checking the index itself fits before `limit`.
    pub fn new(
        name: &str,
        start: u64,
        entries: u32,
        entry_size: u32,
        limit: u64,
    ) -> Result<IndexSpec> {
        let bytes = entries as u64 * entry_size as u64;
        let blocks = (bytes + META_BLOCK as u64 - 1) / META_BLOCK as u64;
        if start
            .checked_add(blocks * 8)
            .map_or(true, |end| end > limit)
        {
            return Err(corrupt(format!(
                "{} index ({} blocks for {} entries at {}) runs past the image end {}",
                name, blocks, entries, start, limit
            )));
        }
        Ok(IndexSpec {
            start,
            blocks: blocks as u32,
            entries,
            entry_size,
        })
    }

    /// Bytes of decompressed table data needed.
    pub fn data_len(&self) -> usize {
        self.entries as usize * self.entry_size as usize
    }
}

/// Parse and check an index: every block pointer lies after the superblock, before the
/// index itself, and the pointers increase.
pub fn parse_index(name: &str, spec: &IndexSpec, bytes: &[u8]) -> Result<Vec<u64>> {
    if bytes.len() != spec.blocks as usize * 8 {
        return Err(corrupt(format!("{} index has the wrong length", name)));
    }
    let mut c = Cursor::new(bytes, 0, "table index");
    let mut out = Vec::with_capacity(spec.blocks as usize);
    let mut prev = 0u64;
    for i in 0..spec.blocks {
        let p = c.u64()?;
        if p < 96 || p >= spec.start || (i > 0 && p <= prev) {
            return Err(corrupt(format!(
                "{} index entry {} points to {}, outside 96..{} or out of order",
                name, i, p, spec.start
            )));
        }
        prev = p;
        out.push(p);
    }
    Ok(out)
}

/// Read little-endian u32 `i` from table data.
pub fn u32_at(data: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]])
}

/// Read little-endian u64 at byte `i`.
pub fn u64_at(data: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&data[i..i + 8]);
    u64::from_le_bytes(a)
}
