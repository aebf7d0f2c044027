//! Tailscale, detected rather than reimplemented: what `tailscale status
//! --json` says about this node, and whether an address is on a tailnet.

use std::net::IpAddr;

/// This node as `tailscale status --json` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailscaleNode {
    /// `Running`, `Stopped`, `NeedsLogin`, …
    pub backend_state: String,
    /// The MagicDNS name, without the trailing dot (empty without MagicDNS).
    pub dns_name: String,
    /// Its tailnet addresses.
    pub addresses: Vec<IpAddr>,
    /// The MagicDNS names of the other machines on the tailnet, online ones
    /// first.
    pub peers: Vec<String>,
}

impl TailscaleNode {
    /// Parse `tailscale status --json`; `None` for anything else.
    pub fn parse(json: &str) -> Option<TailscaleNode> {
        let v: serde_json::Value = serde_json::from_str(json).ok()?;
        let backend_state = v.get("BackendState")?.as_str()?.to_owned();
        let me = v.get("Self");
        let dns_name = me
            .and_then(|s| s.get("DNSName"))
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_owned();
        let addresses = me
            .and_then(|s| s.get("TailscaleIPs"))
            .and_then(|a| a.as_array())
            .map(|a| a.iter().filter_map(|ip| ip.as_str()?.parse().ok()).collect())
            .unwrap_or_default();
        let mut peers: Vec<(bool, String)> = v
            .get("Peer")
            .and_then(|p| p.as_object())
            .map(|peers| {
                peers
                    .values()
                    .filter_map(|p| {
                        let name = p.get("DNSName")?.as_str()?.trim_end_matches('.');
                        let online = p.get("Online").and_then(serde_json::Value::as_bool).unwrap_or(false);
                        (!name.is_empty()).then(|| (!online, name.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        peers.sort();
        let peers = peers.into_iter().map(|(_, name)| name).collect();
        Some(TailscaleNode { backend_state, dns_name, addresses, peers })
    }

    /// Whether it is connected to its tailnet.
    pub fn is_up(&self) -> bool {
        self.backend_state == "Running"
    }
}

/// How long `tailscale status` may take.
const TAILSCALE_LIMIT: std::time::Duration = std::time::Duration::from_secs(3);

/// `tailscale status --json` here, if Tailscale is installed and answers.
pub async fn local_status() -> Option<TailscaleNode> {
    let run = tokio::process::Command::new("tailscale")
        .args(["status", "--json"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(TAILSCALE_LIMIT, run).await.ok()?.ok()?;
    TailscaleNode::parse(&String::from_utf8_lossy(&out.stdout))
}

/// [`local_status`] for code that must not wait on a runtime (it may be
/// running on one's only thread).
pub fn local_status_blocking() -> Option<TailscaleNode> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let out = std::process::Command::new("tailscale")
            .args(["status", "--json"])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output();
        let _ = tx.send(out);
    });
    let out = rx.recv_timeout(TAILSCALE_LIMIT).ok()?.ok()?;
    TailscaleNode::parse(&String::from_utf8_lossy(&out.stdout))
}

/// Whether `ip` is a Tailscale address: 100.64.0.0/10 (the CGNAT range
/// Tailscale assigns from) or fd7a:115c:a1e0::/48.
pub fn is_tailnet_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            a == 100 && (64..128).contains(&b)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            s[0] == 0xfd7a && s[1] == 0x115c && s[2] == 0xa1e0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_node_from_tailscale_status() {
        let json = r#"{"Version":"1.76.1","BackendState":"Running","Self":{"DNSName":"vps.tail1234.ts.net.",
            "TailscaleIPs":["100.101.102.103","fd7a:115c:a1e0::1"]},"Peer":{
            "nodekey:1":{"DNSName":"old-box.tail1234.ts.net.","Online":false},
            "nodekey:2":{"DNSName":"vps.tail1234.ts.net.","Online":true}}}"#;
        let node = TailscaleNode::parse(json).unwrap();
        assert!(node.is_up());
        assert_eq!(node.dns_name, "vps.tail1234.ts.net");
        assert_eq!(node.addresses.len(), 2);
        assert!(node.addresses.iter().all(|a| is_tailnet_address(*a)));
        assert_eq!(node.peers, vec!["vps.tail1234.ts.net", "old-box.tail1234.ts.net"], "online first");
        let stopped = TailscaleNode::parse(r#"{"BackendState":"NeedsLogin","Self":null}"#).unwrap();
        assert!(!stopped.is_up());
        assert_eq!(TailscaleNode::parse("not json"), None);
    }

    #[test]
    fn knows_tailnet_addresses() {
        assert!(is_tailnet_address("100.64.0.1".parse().unwrap()));
        assert!(is_tailnet_address("100.127.255.254".parse().unwrap()));
        assert!(!is_tailnet_address("100.128.0.1".parse().unwrap()));
        assert!(!is_tailnet_address("127.0.0.1".parse().unwrap()));
        assert!(!is_tailnet_address("fd7a:115c:a1e1::1".parse().unwrap()));
    }
}
