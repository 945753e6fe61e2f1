use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::json;

use crate::common::{assert_error, binary, Server, ServerOptions};
use crate::mock_balena::{self, MockBalena};

fn new_rsa_key(server: &Server, api_key: Option<&str>) -> crate::common::Reply {
    server.post_as("/rsa/key", &json!({}), api_key)
}

#[test]
fn post_without_api_key_is_401() {
    let server = Server::start();
    let reply = new_rsa_key(&server, None);
    assert_error(&reply, 401, &["missing X-API-Key"]);
}

#[test]
fn post_with_wrong_api_key_is_401() {
    let server = Server::start();
    let reply = new_rsa_key(&server, Some("bsk_not-a-key"));
    assert_error(&reply, 401, &["invalid API key"]);
}

#[test]
fn get_needs_no_api_key() {
    let server = Server::start();
    let reply = server.get("/rsa/keys");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json, json!({ "keys": [] }));
}

#[test]
fn initial_key_file_is_private_and_unlogged() {
    let server = Server::start();
    let path = server.store.join("initial-api-key");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    assert!(server.api_key.starts_with("bsk_"));
    let logs = server.logs();
    assert!(
        logs.contains(&path.display().to_string()),
        "log does not name the key file"
    );
    assert!(!logs.contains(&server.api_key), "log contains the API key");

    assert_eq!(new_rsa_key(&server, Some(&server.api_key)).status, 200);
    assert!(!server.logs().contains(&server.api_key), "log contains the API key");
}

#[test]
fn cli_keys_apply_while_running() {
    let server = Server::start();
    let output = Command::new(binary())
        .args(["api-key", "create", "ci", "--store"])
        .arg(&server.store)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let key = stdout.lines().last().unwrap().trim().to_owned();

    assert_eq!(new_rsa_key(&server, Some(&key)).status, 200);

    let listed = Command::new(binary())
        .args(["api-key", "list", "--store"])
        .arg(&server.store)
        .output()
        .unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.lines().any(|line| line.starts_with("ci\t")), "{listed}");
    assert!(!listed.contains(&key), "list shows the key itself");

    let revoked = Command::new(binary())
        .args(["api-key", "revoke", "ci", "--store"])
        .arg(&server.store)
        .status()
        .unwrap();
    assert!(revoked.success());
    assert_error(&new_rsa_key(&server, Some(&key)), 401, &["invalid API key"]);
}

#[test]
fn api_key_create_rejects_duplicates_and_bad_names() {
    let store = tempfile::tempdir().unwrap();
    let create = |name: &str| {
        Command::new(binary())
            .args(["api-key", "create", name, "--store"])
            .arg(store.path())
            .output()
            .unwrap()
    };
    assert!(create("ci").status.success());

    let again = create("ci");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let bad = create("../x");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'/'"));
}

fn cloud_server(mock: &MockBalena, fleet_id: &str) -> Server {
    Server::start_with(ServerOptions {
        env: vec![
            ("FLEET_ID".into(), fleet_id.into()),
            ("BALENA_API_URL".into(), mock.url.clone()),
        ],
        ..ServerOptions::default()
    })
}

#[test]
fn cloud_fleet_key_accepted_and_cached() {
    let mock = MockBalena::start();
    let server = cloud_server(&mock, mock_balena::FLEET_ID);
    assert!(!server.store.join("initial-api-key").exists());

    assert_eq!(new_rsa_key(&server, Some(mock_balena::GOOD_KEY)).status, 200);
    assert_eq!(new_rsa_key(&server, Some(mock_balena::GOOD_KEY)).status, 200);
    assert_eq!(mock.hits(), 1, "the second request should use the cache");
}

#[test]
fn cloud_rejections_are_401() {
    let mock = MockBalena::start();
    let server = cloud_server(&mock, mock_balena::FLEET_ID);
    for key in [
        mock_balena::NO_FLEET_KEY,
        mock_balena::UNAUTHORIZED_KEY,
        mock_balena::FORBIDDEN_KEY,
    ] {
        assert_error(&new_rsa_key(&server, Some(key)), 401, &["invalid API key"]);
    }
    assert_error(&new_rsa_key(&server, None), 401, &["missing X-API-Key"]);
}

#[test]
fn cloud_key_for_other_fleet_is_401() {
    let mock = MockBalena::start();
    let server = cloud_server(&mock, "999");
    assert_error(
        &new_rsa_key(&server, Some(mock_balena::GOOD_KEY)),
        401,
        &["invalid API key"],
    );
}

#[test]
fn cloud_server_error_is_503() {
    let mock = MockBalena::start();
    let server = cloud_server(&mock, mock_balena::FLEET_ID);
    let reply = new_rsa_key(&server, Some(mock_balena::SERVER_ERROR_KEY));
    assert_error(&reply, 503, &["cannot check the API key"]);
    assert!(server.logs().contains("balenaCloud API returned an error"));
    assert!(
        !server.logs().contains(mock_balena::SERVER_ERROR_KEY),
        "log contains the API key"
    );
}

#[test]
fn cloud_unreachable_is_503() {
    let mock = MockBalena::start();
    let url = mock.url.clone();
    drop(mock);
    let server = Server::start_with(ServerOptions {
        env: vec![
            ("FLEET_ID".into(), mock_balena::FLEET_ID.into()),
            ("BALENA_API_URL".into(), url),
        ],
        ..ServerOptions::default()
    });
    let reply = new_rsa_key(&server, Some(mock_balena::GOOD_KEY));
    assert_error(&reply, 503, &["cannot check the API key"]);
    assert!(server.logs().contains("balenaCloud API request failed"));
}

#[test]
fn balena_app_id_enables_cloud_mode() {
    let mock = MockBalena::start();
    let server = Server::start_with(ServerOptions {
        env: vec![
            ("BALENA_APP_ID".into(), mock_balena::FLEET_ID.into()),
            ("BALENA_API_URL".into(), mock.url.clone()),
        ],
        ..ServerOptions::default()
    });
    assert_eq!(new_rsa_key(&server, Some(mock_balena::GOOD_KEY)).status, 200);
}

#[test]
fn bad_fleet_id_stops_startup() {
    let err = Server::try_start(ServerOptions {
        env: vec![("FLEET_ID".into(), "my-fleet".into())],
        ..ServerOptions::default()
    })
    .err()
    .expect("server started with a bad FLEET_ID");
    assert!(err.contains("FLEET_ID must be a fleet's numeric id"), "{err}");
}
