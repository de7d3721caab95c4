//! zlib inflate (what `mksquashfs -comp gzip` stores in each block: one zlib stream per
//! metadata or data block) through `miniz_oxide`, for the host's light reader: loading
//! `node:zlib` costs `singlet exec` ~20 ms of start-up and `DecompressionStream` ~7 ms, for
//! the few blocks it reads. The adler32 checksum is verified, and the output never exceeds
//! the capacity the caller gives (the block size).

use std::cell::RefCell;

use miniz_oxide::inflate::core::{decompress as tinfl, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use crate::error::{corrupt, Result};

thread_local! {
    // ~11 KB of decoder state, reused by every call (it is reset at each stream's start).
    static STATE: RefCell<Box<DecompressorOxide>> = RefCell::new(Box::default());
}

/// Inflate one zlib stream into `out` (replaced), producing at most `cap` bytes.
pub fn decompress(src: &[u8], cap: usize, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    out.resize(cap, 0);
    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
        | inflate_flags::TINFL_FLAG_COMPUTE_ADLER32;
    let (status, written) = STATE.with(|state| {
        let mut state = state.borrow_mut();
        state.init();
        let (status, _, written) = tinfl(&mut state, src, out, 0, flags);
        (status, written)
    });
    match status {
        TINFLStatus::Done => {
            out.truncate(written);
            Ok(())
        }
        TINFLStatus::HasMoreOutput => {
            out.clear();
            Err(corrupt(format!("zlib block inflates to more than {} bytes", cap)))
        }
        other => {
            out.clear();
            Err(corrupt(format!("zlib block is corrupt ({:?})", other)))
        }
    }
}
