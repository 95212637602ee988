//! `docker ps`: the containers, running or all, with Docker's `--filter`s.

use std::str::FromStr;

use boxwright_runtime::Status;

use crate::container::lifecycle::ContainerDetails;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// One `docker ps --filter KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PsFilter {
    /// `name=TEXT`: the name contains `TEXT` (Docker matches a regular expression; here a
    /// substring, with `^`/`$` anchors honoured).
    Name(String),
    /// `id=PREFIX`: the ID starts with `PREFIX`.
    Id(String),
    /// `status=created|running|exited`.
    Status(Status),
    /// `ancestor=IMAGE`: made from `IMAGE` — an image name as given at create (with or
    /// without its tag), or an ID or ID prefix of the image.
    Ancestor(String),
    /// `label=KEY` or `label=KEY=VALUE`.
    Label(String, Option<String>),
}

impl FromStr for PsFilter {
    type Err = Error;

    /// Parses Docker's `KEY=VALUE` form (`name=web`, `status=exited`, `ancestor=busybox`).
    fn from_str(text: &str) -> Result<PsFilter> {
        let bad = |reason: &str| Error::invalid("filter", text, reason);
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=VALUE"))?;
        Ok(match key {
            "name" => PsFilter::Name(value.to_owned()),
            "id" => PsFilter::Id(value.to_owned()),
            "ancestor" => PsFilter::Ancestor(value.to_owned()),
            "status" => PsFilter::Status(match value {
                "created" => Status::Created,
                "running" => Status::Running,
                "exited" => Status::Exited,
                _ => return Err(bad("the status must be created, running or exited")),
            }),
            "label" => match value.split_once('=') {
                Some((k, v)) => PsFilter::Label(k.to_owned(), Some(v.to_owned())),
                None => PsFilter::Label(value.to_owned(), None),
            },
            _ => return Err(bad("the key must be name, id, status, ancestor or label")),
        })
    }
}

/// The options of [`Engine::ps`] (`docker ps` flags).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PsOptions {
    /// `-a`: every container, not only running ones.
    pub all: bool,
    /// `--filter`s; a container must pass each kind, and one of several of the same kind
    /// (as Docker combines them).
    pub filters: Vec<PsFilter>,
}

impl PsOptions {
    /// Running containers, unfiltered.
    pub fn new() -> Self {
        Self::default()
    }

    /// `-a`.
    pub fn all(mut self, yes: bool) -> Self {
        self.all = yes;
        self
    }

    /// `--filter` (parse Docker's form with `"name=web".parse()`).
    pub fn filter(mut self, filter: PsFilter) -> Self {
        self.filters.push(filter);
        self
    }
}

/// What an `ancestor` filter is compared with: the name as given, and the image's ID when the
/// filter names a local image.
struct Ancestor {
    given: String,
    id: Option<String>,
}

impl Ancestor {
    fn matches(&self, c: &ContainerDetails) -> bool {
        if let (Some(want), Some(have)) = (&self.id, &c.image_id) {
            if want == have {
                return true;
            }
        }
        let Some(name) = &c.image_name else {
            return false;
        };
        let strip_tag = |n: &str| match n.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => repo.to_owned(),
            _ => n.to_owned(),
        };
        let given = self.given.as_str();
        name == given
            || strip_tag(name) == given
            || (!given.contains(':') && strip_tag(name) == strip_tag(given))
            || c.image_id.as_deref().is_some_and(|id| {
                let hex = id.strip_prefix("sha256:").unwrap_or(id);
                let want = given.strip_prefix("sha256:").unwrap_or(given);
                want.len() >= 4 && hex.starts_with(want)
            })
    }
}

fn name_matches(pattern: &str, name: &str) -> bool {
    let start = pattern.starts_with('^');
    let end = pattern.ends_with('$') && pattern.len() > usize::from(start);
    let core = &pattern[usize::from(start)..pattern.len() - usize::from(end)];
    match (start, end) {
        (true, true) => name == core,
        (true, false) => name.starts_with(core),
        (false, true) => name.ends_with(core),
        (false, false) => name.contains(core),
    }
}

impl Engine {
    /// `docker ps [-a] [--filter …]`: the containers (running ones unless `all`), newest
    /// first, with their image and config.
    pub async fn ps(&self, opts: &PsOptions) -> Result<Vec<ContainerDetails>> {
        let mut ancestors = Vec::new();
        for f in &opts.filters {
            if let PsFilter::Ancestor(given) = f {
                let id = match self.image(given).await {
                    Ok(image) => Some(image.id.to_string()),
                    Err(_) => None,
                };
                ancestors.push(Ancestor {
                    given: given.clone(),
                    id,
                });
            }
        }
        let all = opts.all;
        let mut list: Vec<ContainerDetails> = self
            .blocking(move |e| Ok(e.containers().list(all)?))
            .await?
            .into_iter()
            .map(ContainerDetails::of)
            .collect();
        list.retain(|c| keep(c, &opts.filters, &ancestors));
        list.sort_by_key(|c| std::cmp::Reverse(c.info.created));
        Ok(list)
    }
}

/// Whether `c` passes the filters: each kind present must match at least once.
fn keep(c: &ContainerDetails, filters: &[PsFilter], ancestors: &[Ancestor]) -> bool {
    let mut kinds: [Option<bool>; 5] = [None; 5];
    for f in filters {
        let (kind, hit) = match f {
            PsFilter::Name(p) => (0, name_matches(p, &c.info.name)),
            PsFilter::Id(p) => (1, c.info.id.starts_with(p.as_str())),
            PsFilter::Status(s) => (2, c.info.status == *s),
            PsFilter::Ancestor(_) => (3, false),
            PsFilter::Label(k, v) => (
                4,
                c.config
                    .labels
                    .get(k)
                    .is_some_and(|have| v.as_ref().is_none_or(|want| want == have)),
            ),
        };
        let slot = &mut kinds[kind];
        *slot = Some(slot.unwrap_or(false) || hit);
    }
    if !ancestors.is_empty() {
        kinds[3] = Some(ancestors.iter().any(|a| a.matches(c)));
    }
    kinds.iter().all(|k| k.unwrap_or(true))
}

#[cfg(test)]
mod tests {
    use super::{name_matches, PsFilter};

    #[test]
    fn filters_parse_and_names_match() {
        assert_eq!(
            "name=web".parse::<PsFilter>().ok(),
            Some(PsFilter::Name("web".into()))
        );
        assert!("status=paused".parse::<PsFilter>().is_err());
        assert!("colour=red".parse::<PsFilter>().is_err());
        assert!(name_matches("web", "my-web-1"));
        assert!(name_matches("^web", "web-1"));
        assert!(!name_matches("^web$", "web-1"));
        assert!(name_matches("1$", "web-1"));
    }
}
