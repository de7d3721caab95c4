//! The reader state: a validated superblock, the tables the host has fed in, and the
//! walk that flattens the whole directory tree into one record buffer.

use std::collections::HashMap;

use crate::dir;
use crate::error::{corrupt, usage, Result};
use crate::inode::{self, Kind, Limits};
use crate::meta::MetaTable;
use crate::superblock::{Superblock, NO_TABLE, SUPERBLOCK_SIZE};
use crate::table::{parse_index, u32_at, u64_at, IndexSpec};
use crate::xattr;

/// Table kinds named in the ABI.
pub const T_FRAGMENT: u32 = 1;
/// Id (uid/gid) table.
pub const T_ID: u32 = 2;
/// Export (NFS lookup) table.
pub const T_EXPORT: u32 = 3;
/// Xattr id table.
pub const T_XATTR_ID: u32 = 4;
/// Inode table (metadata region).
pub const M_INODE: u32 = 5;
/// Directory table (metadata region).
pub const M_DIR: u32 = 6;
/// Xattr key/value table (metadata region).
pub const M_XATTR_KV: u32 = 7;

/// Slots of the layout array shared with the host (u64 each).
pub const LAYOUT_SLOTS: usize = 32;

/// Size of the fixed part of a walk record.
pub const RECORD_HEADER: usize = 48;

/// Everything known about one image.
pub struct Reader {
    sb: Superblock,
    specs: [Option<IndexSpec>; 5],
    indexes: [Option<Vec<u64>>; 5],
    xattr_kv_start: u64,
    inodes: Option<MetaTable>,
    dirs: Option<MetaTable>,
    xattr_kv: Option<MetaTable>,
    ids: Vec<u32>,
    fragments: Vec<u8>,
    xattr_ids: Vec<u8>,
    /// Layout values for the host (see `layout`).
    pub layout: Box<[u64; LAYOUT_SLOTS]>,
    /// Output buffer of the last walk/fragments/xattrs call.
    pub out: Vec<u8>,
}

impl Reader {
    /// Validate the superblock and describe the tables to fetch.
    pub fn open(sb_bytes: &[u8], image_size: u64) -> Result<Reader> {
        let sb = Superblock::parse(sb_bytes, image_size)?;
        let used = sb.bytes_used;
        let mut specs: [Option<IndexSpec>; 5] = [None; 5];
        if sb.fragment_table != NO_TABLE {
            specs[T_FRAGMENT as usize] = Some(IndexSpec::new(
                "fragment table",
                sb.fragment_table,
                sb.fragment_count,
                16,
                used,
            )?);
        }
        specs[T_ID as usize] = Some(IndexSpec::new(
            "id table",
            sb.id_table,
            sb.id_count as u32,
            4,
            used,
        )?);
        if sb.export_table != NO_TABLE {
            specs[T_EXPORT as usize] = Some(IndexSpec::new(
                "export table",
                sb.export_table,
                sb.inode_count,
                8,
                used,
            )?);
        }
        if sb.xattr_table != NO_TABLE && sb.xattr_table + 16 > used {
            return Err(corrupt(format!(
                "xattr table header at {} runs past the image end {}",
                sb.xattr_table, used
            )));
        }
        let mut r = Reader {
            sb,
            specs,
            indexes: Default::default(),
            xattr_kv_start: NO_TABLE,
            inodes: None,
            dirs: None,
            xattr_kv: None,
            ids: Vec::new(),
            fragments: Vec::new(),
            xattr_ids: Vec::new(),
            layout: Box::new([0; LAYOUT_SLOTS]),
            out: Vec::new(),
        };
        r.update_layout();
        Ok(r)
    }

    /// The xattr table header: start of the key/value table and the number of ids.
    pub fn set_xattr_header(&mut self, bytes: &[u8]) -> Result<()> {
        if self.sb.xattr_table == NO_TABLE || bytes.len() != 16 {
            return Err(usage("xattr header given without an xattr table"));
        }
        let kv_start = u64_at(bytes, 0);
        let count = u32_at(bytes, 8);
        if kv_start < SUPERBLOCK_SIZE as u64 || kv_start >= self.sb.xattr_table {
            return Err(corrupt(format!(
                "xattr key/value table start {} is outside 96..{}",
                kv_start, self.sb.xattr_table
            )));
        }
        self.xattr_kv_start = kv_start;
        self.specs[T_XATTR_ID as usize] = Some(IndexSpec::new(
            "xattr id table",
            self.sb.xattr_table + 16,
            count,
            16,
            self.sb.bytes_used,
        )?);
        self.update_layout();
        Ok(())
    }

    /// Check and keep an index (block pointers) of table `kind`.
    pub fn set_index(&mut self, kind: u32, bytes: &[u8]) -> Result<()> {
        let spec = self.spec(kind)?;
        let index = parse_index(table_name(kind), &spec, bytes)?;
        self.indexes[kind as usize] = Some(index);
        self.update_layout();
        Ok(())
    }

    fn spec(&self, kind: u32) -> Result<IndexSpec> {
        match self.specs.get(kind as usize) {
            Some(Some(s)) if (1..=4).contains(&kind) => Ok(*s),
            _ => Err(usage("no such table in this image")),
        }
    }

    /// Decompressed table data of `kind`, the concatenation of its metadata blocks.
    pub fn set_table(&mut self, kind: u32, data: Vec<u8>) -> Result<()> {
        let spec = self.spec(kind)?;
        if data.len() < spec.data_len() {
            return Err(corrupt(format!(
                "{} holds {} bytes, needs {} for {} entries",
                table_name(kind),
                data.len(),
                spec.data_len(),
                spec.entries
            )));
        }
        let mut data = data;
        data.truncate(spec.data_len());
        match kind {
            T_ID => {
                self.ids = data
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            }
            T_FRAGMENT => self.fragments = data,
            T_XATTR_ID => self.xattr_ids = data,
            _ => {}
        }
        Ok(())
    }

    /// A decompressed metadata region with its block map.
    pub fn set_meta(&mut self, kind: u32, data: Vec<u8>, map: &[u8]) -> Result<()> {
        let table = MetaTable::new(table_name(kind), data, map)?;
        match kind {
            M_INODE => self.inodes = Some(table),
            M_DIR => self.dirs = Some(table),
            M_XATTR_KV => self.xattr_kv = Some(table),
            _ => return Err(usage("unknown metadata kind")),
        }
        Ok(())
    }

    /// Where the region starting at `start` ends: the nearest known structure after it.
    fn region_end(&self, start: u64) -> u64 {
        let sb = &self.sb;
        let mut cands = vec![
            sb.bytes_used,
            sb.id_table,
            sb.xattr_table,
            sb.fragment_table,
            sb.export_table,
            sb.dir_table,
            self.xattr_kv_start,
        ];
        for index in self.indexes.iter().flatten() {
            if let Some(first) = index.first() {
                cands.push(*first);
            }
        }
        cands
            .into_iter()
            .filter(|&c| c > start && c != NO_TABLE)
            .min()
            .unwrap_or(sb.bytes_used)
    }

    fn update_layout(&mut self) {
        let sb = self.sb.clone();
        let l = &mut [0u64; LAYOUT_SLOTS];
        l[0] = sb.inode_table;
        l[1] = sb.dir_table;
        l[2] = sb.dir_table;
        l[3] = self.region_end(sb.dir_table);
        l[4] = self.xattr_kv_start;
        l[5] = if self.xattr_kv_start == NO_TABLE {
            0
        } else {
            self.region_end(self.xattr_kv_start)
        };
        for (kind, slot) in [(T_FRAGMENT, 6), (T_ID, 9), (T_EXPORT, 12), (T_XATTR_ID, 14)] {
            if let Some(s) = self.specs[kind as usize] {
                l[slot] = s.start;
                l[slot + 1] = s.blocks as u64;
                if slot != 12 {
                    l[slot + 2] = s.data_len() as u64;
                }
            }
        }
        l[17] = sb.xattr_table;
        l[18] = sb.compression as u64;
        l[19] = sb.block_size as u64;
        l[20] = sb.flags as u64;
        l[21] = sb.bytes_used;
        l[22] = sb.inode_count as u64;
        l[23] = sb.mod_time as u64;
        l[24] = sb.fragment_count as u64;
        l[25] = sb.id_count as u64;
        l[26] = sb.root_inode;
        *self.layout = *l;
    }

    /// Validate and encode the fragment table: per entry u64 start, u32 on-disk size word.
    pub fn fragments(&mut self) -> Result<u32> {
        let mut out = Vec::with_capacity(self.fragments.len());
        for (i, e) in self.fragments.chunks_exact(16).enumerate() {
            let start = u64_at(e, 0);
            let size = u32_at(e, 8);
            let len = (size & 0x00ff_ffff) as u64;
            if (size & !0x0100_0000) > 0x00ff_ffff
                || len == 0
                || len > self.sb.block_size as u64
                || start < SUPERBLOCK_SIZE as u64
                || start
                    .checked_add(len)
                    .map_or(true, |end| end > self.sb.bytes_used)
            {
                return Err(corrupt(format!(
                    "fragment {} (start {}, size 0x{:x}) lies outside the image",
                    i, start, size
                )));
            }
            out.extend_from_slice(&start.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
        }
        self.out = out;
        Ok((self.fragments.len() / 16) as u32)
    }

    /// Encode the xattrs of id `idx` into `out`.
    pub fn xattrs(&mut self, idx: u32) -> Result<()> {
        let kv = self
            .xattr_kv
            .as_ref()
            .ok_or_else(|| usage("xattr table not loaded"))?;
        let mut out = Vec::new();
        xattr::encode(&self.xattr_ids, kv, idx, &mut out)?;
        self.out = out;
        Ok(())
    }

    fn limits(&self) -> Limits {
        Limits {
            inode_count: self.sb.inode_count,
            id_count: self.ids.len() as u32,
            fragment_count: (self.fragments.len() / 16) as u32,
            xattr_count: (self.xattr_ids.len() / 16) as u32,
            block_size: self.sb.block_size,
            bytes_used: self.sb.bytes_used,
        }
    }

    /// Walk the tree depth-first in directory order (as `unsquashfs -lln` prints it) and
    /// encode one record per entry into `out`. Returns the number of records.
    pub fn walk(&mut self) -> Result<u32> {
        let inodes = self
            .inodes
            .as_ref()
            .ok_or_else(|| usage("inode table not loaded"))?;
        let dirs = self
            .dirs
            .as_ref()
            .ok_or_else(|| usage("directory table not loaded"))?;
        if self.ids.is_empty() {
            return Err(usage("id table not loaded"));
        }
        let lim = self.limits();
        let mut out: Vec<u8> = Vec::new();
        // Inodes already parsed, by reference: a hard-linked file is parsed once however
        // many names it has (re-parsing a long block list per name would be quadratic).
        let mut seen: HashMap<u64, (u32, inode::Inode)> = HashMap::new();
        struct Frame {
            parent: u32,
            entries: Vec<dir::Entry>,
            pos: usize,
        }
        let mut stack: Vec<Frame> = Vec::new();

        let root = inode::parse(inodes, self.sb.root_inode, &lim)?;
        let root_dir = match root.kind {
            Kind::Dir(d) => d,
            _ => return Err(corrupt("the root inode is not a directory".to_string())),
        };
        emit(&mut out, u32::MAX, 0, true, &root, &[], inodes, &self.ids)?;
        seen.insert(self.sb.root_inode, (0, root.clone()));
        stack.push(Frame {
            parent: 0,
            entries: dir::read(dirs, &root_dir, root.number, lim.inode_count)?,
            pos: 0,
        });
        let mut count: u32 = 1;

        while let Some(frame) = stack.last_mut() {
            if frame.pos >= frame.entries.len() {
                stack.pop();
                continue;
            }
            let entry = frame.entries[frame.pos].clone();
            frame.pos += 1;
            let parent = frame.parent;
            let name = &dirs.data[entry.name_at..entry.name_at + entry.name_len];
            let (node, first) = match seen.get(&entry.inode_ref) {
                Some((first, node)) => (node.clone(), Some(*first)),
                None => (inode::parse(inodes, entry.inode_ref, &lim)?, None),
            };
            if node.basic_type != entry.basic_type {
                return Err(corrupt(format!(
                    "directory entry \"{}\" says type {} but its inode {} has type {}",
                    dir::printable(name),
                    entry.basic_type,
                    node.number,
                    node.basic_type
                )));
            }
            if count == u32::MAX {
                return Err(corrupt("too many directory entries".to_string()));
            }
            let index = count;
            count += 1;
            match first {
                Some(first) => {
                    if let Kind::Dir(_) = node.kind {
                        return Err(corrupt(format!(
                            "directory inode {} is reached twice (a directory loop or directory hard link at \"{}\")",
                            node.number,
                            dir::printable(name)
                        )));
                    }
                    emit(
                        &mut out, parent, first, false, &node, name, inodes, &self.ids,
                    )?;
                }
                None => {
                    seen.insert(entry.inode_ref, (index, node.clone()));
                    emit(
                        &mut out, parent, index, true, &node, name, inodes, &self.ids,
                    )?;
                    if let Kind::Dir(d) = node.kind {
                        let entries = dir::read(dirs, &d, node.number, lim.inode_count)?;
                        stack.push(Frame {
                            parent: index,
                            entries,
                            pos: 0,
                        });
                    }
                }
            }
            if out.len() > 0x7000_0000 {
                return Err(crate::error::Error {
                    code: crate::error::E_LIMIT,
                    message: "the listing exceeds 1.75 GiB".to_string(),
                });
            }
        }
        self.out = out;
        Ok(count)
    }
}

fn table_name(kind: u32) -> &'static str {
    match kind {
        T_FRAGMENT => "fragment table",
        T_ID => "id table",
        T_EXPORT => "export table",
        T_XATTR_ID => "xattr id table",
        M_INODE => "inode table",
        M_DIR => "directory table",
        M_XATTR_KV => "xattr table",
        _ => "unknown table",
    }
}

/// Append one walk record (layout documented in `lib.rs`); the type-specific payload is
/// written only for the first record of an inode, so hard links cost no more than a name.
#[allow(clippy::too_many_arguments)]
fn emit(
    out: &mut Vec<u8>,
    parent: u32,
    first: u32,
    is_first: bool,
    node: &inode::Inode,
    name: &[u8],
    inodes: &MetaTable,
    ids: &[u32],
) -> Result<()> {
    let size: u64 = match &node.kind {
        Kind::Dir(d) => d.size as u64,
        Kind::File(f) => f.size,
        Kind::Symlink { len, .. } => *len as u64,
        _ => 0,
    };
    out.extend_from_slice(&parent.to_le_bytes());
    out.extend_from_slice(&first.to_le_bytes());
    out.push(node.basic_type as u8);
    out.push(0);
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&node.mode.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&ids[node.uid_idx as usize].to_le_bytes());
    out.extend_from_slice(&ids[node.gid_idx as usize].to_le_bytes());
    out.extend_from_slice(&node.mtime.to_le_bytes());
    out.extend_from_slice(&node.number.to_le_bytes());
    out.extend_from_slice(&node.nlink.to_le_bytes());
    out.extend_from_slice(&node.xattr.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(name);
    if !is_first {
        return Ok(());
    }
    match &node.kind {
        Kind::File(f) => {
            out.extend_from_slice(&f.blocks_start.to_le_bytes());
            out.extend_from_slice(&f.fragment.to_le_bytes());
            out.extend_from_slice(&f.fragment_offset.to_le_bytes());
            out.extend_from_slice(&f.block_count.to_le_bytes());
            let n = f.block_count as usize * 4;
            out.extend_from_slice(&inodes.data[f.block_list_at..f.block_list_at + n]);
        }
        Kind::Symlink { at, len } => out.extend_from_slice(&inodes.data[*at..*at + *len as usize]),
        Kind::Device { major, minor } => {
            out.extend_from_slice(&major.to_le_bytes());
            out.extend_from_slice(&minor.to_le_bytes());
        }
        _ => {}
    }
    Ok(())
}
