//! Metadata streams: a byte stream cut into 8 KiB blocks, each stored behind a 2-byte
//! header (length, bit 15 set when stored uncompressed) after the host's compressor had a
//! go at it. Inode, directory, fragment, id and xattr tables are all such streams.

/// Uncompressed size of one metadata block.
pub const BLOCK: usize = 8192;
/// Header bit marking an uncompressed metadata block.
const UNCOMPRESSED: u16 = 0x8000;

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "env")]
extern "C" {
    fn sqfs_host_compress(in_ptr: *const u8, in_len: usize, out_ptr: *mut u8, out_cap: usize) -> i32;
}

/// Compress one block through the host; `Ok(None)` means store it as is.
#[cfg(target_arch = "wasm32")]
fn compress(block: &[u8], out: &mut Vec<u8>) -> Result<bool, ()> {
    out.clear();
    out.reserve(block.len());
    let cap = block.len() - 1;
    let n = unsafe { sqfs_host_compress(block.as_ptr(), block.len(), out.as_mut_ptr(), cap) };
    if n < 0 {
        return Err(());
    }
    if n == 0 || n as usize > cap {
        return Ok(false);
    }
    unsafe { out.set_len(n as usize) };
    Ok(true)
}

/// Native builds (unit tests) store every block uncompressed.
#[cfg(not(target_arch = "wasm32"))]
fn compress(_block: &[u8], _out: &mut Vec<u8>) -> Result<bool, ()> {
    Ok(false)
}

/// One metadata stream being written.
#[derive(Default)]
pub struct MetaWriter {
    /// The finished (compressed, headed) bytes.
    pub out: Vec<u8>,
    /// The block being filled.
    buf: Vec<u8>,
    /// Where each block starts in `out`; the last entry is the block being filled.
    starts: Vec<u32>,
    scratch: Vec<u8>,
    /// Set when the host's compressor failed.
    pub failed: bool,
}

impl MetaWriter {
    /// A new, empty stream.
    pub fn new() -> Self {
        MetaWriter { starts: vec![0], ..Default::default() }
    }

    /// Reference to the current position: block start (relative to the table) and offset.
    pub fn position(&self) -> (u32, u16) {
        (*self.starts.last().unwrap(), self.buf.len() as u16)
    }

    /// Number of uncompressed bytes written so far.
    pub fn uncompressed_len(&self) -> u64 {
        (self.starts.len() as u64 - 1) * BLOCK as u64 + self.buf.len() as u64
    }

    /// Start of the block with ordinal `k` (it must have been started).
    pub fn block_start(&self, k: usize) -> u32 {
        self.starts[k]
    }

    /// Append bytes, flushing full blocks.
    pub fn append(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = BLOCK - self.buf.len();
            let n = room.min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.buf.len() == BLOCK {
                self.flush();
                self.starts.push(self.out.len() as u32);
            }
        }
    }

    fn flush(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        match compress(&self.buf, &mut scratch) {
            Ok(true) => {
                self.out.extend_from_slice(&(scratch.len() as u16).to_le_bytes());
                self.out.extend_from_slice(&scratch);
            }
            Ok(false) => {
                self.out.extend_from_slice(&(self.buf.len() as u16 | UNCOMPRESSED).to_le_bytes());
                self.out.extend_from_slice(&self.buf);
            }
            Err(()) => self.failed = true,
        }
        self.scratch = scratch;
        self.buf.clear();
    }

    /// Flush the last partial block and return the stream's bytes.
    pub fn finish(mut self) -> (Vec<u8>, bool) {
        if !self.buf.is_empty() {
            self.flush();
        }
        (self.out, self.failed)
    }
}

/// Write a table of fixed-size entries as metadata blocks followed by the array of their
/// absolute locations (how fragment, id and xattr id tables are stored). Returns the bytes
/// to place at `at` and the absolute offset of the location array.
pub fn lookup_table(entries: &[u8], at: u64) -> Result<(Vec<u8>, u64), ()> {
    let mut blocks = Vec::new();
    let mut locations = Vec::new();
    for chunk in entries.chunks(BLOCK) {
        let mut w = MetaWriter::new();
        w.append(chunk);
        let (bytes, failed) = w.finish();
        if failed {
            return Err(());
        }
        locations.push(at + blocks.len() as u64);
        blocks.extend_from_slice(&bytes);
    }
    let array_at = at + blocks.len() as u64;
    for loc in locations {
        blocks.extend_from_slice(&loc.to_le_bytes());
    }
    Ok((blocks, array_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_blocks() {
        let mut w = MetaWriter::new();
        w.append(&[1u8; 100]);
        assert_eq!(w.position(), (0, 100));
        w.append(&vec![2u8; BLOCK]);
        assert_eq!(w.position(), (BLOCK as u32 + 2, 100));
        let (out, failed) = w.finish();
        assert!(!failed);
        assert_eq!(out.len(), 2 * 2 + BLOCK + 100);
        assert_eq!(u16::from_le_bytes([out[0], out[1]]), BLOCK as u16 | 0x8000);
    }
}
