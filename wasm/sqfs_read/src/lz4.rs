//! LZ4 block decompression (the format `mksquashfs -comp lz4` stores: raw blocks, no frame),
//! because no Deno built-in decodes LZ4. Every length and offset is bounds-checked; the
//! output never exceeds the capacity the caller gives (the block size).

use crate::error::{corrupt, Result};

/// Decompress one LZ4 block into `out` (cleared first), producing at most `cap` bytes.
pub fn decompress(src: &[u8], cap: usize, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    let bad = |what: &str| corrupt(format!("LZ4 block is corrupt: {}", what));
    let mut i = 0usize;
    loop {
        let token = *src.get(i).ok_or_else(|| bad("truncated token"))?;
        i += 1;
        let mut lit = (token >> 4) as usize;
        if lit == 15 {
            loop {
                let b = *src.get(i).ok_or_else(|| bad("truncated literal length"))?;
                i += 1;
                lit += b as usize;
                if b != 255 {
                    break;
                }
            }
        }
        if lit > src.len() - i || lit > cap - out.len() {
            return Err(bad("literals run past the input or the block size"));
        }
        out.extend_from_slice(&src[i..i + lit]);
        i += lit;
        if i == src.len() {
            return Ok(());
        }
        if i + 2 > src.len() {
            return Err(bad("truncated match offset"));
        }
        let offset = u16::from_le_bytes([src[i], src[i + 1]]) as usize;
        i += 2;
        if offset == 0 || offset > out.len() {
            return Err(bad("match offset points before the output"));
        }
        let mut len = (token & 15) as usize;
        if len == 15 {
            loop {
                let b = *src.get(i).ok_or_else(|| bad("truncated match length"))?;
                i += 1;
                len += b as usize;
                if b != 255 {
                    break;
                }
            }
        }
        len += 4;
        if len > cap - out.len() {
            return Err(bad("match runs past the block size"));
        }
        let start = out.len() - offset;
        if offset >= len {
            out.extend_from_within(start..start + len);
        } else {
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decompress;

    #[test]
    fn literals_and_overlapping_matches() {
        // "abc" then a match of 9 at offset 3: "abcabcabcabc".
        let src = [0x35, b'a', b'b', b'c', 3, 0];
        let mut out = Vec::new();
        decompress(&src, 64, &mut out).unwrap_err();
        let src = [0x35, b'a', b'b', b'c', 3, 0, 0x00];
        decompress(&src, 64, &mut out).unwrap();
        assert_eq!(out, b"abcabcabcabc");
        assert!(decompress(&src, 8, &mut out).is_err());
        assert!(decompress(&[0x10, b'x', 9, 0, 0], 64, &mut out).is_err());
    }
}
