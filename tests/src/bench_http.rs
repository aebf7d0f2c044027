//! Plain HTTP/1.1 on kept-alive connections for the benchmarks: an upstream
//! that answers every request with the same bytes (written in parts, the
//! first at once), and a client that times the first byte of the body and
//! the whole response.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Start an upstream on 127.0.0.1 answering each request with `parts`
/// (a whole HTTP response, split where it should pause `pause`); its port.
pub fn upstream(parts: Vec<Vec<u8>>, pause: Duration) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let parts = parts.clone();
            std::thread::spawn(move || {
                stream.set_nodelay(true).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                while read_request(&mut reader).is_some() {
                    for (i, part) in parts.iter().enumerate() {
                        if i > 0 {
                            std::thread::sleep(pause);
                        }
                        if stream.write_all(part).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

/// Read one request (head and a `content-length` body); `None` at the end.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<()> {
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()
}

/// A kept-alive client.
pub struct Client {
    reader: BufReader<TcpStream>,
}

/// How one response went.
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    /// Until the first byte of the body.
    pub first_byte: Duration,
    /// Until the end of the body.
    pub total: Duration,
    /// Body bytes.
    pub bytes: usize,
}

impl Client {
    /// Connected to 127.0.0.1:`port`.
    pub fn new(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client { reader: BufReader::new(stream) }
    }

    /// Send `method path` with `headers` (lines without CRLF) and `body`;
    /// read the whole response (`content-length` or chunked).
    pub fn send(&mut self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Timed {
        let mut request = format!("{method} {path} HTTP/1.1\r\nhost: bench\r\ncontent-length: {}\r\n", body.len());
        for h in headers {
            request.push_str(h);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        let started = Instant::now();
        self.reader.get_mut().write_all(&bytes).unwrap();
        let (mut length, mut chunked) = (None, false);
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = Some(v.trim().parse::<usize>().unwrap());
            }
            chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
        }
        let mut first_byte = None;
        let mut total_bytes = 0;
        if let Some(n) = length.filter(|_| !chunked) {
            let mut body = vec![0u8; n];
            self.reader.read_exact(&mut body[..n.min(1)]).unwrap();
            first_byte = Some(started.elapsed());
            self.reader.read_exact(&mut body[n.min(1)..]).unwrap();
            total_bytes = n;
        } else {
            loop {
                line.clear();
                self.reader.read_line(&mut line).unwrap();
                let size = usize::from_str_radix(line.trim(), 16).unwrap();
                if size == 0 {
                    self.reader.read_line(&mut line).unwrap();
                    break;
                }
                let mut chunk = vec![0u8; size + 2];
                self.reader.read_exact(&mut chunk).unwrap();
                first_byte.get_or_insert_with(|| started.elapsed());
                total_bytes += size;
            }
        }
        Timed { first_byte: first_byte.unwrap_or_default(), total: started.elapsed(), bytes: total_bytes }
    }
}

/// The `p` quantile of sorted `times`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Microseconds.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// This process's resident memory, KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?.trim().parse().ok()).unwrap_or(0)
}
