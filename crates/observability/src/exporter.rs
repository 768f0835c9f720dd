//! The Prometheus exporter: the process's recorder and the text format of what it holds.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::names;

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct InstallError(String);

/// The process's metrics: renders the Prometheus text format on demand.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics { .. }")
    }
}

/// Latency buckets (seconds): from 100 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Installs the Prometheus recorder for this process (once; later calls return the same
/// handle) and describes every metric. Without it every recording is a no-op, at no cost.
pub fn install() -> Result<Metrics, InstallError> {
    static INSTALLED: OnceLock<Result<Metrics, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())?;
            names::describe();
            metrics_process::Collector::default().describe();
            metrics::gauge!(
                names::BUILD_INFO,
                "version" => env!("CARGO_PKG_VERSION"),
                "commit" => option_env!("FIDO_GIT_COMMIT").unwrap_or("unknown"),
            )
            .set(1.0);
            Ok(Metrics { handle })
        })
        .clone()
        .map_err(InstallError)
}

impl Metrics {
    /// The text format of every metric, with the process metrics read now.
    pub fn render(&self) -> String {
        metrics_process::Collector::default().collect();
        self.handle.render()
    }

    /// Drops histogram samples older than the handle's window (call now and then when
    /// nothing scrapes; a scrape does it too).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}
