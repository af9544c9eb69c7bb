//! The whole server: gRPC (KEDA's external scaler, with reflection), HTTP, the runtime, the
//! store, cost tracking, and a graceful shutdown.
//!
//! [`Server::bind`] opens the store, binds both listeners and registers the ScaledObjects of
//! the config file and those saved in the store; [`Server::run`] serves until its shutdown
//! future completes, then ends the streams, stops the workers and drains the listeners.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prescale_collect::CollectorMetrics;
use prescale_kube::cost::CostConfig;
use prescale_kube::{KubeReplicaSource, ReplicaSource};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::grpc::ScalerService;
use crate::api::http::{CostReport, HttpState, router};
use crate::api::telemetry::Telemetry;
use crate::cost::CostLoop;
use crate::demand::prometheus::PrometheusSources;
use crate::demand::source::SourceFactory;
use crate::keda::metadata::Settings;
use crate::keda::proto::external_scaler_server::ExternalScalerServer;
use crate::registry::{ObjectKey, Registry};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::state::metrics::StoreMetrics;
use crate::state::persist::{PersistError, StateStore, load_registrations};
use crate::state::store::{EmbeddedStore, maintain};
use crate::tls::{ReloadingTls, TlsError, TlsFiles};

/// Default gRPC address.
pub const DEFAULT_GRPC_ADDR: &str = "0.0.0.0:6000";
/// Default HTTP address.
pub const DEFAULT_HTTP_ADDR: &str = "0.0.0.0:8080";
/// The store's file name in the data directory.
pub const STORE_FILE: &str = "prescale.redb";

/// Everything the server is started with.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// Directory of the embedded store; without one nothing survives a restart.
    pub data_dir: Option<PathBuf>,
    /// gRPC TLS.
    pub tls: Option<TlsFiles>,
    /// Schedules, shadow mode, time.
    pub runtime: RuntimeConfig,
    /// How long a call waits for a new ScaledObject's first decision.
    pub first_answer_wait: Duration,
    /// ScaledObjects registered at start.
    pub preregistered: Vec<(ObjectKey, HashMap<String, String>)>,
    /// Prometheus request timeout.
    pub prometheus_timeout: Duration,
    /// Prometheus retries after transient failures.
    pub prometheus_retries: u32,
    /// Credentials sent to the Prometheus servers of `prometheus_allowed` that no
    /// `prometheus_servers` entry matches (never to another address).
    pub prometheus_auth: Option<prescale_collect::Auth>,
    /// TLS options for HTTPS Prometheus servers.
    pub prometheus_tls: prescale_collect::TlsOptions,
    /// Credentials and TLS for particular Prometheus servers.
    pub prometheus_servers: Vec<crate::demand::prometheus::ServerAccess>,
    /// The Prometheus URL prefixes a ScaledObject's `serverAddress` may name (empty: any).
    pub prometheus_allowed: Vec<String>,
    /// The most ScaledObjects served (a new one beyond is `RESOURCE_EXHAUSTED`).
    pub max_scaled_objects: usize,
    /// A registration KEDA has not asked about for this long is dropped (a deleted
    /// ScaledObject); `None`: never. Those of the config (`scaled_objects`) never expire.
    pub registration_ttl: Option<Duration>,
    /// A file holding the bearer token `/api` requires (read at every call); `None`: open.
    pub api_token_file: Option<std::path::PathBuf>,
    /// Cost tracking.
    pub cost: Option<CostConfig>,
    /// Read running replicas from the Kubernetes API, for the cost loop (ignored without
    /// `cost`).
    pub kubernetes: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            grpc_addr: DEFAULT_GRPC_ADDR
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 6000))),
            http_addr: DEFAULT_HTTP_ADDR
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 8080))),
            data_dir: None,
            tls: None,
            runtime: RuntimeConfig::default(),
            first_answer_wait: Duration::from_secs(3),
            preregistered: Vec::new(),
            prometheus_timeout: Duration::from_secs(5),
            prometheus_retries: 1,
            prometheus_auth: None,
            prometheus_tls: prescale_collect::TlsOptions::default(),
            prometheus_servers: Vec::new(),
            prometheus_allowed: Vec::new(),
            max_scaled_objects: crate::registry::DEFAULT_MAX_SCALED_OBJECTS,
            registration_ttl: Some(DEFAULT_REGISTRATION_TTL),
            api_token_file: None,
            cost: None,
            kubernetes: false,
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// `gRPC` or `HTTP`.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// A TLS file is unusable.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The store could not be opened.
    #[error("{0}")]
    Store(#[from] PersistError),
    /// The data directory could not be created.
    #[error("data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// The Kubernetes client could not be configured.
    #[error("kubernetes: {0}")]
    Kubernetes(String),
    /// A listener failed while serving.
    #[error("{what} server: {reason}")]
    Serve {
        /// `gRPC` or `HTTP`.
        what: &'static str,
        /// The reason.
        reason: String,
    },
}

/// A bound, not yet serving server.
pub struct Server {
    grpc: TcpListener,
    http: TcpListener,
    tls: Option<Arc<ReloadingTls>>,
    registry: Arc<Registry>,
    telemetry: Arc<Telemetry>,
    store: Option<Arc<EmbeddedStore>>,
    cost: Option<Arc<CostLoop>>,
    runtime: Runtime,
    first_answer_wait: Duration,
    registration_ttl: Option<Duration>,
    api_token_file: Option<std::path::PathBuf>,
    shutdown: watch::Sender<bool>,
    ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("grpc", &self.grpc.local_addr().ok())
            .field("http", &self.http.local_addr().ok())
            .finish_non_exhaustive()
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { what, addr, source })
}

impl Server {
    /// Opens the store, binds both listeners and registers the configured and saved
    /// ScaledObjects. Demand is read from Prometheus unless `sources` is given.
    pub async fn bind(
        options: ServerOptions,
        sources: Option<Arc<dyn SourceFactory>>,
    ) -> Result<Self, ServerError> {
        // ring is the only rustls crypto provider linked in; make it the process default (the
        // HTTP client has none of its own). An error means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = options
            .tls
            .clone()
            .map(ReloadingTls::new)
            .transpose()?
            .map(Arc::new);
        let store_metrics = StoreMetrics::new();
        let store = match &options.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| ServerError::DataDir {
                    path: dir.clone(),
                    source,
                })?;
                let path = dir.join(STORE_FILE);
                let metrics = store_metrics.clone();
                Some(Arc::new(
                    tokio::task::spawn_blocking(move || EmbeddedStore::open(&path, metrics))
                        .await
                        .map_err(|e| PersistError(e.to_string()))??,
                ))
            }
            None => None,
        };
        let mut telemetry = Telemetry::new();
        if store.is_some() {
            store_metrics.register(telemetry.registry_mut());
        }
        let collector = CollectorMetrics::new();
        collector.register(telemetry.registry_mut());
        let sources = sources.unwrap_or_else(|| {
            let mut p = PrometheusSources::new(collector);
            p.timeout = options.prometheus_timeout;
            p.retries = options.prometheus_retries;
            p.auth.clone_from(&options.prometheus_auth);
            p.tls = options.prometheus_tls.clone();
            p.servers.clone_from(&options.prometheus_servers);
            p.allowed.clone_from(&options.prometheus_allowed);
            Arc::new(p)
        });
        // Running replicas feed the cost loop only: without `cost` the API is not called (and
        // a server without a kubeconfig or service account token still starts).
        let replicas: Option<Arc<dyn ReplicaSource>> =
            if options.kubernetes && options.cost.is_none() {
                tracing::warn!(
                    "kubernetes is on but cost is not configured: running replicas are read only \
                 for cost tracking, so the Kubernetes API will not be called."
                );
                None
            } else if options.kubernetes {
                let k = KubeReplicaSource::try_default()
                    .await
                    .map_err(|e| ServerError::Kubernetes(e.to_string()))?;
                Some(Arc::new(k))
            } else {
                None
            };
        let time = options.runtime.time;
        let signals = Arc::new(crate::cost::Signals::default());
        let cost = options.cost.clone().map(|c| {
            Arc::new(CostLoop::new(
                c,
                replicas,
                time,
                signals.clone(),
                telemetry.registry_mut(),
            ))
        });
        let telemetry = Arc::new(telemetry);
        let state: Option<Arc<dyn StateStore>> = store.clone().map(|s| s as Arc<dyn StateStore>);
        let runtime = Runtime::with_signals(
            options.runtime.clone(),
            sources,
            telemetry.clone(),
            state,
            signals,
        );
        let registry = Arc::new(
            Registry::new(Arc::new(runtime.clone()))
                .with_allowed(options.prometheus_allowed.clone())
                .with_limit(options.max_scaled_objects),
        );
        let grpc = bind("gRPC", options.grpc_addr).await?;
        let http = bind("HTTP", options.http_addr).await?;
        let declared: Vec<ObjectKey> = options
            .preregistered
            .iter()
            .map(|(k, _)| k.clone())
            .collect();
        let mut known = options.preregistered.clone();
        if let Some(s) = &store {
            let s = s.clone();
            let saved = tokio::task::spawn_blocking(move || load_registrations(s.as_ref()))
                .await
                .map_err(|e| PersistError(e.to_string()))??;
            for (key, md) in saved {
                if !known.iter().any(|(k, _)| *k == key) {
                    known.push((key, md));
                }
            }
        }
        for (key, md) in known {
            if let Err(e) = crate::registry::check_names(&key.namespace, &key.name) {
                tracing::warn!(scaled_object = %key, error = %e, "Skipping a saved registration.");
                continue;
            }
            if registry.len() >= options.max_scaled_objects {
                tracing::warn!(scaled_object = %key, limit = options.max_scaled_objects, "Skipping a saved registration: at the limit.");
                continue;
            }
            match Settings::from_metadata(&md).and_then(|s| registry.check_allowed(&s).map(|()| s))
            {
                Ok(settings) => {
                    registry.register(key, settings, md);
                }
                Err(e) => {
                    tracing::warn!(scaled_object = %key, error = %e, "Skipping a saved registration.")
                }
            }
        }
        for key in &declared {
            registry.pin(key);
        }
        telemetry.set_scaled_objects(registry.len());
        Ok(Self {
            grpc,
            http,
            tls,
            registry,
            telemetry,
            store,
            cost,
            runtime,
            first_answer_wait: options.first_answer_wait,
            registration_ttl: options.registration_ttl,
            api_token_file: options.api_token_file.clone(),
            shutdown: watch::channel(false).0,
            ready: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.local_addr().ok()
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.local_addr().ok()
    }

    /// The registry.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// Serves until `shutdown` completes, then shuts down gracefully.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("Shutting down.");
            stop.send_replace(true);
        });
        let stopped = self.shutdown.subscribe();
        let wait = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let cost: Option<Arc<dyn CostReport>> = self.cost.clone().map(|c| c as Arc<dyn CostReport>);
        let app = router(HttpState {
            registry: self.registry.clone(),
            telemetry: self.telemetry.clone(),
            ready: self.ready.clone(),
            cost,
            api_token_file: self.api_token_file.clone(),
        });
        let http = tokio::spawn(
            axum::serve(self.http, app)
                .with_graceful_shutdown(wait(stopped.clone()))
                .into_future(),
        );
        let time = self.runtime.config().time;
        let mut background = Vec::new();
        if let Some(c) = &self.cost {
            let task = c.clone().run(self.registry.clone(), time, stopped.clone());
            background.push(tokio::spawn(task));
        }
        if let Some(store) = self.store.clone() {
            background.push(tokio::spawn(maintain(store, time, stopped.clone())));
        }
        if let Some(ttl) = self.registration_ttl {
            background.push(tokio::spawn(expire(
                self.registry.clone(),
                self.telemetry.clone(),
                ttl,
                stopped.clone(),
            )));
        }
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::keda::proto::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| ServerError::Serve {
                what: "gRPC",
                reason: e.to_string(),
            })?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::keda::proto::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| ServerError::Serve {
                what: "gRPC",
                reason: e.to_string(),
            })?;
        let mut svc = ScalerService::new(
            self.registry.clone(),
            self.telemetry.clone(),
            stopped.clone(),
        );
        svc.first_answer_wait = self.first_answer_wait;
        let decide_every = self.runtime.config().decision_interval;
        svc.max_answer_age = Some(time.real_duration(decide_every * STALE_DECISIONS));
        let router = tonic::transport::Server::builder()
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(ExternalScalerServer::new(svc));
        let grpc = match self.tls {
            Some(tls) => Box::pin(router.serve_with_incoming_shutdown(
                crate::tls::incoming(self.grpc, tls, stopped.clone()),
                wait(stopped.clone()),
            ))
                as std::pin::Pin<
                    Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>,
                >,
            None => Box::pin(
                router.serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(self.grpc)
                        // Small answers go out at once (no Nagle delay behind KEDA's next call).
                        .with_nodelay(Some(true)),
                    wait(stopped.clone()),
                ),
            ),
        };
        self.ready.store(true, Ordering::Release);
        tracing::info!(scaled_objects = self.registry.len(), "Serving.");
        let grpc = grpc.await.map_err(|e| ServerError::Serve {
            what: "gRPC",
            reason: e.to_string(),
        });
        self.registry.stop_all();
        if !self.runtime.join(Duration::from_secs(10)).await {
            tracing::warn!("Some workers did not stop within 10 s.");
        }
        for task in background {
            let _ = task.await;
        }
        self.runtime.close_store();
        // Saves still running on the blocking pool hold the store; wait for them, so that the
        // file is closed when `run` returns.
        if let Some(store) = &self.store {
            for _ in 0..500 {
                if Arc::strong_count(store) == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let http = match http.await {
            Ok(r) => r.map_err(|e| ServerError::Serve {
                what: "HTTP",
                reason: e.to_string(),
            }),
            Err(e) => Err(ServerError::Serve {
                what: "HTTP",
                reason: e.to_string(),
            }),
        };
        grpc.and(http)
    }
}

/// A decision older than this many decision intervals is not answered (`UNAVAILABLE`).
pub const STALE_DECISIONS: u32 = 4;

/// The default of `runtime.registration_ttl`: an hour without a call from KEDA.
pub const DEFAULT_REGISTRATION_TTL: Duration = Duration::from_secs(3_600);

/// Drops the registrations KEDA stopped asking about for longer than `ttl`, checking every
/// `ttl / 4` (at most a minute apart).
async fn expire(
    registry: Arc<Registry>,
    telemetry: Arc<Telemetry>,
    ttl: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let every = (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stopped.wait_for(|s| *s) => break,
        }
        let gone = registry.expire(ttl);
        for key in &gone {
            tracing::info!(scaled_object = %key, ttl_secs = ttl.as_secs(), "Registration expired: KEDA stopped asking about it.");
        }
        if !gone.is_empty() {
            telemetry.registrations_expired(gone.len());
            telemetry.set_scaled_objects(registry.len());
        }
    }
}
