//! Helpers shared by the tests that drive sinc's library in-process.

use sinc::transport::{self, ConnectOptions, Connection, Defaults, Overrides, SshConfigFile};
use sinc_tests::Client;
use std::sync::Arc;
use std::time::Duration;

/// Connect to the client's `sinc-test` host the way the CLI would, without
/// prompts.
pub async fn connect(client: &Client) -> Arc<Connection> {
    let defaults = Defaults { connect_timeout: Duration::from_secs(10), keepalive_interval: Duration::from_secs(15) };
    let target =
        SshConfigFile::load(&client.home).unwrap().resolve("sinc-test", &Overrides::default(), &defaults).unwrap();
    transport::connect(&target, ConnectOptions::unattended(None)).await.unwrap()
}
