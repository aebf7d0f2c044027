//! Moving file content through the protocol: files are read and sent in
//! chunks (zstd-compressed when that makes them smaller), verified against
//! their digest as they are read; received chunks are written to a staged
//! file, directly or by patching the current version with delta operations.

use super::apply::StageWriter;
use super::delta::{self, DeltaOp, Signature};
use super::wire::Chunk;
use sinc_sync_core::Digest;
use std::cell::RefCell;
use std::io::Read;
use std::path::Path;

/// Bytes per content chunk.
pub const CHUNK: usize = 256 * 1024;

thread_local! {
    // zstd contexts are costly to set up; each thread keeps one of each.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// A chunk for `data`, compressed when that saves space.
pub fn pack(data: Vec<u8>) -> Chunk {
    if data.len() >= 1024
        && worth_compressing(&data)
        && let Some(z) = compress(&data)
        && z.len() + 64 < data.len()
    {
        return Chunk::Zstd(z);
    }
    Chunk::Bytes(data)
}

/// Whether a sample of `data` compresses (media, archives and other
/// compressed data are sent as they are without spending a full attempt).
fn worth_compressing(data: &[u8]) -> bool {
    const SAMPLE: usize = 4096;
    if data.len() < 4 * SAMPLE {
        return true;
    }
    let mid = data.len() / 2;
    let sample = &data[mid..mid + SAMPLE];
    compress(sample).is_none_or(|z| z.len() < SAMPLE * 9 / 10)
}

fn compress(data: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with_borrow_mut(|c| {
        if c.is_none() {
            *c = zstd::bulk::Compressor::new(1).ok();
        }
        c.as_mut()?.compress(data).ok()
    })
}

/// The bytes of a `Bytes` or `Zstd` chunk.
pub fn unpack(chunk: &Chunk) -> std::io::Result<Vec<u8>> {
    match chunk {
        Chunk::Bytes(b) => Ok(b.clone()),
        Chunk::Zstd(z) => DECOMPRESSOR.with_borrow_mut(|d| {
            if d.is_none() {
                *d = Some(zstd::bulk::Decompressor::new()?);
            }
            let d = d.as_mut().ok_or_else(|| std::io::Error::other("no zstd decompressor"))?;
            d.decompress(z, 4 * CHUNK).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        }),
        other => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("unexpected chunk {other:?}"))),
    }
}

/// How sending a file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// All content went out; it had this digest.
    Complete(Digest),
    /// The file changed while it was read (digest differs from `expected`).
    Changed,
}

/// Send the file at `path`, which should have digest `expected`, through
/// `emit`; ends with `End`, or `Abort` when the content is not `expected`.
pub fn send_file(
    path: &Path,
    expected: &Digest,
    mut emit: impl FnMut(Chunk) -> std::io::Result<()>,
) -> std::io::Result<Sent> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    // Each chunk is read into a buffer of its own that becomes the chunk
    // (nothing zeroed, nothing copied), the size of what is left of the file
    // (most of a source tree is small files); a file that grows while it is
    // read still goes, in chunks of 64 KiB or more.
    let mut left = file.metadata()?.len();
    loop {
        let size = match usize::try_from(left) {
            Ok(0) => 64 * 1024,
            Ok(left) => left.min(CHUNK),
            Err(_) => CHUNK,
        };
        let mut buf = Vec::with_capacity(size);
        (&mut file).take(size as u64).read_to_end(&mut buf)?;
        if buf.is_empty() {
            break;
        }
        left = left.saturating_sub(buf.len() as u64);
        hasher.update(&buf);
        emit(pack(buf))?;
    }
    let digest = Digest(*hasher.finalize().as_bytes());
    if &digest != expected {
        emit(Chunk::Abort { reason: "the file changed while it was sent".into() })?;
        return Ok(Sent::Changed);
    }
    emit(Chunk::End)?;
    Ok(Sent::Complete(digest))
}

/// Send delta operations turning the version described by `sig` into the
/// file at `path` (digest `expected`).
pub fn send_delta(
    path: &Path,
    expected: &Digest,
    sig: &Signature,
    mut emit: impl FnMut(Chunk) -> std::io::Result<()>,
) -> std::io::Result<Sent> {
    let file = std::fs::File::open(path)?;
    let mut hashing = HashingReader { inner: file, hasher: blake3::Hasher::new() };
    delta::delta(sig, &mut hashing, |op| match op {
        DeltaOp::Copy { first, count } => emit(Chunk::Copy { first, count }),
        DeltaOp::Literal(bytes) => emit(pack(bytes)),
    })?;
    let digest = Digest(*hashing.hasher.finalize().as_bytes());
    if &digest != expected {
        emit(Chunk::Abort { reason: "the file changed while it was sent".into() })?;
        return Ok(Sent::Changed);
    }
    emit(Chunk::End)?;
    Ok(Sent::Complete(digest))
}

struct HashingReader<R> {
    inner: R,
    hasher: blake3::Hasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Where received chunks go: straight into the staged file, or through a
/// delta patch against the current version.
#[derive(Debug)]
pub struct Receiver {
    stage: StageWriter,
    base: Option<(std::fs::File, u32)>,
}

impl Receiver {
    /// Receive whole content into `stage`.
    pub fn full(stage: StageWriter) -> Receiver {
        Receiver { stage, base: None }
    }

    /// Receive delta operations against the file at `base` (signature block
    /// size `block_size`) into `stage`.
    pub fn delta(stage: StageWriter, base: &Path, block_size: u32) -> std::io::Result<Receiver> {
        Ok(Receiver { stage, base: Some((std::fs::File::open(base)?, block_size)) })
    }

    /// Take one content chunk (not `End`/`Abort`).
    pub fn take(&mut self, chunk: &Chunk) -> std::io::Result<()> {
        match (chunk, &mut self.base) {
            (Chunk::Copy { first, count }, Some((old, block_size))) => {
                delta::patch(old, *block_size, &DeltaOp::Copy { first: *first, count: *count }, &mut self.stage)?;
                Ok(())
            }
            (Chunk::Copy { .. }, None) => {
                Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "a delta copy in a whole-file transfer"))
            }
            (Chunk::Bytes(bytes), _) => self.stage.write(bytes),
            (data, _) => self.stage.write(&unpack(data)?),
        }
    }

    /// All chunks received.
    pub fn finish(self) -> std::io::Result<super::apply::Staged> {
        self.stage.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sinc_sync_core::RelPath;

    #[test]
    fn compressible_data_is_compressed() {
        let text = vec![b'a'; 100_000];
        assert!(matches!(pack(text.clone()), Chunk::Zstd(z) if z.len() < 1000));
        assert_eq!(unpack(&pack(text.clone())).unwrap(), text);
        let mut noise = vec![0u8; 5000];
        blake3::Hasher::new().update(b"seed").finalize_xof().fill(&mut noise);
        assert!(matches!(pack(noise), Chunk::Bytes(_)));
    }

    #[test]
    fn full_and_delta_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let old: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
        let mut new = old.clone();
        new[200_000] = 7;
        std::fs::write(dir.path().join("old"), &old).unwrap();
        std::fs::write(dir.path().join("new"), &new).unwrap();
        let digest = Digest(*blake3::hash(&new).as_bytes());

        let mut chunks = Vec::new();
        let sent = send_file(&dir.path().join("new"), &digest, |c| {
            chunks.push(c);
            Ok(())
        })
        .unwrap();
        assert_eq!(sent, Sent::Complete(digest));
        let mut rx = Receiver::full(StageWriter::create(dir.path(), &RelPath::new("x").unwrap()).unwrap());
        for c in &chunks[..chunks.len() - 1] {
            rx.take(c).unwrap();
        }
        assert_eq!(rx.finish().unwrap().digest, digest);

        let sig = delta::signature(std::fs::File::open(dir.path().join("old")).unwrap(), old.len() as u64).unwrap();
        let mut ops = Vec::new();
        send_delta(&dir.path().join("new"), &digest, &sig, |c| {
            ops.push(c);
            Ok(())
        })
        .unwrap();
        let wire_bytes: usize = ops
            .iter()
            .map(|c| match c {
                Chunk::Bytes(b) | Chunk::Zstd(b) => b.len(),
                _ => 8,
            })
            .sum();
        assert!(wire_bytes < 40_000, "{wire_bytes}");
        let mut rx = Receiver::delta(
            StageWriter::create(dir.path(), &RelPath::new("y").unwrap()).unwrap(),
            &dir.path().join("old"),
            sig.block_size,
        )
        .unwrap();
        for c in &ops[..ops.len() - 1] {
            rx.take(c).unwrap();
        }
        assert_eq!(rx.finish().unwrap().digest, digest);

        let mut aborted = Vec::new();
        let wrong = Digest([0; 32]);
        assert_eq!(
            send_file(&dir.path().join("new"), &wrong, |c| {
                aborted.push(c);
                Ok(())
            })
            .unwrap(),
            Sent::Changed
        );
        assert!(matches!(aborted.last(), Some(Chunk::Abort { .. })));
    }
}
