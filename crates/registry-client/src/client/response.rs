//! Reading a registry's replies: the status an operation accepts (else a typed error with
//! the start of the body), bodies bounded in size, headers as text, digests and locations.

use futures_util::StreamExt as _;
use oci_spec::image::Digest;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode, Url};

use crate::{Error, Result};

/// The upload session URL an answer's `Location` names, relative to `base`.
pub(super) fn location(resp: &Response, base: &Url) -> Result<Url> {
    let loc = header_str(resp.headers(), header::LOCATION).ok_or_else(|| Error::Protocol {
        url: base.to_string(),
        reason: "upload answer without Location".into(),
    })?;
    base.join(&loc).map_err(|e| Error::Protocol {
        url: base.to_string(),
        reason: format!("bad Location {loc:?}: {e}"),
    })
}

/// A header's value as text, if present and text.
pub(super) fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_string)
}

/// A digest from a header or reference; a bad one is a protocol error of `url`.
pub(super) fn parse_digest(d: &str, url: &str) -> Result<Digest> {
    Digest::try_from(d.trim()).map_err(|e| Error::Protocol {
        url: url.to_string(),
        reason: format!("bad digest {d:?}: {e}"),
    })
}

/// The start of an error body (1 KiB at most), for error messages.
pub(super) async fn body_start(resp: Response) -> String {
    match read_limited(resp, 1024, "").await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(Error::ManifestTooLarge { .. }) => "(long body)".into(),
        Err(_) => String::new(),
    }
}

/// Checks the status; otherwise returns an error with the start of the body.
pub(super) async fn expect(resp: Response, method: Method, ok: &[StatusCode]) -> Result<Response> {
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
pub(super) async fn read_limited(resp: Response, limit: u64, what: &str) -> Result<Vec<u8>> {
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
