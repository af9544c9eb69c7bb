//! TLS and mutual TLS of the gRPC listener (rustls), as KEDA's external scaler expects.
//!
//! KEDA connects with TLS when the trigger sets `enableTLS: "true"` or its
//! TriggerAuthentication gives `caCert` (the CA that signed this server's certificate) and,
//! for mutual TLS, `tlsClientCert`/`tlsClientKey` (a client certificate that this server's
//! `client_ca` signed). With `client_ca` set, clients without such a certificate are
//! refused during the handshake.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

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

impl TlsFiles {
    /// Reads the files into tonic's TLS configuration (the handshake itself checks that the
    /// key matches the certificate).
    pub fn load(&self) -> Result<ServerTlsConfig, TlsError> {
        let cert = read_pem(&self.cert_file, "server certificate")?;
        let key = read_pem(&self.key_file, "server private key")?;
        let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        if let Some(ca) = &self.client_ca_file {
            let ca = read_pem(ca, "client CA certificate")?;
            tls = tls.client_ca_root(Certificate::from_pem(ca));
        }
        Ok(tls)
    }
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
