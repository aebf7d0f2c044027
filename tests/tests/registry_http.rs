//! The registry over HTTP (a local server speaking plain HTTP on loopback,
//! the one place sinc allows it) and minisign signatures: a signed artifact
//! installs with the key configured; a wrong signature, a missing one, a
//! plain-HTTP registry elsewhere and an unreachable one are refused with
//! their exit statuses, and install nothing.

use sinc_tests::{Client, HttpServer, free_port, plugin_component, stderr};

/// A registry served from `site/registry`.
fn serve(site: &std::path::Path) -> HttpServer {
    let mut server = HttpServer::serve(site);
    server.url.push_str("/registry");
    server
}

fn publish(client: &Client, root: &std::path::Path, signature: Option<&std::path::Path>) {
    let hello = plugin_component("hello");
    let mut args = vec!["plugin".to_owned(), "publish".into(), hello.to_string_lossy().into_owned()];
    args.extend(["--registry".into(), root.to_string_lossy().into_owned()]);
    if let Some(s) = signature {
        args.extend(["--signature".into(), s.to_string_lossy().into_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    client.ok(&args);
}

fn sign(data: &[u8]) -> (String, String) {
    let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let signature = minisign::sign(Some(&pair.pk), &pair.sk, data, None, None).unwrap();
    (pair.pk.to_base64(), signature.into_string())
}

#[test]
fn plugins_install_from_an_http_registry_and_signatures_are_checked() {
    let mut client = Client::bare();
    let site = client.scratch().join("site");
    let root = site.join("registry");
    let wasm = std::fs::read(plugin_component("hello")).unwrap();
    let (key, signature) = sign(&wasm);
    let sig_file = client.scratch().join("hello.wasm.minisig");
    std::fs::write(&sig_file, &signature).unwrap();
    publish(&client, &root, Some(&sig_file));
    assert_eq!(std::fs::read_to_string(root.join("index/NAMES")).unwrap(), "hello\n");
    let server = serve(&site);
    client.set_env("SINC_REGISTRY", &server.url);

    let search = client.ok(&["plugin", "search"]);
    assert!(search.contains("hello"), "{search}");
    // Signed, and the key is configured: it installs.
    client.set_env("SINC_REGISTRY_KEY", &key);
    client.ok(&["plugin", "add", "hello", "--yes"]);
    assert_eq!(client.json(&["plugin", "list"])[0]["name"], "hello");
    client.ok(&["plugin", "remove", "hello"]);

    // Another key: the signature does not verify; nothing is installed.
    let (other, _) = sign(b"other");
    client.set_env("SINC_REGISTRY_KEY", &other);
    let out = client.run(&["plugin", "add", "hello", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("signature does not verify with the registry key"), "{}", stderr(&out));
    assert_eq!(client.json(&["plugin", "list"]), serde_json::json!([]));
    client.set_env("SINC_REGISTRY_KEY", "not a key");
    let out = client.run(&["plugin", "add", "hello", "--yes"]);
    assert!(stderr(&out).contains("is not a minisign public key"), "{}", stderr(&out));

    // An unsigned registry with a key configured: refused.
    let unsigned_site = client.scratch().join("unsigned");
    publish(&client, &unsigned_site.join("registry"), None);
    let unsigned = serve(&unsigned_site);
    client.set_env("SINC_REGISTRY", &unsigned.url);
    client.set_env("SINC_REGISTRY_KEY", &key);
    let out = client.run(&["plugin", "add", "hello", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("it is not signed, and a registry key is configured"), "{}", stderr(&out));

    // Plain HTTP beyond this machine, and a registry nobody serves.
    client.set_env("SINC_REGISTRY", "http://example.invalid/registry");
    let out = client.run(&["plugin", "search"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("must be an https:// URL"), "{}", stderr(&out));
    client.set_env("SINC_REGISTRY", &format!("http://127.0.0.1:{}/registry", free_port()));
    let out = client.run(&["plugin", "add", "hello", "--yes"]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(stderr(&out).contains("the registry at http://127.0.0.1:"), "{}", stderr(&out));
    assert_eq!(client.json(&["plugin", "list"]), serde_json::json!([]));
}
