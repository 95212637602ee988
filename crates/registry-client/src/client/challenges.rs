//! Answering a registry's `WWW-Authenticate` challenge: basic credentials, or a bearer token
//! fetched from the challenge's realm for the request's scope and cached until it expires.

use std::time::{Duration, Instant};

use reqwest::{RequestBuilder, Url};

use super::response::{body_start, read_limited};
use super::tokens::{Poisoned, Scope};
use super::Client;
use crate::auth::{Challenge, Credential};
use crate::{Error, Result};

impl Client {
    /// Adds what `host`'s last challenge asks for to a request: basic credentials, or a
    /// bearer token for `scope` (cached, else fetched). Nothing before a challenge.
    pub(super) async fn authorize(
        &self,
        host: &str,
        registry: &str,
        scope: &Scope,
        builder: RequestBuilder,
    ) -> Result<RequestBuilder> {
        let (challenge, cached) =
            self.inner
                .tokens
                .lookup(host, scope)
                .map_err(|Poisoned| Error::Auth {
                    registry: registry.to_string(),
                    reason: "token cache poisoned".into(),
                })?;
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
                self.inner.tokens.store(host, scope, &token, until);
                Ok(builder.bearer_auth(token))
            }
            _ => Ok(builder),
        }
    }

    /// The configured credential for `registry`, if any.
    async fn credential(&self, registry: &str) -> Result<Option<Credential>> {
        match &self.inner.credentials {
            Some(c) => c.get(registry).await,
            None => Ok(None),
        }
    }

    /// A bearer token for `scope` from `challenge`'s realm, with the configured credential.
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

    /// A bearer token for `scope` from `challenge`'s realm (`service`, `scope`, `account`
    /// parameters; basic auth with `credential` if given) and the instant it expires.
    pub(super) async fn fetch_token_with(
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
}
