//! The gRPC contract, driven by a tonic client generated from the same proto, with a registry
//! whose registrations answer a fixed decision: metric spec, metric value, activity, streams,
//! and `INVALID_ARGUMENT` naming the metadata key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use prescale_server::api::grpc::ScalerService;
use prescale_server::api::telemetry::Telemetry;
use prescale_server::keda::proto::external_scaler_client::ExternalScalerClient;
use prescale_server::keda::proto::external_scaler_server::ExternalScalerServer;
use prescale_server::keda::proto::{GetMetricsRequest, ScaledObjectRef};
use prescale_server::registry::{Answer, Registration, Registry, Slot, Starter};
use tokio::sync::watch;
use tonic::transport::Channel;

/// Answers `replicas = maxReplicas / 2` at once, active when more than 0.
struct Fixed;

impl Starter for Fixed {
    fn start(&self, slot: Arc<Slot>, reg: Arc<Registration>) {
        let n = reg.settings.max_replicas / 2;
        slot.publish(Answer::new(&reg.settings, n, n > 0, chrono::Utc::now()));
    }
}

async fn serve(starter: Arc<dyn Starter>) -> (ExternalScalerClient<Channel>, watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    let registry = Arc::new(Registry::new(starter));
    let mut svc = ScalerService::new(registry, Arc::new(Telemetry::new()), stopped.clone());
    svc.first_answer_wait = Duration::from_millis(200);
    let mut stopped2 = stopped;
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(ExternalScalerServer::new(svc))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async move {
                    let _ = stopped2.wait_for(|s| *s).await;
                },
            )
            .await
            .unwrap();
    });
    let client = ExternalScalerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    (client, stop)
}

fn object(name: &str, pairs: &[(&str, &str)]) -> ScaledObjectRef {
    let mut md: HashMap<String, String> = [
        ("scalerAddress", "prescale:6000"),
        ("serverAddress", "http://prometheus:9090"),
        ("query", "sum(rate(vllm:request_success_total[1m]))"),
        ("threshold", "2.5"),
        ("maxReplicas", "8"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in pairs {
        md.insert(k.to_string(), v.to_string());
    }
    ScaledObjectRef {
        name: name.into(),
        namespace: "inference".into(),
        scaler_metadata: md,
    }
}

#[tokio::test]
async fn keda_polling_sequence_gets_spec_value_and_activity() {
    let (mut client, _stop) = serve(Arc::new(Fixed)).await;
    let so = object("llama", &[]);
    let spec = client
        .get_metric_spec(so.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(spec.metric_specs.len(), 1);
    let s = &spec.metric_specs[0];
    assert_eq!(s.metric_name, "prescale");
    assert_eq!(s.target_size_float, 2.5);
    assert_eq!(s.target_size, 3);
    for _ in 0..3 {
        let values = client
            .get_metrics(GetMetricsRequest {
                scaled_object_ref: Some(so.clone()),
                metric_name: "prescale".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(values.metric_values.len(), 1);
        let v = &values.metric_values[0];
        assert_eq!(v.metric_name, "prescale");
        // 4 replicas: 4 × 2.5 = 10, and ceil(10 / 2.5) = 4 in the HPA.
        assert_eq!(v.metric_value_float, 10.0);
        assert_eq!(v.metric_value, 12);
        assert_eq!((v.metric_value_float / s.target_size_float).ceil(), 4.0);
        assert_eq!((v.metric_value as f64 / s.target_size as f64).ceil(), 4.0);
        assert!(
            client
                .is_active(so.clone())
                .await
                .unwrap()
                .into_inner()
                .result
        );
    }
}

#[tokio::test]
async fn invalid_metadata_is_invalid_argument_naming_the_key() {
    let (mut client, _stop) = serve(Arc::new(Fixed)).await;
    let cases = [
        (object("a", &[("threshold", "-1")]), "threshold"),
        (object("a", &[("coldStart", "later")]), "coldStart"),
        (object("a", &[("quantile", "2")]), "quantile"),
        (object("a", &[("unknownKey", "x")]), "unknownKey"),
    ];
    for (so, key) in cases {
        let err = client.get_metric_spec(so.clone()).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(
            err.message().contains(&format!("scalerMetadata.{key}")),
            "{err:?}"
        );
        let err = client
            .get_metrics(GetMetricsRequest {
                scaled_object_ref: Some(so.clone()),
                metric_name: "prescale".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let err = client.is_active(so).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
    let err = client
        .get_metrics(GetMetricsRequest {
            scaled_object_ref: None,
            metric_name: "prescale".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("scaledObjectRef"));
}

/// Never decides.
struct Silent;

impl Starter for Silent {
    fn start(&self, _: Arc<Slot>, _: Arc<Registration>) {}
}

#[tokio::test]
async fn no_decision_yet_is_unavailable() {
    let (mut client, _stop) = serve(Arc::new(Silent)).await;
    let err = client.is_active(object("a", &[])).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(err.message().contains("no decision yet"), "{err:?}");
    // The spec needs no decision.
    assert!(client.get_metric_spec(object("a", &[])).await.is_ok());
}

#[tokio::test]
async fn streams_send_the_current_state_then_changes() {
    let (mut client, stop) = serve(Arc::new(Fixed)).await;
    let mut active = client
        .stream_is_active(object("s", &[]))
        .await
        .unwrap()
        .into_inner();
    assert!(active.message().await.unwrap().unwrap().result);
    let mut specs = client
        .stream_metric_spec(object("s", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        specs.message().await.unwrap().unwrap().metric_specs[0].target_size_float,
        2.5
    );
    // New metadata (maxReplicas 1: 0 replicas, inactive; threshold 5): both streams push.
    client
        .get_metric_spec(object("s", &[("maxReplicas", "1"), ("threshold", "5")]))
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), active.message()).await;
    assert!(!next.unwrap().unwrap().unwrap().result);
    let next = tokio::time::timeout(Duration::from_secs(5), specs.message()).await;
    assert_eq!(
        next.unwrap().unwrap().unwrap().metric_specs[0].target_size_float,
        5.0
    );
    // Server shutdown ends the streams.
    stop.send_replace(true);
    let end = tokio::time::timeout(Duration::from_secs(5), active.message()).await;
    assert!(matches!(end, Ok(Ok(None)) | Ok(Err(_))), "{end:?}");
}

/// Spec, value and activity of `so`, as KEDA asks at each poll.
async fn poll(
    client: &mut ExternalScalerClient<Channel>,
    so: &ScaledObjectRef,
) -> Result<(f64, f64), tonic::Status> {
    let spec = client.get_metric_spec(so.clone()).await?.into_inner();
    let name = spec.metric_specs[0].metric_name.clone();
    let values = client
        .get_metrics(GetMetricsRequest {
            scaled_object_ref: Some(so.clone()),
            metric_name: name,
        })
        .await?
        .into_inner();
    client.is_active(so.clone()).await?;
    Ok((
        spec.metric_specs[0].target_size_float,
        values.metric_values[0].metric_value_float,
    ))
}

#[tokio::test]
async fn two_prescale_triggers_in_one_scaled_object_do_not_take_turns() {
    let (mut client, _stop) = serve(Arc::new(Fixed)).await;
    let first = object("llama", &[("metricName", "chat")]);
    let second = object("llama", &[("metricName", "batch"), ("threshold", "2.01")]);
    // KEDA polls trigger 0 then trigger 1 of the same ScaledObject, again and again.
    let mut answers = Vec::new();
    for _ in 0..5 {
        for so in [&first, &second] {
            answers.push(poll(&mut client, so).await);
        }
    }
    // The first round registers each in turn; from then on one is served and the other
    // refused, naming the rule: never the other trigger's target.
    for (i, a) in answers.iter().enumerate().skip(2) {
        match (i % 2, a) {
            // 2.01 as the float KEDA reads as 2010 milli whether it truncates or rounds.
            (1, Ok((target, _))) => {
                assert_eq!(prescale_policy::quantity::keda_milli_v2_19(*target), 2010)
            }
            (0, Err(e)) => {
                assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
                assert!(
                    e.message()
                        .contains("one prescale trigger per ScaledObject"),
                    "{e:?}"
                );
            }
            other => panic!("call {i}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn keys_keda_documents_for_its_triggers_are_accepted() {
    let (mut client, _stop) = serve(Arc::new(Fixed)).await;
    let so = object(
        "llama",
        &[
            ("caCert", "-----BEGIN CERTIFICATE-----"),
            ("tlsClientCert", "-----BEGIN CERTIFICATE-----"),
            ("tlsClientKey", "-----BEGIN PRIVATE KEY-----"),
            ("namespace", "inference"),
            ("customHeaders", "X-Scope-OrgID=ml"),
            ("bearerTokenFromEnv", "token"),
        ],
    );
    assert_eq!(poll(&mut client, &so).await.unwrap().0, 2.5);
}

#[tokio::test]
async fn a_non_integer_threshold_reads_right_under_keda_2_19_and_2_20() {
    use prescale_policy::quantity::{hpa_replicas, keda_milli_v2_19, keda_milli_v2_20};
    let (mut client, _stop) = serve(Arc::new(Fixed)).await;
    for max in ["2", "6", "8", "14"] {
        let so = object(
            &format!("llama-{max}"),
            &[("threshold", "2.01"), ("maxReplicas", max)],
        );
        let (target, value) = poll(&mut client, &so).await.unwrap();
        let replicas = max.parse::<i64>().unwrap() / 2;
        for read in [keda_milli_v2_19, keda_milli_v2_20] {
            assert_eq!(read(target), 2010);
            assert_eq!(hpa_replicas(read(value), read(target)), replicas, "{max}");
        }
    }
}
