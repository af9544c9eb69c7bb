//! Property: any valid spec generates YAML that parses back to the same resources, the same
//! bytes every time, and documents that pass the KEDA CRD schemas and runtime rules.

use std::collections::BTreeMap;

use prescale_manifests::schema::Schemas;
use prescale_manifests::spec::{
    AuthRef, HpaBehavior, HpaPolicy, HpaPolicyType, HpaRules, HpaSelectPolicy, Kind, MetricType,
    ScalingModifiers, SecretRef, Service, SpecFile, Trigger, TriggerType,
};
use prescale_manifests::{generate, parse_manifests, render, validate_manifests};
use proptest::prelude::*;

fn trigger(kind: TriggerType, i: usize, threshold: f64, text: String) -> Trigger {
    use TriggerType as T;
    let threshold = match kind {
        T::VllmKvCache => (threshold / 1000.0).clamp(0.01, 1.0),
        T::Redis => threshold.ceil(),
        T::GpuUtilization | T::Cpu | T::Memory => threshold.clamp(1.0, 100.0),
        _ => threshold,
    };
    Trigger {
        kind,
        name: Some(format!("t{i}")),
        threshold: Some(threshold),
        activation_threshold: None,
        metric_type: None,
        query: matches!(kind, T::Prometheus | T::Predictive).then(|| format!("sum({text})")),
        quantile: matches!(kind, T::VllmTtft | T::Predictive).then_some(0.9),
        queue: matches!(kind, T::Rabbitmq | T::Redis).then(|| format!("q{text}")),
        mode: None,
        protocol: None,
        address: (kind == T::Redis).then(|| "redis.default.svc:6379".to_string()),
        secret: (kind == T::Rabbitmq).then(|| SecretRef {
            name: "broker".into(),
            key: Some(format!("k{i}")),
        }),
        authentication: (kind == T::Redis && threshold > 100.0).then(|| AuthRef {
            name: "redis-auth".into(),
            cluster: threshold > 300.0,
        }),
        cold_start: (kind == T::Predictive).then(|| "2m".to_string()),
        push: false,
        slo: None,
        sla: None,
        password: None,
        host: None,
    }
}

fn types_of(kind: Kind) -> Vec<TriggerType> {
    use TriggerType as T;
    match kind {
        Kind::Vllm => vec![
            T::VllmWaiting,
            T::VllmRunning,
            T::VllmKvCache,
            T::VllmTtft,
            T::VllmE2eLatency,
            T::VllmRequestRate,
            T::GpuUtilization,
            T::Prometheus,
            T::Cpu,
            T::Predictive,
        ],
        Kind::Celery => vec![T::Rabbitmq, T::Redis, T::Memory, T::Predictive],
        Kind::Training => vec![T::Rabbitmq, T::Redis, T::Prometheus, T::Predictive],
    }
}

prop_compose! {
    fn service(i: usize)(
        kind in prop_oneof![Just(Kind::Vllm), Just(Kind::Celery), Just(Kind::Training)],
        picks in proptest::collection::vec(any::<bool>(), 10),
        thresholds in proptest::collection::vec(0.5f64..500.0, 10),
        min in 0u32..3,
        extra in 1u32..20,
        text in "[ -~]{0,16}",
        labels in proptest::collection::btree_map(
            "([a-z]{1,5}\\.[a-z]{2,3}/)?[a-zA-Z0-9]([a-zA-Z0-9._-]{0,8}[a-zA-Z0-9])?",
            "([a-zA-Z0-9]([a-zA-Z0-9._-]{0,8}[a-zA-Z0-9])?)?",
            0..3,
        ),
        modifiers in any::<bool>(),
    ) -> Service {
        let types = types_of(kind);
        let mut triggers: Vec<Trigger> = types
            .iter()
            .zip(&picks)
            .filter(|(t, p)| **p && **t != TriggerType::Predictive)
            .enumerate()
            .map(|(j, (t, _))| trigger(*t, j, thresholds[j], text.clone()))
            .collect();
        // Always one demand-side trigger, so that any minReplicas is valid (one predictive
        // trigger per service at most).
        triggers.push(trigger(TriggerType::Predictive, triggers.len(), thresholds[9], text.clone()));
        let job = (kind == Kind::Training).then(|| {
            yaml_serde::from_str(&format!("image: 'img:{i}'\ngpus: {min}\n")).expect("a job")
        });
        let scaling_modifiers = (modifiers && kind != Kind::Training).then(|| ScalingModifiers {
            formula: format!("t{} * 2", triggers.len() - 1),
            target: thresholds[0],
            activation_target: None,
            metric_type: Some(MetricType::AverageValue),
        });
        let mut spec: Service = yaml_serde::from_str(&format!(
            "name: svc-{i}\nkind: {}\ntriggers: []\n",
            match kind { Kind::Vllm => "vllm", Kind::Celery => "celery", Kind::Training => "training" }
        )).expect("a service");
        spec.min_replicas = min;
        spec.max_replicas = min + extra;
        spec.triggers = triggers;
        spec.job = job;
        spec.scaling_modifiers = scaling_modifiers;
        spec.behavior = (kind != Kind::Training && extra % 2 == 0).then(|| HpaBehavior {
            scale_up: None,
            scale_down: Some(HpaRules {
                stabilization_window_seconds: Some(i64::from(extra) * 60),
                select_policy: Some(HpaSelectPolicy::Min),
                policies: Some(vec![HpaPolicy {
                    kind: HpaPolicyType::Percent,
                    value: extra,
                    period_seconds: 60,
                }]),
                tolerance: modifiers.then_some(0.05),
            }),
        });
        spec.labels = labels;
        spec.annotations = BTreeMap::from([("note".to_string(), text)]);
        spec
    }
}

fn spec_file() -> impl Strategy<Value = SpecFile> {
    (service(0), service(1), any::<bool>()).prop_map(|(a, b, two)| SpecFile {
        services: if two { vec![a, b] } else { vec![a] },
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_yaml_parses_back_to_the_same_resources(spec in spec_file()) {
        let text = yaml_serde::to_string(&spec).expect("the spec serializes");
        let resources = generate(&text, "spec.yaml").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let yaml = render(&resources).expect("renders");
        let parsed = parse_manifests(&yaml, "out.yaml").expect("parses");
        prop_assert_eq!(&parsed, &resources);
        prop_assert_eq!(render(&generate(&text, "spec.yaml").expect("again")).expect("renders"), yaml.clone());
        let schemas = Schemas::embedded().expect("schemas");
        let n = validate_manifests(&yaml, "out.yaml", &schemas)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))?;
        prop_assert_eq!(n, resources.len());
    }

    #[test]
    fn damaged_examples_give_errors_not_panics(
        which in 0usize..4,
        at in 0usize..2000,
        len in 0usize..40,
        insert in "[ -~\n]{0,12}",
    ) {
        let names = ["vllm", "celery-rabbitmq", "celery-redis", "training"];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let schemas = Schemas::embedded().expect("schemas");
        for sub in ["", "generated/"] {
            let text = std::fs::read_to_string(dir.join(format!("{sub}{}.yaml", names[which])))
                .expect("example");
            let chars: Vec<char> = text.chars().collect();
            let start = at.min(chars.len());
            let end = (start + len).min(chars.len());
            let damaged: String = chars[..start]
                .iter()
                .chain(insert.chars().collect::<Vec<_>>().iter())
                .chain(chars[end..].iter())
                .collect();
            if let Err(e) = generate(&damaged, "x.yaml") {
                prop_assert!(e.to_string().starts_with("x.yaml:"), "{}", e);
            }
            if let Err(e) = validate_manifests(&damaged, "x.yaml", &schemas) {
                prop_assert!(!e.to_string().contains('\n') || e.to_string().starts_with("x.yaml:"));
            }
        }
    }

    #[test]
    fn no_input_panics(text in "[ -~\n]{0,200}") {
        let _ = generate(&text, "x.yaml");
        let schemas = Schemas::embedded().expect("schemas");
        let _ = validate_manifests(&text, "x.yaml", &schemas);
    }
}
