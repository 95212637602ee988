//! The build context: a directory, its `.dockerignore`, and checksums of COPY/ADD sources.
//!
//! Reads never leave the context: the walk lists names with `readdir`, inspects each with
//! `lstat` (`DirEntry::metadata`), records a link inside a copied directory as a link (its
//! target text), and opens a regular file with `O_NOFOLLOW`, checking that what it opened is
//! the file it inspected. Only a source path itself has its links followed, resolved inside
//! the context root as BuildKit does (`resolve`).
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use boxwright_dockerfile_parser::dockerignore::{ignore_file_for, DockerIgnore};

use crate::checksum::Checksum;
use crate::error::ContextError;
use crate::glob;
use crate::hash::hash_entries;
use crate::resolve::{join, resolve_in_root};
use crate::stat_cache::StatCache;

/// A matched COPY source: its context-relative path and its tree's entries (relative path ->
/// absolute path and `lstat` metadata).
pub(crate) type MatchedSource = (String, BTreeMap<String, (PathBuf, fs::Metadata)>);

/// What a `COPY --exclude`/`--parents` narrows or adds to a source's matches.
#[derive(Debug, Clone, Default)]
pub(crate) struct CopyFilter {
    /// `--exclude` patterns (`.dockerignore` syntax), matched against each entry's path
    /// relative to the source it was matched by — a wildcard's match itself by its name, as
    /// in `COPY --exclude=*.txt hom* /dst/` — like BuildKit's copy.
    pub(crate) exclude: Option<DockerIgnore>,
    /// `--parents`: the context-relative pivot whose descendants on the way to a match are
    /// copied too (with their modes), so they are part of what the copy depends on.
    pub(crate) parents: Option<String>,
}

impl CopyFilter {
    /// Whether `sub` (relative to its source, `/`-separated) is excluded; `must_descend` is
    /// set when an excluded directory has re-included entries below it.
    fn excluded(&self, sub: &str) -> (bool, bool) {
        match &self.exclude {
            Some(ex) if ex.is_excluded(sub) => (true, ex.must_descend(sub)),
            _ => (false, false),
        }
    }
}

/// A build context directory with the ignore patterns that apply to it.
#[derive(Debug, Clone)]
pub struct Context {
    root: PathBuf,
    ignore: DockerIgnore,
    ignore_file: Option<PathBuf>,
}

impl Context {
    /// Open `dir` as a build context with `<dir>/.dockerignore`, if there is one.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, ContextError> {
        let root = canonical_dir(dir.as_ref())?;
        let file = root.join(".dockerignore");
        let file = file.symlink_metadata().is_ok().then_some(file);
        Self::with_ignore_file(root, file)
    }

    /// Open `dir` as the context of a build of `dockerfile`: `<dockerfile>.dockerignore`
    /// beside the Dockerfile, when it exists, replaces `<dir>/.dockerignore` (Docker's rule).
    pub fn open_for_dockerfile(
        dir: impl AsRef<Path>,
        dockerfile: &Path,
    ) -> Result<Self, ContextError> {
        let root = canonical_dir(dir.as_ref())?;
        let file = ignore_file_for(dockerfile, &root, |p| p.symlink_metadata().is_ok());
        Self::with_ignore_file(root, file)
    }

    /// Open `dir` as a build context with the given patterns (no ignore file is read).
    pub fn with_ignore(dir: impl AsRef<Path>, ignore: DockerIgnore) -> Result<Self, ContextError> {
        let root = canonical_dir(dir.as_ref())?;
        Ok(Context {
            root,
            ignore,
            ignore_file: None,
        })
    }

    /// Read and parse the ignore file, if any.
    fn with_ignore_file(root: PathBuf, file: Option<PathBuf>) -> Result<Self, ContextError> {
        let ignore = match &file {
            None => DockerIgnore::parse("").map_err(|source| ContextError::Ignore {
                path: root.join(".dockerignore"),
                source,
            })?,
            Some(path) => {
                let text = fs::read(path).map_err(|source| ContextError::ReadIgnore {
                    path: path.clone(),
                    source,
                })?;
                DockerIgnore::parse(&String::from_utf8_lossy(&text)).map_err(|source| {
                    ContextError::Ignore {
                        path: path.clone(),
                        source,
                    }
                })?
            }
        };
        Ok(Context {
            root,
            ignore,
            ignore_file: file,
        })
    }

    /// The context directory (canonical, absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ignore patterns in force.
    pub fn ignore(&self) -> &DockerIgnore {
        &self.ignore
    }

    /// The ignore file that was read, if any.
    pub fn ignore_file(&self) -> Option<&Path> {
        self.ignore_file.as_deref()
    }

    /// The checksum of what a `COPY`/`ADD` of `sources` depends on.
    ///
    /// Each source is relative to the context root (a leading `/` and `..` cannot leave it:
    /// they are cleaned as BuildKit does, `/../a` being `a`); a component with `*`, `?`, `[`
    /// or `\` is a Go `filepath.Match` pattern; a directory stands for its whole tree minus
    /// ignored entries. Every matched entry contributes its context-relative path, its kind,
    /// its permission bits (with setuid, setgid and sticky), and its content hash or link
    /// target — not its times, owner or inode.
    ///
    /// Symbolic links, as BuildKit's COPY treats them: links in a source path (the source
    /// itself included) are followed *inside the context* — an absolute target starts from
    /// the context root, `..` stops at it — and the entries are recorded under the path they
    /// resolve to; links inside a copied directory are copied as links, so only their target
    /// text counts. Nothing outside the context is ever read.
    ///
    /// A source without wildcards that names nothing (or an ignored path) is an error; a
    /// wildcard that matches nothing contributes nothing.
    pub fn checksum(
        &self,
        sources: &[&str],
        cache: &mut StatCache,
    ) -> Result<Checksum, ContextError> {
        self.checksum_with(sources, &CopyFilter::default(), cache)
    }

    /// [`Context::checksum`] of only what a COPY with `filter` copies.
    pub(crate) fn checksum_with(
        &self,
        sources: &[&str],
        filter: &CopyFilter,
        cache: &mut StatCache,
    ) -> Result<Checksum, ContextError> {
        let mut found = BTreeMap::new();
        for pattern in sources {
            for (_, entries) in self.matched_with(pattern, filter)? {
                for (rel, entry) in entries {
                    found.entry(rel).or_insert(entry);
                }
            }
        }
        let found = found
            .into_iter()
            .map(|(rel, (abs, meta))| (rel, abs, meta))
            .collect();
        Ok(Checksum::from_sorted(hash_entries(found, cache)?))
    }

    /// What a `COPY` of `pattern` copies: each matched path (context-relative, `""` for the
    /// root) with the entries of its tree (itself included unless it is the root), keyed by
    /// context-relative path, each with its absolute path and `lstat` metadata. A pattern
    /// without wildcards that names nothing is an error, as in [`Context::checksum`].
    ///
    /// `filter` drops excluded entries and, for `--parents`, adds the directories between
    /// the pivot and each match.
    pub(crate) fn matched_with(
        &self,
        pattern: &str,
        filter: &CopyFilter,
    ) -> Result<Vec<MatchedSource>, ContextError> {
        let matched = self.expand(pattern)?;
        if matched.is_empty() && !glob::has_meta(pattern) {
            return Err(ContextError::SourceNotFound {
                pattern: pattern.to_string(),
            });
        }
        let mut out = Vec::with_capacity(matched.len());
        for rel in matched {
            let name = rel.rsplit('/').next().unwrap_or_default();
            if glob::has_meta(pattern) && !rel.is_empty() && filter.excluded(name).0 {
                continue;
            }
            let mut entries = BTreeMap::new();
            self.add_tree(rel.clone(), filter, &mut entries)?;
            if let Some(pivot) = &filter.parents {
                self.add_parents(&rel, pivot, &mut entries)?;
            }
            out.push((rel, entries));
        }
        Ok(out)
    }

    /// Adds the directories strictly between `pivot` and `rel` (both context-relative).
    fn add_parents(
        &self,
        rel: &str,
        pivot: &str,
        found: &mut BTreeMap<String, (PathBuf, fs::Metadata)>,
    ) -> Result<(), ContextError> {
        let mut dir = rel;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if parent == pivot || (!pivot.is_empty() && !parent.starts_with(&format!("{pivot}/"))) {
                break;
            }
            let abs = self.abs(parent);
            let meta = abs
                .symlink_metadata()
                .map_err(|source| ContextError::Read {
                    path: abs.clone(),
                    source,
                })?;
            found.entry(parent.to_string()).or_insert((abs, meta));
            dir = parent;
        }
        Ok(())
    }

    /// The context-relative paths a source pattern names (`""` for the root), not ignored.
    fn expand(&self, pattern: &str) -> Result<Vec<String>, ContextError> {
        let mut current = vec![String::new()];
        for comp in clean_components(pattern) {
            let mut next = Vec::new();
            for base in &current {
                let mut names = Vec::new();
                if glob::has_meta(comp) {
                    self.match_children(base, comp, pattern, &mut names)?;
                } else {
                    names.push(join(base, comp));
                }
                for name in names {
                    next.extend(resolve_in_root(&self.root, &self.ignore, &name)?);
                }
            }
            next.sort();
            next.dedup();
            current = next;
        }
        current.retain(|rel| rel.is_empty() || !self.ignore.is_excluded(rel));
        Ok(current)
    }

    /// Push the children of directory `base` whose names match `comp`.
    fn match_children(
        &self,
        base: &str,
        comp: &str,
        pattern: &str,
        out: &mut Vec<String>,
    ) -> Result<(), ContextError> {
        if !self.is_dir(base) {
            return Ok(());
        }
        let dir = self.abs(base);
        let read = fs::read_dir(&dir).map_err(|source| ContextError::Read {
            path: dir.clone(),
            source,
        })?;
        let mut names = Vec::new();
        for entry in read {
            let entry = entry.map_err(|source| ContextError::Read {
                path: dir.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let hit = glob::matches(comp, &name).map_err(|_| ContextError::BadPattern {
                pattern: pattern.to_string(),
            })?;
            if hit {
                names.push(join(base, &name));
            }
        }
        // An empty directory still validates the pattern, as Go's Match does.
        if names.is_empty() {
            glob::matches(comp, "").map_err(|_| ContextError::BadPattern {
                pattern: pattern.to_string(),
            })?;
        }
        names.sort();
        out.extend(names);
        Ok(())
    }

    /// Whether `rel` is a real directory (not a link to one).
    fn is_dir(&self, rel: &str) -> bool {
        self.abs(rel)
            .symlink_metadata()
            .map(|m| m.is_dir())
            .unwrap_or(false)
    }

    /// The absolute path of a context-relative path made of names listed from the tree.
    fn abs(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// Find `rel` and, for a directory, every entry below it that is not ignored.
    fn add_tree(
        &self,
        rel: String,
        filter: &CopyFilter,
        found: &mut BTreeMap<String, (PathBuf, fs::Metadata)>,
    ) -> Result<(), ContextError> {
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        let abs = self.abs(&rel);
        let meta = abs
            .symlink_metadata()
            .map_err(|source| ContextError::Read {
                path: abs.clone(),
                source,
            })?;
        let mut frontier = Vec::new();
        if meta.is_dir() {
            frontier.push(rel.clone());
        }
        if !rel.is_empty() {
            found.entry(rel).or_insert((abs, meta));
        }
        // Level by level, each level's directories listed (and their entries `lstat`ed) by
        // up to one thread per core: with a big context the walk is most of a no-change
        // rebuild.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        while !frontier.is_empty() {
            let listed = if threads < 2 || frontier.len() < 2 {
                frontier
                    .iter()
                    .map(|d| self.list_dir(d, filter, &prefix))
                    .collect::<Vec<_>>()
            } else {
                let chunk = frontier.len().div_ceil(threads);
                let prefix = prefix.as_str();
                std::thread::scope(|scope| {
                    let workers: Vec<_> = frontier
                        .chunks(chunk)
                        .map(|dirs| {
                            scope.spawn(move || {
                                dirs.iter()
                                    .map(|d| self.list_dir(d, filter, prefix))
                                    .collect::<Vec<_>>()
                            })
                        })
                        .collect();
                    workers
                        .into_iter()
                        .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                        .collect::<Vec<_>>()
                })
            };
            let mut next = Vec::new();
            for result in listed {
                let (entries, subdirs) = result?;
                next.extend(subdirs);
                for (child, path, meta) in entries {
                    if let Entry::Vacant(slot) = found.entry(child) {
                        slot.insert((path, meta));
                    }
                }
            }
            frontier = next;
        }
        Ok(())
    }

    /// One directory of a tree walk: its entries that are neither ignored nor excluded
    /// (context-relative path, absolute path, `lstat`), and the subdirectories to descend into
    /// (an excluded directory too when a later `!` pattern may re-include something below).
    #[allow(clippy::type_complexity)]
    fn list_dir(
        &self,
        dir_rel: &str,
        filter: &CopyFilter,
        prefix: &str,
    ) -> Result<(Vec<(String, PathBuf, fs::Metadata)>, Vec<String>), ContextError> {
        let dir = self.abs(dir_rel);
        let read = fs::read_dir(&dir).map_err(|source| ContextError::Read {
            path: dir.clone(),
            source,
        })?;
        let (mut entries, mut subdirs) = (Vec::new(), Vec::new());
        for entry in read {
            let entry = entry.map_err(|source| ContextError::Read {
                path: dir.clone(),
                source,
            })?;
            let child = join(dir_rel, &entry.file_name().to_string_lossy());
            let path = entry.path();
            let meta = entry.metadata().map_err(|source| ContextError::Read {
                path: path.clone(),
                source,
            })?;
            if self.ignore.is_excluded(&child) {
                if meta.is_dir() && self.ignore.must_descend(&child) {
                    subdirs.push(child);
                }
                continue;
            }
            let (excluded, descend) = filter.excluded(child.strip_prefix(prefix).unwrap_or(&child));
            if excluded {
                if meta.is_dir() && descend {
                    subdirs.push(child);
                }
                continue;
            }
            if meta.is_dir() {
                subdirs.push(child.clone());
            }
            entries.push((child, path, meta));
        }
        Ok((entries, subdirs))
    }
}

/// The canonical path of a context directory.
fn canonical_dir(dir: &Path) -> Result<PathBuf, ContextError> {
    let err = |source| ContextError::Open {
        path: dir.to_path_buf(),
        source,
    };
    let root = fs::canonicalize(dir).map_err(err)?;
    if !root.is_dir() {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    Ok(root)
}

/// A source's components after Go's `filepath.Clean` of `"/" + source`: empty and `.`
/// components dropped, `..` removing the previous one and never going above the root.
fn clean_components(source: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for comp in source.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_cleaned_inside_the_root() {
        assert_eq!(clean_components("/../a/./b//c/.."), ["a", "b"]);
        assert_eq!(clean_components("../../etc/passwd"), ["etc", "passwd"]);
        assert!(clean_components(".").is_empty());
        assert!(clean_components("/").is_empty());
    }
}
