//! Operations endpoints: HTTPS, `/metrics` and `/openapi.json`.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::{run, Server, ServerOptions};

#[test]
fn https_serves_curl() {
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            "tls.key",
            "-out",
            "tls.crt",
        ],
    );
    let server = Server::start_with(ServerOptions {
        args: vec![
            "--tls-cert".into(),
            dir.path().join("tls.crt").display().to_string(),
            "--tls-key".into(),
            dir.path().join("tls.key").display().to_string(),
        ],
        ..ServerOptions::default()
    });
    let url = format!("{}/health", server.base.replace("http://", "https://"));

    let output = run(
        dir.path(),
        "curl",
        &["--silent", "--show-error", "--fail", "--cacert", "tls.crt", &url],
    );
    assert_eq!(
        serde_json::from_str::<Value>(&output).unwrap(),
        json!({ "status": "ok" })
    );
    let plain = Command::new("curl")
        .args(["--silent", "--fail", &format!("{}/health", server.base)])
        .output()
        .unwrap();
    assert!(!plain.status.success(), "plain HTTP must not work on an HTTPS server");
    assert!(server.logs().contains("\"scheme\":\"https\""));

    // The container health check follows the server's scheme.
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let health = |tls: bool| {
        let mut command = Command::new(crate::common::binary());
        command.args(["health", "--listen", &format!("127.0.0.1:{port}")]);
        if tls {
            command.env("BALENASIGN_TLS_CERT", dir.path().join("tls.crt"));
        }
        command.output().unwrap()
    };
    let over_https = health(true);
    assert!(
        over_https.status.success(),
        "{}",
        String::from_utf8_lossy(&over_https.stderr)
    );
    let over_http = health(false);
    assert!(!over_http.status.success());
    let message = String::from_utf8_lossy(&over_http.stderr);
    assert!(message.contains("responded with TLS"), "{message}");
}

#[test]
fn tls_needs_both_files() {
    let err = Server::try_start(ServerOptions {
        args: vec!["--tls-cert".into(), "/nonexistent.crt".into()],
        ..ServerOptions::default()
    })
    .err()
    .expect("started with a certificate but no key");
    assert!(err.contains("--tls-key"), "{err}");

    let err = Server::try_start(ServerOptions {
        args: vec![
            "--tls-cert".into(),
            "/nonexistent.crt".into(),
            "--tls-key".into(),
            "/nonexistent.key".into(),
        ],
        ..ServerOptions::default()
    })
    .err()
    .expect("started with missing TLS files");
    assert!(
        err.contains("cannot load the TLS certificate /nonexistent.crt"),
        "{err}"
    );
}

#[test]
fn metrics_count_requests_and_signatures() {
    let server = Server::start();
    assert_eq!(
        server
            .post("/cert", &json!({ "cert_id": "db", "subject": "/CN=db" }))
            .status,
        200
    );
    for _ in 0..3 {
        assert_eq!(
            server
                .post("/cert/sign", &json!({ "cert_id": "db", "digest": "ab".repeat(32) }))
                .status,
            200
        );
    }
    assert_eq!(
        server
            .post("/cert/sign", &json!({ "cert_id": "none", "digest": "ab".repeat(32) }))
            .status,
        404
    );

    let response = reqwest::blocking::get(format!("{}/metrics", server.base)).unwrap();
    assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4");
    let text = response.text().unwrap();
    for expected in [
        "balena_sign_requests_total{route=\"/cert/sign\",method=\"POST\",status=\"200\"} 3",
        "balena_sign_requests_total{route=\"/cert/sign\",method=\"POST\",status=\"404\"} 1",
        "balena_sign_request_duration_seconds_count{route=\"/cert/sign\"} 4",
        "balena_sign_signatures_total{operation=\"cert.sign\",key_id=\"db\"} 3",
        "balena_sign_signed_bytes_total{operation=\"cert.sign\"} 96",
        "balena_sign_auth_cache_hits_total 0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn openapi_matches_routes() {
    let server = Server::start();
    let document = server.get("/openapi.json").json;
    assert_eq!(document["openapi"], "3.0.3");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 25, "{} paths", paths.len());

    let client = reqwest::blocking::Client::new();
    let mut checked = 0;
    for (path, methods) in paths {
        let concrete = path.replace("{variable}", "pk").replace(['{', '}'], "");
        for (method, operation) in methods.as_object().unwrap() {
            let url = format!("{}{concrete}", server.base);
            let response = match method.as_str() {
                "get" => client.get(&url).send().unwrap(),
                "post" => client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .body("{}")
                    .send()
                    .unwrap(),
                other => panic!("unexpected method {other} for {path}"),
            };
            let status = response.status().as_u16();
            let body: Value = response.json().unwrap_or(Value::Null);
            assert_ne!(
                body["code"], "ROUTE_NOT_FOUND",
                "{method} {path} is documented but not routed"
            );
            assert_ne!(status, 405, "{method} {path} is documented with the wrong method");
            if method == "post" {
                assert_eq!(status, 401, "{method} {path} must need an API key");
                assert!(operation["security"].is_array(), "{path} documents no security");
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked} operations checked");
}
