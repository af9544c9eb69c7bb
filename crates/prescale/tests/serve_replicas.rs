//! Horizontal scale: KEDA round-robins over the replicas behind `scalerAddress`, so two
//! `prescale serve` processes reading the same Prometheus must decide the same for the same
//! ScaledObject. The second starts 20 trace-minutes after the first, each with its own store;
//! both run on the same scaled time. Every decision tick both made is compared, and a
//! KEDA-like client alternating between them sees no difference either.
//!
//! Needs Prometheus and the shared traces (skipped with a message without them).

mod serve_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serve_support::{Replay, Serve, poll};

#[test]
fn two_servers_give_the_same_answers() {
    // A Thursday morning of the NASA trace, 240 times faster: 150 trace-minutes.
    let Some(replay) = Replay::start(
        "web_nasa_http_1995-07_1min.csv",
        "1995-07-20T09:30:00Z",
        150,
        3 * 1440 + 370,
        240.0,
    ) else {
        return;
    };
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Serve::start(da.path(), &replay.config());
    // KEDA sends the same metadata to both (scalerAddress names the Service).
    let so_a = replay.object(&a);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut seen: [BTreeMap<String, (u64, bool)>; 2] = [BTreeMap::new(), BTreeMap::new()];
    let mut record = |i: usize, serve: &Serve| {
        let st = serve.api("/api/v1/services/web/nasa");
        if let (Some(at), Some(n), Some(active)) = (
            st["reported"]["decided_at"].as_str(),
            st["reported"]["replicas"].as_u64(),
            st["reported"]["active"].as_bool(),
        ) {
            seen[i].insert(at.to_string(), (n, active));
        }
    };
    rt.block_on(async {
        let mut ca = a.client().await;
        poll(&mut ca, &so_a).await.ok();
    });
    // The second server starts 20 trace-minutes later.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        record(0, &a);
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = Serve::start(db.path(), &replay.config());
    let mut alternating = Vec::new();
    rt.block_on(async {
        let mut clients = [a.client().await, b.client().await];
        let end = replay.logical_origin + chrono::Duration::minutes(150);
        let mut k = 0;
        while replay.now() < end {
            // KEDA's round robin: each poll goes to the next server.
            let r = poll(&mut clients[k % 2], &so_a).await.ok();
            alternating.push(r);
            k += 1;
            record(0, &a);
            record(1, &b);
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    });
    let common: Vec<_> = seen[1]
        .iter()
        .filter_map(|(at, vb)| seen[0].get(at).map(|va| (at, *va, *vb)))
        .collect();
    assert!(
        common.len() >= 100,
        "only {} common decision ticks",
        common.len()
    );
    let differ: Vec<_> = common.iter().filter(|(_, va, vb)| va != vb).collect();
    assert!(
        differ.is_empty(),
        "{} of {} ticks differ: {:?}",
        differ.len(),
        common.len(),
        &differ[..differ.len().min(10)]
    );
    let levels: std::collections::BTreeSet<u64> = common.iter().map(|c| c.1.0).collect();
    assert!(
        levels.len() >= 3,
        "the replicas should move over the morning: {levels:?}"
    );
    assert!(alternating.iter().filter(|r| r.is_some()).count() > 100);
    eprintln!(
        "{} common decision ticks, replicas {levels:?}, all equal",
        common.len()
    );
}
