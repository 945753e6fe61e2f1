//! Starting the server, talking to it, and judging its output with
//! external tools.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Environment variables that would change the server's mode; cleared
/// unless a test sets them.
const MODE_VARIABLES: &[&str] = &[
    "FLEET_ID",
    "BALENA_APP_ID",
    "BALENA_API_DOMAIN",
    "BALENA_API_URL",
    "BALENASIGN_AUTH_CACHE_SECONDS",
    "BALENASIGN_LISTEN",
    "BALENASIGN_STORE",
    "BALENASIGN_MAX_BODY",
    "BALENASIGN_LOG_FORMAT",
    "BALENASIGN_LUKS_KEY",
    "BALENASIGN_LUKS_LABEL",
    "BALENASIGN_LUKS_OWNER",
    "RUST_LOG",
];

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_balena-sign")
}

/// Options for starting a server.
#[derive(Default)]
pub struct ServerOptions {
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    /// Reuse this store folder instead of a new one.
    pub store: Option<PathBuf>,
}

/// A running `balena-sign serve` with its own store.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub store: PathBuf,
    _store_dir: Option<tempfile::TempDir>,
    logs: Arc<Mutex<String>>,
    /// The initial API key of a local-mode store, empty in balenaCloud mode.
    pub api_key: String,
    client: reqwest::blocking::Client,
}

/// Status and parsed JSON body of a response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub json: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// Returns the `error` message of an error reply.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    /// String field `name` of the body.
    pub fn field(&self, name: &str) -> &str {
        self.json[name]
            .as_str()
            .unwrap_or_else(|| panic!("reply has no string field {name}: {}", self.json))
    }
}

impl Server {
    /// Starts a local-mode server on a new store.
    pub fn start() -> Self {
        Self::start_with(ServerOptions::default())
    }

    pub fn start_with(options: ServerOptions) -> Self {
        Self::try_start(options).unwrap_or_else(|err| panic!("server did not start: {err}"))
    }

    /// Starts a server; on failure returns its log.
    pub fn try_start(options: ServerOptions) -> Result<Self, String> {
        let (store, store_dir) = match options.store {
            Some(path) => (path, None),
            None => {
                let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
                (dir.path().join("store"), Some(dir))
            }
        };

        let mut command = Command::new(binary());
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--store"])
            .arg(&store)
            .args(&options.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for name in MODE_VARIABLES {
            command.env_remove(name);
        }
        for (name, value) in &options.env {
            command.env(name, value);
        }
        let mut child = command.spawn().map_err(|err| err.to_string())?;

        let logs = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    if event["message"] == "listening" {
                        let _ = address_tx.send(event["address"].as_str().unwrap_or("").to_owned());
                    }
                }
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });

        let deadline = Instant::now() + START_TIMEOUT;
        let address = loop {
            if let Ok(address) = address_rx.recv_timeout(Duration::from_millis(50)) {
                break address;
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!("exited with {status}; log:\n{}", logs.lock().unwrap()));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("no 'listening' line; log:\n{}", logs.lock().unwrap()));
            }
        };

        let api_key = std::fs::read_to_string(store.join("initial-api-key"))
            .map(|key| key.trim().to_owned())
            .unwrap_or_default();
        Ok(Self {
            child: Some(child),
            base: format!("http://{address}"),
            store,
            _store_dir: store_dir,
            logs,
            api_key,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        })
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// POSTs `body` as JSON with the initial API key.
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_as(path, body, Some(&self.api_key))
    }

    /// POSTs `body` as JSON with `api_key` (or none).
    pub fn post_as(&self, path: &str, body: &Value, api_key: Option<&str>) -> Reply {
        self.post_raw(path, body.to_string().into_bytes(), Some("application/json"), api_key)
    }

    /// POSTs raw bytes with the given content type and API key.
    pub fn post_raw(&self, path: &str, body: Vec<u8>, content_type: Option<&str>, api_key: Option<&str>) -> Reply {
        let mut request = self.client.post(format!("{}{path}", self.base)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        if let Some(api_key) = api_key {
            request = request.header("X-API-Key", api_key);
        }
        reply(request.send().unwrap())
    }

    pub fn get(&self, path: &str) -> Reply {
        reply(self.client.get(format!("{}{path}", self.base)).send().unwrap())
    }

    /// Sends SIGTERM and waits for the process to exit; the store stays.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                // Give the log reader a moment to drain the pipe.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(Instant::now() < deadline, "server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn reply(response: reqwest::blocking::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().unwrap();
    if text.is_empty() {
        return Reply {
            status,
            json: Value::Null,
            headers,
        };
    }
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text}"));
    Reply { status, json, headers }
}

/// Reads every file under `root` with its contents, for "store unchanged"
/// checks. The audit log is left out: it records rejected requests too.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            } else if path != root.join("audit.jsonl") {
                files.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    files
}

/// Runs a tool and returns its standard output; panics with its output on failure.
pub fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Decodes standard base64.
pub fn b64decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

/// Encodes standard base64.
pub fn b64encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Asserts that `reply` is an error with `status` whose message contains
/// every one of `words`.
#[track_caller]
pub fn assert_error(reply: &Reply, status: u16, words: &[&str]) {
    assert_eq!(reply.status, status, "unexpected status, body {}", reply.json);
    let message = reply.error();
    for word in words {
        assert!(message.contains(word), "error {message:?} does not mention {word:?}");
    }
}

/// Deterministic filler bytes of `len`, different per `seed`.
pub fn test_bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
