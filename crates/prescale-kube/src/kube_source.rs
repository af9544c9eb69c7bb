//! [`KubeReplicaSource`]: replica counts from the Kubernetes API with kube-rs.
//!
//! What it reads, and so all the RBAC it needs (the Helm chart grants exactly this):
//!
//! | workload | request | RBAC |
//! |---|---|---|
//! | Deployment | `GET /apis/apps/v1/namespaces/{ns}/deployments/{name}` | `get` `deployments` (apps) |
//! | StatefulSet | `GET /apis/apps/v1/namespaces/{ns}/statefulsets/{name}` | `get` `statefulsets` (apps) |
//! | ScaledObject | `GET /apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/keda-hpa-{name}` | `get` `horizontalpodautoscalers` (autoscaling) |
//! | ScaledJob | `GET /apis/batch/v1/namespaces/{ns}/jobs?labelSelector=scaledjob.keda.sh/name={name}` | `list` `jobs` (batch) |

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams};

use crate::error::{Error, Result};
use crate::replicas::{ReplicaFuture, ReplicaSource, Replicas, Workload, WorkloadKind};

/// The label KEDA puts on the Jobs of a ScaledJob.
pub const SCALED_JOB_LABEL: &str = "scaledjob.keda.sh/name";

/// Reads replicas from the Kubernetes API. Cheap to clone (the client is shared).
#[derive(Clone)]
pub struct KubeReplicaSource {
    client: kube::Client,
}

impl std::fmt::Debug for KubeReplicaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeReplicaSource").finish_non_exhaustive()
    }
}

impl KubeReplicaSource {
    /// A source using `client`.
    pub const fn new(client: kube::Client) -> Self {
        Self { client }
    }

    /// A source with the client configured from the environment: the in-cluster service
    /// account, else the local kubeconfig.
    pub async fn try_default() -> Result<Self> {
        let client = kube::Client::try_default().await.map_err(|e| Error::Api {
            workload: "client configuration".into(),
            source: Box::new(e),
        })?;
        Ok(Self::new(client))
    }

    async fn read(&self, w: &Workload) -> Result<Replicas> {
        let client = self.client.clone();
        let ns = w.namespace.as_str();
        match w.kind {
            WorkloadKind::Deployment => {
                let d = get(Api::<Deployment>::namespaced(client, ns), &w.name, w).await?;
                let spec = d.spec.as_ref().and_then(|s| s.replicas);
                let status = d.status.as_ref();
                Ok(Replicas {
                    desired: count(w, "spec.replicas", spec.or(Some(1)))?,
                    running: count(w, "status.replicas", status.and_then(|s| s.replicas))?,
                    ready: Some(count(
                        w,
                        "status.readyReplicas",
                        status.and_then(|s| s.ready_replicas),
                    )?),
                })
            }
            WorkloadKind::StatefulSet => {
                let s = get(Api::<StatefulSet>::namespaced(client, ns), &w.name, w).await?;
                let spec = s.spec.as_ref().and_then(|s| s.replicas);
                let status = s.status.as_ref();
                Ok(Replicas {
                    desired: count(w, "spec.replicas", spec.or(Some(1)))?,
                    running: count(w, "status.replicas", status.map(|s| s.replicas))?,
                    ready: Some(count(
                        w,
                        "status.readyReplicas",
                        status.and_then(|s| s.ready_replicas),
                    )?),
                })
            }
            WorkloadKind::ScaledObject => {
                let api = Api::<HorizontalPodAutoscaler>::namespaced(client, ns);
                let hpa = get(api, &w.keda_hpa_name(), w).await?;
                let status = hpa.status.as_ref();
                Ok(Replicas {
                    desired: count(
                        w,
                        "status.desiredReplicas",
                        status.map(|s| s.desired_replicas),
                    )?,
                    running: count(
                        w,
                        "status.currentReplicas",
                        status.and_then(|s| s.current_replicas),
                    )?,
                    ready: None,
                })
            }
            WorkloadKind::ScaledJob => {
                let api = Api::<Job>::namespaced(client, ns);
                let selector = format!("{SCALED_JOB_LABEL}={}", w.name);
                let jobs = api
                    .list(&ListParams::default().labels(&selector))
                    .await
                    .map_err(|e| api_error(w, e))?;
                scaled_job_replicas(w, &jobs.items)
            }
        }
    }
}

impl ReplicaSource for KubeReplicaSource {
    fn replicas<'a>(&'a self, workload: &'a Workload) -> ReplicaFuture<'a> {
        Box::pin(self.read(workload))
    }
}

fn api_error(w: &Workload, e: kube::Error) -> Error {
    Error::Api {
        workload: w.to_string(),
        source: Box::new(e),
    }
}

async fn get<K>(api: Api<K>, name: &str, w: &Workload) -> Result<K>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get_opt(name).await {
        Ok(Some(obj)) => Ok(obj),
        Ok(None) => Err(Error::NotFound {
            workload: w.to_string(),
        }),
        Err(e) => Err(api_error(w, e)),
    }
}

/// A count from the API: absent is 0, negative is an error naming the field.
fn count(w: &Workload, field: &str, v: Option<i32>) -> Result<u32> {
    let v = v.unwrap_or(0);
    u32::try_from(v).map_err(|_| Error::InvalidResponse {
        workload: w.to_string(),
        field: field.to_string(),
        reason: format!("must be >= 0, got {v}"),
    })
}

/// A ScaledJob's replicas: its unfinished Jobs (no `Complete` or `Failed` condition) are the
/// desired count; their active pods run, their ready pods are ready.
fn scaled_job_replicas(w: &Workload, jobs: &[Job]) -> Result<Replicas> {
    let mut out = Replicas {
        ready: Some(0),
        ..Replicas::default()
    };
    for (i, job) in jobs.iter().enumerate() {
        let status = job.status.as_ref();
        let finished = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
            });
        let field = |f: &str| format!("items[{i}].status.{f}");
        let active = count(w, &field("active"), status.and_then(|s| s.active))?;
        let ready = count(w, &field("ready"), status.and_then(|s| s.ready))?;
        if !finished {
            out.desired += 1;
        }
        out.running += active;
        out.ready = out.ready.map(|r| r + ready);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(active: Option<i32>, ready: Option<i32>, condition: Option<&str>) -> Job {
        let mut v = serde_json_value(active, ready);
        if let Some(c) = condition {
            v["status"]["conditions"] = serde_json::json!([{"type": c, "status": "True"}]);
        }
        serde_json::from_value(v).unwrap()
    }

    fn serde_json_value(active: Option<i32>, ready: Option<i32>) -> serde_json::Value {
        let mut status = serde_json::Map::new();
        if let Some(a) = active {
            status.insert("active".into(), a.into());
        }
        if let Some(r) = ready {
            status.insert("ready".into(), r.into());
        }
        serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "status": status})
    }

    #[test]
    fn scaled_job_counts_unfinished_jobs_and_active_pods() {
        let w = Workload::new(WorkloadKind::ScaledJob, "training", "finetune");
        let jobs = [
            job(Some(1), Some(1), None),
            job(Some(1), Some(0), None),
            job(None, None, Some("Complete")),
            job(None, None, Some("Failed")),
            job(None, None, None), // created, pod not started yet
        ];
        let r = scaled_job_replicas(&w, &jobs).unwrap();
        assert_eq!(
            r,
            Replicas {
                desired: 3,
                running: 2,
                ready: Some(1)
            }
        );
        let bad = [job(Some(-2), None, None)];
        let err = scaled_job_replicas(&w, &bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ScaledJob training/finetune: items[0].status.active: must be >= 0, got -2"
        );
        assert_eq!(
            scaled_job_replicas(&w, &[]).unwrap(),
            Replicas {
                desired: 0,
                running: 0,
                ready: Some(0)
            }
        );
    }
}
