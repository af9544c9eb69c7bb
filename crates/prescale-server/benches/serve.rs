//! The server's targets, measured on this machine:
//!
//! - `GetMetrics` latency (p50, p99) at 2,000 requests per second over loopback with 1,000
//!   registered ScaledObjects, each with 28 days of 1-minute history;
//! - resident memory for those 1,000 ScaledObjects;
//! - a full refresh of all 1,000 forecasts (cold: backfill of the history, refit, patterns),
//!   on the default forecast threads.
//!
//! `cargo bench -p prescale-server --bench serve` (exits non-zero when a target is missed:
//! p99 < 2 ms, memory < 1 GiB, full refresh < 5 min). With `PRESCALE_BENCH_SLO=1` every
//! ScaledObject is in SLO mode (`slo: 0.99`) and GetMetrics is measured while they re-tune
//! (targets: p99 < 2 ms, memory < 1 GiB, tunings made during the load). Run as a test (`cargo test --benches`),
//! it does the same with 20 ScaledObjects, 2 days of history and one second of load. With
//! `PRESCALE_BENCH_HOSTILE=1`, 10 hostile ScaledObjects join the 1,000 (the largest `coldStart`
//! and `history` the server accepts, on series of huge values with bursts and drop-outs), and
//! the memory target is 512 MiB.
//!
//! After the load, a churn: as many more ScaledObjects as the run has (1,000) are registered by
//! KEDA-like calls, asked about until they have a forecast (four minutes at most), then
//! deleted (the calls stop): once they have expired (a 10-second
//! `registration_ttl`; 3 s in test mode), resident memory must be back within 10% of its level before the churn.
//! Every history read passes a metered source that answers after 10 ms, as a Prometheus
//! would, and reports how many ran at once (the cold start is a restart without saved
//! history; `runtime.history_reads` bounds it).
//!
//! Demand comes from an in-process source holding 20 distinct synthetic series shared by the
//! ScaledObjects (as Prometheus would hold them, outside the server); the server holds its own
//! copy of every history. The load generator runs in the same process, on the same cores.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use prescale_core::synth::{SyntheticSpec, generate};

use prescale_server::demand::source::{MemorySource, Metered, SameSource};
use prescale_server::keda::proto::external_scaler_client::ExternalScalerClient;
use prescale_server::keda::proto::{GetMetricsRequest, ScaledObjectRef};
use prescale_server::server::{Server, ServerOptions};

/// The allocator of the `prescale` binary.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

struct Scale {
    objects: usize,
    days: f64,
    load_secs: f64,
    rate: f64,
    /// SLO mode for every ScaledObject (`slo: 0.99`): GetMetrics is measured while the
    /// workers re-tune (each replays a week of its history on the forecast threads).
    slo: bool,
    /// Hostile ScaledObjects registered beside the ordinary ones.
    hostile: usize,
}

/// The metadata of hostile ScaledObject `i`: the longest cold start (the forecast horizon) and
/// history the server accepts, a threshold of 1 on values in the billions.
fn hostile(i: usize) -> ScaledObjectRef {
    let md = [
        ("serverAddress", "http://prometheus:9090".to_string()),
        ("query", format!("hostile{i}")),
        ("threshold", "1".to_string()),
        ("history", "90d".to_string()),
        ("coldStart", "6h".to_string()),
        ("maxReplicas", "1000".to_string()),
        ("slo", "0.999".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    ScaledObjectRef {
        name: format!("hostile-{i:02}"),
        namespace: "bench".into(),
        scaler_metadata: md,
    }
}

/// A source whose history reads take 10 ms (a Prometheus on the network), counting how many
/// run at once.
fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn metadata(
    i: usize,
    peak: f64,
    days: f64,
    slo: bool,
) -> std::collections::HashMap<String, String> {
    let mut md: std::collections::HashMap<String, String> = [
        ("serverAddress", "http://prometheus:9090".to_string()),
        ("query", format!("q{i}")),
        ("threshold", format!("{}", (peak / 8.0).round().max(1.0))),
        ("history", format!("{}d", days as i64)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if slo {
        md.insert("slo".into(), "0.99".into());
    } else {
        // A fixed headroom (the expert override): the plain run measures the loop alone.
        md.insert("quantile".into(), "0.9".into());
    }
    md
}

fn object(i: usize, peak: f64, days: f64, slo: bool) -> ScaledObjectRef {
    ScaledObjectRef {
        name: format!("svc-{i:04}"),
        namespace: "bench".into(),
        scaler_metadata: metadata(i, peak, days, slo),
    }
}

/// Shares of `method`'s requests at or below a few bucket bounds of the server's histogram.
fn histogram(text: &str, method: &str) -> Vec<(f64, f64)> {
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| {
            l.starts_with("prescale_grpc_request_duration_seconds_bucket{")
                && l.contains(&format!("method=\"{method}\""))
        })
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let count: f64 = l.rsplit(' ').next()?.parse().ok()?;
            Some((le.parse().unwrap_or(f64::INFINITY), count))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0.0, |b| b.1);
    buckets
        .into_iter()
        .filter(|(le, _)| {
            [0.0002, 0.0004, 0.0008, 0.0016, 0.0032]
                .iter()
                .any(|b| (le - b).abs() < 1e-9)
        })
        .map(|(le, c)| (le, if total > 0.0 { c / total } else { 0.0 }))
        .collect()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Sends `rate` GetMetrics a second for `secs`; returns (latency, send lag) of each answer,
/// the errors, and the rate achieved.
async fn load(
    grpc: std::net::SocketAddr,
    objects: Vec<ScaledObjectRef>,
    rate: f64,
    secs: f64,
) -> (Vec<(f64, f64)>, usize, f64) {
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(
            ExternalScalerClient::connect(format!("http://{grpc}"))
                .await
                .unwrap(),
        );
    }
    let total = (rate * secs) as usize;
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let errors = Arc::new(Mutex::new(0usize));
    let objects = Arc::new(objects);
    let t0 = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    for k in 0..total {
        let at = t0 + Duration::from_secs_f64(k as f64 / rate);
        tokio::time::sleep_until(at).await;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let i = (rng % objects.len() as u64) as usize;
        let mut client = clients[k % clients.len()].clone();
        let (latencies, errors, objects) = (latencies.clone(), errors.clone(), objects.clone());
        tasks.push(tokio::spawn(async move {
            let sent = tokio::time::Instant::now();
            let lag = sent.duration_since(at).as_secs_f64();
            let r = client
                .get_metrics(GetMetricsRequest {
                    scaled_object_ref: Some(objects[i].clone()),
                    metric_name: "prescale".into(),
                })
                .await;
            let secs = sent.elapsed().as_secs_f64();
            match r {
                Ok(_) => latencies.lock().unwrap().push((secs, lag)),
                Err(e) => {
                    let mut n = errors.lock().unwrap();
                    if *n == 0 {
                        eprintln!("first error: {e:?}");
                    }
                    *n += 1;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let achieved = total as f64 / t0.elapsed().as_secs_f64();
    let pairs = latencies.lock().unwrap().clone();
    let errors = *errors.lock().unwrap();
    (pairs, errors, achieved)
}

async fn run(scale: Scale) -> bool {
    // 20 distinct series (seeds and levels), each covering history + one refit period + a
    // margin up to now.
    let now = Utc::now().timestamp();
    let minutes = (scale.days * 1440.0).round() as i64 + 7 * 60;
    let start = chrono::DateTime::from_timestamp(now - now % 60 - minutes * 60, 0).unwrap();
    let source = Arc::new(MemorySource::new());
    let peaks: Vec<f64> = (0..20).map(|k| 50.0 + 40.0 * k as f64).collect();
    let series: Vec<Arc<Vec<f64>>> = (0..20)
        .map(|k| {
            let s = generate(&SyntheticSpec {
                start,
                days: (minutes + 30) as f64 / 1440.0,
                peak: peaks[k],
                base: peaks[k] / 10.0,
                seed: k as u64,
                ..SyntheticSpec::default()
            });
            Arc::new(s.values().to_vec())
        })
        .collect();
    for i in 0..scale.objects {
        source.set_shared(&format!("q{i}"), start, 60, series[i % 20].clone());
    }
    for i in 0..scale.hostile {
        // Billions, a burst of 100x every 97 minutes, a drop-out to 0 every 331.
        let values: Vec<f64> = series[i % 20]
            .iter()
            .enumerate()
            .map(|(t, v)| match (t % 97, t % 331) {
                (_, 0..=9) => 0.0,
                (0..=2, _) => v * 1e11,
                _ => v * 1e9,
            })
            .collect();
        source.set(&format!("hostile{i}"), start, 60, values);
    }
    let rss_before = rss_kib("VmRSS:");
    let metered = Arc::new(Metered::new(source, Duration::from_millis(10)));
    let options = ServerOptions {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        // Short, so that the churn's ScaledObjects expire within the run.
        registration_ttl: Some(Duration::from_secs(if scale.objects > 100 {
            10
        } else {
            3
        })),
        preregistered: (0..scale.objects)
            .map(|i| {
                let so = object(i, peaks[i % 20], scale.days, scale.slo);
                (
                    prescale_server::registry::ObjectKey::new(so.namespace, so.name),
                    so.scaler_metadata,
                )
            })
            .chain((0..scale.hostile).map(|i| {
                let so = hostile(i);
                (
                    prescale_server::registry::ObjectKey::new(so.namespace, so.name),
                    so.scaler_metadata,
                )
            }))
            .collect(),
        ..ServerOptions::default()
    };
    let threads = options.runtime.forecast_threads;
    let history_reads = options.runtime.history_reads;
    let started = Instant::now();
    let server = Server::bind(options, Some(Arc::new(SameSource(metered.clone()))))
        .await
        .unwrap();
    let registry = server.registry();
    let grpc = server.grpc_addr().unwrap();
    let http = server.http_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let tuned = |registry: &prescale_server::registry::Registry| {
        registry
            .slots()
            .iter()
            .filter(|s| s.registration().status().tuning.is_some())
            .count()
    };
    // The full (cold) refresh: every ScaledObject backfilled, fitted and forecast. In SLO
    // mode: until the first tuning, then the load runs while the others re-tune.
    while scale.slo && tuned(&registry) == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    loop {
        if scale.slo {
            break;
        }
        let ready = forecasting(&registry, "");
        if ready == scale.objects + scale.hostile {
            break;
        }
        if started.elapsed() > Duration::from_secs(if scale.objects > 100 { 600 } else { 20 }) {
            let st = registry.slots()[0].registration().status();
            panic!(
                "only {ready} of {} forecast after 10 min; e.g. {}",
                scale.objects,
                serde_json::to_string(&st).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refresh = started.elapsed().as_secs_f64();
    let backfill = (metered.reads(), metered.most_at_once());
    let rss_loaded = rss_kib("VmRSS:");
    let history: usize = registry
        .slots()
        .iter()
        .map(|s| s.registration().status().history.samples)
        .sum();

    // Open-loop load: requests are sent on a fixed schedule (each in its own task, so that a
    // slow answer never delays the next request), over 4 connections, from a client with its
    // own single-threaded runtime on its own OS thread (KEDA is another process); latency is
    // counted from the send, and how late the sends were is reported apart.
    let objects: Vec<ScaledObjectRef> = (0..scale.objects)
        .map(|i| object(i, peaks[i % 20], scale.days, scale.slo))
        .chain((0..scale.hostile).map(hostile))
        .collect();
    let (rate, load_secs) = (scale.rate, scale.load_secs);
    let client = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a client runtime")
            .block_on(load(grpc, objects, rate, load_secs))
    });
    let tuned_before = tuned(&registry);
    let (pairs, errors, achieved) = client.await.expect("the load generator");
    let tuned_after = tuned(&registry);
    // The server's own view: its GetMetrics latency histogram (decode, lookup, encode).
    let metrics = prescale_testkit::http::get(&format!("http://{http}/metrics"))
        .map(|r| r.body)
        .unwrap_or_default();
    let server_side = histogram(&metrics, "GetMetrics");
    let rss_after = rss_kib("VmRSS:");
    let peak = rss_kib("VmHWM:");
    let churned = churn(
        grpc,
        &registry,
        scale.objects,
        scale.days,
        &peaks,
        scale.slo,
    )
    .await;
    let _ = stop.send(());
    let _ = done.await;

    let mut lat: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    lat.sort_by(f64::total_cmp);
    let mut lag: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    lag.sort_by(f64::total_cmp);
    let ms = |q: f64| percentile(&lat, q) * 1000.0;
    println!(
        "{} ScaledObjects, {} days of 1-minute history each ({} samples held in all)",
        scale.objects, scale.days, history
    );
    if scale.hostile > 0 {
        println!(
            "and {} hostile ScaledObjects (coldStart 6h, history 90d, slo 0.999, values in the billions with bursts and drop-outs)",
            scale.hostile
        );
    }
    let memory_target = if scale.hostile > 0 { 512.0 } else { 1024.0 };
    if scale.slo {
        println!(
            "SLO mode: {tuned_before} of {} ScaledObjects tuned when the load started, {tuned_after} when it ended ({threads} forecast thread(s))",
            scale.objects
        );
    } else {
        println!(
            "full refresh (backfill + refit + patterns of every ScaledObject, {threads} forecast thread(s)): {refresh:.1} s"
        );
    }
    println!(
        "GetMetrics at {:.0} req/s ({} requests, {} errors): p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
        achieved,
        lat.len(),
        errors,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        ms(1.0)
    );
    println!(
        "server side (prescale_grpc_request_duration_seconds, GetMetrics): {}",
        server_side
            .iter()
            .map(|(le, share)| format!("{:.1}% <= {:.2} ms", share * 100.0, le * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "client send lag behind the schedule: p50 {:.3} ms, p99 {:.3} ms",
        percentile(&lag, 0.5) * 1000.0,
        percentile(&lag, 0.99) * 1000.0
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "memory: RSS {:.0} MiB before registering, {:.0} MiB after the refresh, {:.0} MiB after the load, peak {:.0} MiB",
        mib(rss_before),
        mib(rss_loaded),
        mib(rss_after),
        mib(peak)
    );
    println!(
        "history reads (cold start, each answered after 10 ms): {} range queries, at most {} at once (runtime.history_reads {history_reads})",
        backfill.0, backfill.1
    );
    let churn_ratio = churned.after as f64 / churned.before.max(1) as f64;
    println!(
        "churn: {} ScaledObjects registered ({} fitted) then expired in {:.1} s: RSS {:.0} MiB before, {:.0} MiB with them, {:.0} MiB after ({:+.1}%)",
        churned.objects,
        churned.fitted,
        churned.secs,
        mib(churned.before),
        mib(churned.with),
        mib(churned.after),
        (churn_ratio - 1.0) * 100.0
    );
    let ok = errors == 0
        && ms(0.99) < 2.0
        && mib(peak) < memory_target
        && (scale.slo || refresh < 300.0)
        && (!scale.slo || tuned_after > tuned_before)
        && backfill.1 <= history_reads
        && churned.expired
        && churn_ratio <= 1.10;
    println!(
        "targets (p99 < 2 ms, memory < {memory_target:.0} MiB, history reads within the bound, RSS after the churn within 10%, {}): {}",
        if scale.slo {
            "tunings made during the load"
        } else {
            "refresh < 5 min"
        },
        if ok { "met" } else { "MISSED" }
    );
    ok
}

/// How many registered ScaledObjects whose name starts with `prefix` have a forecast.
fn forecasting(registry: &prescale_server::registry::Registry, prefix: &str) -> usize {
    registry
        .slots()
        .iter()
        .filter(|s| s.key.name.starts_with(prefix))
        .filter(|s| {
            s.registration()
                .status
                .lock()
                .map(|st| st.forecast.is_some())
                .unwrap_or(false)
        })
        .count()
}

struct Churn {
    objects: usize,
    /// How many of them had a forecast before they were left to expire.
    fitted: usize,
    secs: f64,
    before: u64,
    with: u64,
    after: u64,
    expired: bool,
}

/// Registers `n` more ScaledObjects through GetMetricSpec (as KEDA does for new ones), waits
/// for their forecasts, stops calling, and waits for them to expire.
async fn churn(
    grpc: std::net::SocketAddr,
    registry: &prescale_server::registry::Registry,
    n: usize,
    days: f64,
    peaks: &[f64],
    slo: bool,
) -> Churn {
    let started = Instant::now();
    let base = registry.len();
    let before = rss_kib("VmRSS:");
    let mut client = ExternalScalerClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let objects: Vec<ScaledObjectRef> = (0..n)
        .map(|i| {
            let mut so = object(i, peaks[i % peaks.len()], days, slo);
            so.name = format!("churn-{i:04}");
            so
        })
        .collect();
    for so in &objects {
        let _ = client.get_metric_spec(so.clone()).await;
    }
    let forecast = || forecasting(registry, "churn-");
    // At most four minutes: in SLO mode the churned objects' first fits wait behind the
    // tunings on the one forecast thread. KEDA keeps asking about them meanwhile (every
    // 2 s here, within the TTL), so that they stay registered until they are fitted.
    let mut asked = Instant::now();
    while forecast() < n && started.elapsed() < Duration::from_secs(240) {
        if asked.elapsed() >= Duration::from_secs(2) {
            asked = Instant::now();
            for so in &objects {
                let call = client.is_active(so.clone());
                let _ = tokio::time::timeout(Duration::from_millis(200), call).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(client);
    let fitted = forecast();
    let with = rss_kib("VmRSS:");
    while registry.len() > base && started.elapsed() < Duration::from_secs(900) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expired = registry.len() == base;
    // The expired workers finish their last step, and the allocator returns the memory they
    // freed (jemalloc's decay: about ten seconds).
    let settled = Instant::now();
    let mut after = rss_kib("VmRSS:");
    while after as f64 > 1.10 * before as f64 && settled.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = rss_kib("VmRSS:");
    }
    Churn {
        objects: n,
        fitted,
        secs: started.elapsed().as_secs_f64(),
        before,
        with,
        after,
        expired,
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let slo = std::env::var_os("PRESCALE_BENCH_SLO").is_some();
    // Hostile objects always in test mode (one), 10 beside the 1,000 when asked.
    let hostile = std::env::var_os("PRESCALE_BENCH_HOSTILE").is_some();
    let scale = if bench {
        Scale {
            objects: 1000,
            days: 28.0,
            load_secs: 20.0,
            rate: 2000.0,
            slo,
            hostile: if hostile { 10 } else { 0 },
        }
    } else {
        Scale {
            objects: 20,
            days: 2.0,
            load_secs: 1.0,
            rate: 200.0,
            slo,
            hostile: 1,
        }
    };
    // The runtime's workers start with it; threads started later are its blocking pool (the
    // forecast fits): named apart, so that a profile (or `top -H`) tells them from the
    // threads that answer KEDA.
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let started = std::sync::atomic::AtomicUsize::new(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name_fn(move || {
            let n = started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n < workers {
                format!("tokio-worker-{n}")
            } else {
                "tokio-blocking".to_string()
            }
        })
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let ok = rt.block_on(run(scale));
    if bench && !ok {
        std::process::exit(1);
    }
}
