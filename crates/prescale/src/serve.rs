//! `prescale serve`: the KEDA external scaler (gRPC), its HTTP API and `/metrics`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use prescale_server::config::ServerConfig;
use prescale_server::server::{DEFAULT_GRPC_ADDR, DEFAULT_HTTP_ADDR, Server, ServerOptions};
use prescale_server::tls::TlsFiles;

/// Examples shown after `--help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  # Serve KEDA on :6000 and the HTTP API on :8080, keeping state in ./state.
  prescale serve --grpc-addr 0.0.0.0:6000 --http-addr 0.0.0.0:8080 --data-dir ./state

  # With a config file (schedules, TLS, cost, pre-registered ScaledObjects), in shadow mode.
  prescale serve --config serve.yaml --dry-run

  # Mutual TLS for KEDA's TriggerAuthentication (caCert, tlsClientCert, tlsClientKey).
  prescale serve --tls-cert tls.crt --tls-key tls.key --tls-client-ca ca.crt

A ScaledObject uses it with a trigger of type `external` (or `external-push`) whose metadata has
scalerAddress: prescale.<namespace>.svc:6000, serverAddress (Prometheus), query and threshold.
Flags override environment variables, which override the config file.";

/// Arguments of `prescale serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// gRPC listen address for KEDA [default: 0.0.0.0:6000].
    #[arg(long, env = "PRESCALE_GRPC_ADDR", value_name = "HOST:PORT")]
    grpc_addr: Option<SocketAddr>,

    /// HTTP listen address (/metrics, /healthz, /readyz, /api/v1/...) [default: 0.0.0.0:8080].
    #[arg(long, env = "PRESCALE_HTTP_ADDR", value_name = "HOST:PORT")]
    http_addr: Option<SocketAddr>,

    /// Directory of the embedded store (history, registrations, last decisions), kept across
    /// restarts. Without one, nothing survives a restart.
    #[arg(long, env = "PRESCALE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// YAML config file (unknown fields are errors); see docs/server.md.
    #[arg(long, env = "PRESCALE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Shadow mode for every ScaledObject: compute and report forecasts and decisions, but
    /// tell KEDA reactive values only.
    #[arg(long, env = "PRESCALE_DRY_RUN")]
    dry_run: bool,

    /// Server certificate (PEM) for gRPC TLS.
    #[arg(
        long,
        env = "PRESCALE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,

    /// Server private key (PEM) for gRPC TLS.
    #[arg(
        long,
        env = "PRESCALE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,

    /// CA (PEM) that client certificates must chain to: turns on mutual TLS.
    #[arg(
        long,
        env = "PRESCALE_TLS_CLIENT_CA",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_client_ca: Option<PathBuf>,

    /// Read running replicas from the Kubernetes API (in-cluster service account or
    /// kubeconfig) for cost tracking; without `cost` in the config nothing reads them and the
    /// API is not called.
    #[arg(long, env = "PRESCALE_KUBERNETES")]
    kubernetes: bool,

    /// Check the configuration (config file, flags, environment, and the credential files
    /// they name) as `serve` reads it, then exit: 0 when it would start, otherwise the
    /// problem. Binds nothing, opens no store, calls no API.
    #[arg(long)]
    check_config: bool,
}

/// The options from flags, environment and the config file.
fn options(args: &Args) -> Result<ServerOptions> {
    let (config, label) = match &args.config {
        Some(path) => {
            let label = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{label}: cannot read the config file"))?;
            (ServerConfig::parse(&text, &label)?, label)
        }
        None => (ServerConfig::default(), "(no config file)".to_string()),
    };
    let dry_run = args.dry_run || config.dry_run.unwrap_or(false);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert_file: cert.clone(),
            key_file: key.clone(),
            client_ca_file: args.tls_client_ca.clone(),
        }),
        _ => config.tls.clone(),
    };
    let parse = |s: &str| s.parse::<SocketAddr>().context("default address");
    let defaults = ServerOptions::default();
    let prometheus = prometheus_access("prometheus", &config.prometheus.defaults())?;
    let allowed = prometheus_allowed(&config.prometheus.allowed)?;
    let client_cert = prometheus.tls.client_cert.is_some();
    if allowed.is_empty() && (prometheus.auth.is_some() || client_cert) {
        anyhow::bail!(
            "prometheus: credentials (bearer_token_file, basic_auth, client_cert) need \
             prometheus.allowed, the Prometheus URLs they may go to (a ScaledObject names its \
             serverAddress, and credentials never go to an address the server was not told \
             about); or move them to a prometheus.servers entry with that server's url"
        );
    }
    Ok(ServerOptions {
        grpc_addr: args
            .grpc_addr
            .or(config.grpc_addr)
            .map_or_else(|| parse(DEFAULT_GRPC_ADDR), Ok)?,
        http_addr: args
            .http_addr
            .or(config.http_addr)
            .map_or_else(|| parse(DEFAULT_HTTP_ADDR), Ok)?,
        data_dir: args.data_dir.clone().or(config.data_dir.clone()),
        tls,
        runtime: config.runtime(&label, dry_run)?,
        first_answer_wait: config
            .runtime
            .first_answer_wait
            .map_or(defaults.first_answer_wait, |d| d.0),
        preregistered: config.preregistered(&label)?,
        prometheus_timeout: config
            .prometheus
            .timeout
            .map_or(Duration::from_secs(5), |d| d.0),
        prometheus_retries: config.prometheus.retries.unwrap_or(1),
        prometheus_auth: prometheus.auth,
        prometheus_tls: prometheus.tls,
        prometheus_servers: prometheus_servers(&config.prometheus.servers)?,
        prometheus_allowed: allowed,
        max_scaled_objects: config
            .runtime
            .max_scaled_objects
            .unwrap_or(defaults.max_scaled_objects),
        api_token_file: config.api_token_file.clone(),
        registration_ttl: match config.runtime.registration_ttl {
            Some(d) if d.0.is_zero() => None,
            Some(d) => Some(d.0),
            None => defaults.registration_ttl,
        },
        cost: config.cost.clone(),
        kubernetes: args.kubernetes || config.kubernetes.unwrap_or(false),
    })
}

/// Credentials from a bearer token file or basic auth with a password file, read now (and
/// again whenever the file changes: rotation needs no restart); errors name `place` (e.g.
/// `prometheus.servers[1]`) and the key.
fn prometheus_auth(
    place: &str,
    bearer_token_file: Option<&std::path::Path>,
    basic_auth: Option<&prescale_server::config::BasicAuthFiles>,
) -> Result<Option<prescale_collect::Auth>> {
    use prescale_collect::{Auth, SecretFile};
    match (bearer_token_file, basic_auth) {
        (Some(_), Some(_)) => {
            anyhow::bail!("{place}: give either bearer_token_file or basic_auth, not both")
        }
        (Some(path), None) => Ok(Some(Auth::BearerFile(
            SecretFile::load(path, "bearer_token_file")
                .map_err(|e| anyhow::anyhow!("{place}.{e}"))?,
        ))),
        (None, Some(b)) => Ok(Some(Auth::BasicFile {
            user: b.username.clone(),
            password: SecretFile::load(&b.password_file, "basic_auth.password_file")
                .map_err(|e| anyhow::anyhow!("{place}.{e}"))?,
        })),
        (None, None) => Ok(None),
    }
}

/// Credentials (files read now) and TLS options of one set of Prometheus settings; errors
/// name `place`.
fn prometheus_access(
    place: &str,
    s: &prescale_server::config::PrometheusServer,
) -> Result<prescale_server::demand::prometheus::ServerAccess> {
    Ok(prescale_server::demand::prometheus::ServerAccess {
        url: s.url.clone(),
        auth: prometheus_auth(place, s.bearer_token_file.as_deref(), s.basic_auth.as_ref())?,
        tls: prescale_collect::TlsOptions {
            ca_cert: s.ca_cert.clone(),
            client_cert: s.client_cert.clone(),
            client_key: s.client_key.clone(),
            insecure_skip_verify: s.insecure_skip_verify.unwrap_or(false),
        },
    })
}

/// `prometheus.allowed`, each an http(s) URL.
fn prometheus_allowed(allowed: &[String]) -> Result<Vec<String>> {
    for (i, url) in allowed.iter().enumerate() {
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "prometheus.allowed[{i}]: `{url}` is not an http(s) URL"
        );
    }
    Ok(allowed.to_vec())
}

/// The config's per-server Prometheus settings, credentials read now.
fn prometheus_servers(
    servers: &[prescale_server::config::PrometheusServer],
) -> Result<Vec<prescale_server::demand::prometheus::ServerAccess>> {
    servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let place = format!("prometheus.servers[{i}]");
            anyhow::ensure!(
                s.url.starts_with("http://") || s.url.starts_with("https://"),
                "{place}.url: `{}` is not an http(s) URL",
                s.url
            );
            prometheus_access(&place, s)
        })
        .collect()
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `prescale serve`.
pub(crate) fn run(args: Args) -> Result<()> {
    let options = options(&args)?;
    if args.check_config {
        if options.kubernetes && options.cost.is_none() {
            tracing::warn!(
                "kubernetes is on but cost is not configured: running replicas are read only for \
                 cost tracking, so the Kubernetes API will not be called."
            );
        }
        println!(
            "prescale serve: configuration OK ({})",
            args.config
                .as_ref()
                .map_or_else(|| "no config file".to_string(), |p| p.display().to_string())
        );
        return Ok(());
    }
    if options.data_dir.is_none() {
        tracing::warn!("No --data-dir: history and decisions will not survive a restart.");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("prescale")
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let server = Server::bind(options, None).await?;
        eprintln!(
            "prescale serve: gRPC on {}, HTTP on {}",
            server
                .grpc_addr()
                .map_or_else(|| "?".into(), |a| a.to_string()),
            server
                .http_addr()
                .map_or_else(|| "?".into(), |a| a.to_string())
        );
        server.run(terminated()).await?;
        Ok(())
    })
}
