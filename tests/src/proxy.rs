//! An in-process TCP proxy between a client and a server on loopback: it
//! counts the bytes in each direction (bytes on the wire) and can cut the
//! link (blackhole), reset it, slow it down or delay it, for deterministic
//! network-fault tests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
struct Shared {
    to_server: AtomicU64,
    to_client: AtomicU64,
    paused: AtomicBool,
    /// Bytes per second per direction (0: unlimited).
    rate: AtomicU64,
    /// Milliseconds each chunk waits before it is passed on (one way).
    delay_ms: AtomicU64,
    conns: Mutex<Vec<TcpStream>>,
}

/// A running proxy; stops accepting when dropped.
#[derive(Debug)]
pub struct Proxy {
    /// The port clients connect to.
    pub port: u16,
    shared: Arc<Shared>,
}

fn pump(mut from: TcpStream, to: TcpStream, count: &AtomicU64, shared: &Arc<Shared>) {
    // A writer of its own delays each chunk from when it arrived, so a
    // delay adds latency without piling up.
    let (tx, rx) = std::sync::mpsc::channel::<(std::time::Instant, Vec<u8>)>();
    let delays = shared.clone();
    let writer = std::thread::spawn(move || {
        let mut to = to;
        for (arrived, chunk) in rx {
            let due = arrived + Duration::from_millis(delays.delay_ms.load(Ordering::Relaxed));
            std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while shared.paused.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        if tx.send((std::time::Instant::now(), buf[..n].to_vec())).is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
        let rate = shared.rate.load(Ordering::Relaxed);
        if rate > 0 {
            std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
        }
    }
    drop(tx);
    let _ = writer.join();
}

impl Proxy {
    /// Forward 127.0.0.1:<new port> to 127.0.0.1:`target`.
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                if let Ok(mut conns) = s.conns.lock() {
                    conns.push(client.try_clone().unwrap());
                    conns.push(server.try_clone().unwrap());
                }
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (a, b) = (s.clone(), s.clone());
                std::thread::spawn(move || pump(client, server, &a.to_server, &a));
                std::thread::spawn(move || pump(s2, c2, &b.to_client, &b));
            }
        });
        Proxy { port, shared }
    }

    /// Bytes sent by clients so far.
    pub fn to_server(&self) -> u64 {
        self.shared.to_server.load(Ordering::Relaxed)
    }

    /// Bytes sent by the server so far.
    pub fn to_client(&self) -> u64 {
        self.shared.to_client.load(Ordering::Relaxed)
    }

    /// Limit each direction to `bytes_per_second` (0: no limit).
    pub fn throttle(&self, bytes_per_second: u64) {
        self.shared.rate.store(bytes_per_second, Ordering::Relaxed);
    }

    /// Stop forwarding (the connections stay open, like a silent network).
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::SeqCst);
    }

    /// Forward again.
    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::SeqCst);
    }

    /// Drop every open connection.
    pub fn reset(&self) {
        if let Ok(mut conns) = self.shared.conns.lock() {
            for c in conns.drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    /// Hold every chunk for `delay` before passing it on, each way (a slow,
    /// high-latency link; 0 turns it off).
    pub fn delay(&self, delay: Duration) {
        self.shared.delay_ms.store(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}
