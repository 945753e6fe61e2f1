//! The audit log and API key limits, seen from outside: records written by
//! the running server, checked with `balena-sign audit`.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::{assert_error, b64decode, b64encode, binary, run, Server, ServerOptions};
use crate::mock_balena::{self, MockBalena};

fn records(server: &Server) -> Vec<Value> {
    let text = std::fs::read_to_string(server.store.join("audit.jsonl")).unwrap();
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

fn audit_command(server: &Server, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .arg("audit")
        .args(args)
        .arg("--store")
        .arg(&server.store)
        .output()
        .unwrap()
}

fn create_api_key(server: &Server, name: &str, limits: &[&str]) -> String {
    let output = Command::new(binary())
        .args(["api-key", "create", name])
        .args(limits)
        .arg("--store")
        .arg(&server.store)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn audit_records_each_operation() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        server
            .post("/cert", &json!({ "cert_id": "disk", "subject": "/CN=disk" }))
            .status,
        200
    );
    let digest = "5a".repeat(32);
    let signature = server.post("/cert/sign", &json!({ "cert_id": "disk", "digest": digest }));
    let key_id = server.post("/rsa/key", &json!({})).field("fingerprint").to_owned();
    let payload = b"raspberry pi boot image";
    let rpi = server.post("/rsa/sign", &json!({ "key_id": key_id, "payload": b64encode(payload) }));
    assert_error(&server.post_as("/rsa/key", &json!({}), None), 401, &[]);
    assert_error(&server.post_as("/rsa/key", &json!({}), Some("bsk_wrong")), 401, &[]);
    assert_error(
        &server.post("/cert/sign", &json!({ "cert_id": "nobody", "digest": digest })),
        404,
        &[],
    );

    let records = records(&server);
    let operations: Vec<&str> = records.iter().map(|r| r["operation"].as_str().unwrap()).collect();
    assert_eq!(
        operations,
        [
            "cert.create",
            "cert.sign",
            "rsa.create",
            "rsa.sign",
            "auth",
            "auth",
            "cert.sign"
        ]
    );
    let results: Vec<&str> = records.iter().map(|r| r["result"].as_str().unwrap()).collect();
    assert_eq!(
        results,
        [
            "ok",
            "ok",
            "ok",
            "ok",
            "MISSING_API_KEY",
            "INVALID_API_KEY",
            "NOT_FOUND"
        ]
    );

    assert_eq!(records[0]["caller"], "initial");
    assert_eq!(records[0]["key_id"], "disk");
    assert_eq!(records[1]["payload_sha256"], digest);
    let signature_bytes = b64decode(signature.field("signature"));
    std::fs::write(dir.path().join("signature.bin"), &signature_bytes).unwrap();
    let signature_sha256 = run(dir.path(), "sha256sum", &["signature.bin"]);
    assert_eq!(
        records[1]["output_sha256"],
        signature_sha256.split_whitespace().next().unwrap()
    );

    assert_eq!(records[2]["key_id"], key_id.as_str());
    std::fs::write(dir.path().join("payload"), payload).unwrap();
    let payload_sha256 = run(dir.path(), "sha256sum", &["payload"]);
    assert_eq!(
        records[3]["payload_sha256"],
        payload_sha256.split_whitespace().next().unwrap()
    );
    std::fs::write(dir.path().join("digest-file"), b64decode(rpi.field("signature"))).unwrap();
    let output_sha256 = run(dir.path(), "sha256sum", &["digest-file"]);
    assert_eq!(
        records[3]["output_sha256"],
        output_sha256.split_whitespace().next().unwrap()
    );
    assert_eq!(records[4]["caller"], "unauthenticated");

    for record in &records {
        assert!(
            record["request_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{record}"
        );
        assert!(record["time"].as_str().unwrap().ends_with('Z'), "{record}");
    }
    let text = std::fs::read_to_string(server.store.join("audit.jsonl")).unwrap();
    assert!(!text.contains(&server.api_key), "audit log contains the API key");
    assert!(!text.contains("raspberry pi"), "audit log contains a payload");

    let verify = audit_command(&server, &["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("7 records, chain intact"));
    let tail = audit_command(&server, &["tail", "-n", "2"]);
    let tail = String::from_utf8(tail.stdout).unwrap();
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert!(
        tail.lines().last().unwrap().contains("cert.sign nobody NOT_FOUND"),
        "{tail}"
    );
}

#[test]
fn edited_record_fails_verify() {
    let server = Server::start();
    for id in ["a", "b", "c"] {
        assert_eq!(
            server
                .post("/cert", &json!({ "cert_id": id, "subject": "/CN=x" }))
                .status,
            200
        );
    }
    let path = server.store.join("audit.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"key_id\":\"b\"", "\"key_id\":\"z\"", 1)).unwrap();

    let verify = audit_command(&server, &["verify"]);
    assert!(!verify.status.success());
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(stderr.contains("line 3"), "{stderr}");

    let removed: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 0)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&path, removed.join("\n") + "\n").unwrap();
    let verify = audit_command(&server, &["verify"]);
    assert!(String::from_utf8_lossy(&verify.stderr).contains("line 1"));
}

#[test]
fn audit_failure_withholds_results() {
    let mut server = Server::start();
    assert_eq!(
        server
            .post("/cert", &json!({ "cert_id": "db", "subject": "/CN=db" }))
            .status,
        200
    );
    let store = server.store.clone();
    let api_key = server.api_key.clone();
    server.stop();

    let full = Server::start_with(ServerOptions {
        store: Some(store),
        args: vec!["--audit-log".into(), "/dev/full".into()],
        ..ServerOptions::default()
    });
    assert_eq!(full.api_key, api_key);

    let reply = full.post("/cert/sign", &json!({ "cert_id": "db", "digest": "00".repeat(32) }));
    assert_error(&reply, 503, &["audit log"]);
    assert!(reply.json.get("signature").is_none());
    assert_eq!(reply.json["code"], "AUDIT_UNAVAILABLE");

    assert_error(
        &full.post("/cert", &json!({ "cert_id": "new", "subject": "/CN=new" })),
        503,
        &["audit log"],
    );
    assert_error(&full.get("/cert/new"), 404, &["not found"]);
    assert_error(&full.post("/rsa/key", &json!({})), 503, &["audit log"]);
    assert_eq!(full.get("/rsa/keys").json, json!({ "keys": [] }));
    assert!(full.logs().contains("cannot write audit records"));
}

#[test]
fn chain_stays_intact_under_load() {
    let server = Server::start();
    assert_eq!(
        server
            .post("/cert", &json!({ "cert_id": "db", "subject": "/CN=db" }))
            .status,
        200
    );
    std::thread::scope(|scope| {
        for client in 0..8 {
            let server = &server;
            scope.spawn(move || {
                for i in 0..20 {
                    let digest = format!("{:064x}", client * 100 + i);
                    let reply = server.post("/cert/sign", &json!({ "cert_id": "db", "digest": digest }));
                    assert_eq!(reply.status, 200, "{}", reply.json);
                }
            });
        }
    });
    let verify = audit_command(&server, &["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("161 records"));
    let seqs: Vec<u64> = records(&server).iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=161).collect::<Vec<_>>());
}

#[test]
fn limited_key_stays_within_limits() {
    let server = Server::start();
    for id in ["balenaos-db", "other-db"] {
        assert_eq!(
            server
                .post("/cert", &json!({ "cert_id": id, "subject": "/CN=x" }))
                .status,
            200
        );
    }
    let signer = create_api_key(&server, "ci", &["--allow", "sign", "--keys", "balenaos-*"]);
    let creator = create_api_key(
        &server,
        "provisioning",
        &["--allow", "create,sign", "--keys", "balenaos-*"],
    );
    let wildcard = create_api_key(&server, "any", &["--allow", "create", "--keys", "*"]);
    let digest = "11".repeat(32);

    let sign =
        |key: &str, id: &str| server.post_as("/cert/sign", &json!({ "cert_id": id, "digest": digest }), Some(key));
    let create =
        |key: &str, id: &str| server.post_as("/cert", &json!({ "cert_id": id, "subject": "/CN=y" }), Some(key));

    assert_eq!(sign(&signer, "balenaos-db").status, 200);
    assert_error(&sign(&signer, "other-db"), 403, &["may not use key 'other-db'"]);
    assert_error(&create(&signer, "balenaos-new"), 403, &["may not create"]);
    assert_error(
        &server.post_as("/rsa/key", &json!({}), Some(&signer)),
        403,
        &["may not create"],
    );

    assert_eq!(create(&creator, "balenaos-new").status, 200);
    assert_error(&create(&creator, "other-new"), 403, &["other-new"]);
    assert_error(
        &server.post_as("/rsa/key", &json!({}), Some(&creator)),
        403,
        &["server-named"],
    );
    assert_eq!(server.post_as("/rsa/key", &json!({}), Some(&wildcard)).status, 200);
    assert_error(&server.get("/cert/other-new"), 404, &[]);

    let denied: Vec<Value> = records(&server)
        .into_iter()
        .filter(|r| r["result"] == "FORBIDDEN")
        .collect();
    assert_eq!(denied.len(), 5);
    assert_eq!(denied[0]["caller"], "ci");
    assert_eq!(denied[0]["key_id"], "other-db");

    let list = Command::new(binary())
        .args(["api-key", "list", "--store"])
        .arg(&server.store)
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with("ci\t") && l.ends_with("sign on balenaos-*")),
        "{list}"
    );
}

#[test]
fn fleet_limits_apply_to_cloud_keys() {
    let mock = MockBalena::start();
    let server = Server::start_with(ServerOptions {
        env: vec![
            ("FLEET_ID".into(), mock_balena::FLEET_ID.into()),
            ("BALENA_API_URL".into(), mock.url.clone()),
            ("BALENASIGN_FLEET_ALLOW".into(), "sign".into()),
        ],
        ..ServerOptions::default()
    });
    let reply = server.post_as(
        "/cert",
        &json!({ "cert_id": "x", "subject": "/CN=x" }),
        Some(mock_balena::GOOD_KEY),
    );
    assert_error(&reply, 403, &["may not create"]);
    let record = records(&server).pop().unwrap();
    assert!(
        record["caller"].as_str().unwrap().starts_with("balena-cloud:"),
        "{record}"
    );
}

#[test]
fn bad_fleet_limits_stop_startup() {
    let err = Server::try_start(ServerOptions {
        env: vec![
            ("FLEET_ID".into(), "1".into()),
            ("BALENASIGN_FLEET_ALLOW".into(), "sign,everything".into()),
        ],
        ..ServerOptions::default()
    })
    .err()
    .expect("server started with bad BALENASIGN_FLEET_ALLOW");
    assert!(err.contains("BALENASIGN_FLEET_ALLOW"), "{err}");
}
