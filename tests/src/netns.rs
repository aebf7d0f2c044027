//! A real two-host network for tests that cut a link or change the client's
//! address: namespaces for a server and a client joined by a veth pair, the
//! server at 198.51.100.1 and the client at 198.51.100.2 (TEST-NET-2, only
//! ever inside these namespaces), with a firewall that can drop their
//! packets. Needs root; removed on drop.

use std::process::Command;

/// The server's address.
pub const SERVER_IP: &str = "198.51.100.1";
/// The client's first address.
pub const CLIENT_IP: &str = "198.51.100.2";

/// Two namespaces and the link between them.
#[derive(Debug)]
pub struct Netns {
    /// The server's namespace.
    pub server: String,
    /// The client's namespace.
    pub client: String,
    veth: String,
}

fn ip(args: &[&str]) {
    ip_tool("ip", args);
}

/// Run an iproute2 tool (`ip`, `tc`).
fn ip_tool(tool: &str, args: &[&str]) {
    let out = Command::new(tool).args(args).output().expect("iproute2 is needed for namespace tests");
    assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Netns {
    /// Create both namespaces, named after this process.
    pub fn create() -> Netns {
        let id = std::process::id();
        let this = Netns { server: format!("sinc-s-{id}"), client: format!("sinc-c-{id}"), veth: format!("vc{id}") };
        let peer = format!("vs{id}");
        ip(&["netns", "add", &this.server]);
        ip(&["netns", "add", &this.client]);
        ip(&["link", "add", &this.veth, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &peer, "netns", &this.server]);
        ip(&["link", "set", &this.veth, "netns", &this.client]);
        ip(&["-n", &this.server, "addr", "add", &format!("{SERVER_IP}/24"), "dev", &peer]);
        ip(&["-n", &this.client, "addr", "add", &format!("{CLIENT_IP}/24"), "dev", &this.veth]);
        for (ns, dev) in [(&this.server, &peer), (&this.client, &this.veth)] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        this
    }

    /// A second link between the two, named `server_side` in the server's
    /// namespace (e.g. `tailscale0`), with a /24 address at each end.
    pub fn add_link(&self, server_side: &str, server_ip: &str, client_ip: &str) {
        let id = std::process::id();
        let (near, far) = (format!("vd{id}"), format!("ve{id}"));
        ip(&["link", "add", &near, "type", "veth", "peer", "name", &far]);
        ip(&["link", "set", &far, "netns", &self.server]);
        ip(&["link", "set", &near, "netns", &self.client]);
        ip(&["-n", &self.server, "link", "set", &far, "name", server_side]);
        ip(&["-n", &self.server, "addr", "add", &format!("{server_ip}/24"), "dev", server_side]);
        ip(&["-n", &self.client, "addr", "add", &format!("{client_ip}/24"), "dev", &near]);
        ip(&["-n", &self.server, "link", "set", server_side, "up"]);
        ip(&["-n", &self.client, "link", "set", &near, "up"]);
    }

    /// Whether a TCP connection from the client's namespace to `ip:port`
    /// opens within 2 s.
    pub fn client_connects(&self, ip: &str, port: u16) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.client, "timeout", "2", "bash", "-c"])
            .arg(format!("exec 3<>/dev/tcp/{ip}/{port}"))
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// Kill every process still running in the server's namespace.
    pub fn kill_server_processes(&self) {
        let Ok(out) = Command::new("ip").args(["netns", "pids", &self.server]).output() else { return };
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }

    /// The command prefix that runs a program in the client's namespace.
    pub fn in_client(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.client].iter().map(|s| s.to_string()).collect()
    }

    /// Drop every packet between the client and the server, silently, in
    /// the client's firewall (real loss: no reset, no error, nothing).
    pub fn drop_traffic(&self) {
        self.firewall("-A");
    }

    /// Let packets through again.
    pub fn allow_traffic(&self) {
        self.firewall("-D");
    }

    fn firewall(&self, action: &str) {
        for (chain, way) in [("OUTPUT", "-d"), ("INPUT", "-s")] {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.client, "iptables", action, chain, way, SERVER_IP, "-j", "DROP"])
                .output()
                .expect("iptables is needed for packet-loss tests (scripts/prerequisites installs it)");
            assert!(out.status.success(), "iptables {action} {chain}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }

    /// Let the client send no faster than `kbit_per_s` (a slow uplink): a
    /// token bucket on its side of the link that queues up to a second of
    /// traffic (a home router's buffer), then drops.
    pub fn limit_upload(&self, kbit_per_s: u32) {
        let rate = format!("{kbit_per_s}kbit");
        ip_tool(
            "tc",
            &[
                "-n",
                &self.client,
                "qdisc",
                "add",
                "dev",
                &self.veth,
                "root",
                "tbf",
                "rate",
                &rate,
                "burst",
                "32kbit",
                "latency",
                "1s",
            ],
        );
    }

    /// Take the client's address away and give it `new` (a Wi-Fi change).
    pub fn change_client_address(&self, new: &str) {
        ip(&["-n", &self.client, "addr", "flush", "dev", &self.veth]);
        ip(&["-n", &self.client, "addr", "add", &format!("{new}/24"), "dev", &self.veth]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in [&self.client, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}
