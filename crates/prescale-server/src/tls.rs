//! TLS and mutual TLS of the gRPC listener (rustls), as KEDA's external scaler expects.
//!
//! KEDA connects with TLS when the trigger sets `enableTLS: "true"` or its
//! TriggerAuthentication gives `caCert` (the CA that signed this server's certificate) and,
//! for mutual TLS, `tlsClientCert`/`tlsClientKey` (a client certificate that this server's
//! `client_ca` signed). With `client_ca` set, clients without such a certificate are
//! refused during the handshake.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prescale_collect::FileStamp;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// PEM files of the gRPC listener's TLS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The server's certificate chain (PEM).
    pub cert_file: PathBuf,
    /// The server's private key (PEM: PKCS#8, RSA or SEC1).
    pub key_file: PathBuf,
    /// CA certificates (PEM) client certificates must chain to; set for mutual TLS.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// A TLS file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct TlsError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| TlsError {
        path: path.to_path_buf(),
        reason: format!("cannot read the {what}: {e}"),
    })?;
    if !String::from_utf8_lossy(&bytes).contains("-----BEGIN ") {
        return Err(TlsError {
            path: path.to_path_buf(),
            reason: format!("the {what} is not PEM (no `-----BEGIN` line)"),
        });
    }
    Ok(bytes)
}

fn certificates(
    path: &Path,
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("the {what} cannot be parsed: {e}")))?;
    if certs.is_empty() {
        return Err(bad(format!("no certificate in the {what}")));
    }
    Ok(certs)
}

impl TlsFiles {
    fn paths(&self) -> [Option<&PathBuf>; 3] {
        [
            Some(&self.cert_file),
            Some(&self.key_file),
            self.client_ca_file.as_ref(),
        ]
    }

    /// Reads the files into a rustls configuration speaking HTTP/2 (gRPC), with client
    /// certificates required and verified against `client_ca_file` when it is set.
    pub fn load(&self) -> Result<rustls::ServerConfig, TlsError> {
        // Every file is read before any is parsed: a missing one is named first.
        let cert_pem = read_pem(&self.cert_file, "server certificate")?;
        let key_pem = read_pem(&self.key_file, "server private key")?;
        let ca_pem = match &self.client_ca_file {
            Some(ca) => Some((ca, read_pem(ca, "client CA certificate")?)),
            None => None,
        };
        let certs = certificates(&self.cert_file, &cert_pem, "server certificate")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError {
            path: self.key_file.clone(),
            reason: format!("the server private key cannot be parsed: {e}"),
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError {
                path: self.cert_file.clone(),
                reason: e.to_string(),
            })?;
        let builder = match ca_pem {
            Some((ca, pem)) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certificates(ca, &pem, "client CA certificate")? {
                    roots.add(cert).map_err(|e| TlsError {
                        path: ca.clone(),
                        reason: format!("the client CA certificate is not usable: {e}"),
                    })?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| TlsError {
                        path: ca.clone(),
                        reason: e.to_string(),
                    })?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| TlsError {
            path: self.key_file.clone(),
            reason: format!("the key does not fit the certificate: {e}"),
        })?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

/// The listener's TLS, read again from its files when they change (a renewed certificate, a
/// rotated client CA): each new connection is checked against the files' stamps, and a change
/// that cannot be used keeps the last good configuration, with a warning. Connections already
/// open keep the certificate they were made with.
#[derive(Debug)]
pub struct ReloadingTls {
    files: TlsFiles,
    current: Mutex<(Vec<Option<FileStamp>>, Arc<rustls::ServerConfig>)>,
}

impl ReloadingTls {
    /// Loads the files now (errors name the file).
    pub fn new(files: TlsFiles) -> Result<Self, TlsError> {
        let stamps = FileStamp::of_all(files.paths());
        let config = Arc::new(files.load()?);
        Ok(Self {
            files,
            current: Mutex::new((stamps, config)),
        })
    }

    /// The configuration for a new connection.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        let stamps = FileStamp::of_all(self.files.paths());
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if stamps != current.0 {
            // Tried once per change, not on every connection.
            current.0 = stamps;
            match self.files.load() {
                Ok(config) => {
                    tracing::info!("TLS files changed: reloaded.");
                    current.1 = Arc::new(config);
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "TLS files changed but cannot be used: keeping the last good ones."
                ),
            }
        }
        current.1.clone()
    }
}

/// The longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most handshakes in progress at once; further connections wait to be accepted.
pub const MAX_HANDSHAKES: usize = 256;

/// Accepts TCP connections on `listener` and yields those whose TLS handshake (with the
/// configuration current at accept time) completes within [`HANDSHAKE_TIMEOUT`], at most
/// [`MAX_HANDSHAKES`] in progress at once, until `stopped` turns true.
pub fn incoming(
    listener: TcpListener,
    tls: Arc<ReloadingTls>,
    mut stopped: watch::Receiver<bool>,
) -> tokio_stream::wrappers::ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = stopped.wait_for(|s| *s) => return,
            };
            let (tcp, peer) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "gRPC accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Small answers go out at once (no Nagle delay behind KEDA's next call).
            let _ = tcp.set_nodelay(true);
            let acceptor = TlsAcceptor::from(tls.config());
            let sender = tx.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = sender.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed.");
                    }
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out."),
                }
            });
            if tx.is_closed() {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_and_non_pem_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("server.crt");
        std::fs::write(&junk, "not a certificate").unwrap();
        let files = TlsFiles {
            cert_file: junk.clone(),
            key_file: dir.path().join("missing.key"),
            client_ca_file: None,
        };
        let err = files.load().unwrap_err();
        assert_eq!(err.path, junk);
        assert!(err.to_string().contains("not PEM"), "{err}");
        std::fs::write(&junk, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let err = files.load().unwrap_err();
        assert!(err.to_string().contains("missing.key"), "{err}");
    }
}
