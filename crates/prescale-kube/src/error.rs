//! The crate's error type.

/// Why replicas could not be read, or a cost could not be tracked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The workload (or the HPA KEDA made for it) does not exist.
    #[error("{workload}: not found in the Kubernetes API")]
    NotFound {
        /// The workload, e.g. `Deployment inference/llama-chat`.
        workload: String,
    },
    /// The Kubernetes API call failed (connection, authorization, server error).
    #[error("{workload}: Kubernetes API request failed: {source}")]
    Api {
        /// The workload, e.g. `Deployment inference/llama-chat`.
        workload: String,
        /// What the client reported.
        #[source]
        source: Box<kube::Error>,
    },
    /// The API answered with a value prescale cannot use.
    #[error("{workload}: {field}: {reason}")]
    InvalidResponse {
        /// The workload, e.g. `Deployment inference/llama-chat`.
        workload: String,
        /// The field of the answer, e.g. `status.replicas`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A cost setting is out of range or names something unknown.
    #[error("cost of {service}: {field}: {reason}")]
    InvalidCost {
        /// The service, `namespace/name`.
        service: String,
        /// The setting, e.g. `cost.gpu_types.a100.price_per_hour`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A replica count was given for a service the tracker does not know.
    #[error("cost of {service}: service not registered with the cost tracker")]
    UnknownService {
        /// The service, `namespace/name`.
        service: String,
    },
}

impl Error {
    /// A short, stable name of the error kind, for an `errors_total{kind=...}` label.
    pub const fn metric_label(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Api { .. } => "api",
            Self::InvalidResponse { .. } => "invalid_response",
            Self::InvalidCost { .. } => "invalid_cost",
            Self::UnknownService { .. } => "unknown_service",
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_place() {
        let e = Error::InvalidResponse {
            workload: "Deployment inference/chat".into(),
            field: "status.replicas".into(),
            reason: "must be >= 0, got -1".into(),
        };
        assert_eq!(
            e.to_string(),
            "Deployment inference/chat: status.replicas: must be >= 0, got -1"
        );
        assert_eq!(e.metric_label(), "invalid_response");
        let e = Error::UnknownService {
            service: "a/b".into(),
        };
        assert_eq!(
            e.to_string(),
            "cost of a/b: service not registered with the cost tracker"
        );
        assert_eq!(e.metric_label(), "unknown_service");
    }
}
