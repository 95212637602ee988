//! The HTTP side: [`Client`] speaks the OCI distribution protocol to registries.
//!
//! This file is the client itself: its options ([`ClientBuilder`]), its connections (a plain
//! HTTP client, and a TLS one made on first use) and its URLs. Each part of the protocol is a
//! file of `impl Client` above it, lowest first:
//!
//! - `tokens`: what the client remembers of each registry's authentication (per host and
//!   scope); `response`: reading replies (status, bounded bodies, headers)
//! - `challenges`: answering `WWW-Authenticate` (basic, bearer tokens fetched and cached)
//! - `transport`: sending a request: authorization, retries with backoff, redirects to TLS
//! - the verbs: `login` (`/v2/` ping, credential check, [`login`]), `manifests` (and OCI 1.1
//!   referrers), `tags` (tags, catalog), `blobs` (downloads), `uploads` (monolithic, chunked,
//!   mounts)

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use oci_spec::distribution::Reference;
use reqwest::Url;

use crate::auth::Credentials;
use crate::reference::api_host;
use crate::{Error, Result};
use tokens::Tokens;

mod blobs;
mod challenges;
mod login;
mod manifests;
mod response;
mod tags;
mod tokens;
mod transport;
mod uploads;

pub use login::login;
pub use uploads::{BlobPushed, BytesProgress, UploadMode, DEFAULT_CHUNK_SIZE};

/// Builds a [`Client`].
#[derive(Clone)]
pub struct ClientBuilder {
    credentials: Option<Arc<dyn Credentials>>,
    insecure: HashSet<String>,
    retries: u32,
    backoff: Duration,
    user_agent: String,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("credentials", &self.credentials.is_some())
            .field("insecure", &self.insecure)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            credentials: None,
            insecure: HashSet::new(),
            retries: 4,
            backoff: Duration::from_millis(200),
            user_agent: concat!("boxwright/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

impl ClientBuilder {
    /// Where credentials come from (by default none: anonymous).
    pub fn credentials(mut self, credentials: Arc<dyn Credentials>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Speaks plain HTTP to `registry` (`host` or `host:port`). `localhost`, `127.0.0.1` and
    /// `[::1]` are always spoken to in plain HTTP, as Docker does.
    pub fn insecure_registry(mut self, registry: &str) -> Self {
        self.insecure.insert(registry.to_string());
        self
    }

    /// How many times a request that failed transiently (connection error, 5xx, 429) is
    /// retried; 4 by default.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The first wait before a retry; it doubles on each further retry (up to 10 s). A 429's
    /// `Retry-After` takes precedence. 200 ms by default.
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = user_agent.to_string();
        self
    }

    /// Makes the client.
    pub fn build(self) -> Result<Client> {
        // Plain HTTP (local registries) needs no root certificates, whose loading costs a
        // short command more than its requests: the TLS client is made on first use. A plain
        // registry that redirects to HTTPS (a blob on S3) is followed by the TLS client.
        let plain = http_builder(&self.user_agent)
            .tls_built_in_root_certs(false)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.url().scheme() == "https" {
                    attempt.stop()
                } else if attempt.previous().len() >= MAX_REDIRECTS {
                    attempt.error("too many redirects")
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|source| Error::Http {
                method: "-".into(),
                url: "-".into(),
                source,
            })?;
        Ok(Client {
            inner: Arc::new(Inner {
                plain,
                tls: std::sync::OnceLock::new(),
                user_agent: self.user_agent,
                credentials: self.credentials,
                insecure: self.insecure,
                retries: self.retries,
                backoff: self.backoff,
                tokens: Tokens::default(),
            }),
        })
    }
}

const MAX_REDIRECTS: usize = 10;

fn http_builder(user_agent: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .pool_idle_timeout(Duration::from_secs(60))
}

/// A client of OCI registries: cheap to clone (clones share connections and tokens).
///
/// One client talks to any number of registries; it learns each registry's authentication
/// scheme from its first `401` and caches bearer tokens per scope.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

struct Inner {
    plain: reqwest::Client,
    tls: std::sync::OnceLock<reqwest::Client>,
    user_agent: String,
    credentials: Option<Arc<dyn Credentials>>,
    insecure: HashSet<String>,
    retries: u32,
    backoff: Duration,
    tokens: Tokens,
}

impl Client {
    /// A client with the defaults: anonymous, 4 retries.
    pub fn new() -> Result<Client> {
        ClientBuilder::default().build()
    }

    /// A builder for a client with credentials, insecure registries, retry settings.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The HTTP client for `url`: the plain one for `http:`, else the TLS one (made on first
    /// use, with the system's root certificates).
    fn http(&self, url: &Url) -> Result<&reqwest::Client> {
        if url.scheme() == "http" {
            return Ok(&self.inner.plain);
        }
        if let Some(c) = self.inner.tls.get() {
            return Ok(c);
        }
        let c = http_builder(&self.inner.user_agent)
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .build()
            .map_err(|source| Error::Http {
                method: "-".into(),
                url: url.to_string(),
                source,
            })?;
        Ok(self.inner.tls.get_or_init(|| c))
    }

    fn is_plain_http(&self, host: &str) -> bool {
        let bare = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(rest),
            None => host.rsplit_once(':').map_or(host, |(h, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            }),
        };
        matches!(bare, "localhost" | "127.0.0.1" | "::1")
            || self.inner.insecure.contains(host)
            || self.inner.insecure.contains(bare)
    }

    fn url(&self, host: &str, path: &str) -> Result<Url> {
        let scheme = if self.is_plain_http(host) {
            "http"
        } else {
            "https"
        };
        let text = format!("{scheme}://{host}{path}");
        Url::parse(&text).map_err(|e| Error::Protocol {
            url: text.clone(),
            reason: format!("not a URL: {e}"),
        })
    }

    fn repo_url(&self, r: &Reference, rest: &str) -> Result<Url> {
        self.url(api_host(r), &format!("/v2/{}/{rest}", r.repository()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_for_loopback_and_insecure() {
        let c = Client::builder()
            .insecure_registry("reg.lan:5000")
            .build()
            .unwrap();
        assert!(c.is_plain_http("localhost:5000"));
        assert!(c.is_plain_http("127.0.0.1:41234"));
        assert!(c.is_plain_http("[::1]:5000"));
        assert!(c.is_plain_http("reg.lan:5000"));
        assert!(!c.is_plain_http("ghcr.io"));
        assert_eq!(c.url("ghcr.io", "/v2/").unwrap().scheme(), "https");
    }
}
