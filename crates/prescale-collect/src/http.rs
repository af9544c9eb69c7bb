//! The HTTP side shared by the Prometheus, scrape and RabbitMQ sources: authentication, TLS
//! (rustls), timeouts, retries with exponential backoff, and the mapping of transport failures
//! and HTTP statuses onto [`CollectError`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Certificate, Client, Identity, Url};

use crate::error::{CollectError, SourceKind};
use crate::secret::{FileStamp, SecretFile};

/// Credentials sent with every request.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// HTTP basic authentication.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP basic authentication with the password in a file, read again when it changes.
    BasicFile {
        /// User name.
        user: String,
        /// The password file.
        password: SecretFile,
    },
    /// `Authorization: Bearer <token>` with the token in a file, read again when it changes
    /// (a rotated ServiceAccount token needs no restart).
    BearerFile(SecretFile),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { user, .. } => f
                .debug_struct("Basic")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Self::Bearer(_) => f.debug_tuple("Bearer").field(&"<redacted>").finish(),
            Self::BasicFile { user, password } => f
                .debug_struct("BasicFile")
                .field("user", user)
                .field("password", &password.path())
                .finish(),
            Self::BearerFile(token) => f.debug_tuple("BearerFile").field(&token.path()).finish(),
        }
    }
}

/// TLS settings for `https://` URLs (rustls; the system's roots are trusted unless a CA is given
/// and added to them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file with one or more extra CA certificates to trust.
    pub ca_cert: Option<PathBuf>,
    /// PEM file with the client certificate (chain) for mutual TLS; needs `client_key`.
    pub client_cert: Option<PathBuf>,
    /// PEM file with the client's private key (PKCS#8, RSA or SEC1); needs `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate and host name. For tests only.
    pub insecure_skip_verify: bool,
}

/// Transport settings of one HTTP source.
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) backoff: Duration,
    pub(crate) auth: Option<Auth>,
    pub(crate) tls: TlsOptions,
}

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How much of an error body goes into an error message.
const BODY_EXCERPT: usize = 300;
/// The largest response body read: 32 MiB. A longer one is refused (`bad_response`) before
/// it is held in memory, whatever the source claims in its headers.
pub const MAX_BODY_BYTES: usize = 32 << 20;

/// An HTTP client bound to one source kind, with retries. When its TLS files change (a
/// renewed client certificate or CA), the next request builds a new client from them; files
/// that cannot be used keep the last good client, with a warning.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    source: SourceKind,
    client: Arc<Mutex<Built>>,
    settings: HttpSettings,
}

/// A client and the stamps of the TLS files it was built from.
#[derive(Debug)]
struct Built {
    client: Client,
    stamps: Vec<Option<FileStamp>>,
}

impl TlsOptions {
    fn stamps(&self) -> Vec<Option<FileStamp>> {
        FileStamp::of_all([
            self.ca_cert.as_ref(),
            self.client_cert.as_ref(),
            self.client_key.as_ref(),
        ])
    }

    fn has_files(&self) -> bool {
        self.ca_cert.is_some() || self.client_cert.is_some() || self.client_key.is_some()
    }
}

/// A raw answer: status and body.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl HttpClient {
    /// Builds the client; reads the TLS files now so that a bad path fails at once.
    pub(crate) fn new(source: SourceKind, settings: HttpSettings) -> Result<Self, CollectError> {
        if settings.timeout.is_zero() {
            return Err(CollectError::config(
                format!("{source} timeout"),
                "must be > 0",
            ));
        }
        let stamps = settings.tls.stamps();
        let client = build_client(source, &settings)?;
        Ok(Self {
            source,
            client: Arc::new(Mutex::new(Built { client, stamps })),
            settings,
        })
    }

    /// The client to use now: rebuilt first when a TLS file changed since it was built.
    fn client(&self) -> Client {
        let mut built = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if self.settings.tls.has_files() {
            let stamps = self.settings.tls.stamps();
            if stamps != built.stamps {
                // Tried once per change: a broken file is not re-read on every request.
                built.stamps = stamps;
                match build_client(self.source, &self.settings) {
                    Ok(client) => {
                        tracing::info!(source = %self.source, "TLS files changed: reloaded.");
                        built.client = client;
                    }
                    Err(e) => tracing::warn!(
                        source = %self.source,
                        error = %e,
                        "TLS files changed but cannot be used: keeping the last good ones."
                    ),
                }
            }
        }
        built.client.clone()
    }
}

/// Installs ring as the process's rustls crypto provider unless one is installed already.
///
/// reqwest is built without a provider of its own (its default would link aws-lc-rs next to
/// ring, which kube, tonic and the server's TLS use): it takes the process default, and panics
/// when there is none. Idempotent and cheap; an already installed provider is kept.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // An error means another thread installed one first: that one is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A reqwest client from `settings` (reading its TLS files).
fn build_client(source: SourceKind, settings: &HttpSettings) -> Result<Client, CollectError> {
    install_crypto_provider();
    let mut builder = Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .user_agent(concat!("prescale/", env!("CARGO_PKG_VERSION")));
    let tls = &settings.tls;
    if let Some(path) = &tls.ca_cert {
        let pem = read(path, "tls.ca_cert")?;
        let certs = Certificate::from_pem_bundle(&pem)
            .map_err(|e| CollectError::config(place(path, "tls.ca_cert"), e.to_string()))?;
        if certs.is_empty() {
            return Err(CollectError::config(
                place(path, "tls.ca_cert"),
                "no PEM certificate in the file",
            ));
        }
        builder = builder.tls_certs_merge(certs);
    }
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let mut pem = read(cert, "tls.client_cert")?;
            pem.push(b'\n');
            pem.extend(read(key, "tls.client_key")?);
            let identity = Identity::from_pem(&pem)
                .map_err(|e| CollectError::config(place(cert, "tls.client_cert"), e.to_string()))?;
            builder = builder.identity(identity);
        }
        (None, None) => {}
        _ => {
            return Err(CollectError::config(
                "tls",
                "client_cert and client_key must be given together",
            ));
        }
    }
    if tls.insecure_skip_verify {
        builder = builder
            .tls_danger_accept_invalid_certs(true)
            .tls_danger_accept_invalid_hostnames(true);
    }
    builder
        .build()
        .map_err(|e| CollectError::config(format!("{source} http client"), chain(&e)))
}

impl HttpClient {
    /// GETs `url`, retrying transport failures and 5xx answers with exponential backoff, and
    /// returns the last answer whatever its status.
    pub(crate) async fn get_raw(&self, url: &Url) -> Result<RawResponse, CollectError> {
        let mut attempt = 0;
        loop {
            let result = self.attempt(url).await;
            let retry = match &result {
                Ok(resp) => resp.status >= 500,
                Err(e) => e.is_transient(),
            };
            if !retry || attempt >= self.settings.retries {
                return result;
            }
            let wait = self
                .settings
                .backoff
                .saturating_mul(2u32.saturating_pow(attempt))
                .min(MAX_BACKOFF);
            tracing::debug!(source = %self.source, url = %redact(url), attempt, ?wait, "Retrying.");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// GETs `url` (with retries) and maps any non-2xx status onto an error.
    pub(crate) async fn get(&self, url: &Url) -> Result<Vec<u8>, CollectError> {
        let resp = self.get_raw(url).await?;
        self.check_status(url, resp)
    }

    /// Maps a non-2xx status onto an error; returns the body of a 2xx answer.
    pub(crate) fn check_status(
        &self,
        url: &Url,
        resp: RawResponse,
    ) -> Result<Vec<u8>, CollectError> {
        let status = resp.status;
        if (200..300).contains(&status) {
            return Ok(resp.body);
        }
        let place = redact(url);
        let body = excerpt(&resp.body);
        Err(match status {
            401 | 403 => CollectError::Unauthorized {
                origin: self.source,
                place,
                reason: format!("HTTP {status}"),
            },
            404 => CollectError::NotFound {
                origin: self.source,
                place,
                reason: body,
            },
            500.. => CollectError::Http5xx {
                origin: self.source,
                place,
                status,
                body,
            },
            _ => CollectError::Http4xx {
                origin: self.source,
                place,
                status,
                body,
            },
        })
    }

    async fn attempt(&self, url: &Url) -> Result<RawResponse, CollectError> {
        let mut req = self.client().get(url.clone());
        match &self.settings.auth {
            Some(Auth::Basic { user, password }) => req = req.basic_auth(user, Some(password)),
            Some(Auth::Bearer(token)) => req = req.bearer_auth(token),
            Some(Auth::BasicFile { user, password }) => {
                req = req.basic_auth(user, Some(password.current()?));
            }
            Some(Auth::BearerFile(token)) => req = req.bearer_auth(token.current()?),
            None => {}
        }
        let mut resp = req.send().await.map_err(|e| self.transport(url, &e))?;
        let status = resp.status().as_u16();
        let too_long = || CollectError::BadResponse {
            origin: self.source,
            place: redact(url),
            reason: format!("response body over {MAX_BODY_BYTES} bytes, not read"),
        };
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(too_long());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(url, &e))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_long());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(RawResponse { status, body })
    }

    fn transport(&self, url: &Url, e: &reqwest::Error) -> CollectError {
        if e.is_timeout() {
            CollectError::Timeout {
                origin: self.source,
                place: redact(url),
                after: self.settings.timeout,
            }
        } else {
            // reqwest repeats the URL ("error sending request for url (...)"): the error names
            // it already.
            let text = chain(e);
            let reason = text
                .strip_prefix("error sending request for url (")
                .and_then(|rest| rest.split_once("): "))
                .map_or(text.as_str(), |(_, cause)| cause)
                .to_owned();
            CollectError::Unreachable {
                origin: self.source,
                place: redact(url),
                reason,
            }
        }
    }
}

/// Parses a base URL and checks that it is `http` or `https`.
pub(crate) fn parse_base_url(text: &str, what: &str) -> Result<Url, CollectError> {
    let mut url = Url::parse(text.trim())
        .map_err(|e| CollectError::config(format!("{what} `{text}`"), e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CollectError::config(
            format!("{what} `{text}`"),
            "the scheme must be http or https",
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Takes `user:password@` out of a URL, as [`Auth::Basic`].
pub(crate) fn take_userinfo(url: &mut Url) -> Option<Auth> {
    if url.username().is_empty() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(url.username());
    let password = url.password().map(decode).unwrap_or_default();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(Auth::Basic { user, password })
}

/// The URL without credentials, for messages.
pub(crate) fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// The error and its causes, joined on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cur = s.source();
    }
    text
}

/// The start of a body, on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(BODY_EXCERPT) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, CollectError> {
    std::fs::read(path).map_err(|e| CollectError::config(place(path, what), e.to_string()))
}

fn place(path: &Path, what: &str) -> String {
    format!("{what} {}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_get_a_trailing_slash_and_a_checked_scheme() {
        let url = parse_base_url("http://prom:9090/prefix", "prometheus url").expect("ok");
        assert_eq!(
            url.join("api/v1/query").expect("joins").path(),
            "/prefix/api/v1/query"
        );
        let err = parse_base_url("ftp://x", "prometheus url").expect_err("scheme");
        assert_eq!(err.kind(), "config");
        assert!(err.to_string().contains("ftp://x"), "{err}");
        assert!(parse_base_url("not a url", "prometheus url").is_err());
    }

    #[test]
    fn userinfo_becomes_basic_auth_and_is_redacted() {
        let mut url = Url::parse("http://guest:p%40ss@127.0.0.1:15672/").expect("url");
        assert_eq!(redact(&url), "http://guest:***@127.0.0.1:15672/");
        let auth = take_userinfo(&mut url).expect("userinfo");
        assert_eq!(
            auth,
            Auth::Basic {
                user: "guest".into(),
                password: "p@ss".into()
            }
        );
        assert_eq!(url.as_str(), "http://127.0.0.1:15672/");
        assert!(!format!("{auth:?}").contains("p@ss"));
    }

    #[test]
    fn tls_files_are_checked_when_the_client_is_built() {
        let settings = |tls| HttpSettings {
            timeout: Duration::from_secs(1),
            retries: 0,
            backoff: Duration::ZERO,
            auth: None,
            tls,
        };
        let missing = TlsOptions {
            ca_cert: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        let err = HttpClient::new(SourceKind::Prometheus, settings(missing)).expect_err("missing");
        assert_eq!(err.kind(), "config");
        assert!(
            err.to_string().contains("tls.ca_cert /nonexistent/ca.pem"),
            "{err}"
        );
        let half = TlsOptions {
            client_cert: Some("/x.pem".into()),
            ..TlsOptions::default()
        };
        let err = HttpClient::new(SourceKind::Prometheus, settings(half)).expect_err("half");
        assert!(err.to_string().contains("together"), "{err}");
        let insecure = TlsOptions {
            insecure_skip_verify: true,
            ..TlsOptions::default()
        };
        assert!(HttpClient::new(SourceKind::Prometheus, settings(insecure)).is_ok());
    }

    #[test]
    fn excerpts_are_one_line_and_bounded() {
        assert_eq!(excerpt(b"a\n  b\tc"), "a b c");
        let long = vec![b'x'; 1000];
        assert_eq!(excerpt(&long).len(), BODY_EXCERPT + 3);
    }
}
