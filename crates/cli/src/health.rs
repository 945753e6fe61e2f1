//! `balena-sign health`: sends `GET /health` to a running server, so a
//! container health check needs no curl in the image.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

/// Maximum response size read; `/health` returns a few dozen bytes.
const MAX_RESPONSE: u64 = 64 << 10;

#[derive(Args)]
pub(crate) struct HealthArgs {
    /// Address the server listens on; 0.0.0.0 or [::] means this host.
    #[arg(long, env = "BALENASIGN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Seconds to wait for the connection and for the response.
    #[arg(long, default_value_t = 5)]
    timeout: u64,

    /// Check over HTTPS, as a server started with --tls-cert serves; set when BALENASIGN_TLS_CERT is.
    #[arg(long, env = "BALENASIGN_TLS_CERT", value_name = "SERVER_CERT")]
    tls_cert: Option<std::path::PathBuf>,
}

/// Succeeds when `GET /health` returns 200.
pub(crate) fn run(args: HealthArgs) -> anyhow::Result<()> {
    let address = reachable(args.listen);
    let timeout = Duration::from_secs(args.timeout);
    if args.tls_cert.is_some() {
        return check_https(address, timeout);
    }

    let mut stream =
        TcpStream::connect_timeout(&address, timeout).with_context(|| format!("cannot connect to {address}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("cannot send the request to {address}"))?;

    let mut response = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut response)
        .with_context(|| format!("no response from {address}"))?;
    // 0x15 is a TLS alert record: the server speaks HTTPS.
    if response.first() == Some(&0x15) {
        bail!("{address} responded with TLS; give --tls-cert (or BALENASIGN_TLS_CERT) to check over HTTPS");
    }
    let response = String::from_utf8_lossy(&response);
    let status_line = response.lines().next().unwrap_or_default();
    if status_line.split(' ').nth(1) != Some("200") {
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
        bail!("http://{address}/health returned {status_line:?}: {body}");
    }
    println!("ok");
    Ok(())
}

/// Returns the loopback address of the same family when the server
/// listens on every address.
fn reachable(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Checks `https://<address>/health`. The certificate is not verified: the
/// check only tests whether this host's server is alive, and sends nothing
/// secret.
fn check_https(address: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .danger_accept_invalid_certs(true)
            .build()?;
        let url = format!("https://{address}/health");
        let response = client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            let body = response.text().await.unwrap_or_default();
            bail!("{url} returned {status}: {}", body.trim());
        }
        println!("ok");
        Ok(())
    })
}
