//! The HTTP side: [`Client`] speaks the OCI distribution protocol to registries.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use oci_spec::distribution::Reference;
use oci_spec::image::{Descriptor, Digest, MediaType};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::auth::{Challenge, Credential, Credentials};
use crate::blob::{verify_bytes, BlobSink, BlobSource, Verifier};
use crate::manifest::{Manifest, MANIFEST_ACCEPT, MAX_MANIFEST_SIZE};
use crate::reference::{api_host, manifest_ref};
use crate::{Error, Result};

/// How blobs are uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UploadMode {
    /// One `PUT` with the whole blob streamed as its body (after the `POST` that opens the
    /// upload). The fastest, and what every registry accepts.
    #[default]
    Monolithic,
    /// `PATCH` requests of at most `chunk_size` bytes each, then a `PUT` that closes the
    /// upload. For registries that limit a request's size. A registry that refuses chunks gets
    /// a monolithic upload instead.
    Chunked {
        /// The largest chunk, in bytes.
        chunk_size: u64,
    },
}

impl UploadMode {
    /// Chunked with the default chunk size, 8 MiB.
    pub const fn chunked() -> Self {
        UploadMode::Chunked {
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// A callback told how many bytes of a blob have moved so far; an upload calls it with 0
/// when its session opens.
pub type BytesProgress = Arc<dyn Fn(u64) + Send + Sync>;

/// The default chunk size of [`UploadMode::chunked`]: 8 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 8 << 20;

/// What [`Client::push_blob`] did with a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobPushed {
    /// The registry already had it in the repository.
    Existed,
    /// Mounted from another repository of the same registry, without sending its bytes.
    Mounted,
    /// Uploaded.
    Uploaded,
}

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
                auth: Mutex::new(HashMap::new()),
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
    auth: Mutex<HashMap<String, HostAuth>>,
}

#[derive(Default)]
struct HostAuth {
    challenge: Option<Challenge>,
    tokens: HashMap<String, (String, Instant)>,
}

/// The access a request needs, as token scopes (`repository:NAME:pull,push`).
#[derive(Debug, Clone)]
struct Scope(Vec<String>);

impl Scope {
    fn pull(repo: &str) -> Self {
        Scope(vec![format!("repository:{repo}:pull")])
    }
    fn push(repo: &str) -> Self {
        Scope(vec![format!("repository:{repo}:pull,push")])
    }
    fn none() -> Self {
        Scope(Vec::new())
    }
    fn key(&self) -> String {
        self.0.join(" ")
    }
}

/// What a request needs to be sent again: a fresh builder each attempt (bodies are rebuilt).
type Make<'a> = dyn FnMut(RequestBuilder) -> futures_util::future::BoxFuture<'a, Result<RequestBuilder>>
    + Send
    + 'a;

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

    /// Follows redirects from plain HTTP to HTTPS, which the plain client stops at.
    async fn follow_to_tls(
        &self,
        mut resp: Response,
        method: &Method,
        make: &mut Make<'_>,
    ) -> Result<Response> {
        for _ in 0..MAX_REDIRECTS {
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            let Some(next) = header_str(resp.headers(), header::LOCATION)
                .and_then(|l| resp.url().join(&l).ok())
                .filter(|u| u.scheme() == "https")
            else {
                return Ok(resp);
            };
            let builder = make(self.http(&next)?.request(method.clone(), next.clone())).await?;
            resp = builder.send().await.map_err(|source| Error::Http {
                method: method.to_string(),
                url: next.to_string(),
                source,
            })?;
        }
        Ok(resp)
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

    /// Checks that `registry` speaks the distribution protocol (`GET /v2/`), authenticating
    /// if it asks to.
    pub async fn ping(&self, registry: &str) -> Result<()> {
        let host = match registry {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        };
        let url = self.url(host, "/v2/")?;
        let resp = self
            .send(
                host,
                registry,
                &Scope::none(),
                Method::GET,
                url.clone(),
                &mut |b| Box::pin(async move { Ok(b) }),
            )
            .await?;
        expect(resp, Method::GET, &[StatusCode::OK]).await.map(drop)
    }

    /// Checks `credential` against `registry` as `docker login` does: `GET /v2/`, and on the
    /// registry's challenge either the same with basic auth, or a bearer token fetched with
    /// the credential (then `GET /v2/` with it). `Ok` if the registry accepts the credential
    /// (or needs none); [`Error::Unauthorized`] if it refuses it.
    pub async fn check_credential(&self, registry: &str, credential: &Credential) -> Result<()> {
        let host = match registry {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        };
        let url = self.url(host, "/v2/")?;
        let http_err = |url: &Url| {
            let url = url.to_string();
            move |source| Error::Http {
                method: "GET".into(),
                url,
                source,
            }
        };
        let resp = self
            .http(&url)?
            .get(url.clone())
            .send()
            .await
            .map_err(http_err(&url))?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return expect(resp, Method::GET, &[StatusCode::OK]).await.map(drop);
        }
        let challenge = header_str(resp.headers(), header::WWW_AUTHENTICATE)
            .and_then(|h| Challenge::parse(&h))
            .ok_or_else(|| Error::Auth {
                registry: registry.to_string(),
                reason: "401 without a WWW-Authenticate challenge".into(),
            })?;
        let req = self.http(&url)?.get(url.clone());
        let req = match challenge.scheme.as_str() {
            "basic" => req.basic_auth(&credential.username, Some(&credential.password)),
            "bearer" => {
                let (token, _) = self
                    .fetch_token_with(registry, &Scope::none(), &challenge, Some(credential))
                    .await?;
                req.bearer_auth(token)
            }
            other => {
                return Err(Error::Auth {
                    registry: registry.to_string(),
                    reason: format!("unknown authentication scheme {other:?}"),
                })
            }
        };
        let resp = req.send().await.map_err(http_err(&url))?;
        expect(resp, Method::GET, &[StatusCode::OK]).await.map(drop)
    }

    /// Sends a request, authenticating and retrying as needed, and returns the response
    /// whatever its final status.
    async fn send(
        &self,
        host: &str,
        registry: &str,
        scope: &Scope,
        method: Method,
        url: Url,
        make: &mut Make<'_>,
    ) -> Result<Response> {
        let mut attempt = 0u32;
        let mut reauthed = false;
        loop {
            let builder = self.http(&url)?.request(method.clone(), url.clone());
            let builder = make(builder).await?;
            let builder = self.authorize(host, registry, scope, builder).await?;
            let sent = match builder.send().await {
                Ok(resp) if url.scheme() == "http" && resp.status().is_redirection() => {
                    self.follow_to_tls(resp, &method, make).await
                }
                Ok(resp) => Ok(resp),
                Err(source) => Err(Error::Http {
                    method: method.to_string(),
                    url: url.to_string(),
                    source,
                }),
            };
            let wait = match sent {
                Err(err) => {
                    if !err.is_retryable() || attempt >= self.inner.retries {
                        return Err(err);
                    }
                    tracing::debug!(%url, %err, attempt, "retrying");
                    self.backoff(attempt)
                }
                Ok(resp) => {
                    let status = resp.status();
                    if status == StatusCode::UNAUTHORIZED && !reauthed {
                        if let Some(ch) = resp
                            .headers()
                            .get(header::WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .and_then(Challenge::parse)
                        {
                            reauthed = true;
                            self.learn_challenge(host, scope, ch);
                            continue;
                        }
                    }
                    let transient = status == StatusCode::TOO_MANY_REQUESTS
                        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED);
                    if !transient || attempt >= self.inner.retries {
                        return Ok(resp);
                    }
                    let after = resp
                        .headers()
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(60)));
                    tracing::debug!(%url, %status, attempt, "retrying");
                    after.unwrap_or_else(|| self.backoff(attempt))
                }
            };
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(6);
        (self.inner.backoff * factor).min(Duration::from_secs(10))
    }

    fn learn_challenge(&self, host: &str, scope: &Scope, ch: Challenge) {
        let Ok(mut auth) = self.inner.auth.lock() else {
            return;
        };
        let entry = auth.entry(host.to_string()).or_default();
        entry.tokens.remove(&scope.key());
        entry.challenge = Some(ch);
    }

    async fn authorize(
        &self,
        host: &str,
        registry: &str,
        scope: &Scope,
        builder: RequestBuilder,
    ) -> Result<RequestBuilder> {
        let (challenge, cached) = {
            let auth = self.inner.auth.lock().map_err(|_| Error::Auth {
                registry: registry.to_string(),
                reason: "token cache poisoned".into(),
            })?;
            match auth.get(host) {
                None => (None, None),
                Some(h) => (
                    h.challenge.clone(),
                    h.tokens
                        .get(&scope.key())
                        .filter(|(_, until)| *until > Instant::now())
                        .map(|(t, _)| t.clone()),
                ),
            }
        };
        let Some(challenge) = challenge else {
            return Ok(builder);
        };
        match challenge.scheme.as_str() {
            "basic" => match self.credential(registry).await? {
                Some(c) => Ok(builder.basic_auth(c.username, Some(c.password))),
                None => Ok(builder),
            },
            "bearer" => {
                if let Some(token) = cached {
                    return Ok(builder.bearer_auth(token));
                }
                let (token, until) = self.fetch_token(registry, scope, &challenge).await?;
                if let Ok(mut auth) = self.inner.auth.lock() {
                    auth.entry(host.to_string())
                        .or_default()
                        .tokens
                        .insert(scope.key(), (token.clone(), until));
                }
                Ok(builder.bearer_auth(token))
            }
            _ => Ok(builder),
        }
    }

    async fn credential(&self, registry: &str) -> Result<Option<Credential>> {
        match &self.inner.credentials {
            Some(c) => c.get(registry).await,
            None => Ok(None),
        }
    }

    async fn fetch_token(
        &self,
        registry: &str,
        scope: &Scope,
        challenge: &Challenge,
    ) -> Result<(String, Instant)> {
        let credential = self.credential(registry).await?;
        self.fetch_token_with(registry, scope, challenge, credential.as_ref())
            .await
    }

    async fn fetch_token_with(
        &self,
        registry: &str,
        scope: &Scope,
        challenge: &Challenge,
        credential: Option<&Credential>,
    ) -> Result<(String, Instant)> {
        let fail = |reason: String| Error::Auth {
            registry: registry.to_string(),
            reason,
        };
        let realm = challenge
            .params
            .get("realm")
            .ok_or_else(|| fail("the bearer challenge has no realm".into()))?;
        let mut url = Url::parse(realm).map_err(|e| fail(format!("realm {realm:?}: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = challenge.params.get("service") {
                q.append_pair("service", service);
            }
            let mut scopes: Vec<&str> = scope.0.iter().map(String::as_str).collect();
            if let Some(s) = challenge.params.get("scope") {
                if !scopes.contains(&s.as_str()) && !s.is_empty() {
                    scopes.push(s);
                }
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        if let Some(c) = credential {
            url.query_pairs_mut().append_pair("account", &c.username);
        }
        let mut req = self.http(&url)?.get(url.clone());
        if let Some(c) = credential {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        let resp = req.send().await.map_err(|source| Error::Http {
            method: "GET".into(),
            url: url.to_string(),
            source,
        })?;
        let status = resp.status();
        if !status.is_success() {
            let detail = body_start(resp).await;
            return Err(Error::Unauthorized {
                url: url.to_string(),
                status: status.as_u16(),
                detail,
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenReply {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let bytes = read_limited(resp, 1 << 20, url.as_str()).await?;
        let reply: TokenReply = serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("token reply is not JSON: {e}")))?;
        let token = reply
            .token
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| fail("token reply has no token".into()))?;
        let life = reply.expires_in.unwrap_or(60).max(10);
        Ok((token, Instant::now() + Duration::from_secs(life - 5)))
    }

    async fn request(
        &self,
        r: &Reference,
        scope: &Scope,
        method: Method,
        url: Url,
        make: &mut Make<'_>,
    ) -> Result<Response> {
        self.send(api_host(r), r.registry(), scope, method, url, make)
            .await
    }

    /// Fetches the manifest or index `reference` names, verifying its digest (against the
    /// reference's digest, else the registry's `Docker-Content-Digest`) and refusing it over
    /// 4 MiB.
    pub async fn get_manifest(&self, reference: &Reference) -> Result<Manifest> {
        let url = self.repo_url(reference, &format!("manifests/{}", manifest_ref(reference)))?;
        let resp = self
            .request(
                reference,
                &Scope::pull(reference.repository()),
                Method::GET,
                url.clone(),
                &mut |b| Box::pin(async move { Ok(b.header(header::ACCEPT, MANIFEST_ACCEPT)) }),
            )
            .await?;
        let resp = expect(resp, Method::GET, &[StatusCode::OK]).await?;
        if resp.content_length().is_some_and(|n| n > MAX_MANIFEST_SIZE) {
            return Err(Error::ManifestTooLarge {
                what: url.to_string(),
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let content_type = header_str(resp.headers(), header::CONTENT_TYPE);
        let header_digest = header_str(resp.headers(), "docker-content-digest");
        let bytes = read_limited(resp, MAX_MANIFEST_SIZE, url.as_str()).await?;
        let expected = match reference.digest().or(header_digest.as_deref()) {
            Some(d) => Some(parse_digest(d, url.as_str())?),
            None => None,
        };
        let digest = match expected {
            Some(d) => verify_bytes(url.as_str(), &bytes, &d)?.digest().clone(),
            None => crate::blob::sha256(&bytes),
        };
        Manifest::new(bytes, content_type.as_deref(), digest, url.as_str())
    }

    /// Asks whether the manifest `reference` names exists (`HEAD`): its descriptor if so.
    pub async fn head_manifest(&self, reference: &Reference) -> Result<Option<Descriptor>> {
        let url = self.repo_url(reference, &format!("manifests/{}", manifest_ref(reference)))?;
        let resp = self
            .request(
                reference,
                &Scope::pull(reference.repository()),
                Method::HEAD,
                url.clone(),
                &mut |b| Box::pin(async move { Ok(b.header(header::ACCEPT, MANIFEST_ACCEPT)) }),
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = expect(resp, Method::HEAD, &[StatusCode::OK]).await?;
        let h = resp.headers();
        let size = resp.content_length().unwrap_or(0);
        let digest = match header_str(h, "docker-content-digest")
            .or_else(|| reference.digest().map(str::to_string))
        {
            Some(d) => parse_digest(&d, url.as_str())?,
            None => {
                return Err(Error::Protocol {
                    url: url.to_string(),
                    reason: "HEAD of a manifest without Docker-Content-Digest".into(),
                })
            }
        };
        let media_type = header_str(h, header::CONTENT_TYPE)
            .unwrap_or_else(|| crate::manifest::OCI_MANIFEST.to_string());
        Ok(Some(Descriptor::new(
            MediaType::from(media_type.as_str()),
            size,
            digest,
        )))
    }

    /// Stores a manifest under `reference`'s tag (or digest) and returns its digest. For a
    /// manifest with a `subject`, on a registry that does not answer `OCI-Subject` (no
    /// referrers API), the subject's referrers tag (`sha256-HEX`) index gets this manifest
    /// added, as the OCI 1.1 distribution spec asks of clients.
    pub async fn put_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(Error::ManifestTooLarge {
                what: reference.to_string(),
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let digest = crate::blob::sha256(bytes);
        let url = self.repo_url(reference, &format!("manifests/{}", manifest_ref(reference)))?;
        let body = bytes::Bytes::copy_from_slice(bytes);
        let media_type = media_type.to_string();
        let resp = self
            .request(
                reference,
                &Scope::push(reference.repository()),
                Method::PUT,
                url,
                &mut |b| {
                    let body = body.clone();
                    let media_type = media_type.clone();
                    Box::pin(
                        async move { Ok(b.header(header::CONTENT_TYPE, media_type).body(body)) },
                    )
                },
            )
            .await?;
        let resp = expect(
            resp,
            Method::PUT,
            &[StatusCode::CREATED, StatusCode::OK, StatusCode::ACCEPTED],
        )
        .await?;
        // A manifest with a subject: a registry with the referrers API says so with
        // OCI-Subject; for one without, the referrers tag schema is kept up to date here.
        if !resp.headers().contains_key("oci-subject") {
            if let Ok(m) = Manifest::new(bytes.to_vec(), Some(&media_type), digest.clone(), "-") {
                if let Some(subject) = m.subject() {
                    self.add_to_referrers_tag(reference, subject.digest(), &m)
                        .await?;
                }
            }
        }
        Ok(digest)
    }

    /// The manifests that refer to `subject` (OCI 1.1 referrers) in `reference`'s
    /// repository, as descriptors with their `artifactType` and annotations; only those of
    /// `artifact_type` if given. Asks `GET /v2/NAME/referrers/DIGEST`; a registry without
    /// that API (404, as Distribution 2.8) is read through the referrers tag schema: the
    /// index tagged `sha256-HEX`. No referrers is an empty list.
    pub async fn referrers(
        &self,
        reference: &Reference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let mut url = self.repo_url(reference, &format!("referrers/{subject}"))?;
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let resp = self
            .request(
                reference,
                &Scope::pull(reference.repository()),
                Method::GET,
                url.clone(),
                &mut |b| {
                    Box::pin(
                        async move { Ok(b.header(header::ACCEPT, crate::manifest::OCI_INDEX)) },
                    )
                },
            )
            .await?;
        let (listed, filtered) = if resp.status() == StatusCode::NOT_FOUND {
            drop(resp);
            match self.referrers_tag_index(reference, subject).await? {
                Some(index) => (index.manifests().to_vec(), false),
                None => (Vec::new(), false),
            }
        } else {
            let resp = expect(resp, Method::GET, &[StatusCode::OK]).await?;
            let filtered = header_str(resp.headers(), "oci-filters-applied")
                .is_some_and(|f| f.split(',').any(|x| x.trim() == "artifactType"));
            let bytes = read_limited(resp, MAX_MANIFEST_SIZE, url.as_str()).await?;
            let index = Manifest::new(
                bytes.clone(),
                Some(crate::manifest::OCI_INDEX),
                crate::blob::sha256(&bytes),
                url.as_str(),
            )?;
            (index.manifests().to_vec(), filtered)
        };
        Ok(match artifact_type {
            Some(t) if !filtered => listed
                .into_iter()
                .filter(|d| {
                    d.artifact_type()
                        .as_ref()
                        .is_some_and(|a| a.to_string() == t)
                })
                .collect(),
            _ => listed,
        })
    }

    /// The index under `subject`'s referrers tag, if there is one.
    async fn referrers_tag_index(
        &self,
        reference: &Reference,
        subject: &Digest,
    ) -> Result<Option<Manifest>> {
        let tagged = crate::reference::with_tag(reference, &referrers_tag(subject));
        match self.get_manifest(&tagged).await {
            Ok(m) if m.is_index() => Ok(Some(m)),
            Ok(m) => Err(Error::InvalidManifest {
                what: tagged.to_string(),
                reason: format!("the referrers tag holds a {}, not an index", m.media_type()),
            }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Adds `referrer` to the index under `subject`'s referrers tag (made if missing).
    async fn add_to_referrers_tag(
        &self,
        reference: &Reference,
        subject: &Digest,
        referrer: &Manifest,
    ) -> Result<()> {
        let entry = referrer.referrer_descriptor();
        let mut manifests: Vec<Descriptor> =
            match self.referrers_tag_index(reference, subject).await? {
                Some(index) => index.manifests().to_vec(),
                None => Vec::new(),
            };
        if manifests.iter().any(|d| d.digest() == entry.digest()) {
            return Ok(());
        }
        manifests.push(entry);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": crate::manifest::OCI_INDEX,
            "manifests": manifests,
        });
        let bytes = serde_json::to_vec(&index).map_err(|e| Error::InvalidManifest {
            what: format!("referrers of {subject}"),
            reason: e.to_string(),
        })?;
        let tagged = crate::reference::with_tag(reference, &referrers_tag(subject));
        Box::pin(self.put_manifest(&tagged, crate::manifest::OCI_INDEX, &bytes)).await?;
        Ok(())
    }

    /// Deletes the manifest `reference` names by digest (registries refuse deleting by tag).
    pub async fn delete_manifest(&self, reference: &Reference) -> Result<()> {
        let url = self.repo_url(reference, &format!("manifests/{}", manifest_ref(reference)))?;
        let resp = self
            .request(
                reference,
                &Scope(vec![format!(
                    "repository:{}:delete",
                    reference.repository()
                )]),
                Method::DELETE,
                url,
                &mut |b| Box::pin(async move { Ok(b) }),
            )
            .await?;
        expect(
            resp,
            Method::DELETE,
            &[StatusCode::ACCEPTED, StatusCode::OK],
        )
        .await
        .map(drop)
    }

    /// The tags of `reference`'s repository, following `Link` pagination; `page_size` asks
    /// for pages of that many (`?n=`; registries may ignore it, Distribution 2.8 does).
    pub async fn tags(
        &self,
        reference: &Reference,
        page_size: Option<usize>,
    ) -> Result<Vec<String>> {
        let url = self.repo_url(reference, "tags/list")?;
        let scope = Scope::pull(reference.repository());
        self.paginate(
            api_host(reference),
            reference.registry(),
            &scope,
            url,
            page_size,
            "tags",
        )
        .await
    }

    /// The repositories of `registry` (`/v2/_catalog`), following `Link` pagination with
    /// pages of `page_size` if given. Many public registries refuse the catalog.
    pub async fn catalog(&self, registry: &str, page_size: Option<usize>) -> Result<Vec<String>> {
        let host = match registry {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        };
        let url = self.url(host, "/v2/_catalog")?;
        let scope = Scope(vec!["registry:catalog:*".to_string()]);
        self.paginate(host, registry, &scope, url, page_size, "repositories")
            .await
    }

    async fn paginate(
        &self,
        host: &str,
        registry: &str,
        scope: &Scope,
        mut url: Url,
        page_size: Option<usize>,
        field: &str,
    ) -> Result<Vec<String>> {
        if let Some(n) = page_size {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        let mut items = Vec::new();
        for _page in 0..100_000 {
            let resp = self
                .send(host, registry, scope, Method::GET, url.clone(), &mut |b| {
                    Box::pin(async move { Ok(b) })
                })
                .await?;
            let resp = expect(resp, Method::GET, &[StatusCode::OK]).await?;
            let next = header_str(resp.headers(), header::LINK).and_then(|l| next_link(&l));
            let bytes = read_limited(resp, 16 << 20, url.as_str()).await?;
            let mut list: HashMap<String, serde_json::Value> = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Protocol {
                    url: url.to_string(),
                    reason: format!("list is not a JSON object: {e}"),
                })?;
            match list.remove(field) {
                Some(serde_json::Value::Array(values)) => {
                    for v in values {
                        if let serde_json::Value::String(s) = v {
                            items.push(s);
                        }
                    }
                }
                Some(serde_json::Value::Null) | None => {}
                Some(_) => {
                    return Err(Error::Protocol {
                        url: url.to_string(),
                        reason: format!("{field} is not a list"),
                    })
                }
            }
            match next {
                Some(next) => {
                    url = url.join(&next).map_err(|e| Error::Protocol {
                        url: url.to_string(),
                        reason: format!("bad Link {next:?}: {e}"),
                    })?;
                }
                None => break,
            }
        }
        Ok(items)
    }

    /// Asks whether the repository has the blob (`HEAD`): its size if so.
    pub async fn head_blob(&self, reference: &Reference, digest: &Digest) -> Result<Option<u64>> {
        self.head_blob_scoped(reference, digest, &Scope::pull(reference.repository()))
            .await
    }

    async fn head_blob_scoped(
        &self,
        reference: &Reference,
        digest: &Digest,
        scope: &Scope,
    ) -> Result<Option<u64>> {
        let url = self.repo_url(reference, &format!("blobs/{digest}"))?;
        let resp = self
            .request(reference, scope, Method::HEAD, url, &mut |b| {
                Box::pin(async move { Ok(b) })
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = expect(resp, Method::HEAD, &[StatusCode::OK]).await?;
        Ok(Some(resp.content_length().unwrap_or(0)))
    }

    /// Downloads the blob `descriptor` names into `sink`, verifying its size and digest while
    /// it streams, resuming with `Range` if the connection breaks. The blob is committed to
    /// the sink only once verified; on any error nothing is committed. `progress` is called
    /// with the bytes received so far.
    pub async fn fetch_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        sink: &dyn BlobSink,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<()> {
        let digest = descriptor.digest();
        let blob_err = |source| Error::Blob {
            digest: digest.to_string(),
            source,
        };
        let mut writer = sink
            .create(digest, descriptor.size())
            .await
            .map_err(blob_err)?;
        match self
            .fetch_into(reference, descriptor, &mut writer, progress)
            .await
        {
            Ok(verified) => {
                writer.shutdown().await.map_err(blob_err)?;
                writer.commit(verified).await.map_err(blob_err)
            }
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(%digest, %abort, "discarding a failed download");
                }
                Err(e)
            }
        }
    }

    async fn fetch_into(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        writer: &mut Box<dyn crate::blob::BlobWriter>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<crate::blob::Verified> {
        let digest = descriptor.digest();
        let size = descriptor.size();
        let url = self.repo_url(reference, &format!("blobs/{digest}"))?;
        let scope = Scope::pull(reference.repository());
        let mut verifier = Verifier::new();
        let mut resumes = 0u32;
        loop {
            let offset = verifier.size();
            let resp = self
                .request(reference, &scope, Method::GET, url.clone(), &mut |b| {
                    Box::pin(async move {
                        Ok(if offset > 0 {
                            b.header(header::RANGE, format!("bytes={offset}-"))
                        } else {
                            b
                        })
                    })
                })
                .await?;
            let resp = expect(
                resp,
                Method::GET,
                &[StatusCode::OK, StatusCode::PARTIAL_CONTENT],
            )
            .await?;
            // A server that ignores Range sends the whole blob again: skip what we have.
            let mut skip = if resp.status() == StatusCode::PARTIAL_CONTENT {
                let start =
                    header_str(resp.headers(), header::CONTENT_RANGE).and_then(|r| range_start(&r));
                if start != Some(offset) {
                    return Err(Error::Protocol {
                        url: url.to_string(),
                        reason: format!(
                            "asked for bytes from {offset}, got range starting {start:?}"
                        ),
                    });
                }
                0
            } else {
                offset
            };
            let mut stream = resp.bytes_stream();
            let mut broken = None;
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        broken = Some(e);
                        break;
                    }
                };
                let mut chunk = chunk;
                if skip > 0 {
                    let n = skip.min(chunk.len() as u64) as usize;
                    chunk = chunk.slice(n..);
                    skip -= n as u64;
                }
                if chunk.is_empty() {
                    continue;
                }
                if verifier.size() + chunk.len() as u64 > size {
                    return Err(Error::SizeMismatch {
                        digest: digest.to_string(),
                        expected: size,
                        actual: verifier.size() + chunk.len() as u64,
                    });
                }
                writer
                    .write_all(&chunk)
                    .await
                    .map_err(|source| Error::Blob {
                        digest: digest.to_string(),
                        source,
                    })?;
                verifier.update(&chunk);
                progress(verifier.size());
            }
            match broken {
                None if verifier.size() < size && resumes < self.inner.retries => {
                    // The body ended early (a connection closed cleanly mid-blob): resume.
                    tracing::debug!(%digest, got = verifier.size(), size, "blob body ended early, resuming");
                }
                None => break,
                Some(source) => {
                    let err = Error::Http {
                        method: "GET".into(),
                        url: url.to_string(),
                        source,
                    };
                    if resumes >= self.inner.retries {
                        return Err(err);
                    }
                    tracing::debug!(%digest, %err, got = verifier.size(), "blob download broke, resuming");
                }
            }
            tokio::time::sleep(self.backoff(resumes)).await;
            resumes += 1;
        }
        verifier.finish(url.as_str(), digest, Some(size))
    }

    /// Tries to mount `digest` from repository `from` (same registry) into `reference`'s
    /// repository. `Ok(true)` if mounted; `Ok(false)` if the registry did not (then upload).
    pub async fn mount_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        from: &str,
    ) -> Result<bool> {
        Ok(matches!(
            self.start_upload(reference, Some((digest, from))).await?,
            Upload::Mounted
        ))
    }

    async fn start_upload(
        &self,
        reference: &Reference,
        mount: Option<(&Digest, &str)>,
    ) -> Result<Upload> {
        let mut url = self.repo_url(reference, "blobs/uploads/")?;
        let mut scope = Scope::push(reference.repository());
        if let Some((digest, from)) = mount {
            url.query_pairs_mut()
                .append_pair("mount", digest.as_ref())
                .append_pair("from", from);
            scope.0.push(format!("repository:{from}:pull"));
        }
        let resp = self
            .request(reference, &scope, Method::POST, url.clone(), &mut |b| {
                Box::pin(async move { Ok(b.header(header::CONTENT_LENGTH, "0")) })
            })
            .await?;
        let status = resp.status();
        if mount.is_some() && status == StatusCode::CREATED {
            return Ok(Upload::Mounted);
        }
        let resp = expect(resp, Method::POST, &[StatusCode::ACCEPTED]).await?;
        Ok(Upload::Session(location(&resp, &url)?))
    }

    /// Uploads the blob `descriptor` names from `source` unless the repository has it:
    /// `HEAD` first, then a mount from `mount_from` (a repository of the same registry) if
    /// given, then an upload as `mode` says.
    pub async fn push_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        source: &dyn BlobSource,
        mode: UploadMode,
        mount_from: Option<&str>,
        progress: BytesProgress,
    ) -> Result<BlobPushed> {
        let digest = descriptor.digest();
        let scope = Scope::push(reference.repository());
        if self
            .head_blob_scoped(reference, digest, &scope)
            .await?
            .is_some()
        {
            return Ok(BlobPushed::Existed);
        }
        let mount = mount_from
            .filter(|from| *from != reference.repository())
            .map(|from| (digest, from));
        let session = match self.start_upload(reference, mount).await? {
            Upload::Mounted => return Ok(BlobPushed::Mounted),
            Upload::Session(url) => url,
        };
        progress(0);
        let session = match mode {
            UploadMode::Chunked { chunk_size } => {
                match self
                    .upload_chunks(
                        reference,
                        descriptor,
                        source,
                        session,
                        chunk_size.max(1),
                        &progress,
                    )
                    .await?
                {
                    Chunked::Done(url) => {
                        self.finish_upload(reference, digest, url, None).await?;
                        return Ok(BlobPushed::Uploaded);
                    }
                    Chunked::Refused => match self.start_upload(reference, None).await? {
                        Upload::Session(url) => url,
                        Upload::Mounted => return Ok(BlobPushed::Mounted),
                    },
                }
            }
            UploadMode::Monolithic => session,
        };
        self.finish_upload(
            reference,
            digest,
            session,
            Some((descriptor.size(), source, &progress)),
        )
        .await?;
        Ok(BlobPushed::Uploaded)
    }

    async fn upload_chunks(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        source: &dyn BlobSource,
        mut session: Url,
        chunk_size: u64,
        progress: &BytesProgress,
    ) -> Result<Chunked> {
        let digest = descriptor.digest();
        let blob_err = |source| Error::Blob {
            digest: digest.to_string(),
            source,
        };
        let opened = source.open(digest).await.map_err(blob_err)?;
        check_source_size(descriptor, opened.size)?;
        let mut reader = opened.reader;
        let scope = Scope::push(reference.repository());
        let mut offset = 0u64;
        let mut buf = Vec::new();
        while offset < descriptor.size() {
            let want = chunk_size.min(descriptor.size() - offset);
            buf.clear();
            (&mut reader)
                .take(want)
                .read_to_end(&mut buf)
                .await
                .map_err(blob_err)?;
            if buf.len() as u64 != want {
                return Err(Error::SizeMismatch {
                    digest: digest.to_string(),
                    expected: descriptor.size(),
                    actual: offset + buf.len() as u64,
                });
            }
            let body = bytes::Bytes::from(std::mem::take(&mut buf));
            let end = offset + want - 1;
            let resp = self
                .request(
                    reference,
                    &scope,
                    Method::PATCH,
                    session.clone(),
                    &mut |b| {
                        let body = body.clone();
                        Box::pin(async move {
                            Ok(b.header(header::CONTENT_TYPE, "application/octet-stream")
                                .header(header::CONTENT_RANGE, format!("{offset}-{end}"))
                                .header(header::CONTENT_LENGTH, want)
                                .body(body))
                        })
                    },
                )
                .await?;
            let status = resp.status();
            if offset == 0
                && matches!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED
                        | StatusCode::NOT_IMPLEMENTED
                        | StatusCode::RANGE_NOT_SATISFIABLE
                        | StatusCode::PAYLOAD_TOO_LARGE
                        | StatusCode::BAD_REQUEST
                )
            {
                tracing::debug!(%digest, %status, "chunked upload refused, uploading whole");
                return Ok(Chunked::Refused);
            }
            // ECR and others answer 201 where 202 is expected.
            let resp = expect(
                resp,
                Method::PATCH,
                &[
                    StatusCode::ACCEPTED,
                    StatusCode::CREATED,
                    StatusCode::NO_CONTENT,
                ],
            )
            .await?;
            if resp.headers().contains_key(header::LOCATION) {
                session = location(&resp, &session)?;
            }
            offset += want;
            progress(offset);
        }
        Ok(Chunked::Done(session))
    }

    async fn finish_upload(
        &self,
        reference: &Reference,
        digest: &Digest,
        mut session: Url,
        body: Option<(u64, &dyn BlobSource, &BytesProgress)>,
    ) -> Result<()> {
        session
            .query_pairs_mut()
            .append_pair("digest", digest.as_ref());
        let scope = Scope::push(reference.repository());
        let resp = self
            .request(reference, &scope, Method::PUT, session, &mut |b| {
                Box::pin(async move {
                    match body {
                        None => Ok(b.header(header::CONTENT_LENGTH, "0")),
                        Some((size, source, progress)) => {
                            let opened =
                                source.open(digest).await.map_err(|source| Error::Blob {
                                    digest: digest.to_string(),
                                    source,
                                })?;
                            if opened.size != size {
                                return Err(Error::SizeMismatch {
                                    digest: digest.to_string(),
                                    expected: size,
                                    actual: opened.size,
                                });
                            }
                            Ok(b.header(header::CONTENT_TYPE, "application/octet-stream")
                                .header(header::CONTENT_LENGTH, size)
                                .body(reqwest::Body::wrap_stream(progress_stream(
                                    opened.reader,
                                    progress.clone(),
                                ))))
                        }
                    }
                })
            })
            .await?;
        expect(
            resp,
            Method::PUT,
            &[
                StatusCode::CREATED,
                StatusCode::NO_CONTENT,
                StatusCode::ACCEPTED,
            ],
        )
        .await
        .map(drop)
    }
}

fn progress_stream(
    reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    progress: BytesProgress,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    let mut done = 0u64;
    tokio_util::io::ReaderStream::with_capacity(reader, 256 << 10).map(move |r| {
        if let Ok(b) = &r {
            done += b.len() as u64;
            progress(done);
        }
        r
    })
}

enum Upload {
    Mounted,
    Session(Url),
}

enum Chunked {
    Done(Url),
    Refused,
}

fn check_source_size(descriptor: &Descriptor, size: u64) -> Result<()> {
    if size != descriptor.size() {
        return Err(Error::SizeMismatch {
            digest: descriptor.digest().to_string(),
            expected: descriptor.size(),
            actual: size,
        });
    }
    Ok(())
}

fn location(resp: &Response, base: &Url) -> Result<Url> {
    let loc = header_str(resp.headers(), header::LOCATION).ok_or_else(|| Error::Protocol {
        url: base.to_string(),
        reason: "upload answer without Location".into(),
    })?;
    base.join(&loc).map_err(|e| Error::Protocol {
        url: base.to_string(),
        reason: format!("bad Location {loc:?}: {e}"),
    })
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_string)
}

fn parse_digest(d: &str, url: &str) -> Result<Digest> {
    Digest::try_from(d.trim()).map_err(|e| Error::Protocol {
        url: url.to_string(),
        reason: format!("bad digest {d:?}: {e}"),
    })
}

/// The tag of the referrers tag schema: `sha256:HEX` -> `sha256-HEX` (at most 128 characters).
pub(crate) fn referrers_tag(subject: &Digest) -> String {
    let s = subject.to_string().replacen(':', "-", 1);
    s.chars().take(128).collect()
}

/// `bytes 100-199/200` -> 100.
fn range_start(content_range: &str) -> Option<u64> {
    let r = content_range.trim().strip_prefix("bytes")?.trim_start();
    r.split('-').next()?.trim().parse().ok()
}

/// The `rel="next"` target of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            matches!(
                p.trim().replace(' ', "").as_str(),
                "rel=\"next\"" | "rel=next"
            )
        });
        let t = target.trim();
        (is_next && t.starts_with('<') && t.ends_with('>')).then(|| t[1..t.len() - 1].to_string())
    })
}

async fn body_start(resp: Response) -> String {
    match read_limited(resp, 1024, "").await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(Error::ManifestTooLarge { .. }) => "(long body)".into(),
        Err(_) => String::new(),
    }
}

/// Checks the status; otherwise returns an error with the start of the body.
async fn expect(resp: Response, method: Method, ok: &[StatusCode]) -> Result<Response> {
    let status = resp.status();
    if ok.contains(&status) {
        return Ok(resp);
    }
    let url = resp.url().to_string();
    let detail = if method == Method::HEAD {
        String::new()
    } else {
        body_start(resp).await
    };
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(Error::Unauthorized {
            url,
            status: status.as_u16(),
            detail,
        });
    }
    Err(Error::Status {
        method: method.to_string(),
        url,
        status: status.as_u16(),
        detail,
    })
}

/// Reads a body of at most `limit` bytes.
async fn read_limited(resp: Response, limit: u64, what: &str) -> Result<Vec<u8>> {
    let url = resp.url().to_string();
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| Error::Http {
            method: "GET".into(),
            url: url.clone(),
            source,
        })?;
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(Error::ManifestTooLarge {
                what: what.to_string(),
                limit,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_link_and_range() {
        assert_eq!(
            next_link(r#"</v2/r/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/r/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
    }

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
