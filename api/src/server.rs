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

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
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
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self { phase: Mutex::new(Phase::Idle(Instant::now())), changed: Notify::new() })
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

/// A socket that reports arriving bytes to its connection's [`Activity`].
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
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
        Pin::new(&mut self.stream).poll_write(cx, buf)
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
        let io = TokioIo::new(Watched { stream, activity: activity.clone() });
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
