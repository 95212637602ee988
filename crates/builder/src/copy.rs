//! Staging what a `COPY`/`ADD` writes: the matched sources (from the context or from another
//! stage's or image's root file system), inline heredoc files and extracted local archives,
//! laid out under a staging directory as they will appear in the image, ready to become a
//! layer.

use std::collections::HashSet;
use std::fs::{self, File, Metadata};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::{lchown, symlink, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use boxwright_layer_store::{apply_layer_path, decompress, ApplyOptions};

use crate::chmod::Chmod;
use crate::context::{Context, CopyFilter, MatchedSource};
use crate::error::BuildError;

/// Where a COPY (or a bind mount) takes its files from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CopySrc {
    /// The build context.
    Context,
    /// An earlier stage's result.
    Stage(usize),
    /// An image (already in the store).
    Image(String),
}

/// How the copied entries are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopyOptions {
    /// The destination, absolute in the image.
    pub(crate) dest: String,
    /// Whether the destination is a directory (a trailing `/`, several sources or a wildcard).
    pub(crate) dest_is_dir: bool,
    /// `--chown`, resolved.
    pub(crate) owner: Option<(u32, u32)>,
    /// `--chmod`, octal or symbolic.
    pub(crate) mode: Option<Chmod>,
    /// `ADD`: extract local tar archives into the destination.
    pub(crate) extract: bool,
    /// The line of the instruction (for errors).
    pub(crate) line: usize,
}

/// `base` joined with the components of `path`, `..` never leaving `base`.
pub(crate) fn inside(base: &Path, path: &str) -> PathBuf {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = base.to_path_buf();
    out.extend(parts);
    out
}

/// Copies the context's matches of `sources` under `root` (the staged image root), minus
/// what `filter` excludes.
pub(crate) fn from_context(
    ctx: &Context,
    sources: &[String],
    pivots: &[String],
    filter: &CopyFilter,
    opts: &CopyOptions,
    root: &Path,
) -> Result<(), BuildError> {
    for (i, pattern) in sources.iter().enumerate() {
        let filter = CopyFilter {
            exclude: filter.exclude.clone(),
            parents: pivots.get(i).cloned(),
        };
        let matched = ctx
            .matched_with(pattern, &filter)
            .map_err(|source| BuildError::Context {
                line: opts.line,
                source,
            })?;
        for source in matched {
            match &filter.parents {
                Some(pivot) => copy_with_parents(&source, pivot, opts, root)?,
                None => copy_source(&source, opts, root)?,
            }
        }
    }
    Ok(())
}

/// `COPY --parents` (`pivot`: context-relative, `""` for none): every entry (the source's parent directories below the pivot included)
/// goes to the destination joined with its path below `pivot`.
fn copy_with_parents(
    source: &MatchedSource,
    pivot: &str,
    opts: &CopyOptions,
    root: &Path,
) -> Result<(), BuildError> {
    let dest = inside(root, &opts.dest);
    make_dir(&dest, opts)?;
    let mut made = MadeDirs::default();
    for (path, (abs, meta)) in &source.1 {
        let kept = if pivot.is_empty() {
            path.as_str()
        } else {
            match path.strip_prefix(pivot).and_then(|p| p.strip_prefix('/')) {
                Some(kept) => kept,
                None => continue,
            }
        };
        put(&inside(&dest, kept), abs, meta, opts, &mut made)?;
    }
    Ok(())
}

/// Copies `sources` (literal paths) from another root file system `dir` under `root`.
pub(crate) fn from_dir(
    dir: &Path,
    sources: &[String],
    opts: &CopyOptions,
    root: &Path,
) -> Result<(), BuildError> {
    for src in sources {
        let abs = inside(dir, src);
        let rel = abs
            .strip_prefix(dir)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = abs.symlink_metadata().map_err(|_| BuildError::Invalid {
            line: opts.line,
            message: format!("{src:?} not found in the source stage or image"),
        })?;
        let mut entries = std::collections::BTreeMap::new();
        walk(&abs, &rel, meta, &mut entries)?;
        copy_source(&(rel, entries), opts, root)?;
    }
    Ok(())
}

/// Lists `abs` (at relative path `rel`) and, for a directory, everything below it.
fn walk(
    abs: &Path,
    rel: &str,
    meta: Metadata,
    out: &mut std::collections::BTreeMap<String, (PathBuf, Metadata)>,
) -> Result<(), BuildError> {
    let is_dir = meta.is_dir();
    if !rel.is_empty() {
        out.insert(rel.to_string(), (abs.to_path_buf(), meta));
    }
    if is_dir {
        for entry in fs::read_dir(abs).map_err(BuildError::io("read", abs))? {
            let entry = entry.map_err(BuildError::io("read", abs))?;
            let path = entry.path();
            let meta = entry.metadata().map_err(BuildError::io("inspect", &path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            walk(&path, &child, meta, out)?;
        }
    }
    Ok(())
}

/// Writes one matched source: a directory's contents into the destination, a file or link to
/// the destination (or into it, when it is a directory).
fn copy_source(source: &MatchedSource, opts: &CopyOptions, root: &Path) -> Result<(), BuildError> {
    let (rel, entries) = source;
    let top = entries.get(rel.as_str());
    let top_is_dir = top.is_none_or(|(_, m)| m.is_dir());
    let dest = inside(root, &opts.dest);
    if top_is_dir {
        make_dir(&dest, opts)?;
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        let mut made = MadeDirs::default();
        for (path, (abs, meta)) in entries {
            let Some(sub) = path.strip_prefix(&prefix) else {
                continue;
            };
            if path == rel {
                continue;
            }
            put(&inside(&dest, sub), abs, meta, opts, &mut made)?;
        }
        return Ok(());
    }
    let Some((abs, meta)) = top else {
        return Ok(());
    };
    if opts.extract && meta.is_file() && is_tar_archive(abs) {
        make_dir(&dest, opts)?;
        return extract(abs, &dest, opts);
    }
    let target = if opts.dest_is_dir {
        make_dir(&dest, opts)?;
        let name = Path::new(rel)
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        dest.join(name)
    } else {
        dest
    };
    put(&target, abs, meta, opts, &mut MadeDirs::default())
}

/// Creates `dir` and its parents (mode 0755) if missing.
fn make_dir(dir: &Path, opts: &CopyOptions) -> Result<(), BuildError> {
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(BuildError::io("create", dir))?;
        if let Some((uid, gid)) = opts.owner {
            lchown(dir, Some(uid), Some(gid)).map_err(BuildError::io("chown", dir))?;
        }
    }
    Ok(())
}

/// The directories one source's copy has made or found, so that each entry's parent is
/// created once rather than tried for every file.
#[derive(Default)]
struct MadeDirs(HashSet<PathBuf>);

impl MadeDirs {
    /// Creates `dir` and its parents if missing (unless already made or found).
    fn ensure(&mut self, dir: &Path) -> Result<(), BuildError> {
        if !self.0.contains(dir) {
            fs::create_dir_all(dir).map_err(BuildError::io("create", dir))?;
            self.0.insert(dir.to_path_buf());
        }
        Ok(())
    }
}

/// Writes one entry at `target`: a directory, a file (contents, mode, mtime in whole seconds,
/// as the layer keeps it) or a link.
fn put(
    target: &Path,
    abs: &Path,
    meta: &Metadata,
    opts: &CopyOptions,
    made: &mut MadeDirs,
) -> Result<(), BuildError> {
    if let Some(parent) = target.parent() {
        made.ensure(parent)?;
    }
    let kind = meta.file_type();
    let own = meta.permissions().mode() & 0o7777;
    let mode = opts
        .mode
        .as_ref()
        .map_or(own, |m| m.apply(own, kind.is_dir()));
    if kind.is_dir() {
        if !target.is_dir() {
            let _ = fs::remove_file(target);
            fs::create_dir(target).map_err(BuildError::io("create", target))?;
        }
        fs::set_permissions(target, fs::Permissions::from_mode(mode))
            .map_err(BuildError::io("chmod", target))?;
        made.0.insert(target.to_path_buf());
    } else if kind.is_symlink() {
        let link = fs::read_link(abs).map_err(BuildError::io("read the link", abs))?;
        remove_existing(target, made)?;
        symlink(&link, target).map_err(BuildError::io("create the link", target))?;
    } else if kind.is_file() {
        remove_existing(target, made)?;
        let mut src = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(abs)
            .map_err(BuildError::io("open", abs))?;
        let mut out = File::create(target).map_err(BuildError::io("create", target))?;
        io::copy(&mut src, &mut out).map_err(BuildError::io("copy to", target))?;
        out.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(BuildError::io("chmod", target))?;
        // Whole seconds: the layer keeps no more, and the staged tree becomes the layer's
        // snapshot as it is (`Store::adopt_snapshot`).
        let secs = meta.mtime();
        let mtime = if secs >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
        };
        if let Some(mtime) = mtime {
            out.set_modified(mtime)
                .map_err(BuildError::io("set the mtime of", target))?;
        }
    } else {
        tracing::debug!(path = %abs.display(), "special file not copied");
        return Ok(());
    }
    let (uid, gid) = opts.owner.unwrap_or((0, 0));
    lchown(target, Some(uid), Some(gid)).map_err(BuildError::io("chown", target))
}

/// Removes what is at `target`, if anything (forgetting the directories made, when it is one).
fn remove_existing(target: &Path, made: &mut MadeDirs) -> Result<(), BuildError> {
    match target.symlink_metadata() {
        Ok(m) if m.is_dir() => {
            made.0.clear();
            fs::remove_dir_all(target).map_err(BuildError::io("replace", target))
        }
        Ok(_) => fs::remove_file(target).map_err(BuildError::io("replace", target)),
        Err(_) => Ok(()),
    }
}

/// Writes an inline heredoc file (`COPY <<EOF /dest`).
pub(crate) fn heredoc(
    name: &str,
    content: &str,
    opts: &CopyOptions,
    root: &Path,
) -> Result<(), BuildError> {
    let dest = inside(root, &opts.dest);
    let target = if opts.dest_is_dir {
        make_dir(&dest, opts)?;
        inside(&dest, name)
    } else {
        dest
    };
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(BuildError::io("create", parent))?;
    }
    fs::write(&target, content).map_err(BuildError::io("write", &target))?;
    let mode = opts.mode.as_ref().map_or(0o644, |m| m.apply(0o644, false));
    fs::set_permissions(&target, fs::Permissions::from_mode(mode))
        .map_err(BuildError::io("chmod", &target))?;
    let (uid, gid) = opts.owner.unwrap_or((0, 0));
    lchown(&target, Some(uid), Some(gid)).map_err(BuildError::io("chown", &target))
}

/// Whether `path` is a tar archive, plain or compressed (gzip, zstd).
fn is_tar_archive(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let Ok(mut reader) = decompress(BufReader::new(file)) else {
        return false;
    };
    let mut head = [0u8; 512];
    if reader.read_exact(&mut head).is_err() {
        return false;
    }
    head.get(257..262) == Some(b"ustar".as_slice())
}

/// Extracts the archive at `path` into `dest` through the store's safe applier.
fn extract(path: &Path, dest: &Path, opts: &CopyOptions) -> Result<(), BuildError> {
    apply_layer_path(path, dest, &ApplyOptions::default()).map_err(|e| BuildError::Invalid {
        line: opts.line,
        message: format!("extracting {} failed: {e}", path.display()),
    })?;
    Ok(())
}

/// Resolves `--chown` (`user[:group]`, names or numbers) with the `/etc/passwd` and
/// `/etc/group` of the first of `roots` (topmost layer first) that has them.
pub(crate) fn resolve_owner(
    spec: &str,
    roots: &[PathBuf],
    line: usize,
) -> Result<(u32, u32), BuildError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str, field: usize| -> Option<(u32, u32)> {
        let text = roots
            .iter()
            .find_map(|r| fs::read_to_string(r.join("etc").join(file)).ok())?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.first() != Some(&name) {
                return None;
            }
            let id = f.get(2)?.parse().ok()?;
            let gid = f.get(field)?.parse().ok()?;
            Some((id, gid))
        })
    };
    let bad = |what: &str| BuildError::Invalid {
        line,
        message: format!("--chown={spec}: unknown {what} (the image has no such entry)"),
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (n, n),
        Err(_) => lookup("passwd", user, 3).ok_or_else(|| bad("user"))?,
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup("group", g, 2)
                .map(|(id, _)| id)
                .ok_or_else(|| bad("group"))?,
        },
    };
    Ok((uid, gid))
}

/// Parses `--chmod`: octal, or symbolic (`u+x,g-w`) applied to each entry's own mode. The
/// messages are BuildKit's.
pub(crate) fn parse_chmod(spec: &str, line: usize) -> Result<Chmod, BuildError> {
    Chmod::parse(spec).map_err(|_| BuildError::Invalid {
        line,
        message: if spec.bytes().all(|b| b.is_ascii_digit()) {
            format!(
                "invalid chmod parameter: '{spec}'. it should be octal string and between 0 and 07777"
            )
        } else {
            format!("invalid chmod parameter: '{spec}'")
        },
    })
}
