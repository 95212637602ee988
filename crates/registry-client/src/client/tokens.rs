//! What a client remembers of each registry's authentication: the challenge its last `401`
//! carried, and the bearer tokens it got, per scope, until they expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::auth::Challenge;

/// The access a request needs, as token scopes (`repository:NAME:pull,push`).
#[derive(Debug, Clone)]
pub(super) struct Scope(pub(super) Vec<String>);

impl Scope {
    /// Pulling from `repo`.
    pub(super) fn pull(repo: &str) -> Self {
        Scope(vec![format!("repository:{repo}:pull")])
    }
    /// Pushing to `repo` (and pulling: a push reads what exists).
    pub(super) fn push(repo: &str) -> Self {
        Scope(vec![format!("repository:{repo}:pull,push")])
    }
    /// No scope (`GET /v2/`).
    pub(super) fn none() -> Self {
        Scope(Vec::new())
    }
    /// The key tokens are cached under.
    pub(super) fn key(&self) -> String {
        self.0.join(" ")
    }
}

/// The challenge and tokens of every registry host a client has talked to.
#[derive(Default)]
pub(super) struct Tokens {
    hosts: Mutex<HashMap<String, HostAuth>>,
}

#[derive(Default)]
struct HostAuth {
    challenge: Option<Challenge>,
    tokens: HashMap<String, (String, Instant)>,
}

/// The token cache's lock was poisoned (a thread panicked holding it).
pub(super) struct Poisoned;

impl Tokens {
    /// Remembers `host`'s challenge and forgets its token for `scope` (it was refused).
    pub(super) fn learn(&self, host: &str, scope: &Scope, challenge: Challenge) {
        let Ok(mut hosts) = self.hosts.lock() else {
            return;
        };
        let entry = hosts.entry(host.to_string()).or_default();
        entry.tokens.remove(&scope.key());
        entry.challenge = Some(challenge);
    }

    /// `host`'s challenge, if it sent one, and an unexpired token for `scope`, if any.
    pub(super) fn lookup(
        &self,
        host: &str,
        scope: &Scope,
    ) -> Result<(Option<Challenge>, Option<String>), Poisoned> {
        let hosts = self.hosts.lock().map_err(|_| Poisoned)?;
        Ok(match hosts.get(host) {
            None => (None, None),
            Some(h) => (
                h.challenge.clone(),
                h.tokens
                    .get(&scope.key())
                    .filter(|(_, until)| *until > Instant::now())
                    .map(|(t, _)| t.clone()),
            ),
        })
    }

    /// Keeps `token` for `host` and `scope` until `until`.
    pub(super) fn store(&self, host: &str, scope: &Scope, token: &str, until: Instant) {
        if let Ok(mut hosts) = self.hosts.lock() {
            hosts
                .entry(host.to_string())
                .or_default()
                .tokens
                .insert(scope.key(), (token.to_string(), until));
        }
    }
}
