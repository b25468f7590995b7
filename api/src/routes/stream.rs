//! The live event stream: `GET /v1/events/stream`, Server-Sent Events. A
//! tenant's token sees its own tenant's events, the admin token every
//! tenant's (or one, with `tenant`). Each event's SSE `id` is its sequence
//! number, so a client that reconnects with `Last-Event-ID` (or `after`)
//! goes on after the last event it saw, and nothing is lost between.
//!
//! The stream reads the catalog (any node's writes are seen), waiting
//! [`POLL`] between reads that find nothing, and sends a comment every
//! [`KEEP_ALIVE`] so proxies keep an idle stream open. Sequence numbers are
//! drawn before commit, so on PostgreSQL a transaction may commit after a
//! later-numbered one: a gap in the numbers holds the stream back until it
//! fills, or for at most [`GAP_WAIT`] (a rolled-back transaction leaves a
//! gap for good). The stream ends when the server shuts down.

use super::views::EventView;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::Identifier;
use crate::query::{Query, named_value};
use crate::state::ApiState;
use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use strata_core::catalog::EventFilter;
use strata_core::event::Event;
use strata_core::id::TenantId;
use tokio::time::Instant;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The wait between reads of the event log that found nothing new.
pub const POLL: Duration = Duration::from_millis(250);
/// The longest a gap in the sequence numbers holds the stream back.
pub const GAP_WAIT: Duration = Duration::from_secs(2);
/// The interval of keep-alive comments on an idle stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events read at a time.
const BATCH: i64 = 200;

/// What a stream carries and where it starts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Only this tenant's events (the admin token; a tenant's token sees only its own)
    #[param(value_type = Option<Identifier>, inline)]
    tenant: Option<String>,
    /// Only this kind (`event_type`)
    kind: Option<String>,
    /// Start after this sequence number (default: the newest event, so only
    /// new events are sent); a `Last-Event-ID` header takes precedence
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<SequenceNumber>,
}

/// A sequence number, 0 or more, as a query value or a `Last-Event-ID`.
#[derive(Debug, Clone, Copy)]
struct SequenceNumber(i64);

impl SequenceNumber {
    fn parse(s: &str) -> Result<Self, String> {
        let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        s.parse::<i64>().ok().filter(|_| digits).map(Self).ok_or_else(|| "must be a sequence number (0 or more)".into())
    }
}

impl<'de> Deserialize<'de> for SequenceNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        named_value(d, Self::parse)
    }
}

/// The events of the log as they are recorded (`text/event-stream`): each
/// with `id` its sequence number, `event` its kind and `data` its JSON.
#[utoipa::path(
    get,
    path = "/v1/events/stream",
    tag = "lifecycle",
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<i64>, Header, minimum = 0, description = "Resume after this sequence number (sent by a reconnecting EventSource)")
    ),
    responses((status = 200, description = "An endless stream of events", content_type = "text/event-stream", body = String))
)]
pub async fn event_stream(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let asked = query.tenant.as_deref().map(TenantId::parse).transpose()?;
    let tenant = match (&caller, asked) {
        (Caller::Admin, asked) => asked,
        (Caller::Tenant(own), None) => Some(own.clone()),
        (Caller::Tenant(own), Some(asked)) if asked == *own => Some(asked),
        // Another tenant's stream is answered as a tenant that does not exist.
        (Caller::Tenant(_), Some(asked)) => {
            return Err(strata_core::store::StoreError::UnknownTenant(asked.to_string()).into());
        }
    };
    if let Some(t) = &tenant {
        state.store.tenant(t).await?;
    }
    let last_event_id = match headers.get("last-event-id") {
        Some(v) => Some(
            SequenceNumber::parse(v.to_str().unwrap_or_default().trim())
                .map_err(|e| ApiError::BadRequest(format!("Last-Event-ID {e}")))?,
        ),
        None => None,
    };
    let after = match last_event_id.or(query.after) {
        Some(SequenceNumber(seq)) => seq,
        None => newest(&state).await?,
    };
    let tail =
        Tail { state: state.clone(), tenant, kind: query.kind, seen: after, ready: VecDeque::new(), gap_since: None };
    let closing = state.closing.clone();
    let stream = futures::stream::unfold(tail, move |mut tail| {
        let closing = closing.clone();
        async move {
            tokio::select! {
                () = closing.cancelled() => None,
                next = tail.next() => next.map(|e| (Ok(e), tail)),
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// The sequence number of the newest event (0 when there is none).
async fn newest(state: &ApiState) -> Result<i64, ApiError> {
    let filter = EventFilter { limit: Some(1), newest: true, ..EventFilter::default() };
    let events = state.store.catalog().events(&filter).await.map_err(strata_core::store::StoreError::from)?;
    Ok(events.last().map_or(0, |e| e.seq))
}

/// A reader of the event log from a sequence number on.
struct Tail {
    state: Arc<ApiState>,
    /// Only this tenant's events are sent.
    tenant: Option<TenantId>,
    /// Only events of this kind are sent.
    kind: Option<String>,
    /// Every event up to this number has been sent or skipped.
    seen: i64,
    /// Events read, in order, not yet sent.
    ready: VecDeque<Event>,
    /// When the gap after `seen` was first found.
    gap_since: Option<Instant>,
}

impl Tail {
    /// The next event, waiting for it; `None` when the log cannot be read.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                self.seen = e.seq;
                return Some(sse(&e));
            }
            self.fill().await?;
            if self.ready.is_empty() {
                tokio::time::sleep(POLL).await;
            }
        }
    }

    /// Reads the events after `seen`, keeping those before the first gap
    /// (or past a gap older than [`GAP_WAIT`]).
    async fn fill(&mut self) -> Option<()> {
        // Every event is read (not only the filter's) to see the gaps.
        let all = EventFilter { after: Some(self.seen), limit: Some(BATCH), ..EventFilter::default() };
        let events = match self.state.store.catalog().events(&all).await {
            Ok(events) => events,
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "The event stream could not read the log; retrying");
                return Some(());
            }
            Err(e) => {
                tracing::error!(error = %e, "The event stream could not read the log; ending it");
                return None;
            }
        };
        let mut next = self.seen + 1;
        for e in events {
            if e.seq != next {
                let since = *self.gap_since.get_or_insert_with(Instant::now);
                if since.elapsed() < GAP_WAIT {
                    break;
                }
            }
            self.gap_since = None;
            next = e.seq + 1;
            if self.wanted(&e) {
                self.ready.push_back(e);
            } else {
                self.seen = e.seq;
            }
        }
        Some(())
    }

    fn wanted(&self, e: &Event) -> bool {
        self.tenant.as_ref().is_none_or(|t| e.tenant_id.as_deref() == Some(t.as_str()))
            && self.kind.as_ref().is_none_or(|k| *k == e.event_type)
    }
}

fn sse(e: &Event) -> SseEvent {
    let data = serde_json::to_string(&EventView::from(e)).unwrap_or_else(|_| "{}".into());
    SseEvent::default().id(e.seq.to_string()).event(e.event_type.clone()).data(data)
}

/// The stream's route (any valid token; scoped by the handler).
pub fn routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new().routes(routes!(event_stream))
}
