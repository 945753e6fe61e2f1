use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::common::{assert_error, b64encode, snapshot, Server, ServerOptions};

#[test]
fn health_is_ok() {
    let server = Server::start();
    let reply = server.get("/health");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json, json!({ "status": "ok" }));
}

#[test]
fn body_over_limit_is_413() {
    let server = Server::start_with(ServerOptions {
        args: vec!["--max-body".into(), "4KiB".into()],
        ..ServerOptions::default()
    });
    let id = server.post("/rsa/key", &json!({})).field("fingerprint").to_owned();
    let before = snapshot(&server.store);

    let small = server.post(
        "/rsa/sign",
        &json!({ "key_id": id, "payload": b64encode(&[1u8; 1000]) }),
    );
    assert_eq!(small.status, 200, "{}", small.json);

    let large = server.post(
        "/rsa/sign",
        &json!({ "key_id": id, "payload": b64encode(&[1u8; 8000]) }),
    );
    assert_error(&large, 413, &["4096 bytes"]);
    assert_eq!(large.json["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(snapshot(&server.store), before);
}

#[test]
fn unknown_route_and_method_are_json_errors() {
    let server = Server::start();
    assert_error(&server.get("/no/such/thing"), 404, &["no such endpoint"]);
    let wrong_method = server.post("/health", &json!({}));
    assert_error(&wrong_method, 405, &["method not allowed"]);
}

#[test]
fn request_id_is_returned_and_logged() {
    let server = Server::start();
    let reply = server.get("/health");
    let id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);
    assert!(server.logs().contains(&id));
}

#[test]
fn sigterm_stops_cleanly() {
    let mut server = Server::start();
    assert_eq!(server.get("/health").status, 200);
    let status = server.stop();
    assert!(status.success(), "{status}");
    assert!(server.logs().contains("SIGTERM received"), "{}", server.logs());
    assert!(server.logs().contains("\"stopped\""), "{}", server.logs());
}

#[test]
fn refuses_store_writable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir_all(store.join("x509")).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(store.join("x509"), std::fs::Permissions::from_mode(0o777)).unwrap();

    let err = Server::try_start(ServerOptions {
        store: Some(store.clone()),
        ..ServerOptions::default()
    })
    .err()
    .expect("server started on an unsafe store");
    assert!(err.contains(&store.join("x509").display().to_string()), "{err}");
    assert!(err.contains("0777"), "{err}");
    assert!(err.contains("chmod go-w"), "{err}");
}

#[test]
fn restart_keeps_keys_and_initial_api_key() {
    let mut server = Server::start();
    let pem = server
        .post("/cert", &json!({ "cert_id": "kept", "subject": "/CN=kept" }))
        .field("cert")
        .to_owned();
    let api_key = server.api_key.clone();
    let store = server.store.clone();
    let _ = server.stop();

    let again = Server::start_with(ServerOptions {
        store: Some(store),
        ..ServerOptions::default()
    });
    assert_eq!(again.api_key, api_key);
    assert_eq!(again.get("/cert/kept").field("cert"), pem);
    assert_eq!(again.post("/rsa/key", &json!({})).status, 200);
}

#[test]
fn empty_settings_count_as_unset() {
    let server = Server::start_with(ServerOptions {
        env: vec![
            ("BALENASIGN_MAX_BODY".into(), String::new()),
            ("BALENASIGN_AUDIT_LOG".into(), String::new()),
            ("BALENASIGN_TLS_CERT".into(), String::new()),
            ("FLEET_ID".into(), String::new()),
            ("RUST_LOG".into(), String::new()),
        ],
        ..ServerOptions::default()
    });
    assert!(server.logs().contains("\"max_body\":536870912"), "{}", server.logs());
    assert!(server.store.join("audit.jsonl").exists());
    assert_eq!(server.post("/rsa/key", &json!({})).status, 200);
}

#[test]
fn zero_body_limit_is_rejected() {
    let err = Server::try_start(ServerOptions {
        args: vec!["--max-body".into(), "0".into()],
        ..ServerOptions::default()
    })
    .err()
    .expect("started with a zero body limit");
    assert!(err.contains("must be more than 0"), "{err}");
}
