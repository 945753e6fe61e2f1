//! The server under test: a child process with its own store.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

#[derive(Clone)]
pub(crate) struct BenchServer {
    inner: Arc<Inner>,
}

struct Inner {
    child: Mutex<Child>,
    base: String,
    api_key: String,
    client: reqwest::Client,
    _store: tempfile::TempDir,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl BenchServer {
    pub(crate) fn start(binary: &Path) -> anyhow::Result<Self> {
        let store = tempfile::tempdir()?;
        let mut child = Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--store"])
            .arg(store.path().join("store"))
            .env("RUST_LOG", "warn,balena_sign=info")
            .env_remove("FLEET_ID")
            .env_remove("BALENA_APP_ID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;

        let stderr = child.stderr.take().context("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let address = loop {
            let Some(line) = lines.next() else {
                bail!("server exited before listening");
            };
            let event: Value = serde_json::from_str(&line?).unwrap_or(Value::Null);
            if event["message"] == "listening" {
                break event["address"].as_str().context("no address")?.to_owned();
            }
        };
        // Drain the log for the server's lifetime, so it cannot block on a full pipe.
        std::thread::spawn(move || for _ in lines {});

        let api_key = std::fs::read_to_string(store.path().join("store/initial-api-key"))?
            .trim()
            .to_owned();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                child: Mutex::new(child),
                base: format!("http://{address}"),
                api_key,
                client,
                _store: store,
            }),
        })
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .inner
            .client
            .post(format!("{}{path}", self.inner.base))
            .header("X-API-Key", &self.inner.api_key)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await?;
        if !status.is_success() {
            bail!("{path} returned {status}: {value}");
        }
        Ok(value)
    }

    pub(crate) async fn post_bytes(&self, path: &str, body: bytes::Bytes) -> anyhow::Result<u16> {
        let response = self
            .inner
            .client
            .post(format!("{}{path}", self.inner.base))
            .header("X-API-Key", &self.inner.api_key)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        response.bytes().await?;
        Ok(status)
    }

    fn pid(&self) -> Option<u32> {
        self.inner.child.lock().ok().map(|child| child.id())
    }

    /// Resets the kernel's peak-RSS counter of the server process.
    pub(crate) fn reset_peak_rss(&self) {
        if let Some(pid) = self.pid() {
            // Writing 5 to clear_refs resets VmHWM (proc(5)); failure only
            // means the peak includes earlier runs.
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }

    /// Peak resident set size of the server in KiB, from /proc.
    pub(crate) fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}
