//! Decoding logic.

pub mod lzbuffer;
pub mod lzma;
pub mod lzma2;
pub mod options;
pub mod rangecoder;
pub mod util;
pub mod xz;

#[cfg(feature = "stream")]
pub mod stream;
