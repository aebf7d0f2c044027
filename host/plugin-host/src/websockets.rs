//! WebSockets a plugin opens to other servers (`websockets.connect`, SDK
//! 1.9): only to the hosts it may call, only for plugins the host keeps
//! running. Once open, a socket is one of the plugin's connections like
//! those on its ports ([`crate::serving::Connections`]): the same queue
//! out, the same calls back in, and it ends with the plugin.

use crate::bindings::sinc::plugin::types::HostError;
use crate::outbound::Outbound;
use crate::serving::{Connections, HOP_BY_HOP, Handler};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// How long opening may take: connecting, TLS and the handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest message either way.
pub const MAX_MESSAGE: usize = 16 << 20;
/// Opening a WebSocket is refused while the plugin has this many open
/// (those accepted on its ports count).
pub const MAX_SOCKETS: usize = 64;

/// Handshake headers the host sets itself (besides the hop-by-hop ones),
/// or that a handshake has no use for.
const OWN_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
];

/// The handshake request for `url` with `headers` added, if the plugin may
/// open it (a refusal names the missing permission).
pub fn request(outbound: &Outbound, url: &str, headers: &[(String, String)]) -> Result<http::Request<()>, HostError> {
    let failed = |why: String| HostError::Failed(why);
    let uri: http::Uri = url.parse().map_err(|e| failed(format!("{url:?} is not a URL: {e}")))?;
    let tls = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        _ => return Err(failed(format!("{url:?} is not a ws:// or wss:// URL"))),
    };
    let Some(host) = uri.host().map(str::to_owned) else {
        return Err(failed(format!("{url:?} names no host")));
    };
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(failed(
            "a WebSocket URL may not carry a user name or password: send credentials in headers".into(),
        ));
    }
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    if !outbound.allows_here(&host, port) {
        return Err(HostError::Denied(format!(
            "opening a WebSocket to {host}:{port} needs `hosts = [\"{host}\"]` (or a URL setting naming it) in the \
             plugin's manifest, accepted by the user"
        )));
    }
    let mut request = uri.into_client_request().map_err(|e| failed(format!("{url:?}: {e}")))?;
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if OWN_HEADERS.contains(&lower.as_str()) || HOP_BY_HOP.contains(&lower.as_str()) {
            return Err(failed(format!("the host sets `{name}` on a WebSocket handshake itself")));
        }
        let header = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| failed(format!("{name:?} is not a header name")))?;
        // Visible ASCII only (tungstenite sends nothing else).
        let value = Some(value)
            .filter(|v| v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
            .and_then(|v| http::HeaderValue::from_str(v).ok())
            .ok_or_else(|| failed(format!("the value of header {name} is not valid")))?;
        request.headers_mut().append(header, value);
    }
    Ok(request)
}

/// Open `request`'s socket for the plugin whose calls go to `handler`:
/// its connection. Blocks the calling thread (the plugin's, never a
/// runtime thread) for up to [`CONNECT_TIMEOUT`].
pub fn open(
    connections: &Arc<Connections>,
    handler: Arc<dyn Handler>,
    request: http::Request<()>,
) -> Result<u64, String> {
    if connections.sockets() >= MAX_SOCKETS {
        return Err(format!("a plugin may have {MAX_SOCKETS} WebSockets open at once; finish one first"));
    }
    // Only the host and path are named: a query may carry a secret.
    let place = format!("{}{}", request.uri().authority().map_or("", |a| a.as_str()), request.uri().path());
    let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
    let opening = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    let opened = crate::own_runtime::block_on(connections.runtime(), async {
        tokio::time::timeout(CONNECT_TIMEOUT, opening).await
    });
    let (socket, _) = opened
        .map_err(|_| format!("opening a WebSocket to {place}: no answer within {}s", CONNECT_TIMEOUT.as_secs()))?
        .map_err(|e| format!("opening a WebSocket to {place}: {e}"))?;
    connections.adopt(socket, handler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::sinc::plugin::http_types::Message;
    use futures_util::{SinkExt, StreamExt};
    use std::sync::Mutex;
    use tokio::sync::oneshot;
    use tokio_tungstenite::tungstenite;

    fn denied(e: HostError) -> String {
        match e {
            HostError::Denied(why) => why,
            HostError::Failed(why) => panic!("failed, not denied: {why}"),
        }
    }

    #[test]
    fn only_allowed_hosts_and_ws_urls_are_opened() {
        let outbound = Outbound::new("bot", &["gateway.example".to_owned(), "127.0.0.1:9000".to_owned()]);
        let ok =
            request(&outbound, "wss://gateway.example/?v=10", &[("authorization".into(), "Bot x".into())]).unwrap();
        assert_eq!(ok.headers()["authorization"], "Bot x");
        assert!(ok.headers().contains_key("sec-websocket-key"));
        request(&outbound, "ws://127.0.0.1:9000/gateway", &[]).unwrap();
        request(&outbound, "wss://GATEWAY.example:443/", &[("Sec-WebSocket-Protocol".into(), "json".into())]).unwrap();
        let why = denied(request(&outbound, "ws://127.0.0.1:9001/", &[]).unwrap_err());
        assert!(why.contains("127.0.0.1:9001") && why.contains("hosts = [\"127.0.0.1\"]"), "{why}");
        denied(request(&outbound, "wss://elsewhere.example/", &[]).unwrap_err());
        for (url, headers) in [
            ("https://gateway.example/", vec![]),
            ("gateway.example", vec![]),
            ("wss://gateway.example/", vec![("Host".to_owned(), "x".to_owned())]),
            ("wss://gateway.example/", vec![("bad name".to_owned(), "x".to_owned())]),
            ("wss://gateway.example/", vec![("x-a".to_owned(), "line\nbreak".to_owned())]),
            ("wss://gateway.example/", vec![("x-a".to_owned(), "é".to_owned())]),
            ("wss://gateway.example/", vec![("Transfer-Encoding".to_owned(), "chunked".to_owned())]),
            ("wss://user:pw@gateway.example/", vec![]),
            ("wss://a@evil@gateway.example/", vec![]),
        ] {
            assert!(matches!(request(&outbound, url, &headers), Err(HostError::Failed(_))), "{url} {headers:?}");
        }
    }

    /// What the plugin would have been told.
    #[derive(Default)]
    struct Heard(Mutex<Vec<String>>);

    impl Handler for Heard {
        fn handle(&self, _: crate::Request) -> oneshot::Receiver<crate::Reply> {
            oneshot::channel().1
        }
        fn forwarded(&self, _: crate::Exchange) {}
        fn on_message(&self, connection: u64, message: Message) -> oneshot::Receiver<()> {
            let text = match message {
                Message::Text(t) => format!("{connection} text {t}"),
                Message::Binary(b) => format!("{connection} binary {}", b.len()),
            };
            self.0.lock().unwrap().push(text);
            oneshot::channel().1
        }
        fn on_close(&self, connection: u64, code: u16, reason: String) {
            self.0.lock().unwrap().push(format!("{connection} closed with {code} {reason}"));
        }
        fn closed(&self, connection: u64) {
            self.0.lock().unwrap().push(format!("{connection} closed"));
        }
        fn filter(&self, _: u64, _: bytes::Bytes, _: bool) -> oneshot::Receiver<Vec<u8>> {
            oneshot::channel().1
        }
        fn failed(&self, _: u64, _: u16, _: String) -> oneshot::Receiver<Option<crate::Response>> {
            oneshot::channel().1
        }
    }

    fn wait_for(heard: &Heard, line: &str) {
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while !heard.0.lock().unwrap().iter().any(|l| l == line) {
            assert!(std::time::Instant::now() < until, "never heard {line:?}: {:?}", heard.0.lock().unwrap());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A real server: the handshake carries the plugin's header, messages
    /// go both ways, the server's close is heard, and `finish` closes.
    #[test]
    #[expect(clippy::result_large_err, reason = "the handshake callback's type is tungstenite's")]
    fn a_socket_carries_messages_both_ways_and_its_end_is_heard() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (seen_tx, seen) = std::sync::mpsc::channel::<String>();
        runtime.spawn(async move {
            // Two clients: the first is echoed and then closed by the
            // server; the second is closed by the plugin.
            for round in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                let told = seen_tx.clone();
                let check = move |request: &tungstenite::handshake::server::Request, response| {
                    let auth = request.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned());
                    told.send(format!("auth {}", auth.unwrap_or_default())).unwrap();
                    Ok(response)
                };
                let mut socket = tokio_tungstenite::accept_hdr_async(stream, check).await.unwrap();
                if round == 0 {
                    let got = socket.next().await.unwrap().unwrap();
                    socket.send(tungstenite::Message::text(format!("echo {}", got.to_text().unwrap()))).await.unwrap();
                    socket.send(tungstenite::Message::binary(vec![7u8; 3])).await.unwrap();
                    let bye = tungstenite::protocol::CloseFrame {
                        code: tungstenite::protocol::frame::coding::CloseCode::from(4004),
                        reason: "Authentication failed.".into(),
                    };
                    socket.close(Some(bye)).await.unwrap();
                } else {
                    while let Some(Ok(message)) = socket.next().await {
                        if message.is_close() {
                            seen_tx.send("plugin closed".into()).unwrap();
                        }
                    }
                }
            }
        });
        let connections = Arc::new(Connections::new("bot", runtime.handle().clone()));
        let heard = Arc::new(Heard::default());
        let outbound = Outbound::new("bot", &["127.0.0.1".to_owned()]);
        let url = format!("ws://127.0.0.1:{port}/gateway?v=10");
        let auth = [("Authorization".to_owned(), "Bot s3cret".to_owned())];
        let id = open(&connections, heard.clone(), request(&outbound, &url, &auth).unwrap()).unwrap();
        assert_eq!(seen.recv_timeout(Duration::from_secs(10)).unwrap(), "auth Bot s3cret");
        connections.send_message(id, Message::Text("hello".into())).unwrap();
        wait_for(&heard, &format!("{id} text echo hello"));
        wait_for(&heard, &format!("{id} binary 3"));
        wait_for(&heard, &format!("{id} closed"));
        let lines = heard.0.lock().unwrap().clone();
        let code_at = lines.iter().position(|l| *l == format!("{id} closed with 4004 Authentication failed."));
        assert!(code_at.is_some_and(|i| lines[i + 1] == format!("{id} closed")), "the code, then closed: {lines:?}");
        assert!(connections.send_message(id, Message::Text("late".into())).is_err(), "gone once closed");

        let second = open(&connections, heard.clone(), request(&outbound, &url, &auth).unwrap()).unwrap();
        assert_ne!(second, id);
        seen.recv_timeout(Duration::from_secs(10)).unwrap();
        connections.finish(second);
        assert_eq!(seen.recv_timeout(Duration::from_secs(10)).unwrap(), "plugin closed");
        std::thread::sleep(Duration::from_millis(100));
        let lines = heard.0.lock().unwrap().clone();
        assert!(
            !lines.iter().any(|l| l.starts_with(&format!("{second} closed"))),
            "finish is not reported back: {lines:?}"
        );

        let refused = open(&connections, heard, request(&outbound, "ws://127.0.0.1:9/", &[]).unwrap()).unwrap_err();
        assert!(refused.starts_with("opening a WebSocket to 127.0.0.1:9/"), "{refused}");
    }

    /// A plugin that has not handled its messages yet.
    #[derive(Default)]
    struct Slow {
        heard: Mutex<usize>,
        unhandled: Mutex<Vec<oneshot::Sender<()>>>,
    }

    impl Handler for Slow {
        fn handle(&self, _: crate::Request) -> oneshot::Receiver<crate::Reply> {
            oneshot::channel().1
        }
        fn forwarded(&self, _: crate::Exchange) {}
        fn on_message(&self, _: u64, _: Message) -> oneshot::Receiver<()> {
            *self.heard.lock().unwrap() += 1;
            let (handled, answer) = oneshot::channel();
            self.unhandled.lock().unwrap().push(handled);
            answer
        }
        fn on_close(&self, _: u64, _: u16, _: String) {}
        fn closed(&self, _: u64) {}
        fn filter(&self, _: u64, _: bytes::Bytes, _: bool) -> oneshot::Receiver<Vec<u8>> {
            oneshot::channel().1
        }
        fn failed(&self, _: u64, _: u16, _: String) -> oneshot::Receiver<Option<crate::Response>> {
            oneshot::channel().1
        }
    }

    /// A server faster than the plugin waits for it (nothing piles up in
    /// memory), and a plugin cannot open sockets without end.
    #[test]
    fn a_fast_server_waits_for_the_plugin_and_sockets_are_capped() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        runtime.spawn(async move {
            let mut first = true;
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let flood = std::mem::take(&mut first);
                tokio::spawn(async move {
                    let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
                    if flood {
                        for i in 0..100 {
                            if socket.send(tungstenite::Message::text(format!("{i}"))).await.is_err() {
                                return;
                            }
                        }
                    }
                    while let Some(Ok(_)) = socket.next().await {}
                });
            }
        });
        let connections = Arc::new(Connections::new("bot", runtime.handle().clone()));
        let slow = Arc::new(Slow::default());
        let outbound = Outbound::new("bot", &["127.0.0.1".to_owned()]);
        let url = format!("ws://127.0.0.1:{port}/");
        open(&connections, slow.clone(), request(&outbound, &url, &[]).unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(*slow.heard.lock().unwrap(), crate::serving::MESSAGES_IN_FLIGHT, "the rest waits");
        // Handled: the rest follows.
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while *slow.heard.lock().unwrap() < 100 {
            assert!(std::time::Instant::now() < until, "only {} arrived", slow.heard.lock().unwrap());
            for handled in slow.unhandled.lock().unwrap().drain(..) {
                let _ = handled.send(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }

        let heard = Arc::new(Heard::default());
        for _ in 1..MAX_SOCKETS {
            open(&connections, heard.clone(), request(&outbound, &url, &[]).unwrap()).unwrap();
        }
        let refused = open(&connections, heard, request(&outbound, &url, &[]).unwrap()).unwrap_err();
        assert!(refused.contains("64 WebSockets open at once"), "{refused}");
    }
}
