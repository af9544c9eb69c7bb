//! `KubeReplicaSource` against kube-rs' mock service (tower-test): each test plays an API
//! server that checks the request (method, path, label selector) and answers with a response
//! shaped as the API server's (`tests/responses/*.json`, in the JSON the API server returns for
//! these objects, including a `Status` body for errors).

use std::path::Path;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use prescale_kube::{
    Error, KubeReplicaSource, ReplicaSource, Replicas, SCALED_JOB_LABEL, Workload, WorkloadKind,
};

/// One expected request and its answer.
struct Exchange {
    path: &'static str,
    query: Option<&'static str>,
    status: StatusCode,
    body: &'static str,
}

fn response(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/responses")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A client whose API server answers `exchanges` in order, checking each request; the
/// returned task fails if a request differs or is missing.
fn mock(exchanges: Vec<Exchange>) -> (kube::Client, tokio::task::JoinHandle<()>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        for ex in exchanges {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.method(), http::Method::GET);
            assert_eq!(request.uri().path(), ex.path);
            if let Some(q) = ex.query {
                let query = request.uri().query().unwrap_or_default();
                assert!(query.contains(q), "query `{query}` lacks `{q}`");
            }
            let body = response(ex.body);
            send.send_response(
                Response::builder()
                    .status(ex.status)
                    .header("content-type", "application/json")
                    .body(Body::from(body.into_bytes()))
                    .expect("a response"),
            );
        }
    });
    (kube::Client::new(service, "default"), server)
}

fn ok(path: &'static str, body: &'static str) -> Exchange {
    Exchange {
        path,
        query: None,
        status: StatusCode::OK,
        body,
    }
}

async fn read(exchanges: Vec<Exchange>, workload: &Workload) -> Result<Replicas, Error> {
    let (client, server) = mock(exchanges);
    let source: Arc<dyn ReplicaSource> = Arc::new(KubeReplicaSource::new(client));
    let answer = source.replicas(workload).await;
    server
        .await
        .expect("the API server saw the expected requests");
    answer
}

#[tokio::test]
async fn deployment_status_replicas() {
    let w = Workload::new(WorkloadKind::Deployment, "inference", "llama-chat");
    let r = read(
        vec![ok(
            "/apis/apps/v1/namespaces/inference/deployments/llama-chat",
            "deployment.json",
        )],
        &w,
    )
    .await
    .unwrap();
    assert_eq!(
        r,
        Replicas {
            desired: 4,
            running: 4,
            ready: Some(3)
        }
    );
}

#[tokio::test]
async fn deployment_scaled_to_zero_has_no_status_counts() {
    let w = Workload::new(WorkloadKind::Deployment, "pipelines", "embed-worker");
    let r = read(
        vec![ok(
            "/apis/apps/v1/namespaces/pipelines/deployments/embed-worker",
            "deployment-scaled-to-zero.json",
        )],
        &w,
    )
    .await
    .unwrap();
    assert_eq!(
        r,
        Replicas {
            desired: 0,
            running: 0,
            ready: Some(0)
        }
    );
}

#[tokio::test]
async fn statefulset_status_replicas() {
    let w = Workload::new(WorkloadKind::StatefulSet, "inference", "triton");
    let r = read(
        vec![ok(
            "/apis/apps/v1/namespaces/inference/statefulsets/triton",
            "statefulset.json",
        )],
        &w,
    )
    .await
    .unwrap();
    assert_eq!(
        r,
        Replicas {
            desired: 2,
            running: 2,
            ready: Some(2)
        }
    );
}

#[tokio::test]
async fn scaled_object_through_the_keda_hpa() {
    let w = Workload::for_scale_target("inference", "chat-rollout", "Rollout", "chat-rollout");
    let r = read(
        vec![ok(
            "/apis/autoscaling/v2/namespaces/inference/horizontalpodautoscalers/keda-hpa-chat-rollout",
            "keda-hpa.json",
        )],
        &w,
    )
    .await
    .unwrap();
    assert_eq!(
        r,
        Replicas {
            desired: 6,
            running: 5,
            ready: None
        }
    );
}

#[tokio::test]
async fn scaled_job_lists_its_jobs_by_label() {
    let w = Workload::new(WorkloadKind::ScaledJob, "training", "finetune");
    let r = read(
        vec![Exchange {
            path: "/apis/batch/v1/namespaces/training/jobs",
            query: Some("labelSelector=scaledjob.keda.sh%2Fname%3Dfinetune"),
            status: StatusCode::OK,
            body: "jobs.json",
        }],
        &w,
    )
    .await
    .unwrap();
    assert_eq!(SCALED_JOB_LABEL, "scaledjob.keda.sh/name");
    // Two unfinished Jobs with one active pod each, one of them ready; one completed Job.
    assert_eq!(
        r,
        Replicas {
            desired: 2,
            running: 2,
            ready: Some(1)
        }
    );
}

#[tokio::test]
async fn missing_workload_is_not_found() {
    let w = Workload::new(WorkloadKind::Deployment, "inference", "missing");
    let err = read(
        vec![Exchange {
            path: "/apis/apps/v1/namespaces/inference/deployments/missing",
            query: None,
            status: StatusCode::NOT_FOUND,
            body: "not-found.json",
        }],
        &w,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "Deployment inference/missing: not found in the Kubernetes API"
    );
}

#[tokio::test]
async fn forbidden_is_an_api_error_naming_the_workload() {
    let w = Workload::new(WorkloadKind::StatefulSet, "inference", "triton");
    let err = read(
        vec![Exchange {
            path: "/apis/apps/v1/namespaces/inference/statefulsets/triton",
            query: None,
            status: StatusCode::FORBIDDEN,
            body: "forbidden.json",
        }],
        &w,
    )
    .await
    .unwrap_err();
    assert_eq!(err.metric_label(), "api");
    let text = err.to_string();
    assert!(
        text.starts_with("StatefulSet inference/triton: Kubernetes API request failed:"),
        "{text}"
    );
    assert!(text.contains("forbidden"), "{text}");
}

#[tokio::test]
async fn negative_counts_are_rejected_with_the_field() {
    let w = Workload::new(WorkloadKind::Deployment, "inference", "broken");
    let err = read(
        vec![ok(
            "/apis/apps/v1/namespaces/inference/deployments/broken",
            "deployment-negative.json",
        )],
        &w,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Deployment inference/broken: status.replicas: must be >= 0, got -3"
    );
}
