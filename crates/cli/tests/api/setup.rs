//! Setting the server up: the LUKS2 settings in the environment and the
//! `health` command that container health checks run.
//!
//! Unlocking itself is tested in the balena-sign-luks crate, on loop
//! devices; these tests stop before any block device is read.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

use crate::common::{binary, Server, ServerOptions};

fn luks_env(pairs: &[(&str, &str)]) -> ServerOptions {
    ServerOptions {
        env: pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
        ..ServerOptions::default()
    }
}

#[test]
fn serve_rejects_invalid_luks_label() {
    let options = luks_env(&[
        ("BALENASIGN_LUKS_KEY", "secret"),
        ("BALENASIGN_LUKS_LABEL", "usb/stick"),
    ]);
    let log = Server::try_start(options)
        .err()
        .expect("server started with an invalid label");

    assert!(log.contains("invalid BALENASIGN_LUKS_LABEL"), "{log}");
    assert!(log.contains("\"usb/stick\""), "{log}");
    assert!(!log.contains("secret"), "passphrase leaked: {log}");
}

#[test]
fn serve_rejects_invalid_luks_owner() {
    let options = luks_env(&[
        ("BALENASIGN_LUKS_KEY", "secret"),
        ("BALENASIGN_LUKS_OWNER", "balenasign"),
    ]);
    let log = Server::try_start(options)
        .err()
        .expect("server started with an invalid owner");

    assert!(log.contains("invalid BALENASIGN_LUKS_OWNER"), "{log}");
    assert!(log.contains("uid:gid"), "{log}");
}

#[test]
fn empty_luks_key_means_plain_store() {
    // The older service's start script also treated an empty key as unset.
    let server = Server::start_with(luks_env(&[
        ("BALENASIGN_LUKS_KEY", ""),
        ("BALENASIGN_LUKS_LABEL", "a/b"),
    ]));

    assert_eq!(server.get("/health").status, 200);
    assert!(!server.logs().contains("LUKS"), "{}", server.logs());
}

fn health(listen: &str) -> Output {
    Command::new(binary())
        .args(["health", "--timeout", "5", "--listen", listen])
        .env_remove("BALENASIGN_LISTEN")
        .output()
        .unwrap()
}

#[test]
fn health_command_follows_server() {
    let mut server = Server::start();
    let port = server.base.rsplit(':').next().unwrap().to_owned();

    for listen in [format!("127.0.0.1:{port}"), format!("0.0.0.0:{port}")] {
        let output = health(&listen);
        assert!(
            output.status.success(),
            "{listen}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
    }

    server.stop();
    let output = health(&format!("127.0.0.1:{port}"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot connect to 127.0.0.1"), "{stderr}");
}

#[test]
fn health_command_reports_error_status() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let responder = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let read = stream.read(&mut request).unwrap();
        stream
            .write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 27\r\n\r\n{\"error\": \"store failed\"}\n\n",
            )
            .unwrap();
        String::from_utf8_lossy(&request[..read]).into_owned()
    });

    let output = health(&address.to_string());
    let request = responder.join().unwrap();

    assert!(request.starts_with("GET /health HTTP/1.1\r\n"), "{request}");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("returned \"HTTP/1.1 500 Internal Server Error\""),
        "{stderr}"
    );
    assert!(stderr.contains("store failed"), "{stderr}");
}
