//! `docker login` and `docker logout`: [`Engine::login`], [`Engine::logout`].

use boxwright_builder::RegistrySource;
use boxwright_registry_client::{Credential, DockerConfig};

use crate::engine::Engine;
use crate::error::{Error, Result};

impl Engine {
    /// `docker login REGISTRY -u USER -p PASSWORD`: checks the credential against the
    /// registry (`GET /v2/` with basic auth, or the bearer token its challenge asks for) and,
    /// when it is accepted, stores it as Docker does: through the credential helper
    /// `config.json` names, else base64 in its `auths`, in `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`. Nothing is stored when the registry refuses it.
    ///
    /// `registry` is a host (`localhost:5000`, `ghcr.io`), a URL (`https://host:5000/`), or
    /// empty for Docker Hub. This engine then uses the credential: its registry source is
    /// made anew from `config.json` (a source given with [`Engine::with_registry`] is
    /// replaced; set it again after logging in).
    pub async fn login(&mut self, registry: &str, username: &str, password: &str) -> Result<()> {
        let registry = server(registry);
        let mut config = DockerConfig::load()?;
        let credential = Credential {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        boxwright_registry_client::login(
            self.registry().client(),
            &mut config,
            &registry,
            &credential,
        )
        .await
        .map_err(|e| Error::Login {
            registry: registry.clone(),
            source: Box::new(e),
        })?;
        self.reload_credentials()
    }

    /// `docker logout REGISTRY`: removes the stored credential for `registry` (from the
    /// credential helper and from `config.json`). `Ok(false)` when there was none. This
    /// engine stops using it (see [`Engine::login`] about its registry source).
    pub async fn logout(&mut self, registry: &str) -> Result<bool> {
        let registry = server(registry);
        let mut config = DockerConfig::load()?;
        let removed = boxwright_registry_client::logout(&mut config, &registry).await?;
        self.reload_credentials()?;
        Ok(removed)
    }

    /// Makes the registry source anew from `config.json`, so the credentials just stored or
    /// removed apply.
    fn reload_credentials(&mut self) -> Result<()> {
        *self = self.clone().with_registry(RegistrySource::new()?);
        Ok(())
    }
}

/// The server key Docker uses for `registry`: the host (and port) without scheme or path;
/// empty means Docker Hub.
fn server(registry: &str) -> String {
    let host = registry
        .strip_prefix("https://")
        .or_else(|| registry.strip_prefix("http://"))
        .unwrap_or(registry);
    let host = host.split('/').next().unwrap_or(host);
    if host.is_empty() {
        "docker.io".to_owned()
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::server;

    #[test]
    fn server_is_the_host_as_docker_keys_it() {
        assert_eq!(server("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(server("localhost:5000"), "localhost:5000");
        assert_eq!(server(""), "docker.io");
    }
}
