//! Sending a request: a fresh request each attempt, authorized as the registry's challenge
//! asks, retried with backoff on connection errors, 5xx and 429 (`Retry-After`), and followed
//! from plain HTTP to HTTPS when redirected there (a blob on S3).

use std::time::Duration;

use oci_spec::distribution::Reference;
use reqwest::header;
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use super::response::header_str;
use super::tokens::Scope;
use super::{Client, MAX_REDIRECTS};
use crate::auth::Challenge;
use crate::reference::api_host;
use crate::{Error, Result};

/// What a request needs to be sent again: a fresh builder each attempt (bodies are rebuilt).
pub(super) type Make<'a> = dyn FnMut(RequestBuilder) -> futures_util::future::BoxFuture<'a, Result<RequestBuilder>>
    + Send
    + 'a;

impl Client {
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

    /// Sends a request, authenticating and retrying as needed, and returns the response
    /// whatever its final status.
    pub(super) async fn send(
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
                            self.inner.tokens.learn(host, scope, ch);
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

    /// The wait before retry `attempt` (from 0): the configured backoff, doubled each time,
    /// at most 10 s.
    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(6);
        (self.inner.backoff * factor).min(Duration::from_secs(10))
    }

    /// [`Client::send`] to `r`'s registry.
    pub(super) async fn request(
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
}
