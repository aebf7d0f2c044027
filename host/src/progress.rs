//! Progress reporting for long work: a reader that counts the bytes passing
//! through it, and the terminal progress bar the CLI shows (only on a TTY).

use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Called with the number of bytes that just went through.
pub type OnBytes = Box<dyn FnMut(u64) + Send>;

/// Wraps a reader and reports how many bytes were read.
pub struct CountingReader<R> {
    inner: R,
    on_bytes: OnBytes,
}

impl<R> std::fmt::Debug for CountingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingReader").finish_non_exhaustive()
    }
}

impl<R> CountingReader<R> {
    /// Count `inner`'s bytes into `on_bytes`.
    pub fn new(inner: R, on_bytes: OnBytes) -> CountingReader<R> {
        CountingReader { inner, on_bytes }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for CountingReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            (self.on_bytes)(read as u64);
        }
        result
    }
}

/// A byte-count progress bar on stderr, hidden when stderr is not a terminal
/// (or when `hidden`).
pub fn bytes_bar(len: u64, message: &str, hidden: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if hidden || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(message.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn counts_every_byte() {
        let total = Arc::new(AtomicU64::new(0));
        let seen = total.clone();
        let mut r = CountingReader::new(
            &[7u8; 10_000][..],
            Box::new(move |n| {
                seen.fetch_add(n, Ordering::SeqCst);
            }),
        );
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(total.load(Ordering::SeqCst), 10_000);
    }
}
