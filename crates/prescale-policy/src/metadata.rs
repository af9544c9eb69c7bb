//! The predictive trigger's metadata contract: the keys of a prescale trigger's
//! `scalerMetadata`, how they are parsed ([`Settings::from_metadata`], used by the server) and
//! how they are written ([`PredictiveTrigger::to_metadata`], used by the generator), with one
//! duration and number syntax for both. A test feeds every generated example's predictive
//! trigger back into the parser.
//!
//! Per-ScaledObject settings from a trigger's `scalerMetadata`.
//!
//! KEDA copies every key of the trigger's `metadata` into `ScaledObjectRef.scalerMetadata`
//! (values are strings). The keys use KEDA's own Prometheus-trigger names where those exist:
//!
//! | key | required | default | meaning |
//! |---|---|---|---|
//! | `serverAddress` | yes | | Prometheus base URL, e.g. `http://prometheus:9090` |
//! | `query` | yes | | PromQL giving the demand signal (one series) |
//! | `threshold` | yes | | demand one replica serves (> 0, at least 0.001); the metric target |
//! | `activationThreshold` | no | `0` | live demand at or below it counts as no demand |
//! | `coldStart` | no | `3m` | lead time: how long a new replica takes to serve (at most 6 h) |
//! | `slo` | no | `0.99` | SLO mode (the default): the share of demand to serve within `sla`; the headroom (forecast quantile, target utilization) is tuned daily on the service's own history |
//! | `sla` | no | `500ms` | the SLA on the queueing delay SLO mode keeps |
//! | `quantile` | no | | expert override: a fixed forecast quantile in (0, 1), provisioned at `threshold`; turns SLO mode off (not with `slo`) |
//! | `minReplicas` | no | `0` | fewest replicas the policy asks for |
//! | `maxReplicas` | no | `100` | most replicas the policy asks for |
//! | `scaleToZero` | no | `true` | whether the policy may deactivate the service |
//! | `history` | no | `14d` | history kept and fitted on (at least 1 h, at most 90 d) |
//! | `mode` | no | `predictive` | `predictive`, or `forecast-only` (shadow: KEDA gets reactive values) |
//! | `ignoreNullValues` | no | `false` | `false`: an empty query result (or NaN) is missing data: the decision holds, never scaling to zero on it; `true`: an empty result reads as 0 (for counters that vanish when idle; KEDA's Prometheus-scaler default) |
//! | `calendar` | no | | business calendar, JSON (`{"timezone":"Europe/Berlin","open":"09:00",...}`) |
//! | `queueQuery` | no | | PromQL giving the work waiting, in demand units (e.g. `sum(vllm:num_requests_waiting)`): adds the backlog term |
//! | `readyQuery` | no | | PromQL giving the ready replicas, when the Kubernetes API does not (adds the shortfall to the backlog term) |
//! | `ratePeriod` | no | `1s` | the time unit of `query`'s rate (`1s` for PromQL's `rate()`, `1m` for a rate × 60): converts a queue (a count) into a rate |
//! | `drain` | no | `5m` | time in which the backlog term clears the backlog (at least 1 minute) |
//! | `metricName` | no | `prescale` | metric name in the metric spec |
//! | `service` | no | | free-form label of the service (`namespace/name`), shown in the API |
//! | `latencyQuery` | no | | PromQL giving the measured latency in seconds, reported beside SLO mode's predicted attainment (never a decision input) |
//!
//! At most [`MAX_KEYS`] keys, each value at most [`MAX_VALUE_BYTES`] bytes.
//!
//! `scalerAddress`, `enableTLS` and `unsafeSsl` (KEDA's own keys, sent along) are accepted
//! and ignored. `<key>FromEnv` (resolved by KEDA from the workload's environment) stands for
//! `<key>` when `<key>` is not set (`serverAddressFromEnv`, `queryFromEnv`, ...). Keys KEDA
//! documents for its external and Prometheus triggers that prescale does not use
//! ([`IGNORED_KEDA_KEYS`]: `caCert`, `tlsClientCert`, `tlsClientKey`, `namespace`,
//! `customHeaders`, ...) and other `*FromEnv` keys are accepted and ignored with a warning
//! ([`ignored_keys`]). Any other key, and any bad value, is an error naming the key: the gRPC
//! answer is `INVALID_ARGUMENT`.

use std::collections::{BTreeMap, HashMap};

use crate::ScalingSpec;
use prescale_core::calendar::BusinessCalendar;
use serde::Serialize;

/// The most history a service may keep: 90 days.
pub const MAX_HISTORY_SECS: i64 = 90 * 86_400;
/// The least history a service may keep: 1 hour.
pub const MIN_HISTORY_SECS: i64 = 3_600;
/// The longest cold start (`coldStart`): six hours. The forecast horizon, and with it the
/// memory a service's calibration holds, grows with it.
pub const MAX_COLD_START_SECS: i64 = 6 * 3_600;
/// The most keys a trigger's metadata may have.
pub const MAX_KEYS: usize = 64;
/// The longest metadata value, in bytes (a query, a calendar).
pub const MAX_VALUE_BYTES: usize = 8_192;
/// The smallest threshold: KEDA passes quantities with milli precision.
pub const MIN_THRESHOLD: f64 = 0.001;

/// Keys of KEDA's external trigger, sent along with every call (accepted, not used).
const KEDA_KEYS: [&str; 3] = ["scalerAddress", "enableTLS", "unsafeSsl"];

/// Keys KEDA documents for its external and Prometheus triggers that prescale does not use:
/// accepted and ignored, with a warning ([`ignored_keys`]). `caCert`, `tlsClientCert` and
/// `tlsClientKey` are KEDA's TLS settings towards this server (read from a
/// TriggerAuthentication); the others are Prometheus-trigger options prescale's own
/// Prometheus client does not take (its TLS, headers and timeouts are server settings).
pub const IGNORED_KEDA_KEYS: [&str; 10] = [
    "caCert",
    "tlsClientCert",
    "tlsClientKey",
    "namespace",
    "customHeaders",
    "queryParameters",
    "timeout",
    "authModes",
    "awsRegion",
    "identityOwner",
];

/// The suffix of the keys KEDA resolves from the workload's environment: `<key>FromEnv`
/// arrives with the variable's value and stands for `<key>`.
const FROM_ENV: &str = "FromEnv";

/// Whether `key` is read: a known key, or `<known key>FromEnv`.
fn is_read(key: &str) -> bool {
    KNOWN_KEYS.contains(&key)
        || key
            .strip_suffix(FROM_ENV)
            .is_some_and(|base| KNOWN_KEYS.contains(&base))
}

/// The keys of `metadata` that are accepted but ignored, sorted: KEDA's own trigger options
/// prescale does not use ([`IGNORED_KEDA_KEYS`]), and `*FromEnv` keys whose base key prescale
/// does not read. The server logs them with a warning when it registers a ScaledObject.
pub fn ignored_keys(metadata: &HashMap<String, String>) -> Vec<String> {
    let mut keys: Vec<String> = metadata
        .keys()
        .filter(|k| {
            !is_read(k)
                && !KEDA_KEYS.contains(&k.as_str())
                && (IGNORED_KEDA_KEYS.contains(&k.as_str()) || k.ends_with(FROM_ENV))
        })
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Whether a PromQL demand query reads series the service's own pods emit (vLLM's `vllm:`
/// metrics, dcgm-exporter's `DCGM_` GPU metrics): supply-side series, which vanish when the
/// service is at zero replicas. A forecast learnt from them sees no demand while the service
/// is down (censored demand) and cannot wake it; scale-to-zero needs a demand-side query
/// (a gateway or ingress counter, a queue).
pub fn is_supply_side_query(query: &str) -> bool {
    query.contains("vllm:") || query.contains("DCGM_")
}

/// A bad metadata key or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scalerMetadata.{key}: {reason}")]
pub struct MetadataError {
    /// The key at fault.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl MetadataError {
    /// An error about `key`.
    pub fn new(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

/// What KEDA is told for a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The policy's decisions drive the replicas.
    Predictive,
    /// Shadow mode: decisions are computed and reported, KEDA gets reactive values only.
    ForecastOnly,
}

impl Mode {
    /// The name used in metadata (`predictive`, `forecast-only`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Predictive => "predictive",
            Self::ForecastOnly => "forecast-only",
        }
    }
}

/// The settings of one ScaledObject's prescale trigger. See the
/// [module documentation](self) for the keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Prometheus base URL (shown with any user and password masked, see
    /// [`redact_userinfo`]).
    #[serde(serialize_with = "serialize_redacted")]
    pub server_address: String,
    /// PromQL giving the demand signal.
    pub query: String,
    /// Demand one replica serves (the metric spec's target).
    pub threshold: f64,
    /// Live demand at or below it counts as no demand.
    pub activation_threshold: f64,
    /// Lead time in seconds.
    pub cold_start_secs: i64,
    /// Forecast quantile provisioned for.
    pub quantile: f64,
    /// Fewest replicas.
    pub min_replicas: u32,
    /// Most replicas.
    pub max_replicas: u32,
    /// Whether the service may scale to zero.
    pub scale_to_zero: bool,
    /// History kept and fitted on, in seconds.
    pub history_secs: i64,
    /// Predictive or shadow.
    pub mode: Mode,
    /// Whether an empty query result reads as 0.
    pub ignore_null_values: bool,
    /// Business calendar.
    pub calendar: Option<BusinessCalendar>,
    /// PromQL giving the work waiting, in demand units (the backlog term).
    pub queue_query: Option<String>,
    /// PromQL giving the ready replicas (the backlog term's shortfall).
    pub ready_query: Option<String>,
    /// Seconds of `query`'s rate unit.
    pub rate_period_secs: i64,
    /// Seconds in which the backlog term clears the backlog.
    pub drain_secs: i64,
    /// Metric name in the metric spec.
    pub metric_name: String,
    /// Free-form service label.
    pub service: Option<String>,
    /// SLO mode: the share of demand to serve within [`Settings::sla_ms`]; the server then
    /// tunes the headroom (quantile and target utilization) on the service's own history.
    /// The default ([`DEFAULT_SLO`]); `None` only when `quantile` fixes the headroom.
    pub slo: Option<f64>,
    /// The SLA on the queueing delay SLO mode keeps, milliseconds (default 500).
    pub sla_ms: i64,
    /// PromQL giving the measured latency the SLA is about, in seconds (e.g. a histogram
    /// quantile of vLLM's time to first token at the SLO), reported beside the predicted
    /// attainment; it never changes a decision.
    pub latency_query: Option<String>,
}

impl Settings {
    /// Parses and validates `metadata`. See the [module documentation](self).
    pub fn from_metadata(metadata: &HashMap<String, String>) -> Result<Self, MetadataError> {
        let md: BTreeMap<&str, &str> = metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if md.len() > MAX_KEYS {
            return Err(MetadataError::new(
                "(metadata)",
                format!("{} keys; at most {MAX_KEYS}", md.len()),
            ));
        }
        for (key, value) in &md {
            if value.len() > MAX_VALUE_BYTES {
                return Err(MetadataError::new(
                    key,
                    format!("{} bytes long; at most {MAX_VALUE_BYTES}", value.len()),
                ));
            }
        }
        for key in md.keys() {
            if !is_read(key)
                && !KEDA_KEYS.contains(key)
                && !IGNORED_KEDA_KEYS.contains(key)
                && !key.ends_with(FROM_ENV)
            {
                return Err(MetadataError::new(
                    key,
                    format!("unknown key (known keys: {})", KNOWN_KEYS.join(", ")),
                ));
            }
        }
        // A key, else `<key>FromEnv` (resolved by KEDA from the workload's environment).
        let get = |key: &str| {
            let value = |k: &str| md.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
            value(key).or_else(|| value(&format!("{key}{FROM_ENV}")))
        };
        let either = |key: &'static str| {
            get(key).ok_or_else(|| MetadataError::new(key, "missing (required)"))
        };
        let server_address = either("serverAddress")?;
        if !(server_address.starts_with("http://") || server_address.starts_with("https://")) {
            return Err(MetadataError::new(
                "serverAddress",
                format!("`{server_address}` is not an http:// or https:// URL"),
            ));
        }
        let query = either("query")?;
        let threshold = number(
            "threshold",
            get("threshold")
                .ok_or_else(|| MetadataError::new("threshold", "missing (required)"))?,
        )?;
        if threshold < MIN_THRESHOLD {
            return Err(MetadataError::new(
                "threshold",
                format!(
                    "must be at least {MIN_THRESHOLD} (KEDA's milli precision), got {threshold}"
                ),
            ));
        }
        let activation_threshold = match get("activationThreshold") {
            Some(v) => number("activationThreshold", v)?,
            None => 0.0,
        };
        let cold_start_secs = match get("coldStart") {
            Some(v) => cold_start_secs(v)?,
            None => 180,
        };
        let quantile = match get("quantile") {
            Some(v) => {
                let q = number("quantile", v)?;
                if !(q > 0.0 && q < 1.0) {
                    return Err(MetadataError::new(
                        "quantile",
                        format!("must be in (0, 1), got {q}"),
                    ));
                }
                q
            }
            None => 0.9,
        };
        let min_replicas = match get("minReplicas") {
            Some(v) => count("minReplicas", v)?,
            None => 0,
        };
        let max_replicas = match get("maxReplicas") {
            Some(v) => count("maxReplicas", v)?,
            None => 100,
        };
        if max_replicas == 0 {
            return Err(MetadataError::new("maxReplicas", "must be at least 1"));
        }
        if min_replicas > max_replicas {
            return Err(MetadataError::new(
                "minReplicas",
                format!("must not exceed maxReplicas ({min_replicas} > {max_replicas})"),
            ));
        }
        let scale_to_zero = match get("scaleToZero") {
            Some(v) => boolean("scaleToZero", v)?,
            None => true,
        };
        let history_secs = match get("history") {
            Some(v) => duration_secs("history", v, MIN_HISTORY_SECS, MAX_HISTORY_SECS)?,
            None => 14 * 86_400,
        };
        let mode = match get("mode") {
            None | Some("predictive") => Mode::Predictive,
            Some("forecast-only") => Mode::ForecastOnly,
            Some(other) => {
                return Err(MetadataError::new(
                    "mode",
                    format!("`{other}` is not one of predictive, forecast-only"),
                ));
            }
        };
        // Missing is not zero: an empty result holds (a service whose series vanished, e.g.
        // every pod gone, is never scaled to zero on it), unlike KEDA's Prometheus scaler.
        let ignore_null_values = match get("ignoreNullValues") {
            Some(v) => boolean("ignoreNullValues", v)?,
            None => false,
        };
        let calendar =
            match get("calendar") {
                Some(v) => Some(serde_json::from_str::<BusinessCalendar>(v).map_err(|e| {
                    MetadataError::new("calendar", format!("bad calendar JSON: {e}"))
                })?),
                None => None,
            };
        let rate_period_secs = match get("ratePeriod") {
            Some(v) => duration_secs("ratePeriod", v, 1, 3_600)?,
            None => 1,
        };
        let drain_secs = match get("drain") {
            Some(v) => duration_secs("drain", v, 60, 86_400)?,
            None => 300,
        };
        let slo = match get("slo") {
            Some(v) => {
                let x = number("slo", v)?;
                if !(x > 0.0 && x < 1.0) {
                    return Err(MetadataError::new(
                        "slo",
                        format!("must be in (0, 1), got {x}"),
                    ));
                }
                if get("quantile").is_some() {
                    return Err(MetadataError::new(
                        "slo",
                        "set either slo (the headroom is tuned) or quantile (fixed), not both",
                    ));
                }
                Some(x)
            }
            // SLO mode is the default; a fixed `quantile` is the expert override.
            None if get("quantile").is_some() => None,
            None => Some(DEFAULT_SLO),
        };
        let sla_ms = match get("sla") {
            Some(v) => sla_millis(v)?,
            None => 500,
        };
        let metric_name = get("metricName").unwrap_or("prescale");
        if metric_name.len() > 200
            || !metric_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(MetadataError::new(
                "metricName",
                format!("`{metric_name}` must be at most 200 of [A-Za-z0-9._-]"),
            ));
        }
        let settings = Self {
            server_address: server_address.trim_end_matches('/').to_string(),
            query: query.to_string(),
            threshold,
            activation_threshold,
            cold_start_secs,
            quantile,
            min_replicas,
            max_replicas,
            scale_to_zero,
            history_secs,
            mode,
            ignore_null_values,
            calendar,
            queue_query: get("queueQuery").map(str::to_string),
            ready_query: get("readyQuery").map(str::to_string),
            rate_period_secs,
            drain_secs,
            metric_name: metric_name.to_string(),
            service: get("service").map(str::to_string),
            slo,
            sla_ms,
            latency_query: get("latencyQuery").map(str::to_string),
        };
        settings
            .spec()
            .validate()
            .map_err(|e| MetadataError::new("(policy)", e.to_string()))?;
        Ok(settings)
    }

    /// The policy spec: capacity = `threshold` per step of one minute (the demand signal is a
    /// level, read once a minute), and the bounds, lead, quantile and calendar.
    pub fn spec(&self) -> ScalingSpec {
        let mut spec = ScalingSpec::new(self.threshold);
        spec.min_replicas = self.min_replicas;
        spec.max_replicas = self.max_replicas;
        spec.cold_start_secs = self.cold_start_secs;
        spec.quantile = self.quantile;
        spec.scale_to_zero = self.scale_to_zero;
        spec.calendar = self.calendar.clone();
        spec
    }

    /// The threshold in whole thousandths (KEDA's milli precision), rounded.
    pub fn threshold_milli(&self) -> i64 {
        crate::quantity::to_milli(self.threshold)
    }

    /// The metric target sent to KEDA (`targetSizeFloat`): the threshold at milli precision,
    /// as the float that KEDA ≤ 2.19 (truncating) and ≥ 2.20 (rounding) both read as
    /// [`Settings::threshold_milli`] thousandths (see [`crate::quantity`]).
    pub fn target(&self) -> f64 {
        crate::quantity::keda_float(self.threshold_milli())
    }

    /// The metric value sent to KEDA (`metricValueFloat`) for `replicas`: `replicas ×
    /// threshold` in thousandths, as a float every KEDA version reads exactly, so that the
    /// HPA's `AverageValue` maths, `ceil(value / target)`, gives `replicas`.
    pub fn metric_value(&self, replicas: u32) -> f64 {
        crate::quantity::keda_float(i64::from(replicas).saturating_mul(self.threshold_milli()))
    }

    /// The target in the deprecated int64 field: the threshold rounded, at least 1.
    pub fn target_int(&self) -> i64 {
        (self.threshold.round() as i64).max(1)
    }
}

/// The SLO of SLO mode when the trigger sets neither `slo` nor `quantile`.
pub const DEFAULT_SLO: f64 = 0.99;

/// Every key this scaler reads.
pub const KNOWN_KEYS: [&str; 24] = [
    "serverAddress",
    "serverAddressFromEnv",
    "query",
    "queryFromEnv",
    "threshold",
    "activationThreshold",
    "coldStart",
    "quantile",
    "minReplicas",
    "maxReplicas",
    "scaleToZero",
    "history",
    "mode",
    "ignoreNullValues",
    "calendar",
    "queueQuery",
    "readyQuery",
    "ratePeriod",
    "drain",
    "metricName",
    "service",
    "slo",
    "sla",
    "latencyQuery",
];

/// `x` rounded to three decimals.
pub fn milli(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn number(key: &str, v: &str) -> Result<f64, MetadataError> {
    let x: f64 = v
        .parse()
        .map_err(|_| MetadataError::new(key, format!("`{v}` is not a number")))?;
    if !x.is_finite() || x < 0.0 {
        return Err(MetadataError::new(
            key,
            format!("must be a finite number >= 0, got `{v}`"),
        ));
    }
    Ok(x)
}

fn count(key: &str, v: &str) -> Result<u32, MetadataError> {
    v.parse()
        .map_err(|_| MetadataError::new(key, format!("`{v}` is not a whole number >= 0")))
}

fn boolean(key: &str, v: &str) -> Result<bool, MetadataError> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(MetadataError::new(
            key,
            format!("`{v}` is not true or false"),
        )),
    }
}

/// `url` with its user information (`user:password@`) masked as `***@`, for the API, logs
/// and messages.
pub fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://***{}{tail}", &authority[at..]),
        None => url.to_string(),
    }
}

fn serialize_redacted<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_userinfo(url))
}

/// A `coldStart` value: a duration in `[0, MAX_COLD_START_SECS]`. The server, the generator
/// and `prescale validate` read it through this.
pub fn cold_start_secs(v: &str) -> Result<i64, MetadataError> {
    duration_secs("coldStart", v, 0, MAX_COLD_START_SECS)
}

/// A duration such as `3m`, `90s`, `1h30m`, `14d`, or plain seconds, within `[min, max]`
/// seconds; the error names `key`.
pub fn duration_secs(key: &str, v: &str, min: i64, max: i64) -> Result<i64, MetadataError> {
    let secs = match v.parse::<i64>() {
        Ok(s) => s,
        Err(_) => humantime::parse_duration(v)
            .map_err(|e| MetadataError::new(key, format!("`{v}`: {e} (e.g. 3m, 14d)")))?
            .as_secs()
            .try_into()
            .unwrap_or(i64::MAX),
    };
    if !(min..=max).contains(&secs) {
        return Err(MetadataError::new(
            key,
            format!("must be between {min} and {max} seconds, got `{v}`"),
        ));
    }
    Ok(secs)
}

/// The SLA: a duration of 1 ms to 1 h (`500ms`, `2s`), in milliseconds; the error names `sla`.
pub fn sla_millis(v: &str) -> Result<i64, MetadataError> {
    let ms = humantime::parse_duration(v)
        .map_err(|e| MetadataError::new("sla", format!("`{v}`: {e} (e.g. 500ms, 2s)")))?
        .as_millis();
    if !(1..=3_600_000).contains(&ms) {
        return Err(MetadataError::new(
            "sla",
            format!("must be between 1ms and 1h, got `{v}`"),
        ));
    }
    Ok(ms as i64)
}

/// A number as written into metadata (the shortest form that reads back to the same value).
pub fn format_number(x: f64) -> String {
    format!("{x}")
}

/// A duration in seconds as written into metadata: whole days, hours or minutes when exact
/// (`14d`, `1h`, `3m`), else seconds (`90s`).
pub fn format_duration(secs: i64) -> String {
    match secs {
        s if s != 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s != 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s != 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// What a generated predictive trigger sets (the rest keeps the server's defaults). See the
/// [module documentation](self).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PredictiveTrigger {
    /// The prescale server's gRPC address (`scalerAddress`, KEDA's key).
    pub scaler_address: String,
    /// Prometheus base URL.
    pub server_address: String,
    /// The demand query.
    pub query: Option<String>,
    /// Demand one replica serves.
    pub threshold: f64,
    /// Live demand at or below it counts as no demand.
    pub activation_threshold: Option<f64>,
    /// Forecast quantile.
    pub quantile: Option<f64>,
    /// Lead time, seconds.
    pub cold_start_secs: Option<i64>,
    /// Fewest replicas.
    pub min_replicas: Option<u32>,
    /// Most replicas.
    pub max_replicas: Option<u32>,
    /// Whether the policy may scale to zero.
    pub scale_to_zero: Option<bool>,
    /// Business calendar, as JSON.
    pub calendar: Option<String>,
    /// Free-form service label.
    pub service: Option<String>,
    /// SLO mode's SLO.
    pub slo: Option<f64>,
    /// SLO mode's SLA, milliseconds.
    pub sla_ms: Option<i64>,
}

impl PredictiveTrigger {
    /// The trigger's `metadata`, in the syntax [`Settings::from_metadata`] reads.
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        let mut md = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            md.insert(k.to_string(), v);
        };
        put("scalerAddress", self.scaler_address.clone());
        put("serverAddress", self.server_address.clone());
        if let Some(s) = &self.service {
            put("service", s.clone());
        }
        if let Some(q) = &self.query {
            put("query", q.clone());
        }
        put("threshold", format_number(self.threshold));
        if let Some(a) = self.activation_threshold {
            put("activationThreshold", format_number(a));
        }
        if let Some(q) = self.quantile {
            put("quantile", format_number(q));
        }
        if let Some(c) = self.cold_start_secs {
            put("coldStart", format_duration(c));
        }
        if let Some(n) = self.min_replicas {
            put("minReplicas", n.to_string());
        }
        if let Some(n) = self.max_replicas {
            put("maxReplicas", n.to_string());
        }
        if let Some(b) = self.scale_to_zero {
            put("scaleToZero", b.to_string());
        }
        if let Some(c) = &self.calendar {
            put("calendar", c.clone());
        }
        if let Some(x) = self.slo {
            put("slo", format_number(x));
        }
        if let Some(ms) = self.sla_ms {
            put("sla", format!("{ms}ms"));
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("serverAddress", "http://prometheus:9090/"),
            ("query", "sum(rate(http_requests_total[1m]))"),
            ("threshold", "10"),
        ]
    }

    fn with(extra: &[(&'static str, &'static str)]) -> HashMap<String, String> {
        let mut pairs = base();
        pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        pairs.extend_from_slice(extra);
        md(&pairs)
    }

    #[test]
    fn defaults_from_the_three_required_keys() {
        let s = Settings::from_metadata(&md(&base())).unwrap();
        assert_eq!(s.server_address, "http://prometheus:9090");
        assert_eq!(s.threshold, 10.0);
        assert_eq!(s.cold_start_secs, 180);
        assert_eq!(s.quantile, 0.9);
        assert_eq!((s.min_replicas, s.max_replicas), (0, 100));
        // Missing is not zero by default.
        assert!(s.scale_to_zero && !s.ignore_null_values);
        assert_eq!(s.history_secs, 14 * 86_400);
        assert_eq!(s.mode, Mode::Predictive);
        assert_eq!(s.metric_name, "prescale");
        assert_eq!(s.spec().capacity_per_replica, 10.0);
    }

    #[test]
    fn every_key_is_read() {
        let s = Settings::from_metadata(&with(&[
            ("coldStart", "4m"),
            ("quantile", "0.95"),
            ("minReplicas", "1"),
            ("maxReplicas", "8"),
            ("scaleToZero", "false"),
            ("history", "28d"),
            ("mode", "forecast-only"),
            ("ignoreNullValues", "true"),
            ("activationThreshold", "0.5"),
            ("calendar", r#"{"timezone":"Europe/Berlin","open":"08:00"}"#),
            ("metricName", "llama-demand"),
            ("service", "inference/llama-chat"),
            ("scalerAddress", "prescale:6000"),
            ("enableTLS", "true"),
        ]))
        .unwrap();
        assert_eq!(s.cold_start_secs, 240);
        assert_eq!(s.quantile, 0.95);
        assert_eq!((s.min_replicas, s.max_replicas), (1, 8));
        assert!(!s.scale_to_zero && s.ignore_null_values);
        assert_eq!(s.history_secs, 28 * 86_400);
        assert_eq!(s.mode, Mode::ForecastOnly);
        assert_eq!(s.activation_threshold, 0.5);
        assert!(s.calendar.is_some());
        assert_eq!(s.metric_name, "llama-demand");
        assert_eq!(s.service.as_deref(), Some("inference/llama-chat"));
    }

    #[test]
    fn slo_mode_is_the_default_and_quantile_turns_it_off() {
        let s = Settings::from_metadata(&with(&[])).unwrap();
        assert_eq!((s.slo, s.sla_ms), (Some(DEFAULT_SLO), 500));
        let s = Settings::from_metadata(&with(&[("slo", "0.999"), ("sla", "2s")])).unwrap();
        assert_eq!((s.slo, s.sla_ms), (Some(0.999), 2_000));
        let s = Settings::from_metadata(&with(&[("quantile", "0.9")])).unwrap();
        assert_eq!((s.slo, s.quantile), (None, 0.9));
    }

    #[test]
    fn from_env_keys_stand_for_their_base_key() {
        let s = Settings::from_metadata(&md(&[
            ("serverAddressFromEnv", "http://prom:9090"),
            ("queryFromEnv", "up"),
            ("threshold", "1"),
        ]))
        .unwrap();
        assert_eq!(s.server_address, "http://prom:9090");
        assert_eq!(s.query, "up");
    }

    #[test]
    fn keys_keda_documents_are_accepted_and_ignored_with_a_warning() {
        let metadata = with(&[
            ("scalerAddress", "prescale:6000"),
            ("caCert", "-----BEGIN CERTIFICATE-----"),
            ("tlsClientCert", "-----BEGIN CERTIFICATE-----"),
            ("tlsClientKey", "-----BEGIN PRIVATE KEY-----"),
            ("namespace", "inference"),
            ("customHeaders", "X-Scope-OrgID=ml"),
            ("queryParameters", "dedup=true"),
            ("timeout", "1000"),
            ("authModes", "bearer"),
            ("customTokenFromEnv", "secret-value"),
        ]);
        let s = Settings::from_metadata(&metadata).unwrap();
        assert_eq!(s.threshold, 10.0);
        assert_eq!(
            ignored_keys(&metadata),
            [
                "authModes",
                "caCert",
                "customHeaders",
                "customTokenFromEnv",
                "namespace",
                "queryParameters",
                "timeout",
                "tlsClientCert",
                "tlsClientKey"
            ]
        );
        // KEDA's external-trigger keys and the keys prescale reads are no warning.
        assert!(
            ignored_keys(&with(&[("scalerAddress", "p:6000"), ("enableTLS", "true")])).is_empty()
        );
    }

    #[test]
    fn any_from_env_key_stands_for_its_base_key() {
        let mut metadata = md(&[
            ("serverAddress", "http://prom:9090"),
            ("query", "up"),
            ("thresholdFromEnv", "2.5"),
            ("coldStartFromEnv", "4m"),
        ]);
        let s = Settings::from_metadata(&metadata).unwrap();
        assert_eq!((s.threshold, s.cold_start_secs), (2.5, 240));
        assert!(ignored_keys(&metadata).is_empty());
        // The key itself wins over its environment form.
        metadata.insert("threshold".into(), "3".into());
        assert_eq!(Settings::from_metadata(&metadata).unwrap().threshold, 3.0);
    }

    #[test]
    fn supply_side_queries_are_recognised() {
        assert!(is_supply_side_query(
            "sum(rate(vllm:request_success_total[1m]))"
        ));
        assert!(is_supply_side_query("avg(DCGM_FI_DEV_GPU_UTIL)"));
        assert!(!is_supply_side_query(
            "sum(rate(gateway_requests_total{route=\"/v1/chat/completions\"}[1m]))"
        ));
    }

    #[test]
    fn bad_metadata_names_the_key() {
        let cases: Vec<(HashMap<String, String>, &str)> = vec![
            (with(&[("threshold", "-1")]), "threshold"),
            (with(&[("threshold", "abc")]), "threshold"),
            (with(&[("threshold", "0")]), "threshold"),
            (with(&[("threshold", "NaN")]), "threshold"),
            (with(&[("coldStart", "soon")]), "coldStart"),
            (with(&[("coldStart", "-5")]), "coldStart"),
            (with(&[("quantile", "1.5")]), "quantile"),
            (with(&[("minReplicas", "-1")]), "minReplicas"),
            (with(&[("maxReplicas", "0")]), "maxReplicas"),
            (
                with(&[("minReplicas", "9"), ("maxReplicas", "8")]),
                "minReplicas",
            ),
            (with(&[("scaleToZero", "maybe")]), "scaleToZero"),
            (with(&[("history", "10m")]), "history"),
            (with(&[("history", "1y")]), "history"),
            (with(&[("mode", "yolo")]), "mode"),
            (with(&[("calendar", "{}")]), "calendar"),
            (with(&[("metricName", "a b")]), "metricName"),
            (
                with(&[("serverAddress", "prometheus:9090")]),
                "serverAddress",
            ),
            (with(&[("tresholds", "1")]), "tresholds"),
            (with(&[("slo", "1")]), "slo"),
            (with(&[("slo", "99")]), "slo"),
            (with(&[("slo", "0.99"), ("quantile", "0.9")]), "slo"),
            (with(&[("sla", "0ms")]), "sla"),
            (with(&[("sla", "soon")]), "sla"),
            (with(&[("sla", "2h")]), "sla"),
            // Bounds: a cold start of days, a value of megabytes, hundreds of keys.
            (with(&[("coldStart", "7d")]), "coldStart"),
            (with(&[("coldStart", "6h1s")]), "coldStart"),
            (
                {
                    let mut m = with(&[]);
                    m.insert("query".into(), "x".repeat(MAX_VALUE_BYTES + 1));
                    m
                },
                "query",
            ),
            (
                {
                    let mut m = with(&[]);
                    m.extend((0..MAX_KEYS).map(|i| (format!("k{i}"), "v".to_string())));
                    m
                },
                "(metadata)",
            ),
            (md(&[("query", "up"), ("threshold", "1")]), "serverAddress"),
            (
                md(&[("serverAddress", "http://p"), ("threshold", "1")]),
                "query",
            ),
            (
                md(&[("serverAddress", "http://p"), ("query", "up")]),
                "threshold",
            ),
        ];
        for (metadata, key) in cases {
            let err = Settings::from_metadata(&metadata).unwrap_err();
            assert_eq!(err.key, key, "{err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("scalerMetadata.{key}: "))
            );
        }
    }

    #[test]
    fn user_information_is_masked() {
        assert_eq!(
            redact_userinfo("https://admin:s3cret@prom:9090/select?x=a@b"),
            "https://***@prom:9090/select?x=a@b"
        );
        assert_eq!(redact_userinfo("http://prom:9090"), "http://prom:9090");
        let s =
            Settings::from_metadata(&with(&[("serverAddress", "http://u:p@prom:9090")])).unwrap();
        let shown = serde_json::to_string(&s).unwrap();
        assert!(
            shown.contains("http://***@prom:9090") && !shown.contains("u:p"),
            "{shown}"
        );
    }

    #[test]
    fn durations_read_back_as_written() {
        for secs in [0, 1, 59, 60, 90, 180, 3_600, 5_400, 86_400, 14 * 86_400] {
            let text = format_duration(secs);
            assert_eq!(
                duration_secs("coldStart", &text, 0, i64::MAX),
                Ok(secs),
                "{text}"
            );
        }
        assert_eq!(format_duration(180), "3m");
        assert_eq!(duration_secs("k", "1h30m", 0, i64::MAX), Ok(5_400));
    }

    proptest::proptest! {
        #[test]
        fn a_written_trigger_reads_back(
            threshold in 0.001f64..1e6,
            quantile in 0.01f64..0.99,
            cold in 0i64..7_200,
            min in 0u32..5,
            extra in 0u32..50,
            activation in proptest::option::of(0.0f64..100.0),
            slo in proptest::option::of((0.5f64..0.9999, 1i64..60_000)),
        ) {
            let t = PredictiveTrigger {
                scaler_address: "prescale.prescale-system:6000".into(),
                server_address: "http://prometheus:9090".into(),
                query: Some("sum(rate(x[1m]))".into()),
                threshold,
                activation_threshold: activation,
                // SLO mode tunes the quantile: a trigger sets one or the other.
                quantile: slo.is_none().then_some(quantile),
                cold_start_secs: Some(cold),
                min_replicas: Some(min),
                max_replicas: Some(min + extra + 1),
                scale_to_zero: Some(min == 0),
                calendar: None,
                service: Some("ns/name".into()),
                slo: slo.map(|x| x.0),
                sla_ms: slo.map(|x| x.1),
            };
            let md: HashMap<String, String> = t.to_metadata().into_iter().collect();
            let s = Settings::from_metadata(&md).unwrap();
            proptest::prop_assert_eq!(s.threshold, threshold);
            proptest::prop_assert_eq!(s.slo, slo.map(|x| x.0));
            proptest::prop_assert_eq!(s.sla_ms, slo.map_or(500, |x| x.1));
            if slo.is_none() {
                proptest::prop_assert_eq!(s.quantile, quantile);
            }
            proptest::prop_assert_eq!(s.cold_start_secs, cold);
            proptest::prop_assert_eq!((s.min_replicas, s.max_replicas), (min, min + extra + 1));
            proptest::prop_assert_eq!(s.activation_threshold, activation.unwrap_or(0.0));
            proptest::prop_assert_eq!(s.scale_to_zero, min == 0);
        }
    }

    #[test]
    fn the_target_has_milli_precision() {
        let s = Settings::from_metadata(&with(&[("threshold", "0.33333")])).unwrap();
        assert_eq!(s.target(), 0.333);
        assert_eq!(s.target_int(), 1);
        let s = Settings::from_metadata(&with(&[("threshold", "12.6")])).unwrap();
        assert_eq!(s.target_int(), 13);
    }
}
