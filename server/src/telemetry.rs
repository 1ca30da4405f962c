//! Logs: JSON lines through `tracing`, one per event, each carrying the
//! fields of its spans (so every line of a request has its `request_id`).

use tracing_subscriber::{fmt, prelude::*, EnvFilter};

pub fn init(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = fmt::layer().json().with_current_span(true).with_span_list(false).flatten_event(true);
    // A second init (tests start several servers in one process) is harmless.
    let _ = tracing_subscriber::registry().with(filter).with(json).try_init();
}
