//! The HTTP requests this process answered, counted for `/metrics`: what
//! the state holds and the metrics route writes out.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use strata_queue::metrics::{DURATION_BUCKETS, Histogram, escape, header as metric_header};

/// Requests answered by this process, by method, route and status, and
/// their durations by route.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    inner: Mutex<HttpInner>,
}

#[derive(Debug, Default)]
struct HttpInner {
    requests: BTreeMap<(String, String, u16), u64>,
    durations: BTreeMap<String, Histogram>,
}

impl HttpMetrics {
    /// Counts one answered request. `route` is the route's template (e.g.
    /// `/v1/tenants/{tenant}/artifacts`), never the raw path, so the number
    /// of series stays bounded.
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner.requests.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        inner.durations.entry(route.to_owned()).or_insert_with(|| Histogram::new(DURATION_BUCKETS)).observe(seconds);
    }

    /// Appends the request metrics in the text format.
    pub fn write(&self, out: &mut String) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        metric_header(
            out,
            "strata_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route and status.",
        );
        for ((method, route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "strata_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        metric_header(out, "strata_http_request_duration_seconds", "histogram", "Time to answer a request, by route.");
        for (route, h) in &inner.durations {
            h.write(out, "strata_http_request_duration_seconds", &format!("route=\"{}\",", escape(route)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_template() {
        let m = HttpMetrics::default();
        m.record("GET", "/v1/tenants/{tenant}/artifacts", 200, 0.002);
        m.record("GET", "/v1/tenants/{tenant}/artifacts", 200, 0.004);
        m.record("PUT", "/v1/tenants/{tenant}/artifacts/{workflow}/{name}", 413, 0.001);
        let mut out = String::new();
        m.write(&mut out);
        assert!(
            out.contains(
                "strata_http_requests_total{method=\"GET\",route=\"/v1/tenants/{tenant}/artifacts\",status=\"200\"} 2"
            ),
            "{out}"
        );
        assert!(out.contains("status=\"413\"} 1"), "{out}");
        assert!(
            out.contains("strata_http_request_duration_seconds_count{route=\"/v1/tenants/{tenant}/artifacts\"} 2"),
            "{out}"
        );
    }
}
