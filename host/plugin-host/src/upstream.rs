//! The connections a plugin's forwards go out on: pooled and kept alive
//! (a forward reuses an idle connection to the same upstream instead of
//! opening one), over TLS with the web's root certificates for `https`, no
//! system proxy, and bodies passed through as they are (no decompression).
//! One pool per plugin, and within it one per connect timeout the plugin
//! asks for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long an idle upstream connection is kept.
const IDLE: Duration = Duration::from_secs(90);

/// A plugin's pools.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    clients: Arc<Mutex<HashMap<Duration, reqwest::Client>>>,
}

impl Upstreams {
    /// The client whose connections time out after `connect`.
    pub fn client(&self, connect: Duration) -> Result<reqwest::Client, String> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&connect) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .connect_timeout(connect)
            .pool_idle_timeout(IDLE)
            .tcp_nodelay(true)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        clients.insert(connect, client.clone());
        Ok(client)
    }
}
