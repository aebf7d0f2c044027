//! Framing: a preamble that finds the start of the protocol behind any noise a
//! login shell printed, then length-prefixed frames (u32, big-endian, at most
//! [`MAX_FRAME`] bytes) each holding one postcard-encoded [`Message`]. A
//! malformed or oversized frame is an error, never a panic.

use super::message::{Hello, MIN_VERSION, Message, VERSION};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// Bytes that start the protocol stream.
pub const PREAMBLE: &[u8] = b"\0sinc-sync-wire\n";
/// The largest frame accepted.
pub const MAX_FRAME: usize = 4 << 20;
/// How much noise may precede the preamble.
const MAX_NOISE: usize = 64 * 1024;

/// A protocol failure.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The stream failed.
    #[error("sync connection: {0}")]
    Io(#[from] std::io::Error),
    /// The peer never started the protocol.
    #[error("the remote side did not start the sync protocol; it printed: {0:?}")]
    NoPreamble(String),
    /// A frame could not be decoded.
    #[error("malformed sync message: {0}")]
    Malformed(String),
    /// The versions do not overlap.
    #[error("the remote sinc ({theirs}) speaks sync protocol {their_version}, this one ({ours}) needs {min}–{max}")]
    Version {
        /// Our build.
        ours: String,
        /// Their build.
        theirs: String,
        /// Their version.
        their_version: u32,
        /// Our oldest.
        min: u32,
        /// Our newest.
        max: u32,
    },
    /// The peer sent something out of turn.
    #[error("unexpected sync message: {0}")]
    Unexpected(String),
    /// The connection ended.
    #[error("the sync connection closed")]
    Closed,
}

/// The frame codec.
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().length_field_length(4).big_endian().max_frame_length(MAX_FRAME).new_codec()
}

/// Encode a message into a frame payload.
pub fn encode(msg: &Message) -> Result<Bytes, WireError> {
    let bytes = postcard::to_stdvec(msg).map_err(|e| WireError::Malformed(e.to_string()))?;
    if bytes.len() > MAX_FRAME {
        return Err(WireError::Malformed(format!("a {}-byte message exceeds the frame limit", bytes.len())));
    }
    Ok(Bytes::from(bytes))
}

/// Decode a frame payload.
pub fn decode(frame: &[u8]) -> Result<Message, WireError> {
    postcard::from_bytes(frame).map_err(|e| WireError::Malformed(e.to_string()))
}

/// Read and discard bytes until the preamble; returns what came before it.
pub async fn skip_to_preamble<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, WireError> {
    let mut seen: Vec<u8> = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let n = r.read(&mut byte).await?;
        if n == 0 {
            return Err(WireError::NoPreamble(String::from_utf8_lossy(&seen).into_owned()));
        }
        seen.push(byte[0]);
        if seen.ends_with(PREAMBLE) {
            seen.truncate(seen.len() - PREAMBLE.len());
            return Ok(seen);
        }
        if seen.len() > MAX_NOISE {
            return Err(WireError::NoPreamble(String::from_utf8_lossy(&seen[..200]).into_owned()));
        }
    }
}

/// The receiving half.
#[derive(Debug)]
pub struct WireReader<R> {
    inner: FramedRead<R, LengthDelimitedCodec>,
}

impl<R: AsyncRead + Unpin> WireReader<R> {
    /// Frames from `r` (after the preamble).
    pub fn new(r: R) -> WireReader<R> {
        WireReader { inner: FramedRead::new(r, codec()) }
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner.into_inner()
    }

    /// The next message, `None` at a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<Message>, WireError> {
        match self.inner.next().await {
            None => Ok(None),
            Some(Ok(frame)) => decode(&frame).map(Some),
            Some(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => Err(WireError::Malformed(e.to_string())),
            Some(Err(e)) => Err(WireError::Io(e)),
        }
    }
}

/// The sending half.
#[derive(Debug)]
pub struct WireWriter<W> {
    inner: FramedWrite<W, LengthDelimitedCodec>,
}

impl<W: AsyncWrite + Unpin> WireWriter<W> {
    /// Frames to `w` (the caller writes the preamble first, see [`write_preamble`]).
    pub fn new(w: W) -> WireWriter<W> {
        WireWriter { inner: FramedWrite::new(w, codec()) }
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.inner.into_inner()
    }

    /// Send one message.
    pub async fn send(&mut self, msg: &Message) -> Result<(), WireError> {
        self.inner.send(encode(msg)?).await.map_err(WireError::Io)
    }

    /// Queue one message without flushing (see [`WireWriter::flush`]).
    pub async fn feed(&mut self, msg: &Message) -> Result<(), WireError> {
        self.inner.feed(encode(msg)?).await.map_err(WireError::Io)
    }

    /// Write out everything queued.
    pub async fn flush(&mut self) -> Result<(), WireError> {
        SinkExt::<Bytes>::flush(&mut self.inner).await.map_err(WireError::Io)
    }
}

/// Write the preamble.
pub async fn write_preamble<W: AsyncWrite + Unpin>(w: &mut W) -> Result<(), WireError> {
    w.write_all(PREAMBLE).await?;
    w.flush().await?;
    Ok(())
}

/// This build's `Hello`.
pub fn hello(build: &str) -> Hello {
    Hello { version: VERSION, min_version: MIN_VERSION, build: build.to_owned() }
}

/// Send our `Hello`, read theirs, and check the versions overlap.
pub async fn handshake<R, W>(
    reader: &mut WireReader<R>,
    writer: &mut WireWriter<W>,
    build: &str,
) -> Result<Hello, WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let ours = hello(build);
    writer.send(&Message::Hello(ours.clone())).await?;
    let theirs = match reader.next().await? {
        Some(Message::Hello(h)) => h,
        Some(other) => return Err(WireError::Unexpected(format!("{other:?}").chars().take(100).collect())),
        None => return Err(WireError::Closed),
    };
    check_versions(&ours, &theirs)?;
    Ok(theirs)
}

/// Whether two `Hello`s can talk (each side's version within the other's range).
pub fn check_versions(ours: &Hello, theirs: &Hello) -> Result<(), WireError> {
    if theirs.version < ours.min_version || ours.version < theirs.min_version {
        return Err(WireError::Version {
            ours: ours.build.clone(),
            theirs: theirs.build.clone(),
            their_version: theirs.version,
            min: ours.min_version,
            max: ours.version,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::message::{Chunk, Request, Response};
    use super::*;
    use proptest::prelude::*;
    use sinc_sync_core::{Digest, Entry, RelPath};

    fn samples() -> Vec<Message> {
        vec![
            Message::Hello(hello("sinc test")),
            Message::Request { id: 1, request: Request::ChangesSince { epoch: 5, seq: 9 } },
            Message::Request {
                id: 2,
                request: Request::Put {
                    path: RelPath::new("a/b").unwrap(),
                    expected: None,
                    new: Entry::File { digest: Digest([3; 32]), size: 10, exec: true },
                    body: super::super::message::Body::Full,
                    loser: false,
                },
            },
            Message::Data { id: 2, chunk: Chunk::Bytes(vec![1, 2, 3]) },
            Message::Response { id: 2, response: Response::Applied },
        ]
    }

    #[test]
    fn round_trip() {
        for m in samples() {
            assert_eq!(decode(&encode(&m).unwrap()).unwrap(), m);
        }
    }

    /// Content chunks are declared as bytes for speed; on the wire they must
    /// stay what earlier builds wrote for a plain `Vec<u8>`.
    #[test]
    fn content_bytes_are_encoded_as_before() {
        #[derive(serde::Serialize)]
        enum Earlier {
            Bytes(Vec<u8>),
            Zstd(Vec<u8>),
        }
        let data: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let now = postcard::to_allocvec(&Chunk::Bytes(data.clone())).unwrap();
        assert_eq!(now, postcard::to_allocvec(&Earlier::Bytes(data.clone())).unwrap());
        let now = postcard::to_allocvec(&Chunk::Zstd(data.clone())).unwrap();
        assert_eq!(now, postcard::to_allocvec(&Earlier::Zstd(data.clone())).unwrap());
        assert_eq!(postcard::from_bytes::<Chunk>(&now).unwrap(), Chunk::Zstd(data));
    }

    #[tokio::test]
    async fn noise_before_the_preamble_is_skipped_and_returned() {
        let mut stream: &[u8] = b"Welcome to my VPS!\nlast login...\n\0sinc-sync-wire\nrest";
        let noise = skip_to_preamble(&mut stream).await.unwrap();
        assert_eq!(noise, b"Welcome to my VPS!\nlast login...\n");
        assert_eq!(stream, b"rest");
        let mut nothing: &[u8] = b"bash: sinc: command not found\n";
        assert!(
            matches!(skip_to_preamble(&mut nothing).await, Err(WireError::NoPreamble(m)) if m.contains("command not found"))
        );
    }

    #[tokio::test]
    async fn handshake_refuses_disjoint_versions() {
        let old = Hello { version: 0, min_version: 0, build: "sinc 0.0.1".into() };
        assert!(matches!(check_versions(&hello("new"), &old), Err(WireError::Version { .. })));
        let future = Hello { version: 9, min_version: 5, build: "sinc 9".into() };
        assert!(matches!(check_versions(&hello("new"), &future), Err(WireError::Version { .. })));
        let compatible = Hello { version: 2, min_version: 1, build: "sinc 0.2".into() };
        assert!(check_versions(&hello("new"), &compatible).is_ok());
    }

    #[tokio::test]
    async fn oversized_and_garbage_frames_are_errors() {
        let mut big = Vec::new();
        big.extend_from_slice(&(u32::MAX).to_be_bytes());
        big.extend_from_slice(&[0; 16]);
        let mut r = WireReader::new(&big[..]);
        assert!(matches!(r.next().await, Err(WireError::Malformed(_))));
        let mut junk = vec![0, 0, 0, 3, 0xff, 0xff, 0xff];
        let mut r = WireReader::new(&junk[..]);
        assert!(matches!(r.next().await, Err(WireError::Malformed(_))));
        junk.truncate(5);
        let mut r = WireReader::new(&junk[..]);
        assert!(r.next().await.is_err(), "a frame cut short is an error");
    }

    proptest! {
        // The decoder is fed arbitrary bytes and mutated valid frames: it may
        // refuse them, but it never panics and never allocates beyond the input.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decoding_mutated_frames_never_panics(which in 0usize..5, flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
            let mut frame = encode(&samples()[which]).unwrap().to_vec();
            for (at, b) in flips {
                let i = at % frame.len();
                frame[i] ^= b;
            }
            let cut = cut % (frame.len() + 1);
            let _ = decode(&frame[..cut]);
            let _ = decode(&frame);
        }
    }
}
