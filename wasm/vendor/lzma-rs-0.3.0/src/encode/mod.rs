//! Encoding logic.

pub mod dumbencoder;
pub mod lzma2;
pub mod options;
mod rangecoder;
mod util;
pub mod xz;
