//! `GET /v2/`: [`Client::ping`], and `docker login`: [`Client::check_credential`] and
//! [`login`], which stores a credential the registry accepted.

use reqwest::header;
use reqwest::{Method, StatusCode, Url};

use super::response::{expect, header_str};
use super::tokens::Scope;
use super::Client;
use crate::auth::{Challenge, Credential, DockerConfig};
use crate::reference::registry_host;
use crate::{Error, Result};

/// `docker login`: checks `credential` against `registry` ([`Client::check_credential`])
/// and, if the registry accepts it, stores it in `config` ([`DockerConfig::store`]; [`crate::logout`] removes it). Nothing is
/// stored when the registry refuses it.
pub async fn login(
    client: &Client,
    config: &mut DockerConfig,
    registry: &str,
    credential: &Credential,
) -> Result<()> {
    client.check_credential(registry, credential).await?;
    config.store(registry, credential).await
}

impl Client {
    /// Checks that `registry` speaks the distribution protocol (`GET /v2/`), authenticating
    /// if it asks to.
    pub async fn ping(&self, registry: &str) -> Result<()> {
        let host = registry_host(registry);
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
        let host = registry_host(registry);
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
}
