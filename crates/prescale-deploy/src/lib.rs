//! Deployment artefacts of prescale, and the checks of the Helm chart.
//!
//! - [`dashboards`]: the Grafana dashboards (autoscaling overview, predictive scaling, cost),
//!   generated as JSON; `cargo run -p prescale-deploy --bin prescale-dashboards` writes them
//!   into `charts/prescale/dashboards/`, and a test checks the committed files are current.
//! - [`promql`] and [`metrics_doc`]: every dashboard expression parses, and names only metrics
//!   listed in docs/metrics.md.
//! - [`kubernetes`]: strict Kubernetes v1.33 schemas of the built-in kinds the chart renders.
//! - [`values`]: chart values from a `prescale generate` spec, to compare `helm template` with
//!   `prescale generate`.
//!
//! The chart's own tests (`helm lint`, `helm template` with every values file, schemas,
//! security settings, RBAC) are in `tests/chart.rs`.

pub mod dashboards;
mod error;
pub mod kubernetes;
pub mod metrics_doc;
pub mod promql;
pub mod values;

pub use error::{Error, Result};
