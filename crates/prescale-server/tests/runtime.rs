//! The runtime's loop on a demand source in memory, driven tick by tick: pre-warming ahead of
//! a predictable morning and releasing after, holding on missing data, reactive fallback on a
//! stale forecast, the same answers from two workers that started at different times, and
//! state kept across a restart.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use prescale_core::synth::{SyntheticSpec, generate};
use prescale_server::api::telemetry::Telemetry;
use prescale_server::demand::source::{MemorySource, SameSource, SourceError};
use prescale_server::registry::status::Phase;
use prescale_server::registry::{Registration, Registry, Slot, Starter};
use prescale_server::runtime::worker::Worker;
use prescale_server::runtime::{Runtime, RuntimeConfig};
use prescale_server::state::persist::{MemoryStore, StateStore};

const QUERY: &str = "sum(rate(requests_total[1m]))*60";

struct Manual;

impl Starter for Manual {
    fn start(&self, _: Arc<Slot>, _: Arc<Registration>) {}
}

struct Harness {
    runtime: Runtime,
    registry: Registry,
    telemetry: Arc<Telemetry>,
}

fn harness(source: Arc<MemorySource>, store: Option<Arc<dyn StateStore>>) -> Harness {
    let telemetry = Arc::new(Telemetry::new());
    let runtime = Runtime::new(
        RuntimeConfig::default(),
        Arc::new(SameSource(source.clone())),
        telemetry.clone(),
        store,
    );
    Harness {
        runtime,
        registry: Registry::new(Arc::new(Manual)),
        telemetry,
    }
}

fn metadata(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut md: HashMap<String, String> = [
        ("serverAddress", "http://prometheus:9090"),
        ("query", QUERY),
        ("threshold", "30"),
        ("history", "3d"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        md.insert(k.to_string(), v.to_string());
    }
    md
}

impl Harness {
    fn worker(&self, name: &str, extra: &[(&str, &str)]) -> (Worker, Arc<Slot>, Arc<Registration>) {
        let (slot, reg) = self.registry.resolve("ml", name, &metadata(extra)).unwrap();
        (self.runtime.worker(slot.clone(), reg.clone()), slot, reg)
    }
}

/// Four days of the demo workload (idle 01:00-06:00 UTC every night), from a Monday.
fn demo() -> (DateTime<Utc>, Vec<f64>) {
    let s = generate(&SyntheticSpec {
        days: 4.0,
        spikes_per_day: 0.0,
        ..SyntheticSpec::demo()
    });
    (s.start(), s.values().to_vec())
}

fn ticks(from: DateTime<Utc>, to: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> {
    let n = (to - from).num_seconds() / 15;
    (0..n).map(move |i| from + Duration::seconds(15 * i))
}

#[tokio::test]
async fn wakes_before_the_morning_and_sleeps_at_night() {
    let (start, values) = demo();
    let source = Arc::new(MemorySource::new());
    source.set(QUERY, start, 60, values.clone());
    let h = harness(source, None);
    let (mut w, slot, reg) = h.worker("chat", &[]);
    let day3 = start + Duration::days(3);
    let mut first_active = None;
    let mut asleep_at_night = false;
    for t in ticks(day3 - Duration::hours(3), day3 + Duration::hours(7)) {
        w.tick(t).await;
        let a = slot.answer().expect("a decision on fresh data");
        let hour = (t - day3).num_minutes() as f64 / 60.0;
        if (3.0..5.0).contains(&hour) && !a.active {
            asleep_at_night = true;
        }
        if hour >= 5.0 && a.active && first_active.is_none() {
            first_active = Some(t);
        }
    }
    assert!(asleep_at_night, "never scaled to zero in the idle night");
    let morning = day3 + Duration::hours(6);
    let woke = first_active.expect("woke up");
    // Demand resumes at 06:00: the pods were requested at least one cold start (3 min) before.
    assert!(woke <= morning - Duration::minutes(3), "woke at {woke}");
    assert!(
        woke >= morning - Duration::minutes(15),
        "woke too early, at {woke}"
    );
    let status = reg.status();
    assert_eq!(status.phase, Phase::Ok);
    assert!(status.refits >= 1);
    let analysis = status.analysis.expect("analysed");
    assert!(
        analysis.patterns.iter().any(|p| p.seconds == 86_400),
        "{:?}",
        analysis.patterns
    );
    let f = status.forecast.expect("a forecast");
    assert!(f.steps.len() >= 13);
    assert!(status.accuracy.scored > 0);
    let text = h.telemetry.encode();
    for name in [
        "prescale_desired_replicas{",
        "prescale_forecast_demand{",
        "prescale_pattern_detected{",
        "prescale_refits_total{",
        "prescale_proactive_events_total{",
        "prescale_forecast_accuracy_ratio{",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    assert!(
        text.contains(
            r#"prescale_proactive_events_total{namespace="ml",service="chat",kind="wake_up"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn missing_live_data_holds_and_never_deactivates() {
    let (start, values) = demo();
    let source = Arc::new(MemorySource::new());
    source.set(QUERY, start, 60, values);
    let h = harness(source.clone(), None);
    let (mut w, slot, reg) = h.worker("chat", &[]);
    let day2 = start + Duration::days(2);
    // Busy at 10:00.
    for t in ticks(day2 + Duration::hours(9), day2 + Duration::hours(10)) {
        w.tick(t).await;
    }
    let before = slot.answer().unwrap();
    assert!(before.active && before.replicas >= 2, "{before:?}");
    source.fail(Some(SourceError::new("connect", "connection refused")));
    for t in ticks(day2 + Duration::hours(10), day2 + Duration::hours(11)) {
        w.tick(t).await;
        let a = slot.answer().unwrap();
        assert!(a.active && a.replicas >= before.replicas.min(a.replicas).max(1));
    }
    let status = reg.status();
    assert_eq!(status.phase, Phase::Holding);
    assert!(status.safety.unwrap().contains("live data missing"));
    assert_eq!(status.last_error.unwrap().kind, "connect");
    // Back: decisions follow live data again.
    source.fail(None);
    w.tick(day2 + Duration::hours(11)).await;
    assert_ne!(reg.status().phase, Phase::Holding);
}

#[tokio::test]
async fn an_empty_result_or_nan_is_missing_not_zero() {
    let (start, values) = demo();
    let day2 = start + Duration::days(2);
    let busy = usize::try_from((day2 + Duration::hours(10) - start).num_minutes()).unwrap();
    let source = Arc::new(MemorySource::new());
    source.set(QUERY, start, 60, values.clone());
    let h = harness(source.clone(), None);
    let (mut w, slot, reg) = h.worker("chat", &[]);
    let (mut counter, cslot, creg) = h.worker("counter", &[("ignoreNullValues", "true")]);
    for t in ticks(day2 + Duration::hours(9), day2 + Duration::hours(10)) {
        w.tick(t).await;
        counter.tick(t).await;
    }
    let before = slot.answer().unwrap();
    assert!(before.active && before.replicas >= 2, "{before:?}");
    // Every pod gone, the series with them: the query is empty from 10:00 on.
    source.set(QUERY, start, 60, values[..busy].to_vec());
    for t in ticks(day2 + Duration::hours(10), day2 + Duration::hours(11)) {
        w.tick(t).await;
        counter.tick(t).await;
        let a = slot.answer().unwrap();
        assert!(a.active && a.replicas >= 1, "{t}: {a:?}");
    }
    let status = reg.status();
    assert_eq!(status.phase, Phase::Holding);
    assert_eq!(status.last_error.unwrap().kind, "empty");
    // Declared a counter that vanishes when idle: empty reads as 0.
    let counted = creg.status();
    assert_ne!(counted.phase, Phase::Holding);
    assert_eq!(counted.observed.map(|o| o.value), Some(0.0));
    assert!(cslot.answer().is_some());
    // NaN is missing either way.
    let mut nan = values[..busy].to_vec();
    nan.extend([f64::NAN; 120]);
    source.set(QUERY, start, 60, nan);
    counter.tick(day2 + Duration::hours(11)).await;
    let counted = creg.status();
    assert_eq!(counted.phase, Phase::Holding);
    assert_eq!(counted.last_error.unwrap().kind, "not_finite");
}

#[tokio::test]
async fn a_live_spike_is_served_and_flagged_anomalous() {
    let (start, mut values) = demo();
    let day2 = start + Duration::days(2);
    // Three minutes at 20 times the level at 10:30 on day 2.
    let i = ((day2 + Duration::minutes(630)) - start).num_minutes() as usize;
    for v in &mut values[i..i + 3] {
        *v *= 20.0;
    }
    let source = Arc::new(MemorySource::new());
    source.set(QUERY, start, 60, values.clone());
    let h = harness(source, None);
    let (mut w, slot, reg) = h.worker("chat", &[]);
    let mut reasons = Vec::new();
    for t in ticks(day2 + Duration::hours(9), day2 + Duration::minutes(634)) {
        w.tick(t).await;
        if let Some(d) = reg.status().decision {
            reasons.push((
                t,
                d.decision.reason.as_str(),
                slot.answer().unwrap().replicas,
            ));
        }
    }
    let before: Vec<_> = reasons
        .iter()
        .filter(|r| r.0 < day2 + Duration::minutes(630))
        .collect();
    assert!(before.iter().all(|r| r.1 != "anomaly"), "{before:?}");
    let spike: Vec<_> = reasons
        .iter()
        .filter(|r| r.0 >= day2 + Duration::minutes(631) && r.0 < day2 + Duration::minutes(633))
        .collect();
    assert!(spike.iter().any(|r| r.1 == "anomaly"), "{spike:?}");
    // Served: the live need (20 times the level, at 30 a replica) sets the replicas.
    let need = (values[i] / 30.0).ceil() as u32;
    assert!(
        spike.iter().any(|r| r.2 >= need.min(100)),
        "{spike:?} vs {need}"
    );
}

#[tokio::test]
async fn no_answer_before_fresh_live_data() {
    let source = Arc::new(MemorySource::new());
    source.fail(Some(SourceError::new("connect", "connection refused")));
    let h = harness(source, None);
    let (mut w, slot, reg) = h.worker("cold", &[]);
    w.tick(DateTime::from_timestamp(1_704_067_200, 0).unwrap())
        .await;
    assert!(slot.answer().is_none());
    assert_eq!(reg.status().phase, Phase::Starting);
}

#[tokio::test]
async fn a_stale_forecast_falls_back_to_reactive() {
    let (start, values) = demo();
    let source = Arc::new(MemorySource::new());
    source.set(QUERY, start, 60, values);
    let h = harness(source.clone(), None);
    let (mut w, slot, reg) = h.worker("chat", &[]);
    let day2 = start + Duration::days(2);
    for t in ticks(day2 + Duration::hours(9), day2 + Duration::hours(10)) {
        w.tick(t).await;
    }
    assert_eq!(reg.status().phase, Phase::Ok);
    // History reads fail from 10:00; live reads work.
    source.fail_ranges(Some(SourceError::new("timeout", "query_range timed out")));
    let mut phases = Vec::new();
    for t in ticks(
        day2 + Duration::hours(10),
        day2 + Duration::hours(10) + Duration::minutes(30),
    ) {
        w.tick(t).await;
        let a = slot.answer().unwrap();
        assert!(a.active);
        phases.push(reg.status().phase);
    }
    // The forecast made before 10:00 is used for up to 15 minutes, then dropped.
    assert_eq!(phases.first(), Some(&Phase::Ok));
    assert_eq!(phases.last(), Some(&Phase::ReactiveFallback));
    let status = reg.status();
    let d = status.decision.unwrap();
    assert!(d.decision.predictive_replicas.is_none(), "{d:?}");
    assert!(status.safety.unwrap().contains("reactive"));
    assert_eq!(status.last_error.unwrap().kind, "timeout");
}

#[tokio::test]
async fn two_workers_started_at_different_times_give_the_same_answers() {
    let (start, values) = demo();
    let source = Arc::new(MemorySource::new());
    source.set(QUERY, start, 60, values);
    let a = harness(source.clone(), None);
    let b = harness(source, None);
    // One day of history: both fit the day before the same refit point.
    let (mut wa, sa, _) = a.worker("chat", &[("history", "1d")]);
    let (mut wb, sb, _) = b.worker("chat", &[("history", "1d")]);
    let day3 = start + Duration::days(3);
    let late = day3 + Duration::hours(4) + Duration::minutes(7);
    let mut compared = 0;
    for t in ticks(day3, day3 + Duration::hours(8)) {
        wa.tick(t).await;
        if t >= late {
            wb.tick(t).await;
            assert_eq!(sa.answer(), sb.answer(), "at {t}");
            compared += 1;
        }
    }
    assert!(compared > 900, "{compared}");
}

#[tokio::test]
async fn a_restart_keeps_history_the_last_decision_and_the_accuracy_window() {
    let (start, values) = demo();
    let source = Arc::new(MemorySource::new());
    source.set(QUERY, start, 60, values);
    let store: Arc<MemoryStore> = Arc::new(MemoryStore::new());
    let day2 = start + Duration::days(2);
    let before = {
        let h = harness(source.clone(), Some(store.clone()));
        let (mut w, slot, reg) = h.worker("chat", &[]);
        for t in ticks(day2 + Duration::hours(9), day2 + Duration::hours(10)) {
            w.tick(t).await;
        }
        // Let the blocking saves finish.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        (slot.answer().unwrap(), reg.status().accuracy)
    };
    let (before, accuracy_before) = before;
    assert!(accuracy_before.scored > 0, "{accuracy_before:?}");
    let saved = prescale_server::state::persist::load_registrations(store.as_ref()).unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].0.name, "chat");
    // A new server: the history comes from the store, only the gap from the source.
    let (_, ranges_before) = source.calls();
    let h = harness(source.clone(), Some(store));
    let (mut w, slot, reg) = h.worker("chat", &[]);
    w.tick(day2 + Duration::hours(10) + Duration::minutes(30))
        .await;
    let status = reg.status();
    assert_eq!(status.phase, Phase::Ok);
    assert!(status.history.samples >= 2 * 1440, "{:?}", status.history);
    let (_, ranges_after) = source.calls();
    assert_eq!(ranges_after - ranges_before, 1);
    let after = slot.answer().unwrap();
    assert!(after.active && before.active);
    // The forecasts scored before the restart still count (and the gap's steps were scored
    // against the forecasts saved for them).
    let accuracy = status.accuracy;
    assert!(
        accuracy.scored >= accuracy_before.scored,
        "{accuracy:?} vs {accuracy_before:?}"
    );
    assert!(
        accuracy.ratio.is_some() && accuracy.coverage.is_some(),
        "{accuracy:?}"
    );
}

#[tokio::test]
async fn shadow_mode_tells_keda_reactive_values_only() {
    let (start, values) = demo();
    let source = Arc::new(MemorySource::new());
    source.set(QUERY, start, 60, values.clone());
    // The same ScaledObject in two servers, one in shadow mode.
    let h = harness(source.clone(), None);
    let other = harness(source, None);
    let (mut shadow, sslot, sreg) = h.worker("chat", &[("mode", "forecast-only")]);
    let (mut live, lslot, _) = other.worker("chat", &[]);
    let day3 = start + Duration::days(3);
    let mut differed = 0;
    for t in ticks(day3 + Duration::hours(5), day3 + Duration::hours(7)) {
        shadow.tick(t).await;
        live.tick(t).await;
        let s = sreg.status();
        let d = s.decision.as_ref().unwrap();
        let reported = sslot.answer().unwrap();
        // KEDA gets ceil(live / threshold), whatever the policy decided ...
        let observed = s.observed.unwrap().value;
        assert_eq!(reported.replicas, (observed / 30.0).ceil() as u32, "at {t}");
        assert_eq!(reported.active, observed > 0.0);
        // ... while the decision is computed and reported as in predictive mode.
        assert_eq!(
            d.decision.desired_replicas,
            lslot.answer().unwrap().replicas
        );
        if d.decision.desired_replicas != reported.replicas {
            differed += 1;
        }
        assert!(s.shadow);
    }
    // Before the 06:00 resumption the policy wakes up; reactive scaling does not.
    assert!(differed > 10, "{differed}");
    let text = h.telemetry.encode();
    assert!(
        text.contains(r#"prescale_shadow_mode{namespace="ml",service="chat"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_queue_query_adds_the_backlog_cleared_within_the_drain_time() {
    // 10 requests/s against 10 per replica, flat for an hour; 600 requests waiting.
    let start: DateTime<Utc> = "2024-06-03T09:00:00Z".parse().unwrap();
    let source = Arc::new(MemorySource::new());
    source.set(QUERY, start, 60, vec![10.0; 120]);
    source.set("waiting", start, 60, vec![600.0; 120]);
    source.set("ready", start, 60, vec![1.0; 120]);
    let h = harness(source, None);
    let now = start + Duration::minutes(60);
    let decide = |extra: &'static [(&'static str, &'static str)]| {
        // A fixed headroom: the backlog term alone is under test.
        let mut extra = extra.to_vec();
        extra.push(("quantile", "0.9"));
        let (mut w, _, reg) = h.worker("queue", &extra);
        async move {
            w.tick(now).await;
            reg.status().decision.expect("a decision").decision
        }
    };
    // Without the signals: the demand alone needs one replica.
    let plain = decide(&[("threshold", "10")]).await;
    assert_eq!(plain.reactive_replicas, 1, "{plain:?}");
    // A queue of 600 to clear in 5 minutes at a rate per second: 2/s more, 2 replicas.
    let queued = decide(&[("threshold", "10"), ("queueQuery", "waiting")]).await;
    assert_eq!(queued.reactive_replicas, 2, "{queued:?}");
    // The same queue with a rate per minute (600/min demand, 600 per replica): 120/min more.
    let per_min = decide(&[
        ("threshold", "10"),
        ("queueQuery", "waiting"),
        ("ratePeriod", "1m"),
        ("drain", "1m"),
    ])
    .await;
    // 10/min demand + 600 / 1 min = 610/min: 61 replicas of 10/min.
    assert_eq!(per_min.reactive_replicas, 61, "{per_min:?}");
    // One ready replica of 10/s for 10/s: no shortfall; the queue alone counts.
    let ready = decide(&[
        ("threshold", "10"),
        ("queueQuery", "waiting"),
        ("readyQuery", "ready"),
    ])
    .await;
    assert_eq!(ready.reactive_replicas, 2, "{ready:?}");
    // A bad value names its key.
    let bad = metadata(&[("drain", "10s")]);
    let err = h.registry.resolve("ml", "bad", &bad).unwrap_err();
    assert!(err.to_string().contains("drain"), "{err}");
}

#[tokio::test]
async fn slo_mode_tunes_the_headroom_on_the_services_own_history() {
    let (start, values) = demo();
    let source = Arc::new(MemorySource::new());
    let n = values.len();
    source.set(QUERY, start, 60, values);
    // The measured latency (say, vLLM's P99 time to first token): reported, never decided on.
    source.set("ttft_p99", start, 60, vec![0.42; n]);
    let h = harness(source, None);
    let (mut w, slot, reg) = h.worker(
        "tuned",
        &[
            ("slo", "0.99"),
            ("sla", "500ms"),
            ("latencyQuery", "ttft_p99"),
        ],
    );
    // First sight on day 3: the backfill brings three days of history, so the first re-tune
    // runs at the first refresh, on the history before it.
    let day3 = start + Duration::days(3) + Duration::hours(8);
    let mut tuned_at = None;
    for t in ticks(day3, day3 + Duration::minutes(11)) {
        w.tick(t).await;
        assert!(slot.answer().is_some());
        if tuned_at.is_none() {
            tuned_at = reg.status().tuning.map(|x| x.at);
        }
    }
    let status = reg.status();
    let tuning = status.tuning.expect("tuned at the first refresh");
    assert_eq!(Some(tuning.at), tuned_at, "re-tuned again within the day");
    // As of the tuner's grid instant (midnight UTC) before the first refresh, on the whole
    // days of history before it (the lead-in hour aside).
    assert!(tuning.at <= day3, "{tuning:?}");
    assert_eq!(tuning.at.timestamp() % 86_400, 0, "{tuning:?}");
    assert!(tuning.days > 1.9, "{tuning:?}");
    assert!(
        prescale_sim::tune::QUANTILES.contains(&tuning.headroom.quantile),
        "{tuning:?}"
    );
    assert!(tuning.predicted_sla > 0.9 && tuning.predicted_gpu_hours > 0.0);
    // The decisions use the chosen quantile from then on.
    assert_eq!(
        status.forecast.expect("a forecast").quantile,
        tuning.headroom.quantile
    );
    let text = h.telemetry.encode();
    assert!(
        text.contains(r#"prescale_slo_target_ratio{namespace="ml",service="tuned"} 0.99"#),
        "{text}"
    );
    assert!(text.contains(&format!(
        r#"prescale_slo_quantile{{namespace="ml",service="tuned"}} {}"#,
        tuning.headroom.quantile
    )));
    // The error budget's account: what ran, as replayed, over the days so far.
    assert!(
        tuning.attainment > 0.5 && tuning.attainment <= 1.0,
        "{tuning:?}"
    );
    assert!(text.contains(&format!(
        r#"prescale_slo_attainment_ratio{{namespace="ml",service="tuned"}} {}"#,
        tuning.attainment
    )));
    assert_eq!(status.measured_latency_seconds, Some(0.42));
    assert!(
        text.contains(
            r#"prescale_slo_measured_latency_seconds{namespace="ml",service="tuned"} 0.42"#
        )
    );
    // With a fixed quantile (the expert override), nothing is tuned.
    let (mut plain, _, preg) = h.worker("fixed", &[("quantile", "0.9")]);
    plain.tick(day3).await;
    assert!(preg.status().tuning.is_none());
}

#[tokio::test]
async fn a_restart_keeps_the_slo_tuning() {
    let (start, values) = demo();
    let source = Arc::new(MemorySource::new());
    source.set(QUERY, start, 60, values);
    let store: Arc<MemoryStore> = Arc::new(MemoryStore::new());
    let day3 = start + Duration::days(3) + Duration::hours(8);
    let slo = [("slo", "0.99")];
    let before = {
        let h = harness(source.clone(), Some(store.clone()));
        let (mut w, _, reg) = h.worker("tuned", &slo);
        for t in ticks(day3, day3 + Duration::minutes(2)) {
            w.tick(t).await;
        }
        // Let the blocking saves finish.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        reg.status().tuning.expect("tuned")
    };
    // A new server an hour later: the tuning is restored, not made again.
    let h = harness(source.clone(), Some(store.clone()));
    let (mut w, _, reg) = h.worker("tuned", &slo);
    w.tick(day3 + Duration::hours(1)).await;
    assert_eq!(reg.status().tuning.as_ref(), Some(&before));
    // Another SLO is another tuner: it starts over.
    let h = harness(source, Some(store));
    let (mut w, _, reg) = h.worker("tuned", &[("slo", "0.95")]);
    w.tick(day3 + Duration::hours(2)).await;
    let t = reg.status().tuning.expect("tuned again");
    assert!(t.at >= before.at, "{t:?}");
    assert!(t.target < before.target, "{t:?} vs {before:?}");
}
