mod bt4;
mod hash234;
mod hc4;
mod lz_decoder;
mod lz_encoder;
pub use lz_decoder::*;
pub use lz_encoder::*;
