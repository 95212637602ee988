//! Build arguments in scope (global, per stage, predefined) and the expansion of words with
//! them and the stage's `ENV`, recording which build arguments a step read (for its cache key).

use std::collections::BTreeMap;

use boxwright_dockerfile_parser::expand::Expander;

use crate::error::BuildError;

/// Proxy arguments every stage may use without declaring them; they never enter the history.
pub(crate) const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The arguments of a build: what the request gave, the global `ARG`s, and the current stage's.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    /// `--build-arg` values.
    given: BTreeMap<String, String>,
    /// Automatic platform arguments (`TARGETOS`, …): global, and in a stage when declared.
    automatic: BTreeMap<String, String>,
    /// Global `ARG`s (before the first `FROM`) that have a value.
    global: BTreeMap<String, String>,
    /// The current stage's declared arguments that have a value.
    stage: BTreeMap<String, String>,
    /// The current stage's declared arguments in declaration order, with or without a value
    /// (what a `RUN`'s history names: `|2 A=1 B= sh -c …`).
    order: Vec<String>,
}

impl Args {
    /// The arguments of a build with these `--build-arg`s and automatic values.
    pub(crate) fn new(
        given: BTreeMap<String, String>,
        automatic: BTreeMap<String, String>,
    ) -> Self {
        let global = automatic.clone();
        Args {
            given,
            automatic,
            global,
            stage: BTreeMap::new(),
            order: Vec::new(),
        }
    }

    /// Starts a stage: no stage argument is in scope yet.
    pub(crate) fn enter_stage(&mut self) {
        self.stage.clear();
        self.order.clear();
    }

    /// Declares a global `ARG` with its default, already expanded.
    pub(crate) fn declare_global(&mut self, name: &str, default: Option<String>) {
        let value = self.given.get(name).cloned().or(default);
        match value {
            Some(v) => {
                self.global.insert(name.to_string(), v);
            }
            None => {
                self.global.remove(name);
            }
        }
    }

    /// Declares a stage `ARG`; returns its value, if it has one.
    pub(crate) fn declare(&mut self, name: &str, default: Option<String>) -> Option<String> {
        let value = self
            .given
            .get(name)
            .cloned()
            .or(default)
            .or_else(|| self.global.get(name).cloned())
            .or_else(|| self.automatic.get(name).cloned());
        if !self.order.iter().any(|n| n == name) {
            self.order.push(name.to_string());
        }
        match &value {
            Some(v) => {
                self.stage.insert(name.to_string(), v.clone());
            }
            None => {
                self.stage.remove(name);
            }
        }
        value
    }

    /// The global scope (what `FROM` expands with).
    pub(crate) fn global(&self) -> &BTreeMap<String, String> {
        &self.global
    }

    /// The stage's arguments with values, then the proxy arguments given but not declared.
    pub(crate) fn stage_args(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .stage
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for p in PROXY_ARGS {
            if let (Some(v), false) = (self.given.get(p), self.stage.contains_key(p)) {
                out.push((p.to_string(), v.clone()));
            }
        }
        out
    }

    /// The stage's declared arguments with values.
    pub(crate) fn declared(&self) -> &BTreeMap<String, String> {
        &self.stage
    }

    /// The stage's declared arguments in declaration order as BuildKit's `RUN` history names
    /// them: `NAME=value`, or `NAME=` for one without a value.
    pub(crate) fn history_args(&self) -> Vec<String> {
        self.order
            .iter()
            .map(|n| format!("{n}={}", self.stage.get(n).map_or("", String::as_str)))
            .collect()
    }
}

/// Expands the words of one instruction and keeps the build arguments they read.
pub(crate) struct Expanding<'a> {
    expander: Expander,
    line: usize,
    /// Arguments first, then `ENV` (which wins over an argument of the same name).
    vars: Vec<(String, String)>,
    args: &'a BTreeMap<String, String>,
    env_names: Vec<String>,
    /// The build arguments read, with their values.
    pub(crate) read: BTreeMap<String, String>,
}

impl<'a> Expanding<'a> {
    /// Expansion with `args` (the scope's arguments) and `env` (the stage's `ENV`).
    pub(crate) fn new(
        expander: Expander,
        line: usize,
        args: &'a BTreeMap<String, String>,
        extra: Vec<(String, String)>,
        env: Vec<(String, String)>,
    ) -> Self {
        let env_names = env.iter().map(|(k, _)| k.clone()).collect();
        let mut vars: Vec<(String, String)> =
            args.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.extend(extra);
        vars.extend(env);
        Expanding {
            expander,
            line,
            vars,
            args,
            env_names,
            read: BTreeMap::new(),
        }
    }

    /// Expands one word (quotes removed, no splitting).
    pub(crate) fn word(&mut self, word: &str) -> Result<String, BuildError> {
        let out = self
            .expander
            .expand_word(word, &self.vars)
            .map_err(|source| BuildError::Expand {
                line: self.line,
                word: word.to_string(),
                source,
            })?;
        for name in out.used {
            if self.env_names.contains(&name) {
                continue;
            }
            if let Some(v) = self.args.get(&name) {
                self.read.insert(name, v.clone());
            } else if let Some((_, v)) = self.vars.iter().rev().find(|(k, _)| *k == name) {
                self.read.insert(name, v.clone());
            }
        }
        Ok(out.value)
    }

    /// Expands an optional word.
    pub(crate) fn opt(&mut self, word: Option<&String>) -> Result<Option<String>, BuildError> {
        word.map(|w| self.word(w)).transpose()
    }

    /// Expands several words.
    pub(crate) fn all(&mut self, words: &[String]) -> Result<Vec<String>, BuildError> {
        words.iter().map(|w| self.word(w)).collect()
    }

    /// Sets a variable for the words expanded after it (`ENV A=1 B=$A`).
    pub(crate) fn set_env(&mut self, key: &str, value: &str) {
        self.vars.push((key.to_string(), value.to_string()));
        self.env_names.push(key.to_string());
    }
}
