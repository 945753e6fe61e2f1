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
    /// Endpoint scenario to drive.
    #[arg(value_enum, default_value_t = Scenario::CertSign)]
    scenario: Scenario,

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

#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    /// `POST /cert/sign` with an RSA-2048 certificate key.
    CertSign,
    /// `POST /rsa/sign` of a 1 MiB payload.
    RsaSign,
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

    let raw_rate = raw_sign_rate(RsaKeySize::Rsa2048, Duration::from_secs(args.seconds.min(5)))?;
    println!("raw RSA-2048 PKCS#1 v1.5 sign rate, 1 thread: {raw_rate:.0} signatures/s");

    let runtime = tokio::runtime::Runtime::new()?;
    let server = BenchServer::start(&server_binary)?;
    let request = runtime.block_on(prepare(&server, args.scenario))?;

    println!(
        "| scenario | concurrency | requests/s | ratio to raw sign rate | p50 ms | p99 ms | server peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for concurrency in args.concurrency {
        let run = runtime.block_on(drive(&server, &request, concurrency, Duration::from_secs(args.seconds)))?;
        let rate = run.requests as f64 / run.elapsed.as_secs_f64();
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            scenario_name(args.scenario),
            run.concurrency,
            rate,
            rate / raw_rate,
            percentile(&run.latencies, 0.50),
            percentile(&run.latencies, 0.99),
            run.peak_rss_kib
                .map_or("n/a".into(), |kib| format!("{:.0}", kib as f64 / 1024.0)),
        );
    }
    Ok(())
}

fn scenario_name(scenario: Scenario) -> &'static str {
    match scenario {
        Scenario::CertSign => "POST /cert/sign",
        Scenario::RsaSign => "POST /rsa/sign 1 MiB",
    }
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

/// A prepared request: path and JSON body.
struct Request {
    path: &'static str,
    body: Arc<Vec<u8>>,
}

async fn prepare(server: &BenchServer, scenario: Scenario) -> anyhow::Result<Request> {
    match scenario {
        Scenario::CertSign => {
            server
                .post(
                    "/cert",
                    &json!({ "cert_id": "bench", "subject": "/CN=bench", "key_length": 2048 }),
                )
                .await?;
            let body = json!({ "cert_id": "bench", "digest": hex::encode([0x5au8; 32]) });
            Ok(Request {
                path: "/cert/sign",
                body: Arc::new(serde_json::to_vec(&body)?),
            })
        }
        Scenario::RsaSign => {
            let reply = server.post("/rsa/key", &json!({})).await?;
            let key_id = reply["fingerprint"].as_str().context("no fingerprint")?.to_owned();
            let payload = vec![0xa5u8; 1 << 20];
            use base64::Engine;
            let body =
                json!({ "key_id": key_id, "payload": base64::engine::general_purpose::STANDARD.encode(payload) });
            Ok(Request {
                path: "/rsa/sign",
                body: Arc::new(serde_json::to_vec(&body)?),
            })
        }
    }
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
        let body = Arc::clone(&request.body);
        let completed = Arc::clone(&completed);
        tasks.push(tokio::spawn(async move {
            let request = Request { path, body };
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
        let status = server.post_bytes(request.path, request.body.as_ref().clone()).await?;
        if status != 200 {
            bail!("{} answered {status}", request.path);
        }
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

/// The `fraction` percentile of `samples` in milliseconds.
fn percentile(samples: &[Duration], fraction: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
