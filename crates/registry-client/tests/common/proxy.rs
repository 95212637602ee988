//! An HTTP/1.1 proxy on 127.0.0.1 in front of a test registry that injects faults (a status
//! instead of the answer, a response cut short) and can demand bearer tokens that it issues
//! itself at `/token` (for `alice:s3cret`). Each request goes on its own connection
//! (`Connection: close`), so every request passes through the rules.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What to do to one request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status line and extra header lines, without asking the registry.
    Status(&'static str, &'static str),
    /// Forward, but pass only this many bytes of the response, then close.
    Truncate(usize),
}

#[derive(Default)]
pub struct State {
    /// (method, path substring, fault): each applies once, to the first request matching.
    pub rules: Vec<(&'static str, &'static str, Fault)>,
    /// Request lines seen, with their `Range` header if any.
    pub seen: Vec<String>,
    /// Demand `Authorization: Bearer <token>` with a token from `/token`.
    pub bearer: bool,
    /// Tokens issued and still valid.
    pub tokens: Vec<String>,
    /// The `scope` parameters of each token request.
    pub token_scopes: Vec<String>,
    issued: usize,
}

pub struct Proxy {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
}

impl Proxy {
    pub async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = handle(client, target, port, st).await;
                });
            }
        });
        Proxy { port, state }
    }

    pub fn add(&self, method: &'static str, path: &'static str, fault: Fault) {
        self.state.lock().unwrap().rules.push((method, path, fault));
    }

    pub fn seen(&self, needle: &str) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.seen
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }

    /// Forgets every token issued (as if they expired).
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }
}

async fn handle(
    mut client: TcpStream,
    target: u16,
    port: u16,
    state: Arc<Mutex<State>>,
) -> std::io::Result<()> {
    // Read the request head.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("").to_string();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let fault = {
        let mut s = state.lock().unwrap();
        let range = header("range").map_or(String::new(), |r| format!(" [{r}]"));
        s.seen.push(format!("{method} {path}{range}"));
        let i = s
            .rules
            .iter()
            .position(|(m, p, _)| *m == method && path.contains(p));
        i.map(|i| s.rules.remove(i).2)
    };

    // The token endpoint.
    if path.starts_with("/token") {
        let ok = header("authorization").as_deref() == Some("Basic YWxpY2U6czNjcmV0");
        let reply = {
            let mut s = state.lock().unwrap();
            let scopes: Vec<String> = path
                .split(['?', '&'])
                .filter_map(|kv| kv.strip_prefix("scope="))
                .map(|v| {
                    v.replace("%3A", ":")
                        .replace("%2C", ",")
                        .replace("%2F", "/")
                })
                .collect();
            s.token_scopes.push(scopes.join(" "));
            if ok {
                s.issued += 1;
                let token = format!("tok-{}", s.issued);
                s.tokens.push(token.clone());
                let body = format!(r#"{{"token":"{token}","expires_in":300}}"#);
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            }
        };
        client.write_all(reply.as_bytes()).await?;
        return client.shutdown().await;
    }

    let needs_token = {
        let s = state.lock().unwrap();
        s.bearer
            && !header("authorization")
                .and_then(|a| a.strip_prefix("Bearer ").map(str::to_string))
                .is_some_and(|t| s.tokens.contains(&t))
    };
    if needs_token {
        let repo = path
            .strip_prefix("/v2/")
            .and_then(|p| p.split("/blobs/").next())
            .and_then(|p| p.split("/manifests/").next())
            .and_then(|p| p.split("/tags/").next())
            .unwrap_or("");
        let reply = format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test-registry\",scope=\"repository:{repo}:pull\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        // Drain a body the client may be sending, then answer.
        client.write_all(reply.as_bytes()).await?;
        return client.shutdown().await;
    }

    if let Some(Fault::Status(status, extra)) = &fault {
        let reply =
            format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n");
        client.write_all(reply.as_bytes()).await?;
        return client.shutdown().await;
    }

    // Forward with Connection: close, without the bearer header the registry does not know.
    let mut out = format!("{request_line}\r\n");
    for (k, v) in &headers {
        if k != "connection" && k != "authorization" {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str("connection: close\r\n\r\n");
    let mut server = TcpStream::connect(("127.0.0.1", target)).await?;
    server.write_all(out.as_bytes()).await?;
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
    });
    match fault {
        Some(Fault::Truncate(n)) => {
            let mut limited = (&mut sr).take(n as u64);
            let _ = tokio::io::copy(&mut limited, &mut cw).await;
        }
        _ => {
            let _ = tokio::io::copy(&mut sr, &mut cw).await;
        }
    }
    let _ = cw.shutdown().await;
    up.abort();
    Ok(())
}
