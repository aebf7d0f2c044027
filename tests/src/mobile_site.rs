//! The mobile plugin serving its page on the "VPS" (a loopback sshd with
//! tmux), with one agent session started through sinc: for its tests and
//! its benchmark.

use crate::http::curl;
use crate::{Client, Sshd, free_port, wait_until};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The page and its session.
pub struct MobileSite {
    /// The "VPS".
    pub sshd: Sshd,
    /// The "laptop".
    pub client: Client,
    /// `http://127.0.0.1:PORT`, the page on the VPS's loopback.
    pub url: String,
    /// The session's id.
    pub id: String,
}

impl MobileSite {
    /// Serve the page, with a session running `agent` (a script's text).
    pub fn start(agent: &str) -> MobileSite {
        MobileSite::start_on(Sshd::start(), agent, "127.0.0.1", "")
    }

    /// Serve the page on `sshd`, at `address` (where `settings`, more
    /// lines of `[plugins.mobile]` in which `PORT` is the page's port, put
    /// it).
    pub fn start_on(sshd: Sshd, agent: &str, address: &str, settings: &str) -> MobileSite {
        let agent = sshd.remote_script("agent", agent);
        let client = Client::new(&sshd, &agent.to_string_lossy());
        let port = free_port();
        let config = std::fs::read_to_string(client.config_file()).unwrap();
        let settings = settings.replace("PORT", &port.to_string());
        client.write_config(&format!("{config}[plugins.mobile]\nport = {port}\n{settings}"));
        client.ok(&["plugin", "add", &crate::plugin_component("mobile").to_string_lossy(), "--yes"]);
        let id = client.ok(&["id"]).trim().to_owned();
        client.ok(&["start"]);
        let url = format!("http://{address}:{port}");
        wait_until(Duration::from_secs(30), "the page", || (curl(&[&format!("{url}/")], None).0 == 200).then_some(()));
        MobileSite { sshd, client, url, id }
    }

    /// A one-time pairing code from `sinc mobile pair`.
    pub fn pairing_code(&self) -> String {
        self.client.json(&["mobile", "pair"])["code"].as_str().unwrap().to_owned()
    }

    /// The VPS user's tmux socket.
    pub fn tmux_socket(&self) -> PathBuf {
        self.sshd.remote_root().join(format!("tmux/tmux-{}/default", crate::sshd::uid_of(&self.sshd.user)))
    }

    /// Wait until the session's screen shows `text`.
    pub fn wait_for_screen(&self, text: &str) {
        wait_until(Duration::from_secs(30), text, || {
            let out = self.sshd.tmux(&["capture-pane", "-p", "-t", &format!("={}:", self.id)]);
            String::from_utf8_lossy(&out.stdout).contains(text).then_some(())
        });
    }
}

/// Where playwright-core is (`scripts/prerequisites` installs it), when it
/// and Chromium are there.
pub fn browser_tools() -> Option<PathBuf> {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/node-tools");
    (Path::new("/usr/bin/chromium").exists() && tools.join("node_modules/playwright-core").exists()).then_some(tools)
}
