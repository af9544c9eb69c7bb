//! A throw-away certificate authority for TLS tests: a CA, a server certificate for
//! `localhost` and `127.0.0.1`, and a client certificate, as PEM files in a temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::TestkitError;

/// The files: `ca.crt`, `server.crt`, `server.key`, `client.crt`, `client.key`; removed when
/// dropped.
pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    /// Generates the CA and both certificates (fresh keys every time).
    pub fn new() -> Result<Self, TestkitError> {
        let fail = |e: &dyn std::fmt::Display| TestkitError::Start {
            what: "test PKI".into(),
            reason: e.to_string(),
        };
        let dir = tempfile::Builder::new()
            .prefix("prescale-pki-")
            .tempdir()
            .map_err(|e| fail(&e))?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| fail(&e))?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().map_err(|e| fail(&e))?;
        let ca = CertifiedIssuer::self_signed(ca, key).map_err(|e| fail(&e))?;
        let write = |name: &str, text: String| {
            std::fs::write(dir.path().join(name), text).map_err(|e| fail(&e))
        };
        write("ca.crt", ca.pem())?;
        for (name, sans) in [
            (
                "server",
                vec!["localhost".to_string(), "127.0.0.1".to_string()],
            ),
            ("client", vec!["keda".to_string()]),
        ] {
            let key = KeyPair::generate().map_err(|e| fail(&e))?;
            let cert = CertificateParams::new(sans)
                .and_then(|p| p.signed_by(&key, &ca))
                .map_err(|e| fail(&e))?;
            write(&format!("{name}.crt"), cert.pem())?;
            write(&format!("{name}.key"), key.serialize_pem())?;
        }
        Ok(Self { dir })
    }

    /// The directory holding the files.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The path of one file, e.g. `ca.crt`.
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The text of one file (empty when it is missing).
    #[must_use]
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_ca_and_two_certificates() {
        let pki = TestPki::new().unwrap();
        for name in ["ca.crt", "server.crt", "client.crt"] {
            assert!(
                pki.read(name).starts_with("-----BEGIN CERTIFICATE-----"),
                "{name}"
            );
        }
        for name in ["server.key", "client.key"] {
            assert!(pki.read(name).contains("PRIVATE KEY-----"), "{name}");
        }
    }
}
