//! Credentials ([`Credentials`], [`StaticCredentials`], [`DockerConfig`]) and the
//! `WWW-Authenticate` challenges registries answer with.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::{Error, Result};

/// A user name and password (or token used as a password) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where credentials for a registry come from.
///
/// `registry` is the registry as a reference names it (`docker.io`, `ghcr.io`,
/// `localhost:5000`). `Ok(None)` means "none known": the client then goes anonymous.
#[async_trait::async_trait]
pub trait Credentials: Send + Sync {
    /// The credential for `registry`, if any.
    async fn get(&self, registry: &str) -> Result<Option<Credential>>;
}

/// Credentials given in code: one per registry host.
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials {
    by_host: HashMap<String, Credential>,
}

impl StaticCredentials {
    /// No credentials yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the credential for `registry`.
    pub fn with(mut self, registry: &str, username: &str, password: &str) -> Self {
        self.by_host.insert(
            registry.to_string(),
            Credential {
                username: username.to_string(),
                password: password.to_string(),
            },
        );
        self
    }
}

#[async_trait::async_trait]
impl Credentials for StaticCredentials {
    async fn get(&self, registry: &str) -> Result<Option<Credential>> {
        Ok(self.by_host.get(registry).cloned())
    }
}

/// Credentials from Docker's `config.json`: the `auths` map (base64 `user:password` in
/// `auth`, or `username`/`password`), `credHelpers` (per registry) and `credsStore` (for all),
/// which run `docker-credential-NAME get` with the server on standard input.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    path: Option<PathBuf>,
    file: ConfigFile,
    helper_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(serde::Deserialize)]
struct HelperReply {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

impl DockerConfig {
    /// Reads `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; a missing file gives
    /// no credentials.
    pub fn load() -> Result<Self> {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
        match dir {
            Some(dir) => Self::from_path(&dir.join("config.json")),
            None => Ok(Self::default()),
        }
    }

    /// Reads the config file at `path`; a missing file gives no credentials.
    pub fn from_path(path: &Path) -> Result<Self> {
        let file = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Layout {
                path: path.to_path_buf(),
                reason: format!("not a docker config file: {e}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Ok(DockerConfig {
            path: Some(path.to_path_buf()),
            file,
            helper_dir: None,
        })
    }

    /// Looks for `docker-credential-NAME` programs in `dir` instead of `$PATH`.
    pub fn with_helper_dir(mut self, dir: &Path) -> Self {
        self.helper_dir = Some(dir.to_path_buf());
        self
    }

    fn server_key(registry: &str) -> &str {
        match registry {
            "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY,
            other => other,
        }
    }

    fn lookup_auths(&self, registry: &str) -> Result<Option<Credential>> {
        let key = Self::server_key(registry);
        let entry = self
            .file
            .auths
            .iter()
            .find(|(k, _)| k.as_str() == key || strip_server(k) == strip_server(key));
        let Some((_, entry)) = entry else {
            return Ok(None);
        };
        let bad = |reason: &str| Error::Credentials {
            registry: registry.to_string(),
            reason: format!(
                "{} in {}",
                reason,
                self.path
                    .as_deref()
                    .map_or_else(|| "config".into(), |p| p.display().to_string())
            ),
        };
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad("the auth field is not base64"))?;
            let text =
                String::from_utf8(decoded).map_err(|_| bad("the auth field is not UTF-8"))?;
            let (u, p) = text
                .split_once(':')
                .ok_or_else(|| bad("the auth field is not user:password"))?;
            return Ok(Some(Credential {
                username: u.to_string(),
                password: p.to_string(),
            }));
        }
        match (&entry.username, &entry.password) {
            (Some(u), Some(p)) => Ok(Some(Credential {
                username: u.clone(),
                password: p.clone(),
            })),
            _ => Ok(None),
        }
    }

    fn helper_program(&self, helper: &str) -> PathBuf {
        let program = format!("docker-credential-{helper}");
        match &self.helper_dir {
            Some(dir) => dir.join(&program),
            None => PathBuf::from(program),
        }
    }

    /// Runs `docker-credential-HELPER VERB` with `input` on its standard input.
    async fn helper(
        &self,
        helper: &str,
        verb: &str,
        input: &[u8],
        registry: &str,
    ) -> Result<std::process::Output> {
        let program = self.helper_program(helper);
        let fail = |reason: String| Error::Credentials {
            registry: registry.to_string(),
            reason,
        };
        let mut child = tokio::process::Command::new(&program)
            .arg(verb)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", program.display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt as _;
            stdin
                .write_all(input)
                .await
                .map_err(|e| fail(format!("writing to {}: {e}", program.display())))?;
        }
        child
            .wait_with_output()
            .await
            .map_err(|e| fail(format!("waiting for {}: {e}", program.display())))
    }

    fn helper_failed(
        &self,
        helper: &str,
        verb: &str,
        registry: &str,
        out: &std::process::Output,
    ) -> Error {
        let mut msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if msg.is_empty() {
            msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        Error::Credentials {
            registry: registry.to_string(),
            reason: format!(
                "{} {verb} failed ({}): {msg}",
                self.helper_program(helper).display(),
                out.status
            ),
        }
    }

    async fn run_helper(&self, helper: &str, registry: &str) -> Result<Option<Credential>> {
        let key = Self::server_key(registry);
        let out = self.helper(helper, "get", key.as_bytes(), registry).await?;
        if !out.status.success() {
            // Helpers report an unknown server as "credentials not found in native keychain".
            if String::from_utf8_lossy(&out.stdout).contains("credentials not found") {
                return Ok(None);
            }
            return Err(self.helper_failed(helper, "get", registry, &out));
        }
        let reply: HelperReply =
            serde_json::from_slice(&out.stdout).map_err(|e| Error::Credentials {
                registry: registry.to_string(),
                reason: format!(
                    "{} answered badly: {e}",
                    self.helper_program(helper).display()
                ),
            })?;
        Ok(Some(Credential {
            username: reply.username,
            password: reply.secret,
        }))
    }

    /// The credential helper configured for `registry`: its `credHelpers` entry, else
    /// `credsStore`.
    fn helper_for(&self, registry: &str) -> Option<&str> {
        self.file
            .cred_helpers
            .get(registry)
            .or(self.file.creds_store.as_ref())
            .map(String::as_str)
            .filter(|h| !h.is_empty())
    }

    /// Stores `credential` for `registry` as `docker login` does: through the credential
    /// helper configured for it (`credHelpers`, else `credsStore`) with
    /// `docker-credential-NAME store`, else as base64 `user:password` in the `auths` map of the
    /// config file. The file keeps every other field; it is replaced atomically (a synced
    /// temporary file renamed over it, mode 0600).
    pub async fn store(&mut self, registry: &str, credential: &Credential) -> Result<()> {
        let key = Self::server_key(registry).to_string();
        if let Some(helper) = self.helper_for(registry).map(str::to_string) {
            let input = serde_json::json!({
                "ServerURL": key,
                "Username": credential.username,
                "Secret": credential.password,
            });
            let out = self
                .helper(&helper, "store", input.to_string().as_bytes(), registry)
                .await?;
            if !out.status.success() {
                return Err(self.helper_failed(&helper, "store", registry, &out));
            }
            // A plain-text copy left from before would shadow the helper's: drop it.
            return self
                .edit_auths(registry, |auths| auths.remove(&key).is_some())
                .await;
        }
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", credential.username, credential.password));
        self.edit_auths(registry, |auths| {
            auths.insert(key.clone(), serde_json::json!({ "auth": auth }));
            true
        })
        .await
    }

    /// Removes the credential for `registry` (`docker logout`): from its credential helper
    /// (`docker-credential-NAME erase`) and from the config file's `auths`. `Ok(false)` if
    /// there was none.
    pub async fn erase(&mut self, registry: &str) -> Result<bool> {
        let key = Self::server_key(registry).to_string();
        let mut erased = false;
        if let Some(helper) = self.helper_for(registry).map(str::to_string) {
            let out = self
                .helper(&helper, "erase", key.as_bytes(), registry)
                .await?;
            if out.status.success() {
                erased = true;
            } else if !String::from_utf8_lossy(&out.stdout).contains("credentials not found") {
                return Err(self.helper_failed(&helper, "erase", registry, &out));
            }
        }
        let mut removed = false;
        self.edit_auths(registry, |auths| {
            let before = auths.len();
            auths.retain(|k, _| strip_server(k) != strip_server(&key));
            removed = auths.len() != before;
            removed
        })
        .await?;
        Ok(erased || removed)
    }

    /// Re-reads the config file, lets `edit` change its `auths` map (it returns whether it
    /// changed anything), and writes the file back atomically if so.
    async fn edit_auths(
        &mut self,
        registry: &str,
        edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>) -> bool,
    ) -> Result<()> {
        let path = self.path.clone().ok_or_else(|| Error::Credentials {
            registry: registry.to_string(),
            reason:
                "no config file to store credentials in (neither DOCKER_CONFIG nor HOME is set)"
                    .into(),
        })?;
        let bad = |reason: String| Error::Layout {
            path: path.clone(),
            reason,
        };
        let mut doc = match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| bad(format!("not a docker config file: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
            Err(source) => return Err(Error::Io { path, source }),
        };
        let top = doc
            .as_object_mut()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        let auths = top
            .entry("auths")
            .or_insert_with(|| serde_json::json!({}))
            .as_object_mut()
            .ok_or_else(|| bad("auths is not a JSON object".into()))?;
        if !edit(auths) {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| bad(format!("{e}")))?;
        let file: ConfigFile =
            serde_json::from_value(doc).map_err(|e| bad(format!("not a docker config: {e}")))?;
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_private_atomic(&target, &bytes))
            .await
            .map_err(|e| Error::Io {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        self.file = file;
        Ok(())
    }
}

/// Writes `path` (mode 0600, its directory 0700 if made) through a synced temporary file in
/// the same directory and a rename.
fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path.file_name().map_or_else(
        || "config.json".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// `docker logout`: removes the credential for `registry` from `config`
/// ([`DockerConfig::erase`]); `Ok(false)` if there was none.
pub async fn logout(config: &mut DockerConfig, registry: &str) -> Result<bool> {
    config.erase(registry).await
}

fn strip_server(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

#[async_trait::async_trait]
impl Credentials for DockerConfig {
    async fn get(&self, registry: &str) -> Result<Option<Credential>> {
        if let Some(helper) = self.file.cred_helpers.get(registry) {
            return self.run_helper(helper, registry).await;
        }
        if let Some(found) = self.lookup_auths(registry)? {
            return Ok(Some(found));
        }
        if let Some(store) = &self.file.creds_store {
            return self.run_helper(store, registry).await;
        }
        Ok(None)
    }
}

/// One `WWW-Authenticate` challenge: its scheme and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) scheme: String,
    pub(crate) params: HashMap<String, String>,
}

impl Challenge {
    /// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
    pub(crate) fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.is_empty() {
            return None;
        }
        let mut params = HashMap::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let mut key = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' {
                    break;
                }
                key.push(c);
                chars.next();
            }
            if key.is_empty() || chars.next() != Some('=') {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
            params.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
        Some(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:library/busybox:pull,push");
        let c = Challenge::parse(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(
            (c.scheme.as_str(), c.params["realm"].as_str()),
            ("basic", "Registry Realm")
        );
        let c = Challenge::parse(r#"Bearer realm=x, error="insufficient_scope""#).unwrap();
        assert_eq!(c.params["error"], "insufficient_scope");
    }

    #[tokio::test]
    async fn docker_config_auths_and_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.json");
        std::fs::write(
            &cfg,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},
                "reg.example:5000":{"username":"a","password":"b"}},
               "credHelpers":{"helped.example":"fake"}}"#,
        )
        .unwrap();
        let helper = dir.path().join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread s\necho \"{\\\"ServerURL\\\":\\\"$s\\\",\\\"Username\\\":\\\"hu\\\",\\\"Secret\\\":\\\"hs-$s\\\"}\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let c = DockerConfig::from_path(&cfg)
            .unwrap()
            .with_helper_dir(dir.path());
        let hub = c.get("docker.io").await.unwrap().unwrap();
        assert_eq!((hub.username.as_str(), hub.password.as_str()), ("u", "p"));
        let r = c.get("reg.example:5000").await.unwrap().unwrap();
        assert_eq!((r.username.as_str(), r.password.as_str()), ("a", "b"));
        let h = c.get("helped.example").await.unwrap().unwrap();
        assert_eq!(
            (h.username.as_str(), h.password.as_str()),
            ("hu", "hs-helped.example")
        );
        assert!(c.get("other.example").await.unwrap().is_none());
        assert!(!format!("{h:?}").contains("hs-"));
    }
}
