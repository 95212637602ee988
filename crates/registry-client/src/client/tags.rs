//! Lists: a repository's tags and a registry's catalog, following `Link` pagination.

use std::collections::HashMap;

use oci_spec::distribution::Reference;
use reqwest::header;
use reqwest::{Method, StatusCode, Url};

use super::response::{expect, header_str, read_limited};
use super::tokens::Scope;
use super::Client;
use crate::reference::{api_host, registry_host};
use crate::{Error, Result};

impl Client {
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
        let host = registry_host(registry);
        let url = self.url(host, "/v2/_catalog")?;
        let scope = Scope(vec!["registry:catalog:*".to_string()]);
        self.paginate(host, registry, &scope, url, page_size, "repositories")
            .await
    }

    /// GETs `url` and the pages its `Link` headers name, collecting the strings of `field`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_link() {
        assert_eq!(
            next_link(r#"</v2/r/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/r/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }
}
