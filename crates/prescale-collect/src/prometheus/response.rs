//! Parsing of Prometheus HTTP API responses (`/api/v1/query`, `/api/v1/query_range`).
//!
//! The envelope is `{"status": "success"|"error", "data": {"resultType", "result"},
//! "errorType", "error", "warnings", "infos"}`; the result is a `vector`, `matrix`, `scalar` or
//! `string`. Sample values are strings (`"1.5"`, `"NaN"`, `"+Inf"`) and are kept as read.
//! Every problem is reported with the JSON path of the offending element.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::error::{CollectError, SourceKind};
use crate::series::{Labels, Sample, Series, parse_value};

const SRC: SourceKind = SourceKind::Prometheus;

/// The type of a query result, as Prometheus names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultType {
    /// One sample per series (instant query).
    Vector,
    /// Many samples per series (range query, or an instant query of a range selector).
    Matrix,
    /// One number without labels.
    Scalar,
    /// One string.
    String,
}

/// A parsed API response.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// What the result was.
    pub result_type: ResultType,
    /// The series (a scalar is one series without labels; a string has none).
    pub series: Vec<Series>,
    /// The value of a `string` result.
    pub text: Option<String>,
    /// Warnings Prometheus attached to the answer (e.g. partial data), plus its `infos`.
    pub warnings: Vec<String>,
}

impl QueryResult {
    /// Whether there is no sample at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.samples.is_empty()) && self.text.is_none()
    }

    /// The values of a vector or scalar result, one per series, with their labels.
    pub fn values(&self) -> impl Iterator<Item = (&Labels, f64)> {
        self.series
            .iter()
            .filter_map(|s| s.samples.last().map(|x| (&s.labels, x.value)))
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(default, borrow)]
    data: Option<Data<'a>>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(rename = "resultType", borrow)]
    result_type: Cow<'a, str>,
    #[serde(borrow)]
    result: &'a RawValue,
}

type RawPoint<'a> = (f64, Cow<'a, str>);

#[derive(Deserialize)]
struct MatrixSeries<'a> {
    #[serde(default)]
    metric: Labels,
    #[serde(default, borrow)]
    values: Vec<RawPoint<'a>>,
    #[serde(default)]
    histograms: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct VectorSample<'a> {
    #[serde(default)]
    metric: Labels,
    #[serde(default, borrow)]
    value: Option<RawPoint<'a>>,
    #[serde(default)]
    histogram: Option<IgnoredAny>,
}

/// Parses a response body; `query` names the request in errors.
///
/// An answer with `"status": "error"` becomes [`CollectError::QueryError`]; malformed JSON,
/// an unknown result type, a bad timestamp or value, or a native-histogram sample (not
/// supported: query a float series such as `histogram_quantile(...)`) become
/// [`CollectError::BadResponse`] naming the JSON path.
pub fn parse_response(body: &[u8], query: &str) -> Result<QueryResult, CollectError> {
    let env: Envelope<'_> = serde_json::from_slice(body).map_err(|e| json_error(&e, body))?;
    if env.status != "success" {
        if env.status == "error" {
            return Err(CollectError::QueryError {
                query: query.to_owned(),
                error_type: env.error_type.unwrap_or_else(|| "unknown".into()),
                message: env.error.unwrap_or_default(),
            });
        }
        return Err(CollectError::bad(
            SRC,
            "status",
            format!("expected \"success\" or \"error\", found {:?}", env.status),
        ));
    }
    let Some(data) = env.data else {
        return Err(CollectError::bad(
            SRC,
            "data",
            "missing in a successful answer",
        ));
    };
    let raw = data.result.get();
    let mut warnings = env.warnings;
    warnings.extend(env.infos);
    let (result_type, series, text) = match data.result_type.as_ref() {
        "matrix" => (ResultType::Matrix, parse_matrix(raw)?, None),
        "vector" => (ResultType::Vector, parse_vector(raw)?, None),
        "scalar" => {
            let point: RawPoint<'_> = from_raw(raw, "data.result")?;
            let sample = sample(&point, || "data.result".into())?;
            (
                ResultType::Scalar,
                vec![Series::new(Labels::new(), vec![sample])],
                None,
            )
        }
        "string" => {
            let (t, s): (f64, String) = from_raw(raw, "data.result")?;
            timestamp(t, || "data.result[0]".into())?;
            (ResultType::String, Vec::new(), Some(s))
        }
        other => {
            return Err(CollectError::bad(
                SRC,
                "data.resultType",
                format!("unknown result type {other:?}"),
            ));
        }
    };
    Ok(QueryResult {
        result_type,
        series,
        text,
        warnings,
    })
}

fn parse_matrix(raw: &str) -> Result<Vec<Series>, CollectError> {
    let items: Vec<MatrixSeries<'_>> = from_raw(raw, "data.result")?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            if item.histograms.is_some() {
                return Err(native_histogram(format!("data.result[{i}].histograms")));
            }
            let samples = item
                .values
                .iter()
                .enumerate()
                .map(|(j, p)| sample(p, || format!("data.result[{i}].values[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Series::new(item.metric, samples))
        })
        .collect()
}

fn parse_vector(raw: &str) -> Result<Vec<Series>, CollectError> {
    let items: Vec<VectorSample<'_>> = from_raw(raw, "data.result")?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match (item.value, item.histogram) {
            (Some(p), _) => {
                let s = sample(&p, || format!("data.result[{i}].value"))?;
                Ok(Series::new(item.metric, vec![s]))
            }
            (None, Some(_)) => Err(native_histogram(format!("data.result[{i}].histogram"))),
            (None, None) => Err(CollectError::bad(
                SRC,
                format!("data.result[{i}]"),
                "a vector sample without `value`",
            )),
        })
        .collect()
}

fn sample(point: &RawPoint<'_>, place: impl Fn() -> String) -> Result<Sample, CollectError> {
    let timestamp = timestamp(point.0, || format!("{}[0]", place()))?;
    let value = parse_value(&point.1).ok_or_else(|| {
        CollectError::bad(
            SRC,
            format!("{}[1]", place()),
            format!("{:?} is not a sample value", point.1),
        )
    })?;
    Ok(Sample { timestamp, value })
}

/// Converts Prometheus' float seconds into a UTC time, to the millisecond.
fn timestamp(secs: f64, place: impl Fn() -> String) -> Result<DateTime<Utc>, CollectError> {
    let ms = (secs * 1000.0).round();
    if !ms.is_finite() || ms.abs() > 8.2e15 {
        return Err(CollectError::bad(
            SRC,
            place(),
            format!("{secs} is not a timestamp"),
        ));
    }
    // The range check above keeps the cast exact and inside chrono's range.
    #[allow(clippy::cast_possible_truncation)]
    DateTime::from_timestamp_millis(ms as i64)
        .ok_or_else(|| CollectError::bad(SRC, place(), format!("{secs} is not a timestamp")))
}

fn native_histogram(place: String) -> CollectError {
    CollectError::bad(
        SRC,
        place,
        "native histogram samples are not supported; query a float series \
         (e.g. histogram_quantile(...) or histogram_count(...))",
    )
}

fn from_raw<'a, T: Deserialize<'a>>(raw: &'a str, place: &str) -> Result<T, CollectError> {
    serde_json::from_str(raw)
        .map_err(|e| CollectError::bad(SRC, place, format!("unexpected shape: {e}")))
}

fn json_error(e: &serde_json::Error, body: &[u8]) -> CollectError {
    let start: String = String::from_utf8_lossy(&body[..body.len().min(80)])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    CollectError::bad(
        SRC,
        format!("line {} column {}", e.line(), e.column()),
        format!("not a Prometheus API response ({e}); it starts with {start:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from Prometheus 2.42 (`/api/v1/query_range`, `/api/v1/query`), trimmed.
    const MATRIX: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"__name__":"vllm:num_requests_waiting","instance":"127.0.0.1:19101","job":"vllm","model_name":"llama"},
         "values":[[1714521600,"3"],[1714521660,"4.5"],[1714521720,"NaN"],[1714521780,"+Inf"]]},
        {"metric":{"__name__":"vllm:num_requests_waiting","instance":"127.0.0.1:19102","job":"vllm","model_name":"llama"},
         "values":[[1714521600.5,"1e3"]]}]}}"#;
    const VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"queue":"inference"},"value":[1714521600.781,"7"]}]},
        "warnings":["PromQL warning: encountered a mix of histograms and floats"],"infos":["info: x"]}"#;
    const SCALAR: &str =
        r#"{"status":"success","data":{"resultType":"scalar","result":[1714521600,"42"]}}"#;
    const STRING: &str =
        r#"{"status":"success","data":{"resultType":"string","result":[1714521600,"hello"]}}"#;
    const BAD_DATA: &str = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:6: parse error: unclosed left parenthesis"}"#;

    #[test]
    fn matrix_keeps_labels_values_and_non_finite_samples() {
        let r = parse_response(MATRIX.as_bytes(), "q").expect("parses");
        assert_eq!(r.result_type, ResultType::Matrix);
        assert_eq!(r.series.len(), 2);
        let s = &r.series[0];
        assert_eq!(s.name(), Some("vllm:num_requests_waiting"));
        assert_eq!(s.labels["model_name"], "llama");
        let values: Vec<f64> = s.samples.iter().map(|x| x.value).collect();
        assert_eq!(values[..2], [3.0, 4.5]);
        assert!(values[2].is_nan());
        assert_eq!(values[3], f64::INFINITY);
        assert_eq!(s.samples[1].timestamp.timestamp(), 1_714_521_660);
        assert_eq!(
            r.series[1].samples[0].timestamp.timestamp_millis(),
            1_714_521_600_500
        );
        assert_eq!(r.series[1].samples[0].value, 1000.0);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn vector_scalar_and_string_results() {
        let v = parse_response(VECTOR.as_bytes(), "q").expect("vector");
        assert_eq!(v.result_type, ResultType::Vector);
        let values: Vec<(String, f64)> = v.values().map(|(l, x)| (l["queue"].clone(), x)).collect();
        assert_eq!(values, vec![("inference".to_owned(), 7.0)]);
        assert_eq!(
            v.series[0].samples[0].timestamp.timestamp_millis(),
            1_714_521_600_781
        );
        assert_eq!(v.warnings.len(), 2);
        let s = parse_response(SCALAR.as_bytes(), "q").expect("scalar");
        assert_eq!(s.values().map(|(_, x)| x).collect::<Vec<_>>(), vec![42.0]);
        let t = parse_response(STRING.as_bytes(), "q").expect("string");
        assert_eq!(t.text.as_deref(), Some("hello"));
        assert!(!t.is_empty());
    }

    #[test]
    fn api_errors_are_query_errors() {
        let err = parse_response(BAD_DATA.as_bytes(), "sum(up").expect_err("error");
        assert_eq!(err.kind(), "query_error");
        let text = err.to_string();
        assert!(
            text.contains("`sum(up`") && text.contains("bad_data"),
            "{text}"
        );
        assert!(text.contains("unclosed left parenthesis"), "{text}");
    }

    #[test]
    fn malformed_answers_name_the_place() {
        let cases: [(&str, &str); 8] = [
            ("<html>502 Bad Gateway</html>", "line 1 column 1"),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}"#,
                "data.result[0].values[0][1]",
            ),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[["a","1"]]}]}}"#,
                "data.result",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1e300,"1"]}]}}"#,
                "data.result[0].value[0]",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}}"#,
                "data.result[0].histogram",
            ),
            (
                r#"{"status":"success","data":{"resultType":"wat","result":[]}}"#,
                "data.resultType",
            ),
            (r#"{"status":"success"}"#, "data"),
            (
                r#"{"status":"pending","data":{"resultType":"vector","result":[]}}"#,
                "status",
            ),
        ];
        for (body, place) in cases {
            let err = parse_response(body.as_bytes(), "q").expect_err(body);
            assert_eq!(err.kind(), "bad_response", "{body}");
            assert!(err.to_string().contains(place), "{body}: {err}");
        }
    }

    #[test]
    fn empty_results_parse_as_empty() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        let r = parse_response(body.as_bytes(), "q").expect("parses");
        assert!(r.is_empty());
    }
}
