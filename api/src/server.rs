//! Serving a router over TCP with every connection bounded.
//!
//! axum's own `serve` keeps a connection for as long as the client does. This
//! accept loop runs hyper's HTTP/1 server itself and bounds each connection
//! by [`Limits`]:
//!
//! - a request head must arrive whole within `header_read_timeout` of its
//!   first byte (a client sending headers a byte at a time is cut off);
//! - a connection waiting for its next request (new, or kept alive after an
//!   answer) is closed after `idle_timeout`;
//! - at most `max_connections` are served at once; beyond that the loop stops
//!   accepting, so further clients wait in the kernel's listen backlog
//!   instead of holding descriptors.
//!
//! A request being answered is never cut by these timeouts (a long download
//! or upload keeps its connection). Shutdown stops accepting, then lets
//! requests in flight finish.
//!
//! hyper answers a request head it cannot parse or will not hold (431 too
//! many or too large headers, 414 URI too long, 400 malformed line, header
//! or framing) by itself, with an empty body, and offers no hook to shape
//! that answer. On a connection where no request reached the router yet,
//! the only bytes hyper can write are that answer, so the socket layer
//! replaces them with the same status as `application/problem+json`
//! ([`error::protocol_problem`]). After a connection answered a request,
//! hyper's plain answer goes out as is: bytes still being flushed from the
//! previous response cannot be told apart from it.

use crate::error::{self, PROBLEM_JSON};
use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use strata_core::config::ApiConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt as _;

/// How long a connection may take and how many are served at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to send a whole request head, from its first byte.
    pub header_read_timeout: Duration,
    /// Time a connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Limits {
    /// The limits `[api]` configures.
    pub fn from_config(api: &ApiConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(api.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(api.idle_timeout_secs),
            max_connections: usize::try_from(api.max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request's first byte, since then.
    Idle(Instant),
    /// A request head has started arriving, at that time.
    Head(Instant),
    /// This many requests are being answered.
    Busy(usize),
}

/// One connection's phase, shared by its socket, its service and its watchdog.
struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
    /// Whether a request ever reached the router on this connection.
    routed: AtomicBool,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Idle(Instant::now())),
            changed: Notify::new(),
            routed: AtomicBool::new(false),
        })
    }

    fn update(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        *phase = f(*phase);
        drop(phase);
        self.changed.notify_one();
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: a request head starts unless one is being answered.
    fn bytes_arrived(&self) {
        if matches!(self.phase(), Phase::Idle(_)) {
            self.update(|phase| match phase {
                Phase::Idle(_) => Phase::Head(Instant::now()),
                other => other,
            });
        }
    }

    /// A request's head arrived whole: it is being answered until the
    /// returned guard is dropped (with the response body, or the request).
    fn answering(self: &Arc<Self>) -> Answering {
        self.routed.store(true, Ordering::SeqCst);
        self.update(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Idle(_) | Phase::Head(_) => Phase::Busy(1),
        });
        Answering(self.clone())
    }

    /// Completes when the connection overstayed its phase's limit.
    async fn overstayed(&self, limits: Limits) {
        loop {
            let notified = self.changed.notified();
            let deadline = match self.phase() {
                Phase::Idle(since) => since.checked_add(limits.idle_timeout),
                Phase::Head(since) => since.checked_add(limits.header_read_timeout),
                Phase::Busy(_) => None,
            };
            match deadline {
                Some(deadline) if Instant::now() >= deadline => return,
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// A request being answered; its end makes the connection idle again.
struct Answering(Arc<Activity>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.update(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
}

/// A response body that keeps its request counted as being answered until
/// it is sent (or dropped).
struct Counted {
    body: Body,
    _answering: Answering,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// hyper's own answer to a head it refused, and what became of it.
enum Automatic {
    /// Nothing written yet on this connection.
    Unseen,
    /// Sending `bytes` in place of the `replaces` bytes hyper wrote.
    Rewriting { bytes: Vec<u8>, sent: usize, replaces: usize },
    /// Written (rewritten or not): later writes pass through.
    Past,
}

/// The problem+json answer replacing hyper's automatic (empty) answer
/// `written`, or `None` when `written` is not one.
fn rewritten(written: &[u8]) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(written).ok()?;
    let status = StatusCode::from_bytes(head.strip_prefix("HTTP/1.1 ")?.get(..3)?.as_bytes()).ok()?;
    let empty = "content-length: 0\r\n";
    if !status.is_client_error() || !head.ends_with("\r\n\r\n") || !head.contains(empty) {
        return None;
    }
    let body = serde_json::to_vec(&error::protocol_problem(status)).ok()?;
    let typed = format!("content-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\n", body.len());
    let mut bytes = head.replacen(empty, &typed, 1).into_bytes();
    bytes.extend_from_slice(&body);
    Some(bytes)
}

/// A socket that reports arriving bytes to its connection's [`Activity`],
/// and gives hyper's automatic answers the problem shape (see the module).
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
    automatic: Automatic,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if let Automatic::Unseen = this.automatic {
            // Before a request reached the router, hyper writes nothing but
            // its automatic answer.
            this.automatic = match rewritten(buf) {
                Some(bytes) if !this.activity.routed.load(Ordering::SeqCst) => {
                    Automatic::Rewriting { bytes, sent: 0, replaces: buf.len() }
                }
                _ => Automatic::Past,
            };
        }
        if let Automatic::Rewriting { bytes, sent, replaces } = &mut this.automatic {
            while *sent < bytes.len() {
                match ready!(Pin::new(&mut this.stream).poll_write(cx, &bytes[*sent..]))? {
                    0 => return Poll::Ready(Ok(0)),
                    n => *sent += n,
                }
            }
            let replaces = *replaces;
            this.automatic = Automatic::Past;
            return Poll::Ready(Ok(replaces));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if !matches!(self.automatic, Automatic::Past) {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Whether an accept error concerns only the connection being accepted.
fn connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Serves `router` on `listener` within `limits` until `shutdown`
/// completes, then stops accepting and waits for requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.clamp(1, Semaphore::MAX_PERMITS)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // The head's deadline is kept here (it starts at the head's first byte,
    // not when the connection starts waiting), so hyper's own is off.
    http.timer(TokioTimer::new()).header_read_timeout(None);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
        let stream = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match stream {
            Ok((stream, _)) => stream,
            Err(e) if connection_error(&e) => continue,
            Err(e) => {
                // Out of descriptors or memory: let connections finish first.
                tracing::error!(error = %e, "Accepting a connection failed");
                drop(permit);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let activity = Activity::new();
        let service = {
            let activity = activity.clone();
            let router = router.clone();
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let answering = activity.answering();
                let router = router.clone();
                async move {
                    let response = router.oneshot(request).await?;
                    Ok::<_, std::convert::Infallible>(
                        response.map(|body| Body::new(Counted { body, _answering: answering })),
                    )
                }
            })
        };
        let io = TokioIo::new(Watched { stream, activity: activity.clone(), automatic: Automatic::Unseen });
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "A connection ended with an error");
                    }
                }
                () = activity.overstayed(limits) => tracing::debug!("Closed a connection that overstayed its limit"),
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_refusals_are_rewritten() {
        let automatic = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let answer = String::from_utf8(rewritten(automatic).unwrap()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 ") && head.contains("date: x"), "{head}");
        assert!(head.contains(&format!("content-type: {PROBLEM_JSON}\r\ncontent-length: {}", body.len())), "{head}");
        assert!(body.contains("headers-too-large"), "{body}");
        for other in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nbody",
            b"some artifact bytes",
        ] {
            assert_eq!(rewritten(other), None, "{}", String::from_utf8_lossy(other));
        }
    }
}
