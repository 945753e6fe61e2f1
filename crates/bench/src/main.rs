//! `balena-sign-bench`: starts the release server on loopback with a fresh
//! store, drives one endpoint at several concurrency levels for a fixed
//! time, and prints requests per second beside the raw RSA sign rate of the
//! same backend on the same machine.
//!
//! Run with `cargo build --release --workspace && target/release/balena-sign-bench`.

#![forbid(unsafe_code)]

mod server;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use balena_sign_crypto::{RsaKeySize, RsaPrivateKey};
use balena_sign_formats::Signer;
use clap::{Parser, ValueEnum};
use serde_json::json;

use crate::server::BenchServer;

/// Measures balena-sign over HTTP on loopback.
#[derive(Parser)]
struct Args {
    /// Scenarios to drive; default all.
    #[arg(value_enum)]
    scenarios: Vec<Scenario>,

    /// Seconds to drive each concurrency level.
    #[arg(long, default_value_t = 10)]
    seconds: u64,

    /// Comma-separated numbers of requests in flight.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    concurrency: Vec<usize>,

    /// Server binary; defaults to `balena-sign` beside this program.
    #[arg(long)]
    server: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// `POST /cert/sign` with an RSA-2048 certificate key.
    CertSign,
    /// `POST /rsa/sign` of a 1 MiB payload (RSA-2048).
    RsaSign,
    /// `POST /gpg/sign` of a 1 KiB payload with an RSA-4096 key.
    GpgSign,
    /// `POST /kmod/sign` of a 100 KiB module with an RSA-4096 certificate.
    KmodSign,
    /// `POST /secureboot/efi` of a 1 MiB PE32+ image (RSA-2048).
    EfiSign1m,
    /// `POST /secureboot/efi` of a 20 MiB PE32+ image (RSA-2048).
    EfiSign20m,
}

const ALL_SCENARIOS: [Scenario; 6] = [
    Scenario::CertSign,
    Scenario::RsaSign,
    Scenario::GpgSign,
    Scenario::KmodSign,
    Scenario::EfiSign1m,
    Scenario::EfiSign20m,
];

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::CertSign => "POST /cert/sign",
            Self::RsaSign => "POST /rsa/sign, 1 MiB",
            Self::GpgSign => "POST /gpg/sign, 1 KiB, RSA-4096",
            Self::KmodSign => "POST /kmod/sign, 100 KiB, RSA-4096",
            Self::EfiSign1m => "POST /secureboot/efi, 1 MiB",
            Self::EfiSign20m => "POST /secureboot/efi, 20 MiB",
        }
    }

    /// Returns the key size whose raw sign rate is the reference.
    fn key_size(self) -> RsaKeySize {
        match self {
            Self::GpgSign | Self::KmodSign => RsaKeySize::Rsa4096,
            _ => RsaKeySize::Rsa2048,
        }
    }
}

/// Result of one concurrency level.
struct Run {
    concurrency: usize,
    requests: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    peak_rss_kib: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server_binary = match args.server {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("balena-sign"),
    };
    let scenarios = if args.scenarios.is_empty() {
        ALL_SCENARIOS.to_vec()
    } else {
        args.scenarios
    };

    let raw_seconds = Duration::from_secs(args.seconds.clamp(1, 5));
    let raw_2048 = raw_sign_rate(RsaKeySize::Rsa2048, raw_seconds)?;
    let raw_4096 = raw_sign_rate(RsaKeySize::Rsa4096, raw_seconds)?;
    let sha256 = sha256_rate();
    println!("raw RSA-2048 PKCS#1 v1.5 sign rate, 1 thread: {raw_2048:.0} signatures/s");
    println!("raw RSA-4096 PKCS#1 v1.5 sign rate, 1 thread: {raw_4096:.0} signatures/s");
    println!("SHA-256, 1 thread: {sha256:.0} MB/s");
    println!();
    println!("| scenario | concurrency | requests/s | ratio to raw sign rate | payload MB/s | p50 ms | p99 ms | server peak RSS MiB | peak RSS / bodies in flight |");
    println!("|---|---|---|---|---|---|---|---|---|");

    let runtime = tokio::runtime::Runtime::new()?;
    for scenario in scenarios {
        let server = BenchServer::start(&server_binary)?;
        let request = runtime.block_on(prepare(&server, scenario))?;
        let raw = match scenario.key_size() {
            RsaKeySize::Rsa2048 => raw_2048,
            RsaKeySize::Rsa4096 => raw_4096,
        };
        for &concurrency in &args.concurrency {
            let run = runtime.block_on(drive(&server, &request, concurrency, Duration::from_secs(args.seconds)))?;
            let rate = run.requests as f64 / run.elapsed.as_secs_f64();
            let in_flight = (request.body.len() * run.concurrency) as f64 / (1024.0 * 1024.0);
            let rss = run.peak_rss_kib.map(|kib| kib as f64 / 1024.0);
            println!(
                "| {} | {} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {} |",
                scenario.name(),
                run.concurrency,
                rate,
                rate / raw,
                rate * request.payload_len as f64 / 1e6,
                percentile(&run.latencies, 0.50),
                percentile(&run.latencies, 0.99),
                rss.map_or("n/a".into(), |mib| format!("{mib:.0}")),
                // Below a mebibyte the server's fixed footprint dominates the ratio.
                rss.filter(|_| in_flight >= 1.0)
                    .map_or("n/a".into(), |mib| format!("{:.2}", mib / in_flight)),
            );
        }
    }
    Ok(())
}

/// SHA-256 throughput of one thread over a 64 MiB buffer, MB/s.
fn sha256_rate() -> f64 {
    use sha2::Digest;
    let data = vec![0x5au8; 64 << 20];
    let started = Instant::now();
    let digest = sha2::Sha256::digest(&data);
    std::hint::black_box(digest);
    data.len() as f64 / started.elapsed().as_secs_f64() / 1e6
}

/// Signatures per second of one thread signing SHA-256 digests directly
/// through the same AWS-LC backend the server uses.
fn raw_sign_rate(size: RsaKeySize, duration: Duration) -> anyhow::Result<f64> {
    let (key, _) = RsaPrivateKey::generate(size)?;
    let digest = [0x5au8; 32];
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < duration {
        key.sign_digest(balena_sign_formats::HashAlgorithm::Sha256, &digest)?;
        count += 1;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// A prepared request: path, JSON body and the payload size inside it.
struct Request {
    path: &'static str,
    body: bytes::Bytes,
    payload_len: usize,
}

async fn prepare(server: &BenchServer, scenario: Scenario) -> anyhow::Result<Request> {
    use base64::Engine;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let certificate = |bits: u32| json!({ "cert_id": "bench", "subject": "/CN=bench", "key_length": bits });

    let (path, body, payload_len) = match scenario {
        Scenario::CertSign => {
            server.post("/cert", &certificate(2048)).await?;
            (
                "/cert/sign",
                json!({ "cert_id": "bench", "digest": hex::encode([0x5au8; 32]) }),
                32,
            )
        }
        Scenario::RsaSign => {
            let reply = server.post("/rsa/key", &json!({})).await?;
            let key_id = reply["fingerprint"].as_str().context("no fingerprint")?.to_owned();
            let payload = vec![0xa5u8; 1 << 20];
            (
                "/rsa/sign",
                json!({ "key_id": key_id, "payload": encode(&payload) }),
                payload.len(),
            )
        }
        Scenario::GpgSign => {
            let key = json!({ "name_real": "bench", "name_email": "bench@example.com", "key_length": 4096 });
            let reply = server.post("/gpg/key", &key).await?;
            let fingerprint = reply["fingerprint"].as_str().context("no fingerprint")?.to_owned();
            let payload = vec![0x3cu8; 1024];
            (
                "/gpg/sign",
                json!({ "key_id": fingerprint, "payload": encode(&payload) }),
                payload.len(),
            )
        }
        Scenario::KmodSign => {
            server.post("/cert", &certificate(4096)).await?;
            let mut module = b"\x7fELF\x02\x01\x01".to_vec();
            module.resize(100 << 10, 0x11);
            (
                "/kmod/sign",
                json!({ "key_id": "bench", "payload": encode(&module) }),
                module.len(),
            )
        }
        Scenario::EfiSign1m | Scenario::EfiSign20m => {
            server.post("/cert", &certificate(2048)).await?;
            let size = if scenario == Scenario::EfiSign1m {
                1 << 20
            } else {
                20 << 20
            };
            let image = balena_sign_conformance::pe_builder::generate_pe(true, &[(".text", size - 0x1000)], 0);
            (
                "/secureboot/efi",
                json!({ "key_id": "bench", "payload": encode(&image) }),
                image.len(),
            )
        }
    };
    Ok(Request {
        path,
        body: bytes::Bytes::from(serde_json::to_vec(&body)?),
        payload_len,
    })
}

async fn drive(server: &BenchServer, request: &Request, concurrency: usize, duration: Duration) -> anyhow::Result<Run> {
    // A short warm-up lets connections open and key caches fill.
    let _ = send_until(server, request, Instant::now() + Duration::from_millis(300)).await?;
    server.reset_peak_rss();

    let completed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let server = server.clone();
        let path = request.path;
        let body = request.body.clone();
        let completed = Arc::clone(&completed);
        tasks.push(tokio::spawn(async move {
            let request = Request {
                path,
                body,
                payload_len: 0,
            };
            let latencies = send_until(&server, &request, deadline).await?;
            completed.fetch_add(latencies.len() as u64, Ordering::Relaxed);
            anyhow::Ok(latencies)
        }));
    }

    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(Run {
        concurrency,
        requests: completed.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        latencies,
        peak_rss_kib: server.peak_rss_kib(),
    })
}

/// Sends the request in a loop until `deadline`; returns each latency.
async fn send_until(server: &BenchServer, request: &Request, deadline: Instant) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let status = server.post_bytes(request.path, request.body.clone()).await?;
        if status != 200 {
            bail!("{} returned {status}", request.path);
        }
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

/// Returns the `fraction` percentile of `samples` in milliseconds.
fn percentile(samples: &[Duration], fraction: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
