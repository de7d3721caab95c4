//! Extended attributes: an xattr id (16 bytes: reference, count, size) points into the
//! key/value metadata table; keys carry a prefix id (user, trusted, security) and values
//! may be stored out of line (a reference to a value stored once and shared).

use crate::cursor::Cursor;
use crate::error::{corrupt, Result};
use crate::meta::MetaTable;
use crate::table::{u32_at, u64_at};

/// Largest value accepted (the Linux limit, XATTR_SIZE_MAX).
pub const VALUE_MAX: u32 = 65536;

/// Append the xattrs of id `idx` to `out` as: count u32, then per pair prefix u16,
/// name_len u16, name, value_len u32, value (full name = prefix + name).
pub fn encode(ids: &[u8], kv: &MetaTable, idx: u32, out: &mut Vec<u8>) -> Result<()> {
    let at = idx as usize * 16;
    if at + 16 > ids.len() {
        return Err(corrupt(format!(
            "xattr id {} is outside the xattr id table",
            idx
        )));
    }
    let reference = u64_at(ids, at);
    let count = u32_at(ids, at + 8);
    let mut pos = kv.resolve_ref(reference)?;
    // Every pair takes at least 8 bytes on disk, so the count is bounded by the table.
    if count as usize > kv.data.len() / 8 {
        return Err(corrupt(format!(
            "xattr id {} claims {} attributes",
            idx, count
        )));
    }
    out.extend_from_slice(&count.to_le_bytes());
    for _ in 0..count {
        let mut c = Cursor::new(&kv.data, pos, "xattr key");
        let ktype = c.u16()?;
        let name_len = c.u16()?;
        let name = c.bytes(name_len as usize)?;
        let prefix = ktype & 0xff;
        if prefix > 2 || ktype & 0xfe00 != 0 {
            return Err(corrupt(format!("xattr key has unknown type 0x{:x}", ktype)));
        }
        let vlen = c.u32()?;
        let value: &[u8] = if ktype & 0x100 != 0 {
            if vlen != 8 {
                return Err(corrupt(
                    "out-of-line xattr reference is not 8 bytes".to_string(),
                ));
            }
            let r = c.u64()?;
            let vat = kv.resolve_ref(r)?;
            let mut vc = Cursor::new(&kv.data, vat, "xattr value");
            let real = vc.u32()?;
            if real > VALUE_MAX {
                return Err(corrupt(format!(
                    "xattr value of {} bytes is too large",
                    real
                )));
            }
            vc.bytes(real as usize)?
        } else {
            if vlen > VALUE_MAX {
                return Err(corrupt(format!(
                    "xattr value of {} bytes is too large",
                    vlen
                )));
            }
            c.bytes(vlen as usize)?
        };
        pos = c.pos();
        out.extend_from_slice(&prefix.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }
    Ok(())
}
