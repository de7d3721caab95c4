//! The tree of one image and the construction of its tables. Nodes are inodes; directory
//! entries link names to nodes (several entries to one node make hard links).

use crate::meta::{lookup_table, MetaWriter, BLOCK};
use std::collections::HashMap;

/// Basic inode types (directory entries always store these).
pub const DIR: u8 = 1;
pub const FILE: u8 = 2;
pub const SYMLINK: u8 = 3;
pub const BLKDEV: u8 = 4;
pub const CHRDEV: u8 = 5;
pub const FIFO: u8 = 6;
pub const SOCKET: u8 = 7;
/// Extended types are the basic type plus this.
const EXT: u16 = 7;

const NONE: u32 = 0xFFFF_FFFF;
const INVALID_BLK: u64 = 0xFFFF_FFFF_FFFF_FFFF;
const MAX_NAME: usize = 256;

/// Superblock flags.
const FLAG_NO_FRAGMENTS: u16 = 0x0010;
const FLAG_ALWAYS_FRAGMENTS: u16 = 0x0020;
const FLAG_NO_XATTRS: u16 = 0x0200;

/// One inode.
#[derive(Default)]
pub struct Node {
    pub kind: u8,
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    /// Extended attributes: (prefix type, name without prefix, value).
    pub xattrs: Vec<(u16, Vec<u8>, Vec<u8>)>,
    pub size: u64,
    pub start: u64,
    pub frag: u32,
    pub frag_offset: u32,
    pub sparse: u64,
    pub blocks: Vec<u32>,
    /// Symlink target.
    pub target: Vec<u8>,
    /// Device number, encoded the SquashFS (Linux new_encode_dev) way.
    pub rdev: u32,
    /// Directory children: (name, node).
    pub children: Vec<(Vec<u8>, u32)>,
    /// Entries naming this node (hard links).
    pub links: u32,
    pub number: u32,
    pub inode_ref: u64,
    pub written: bool,
}

/// A failure with a message: (negative code, text).
pub type Fail = (i32, String);

fn fail<T>(code: i32, msg: impl Into<String>) -> Result<T, Fail> {
    Err((code, msg.into()))
}

/// The image under construction.
pub struct Image {
    pub block_size: u32,
    pub compressor: u16,
    pub flags: u16,
    pub nodes: Vec<Node>,
    /// Fragment table entries (start, size word).
    pub fragments: Vec<(u64, u32)>,
    ids: Vec<u32>,
    id_index: HashMap<u32, u16>,
    xattr_sets: Vec<(Vec<u8>, u32)>,
    xattr_index: HashMap<Vec<u8>, u32>,
    inodes: MetaWriter,
    dirs: MetaWriter,
}

impl Image {
    /// A new image whose root directory is node 0.
    pub fn new(block_size: u32, compressor: u16, flags: u16) -> Self {
        let root = Node { kind: DIR, mode: 0o755, ..Default::default() };
        Image {
            block_size,
            compressor,
            flags,
            nodes: vec![root],
            fragments: Vec::new(),
            ids: Vec::new(),
            id_index: HashMap::new(),
            xattr_sets: Vec::new(),
            xattr_index: HashMap::new(),
            inodes: MetaWriter::new(),
            dirs: MetaWriter::new(),
        }
    }

    /// Borrow a node mutably, or fail for an unknown id.
    pub fn node(&mut self, id: u32) -> Result<&mut Node, Fail> {
        match self.nodes.get_mut(id as usize) {
            Some(n) => Ok(n),
            None => fail(crate::abi::code::BAD_HANDLE, format!("no node {}", id)),
        }
    }

    /// Name `child` as `name` inside directory `parent`.
    pub fn link(&mut self, parent: u32, child: u32, name: &[u8]) -> Result<(), Fail> {
        if name.is_empty() || name.len() > MAX_NAME || name.contains(&b'/') || name == b"." || name == b".." {
            return fail(crate::abi::code::INVALID_ARGUMENT, format!("invalid entry name {:?}", String::from_utf8_lossy(name)));
        }
        if child == 0 || self.node(child)?.kind == 0 {
            return fail(crate::abi::code::BAD_HANDLE, "cannot link the root or an unknown node");
        }
        if self.node(child)?.kind == DIR && self.node(child)?.links > 0 {
            return fail(crate::abi::code::INVALID_ARGUMENT, "directories cannot be hard-linked");
        }
        let p = self.node(parent)?;
        if p.kind != DIR {
            return fail(crate::abi::code::INVALID_ARGUMENT, "parent is not a directory");
        }
        p.children.push((name.to_vec(), child));
        self.nodes[child as usize].links += 1;
        Ok(())
    }

    fn id(&mut self, value: u32) -> Result<u16, Fail> {
        if let Some(i) = self.id_index.get(&value) {
            return Ok(*i);
        }
        if self.ids.len() >= 65535 {
            return fail(crate::abi::code::LIMIT, "more than 65535 distinct uids and gids");
        }
        let i = self.ids.len() as u16;
        self.ids.push(value);
        self.id_index.insert(value, i);
        Ok(i)
    }

    fn xattr_id(&mut self, id: u32) -> u32 {
        let node = &mut self.nodes[id as usize];
        if node.xattrs.is_empty() {
            return NONE;
        }
        node.xattrs.sort();
        node.xattrs.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let mut kv = Vec::new();
        for (ty, name, value) in &node.xattrs {
            kv.extend_from_slice(&ty.to_le_bytes());
            kv.extend_from_slice(&(name.len() as u16).to_le_bytes());
            kv.extend_from_slice(name);
            kv.extend_from_slice(&(value.len() as u32).to_le_bytes());
            kv.extend_from_slice(value);
        }
        let count = node.xattrs.len() as u32;
        if let Some(i) = self.xattr_index.get(&kv) {
            return *i;
        }
        let i = self.xattr_sets.len() as u32;
        self.xattr_index.insert(kv.clone(), i);
        self.xattr_sets.push((kv, count));
        i
    }

    /// Sort every directory, refuse duplicate names, and number the inodes in the order
    /// they will be written (children before their directory; the root last).
    fn number(&mut self) -> Result<u32, Fail> {
        let mut next = 1u32;
        // Iterative post-order walk: (dir, next child index).
        let mut stack: Vec<(u32, usize)> = vec![(0, 0)];
        {
            let root = &mut self.nodes[0];
            root.children.sort_by(|a, b| a.0.cmp(&b.0));
        }
        while let Some(&mut (dir, ref mut i)) = stack.last_mut() {
            let children_len = self.nodes[dir as usize].children.len();
            if *i == 0 {
                let children = &self.nodes[dir as usize].children;
                for w in children.windows(2) {
                    if w[0].0 == w[1].0 {
                        return fail(
                            crate::abi::code::INVALID_ARGUMENT,
                            format!("duplicate entry {:?}", String::from_utf8_lossy(&w[0].0)),
                        );
                    }
                }
            }
            if *i < children_len {
                let child = self.nodes[dir as usize].children[*i].1;
                *i += 1;
                if self.nodes[child as usize].kind == DIR {
                    self.nodes[child as usize].children.sort_by(|a, b| a.0.cmp(&b.0));
                    stack.push((child, 0));
                } else if self.nodes[child as usize].number == 0 {
                    self.nodes[child as usize].number = next;
                    next += 1;
                }
            } else {
                self.nodes[dir as usize].number = next;
                next += 1;
                stack.pop();
            }
        }
        Ok(next - 1)
    }

    fn header(&mut self, node: &Node, ext: bool, uid: u16, gid: u16) -> Vec<u8> {
        let mut b = Vec::with_capacity(64);
        let ty = node.kind as u16 + if ext { EXT } else { 0 };
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&(node.mode & 0o7777).to_le_bytes());
        b.extend_from_slice(&uid.to_le_bytes());
        b.extend_from_slice(&gid.to_le_bytes());
        b.extend_from_slice(&node.mtime.to_le_bytes());
        b.extend_from_slice(&node.number.to_le_bytes());
        b
    }

    /// Write the inode of a non-directory node.
    fn write_leaf(&mut self, id: u32) -> Result<(), Fail> {
        let xattr = self.xattr_id(id);
        let (uid, gid) = {
            let n = &self.nodes[id as usize];
            (n.uid, n.gid)
        };
        let (uid, gid) = (self.id(uid)?, self.id(gid)?);
        let node = std::mem::take(&mut self.nodes[id as usize]);
        let has_x = xattr != NONE;
        let mut b;
        match node.kind {
            FILE => {
                let ext = node.start > u32::MAX as u64
                    || node.size > u32::MAX as u64
                    || node.links > 1
                    || has_x
                    || node.sparse > 0;
                b = self.header(&node, ext, uid, gid);
                if ext {
                    b.extend_from_slice(&node.start.to_le_bytes());
                    b.extend_from_slice(&node.size.to_le_bytes());
                    b.extend_from_slice(&node.sparse.to_le_bytes());
                    b.extend_from_slice(&node.links.to_le_bytes());
                    b.extend_from_slice(&node.frag.to_le_bytes());
                    b.extend_from_slice(&node.frag_offset.to_le_bytes());
                    b.extend_from_slice(&xattr.to_le_bytes());
                } else {
                    b.extend_from_slice(&(node.start as u32).to_le_bytes());
                    b.extend_from_slice(&node.frag.to_le_bytes());
                    b.extend_from_slice(&node.frag_offset.to_le_bytes());
                    b.extend_from_slice(&(node.size as u32).to_le_bytes());
                }
                for s in &node.blocks {
                    b.extend_from_slice(&s.to_le_bytes());
                }
            }
            SYMLINK => {
                b = self.header(&node, has_x, uid, gid);
                b.extend_from_slice(&node.links.to_le_bytes());
                b.extend_from_slice(&(node.target.len() as u32).to_le_bytes());
                b.extend_from_slice(&node.target);
                if has_x {
                    b.extend_from_slice(&xattr.to_le_bytes());
                }
            }
            BLKDEV | CHRDEV => {
                b = self.header(&node, has_x, uid, gid);
                b.extend_from_slice(&node.links.to_le_bytes());
                b.extend_from_slice(&node.rdev.to_le_bytes());
                if has_x {
                    b.extend_from_slice(&xattr.to_le_bytes());
                }
            }
            FIFO | SOCKET => {
                b = self.header(&node, has_x, uid, gid);
                b.extend_from_slice(&node.links.to_le_bytes());
                if has_x {
                    b.extend_from_slice(&xattr.to_le_bytes());
                }
            }
            _ => return fail(crate::abi::code::STATE, format!("node {} has no type", id)),
        }
        let (block, offset) = self.inodes.position();
        self.inodes.append(&b);
        let n = &mut self.nodes[id as usize];
        *n = node;
        n.inode_ref = ((block as u64) << 16) | offset as u64;
        n.written = true;
        Ok(())
    }

    /// Write a directory's listing, then its inode.
    fn write_dir(&mut self, id: u32, parent_number: u32) -> Result<(), Fail> {
        let children = std::mem::take(&mut self.nodes[id as usize].children);
        let base_pos = self.dirs.uncompressed_len();
        let (start_block, start_offset) = self.dirs.position();
        let mut listing: Vec<u8> = Vec::new();
        // (offset of header in listing, count position, inode block, base number, count)
        let mut header: Option<(usize, u32, u32, u32)> = None;
        let mut headers: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut subdirs = 0u32;
        for (name, child) in &children {
            let c = &self.nodes[*child as usize];
            if c.kind == DIR {
                subdirs += 1;
            }
            let iblock = (c.inode_ref >> 16) as u32;
            let ioffset = (c.inode_ref & 0xFFFF) as u16;
            let number = c.number;
            let entry_block = (base_pos + listing.len() as u64) / BLOCK as u64;
            let new = match header {
                None => true,
                Some((hpos, blk, base, count)) => {
                    count == 256
                        || blk != iblock
                        || (number as i64 - base as i64) > i16::MAX as i64
                        || (number as i64 - base as i64) < i16::MIN as i64
                        || (base_pos + hpos as u64) / BLOCK as u64 != entry_block
                }
            };
            if new {
                if let Some((hpos, _, _, count)) = header {
                    listing[hpos..hpos + 4].copy_from_slice(&(count - 1).to_le_bytes());
                }
                let hpos = listing.len();
                listing.extend_from_slice(&0u32.to_le_bytes());
                listing.extend_from_slice(&iblock.to_le_bytes());
                listing.extend_from_slice(&number.to_le_bytes());
                headers.push((hpos, name.clone()));
                header = Some((hpos, iblock, number, 0));
            }
            let (hpos, blk, base, count) = header.unwrap();
            listing.extend_from_slice(&ioffset.to_le_bytes());
            listing.extend_from_slice(&((number as i64 - base as i64) as i16).to_le_bytes());
            listing.extend_from_slice(&(c.kind as u16).to_le_bytes());
            listing.extend_from_slice(&((name.len() - 1) as u16).to_le_bytes());
            listing.extend_from_slice(name);
            header = Some((hpos, blk, base, count + 1));
        }
        if let Some((hpos, _, _, count)) = header {
            listing[hpos..hpos + 4].copy_from_slice(&(count - 1).to_le_bytes());
        }
        self.dirs.append(&listing);
        // Index: every header that starts in a later metadata block than the one before.
        let mut index = Vec::new();
        let mut index_count = 0u16;
        let mut last_block = base_pos / BLOCK as u64;
        for (hpos, name) in &headers {
            let blk = (base_pos + *hpos as u64) / BLOCK as u64;
            if blk != last_block {
                last_block = blk;
                index.extend_from_slice(&(*hpos as u32).to_le_bytes());
                index.extend_from_slice(&self.dirs.block_start(blk as usize).to_le_bytes());
                index.extend_from_slice(&((name.len() - 1) as u32).to_le_bytes());
                index.extend_from_slice(name);
                index_count += 1;
            }
        }
        self.nodes[id as usize].children = children;
        let xattr = self.xattr_id(id);
        let (uid, gid) = {
            let n = &self.nodes[id as usize];
            (n.uid, n.gid)
        };
        let (uid, gid) = (self.id(uid)?, self.id(gid)?);
        let file_size = listing.len() as u64 + 3;
        let ext = file_size > 0xFFFF || xattr != NONE || index_count > 0;
        let node = std::mem::take(&mut self.nodes[id as usize]);
        let nlink = 2 + subdirs;
        let mut b = self.header(&node, ext, uid, gid);
        if ext {
            if file_size > u32::MAX as u64 {
                return fail(crate::abi::code::LIMIT, "directory listing over 4 GiB");
            }
            b.extend_from_slice(&nlink.to_le_bytes());
            b.extend_from_slice(&(file_size as u32).to_le_bytes());
            b.extend_from_slice(&start_block.to_le_bytes());
            b.extend_from_slice(&parent_number.to_le_bytes());
            b.extend_from_slice(&index_count.to_le_bytes());
            b.extend_from_slice(&start_offset.to_le_bytes());
            b.extend_from_slice(&xattr.to_le_bytes());
            b.extend_from_slice(&index);
        } else {
            b.extend_from_slice(&start_block.to_le_bytes());
            b.extend_from_slice(&nlink.to_le_bytes());
            b.extend_from_slice(&(file_size as u16).to_le_bytes());
            b.extend_from_slice(&start_offset.to_le_bytes());
            b.extend_from_slice(&parent_number.to_le_bytes());
        }
        let (block, offset) = self.inodes.position();
        self.inodes.append(&b);
        let n = &mut self.nodes[id as usize];
        *n = node;
        n.inode_ref = ((block as u64) << 16) | offset as u64;
        n.written = true;
        Ok(())
    }

    /// Build every table. `data_end` is where the data area ends (the tables follow it).
    /// Returns the 96-byte superblock followed by the table bytes.
    pub fn finish(&mut self, data_end: u64) -> Result<Vec<u8>, Fail> {
        let inode_count = self.number()?;
        let root_parent = inode_count + 1;
        // Post-order write: (dir, parent number, next child index).
        let mut stack: Vec<(u32, u32, usize)> = vec![(0, root_parent, 0)];
        while let Some(&mut (dir, parent, ref mut i)) = stack.last_mut() {
            let len = self.nodes[dir as usize].children.len();
            if *i < len {
                let child = self.nodes[dir as usize].children[*i].1;
                *i += 1;
                let c = &self.nodes[child as usize];
                if c.kind == DIR {
                    let number = self.nodes[dir as usize].number;
                    stack.push((child, number, 0));
                } else if !c.written {
                    self.write_leaf(child)?;
                }
            } else {
                stack.pop();
                self.write_dir(dir, parent)?;
            }
        }
        let mtime = self.nodes.iter().map(|n| n.mtime).max().unwrap_or(0);
        let root_ref = self.nodes[0].inode_ref;

        let compress_fail = || (crate::abi::code::COMPRESS, "the metadata compressor failed".to_string());
        let (inode_bytes, f1) = std::mem::take(&mut self.inodes).finish();
        let (dir_bytes, f2) = std::mem::take(&mut self.dirs).finish();
        if f1 || f2 {
            return Err(compress_fail());
        }
        let mut tables = Vec::new();
        let mut pos = data_end;
        let inode_table_start = pos;
        tables.extend_from_slice(&inode_bytes);
        pos += inode_bytes.len() as u64;
        let directory_table_start = pos;
        tables.extend_from_slice(&dir_bytes);
        pos += dir_bytes.len() as u64;

        let mut frag_entries = Vec::with_capacity(self.fragments.len() * 16);
        for (start, size) in &self.fragments {
            frag_entries.extend_from_slice(&start.to_le_bytes());
            frag_entries.extend_from_slice(&size.to_le_bytes());
            frag_entries.extend_from_slice(&0u32.to_le_bytes());
        }
        let (bytes, fragment_table_start) = lookup_table(&frag_entries, pos).map_err(|_| compress_fail())?;
        tables.extend_from_slice(&bytes);
        pos += bytes.len() as u64;

        let mut id_entries = Vec::with_capacity(self.ids.len() * 4);
        for id in &self.ids {
            id_entries.extend_from_slice(&id.to_le_bytes());
        }
        let (bytes, id_table_start) = lookup_table(&id_entries, pos).map_err(|_| compress_fail())?;
        tables.extend_from_slice(&bytes);
        pos += bytes.len() as u64;

        let mut xattr_id_table_start = INVALID_BLK;
        if !self.xattr_sets.is_empty() {
            let kv_start = pos;
            let mut kv = MetaWriter::new();
            let mut id_entries = Vec::with_capacity(self.xattr_sets.len() * 16);
            for (set, count) in &self.xattr_sets {
                let (block, offset) = kv.position();
                kv.append(set);
                id_entries.extend_from_slice(&(((block as u64) << 16) | offset as u64).to_le_bytes());
                id_entries.extend_from_slice(&count.to_le_bytes());
                id_entries.extend_from_slice(&(set.len() as u32).to_le_bytes());
            }
            let (kv_bytes, failed) = kv.finish();
            if failed {
                return Err(compress_fail());
            }
            tables.extend_from_slice(&kv_bytes);
            pos += kv_bytes.len() as u64;
            let (bytes, array_at) = lookup_table(&id_entries, pos).map_err(|_| compress_fail())?;
            // The location array follows a 16-byte header: kv start, count, unused.
            let header_at = array_at;
            let (blocks, array) = bytes.split_at((array_at - pos) as usize);
            tables.extend_from_slice(blocks);
            tables.extend_from_slice(&kv_start.to_le_bytes());
            tables.extend_from_slice(&(self.xattr_sets.len() as u32).to_le_bytes());
            tables.extend_from_slice(&0u32.to_le_bytes());
            tables.extend_from_slice(array);
            pos += bytes.len() as u64 + 16;
            xattr_id_table_start = header_at;
        }
        let bytes_used = pos;

        let mut flags = self.flags;
        if self.xattr_sets.is_empty() {
            flags |= FLAG_NO_XATTRS;
        }
        if flags & FLAG_NO_FRAGMENTS == 0 {
            flags |= FLAG_ALWAYS_FRAGMENTS;
        }
        let mut sb = Vec::with_capacity(96 + tables.len());
        sb.extend_from_slice(&0x7371_7368u32.to_le_bytes());
        sb.extend_from_slice(&inode_count.to_le_bytes());
        sb.extend_from_slice(&mtime.to_le_bytes());
        sb.extend_from_slice(&self.block_size.to_le_bytes());
        sb.extend_from_slice(&(self.fragments.len() as u32).to_le_bytes());
        sb.extend_from_slice(&self.compressor.to_le_bytes());
        sb.extend_from_slice(&(self.block_size.trailing_zeros() as u16).to_le_bytes());
        sb.extend_from_slice(&flags.to_le_bytes());
        sb.extend_from_slice(&(self.ids.len() as u16).to_le_bytes());
        sb.extend_from_slice(&4u16.to_le_bytes());
        sb.extend_from_slice(&0u16.to_le_bytes());
        sb.extend_from_slice(&root_ref.to_le_bytes());
        sb.extend_from_slice(&bytes_used.to_le_bytes());
        sb.extend_from_slice(&id_table_start.to_le_bytes());
        sb.extend_from_slice(&xattr_id_table_start.to_le_bytes());
        sb.extend_from_slice(&inode_table_start.to_le_bytes());
        sb.extend_from_slice(&directory_table_start.to_le_bytes());
        sb.extend_from_slice(&fragment_table_start.to_le_bytes());
        sb.extend_from_slice(&INVALID_BLK.to_le_bytes());
        debug_assert_eq!(sb.len(), 96);
        sb.extend_from_slice(&tables);
        Ok(sb)
    }
}
