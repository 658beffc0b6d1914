//! Prometheus metrics (`GET /metrics`), through the `metrics` facade and
//! `metrics-exporter-prometheus`. Labels are closed vocabularies (channel,
//! status, intent, reason): never a number, a name or a text.
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `paminn_messages_total` | counter | `channel`, `outcome` (sent, failed, suppressed, retry, deferred) |
//! | `paminn_retries_total` | counter | `channel` |
//! | `paminn_gateway_errors_total` | counter | `channel`, `kind` (permanent, temporary, rate_limited, opted_out, unreachable) |
//! | `paminn_send_seconds` | histogram | `channel` |
//! | `paminn_lateness_seconds` | histogram | `channel` (send time minus due time) |
//! | `paminn_inbound_total` | counter | `channel`, `intent` |
//! | `paminn_webhook_rejections_total` | counter | `status` (401, 400, 413, ...) |
//! | `paminn_outbox_depth` | gauge | `status` (pending, sending), read at scrape time |

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use. `None` if another
/// recorder was installed first (then nothing is exported).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .and_then(|b| b.install_recorder())
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// The Prometheus text format of everything recorded so far.
pub fn render() -> String {
    match handle() {
        Some(h) => {
            h.run_upkeep();
            h.render()
        }
        None => String::new(),
    }
}
