//! Where running replicas are read from: the [`ReplicaSource`] trait, the workloads it reads
//! ([`Workload`]) and what it answers ([`Replicas`]); [`StaticReplicas`] is a source fed by
//! hand (tests, or the server's own decisions when no Kubernetes API is reachable).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What kind of object the replica count is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    /// An `apps/v1` Deployment: `spec.replicas`, `status.replicas`, `status.readyReplicas`.
    Deployment,
    /// An `apps/v1` StatefulSet: the same fields as a Deployment.
    StatefulSet,
    /// A KEDA ScaledObject, through the HPA KEDA creates for it (`keda-hpa-<name>`):
    /// `status.desiredReplicas` and `status.currentReplicas`. Works for any scale target kind.
    ScaledObject,
    /// A KEDA ScaledJob: its Jobs (label `scaledjob.keda.sh/name=<name>`), counting the active
    /// pods of the unfinished ones.
    ScaledJob,
}

impl WorkloadKind {
    /// The name Kubernetes (or KEDA) gives the kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::ScaledObject => "ScaledObject",
            Self::ScaledJob => "ScaledJob",
        }
    }
}

/// A scaled workload: kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Workload {
    /// What the replicas are read from.
    pub kind: WorkloadKind,
    /// Its namespace.
    pub namespace: String,
    /// Its name (for [`WorkloadKind::ScaledObject`] the ScaledObject's name, not the HPA's).
    pub name: String,
}

impl Workload {
    /// A workload of `kind` named `namespace/name`.
    pub fn new(kind: WorkloadKind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The workload read for a ScaledObject's scale target `target_kind` (as written in
    /// `scaleTargetRef.kind`): the Deployment or StatefulSet itself, and for any other kind the
    /// HPA KEDA made for the ScaledObject `scaled_object`.
    pub fn for_scale_target(
        namespace: &str,
        scaled_object: &str,
        target_kind: &str,
        target_name: &str,
    ) -> Self {
        match target_kind {
            "Deployment" => Self::new(WorkloadKind::Deployment, namespace, target_name),
            "StatefulSet" => Self::new(WorkloadKind::StatefulSet, namespace, target_name),
            _ => Self::new(WorkloadKind::ScaledObject, namespace, scaled_object),
        }
    }

    /// The name of the HPA KEDA creates for a ScaledObject (`keda-hpa-<name>`, KEDA's
    /// default when `advanced.horizontalPodAutoscalerConfig.name` is not set).
    pub fn keda_hpa_name(&self) -> String {
        format!("keda-hpa-{}", self.name)
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

/// Replica counts of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Replicas {
    /// Replicas asked for (`spec.replicas`, the HPA's `desiredReplicas`, or the unfinished Jobs
    /// of a ScaledJob).
    pub desired: u32,
    /// Replicas that exist and hold their resources (`status.replicas`, the HPA's
    /// `currentReplicas`, or the active pods of a ScaledJob's Jobs): what is billed.
    pub running: u32,
    /// Replicas that are ready, where the API says (not for an HPA).
    pub ready: Option<u32>,
}

/// A boxed future answering [`ReplicaSource::replicas`].
pub type ReplicaFuture<'a> = Pin<Box<dyn Future<Output = Result<Replicas>> + Send + 'a>>;

/// Reads the running replicas of workloads. Object-safe, so the server can hold an
/// `Arc<dyn ReplicaSource>`.
pub trait ReplicaSource: Send + Sync {
    /// The replicas of `workload` now.
    fn replicas<'a>(&'a self, workload: &'a Workload) -> ReplicaFuture<'a>;
}

/// A source answering what it was last told: for tests, and for a server without access to
/// the Kubernetes API (it records its own decisions).
#[derive(Debug, Default)]
pub struct StaticReplicas {
    known: Mutex<HashMap<Workload, Replicas>>,
}

impl StaticReplicas {
    /// An empty source: every workload is [`Error::NotFound`] until [`set`](Self::set).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what `workload` answers from now on.
    pub fn set(&self, workload: Workload, replicas: Replicas) {
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(workload, replicas);
    }

    fn get(&self, workload: &Workload) -> Result<Replicas> {
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(workload)
            .copied()
            .ok_or_else(|| Error::NotFound {
                workload: workload.to_string(),
            })
    }
}

impl ReplicaSource for StaticReplicas {
    fn replicas<'a>(&'a self, workload: &'a Workload) -> ReplicaFuture<'a> {
        let answer = self.get(workload);
        Box::pin(async move { answer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn workloads_for_scale_targets() {
        let w = Workload::for_scale_target("inference", "chat", "Deployment", "chat-server");
        assert_eq!(
            w,
            Workload::new(WorkloadKind::Deployment, "inference", "chat-server")
        );
        assert_eq!(w.to_string(), "Deployment inference/chat-server");
        let w = Workload::for_scale_target("db", "pg", "StatefulSet", "pg");
        assert_eq!(w.kind, WorkloadKind::StatefulSet);
        // Any other kind (an Argo Rollout, a custom resource with /scale) goes through the HPA.
        let w = Workload::for_scale_target("inference", "chat", "Rollout", "chat-rollout");
        assert_eq!(
            w,
            Workload::new(WorkloadKind::ScaledObject, "inference", "chat")
        );
        assert_eq!(w.keda_hpa_name(), "keda-hpa-chat");
        assert_eq!(w.to_string(), "ScaledObject inference/chat");
    }

    #[test]
    fn static_source_answers_what_it_was_told() {
        let source = StaticReplicas::new();
        let w = Workload::new(WorkloadKind::ScaledJob, "training", "finetune");
        let err = futures_block_on(source.replicas(&w)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ScaledJob training/finetune: not found in the Kubernetes API"
        );
        let r = Replicas {
            desired: 3,
            running: 2,
            ready: Some(1),
        };
        source.set(w.clone(), r);
        let shared: Arc<dyn ReplicaSource> = Arc::new(source);
        assert_eq!(futures_block_on(shared.replicas(&w)).unwrap(), r);
    }

    /// Polls a future that is ready at once (the static source never waits).
    fn futures_block_on<T>(mut f: Pin<Box<dyn Future<Output = T> + Send + '_>>) -> T {
        use std::task::{Context, Poll, Waker};
        let mut cx = Context::from_waker(Waker::noop());
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the static source answers at once"),
        }
    }
}
