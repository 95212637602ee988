//! Following a COPY source's symbolic links without leaving the context (BuildKit's `fs.RootPath`).

use std::collections::VecDeque;
use std::io;
use std::path::Path;

use boxwright_dockerfile_parser::dockerignore::DockerIgnore;

use crate::error::ContextError;

/// How many links one resolution may follow before it is refused (`ELOOP`); Linux allows 40.
const MAX_LINKS: u32 = 40;

/// `base/name`, or `name` at the root.
pub(crate) fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

/// Resolve the context-relative path `rel` inside `root`, following every symbolic link in
/// it as BuildKit does for a COPY source: a link's target is read and spliced in (an
/// absolute target starts again from the context root, not the host's), and `..` never
/// goes above the root. The result names no link. `None` when a component is missing, a
/// non-final component is not a directory, or a link on the way is ignored by `ignore`
/// (BuildKit never received it). Only `lstat` and `readlink` are used.
pub(crate) fn resolve_in_root(
    root: &Path,
    ignore: &DockerIgnore,
    rel: &str,
) -> Result<Option<String>, ContextError> {
    let mut todo: VecDeque<String> = rel.split('/').map(str::to_string).collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(comp) = todo.pop_front() {
        match comp.as_str() {
            "" | "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let cur = join(&done.join("/"), &comp);
        let abs = root.join(&cur);
        let meta = match abs.symlink_metadata() {
            Ok(meta) => meta,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None)
            }
            Err(source) => return Err(ContextError::Read { path: abs, source }),
        };
        if meta.is_symlink() {
            if ignore.is_excluded(&cur) {
                return Ok(None);
            }
            links += 1;
            if links > MAX_LINKS {
                let source = io::Error::other("too many levels of symbolic links");
                return Err(ContextError::Read { path: abs, source });
            }
            let target = std::fs::read_link(&abs).map_err(|source| ContextError::Read {
                path: abs.clone(),
                source,
            })?;
            let target = target.to_string_lossy();
            if target.starts_with('/') {
                done.clear();
            }
            for part in target.split('/').rev() {
                todo.push_front(part.to_string());
            }
        } else if !todo.iter().all(|c| c.is_empty() || c == ".") && !meta.is_dir() {
            return Ok(None);
        } else {
            done.push(comp);
        }
    }
    Ok(Some(done.join("/")))
}
