//! Black-box tests of the `prescale` binary: good traces, each kind of bad trace, JSON output.

use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn prescale() -> Command {
    Command::cargo_bin("prescale").expect("binary built")
}

/// The JSON a successful run printed (its stderr in the failure message otherwise).
fn json_stdout(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// The `name` of every object of a JSON array.
fn names(array: &serde_json::Value) -> Vec<&str> {
    array
        .as_array()
        .expect("an array")
        .iter()
        .map(|x| x["name"].as_str().expect("a name"))
        .collect()
}

/// Writes `name` with `content` into `dir` and returns its path.
fn write(dir: &TempDir, name: &str, content: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, content).expect("write fixture");
    p
}

/// A regular 1-minute CSV trace of `days` days written by `prescale synth`.
fn synth_trace(dir: &TempDir, days: &str) -> PathBuf {
    let p = dir.path().join(format!("synth_{days}.csv"));
    prescale()
        .args(["synth", "--days", days, "--seed", "7", "-o"])
        .arg(&p)
        .assert()
        .success();
    p
}

#[test]
fn help_teaches_with_examples() {
    prescale()
        .args(["forecast", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains("--quantiles"));
    prescale()
        .args(["evaluate", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--every"));
}

#[test]
fn forecast_table_and_json_on_a_synthetic_trace() {
    let dir = TempDir::new().unwrap();
    let trace = synth_trace(&dir, "8d");
    prescale()
        .args(["forecast", "--horizon", "30m", "--trace"])
        .arg(&trace)
        .assert()
        .success()
        .stdout(predicate::str::contains("pattern:   Daily"))
        .stdout(predicate::str::contains("model:     prescale"))
        .stdout(predicate::str::contains("p90"));

    let out = prescale()
        .args([
            "forecast",
            "--horizon",
            "1h",
            "--quantiles",
            "0.5,0.9,0.95",
            "--format",
            "json",
        ])
        .arg("--trace")
        .arg(&trace)
        .output()
        .unwrap();
    let doc = json_stdout(&out);
    let steps = doc["forecast"].as_array().unwrap();
    assert_eq!(steps.len(), 60);
    for s in steps {
        let (p50, p90, p95) = (
            s["p50"].as_f64().unwrap(),
            s["p90"].as_f64().unwrap(),
            s["p95"].as_f64().unwrap(),
        );
        assert!(p50 <= p90 && p90 <= p95 && p50 >= 0.0, "{s}");
    }
    assert_eq!(doc["patterns"][0]["label"], "daily");
    assert!(doc["trend"]["class"].is_string());
    assert_eq!(doc["model"]["name"], "prescale");
}

#[test]
fn forecast_reads_prometheus_json_and_stdin() {
    let dir = TempDir::new().unwrap();
    let values: Vec<String> = (0..200)
        .map(|i| format!("[{},\"{}\"]", 1_700_000_000 + 60 * i, 50 + i % 7))
        .collect();
    let json = format!(
        r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{}]}}]}}}}"#,
        values.join(",")
    );
    let p = write(&dir, "history.json", &json);
    prescale()
        .args(["forecast", "--format", "json", "--trace"])
        .arg(&p)
        .assert()
        .success()
        .stdout(predicate::str::contains("\"step_seconds\": 60"));
    prescale()
        .args(["forecast", "--trace", "-"])
        .write_stdin(json)
        .assert()
        .success()
        .stdout(predicate::str::contains("stdin: 200 points"));
}

#[test]
fn bad_traces_exit_non_zero_naming_file_line_and_reason() {
    let dir = TempDir::new().unwrap();
    let h = "timestamp,value\n";
    let cases: &[(&str, String, &str)] = &[
        ("empty.csv", String::new(), "empty.csv: the file is empty"),
        (
            "noheader.csv",
            "2024-01-01T00:00:00Z,1\n".into(),
            "noheader.csv:1: expected the header",
        ),
        (
            "nodata.csv",
            h.into(),
            "nodata.csv: the file has a header but no data rows",
        ),
        (
            "badts.csv",
            format!("{h}2024-01-01T00:00:00Z,1\n01/02/2024 10:00,2\n"),
            "badts.csv:3: cannot parse timestamp",
        ),
        (
            "nan.csv",
            format!("{h}2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,NaN\n"),
            "nan.csv:3: value is NaN",
        ),
        (
            "inf.csv",
            format!("{h}2024-01-01T00:00:00Z,inf\n2024-01-01T00:01:00Z,1\n"),
            "inf.csv:2: value is inf",
        ),
        (
            "neg.csv",
            format!("{h}2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,-4\n"),
            "neg.csv:3: value -4 is negative",
        ),
        (
            "back.csv",
            format!("{h}2024-01-01T00:02:00Z,1\n2024-01-01T00:03:00Z,1\n2024-01-01T00:01:00Z,1\n"),
            "back.csv:4: timestamp 2024-01-01T00:01:00Z is not after",
        ),
        (
            "irregular.csv",
            format!(
                "{h}2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,1\n2024-01-01T00:02:00Z,1\n\
                 2024-01-01T00:02:40Z,1\n"
            ),
            "irregular.csv:5: timestamp 2024-01-01T00:02:40Z is 40 s after the previous one",
        ),
        (
            "fields.csv",
            format!("{h}2024-01-01T00:00:00Z\n2024-01-01T00:01:00Z,1\n"),
            "fields.csv:2: expected 2 fields",
        ),
        (
            "prom.json",
            r#"{"status":"error","errorType":"timeout","error":"query timed out"}"#.into(),
            "prom.json: status: Prometheus reported `error`: query timed out",
        ),
    ];
    for (name, content, want) in cases {
        let p = write(&dir, name, content);
        prescale()
            .args(["forecast", "--trace"])
            .arg(&p)
            .assert()
            .failure()
            .code(1)
            .stderr(predicate::str::contains(*want).and(predicate::str::starts_with("error: ")));
    }
    prescale()
        .args(["forecast", "--trace", "/nonexistent/trace.csv"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "cannot read /nonexistent/trace.csv",
        ));
}

#[test]
fn bad_arguments_are_usage_errors() {
    prescale()
        .args(["forecast", "--synthetic", "--quantiles", "0.5,1.5"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("quantile 1.5 is outside (0, 1)"));
    prescale()
        .args(["forecast", "--synthetic", "--horizon", "soon"])
        .assert()
        .failure()
        .code(2);
    prescale()
        .args(["evaluate", "--synthetic", "--models", "prophet"])
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("unknown model `prophet`"));
    prescale().args(["forecast"]).assert().failure().code(2);
}

#[test]
fn gaps_are_filled_and_reported() {
    let dir = TempDir::new().unwrap();
    let mut csv = String::from("timestamp,value\n");
    for i in 0..300 {
        if i == 100 || i == 101 {
            continue;
        }
        csv.push_str(&format!(
            "2024-01-01T{:02}:{:02}:00Z,{}\n",
            i / 60,
            i % 60,
            10 + i % 3
        ));
    }
    let p = write(&dir, "gaps.csv", &csv);
    prescale()
        .args(["forecast", "--trace"])
        .arg(&p)
        .assert()
        .success()
        .stdout(predicate::str::contains("300 points").and(predicate::str::contains("2 filled")));
}

#[test]
fn evaluate_json_has_every_model_and_metric() {
    let dir = TempDir::new().unwrap();
    let trace = synth_trace(&dir, "6d");
    let out = prescale()
        .args([
            "evaluate", "--format", "json", "--every", "6h", "--last", "1d", "--trace",
        ])
        .arg(&trace)
        .output()
        .unwrap();
    let doc = json_stdout(&out);
    assert_eq!(doc["horizon_minutes"], 30);
    assert_eq!(doc["origins"], 5);
    let names = names(&doc["models"]);
    assert_eq!(
        names,
        [
            "prescale",
            "seasonal_naive_daily",
            "seasonal_naive_weekly",
            "ets",
            "mstl",
            "crane_dsp",
            "naive",
            "drift",
            "theta"
        ]
    );
    for m in doc["models"].as_array().unwrap() {
        for key in [
            "mase",
            "p90_coverage",
            "pinball_p90",
            "underforecast_20pct",
            "ms_per_origin",
        ] {
            assert!(m.get(key).is_some(), "{key} missing in {m}");
        }
    }
    let prescale = &doc["models"][0];
    assert!(prescale["accuracy"].as_f64().unwrap() > 0.8, "{prescale}");
    // Six days are not a week: weekly seasonal naive falls back at every origin, and says so.
    assert_eq!(doc["models"][2]["fallbacks"], 5);
}

#[test]
fn evaluate_several_horizons() {
    let dir = TempDir::new().unwrap();
    let trace = synth_trace(&dir, "4d");
    let args = |format: &str| {
        let mut cmd = prescale();
        cmd.args([
            "evaluate",
            "--quiet",
            "--every",
            "12h",
            "--last",
            "1d",
            "--models",
            "prescale,naive",
            "--horizon",
            "5m,1h",
            "--format",
            format,
            "--trace",
        ])
        .arg(&trace);
        cmd
    };
    let doc = json_stdout(&args("json").output().unwrap());
    assert!(doc.get("models").is_none(), "{doc}");
    let horizons = doc["horizons"].as_array().unwrap();
    assert_eq!(horizons.len(), 2);
    for (h, minutes) in horizons.iter().zip([5, 60]) {
        assert_eq!(h["horizon_minutes"], minutes);
        assert_eq!(names(&h["models"]), ["prescale", "naive"]);
        assert!(h["models"][0]["p90_coverage"].as_f64().is_some(), "{h}");
    }
    assert_eq!(horizons[1]["horizon_steps"], 60);
    // One table per horizon.
    args("table")
        .assert()
        .success()
        .stdout(predicate::str::contains("horizon 5 min (5 steps)"))
        .stdout(predicate::str::contains("horizon 60 min (60 steps)"));
    // One horizon keeps the single-horizon shape.
    let mut one = prescale();
    one.args([
        "evaluate",
        "--quiet",
        "--every",
        "12h",
        "--last",
        "1d",
        "--models",
        "naive",
        "--horizon",
        "15m",
        "--format",
        "json",
        "--trace",
    ])
    .arg(&trace);
    let doc = json_stdout(&one.output().unwrap());
    assert_eq!(doc["horizon_minutes"], 15);
    assert!(doc.get("horizons").is_none());
}

#[test]
fn evaluate_table_on_a_real_trace() {
    let Some(trace) = prescale_testkit::shared_trace("llm_servegen_m_small_10min.csv") else {
        return;
    };
    prescale()
        .args([
            "evaluate",
            "--quiet",
            "--models",
            "prescale,seasonal_naive_daily",
            "--trace",
        ])
        .arg(&trace)
        .assert()
        .success()
        .stdout(predicate::str::contains("145 origins every 30 min"))
        .stdout(predicate::str::contains("prescale"));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let bin = assert_cmd::cargo::cargo_bin("prescale");
    for sub in [
        "synth",
        "forecast --synthetic",
        "evaluate --synthetic --models prescale --every 1d",
    ] {
        let script = format!(
            "set -o pipefail; '{}' {sub} | head -n 1 >/dev/null",
            bin.display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sub}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_business_calendar_is_a_feature_and_is_reported() {
    let dir = TempDir::new().unwrap();
    let trace = synth_trace(&dir, "15d");
    let out = prescale()
        .args([
            "forecast",
            "--format",
            "json",
            "--timezone",
            "America/New_York",
        ])
        .args([
            "--business-hours",
            "08:00-18:00",
            "--holidays",
            "2024-01-16",
            "--trace",
        ])
        .arg(&trace)
        .output()
        .unwrap();
    let doc = json_stdout(&out);
    assert_eq!(doc["business_hours"]["timezone"], "America/New_York");
    assert!(doc["business_hours"]["next_change"].is_string());
    prescale()
        .args([
            "forecast",
            "--synthetic",
            "--timezone",
            "Europe/Berlin",
            "--business-days",
            "mon,fun",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("fun"));
}

#[test]
fn backtest_json_compares_every_policy() {
    let dir = TempDir::new().unwrap();
    let trace = synth_trace(&dir, "4d");
    let report = dir.path().join("report.html");
    let out = prescale()
        .args([
            "backtest",
            "--quiet",
            "--format",
            "json",
            "--cold-start",
            "3m",
            "--trace",
        ])
        .arg(&trace)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let doc = json_stdout(&out);
    let names = names(&doc["policies"]);
    assert_eq!(
        names,
        [
            "static_peak",
            "keda_reactive",
            "knative_kpa",
            "crane_dsp",
            "prescale"
        ]
    );
    for p in doc["policies"].as_array().unwrap() {
        for key in [
            "gpu_hours",
            "cost_usd",
            "underprovisioned_minutes",
            "sla_attainment",
            "p95_latency_ms",
            "cold_starts",
            "scale_events",
        ] {
            assert!(p[key].is_number(), "{key} in {p}");
        }
    }
    let by = |n: &str| {
        doc["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .unwrap()
            .clone()
    };
    // The static peak is the most expensive; prescale underprovisions less than the reactive one.
    assert!(by("static_peak")["gpu_hours"].as_f64() > by("prescale")["gpu_hours"].as_f64());
    assert!(
        by("prescale")["underprovisioned_minutes"].as_f64()
            < by("keda_reactive")["underprovisioned_minutes"].as_f64()
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<svg") && html.contains("prescale"));
}

#[test]
fn backtest_rejects_bad_settings() {
    prescale()
        .args(["backtest", "--synthetic", "--capacity=-3"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--capacity -3"));
    prescale()
        .args(["backtest", "--synthetic", "--policies", "hpa"])
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("unknown policy `hpa`"));
    prescale()
        .args([
            "backtest",
            "--synthetic",
            "--cold-start",
            "5m",
            "--cold-start-p95",
            "2m",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--cold-start-p95"));
    prescale()
        .args(["backtest", "--synthetic", "--target-utilization", "1.5"])
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("must be in (0, 1]"));
}

#[test]
fn backtest_runs_the_clairvoyant_bound_on_request() {
    let dir = TempDir::new().unwrap();
    let trace = synth_trace(&dir, "3d");
    let out = prescale()
        .args(["backtest", "--quiet", "--format", "json"])
        .args(["--policies", "keda_reactive,clairvoyant", "--trace"])
        .arg(&trace)
        .output()
        .unwrap();
    let doc = json_stdout(&out);
    // The settings prescale ran with are in the JSON, for scripts comparing runs.
    // SLO mode is the default: the SLO, no fixed quantile or utilization.
    let ps = &doc["prescale_settings"];
    assert_eq!(
        (
            ps["mode"].as_str(),
            ps["slo"].as_f64(),
            ps["sla_ms"].as_i64()
        ),
        (Some("slo"), Some(0.99), Some(500))
    );
    assert!(ps["quantile"].is_null() && ps["target_utilization"].is_null());
    assert_eq!(ps["drain_secs"].as_i64(), Some(300));
    let p = &doc["policies"];
    assert_eq!(p[1]["name"], "clairvoyant");
    // Knowing the future: no minute short beyond the first cold start.
    assert!(
        p[1]["underprovisioned_minutes"].as_f64().unwrap() <= 3.0,
        "{p}"
    );
    assert!(
        p[1]["underprovisioned_minutes"].as_f64() < p[0]["underprovisioned_minutes"].as_f64(),
        "{p}"
    );
}

#[test]
fn demo_explains_the_comparison_and_writes_the_report() {
    let dir = TempDir::new().unwrap();
    prescale()
        .current_dir(dir.path())
        .args(["demo", "--quiet"])
        .assert()
        .success()
        .stdout(predicate::str::contains("prescale vs keda_reactive"))
        .stdout(predicate::str::contains("report: prescale-demo.html"));
    assert!(dir.path().join("prescale-demo.html").exists());
}

#[test]
fn tune_prints_the_frontier_and_the_pick() {
    let dir = TempDir::new().unwrap();
    let trace = synth_trace(&dir, "4d");
    let out = prescale()
        .args([
            "tune", "--quiet", "--days", "2d", "--format", "json", "--trace",
        ])
        .arg(&trace)
        .output()
        .unwrap();
    let v = json_stdout(&out);
    assert_eq!(
        v["candidates"].as_array().unwrap().len(),
        prescale_sim::tune::candidates().len()
    );
    let frontier = v["frontier"].as_array().unwrap();
    assert!(!frontier.is_empty());
    // Cheapest first, each buying more SLA.
    for w in frontier.windows(2) {
        assert!(w[0]["gpu_hours"].as_f64() < w[1]["gpu_hours"].as_f64());
        assert!(w[0]["sla_attainment"].as_f64() < w[1]["sla_attainment"].as_f64());
    }
    let pick = &v["pick"];
    assert!(pick["quantile"].as_f64().is_some(), "{v}");
    // The pick is the cheapest candidate that reaches the SLO (its SLA less one standard error
    // of its daily SLAs), when one does.
    if pick["reaches_slo"] == true {
        let cheaper = v["candidates"].as_array().unwrap().iter().any(|c| {
            c["sla_lower_bound"].as_f64() >= Some(0.99)
                && c["gpu_hours"].as_f64() < pick["gpu_hours"].as_f64()
        });
        assert!(!cheaper, "{v}");
    }
    let names = names(&v["incumbents"]);
    assert_eq!(
        names,
        [
            "static_peak",
            "keda_reactive",
            "knative_kpa",
            "crane_dsp",
            "clairvoyant"
        ]
    );

    let table = prescale()
        .args([
            "tune", "--quiet", "--days", "2d", "--slo", "99.9%", "--trace",
        ])
        .arg(&trace)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&table.get_output().stdout).to_string();
    assert!(text.contains("SLO 99.90% within it"), "{text}");
    assert!(text.contains("pick: P"), "{text}");

    prescale()
        .args(["tune", "--quiet", "--days", "30d", "--trace"])
        .arg(&trace)
        .assert()
        .failure()
        .stderr(predicate::str::contains("--days 720 h"));
}
