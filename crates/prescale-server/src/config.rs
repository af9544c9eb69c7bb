//! The configuration file of `prescale serve` (YAML, unknown fields rejected). Every field is
//! optional; flags and environment variables override the file (see the CLI).
//!
//! ```yaml
//! grpc_addr: 0.0.0.0:6000        # KEDA's scalerAddress points here
//! http_addr: 0.0.0.0:8080        # /metrics, /healthz, /readyz, /api/v1/..., the pages at /
//! data_dir: /var/lib/prescale    # the embedded store (history, registrations, decisions)
//! dry_run: false                 # shadow mode for every service
//! kubernetes: false              # read running replicas from the Kubernetes API
//! api_token_file: /etc/prescale/api-token   # /api and the pages need `Authorization: Bearer <it>`
//! tls:                           # gRPC TLS; client_ca_file turns on mutual TLS
//!   cert_file: /etc/prescale/tls/tls.crt
//!   key_file: /etc/prescale/tls/tls.key
//!   client_ca_file: /etc/prescale/tls/ca.crt
//! prometheus:
//!   timeout: 5s
//!   retries: 1
//!   allowed:                     # URL prefixes a serverAddress may name (default: any)
//!     - http://prometheus-operated.monitoring.svc:9090
//!     - https://thanos.monitoring:9091
//!   # bearer_token_file, basic_auth, client_cert, client_key: sent only to the allowed
//!   # Prometheus that no servers entry matches (needs allowed); ca_cert: for every one
//!   servers:                     # or per Prometheus: the longest matching url wins
//!     - url: https://thanos.monitoring:9091
//!       bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token
//!       ca_cert: /etc/prescale/thanos-ca.crt
//! runtime:
//!   decision_interval: 15s
//!   refresh_interval: 5m
//!   refit_interval: 6h
//!   data_delay: 10s
//!   forecast_stale_after: 15m
//!   fit_window: 14d
//!   window: 5m
//!   forecast_threads: 1
//!   idle_priority: true          # fits and re-tunes under SCHED_IDLE (Linux)
//!   history_reads: 4             # concurrent history reads against each Prometheus
//!   first_answer_wait: 3s
//!   max_scaled_objects: 10000
//!   registration_ttl: 1h         # drop what KEDA stopped asking about (0s: never)
//! cost:                          # prices and budgets (prescale-kube's CostConfig)
//!   defaults: {price_per_hour: 2.5}
//! scaled_objects:                # registered at start, before KEDA's first call
//!   - namespace: inference
//!     name: llama-chat
//!     metadata: {serverAddress: "http://prometheus:9090", query: "sum(rate(vllm:request_success_total[1m]))", threshold: "10"}
//! ```

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prescale_kube::cost::CostConfig;
use serde::{Deserialize, Deserializer};

use crate::keda::metadata::Settings;
use crate::registry::ObjectKey;
use crate::runtime::RuntimeConfig;
use crate::state::persist::SavedRegistration;
use crate::timebase::TimeBase;
use crate::tls::TlsFiles;

/// A bad configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The YAML does not parse or has unknown or mistyped fields.
    #[error("{file}: {reason}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message (with line and column).
        reason: String,
    },
    /// A field's value is out of range.
    #[error("{file}: {field}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// The field, e.g. `runtime.refresh_interval` or `scaled_objects[0].metadata.threshold`.
        field: String,
        /// Why.
        reason: String,
    },
}

/// A duration written like `15s`, `5m`, `14d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(Dur)
            .map_err(|e| serde::de::Error::custom(format!("`{s}`: {e} (e.g. 15s, 5m, 14d)")))
    }
}

/// A metadata value: KEDA's are strings; numbers and booleans are accepted and written out.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            S(String),
            I(i64),
            F(f64),
            B(bool),
        }
        Ok(Scalar(match Any::deserialize(d)? {
            Any::S(s) => s,
            Any::I(i) => i.to_string(),
            Any::F(f) => f.to_string(),
            Any::B(b) => b.to_string(),
        }))
    }
}

/// The whole file. See the [module documentation](self).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// gRPC listen address (default `0.0.0.0:6000`).
    pub grpc_addr: Option<SocketAddr>,
    /// HTTP listen address (default `0.0.0.0:8080`).
    pub http_addr: Option<SocketAddr>,
    /// Directory of the embedded store.
    pub data_dir: Option<PathBuf>,
    /// Shadow mode for every service.
    pub dry_run: Option<bool>,
    /// Read running replicas from the Kubernetes API (in-cluster service account or
    /// kubeconfig) for cost tracking; without `cost` it is not called.
    pub kubernetes: Option<bool>,
    /// A file holding the bearer token the HTTP API (`/api`) and the operators' pages require,
    /// read at every call (a rotated token takes effect at once); `/metrics` and the health
    /// checks stay open. Without it `/api` and the pages are open.
    pub api_token_file: Option<PathBuf>,
    /// gRPC TLS.
    pub tls: Option<TlsFiles>,
    /// Prometheus client settings.
    #[serde(default)]
    pub prometheus: PrometheusSection,
    /// Schedules.
    #[serde(default)]
    pub runtime: RuntimeSection,
    /// Cost tracking (prices, GPU types, budgets); off when absent.
    pub cost: Option<CostConfig>,
    /// ScaledObjects registered at start.
    #[serde(default)]
    pub scaled_objects: Vec<Preregistered>,
}

/// Prometheus client settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSection {
    /// Timeout of one request (default 5 s).
    pub timeout: Option<Dur>,
    /// Retries after a transient failure (default 1).
    pub retries: Option<u32>,
    /// The Prometheus URL prefixes a ScaledObject's `serverAddress` may name (a whole path
    /// segment at a time); another address is refused (`INVALID_ARGUMENT` naming
    /// `serverAddress`). Empty (the default): any address, and the section's own credentials
    /// go nowhere.
    #[serde(default)]
    pub allowed: Vec<String>,
    /// File holding a bearer token sent to the `allowed` Prometheus servers that no `servers`
    /// entry matches (e.g. a mounted ServiceAccount token); KEDA does not forward
    /// TriggerAuthentication secrets to external scalers, so credentials are the server's,
    /// not per ScaledObject. Needs `allowed`.
    pub bearer_token_file: Option<PathBuf>,
    /// Basic authentication for the `allowed` Prometheus servers (as `bearer_token_file`).
    pub basic_auth: Option<BasicAuthFiles>,
    /// Extra CA certificate(s) (PEM) to trust for HTTPS Prometheus servers.
    pub ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS with Prometheus (with `client_key`).
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS with Prometheus.
    pub client_key: Option<PathBuf>,
    /// Accept any Prometheus server certificate (tests only).
    pub insecure_skip_verify: Option<bool>,
    /// Settings for particular Prometheus servers, replacing the ones above for them.
    #[serde(default)]
    pub servers: Vec<PrometheusServer>,
}

impl PrometheusSection {
    /// The section's own credentials and TLS, as an entry without a `url`: what every
    /// Prometheus that no `servers` entry matches gets.
    pub fn defaults(&self) -> PrometheusServer {
        PrometheusServer {
            url: String::new(),
            bearer_token_file: self.bearer_token_file.clone(),
            basic_auth: self.basic_auth.clone(),
            ca_cert: self.ca_cert.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
            insecure_skip_verify: self.insecure_skip_verify,
        }
    }
}

/// Credentials and TLS for the Prometheus servers at `url`: a ScaledObject's `serverAddress`
/// equal to it or under it (the rest starting with `/`); the longest matching `url` wins, and
/// its settings replace the section's (nothing is merged).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusServer {
    /// Base URL, e.g. `https://thanos.monitoring:9091`.
    pub url: String,
    /// File holding a bearer token.
    pub bearer_token_file: Option<PathBuf>,
    /// Basic authentication.
    pub basic_auth: Option<BasicAuthFiles>,
    /// Extra CA certificate(s) (PEM).
    pub ca_cert: Option<PathBuf>,
    /// Client certificate (PEM), with `client_key`.
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM).
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate (tests only).
    pub insecure_skip_verify: Option<bool>,
}

/// Basic authentication with the password in a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthFiles {
    /// User name.
    pub username: String,
    /// File holding the password (trailing newline ignored).
    pub password_file: PathBuf,
}

/// Scaled time, for fast end-to-end tests (see [`TimeBase::scaled`]).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeScale {
    /// The instant at which server time and wall time agree.
    pub origin: DateTime<Utc>,
    /// How many times faster server time runs (e.g. 60: one minute per second).
    pub speed: f64,
}

/// Schedules of the runtime (defaults in [`RuntimeConfig`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSection {
    /// Decision period.
    pub decision_interval: Option<Dur>,
    /// Forecast refresh period.
    pub refresh_interval: Option<Dur>,
    /// Model refit period.
    pub refit_interval: Option<Dur>,
    /// Settling delay of live data.
    pub data_delay: Option<Dur>,
    /// Age after which a forecast is not used.
    pub forecast_stale_after: Option<Dur>,
    /// History the model is fitted on.
    pub fit_window: Option<Dur>,
    /// Forecast window after the lead time.
    pub window: Option<Dur>,
    /// Concurrent forecast fits.
    pub forecast_threads: Option<usize>,
    /// Fits and re-tunes at the lowest CPU priority (Linux `SCHED_IDLE`; default true).
    pub idle_priority: Option<bool>,
    /// Concurrent history reads against each Prometheus (default 4).
    pub history_reads: Option<usize>,
    /// How long a call waits for a new ScaledObject's first decision (default 3 s).
    pub first_answer_wait: Option<Dur>,
    /// The most ScaledObjects served (default 10,000): a new one beyond is refused with
    /// `RESOURCE_EXHAUSTED`.
    pub max_scaled_objects: Option<usize>,
    /// A registration KEDA has not asked about for this long is dropped, with its worker,
    /// metrics and saved state (default 1 h; `0s`: never). The config's `scaled_objects`
    /// never expire.
    pub registration_ttl: Option<Dur>,
    /// Scaled time (tests only).
    pub time_scale: Option<TimeScale>,
}

/// A ScaledObject registered from the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preregistered {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The trigger metadata, as KEDA would send it.
    pub metadata: BTreeMap<String, Scalar>,
}

impl ServerConfig {
    /// Parses `text` read from `file`.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        yaml_serde::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_string(),
            reason: e.to_string(),
        })
    }

    /// The runtime configuration: the file's values over the defaults, checked.
    pub fn runtime(&self, file: &str, dry_run: bool) -> Result<RuntimeConfig, ConfigError> {
        let r = &self.runtime;
        let d = RuntimeConfig::default();
        let pick = |v: Option<Dur>, default: Duration| v.map_or(default, |x| x.0);
        let config = RuntimeConfig {
            decision_interval: pick(r.decision_interval, d.decision_interval),
            refresh_interval: pick(r.refresh_interval, d.refresh_interval),
            refit_interval: pick(r.refit_interval, d.refit_interval),
            data_delay: pick(r.data_delay, d.data_delay),
            forecast_stale_after: pick(r.forecast_stale_after, d.forecast_stale_after),
            fit_window: pick(r.fit_window, d.fit_window),
            window: pick(r.window, d.window),
            dry_run,
            grid_origin: None,
            forecast_threads: r.forecast_threads.unwrap_or(d.forecast_threads),
            idle_priority: r.idle_priority.unwrap_or(d.idle_priority),
            history_reads: r.history_reads.unwrap_or(d.history_reads),
            time: match r.time_scale {
                Some(t) if t.speed.is_finite() && t.speed >= 1.0 => {
                    TimeBase::scaled(t.origin, t.speed)
                }
                Some(t) => {
                    return Err(ConfigError::Invalid {
                        file: file.into(),
                        field: "runtime.time_scale.speed".into(),
                        reason: format!("must be a number >= 1, got {}", t.speed),
                    });
                }
                None => TimeBase::real(),
            },
        };
        config.validate().map_err(|reason| ConfigError::Invalid {
            file: file.into(),
            field: "runtime".into(),
            reason,
        })?;
        Ok(config)
    }

    /// The pre-registered ScaledObjects, their metadata checked.
    pub fn preregistered(&self, file: &str) -> Result<Vec<SavedRegistration>, ConfigError> {
        let mut out = Vec::new();
        for (i, p) in self.scaled_objects.iter().enumerate() {
            let md: HashMap<String, String> = p
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect();
            if p.namespace.is_empty() || p.name.is_empty() {
                return Err(ConfigError::Invalid {
                    file: file.into(),
                    field: format!("scaled_objects[{i}]"),
                    reason: "namespace and name must not be empty".into(),
                });
            }
            Settings::from_metadata(&md).map_err(|e| ConfigError::Invalid {
                file: file.into(),
                field: format!("scaled_objects[{i}].metadata.{}", e.key),
                reason: e.reason,
            })?;
            out.push((ObjectKey::new(&p.namespace, &p.name), md));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
grpc_addr: 127.0.0.1:6000
http_addr: 127.0.0.1:8080
data_dir: /tmp/prescale
dry_run: true
kubernetes: false
tls: {cert_file: a.crt, key_file: a.key, client_ca_file: ca.crt}
prometheus:
  timeout: 3s
  retries: 0
  servers: [{url: "https://thanos:9091", bearer_token_file: token}]
runtime:
  decision_interval: 15s
  refresh_interval: 5m
  refit_interval: 1h
  data_delay: 5s
  forecast_stale_after: 10m
  fit_window: 7d
  window: 10m
  forecast_threads: 1
  idle_priority: false
  first_answer_wait: 1s
cost:
  defaults: {price_per_hour: 3.0}
scaled_objects:
  - namespace: inference
    name: chat
    metadata: {serverAddress: "http://prom:9090", query: up, threshold: 10, scaleToZero: false}
"#;

    #[test]
    fn the_documented_example_parses() {
        let c = ServerConfig::parse(FULL, "serve.yaml").unwrap();
        assert_eq!(c.grpc_addr, Some("127.0.0.1:6000".parse().unwrap()));
        assert_eq!(
            c.tls.as_ref().unwrap().client_ca_file,
            Some(PathBuf::from("ca.crt"))
        );
        let r = c.runtime("serve.yaml", false).unwrap();
        assert_eq!(r.refit_interval, Duration::from_secs(3600));
        assert_eq!(r.window, Duration::from_secs(600));
        assert!(!r.idle_priority);
        assert!(RuntimeConfig::default().idle_priority);
        let p = c.preregistered("serve.yaml").unwrap();
        assert_eq!(p[0].1["threshold"], "10");
        assert_eq!(p[0].1["scaleToZero"], "false");
        assert_eq!(c.prometheus.servers[0].url, "https://thanos:9091");
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```yaml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| {
                format!(
                    "{}\n",
                    l.trim_start_matches("//!").strip_prefix(' ').unwrap_or("")
                )
            })
            .collect();
        let c = ServerConfig::parse(&example, "doc").unwrap();
        assert!(c.runtime("doc", false).is_ok());
        assert_eq!(c.preregistered("doc").unwrap().len(), 1);
    }

    #[test]
    fn errors_name_the_field() {
        let err = ServerConfig::parse("grpc_adr: 1.2.3.4:5\n", "f.yaml").unwrap_err();
        assert!(err.to_string().contains("grpc_adr"), "{err}");
        let err = ServerConfig::parse("runtime: {refresh_interval: soon}\n", "f.yaml").unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
        let c = ServerConfig::parse("runtime: {refresh_interval: 7s}\n", "f.yaml").unwrap();
        let err = c.runtime("f.yaml", false).unwrap_err();
        assert!(
            err.to_string().contains("refreshInterval") || err.to_string().contains("refresh"),
            "{err}"
        );
        let c = ServerConfig::parse(
            "scaled_objects: [{namespace: a, name: b, metadata: {serverAddress: 'http://p', query: up, threshold: -1}}]\n",
            "f.yaml",
        )
        .unwrap();
        let err = c.preregistered("f.yaml").unwrap_err();
        assert!(
            err.to_string()
                .contains("scaled_objects[0].metadata.threshold"),
            "{err}"
        );
        assert!(ServerConfig::parse("", "f.yaml").is_ok());
    }
}
