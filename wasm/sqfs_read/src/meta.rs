//! A decompressed metadata table (inodes, directories, xattr key/values).
//!
//! The host reads the table's metadata blocks (2-byte header + up to 8 KiB payload each),
//! decompresses them and hands over the concatenation plus a block map: for each block,
//! its offset on disk relative to the table start and its offset in the concatenation.
//! A reference `(block << 16) | offset` then resolves to one index into that buffer;
//! structures that cross a block boundary are contiguous there.

use crate::error::{corrupt, Result};

/// Uncompressed size of a full metadata block.
pub const META_BLOCK: usize = 8192;

/// One decompressed metadata table.
#[derive(Default)]
pub struct MetaTable {
    /// Concatenated uncompressed payloads.
    pub data: Vec<u8>,
    /// (offset of the block header relative to the table start, offset in `data`), sorted
    /// by the first field.
    blocks: Vec<(u64, u32)>,
    /// Name for error messages.
    pub name: &'static str,
}

impl MetaTable {
    /// Build from the host's buffers; `map` holds pairs of little-endian u32s
    /// (disk offset, data offset), which must both increase strictly.
    pub fn new(name: &'static str, data: Vec<u8>, map: &[u8]) -> Result<MetaTable> {
        if map.len() % 8 != 0 {
            return Err(corrupt(format!("{} block map has a partial entry", name)));
        }
        let mut blocks = Vec::with_capacity(map.len() / 8);
        let mut last: Option<(u64, u32)> = None;
        for pair in map.chunks_exact(8) {
            let disk = u32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]) as u64;
            let off = u32::from_le_bytes([pair[4], pair[5], pair[6], pair[7]]);
            if off as usize > data.len() {
                return Err(corrupt(format!("{} block map points past the data", name)));
            }
            if let Some((d, o)) = last {
                if disk <= d || off < o {
                    return Err(corrupt(format!("{} block map is not increasing", name)));
                }
            }
            last = Some((disk, off));
            blocks.push((disk, off));
        }
        Ok(MetaTable { data, blocks, name })
    }

    /// Resolve `(block, offset)` to an index into `data`.
    pub fn resolve(&self, block: u64, offset: u32) -> Result<usize> {
        if offset as usize >= META_BLOCK {
            return Err(corrupt(format!(
                "{} reference offset {} exceeds a metadata block",
                self.name, offset
            )));
        }
        match self.blocks.binary_search_by(|(d, _)| d.cmp(&block)) {
            Ok(i) => {
                let at = self.blocks[i].1 as usize + offset as usize;
                if at >= self.data.len() {
                    return Err(corrupt(format!(
                        "{} reference (block {}, offset {}) points past the table end",
                        self.name, block, offset
                    )));
                }
                Ok(at)
            }
            Err(_) => Err(corrupt(format!(
                "{} reference to block {} does not match any metadata block",
                self.name, block
            ))),
        }
    }

    /// Resolve a packed reference `(block << 16) | offset`.
    pub fn resolve_ref(&self, reference: u64) -> Result<usize> {
        self.resolve(reference >> 16, (reference & 0xffff) as u32)
    }
}
