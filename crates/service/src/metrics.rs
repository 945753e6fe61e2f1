//! Counters for `GET /metrics`, in the Prometheus text exposition format
//! (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds of the request latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    /// Count per bucket of `LATENCY_BUCKETS`, not cumulative.
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Counters {
    /// (route, method, status) → requests.
    requests: BTreeMap<(String, String, u16), u64>,
    /// route → latency histogram.
    latency: BTreeMap<String, Histogram>,
    /// (operation, key id) → signatures made.
    signatures: BTreeMap<(String, String), u64>,
    /// operation → payload bytes signed.
    signed_bytes: BTreeMap<String, u64>,
}

/// The server's metrics.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

impl Metrics {
    /// Counts a finished request; `route` is the matched route template.
    pub fn record_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let Ok(mut counters) = self.counters.lock() else {
            return;
        };
        *counters
            .requests
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        let histogram = counters.latency.entry(route.to_owned()).or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        if let Some(index) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            if let Some(bucket) = histogram.buckets.get_mut(index) {
                *bucket += 1;
            }
        }
    }

    /// Counts a successful signing operation over `payload_len` bytes.
    pub fn record_signature(&self, operation: &str, key_id: &str, payload_len: usize) {
        let Ok(mut counters) = self.counters.lock() else {
            return;
        };
        *counters
            .signatures
            .entry((operation.to_owned(), key_id.to_owned()))
            .or_default() += 1;
        *counters.signed_bytes.entry(operation.to_owned()).or_default() += payload_len as u64;
    }

    /// Renders every metric, plus `extra` lines from other components.
    pub fn render(&self, extra: &[(&str, &str, u64)]) -> String {
        let mut out = String::new();
        let Ok(counters) = self.counters.lock() else {
            return out;
        };

        header(
            &mut out,
            "balena_sign_requests_total",
            "counter",
            "HTTP requests by route, method and status.",
        );
        for ((route, method, status), count) in &counters.requests {
            let _ = writeln!(
                out,
                "balena_sign_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {count}",
                escape(route),
                escape(method)
            );
        }

        header(
            &mut out,
            "balena_sign_request_duration_seconds",
            "histogram",
            "HTTP request latency by route.",
        );
        for (route, histogram) in &counters.latency {
            let route = escape(route);
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BUCKETS.iter().zip(histogram.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "balena_sign_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "balena_sign_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "balena_sign_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "balena_sign_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count
            );
        }

        header(
            &mut out,
            "balena_sign_signatures_total",
            "counter",
            "Signatures made, by operation and key id.",
        );
        for ((operation, key_id), count) in &counters.signatures {
            let _ = writeln!(
                out,
                "balena_sign_signatures_total{{operation=\"{}\",key_id=\"{}\"}} {count}",
                escape(operation),
                escape(key_id)
            );
        }

        header(
            &mut out,
            "balena_sign_signed_bytes_total",
            "counter",
            "Payload bytes signed, by operation.",
        );
        for (operation, bytes) in &counters.signed_bytes {
            let _ = writeln!(
                out,
                "balena_sign_signed_bytes_total{{operation=\"{}\"}} {bytes}",
                escape(operation)
            );
        }

        for (name, help, value) in extra {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let metrics = Metrics::default();
        metrics.record_request("/cert/sign", "POST", 200, 0.002);
        metrics.record_request("/cert/sign", "POST", 200, 0.3);
        metrics.record_signature("cert.sign", "db", 32);
        let text = metrics.render(&[("balena_sign_auth_cache_hits_total", "Cache hits.", 3)]);

        assert!(text.contains("balena_sign_requests_total{route=\"/cert/sign\",method=\"POST\",status=\"200\"} 2"));
        assert!(text.contains("balena_sign_request_duration_seconds_bucket{route=\"/cert/sign\",le=\"0.0025\"} 1"));
        assert!(text.contains("balena_sign_request_duration_seconds_bucket{route=\"/cert/sign\",le=\"+Inf\"} 2"));
        assert!(text.contains("balena_sign_signatures_total{operation=\"cert.sign\",key_id=\"db\"} 1"));
        assert!(text.contains("balena_sign_signed_bytes_total{operation=\"cert.sign\"} 32"));
        assert!(text.contains("balena_sign_auth_cache_hits_total 3"));
    }
}
