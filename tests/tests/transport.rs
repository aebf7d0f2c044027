//! The transport library on a real sshd: client-initiated re-keys while idle
//! and in the middle of a bulk transfer must neither stall nor drop the
//! connection, and channels stay usable afterwards.

mod common;

use sinc::transport::Link;
use sinc_tests::{Client, Sshd, SshdOptions};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_initiated_rekeys_while_idle_and_streaming() {
    let sshd = Sshd::start_with(SshdOptions { extra_config: vec!["LogLevel DEBUG1".into()], ..SshdOptions::default() });
    let client = Client::new(&sshd, "true");
    let conn = common::connect(&client).await;
    let link = Link::on(conn.clone());
    let kexinits = || sshd.log().matches("SSH2_MSG_KEXINIT received").count();
    let initial = kexinits();

    // Idle.
    conn.rekey().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), conn.ping()).await.expect("ping after an idle re-key").unwrap();
    let out = link.run("echo alive", b"").await.unwrap();
    assert_eq!(out.stdout_text(), "alive\n");

    // During a 30 MB stream.
    let stream = link.run("head -c 30000000 /dev/zero", b"");
    let rekeys = async {
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            conn.rekey().await.unwrap();
        }
    };
    let (out, ()) = tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(stream, rekeys) })
        .await
        .expect("stream stalled");
    let out = out.unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 30_000_000);
    assert!(!conn.is_closed());
    assert!(kexinits() >= initial + 2, "the server saw no client re-key: {} → {}", initial, kexinits());
}
