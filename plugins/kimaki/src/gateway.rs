//! The Discord Gateway's protocol, without I/O: what to send after Hello
//! (Identify, or Resume when there is a session to resume), heartbeats and
//! their ACKs (a heartbeat not acknowledged by the next one's time means a
//! dead connection), sequence numbers, and what to do when the server asks
//! to reconnect, says the session is invalid, or the connection ends.

use serde_json::{Value, json};

/// GUILDS, GUILD_MESSAGES and MESSAGE_CONTENT (the members' roles come
/// with their messages and commands: GUILD_MEMBERS is not needed).
pub const INTENTS: u64 = 1 | (1 << 9) | (1 << 15);

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this payload.
    Send(String),
    /// Handle this event (`t`, `d`).
    Event(String, Value),
    /// Close the connection and connect again (resuming if the session
    /// allows).
    Reconnect,
    /// Close the connection and connect again after a random 1–5 s, as
    /// Discord asks after an Invalid Session.
    ReconnectLater,
}

/// A session the gateway can resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumable {
    /// Its id.
    pub id: String,
    /// Where to resume it.
    pub url: String,
}

/// One bot's gateway state, across connections.
#[derive(Clone)]
pub struct Gateway {
    token: String,
    /// The last sequence number received.
    seq: Option<u64>,
    session: Option<Resumable>,
    /// Milliseconds between heartbeats (from Hello).
    interval: Option<u64>,
    /// When the next heartbeat is due (ms since the epoch).
    next_beat: u64,
    /// Whether the last heartbeat was acknowledged.
    acked: bool,
    /// Whether this connection is identified or resumed (READY/RESUMED).
    ready: bool,
    /// Whether this connection sent Resume (else Identify).
    resuming: bool,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Gateway")
            .field("seq", &self.seq)
            .field("session", &self.session)
            .field("ready", &self.ready)
            .finish()
    }
}

impl Gateway {
    /// For the bot with `token`.
    pub fn new(token: &str) -> Gateway {
        Gateway {
            token: token.to_owned(),
            seq: None,
            session: None,
            interval: None,
            next_beat: 0,
            acked: true,
            ready: false,
            resuming: false,
        }
    }

    /// Where to connect next: the session's resume URL when there is one.
    pub fn resume_url(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.url.as_str())
    }

    /// Whether the current connection is identified or resumed.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Whether the current connection tried to resume and never got there.
    pub fn was_resuming(&self) -> bool {
        self.resuming && !self.ready
    }

    /// A new connection starts (before its Hello).
    pub fn connected(&mut self) {
        self.interval = None;
        self.acked = true;
        self.ready = false;
        self.resuming = false;
    }

    /// The connection ended: its session is kept for a Resume, unless this
    /// connection's own Resume was refused.
    pub fn disconnected(&mut self) {
        if self.was_resuming() {
            // The server refused the Resume by closing (4007, 4009): start
            // a new session.
            self.forget();
        }
        self.interval = None;
        self.ready = false;
    }

    /// Forget the session: the next connection identifies.
    pub fn forget(&mut self) {
        self.session = None;
        self.seq = None;
    }

    /// A payload arrived at `now` (ms since the epoch); `jitter` in [0, 1)
    /// places the first heartbeat.
    pub fn received(&mut self, text: &str, now: u64, jitter: f64) -> Vec<Action> {
        let Ok(payload) = serde_json::from_str::<Value>(text) else {
            return vec![Action::Reconnect];
        };
        if let Some(s) = payload["s"].as_u64() {
            self.seq = Some(self.seq.map_or(s, |old| old.max(s)));
        }
        match payload["op"].as_u64() {
            Some(0) => {
                let t = payload["t"].as_str().unwrap_or_default().to_owned();
                let d = payload["d"].clone();
                match t.as_str() {
                    "READY" => {
                        self.ready = true;
                        let id = d["session_id"].as_str().unwrap_or_default().to_owned();
                        let url = d["resume_gateway_url"].as_str().unwrap_or_default().to_owned();
                        self.session = (!id.is_empty() && !url.is_empty()).then_some(Resumable { id, url });
                    }
                    "RESUMED" => self.ready = true,
                    _ => {}
                }
                vec![Action::Event(t, d)]
            }
            Some(1) => vec![self.beat(now)],
            Some(7) => vec![Action::Reconnect],
            Some(9) => {
                if payload["d"] != json!(true) {
                    self.forget();
                }
                vec![Action::ReconnectLater]
            }
            Some(10) => {
                let interval = payload["d"]["heartbeat_interval"].as_u64().unwrap_or(41_250).max(100);
                self.interval = Some(interval);
                self.acked = true;
                // Truncation is fine: a jitter in milliseconds.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
                let first = (interval as f64 * jitter.clamp(0.0, 1.0)) as u64;
                self.next_beat = now + first;
                vec![Action::Send(self.hello_answer())]
            }
            Some(11) => {
                self.acked = true;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Identify, or Resume when there is a session.
    fn hello_answer(&mut self) -> String {
        match (&self.session, self.seq) {
            (Some(session), Some(seq)) => {
                self.resuming = true;
                json!({ "op": 6, "d": { "token": self.token, "session_id": session.id, "seq": seq } }).to_string()
            }
            _ => {
                self.resuming = false;
                json!({ "op": 2, "d": {
                    "token": self.token, "intents": INTENTS,
                    "properties": { "os": "linux", "browser": "sinc-kimaki", "device": "sinc-kimaki" },
                }})
                .to_string()
            }
        }
    }

    fn beat(&mut self, now: u64) -> Action {
        self.acked = false;
        if let Some(interval) = self.interval {
            self.next_beat = now + interval;
        }
        Action::Send(json!({ "op": 1, "d": self.seq }).to_string())
    }

    /// Time passed: a heartbeat when one is due; a reconnect when the last
    /// was never acknowledged (a zombie connection).
    pub fn tick(&mut self, now: u64) -> Option<Action> {
        self.interval?;
        if now < self.next_beat {
            return None;
        }
        if !self.acked {
            return Some(Action::Reconnect);
        }
        Some(self.beat(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(actions: &[Action]) -> Vec<Value> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(text) => Some(serde_json::from_str(text).unwrap()),
                _ => None,
            })
            .collect()
    }

    fn ready(g: &mut Gateway) {
        g.connected();
        g.received(r#"{"op":10,"d":{"heartbeat_interval":1000}}"#, 0, 0.5);
        g.received(
            r#"{"op":0,"s":1,"t":"READY","d":{"session_id":"abc","resume_gateway_url":"wss://r.discord.gg"}}"#,
            10,
            0.0,
        );
    }

    #[test]
    fn hello_is_answered_with_identify_then_heartbeats_follow() {
        let mut g = Gateway::new("tok");
        g.connected();
        let first = sent(&g.received(r#"{"op":10,"d":{"heartbeat_interval":1000}}"#, 1000, 0.5));
        assert_eq!(first[0]["op"], 2);
        assert_eq!(first[0]["d"]["token"], "tok");
        assert_eq!(first[0]["d"]["intents"], 33281);
        assert!(!format!("{g:?}").contains("tok"), "the token is never shown");
        assert_eq!(g.tick(1400), None, "the first beat waits for its jitter");
        assert_eq!(sent(&[g.tick(1500).unwrap()])[0], json!({ "op": 1, "d": null }));
        g.received(r#"{"op":11}"#, 1510, 0.0);
        g.received(r#"{"op":0,"s":7,"t":"MESSAGE_CREATE","d":{}}"#, 1600, 0.0);
        assert_eq!(sent(&[g.tick(2500).unwrap()])[0], json!({ "op": 1, "d": 7 }), "with the last sequence");
    }

    #[test]
    fn an_unacknowledged_heartbeat_means_reconnect_and_resume() {
        let mut g = Gateway::new("tok");
        ready(&mut g);
        assert!(g.tick(500).is_some());
        assert_eq!(g.tick(1500), Some(Action::Reconnect), "no ACK came");
        g.disconnected();
        assert_eq!(g.resume_url(), Some("wss://r.discord.gg"));
        g.connected();
        let resume = sent(&g.received(r#"{"op":10,"d":{"heartbeat_interval":1000}}"#, 2000, 0.1));
        assert_eq!(resume[0], json!({ "op": 6, "d": { "token": "tok", "session_id": "abc", "seq": 1 } }));
        let events = g.received(r#"{"op":0,"s":2,"t":"RESUMED","d":{}}"#, 2010, 0.0);
        assert!(g.is_ready() && matches!(&events[0], Action::Event(t, _) if t == "RESUMED"));
    }

    #[test]
    fn invalid_session_and_failed_resumes_start_a_new_session() {
        let mut g = Gateway::new("tok");
        ready(&mut g);
        assert_eq!(g.received(r#"{"op":9,"d":true}"#, 20, 0.0), vec![Action::ReconnectLater]);
        assert!(g.resume_url().is_some(), "d: true keeps it");
        assert_eq!(g.received(r#"{"op":9,"d":false}"#, 20, 0.0), vec![Action::ReconnectLater]);
        assert!(g.resume_url().is_none());

        // A Resume the server closes (4007, 4009) is not tried again.
        let mut g = Gateway::new("tok");
        ready(&mut g);
        g.disconnected();
        g.connected();
        g.received(r#"{"op":10,"d":{"heartbeat_interval":1000}}"#, 0, 0.0);
        assert!(g.was_resuming());
        g.disconnected();
        assert!(g.resume_url().is_none());
        g.connected();
        assert_eq!(sent(&g.received(r#"{"op":10,"d":{"heartbeat_interval":1000}}"#, 0, 0.0))[0]["op"], 2);
    }

    #[test]
    fn the_server_asking_is_obeyed() {
        let mut g = Gateway::new("tok");
        ready(&mut g);
        assert_eq!(g.received(r#"{"op":7,"d":null}"#, 0, 0.0), vec![Action::Reconnect]);
        assert_eq!(sent(&g.received(r#"{"op":1,"d":null}"#, 0, 0.0))[0]["op"], 1, "a heartbeat at once");
        assert_eq!(g.received("not json", 0, 0.0), vec![Action::Reconnect]);
    }
}
