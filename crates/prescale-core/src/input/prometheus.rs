//! Prometheus HTTP API `query_range` responses (the `matrix` result type).
//!
//! This lets a user feed their own history in:
//!
//! ```text
//! curl -s 'http://prometheus:9090/api/v1/query_range?query=sum(rate(vllm:request_success_total[1m]))*60&start=...&end=...&step=60' > history.json
//! prescale forecast --trace history.json --horizon 30m
//! ```

use serde::Deserialize;
use serde_json::Value;

use super::{InputError, InputErrorKind, ParseOptions, Place, RawPoint, check_value, regularize};
use crate::series::Series;

#[derive(Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Value,
}

#[derive(Deserialize)]
struct MatrixSeries {
    #[serde(default)]
    metric: serde_json::Map<String, Value>,
    #[serde(default)]
    values: Vec<(Value, Value)>,
}

/// Parses the JSON body of a Prometheus `/api/v1/query_range` response into a [`Series`].
///
/// The result must be a `matrix` holding exactly one series (aggregate in PromQL, e.g. with
/// `sum(...)`, to get one). Sample values are strings as Prometheus writes them; `NaN`, `+Inf`,
/// `-Inf` and negative values are rejected with their JSON path. The same step inference and gap
/// policy as for CSV apply (see the [module documentation](super)); Prometheus leaves steps out
/// where a series had no sample, so gaps are common.
pub fn parse_prometheus_matrix(
    text: &str,
    source_name: &str,
    opts: &ParseOptions,
) -> Result<Series, InputError> {
    let err = |place: Place, reason: String| {
        InputError::new(source_name, place, InputErrorKind::Prometheus, reason)
    };
    if text.trim().is_empty() {
        return Err(InputError::new(
            source_name,
            Place::Input,
            InputErrorKind::Empty,
            "the file is empty: expected a Prometheus query_range JSON response",
        ));
    }
    let resp: Response = serde_json::from_str(text).map_err(|e| {
        InputError::new(
            source_name,
            Place::Line(e.line() as u64),
            InputErrorKind::Malformed,
            format!("not a Prometheus API response: {e}"),
        )
    })?;
    if resp.status != "success" {
        return Err(err(
            Place::Json("status".into()),
            format!(
                "Prometheus reported `{}`: {} ({})",
                resp.status,
                resp.error.unwrap_or_default(),
                resp.error_type.unwrap_or_default()
            ),
        ));
    }
    let data = resp
        .data
        .ok_or_else(|| err(Place::Json("data".into()), "missing".into()))?;
    if data.result_type != "matrix" {
        return Err(err(
            Place::Json("data.resultType".into()),
            format!(
                "is `{}`, expected `matrix` (use the query_range endpoint)",
                data.result_type
            ),
        ));
    }
    let series: Vec<MatrixSeries> = serde_json::from_value(data.result).map_err(|e| {
        err(
            Place::Json("data.result".into()),
            format!("not a matrix result: {e}"),
        )
    })?;
    let one = match series.len() {
        0 => {
            return Err(InputError::new(
                source_name,
                Place::Json("data.result".into()),
                InputErrorKind::NoData,
                "the query returned no series",
            ));
        }
        1 => series.into_iter().next().expect("one series"),
        n => {
            let labels: Vec<String> = series
                .iter()
                .take(3)
                .map(|s| Value::Object(s.metric.clone()).to_string())
                .collect();
            return Err(err(
                Place::Json("data.result".into()),
                format!(
                    "holds {n} series ({}{}); aggregate them into one in PromQL, e.g. sum(...)",
                    labels.join(", "),
                    if n > 3 { ", ..." } else { "" }
                ),
            ));
        }
    };
    let mut points = Vec::with_capacity(one.values.len());
    for (i, (ts, v)) in one.values.iter().enumerate() {
        let place = Place::Json(format!("data.result[0].values[{i}]"));
        let secs = ts.as_f64().ok_or_else(|| {
            InputError::new(
                source_name,
                place.clone(),
                InputErrorKind::BadTimestamp,
                format!("timestamp {ts} is not a number of seconds"),
            )
        })?;
        let raw = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        let value: f64 = match raw.as_str() {
            "+Inf" | "Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            s => s.parse().map_err(|_| {
                InputError::new(
                    source_name,
                    place.clone(),
                    InputErrorKind::BadValue,
                    format!("cannot parse value `{s}` as a number"),
                )
            })?,
        };
        let value = check_value(source_name, &place, value)?;
        points.push(RawPoint {
            millis: (secs * 1000.0).round() as i64,
            value,
            place,
        });
    }
    regularize(source_name, points, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Series, InputError> {
        parse_prometheus_matrix(text, "h.json", &ParseOptions::default())
    }

    #[test]
    fn parses_a_matrix_with_a_gap() {
        let text = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"job":"vllm"},"values":[[1700000000,"3"],[1700000060,"4.5"],[1700000180,"1"]]}
        ]}}"#;
        let s = parse(text).unwrap();
        assert_eq!(s.step_secs(), 60);
        assert_eq!(s.values(), &[3.0, 4.5, 0.0, 1.0]);
        assert_eq!(s.filled(), &[2]);
        assert_eq!(s.start().timestamp(), 1_700_000_000);
    }

    #[test]
    fn rejects_errors_vectors_several_series_and_bad_samples() {
        let e = parse(r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("parse error"), "{e}");

        let e = parse(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("expected `matrix`"), "{e}");

        let e = parse(r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#)
            .unwrap_err();
        assert_eq!(e.kind, InputErrorKind::NoData);

        let two = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"pod":"a"},"values":[[1,"1"],[2,"1"]]},
            {"metric":{"pod":"b"},"values":[[1,"1"],[2,"1"]]}]}}"#;
        assert!(parse(two).unwrap_err().to_string().contains("sum(...)"));

        let nan = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1,"1"],[2,"NaN"]]}]}}"#;
        let e = parse(nan).unwrap_err();
        assert_eq!(
            e.to_string(),
            "h.json: data.result[0].values[1]: value is NaN"
        );

        let inf = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1,"+Inf"],[2,"1"]]}]}}"#;
        assert_eq!(parse(inf).unwrap_err().kind, InputErrorKind::BadValue);

        let e = parse("{not json").unwrap_err();
        assert_eq!(e.kind, InputErrorKind::Malformed);
        assert_eq!(parse("  ").unwrap_err().kind, InputErrorKind::Empty);
    }
}
