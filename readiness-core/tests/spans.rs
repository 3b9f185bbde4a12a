//! Every check run is a `readiness.check` span (check, tenant, kind; outcome and duration
//! recorded at its end), seen here by a real `tracing` subscriber.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{FAIL, HANG, OK, PANIC_IN_CHECK, Switch, advance};
use readiness_core::{CheckSpec, Engine};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span's fields as text.
type Fields = BTreeMap<String, String>;

/// An event's message and the name of the span it was emitted in.
type EventIn = (String, Option<String>);

#[derive(Default)]
struct FieldsOf(Fields);

impl Visit for FieldsOf {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

/// Records every closed `readiness.check` span with its fields, and which span each event
/// was emitted in.
#[derive(Clone, Default)]
struct Spans {
    closed: Arc<Mutex<Vec<Fields>>>,
    events_in: Arc<Mutex<Vec<EventIn>>>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = FieldsOf::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields.0);
        }
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            let mut more = FieldsOf(std::mem::take(fields));
            values.record(&mut more);
            *fields = more.0;
        }
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = FieldsOf::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        let span = ctx.event_span(event).map(|s| s.name().to_owned());
        self.events_in.lock().expect("events").push((message, span));
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && span.name() == "readiness.check"
        {
            let fields = span
                .extensions()
                .get::<Fields>()
                .cloned()
                .unwrap_or_default();
            self.closed.lock().expect("spans").push(fields);
        }
    }
}

impl Spans {
    fn of(&self, check: &str) -> Vec<Fields> {
        self.closed
            .lock()
            .expect("spans")
            .iter()
            .filter(|f| f.get("check").map(String::as_str) == Some(check))
            .cloned()
            .collect()
    }
}

fn spec(name: &str, check: &Switch) -> CheckSpec {
    CheckSpec::readiness(name, check.clone())
        .period(Duration::from_secs(1))
        .timeout(Duration::from_millis(200))
        .jitter(Duration::ZERO)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn each_run_is_one_span_with_its_fields() {
    let spans = Spans::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));

    let db = Switch::new(OK);
    let cache = Switch::new(FAIL);
    let slow = Switch::new(HANG);
    let broken = Switch::new(PANIC_IN_CHECK);
    let store = Switch::new(FAIL);
    let engine = Engine::builder()
        .without_heartbeat()
        .check(spec("db", &db))
        .check(spec("cache", &cache))
        .check(spec("slow", &slow))
        .check(spec("broken", &broken))
        .tenant("acme", vec![spec("store", &store)])
        .build()
        .expect("valid");
    engine.refresh().await.expect("runs");
    engine.refresh_tenant("acme").await.expect("runs");
    advance(Duration::from_millis(3500)).await;
    let db_runs = engine.runs_started("db").expect("db");
    assert!(db_runs >= 4, "the background runs too: {db_runs}");
    drop(engine);

    let expect = [
        ("db", "ok", None, &db),
        ("cache", "error", None, &cache),
        ("slow", "timeout", None, &slow),
        ("broken", "panic", None, &broken),
        ("store", "error", Some("acme"), &store),
    ];
    for (check, outcome, tenant, switch) in expect {
        let seen = spans.of(check);
        assert_eq!(
            seen.len(),
            switch.runs(),
            "{check}: one span per run: {seen:?}"
        );
        for f in &seen {
            assert_eq!(
                f.get("kind").map(String::as_str),
                Some("readiness"),
                "{f:?}"
            );
            assert_eq!(f.get("outcome").map(String::as_str), Some(outcome), "{f:?}");
            assert_eq!(f.get("tenant").map(String::as_str), tenant, "{f:?}");
            let secs: f64 = f["duration"].parse().expect("seconds");
            let want = if outcome == "timeout" { 0.2 } else { 0.0 };
            assert!(
                (secs - want).abs() < 1e-6,
                "{check}: {secs} s on the paused clock"
            );
        }
    }
    // The transitions a run causes are logged inside its span.
    let events = spans.events_in.lock().expect("events").clone();
    let changed: Vec<_> = events
        .iter()
        .filter(|(m, _)| m == "check state changed")
        .collect();
    assert_eq!(changed.len(), 5, "{events:?}");
    assert!(
        changed
            .iter()
            .all(|(_, span)| span.as_deref() == Some("readiness.check")),
        "{changed:?}"
    );
}
