//! rsync-style delta transfer, streamed: the receiver describes the version it
//! has as block signatures (a rolling weak sum and a truncated BLAKE3 per
//! block), the sender finds those blocks in the new version and sends only
//! references and the bytes in between. Neither side holds a whole file in
//! memory. The result is always checked against the new version's BLAKE3.
//!
//! Written here rather than taken from a crate: `fast_rsync` wants the whole
//! new file as one slice (or an unsafe memory map) and uses MD4.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};

/// Files smaller than this are sent whole: a delta would not pay for its
/// extra round trip.
pub const MIN_DELTA_SIZE: u64 = 64 * 1024;

/// Largest literal run in one operation.
const MAX_LITERAL: usize = 128 * 1024;

/// One block's fingerprints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSig {
    /// Rolling checksum.
    pub weak: u32,
    /// First 16 bytes of the block's BLAKE3.
    pub strong: [u8; 16],
}

/// The receiver's description of its current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Bytes per block (the last block may be shorter).
    pub block_size: u32,
    /// Size of the described file.
    pub file_size: u64,
    /// One entry per block, in order.
    pub blocks: Vec<BlockSig>,
}

/// One instruction to rebuild the new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeltaOp {
    /// Copy `count` blocks starting at block `first` of the old version.
    Copy {
        /// First block.
        first: u32,
        /// Number of consecutive blocks.
        count: u32,
    },
    /// These bytes.
    Literal(Vec<u8>),
}

/// The block size for a file: √(24·len), between 1 KiB and 64 KiB.
pub fn block_size_for(len: u64) -> u32 {
    let ideal = ((24.0 * len as f64).sqrt()) as u64;
    u32::try_from(ideal.clamp(1024, 64 * 1024) / 8 * 8).unwrap_or(64 * 1024)
}

#[derive(Clone, Copy)]
struct Rolling {
    a: u32,
    b: u32,
    len: u32,
}

impl Rolling {
    fn new(data: &[u8]) -> Rolling {
        let mut a: u32 = 0;
        let mut b: u32 = 0;
        let len = data.len() as u32;
        for (i, &x) in data.iter().enumerate() {
            a = a.wrapping_add(u32::from(x));
            b = b.wrapping_add((len - i as u32).wrapping_mul(u32::from(x)));
        }
        Rolling { a, b, len }
    }

    fn roll(&mut self, out: u8, inp: u8) {
        self.a = self.a.wrapping_sub(u32::from(out)).wrapping_add(u32::from(inp));
        self.b = self.b.wrapping_sub(self.len.wrapping_mul(u32::from(out))).wrapping_add(self.a);
    }

    fn value(&self) -> u32 {
        (self.a & 0xffff) | (self.b << 16)
    }
}

fn strong(data: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&blake3::hash(data).as_bytes()[..16]);
    out
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Describe the old version.
pub fn signature(mut old: impl Read, file_size: u64) -> std::io::Result<Signature> {
    let block_size = block_size_for(file_size);
    let mut blocks = Vec::with_capacity((file_size / u64::from(block_size) + 1) as usize);
    let mut buf = vec![0u8; block_size as usize];
    loop {
        let n = read_full(&mut old, &mut buf)?;
        if n == 0 {
            break;
        }
        blocks.push(BlockSig { weak: Rolling::new(&buf[..n]).value(), strong: strong(&buf[..n]) });
        if n < buf.len() {
            break;
        }
    }
    Ok(Signature { block_size, file_size, blocks })
}

/// Compute the operations that turn the old version into `new`, handing each
/// to `emit` as soon as it is known.
pub fn delta(
    sig: &Signature,
    mut new: impl Read,
    mut emit: impl FnMut(DeltaOp) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let bs = sig.block_size as usize;
    let full_blocks = if sig.file_size.is_multiple_of(u64::from(sig.block_size)) {
        sig.blocks.len()
    } else {
        sig.blocks.len().saturating_sub(1)
    };
    let mut by_weak: HashMap<u32, Vec<u32>> = HashMap::new();
    for (i, b) in sig.blocks.iter().enumerate().take(full_blocks) {
        by_weak.entry(b.weak).or_default().push(i as u32);
    }
    let tail = (full_blocks < sig.blocks.len())
        .then(|| (full_blocks as u32, sig.blocks[full_blocks], (sig.file_size % u64::from(sig.block_size)) as usize));

    let mut pending_copy: Option<(u32, u32)> = None;
    let mut buf: Vec<u8> = Vec::with_capacity(bs + MAX_LITERAL + 256 * 1024);
    let mut chunk = vec![0u8; 256 * 1024];
    let mut eof = false;
    let mut pos = 0usize;
    let mut rolling: Option<Rolling> = None;

    loop {
        while !eof && buf.len() < pos + bs + 1 {
            let n = new.read(&mut chunk)?;
            if n == 0 {
                eof = true;
            } else {
                buf.extend_from_slice(&chunk[..n]);
            }
        }
        if buf.len() < pos + bs {
            break;
        }
        let r = *rolling.get_or_insert_with(|| Rolling::new(&buf[pos..pos + bs]));
        let hit = by_weak.get(&r.value()).and_then(|cands| {
            let s = strong(&buf[pos..pos + bs]);
            cands.iter().copied().find(|&i| sig.blocks[i as usize].strong == s)
        });
        if let Some(block) = hit {
            if pos > 0 {
                flush_copy(&mut pending_copy, &mut emit)?;
                emit(DeltaOp::Literal(buf[..pos].to_vec()))?;
            }
            add_copy(&mut pending_copy, block, &mut emit)?;
            buf.drain(..pos + bs);
            pos = 0;
            rolling = None;
            continue;
        }
        if pos + bs < buf.len() {
            let mut r = r;
            r.roll(buf[pos], buf[pos + bs]);
            rolling = Some(r);
            pos += 1;
        } else {
            break;
        }
        if pos >= MAX_LITERAL {
            flush_copy(&mut pending_copy, &mut emit)?;
            emit(DeltaOp::Literal(buf[..pos].to_vec()))?;
            buf.drain(..pos);
            pos = 0;
        }
    }
    // The rest: the old file's short last block may match the very end.
    let rest = &buf[..];
    if let Some((index, tail_sig, tail_len)) = tail
        && rest.len() >= tail_len
    {
        let end = &rest[rest.len() - tail_len..];
        if Rolling::new(end).value() == tail_sig.weak && strong(end) == tail_sig.strong {
            if rest.len() > tail_len {
                flush_copy(&mut pending_copy, &mut emit)?;
                emit(DeltaOp::Literal(rest[..rest.len() - tail_len].to_vec()))?;
            }
            add_copy(&mut pending_copy, index, &mut emit)?;
            return flush_copy(&mut pending_copy, &mut emit);
        }
    }
    flush_copy(&mut pending_copy, &mut emit)?;
    for piece in rest.chunks(MAX_LITERAL) {
        emit(DeltaOp::Literal(piece.to_vec()))?;
    }
    Ok(())
}

/// Emit the pending run of copied blocks, if any.
fn flush_copy(
    pending: &mut Option<(u32, u32)>,
    emit: &mut impl FnMut(DeltaOp) -> std::io::Result<()>,
) -> std::io::Result<()> {
    match pending.take() {
        Some((first, count)) => emit(DeltaOp::Copy { first, count }),
        None => Ok(()),
    }
}

/// Extend the pending run with `block`, or emit it and start a new one.
fn add_copy(
    pending: &mut Option<(u32, u32)>,
    block: u32,
    emit: &mut impl FnMut(DeltaOp) -> std::io::Result<()>,
) -> std::io::Result<()> {
    match pending {
        Some((first, count)) if *first + *count == block => {
            *count += 1;
            Ok(())
        }
        _ => {
            flush_copy(pending, emit)?;
            *pending = Some((block, 1));
            Ok(())
        }
    }
}

/// Apply one operation: append its bytes to `out`, reading copied blocks from
/// `old`. Returns the number of bytes written.
pub fn patch<R: Read + Seek, W: Write>(
    old: &mut R,
    block_size: u32,
    op: &DeltaOp,
    out: &mut W,
) -> std::io::Result<u64> {
    match op {
        DeltaOp::Literal(bytes) => {
            out.write_all(bytes)?;
            Ok(bytes.len() as u64)
        }
        DeltaOp::Copy { first, count } => {
            old.seek(SeekFrom::Start(u64::from(*first) * u64::from(block_size)))?;
            let want = u64::from(*count) * u64::from(block_size);
            let copied = std::io::copy(&mut old.take(want), out)?;
            Ok(copied)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    fn roundtrip(old: &[u8], new: &[u8]) -> (Vec<u8>, usize) {
        let sig = signature(old, old.len() as u64).unwrap();
        let mut ops = Vec::new();
        delta(&sig, new, |op| {
            ops.push(op);
            Ok(())
        })
        .unwrap();
        let literal: usize = ops.iter().map(|o| if let DeltaOp::Literal(b) = o { b.len() } else { 0 }).sum();
        let mut out = Vec::new();
        let mut src = Cursor::new(old);
        for op in &ops {
            patch(&mut src, sig.block_size, op, &mut out).unwrap();
        }
        (out, literal)
    }

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn one_byte_change_sends_about_one_block() {
        let old = pseudo_random(3_000_000, 1);
        let mut new = old.clone();
        new[1_234_567] ^= 0xff;
        let (out, literal) = roundtrip(&old, &new);
        assert_eq!(out, new);
        assert!(literal <= 2 * block_size_for(old.len() as u64) as usize, "{literal} literal bytes");
    }

    #[test]
    fn insertions_deletions_and_tails() {
        let old = pseudo_random(200_000, 2);
        let mut new = old[..50_000].to_vec();
        new.extend_from_slice(b"inserted text");
        new.extend_from_slice(&old[60_000..]);
        let (out, literal) = roundtrip(&old, &new);
        assert_eq!(out, new);
        assert!(literal < 20_000, "{literal}");
        let (out, _) = roundtrip(&old, &old[..old.len() - 3]);
        assert_eq!(out, &old[..old.len() - 3]);
        let (out, _) = roundtrip(b"", b"fresh");
        assert_eq!(out, b"fresh");
        let (out, _) = roundtrip(&old, b"");
        assert!(out.is_empty());
    }

    proptest! {
        #[test]
        fn patch_of_delta_rebuilds_any_new_version(
            old in prop::collection::vec(0u8..4, 0..6000),
            edits in prop::collection::vec((0usize..6000, 0u8..4, 0usize..40), 0..6),
        ) {
            let mut new = old.clone();
            for (at, byte, insert) in edits {
                let at = at.min(new.len());
                new.splice(at..at, std::iter::repeat_n(byte, insert));
            }
            let (out, _) = roundtrip(&old, &new);
            prop_assert_eq!(out, new);
        }
    }
}
