//! What the kernel can tell the watchdog about a connection's TCP socket
//! without reading from it: whether its local address still exists, whether
//! the server's bytes wait unread, and whether the server acknowledges what
//! we send.

use std::net::{IpAddr, SocketAddr, TcpStream};

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

/// Whether the peer is acknowledging what we send: bytes are waiting for
/// its acknowledgement and none of them timed out yet (a dead link makes the
/// kernel retransmit within a second). From Linux's `/proc/net/tcp`; false
/// elsewhere, when nothing is in flight, or when not found.
pub fn acknowledging(socket: &TcpStream) -> bool {
    let (Ok(local), Ok(remote)) = (socket.local_addr(), socket.peer_addr()) else {
        return false;
    };
    let table = if local.is_ipv4() { "/proc/net/tcp" } else { "/proc/net/tcp6" };
    let Ok(text) = std::fs::read_to_string(table) else {
        return false;
    };
    matches!(send_state(&text, local, remote), Some(s) if s.unacknowledged > 0 && s.retransmits == 0)
}

/// The kernel's view of one connection's sending side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SendState {
    /// Bytes sent or queued that the peer has not acknowledged.
    unacknowledged: u64,
    /// Retransmissions of the oldest of them after a timeout.
    retransmits: u64,
}

/// The kernel's hex spelling of an address: each 32-bit word in host (little
/// endian) order, then the port.
fn proc_form(addr: SocketAddr) -> String {
    let words: String = match addr.ip() {
        IpAddr::V4(ip) => format!("{:08X}", u32::from_le_bytes(ip.octets())),
        IpAddr::V6(ip) => {
            ip.octets().chunks(4).map(|w| format!("{:08X}", u32::from_le_bytes([w[0], w[1], w[2], w[3]]))).collect()
        }
    };
    format!("{words}:{:04X}", addr.port())
}

/// The sending side of the connection `local` → `remote` in a
/// `/proc/net/tcp` table (columns: sl, local, remote, st, tx:rx queues,
/// timer, retransmits, …).
fn send_state(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<SendState> {
    let (local, remote) = (proc_form(local), proc_form(remote));
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) != Some(&local.as_str()) || f.get(2) != Some(&remote.as_str()) {
            return None;
        }
        let unacknowledged = u64::from_str_radix(f.get(4)?.split(':').next()?, 16).ok()?;
        let retransmits = u64::from_str_radix(f.get(6)?, 16).ok()?;
        Some(SendState { unacknowledged, retransmits })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_queues_are_found_by_address() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:9C40 0100007F:0016 01 0001F400:00000000 01:00000014 00000000     0        0 1 1 0 20 4 30 10 -1\n\
   1: 0100007F:0016 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n";
        let ours: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let sshd: SocketAddr = "127.0.0.1:22".parse().unwrap();
        assert_eq!(send_state(table, ours, sshd), Some(SendState { unacknowledged: 0x1F400, retransmits: 0 }));
        assert_eq!(send_state(table, sshd, ours), Some(SendState { unacknowledged: 0, retransmits: 0 }));
        assert_eq!(send_state(table, ours, "127.0.0.1:23".parse().unwrap()), None);
        assert_eq!(proc_form("[::1]:22".parse().unwrap()), "00000000000000000000000001000000:0016");
    }

    #[test]
    fn a_live_socket_is_seen() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_nonblocking(true).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert!(!acknowledging(&client), "nothing in flight says nothing");
        assert!(!unread(&client));
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
