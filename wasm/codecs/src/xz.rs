//! One complete .xz stream per block, the way SquashFS stores xz blocks (what liblzma's
//! `lzma_stream_buffer_encode` makes for `mksquashfs -comp xz`): stream header, one block
//! (header with both sizes and the LZMA2 filter, the LZMA2 data from `lzma-rust`, padding,
//! CRC32 check), the index and the stream footer. The container follows "The .xz File
//! Format" 1.0.4; `lzma-rust` has no container writer.
//!
//! CRC32 is the check: Linux's xz decoder (`xz_dec`, what the kernel's SquashFS uses) knows
//! only CRC32 and none, and mksquashfs writes CRC32.

use std::io::Write;

use crc::{Crc, CRC_32_ISO_HDLC};
use lzma_rust::{CountingWriter, LZMA2Options, LZMA2Writer};

const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);
const HEADER_MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0x00];
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
/// Stream flags: no reserved bits, check type 1 (CRC32).
const STREAM_FLAGS: [u8; 2] = [0x00, 0x01];
const FILTER_LZMA2: u8 = 0x21;
/// Block flags: one filter (bits 0-1 = 0), Compressed Size (0x40) and Uncompressed Size
/// (0x80) present, as liblzma's single-call block encoder writes them.
const BLOCK_FLAGS: u8 = 0xc0;

/// The smallest LZMA2 dictionary-size property byte whose size (`2^n` or `2^n + 2^(n-1)`)
/// is at least `dict_size`: a decoder sized for the property never sees a farther match.
pub fn dict_size_byte(dict_size: u32) -> u8 {
    for byte in 0u8..40 {
        let size = (2u64 | (byte as u64 & 1)) << (byte as u64 / 2 + 11);
        if size >= dict_size as u64 {
            return byte;
        }
    }
    40 // 4 GiB - 1
}

fn put_vli(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn pad4(out: &mut Vec<u8>, from: usize) {
    while (out.len() - from) % 4 != 0 {
        out.push(0);
    }
}

fn put_crc32(out: &mut Vec<u8>, from: usize) {
    let crc = CRC32.checksum(&out[from..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Compress `input` into one .xz stream.
///
/// `preset` is the xz preset (0-9, as `xz -0` .. `xz -9`, without `-e`); `dict_size` the
/// LZMA2 dictionary (SquashFS: the block size, which is what the kernel allocates for an
/// image without compressor options). Both are checked by the caller.
pub fn compress(input: &[u8], preset: u32, dict_size: u32) -> Vec<u8> {
    let mut options = LZMA2Options::with_preset(preset);
    options.dict_size = dict_size;
    let mut lzma2 = Vec::with_capacity(input.len() / 2 + 64);
    {
        let mut writer = LZMA2Writer::new(CountingWriter::new(&mut lzma2), &options);
        // Writing into a Vec cannot fail.
        writer.write_all(input).expect("LZMA2 into memory");
        writer.finish().expect("LZMA2 into memory");
    }

    let mut out = Vec::with_capacity(lzma2.len() + 64);
    // Stream header.
    out.extend_from_slice(&HEADER_MAGIC);
    out.extend_from_slice(&STREAM_FLAGS);
    put_crc32(&mut out, HEADER_MAGIC.len());

    // Block header: its size byte is (size / 4) - 1, the size counting its CRC32.
    let block = out.len();
    out.push(0);
    out.push(BLOCK_FLAGS);
    put_vli(&mut out, lzma2.len() as u64);
    put_vli(&mut out, input.len() as u64);
    out.push(FILTER_LZMA2);
    out.push(1); // size of the filter properties
    out.push(dict_size_byte(dict_size));
    while (out.len() - block + 4) % 4 != 0 {
        out.push(0);
    }
    let header_size = out.len() - block + 4;
    out[block] = (header_size / 4 - 1) as u8;
    put_crc32(&mut out, block);

    // Compressed data, block padding (the block, header included, to a multiple of 4),
    // check.
    out.extend_from_slice(&lzma2);
    pad4(&mut out, block);
    out.extend_from_slice(&CRC32.checksum(input).to_le_bytes());
    let unpadded_size = header_size + lzma2.len() + 4;

    // Index: indicator, one record (unpadded size, uncompressed size), padding, CRC32.
    let index = out.len();
    out.push(0x00);
    put_vli(&mut out, 1);
    put_vli(&mut out, unpadded_size as u64);
    put_vli(&mut out, input.len() as u64);
    pad4(&mut out, index);
    put_crc32(&mut out, index);
    let backward_size = ((out.len() - index) / 4 - 1) as u32;

    // Stream footer: CRC32 of (backward size, stream flags), then those, then the magic.
    let mut tail = [0u8; 6];
    tail[..4].copy_from_slice(&backward_size.to_le_bytes());
    tail[4..].copy_from_slice(&STREAM_FLAGS);
    out.extend_from_slice(&CRC32.checksum(&tail).to_le_bytes());
    out.extend_from_slice(&tail);
    out.extend_from_slice(&FOOTER_MAGIC);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unxz(stream: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut &stream[..], &mut out).expect("a valid xz stream");
        out
    }

    /// A deterministic mix: text, runs, and noise (xorshift), so both LZMA chunks and
    /// stored chunks occur.
    fn sample(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed | 1;
        let mut v = Vec::with_capacity(len);
        while v.len() < len {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 3 {
                0 => v.extend_from_slice(b"squashfs block of xz data "),
                1 => v.extend(std::iter::repeat((x >> 8) as u8).take((x >> 20) as usize % 50)),
                _ => v.extend((0..(x >> 24) % 64).map(|i| (x >> (i % 24)) as u8)),
            }
        }
        v.truncate(len);
        v
    }

    #[test]
    fn dictionary_property_rounds_up() {
        assert_eq!(dict_size_byte(4096), 0);
        assert_eq!(dict_size_byte(4097), 1);
        assert_eq!(dict_size_byte(6144), 1);
        assert_eq!(dict_size_byte(8192), 2);
        assert_eq!(dict_size_byte(131072), 10);
        assert_eq!(dict_size_byte(1 << 20), 16);
        assert_eq!(dict_size_byte(u32::MAX), 40);
    }

    #[test]
    fn streams_decode_back_at_every_preset() {
        for (i, len) in [0usize, 1, 100, 4096, 65536, 131072, 200_000].iter().enumerate() {
            let data = sample(*len, 0x9e37_79b9 ^ i as u32);
            for preset in 0..=9 {
                let xz = compress(&data, preset, 131072);
                assert_eq!(unxz(&xz), data, "len {} preset {}", len, preset);
                assert_eq!(xz.len() % 4, 0);
            }
        }
    }

    #[test]
    fn incompressible_data_still_makes_a_valid_stream() {
        let mut x = 0x1234_5678u32;
        let noise: Vec<u8> = (0..131072)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let xz = compress(&noise, 6, 131072);
        assert!(xz.len() > noise.len());
        assert_eq!(unxz(&xz), noise);
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let data = sample(300_000, 7);
        assert_eq!(compress(&data, 6, 131072), compress(&data, 6, 131072));
    }

    #[test]
    fn layout_matches_the_format() {
        let xz = compress(b"hello hello hello hello", 6, 131072);
        assert_eq!(&xz[..8], &[0xfd, b'7', b'z', b'X', b'Z', 0, 0, 1]);
        assert_eq!(&xz[xz.len() - 2..], b"YZ");
        // Block header: size byte, flags, the two sizes, LZMA2 with property 10 (128 KiB).
        let header_size = (xz[12] as usize + 1) * 4;
        assert_eq!(xz[13], 0xc0);
        let header = &xz[12..12 + header_size];
        let crc = u32::from_le_bytes(header[header_size - 4..].try_into().unwrap());
        assert_eq!(crc, CRC32.checksum(&header[..header_size - 4]));
        assert!(header.windows(3).any(|w| w == [0x21, 1, 10]));
    }
}
