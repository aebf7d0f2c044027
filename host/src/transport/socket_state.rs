//! What the kernel can tell the watchdog about a connection's TCP socket
//! without reading from it: whether its local address still exists, whether
//! the server's bytes wait unread, and when the server last acknowledged
//! what we send.

use std::net::{IpAddr, TcpStream};

/// Whether this machine still has `ip` on one of its interfaces (a Wi-Fi
/// change or a DHCP renewal takes the old address away, and with it every
/// connection made from it). Loopback addresses are always there.
pub fn address_present(ip: IpAddr) -> bool {
    if ip.is_loopback() {
        return true;
    }
    match nix::ifaddrs::getifaddrs() {
        Ok(addrs) => addrs.filter_map(|a| a.address).any(|a| {
            a.as_sockaddr_in().map(|s| IpAddr::V4(s.ip())) == Some(ip)
                || a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())) == Some(ip)
        }),
        // Unknown is not gone.
        Err(_) => true,
    }
}

/// Whether bytes wait unread in `socket` (a peek, which takes nothing; the
/// socket must be in non-blocking mode).
pub fn unread(socket: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(socket.peek(&mut byte), Ok(n) if n > 0)
}

/// When bytes we sent are in flight (not yet acknowledged), how long ago the
/// peer's kernel last acknowledged any (Linux's `TCP_INFO`); `None` when
/// nothing is in flight, elsewhere, or when unknown. Only packets that arrive
/// count — unlike a retransmission count, which a firewall dropping our
/// packets locally keeps at zero. With nothing in flight it says nothing: an
/// ack of our own ping by a middlebox is no sign that the server is there.
///
/// The one `unsafe` in sinc: neither nix nor socket2 wraps `TCP_INFO`, and a
/// netlink crate for two integers would be far more code than this call.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn in_flight_since_ack(socket: &TcpStream) -> Option<std::time::Duration> {
    use std::os::fd::AsRawFd;
    // SAFETY: `tcp_info` is plain integers, so all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::tcp_info>()).ok()?;
    // SAFETY: the descriptor is open while `socket` lives, and the kernel
    // writes at most `len` bytes into `info`, which has that many.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::from_mut(&mut info).cast(),
            &mut len,
        )
    };
    (rc == 0 && info.tcpi_unacked > 0).then(|| std::time::Duration::from_millis(u64::from(info.tcpi_last_ack_recv)))
}

/// When bytes we sent are in flight, how long since the peer acknowledged
/// any (unknown off Linux).
#[cfg(not(target_os = "linux"))]
pub fn in_flight_since_ack(_socket: &TcpStream) -> Option<std::time::Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_socket_is_seen() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_nonblocking(true).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert!(!unread(&client));
        // Nothing in flight (loopback acknowledges at once) says nothing.
        std::io::Write::write_all(&mut &client, b"ping").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(in_flight_since_ack(&client), None);
        std::io::Write::write_all(&mut server, b"hello").unwrap();
        let start = std::time::Instant::now();
        while !unread(&client) && start.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(unread(&client));
    }

    #[test]
    fn loopback_and_unassigned_addresses() {
        assert!(address_present("127.0.0.1".parse().unwrap()));
        assert!(address_present("::1".parse().unwrap()));
        // TEST-NET-3 is never assigned here.
        assert!(!address_present("203.0.113.77".parse().unwrap()));
    }
}
