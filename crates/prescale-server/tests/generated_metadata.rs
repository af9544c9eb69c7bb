//! The trigger-metadata contract end to end: every predictive trigger in the generated
//! examples (`examples/generated/*.yaml`, what `prescale generate` writes and the golden test
//! keeps current) is read by the server's parser (which rejects unknown keys) without error, and reads back to the values
//! it was written with.

use std::collections::HashMap;
use std::path::Path;

use prescale_server::keda::metadata::Settings;

fn predictive_triggers(doc: &yaml_serde::Value) -> Vec<HashMap<String, String>> {
    let Some(triggers) = doc["spec"]["triggers"].as_sequence() else {
        return Vec::new();
    };
    triggers
        .iter()
        .filter(|t| {
            matches!(t["type"].as_str(), Some("external" | "external-push"))
                && t["metadata"]["scalerAddress"].is_string()
        })
        .map(|t| {
            t["metadata"]
                .as_mapping()
                .expect("metadata is a mapping")
                .iter()
                .map(|(k, v)| {
                    let k = k.as_str().expect("string key").to_string();
                    let v = v
                        .as_str()
                        .unwrap_or_else(|| panic!("{k}: KEDA metadata values are strings"));
                    (k, v.to_string())
                })
                .collect()
        })
        .collect()
}

#[test]
fn every_generated_predictive_trigger_reads_back_in_the_server() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/generated");
    let mut seen = 0;
    let mut slo_seen = false;
    for entry in std::fs::read_dir(&dir).expect("examples/generated") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for doc in yaml_serde::Deserializer::from_str(&text) {
            let doc: yaml_serde::Value = serde::Deserialize::deserialize(doc).expect("YAML");
            for md in predictive_triggers(&doc) {
                let at = path.display();
                let s = Settings::from_metadata(&md).unwrap_or_else(|e| {
                    panic!("{at}: the server rejects the generated trigger: {e}")
                });
                let threshold: f64 = md["threshold"].parse().expect("number");
                assert_eq!(s.threshold, threshold, "{at}: threshold");
                if let Some(q) = md.get("quantile") {
                    assert_eq!(
                        s.quantile,
                        q.parse::<f64>().expect("number"),
                        "{at}: quantile"
                    );
                }
                if let Some(x) = md.get("slo") {
                    assert_eq!(s.slo, Some(x.parse::<f64>().expect("number")), "{at}: slo");
                    slo_seen = true;
                }
                if let Some(m) = md.get("maxReplicas") {
                    assert_eq!(s.max_replicas, m.parse::<u32>().expect("integer"), "{at}");
                }
                seen += 1;
            }
        }
    }
    assert!(
        seen >= 2,
        "too few predictive triggers in {}",
        dir.display()
    );
    assert!(slo_seen, "no SLO-mode trigger in {}", dir.display());
}
