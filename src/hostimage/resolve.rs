//! The host files a set of programs needs to start: the programs, their ELF interpreter and
//! the shared libraries they load, found as the host's dynamic loader finds them (`DT_RPATH`,
//! `DT_RUNPATH`, the directories of `/etc/ld.so.conf`, then the default ones).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::hostimage::elf::{self, ElfDeps};

/// The loader's own directories, searched after `ld.so.conf`'s (glibc's trusted directories,
/// and the multiarch ones Debian adds).
const DEFAULT_DIRS: [&str; 4] = ["/lib64", "/usr/lib64", "/lib", "/usr/lib"];

/// The multiarch directory name of this build's target (`x86_64-linux-gnu`), if it has one.
fn multiarch() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("x86_64-linux-gnu"),
        "aarch64" => Some("aarch64-linux-gnu"),
        "riscv64" => Some("riscv64-linux-gnu"),
        "powerpc64" => Some("powerpc64le-linux-gnu"),
        "s390x" => Some("s390x-linux-gnu"),
        _ => None,
    }
}

/// Directories a loader without `/etc/ld.so.cache` (the image's) searches on its own.
pub(crate) fn loader_default_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(triplet) = multiarch() {
        dirs.push(Path::new("/lib").join(triplet));
        dirs.push(Path::new("/usr/lib").join(triplet));
    }
    dirs.extend(DEFAULT_DIRS.iter().map(PathBuf::from));
    dirs
}

/// One entry of the image, at the same path as on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostEntry {
    /// A regular file, copied from this host path (its directories' links followed).
    File(PathBuf),
    /// A symbolic link, kept with its target as written (`/bin/sh` -> `dash`); the target is
    /// in the closure too.
    Symlink(PathBuf),
}

/// What the programs need: each path of the image (the host path it comes from), and the
/// library directories outside the loader's defaults (the image's `LD_LIBRARY_PATH`, since
/// it has no `ld.so.cache`).
#[derive(Debug, Default)]
pub(crate) struct Closure {
    /// Absolute, lexically normal paths, each a file or a link.
    pub(crate) files: BTreeMap<PathBuf, HostEntry>,
    /// Directories the image's loader must be told about, in the order first used.
    pub(crate) extra_lib_dirs: Vec<PathBuf>,
}

/// The host's library search path: the directories of `/etc/ld.so.conf` (with its `include`s)
/// and then the loader's defaults.
#[derive(Debug, Clone)]
pub(crate) struct Resolver {
    dirs: Vec<PathBuf>,
}

impl Resolver {
    /// The host's resolver (an unreadable `ld.so.conf` counts as an empty one, as for
    /// `ldconfig`).
    pub(crate) fn host() -> Resolver {
        let mut dirs = Vec::new();
        read_conf(Path::new("/etc/ld.so.conf"), &mut dirs, 0);
        for d in loader_default_dirs() {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
        Resolver { dirs }
    }

    /// Every file `programs` need, with the programs themselves: each given as its host path
    /// and its path in the image (the same but for [`HostImage::file`]'s).
    ///
    /// [`HostImage::file`]: crate::HostImage::file
    pub(crate) fn closure(&self, programs: &[(PathBuf, PathBuf)]) -> Result<Closure> {
        let mut out = Closure::default();
        let defaults: BTreeSet<PathBuf> = loader_default_dirs().into_iter().collect();
        // (host path, image path)
        let mut queue: VecDeque<(PathBuf, PathBuf)> = VecDeque::new();
        for (host, at) in programs {
            for p in [host, at] {
                if !p.is_absolute() {
                    return Err(Error::invalid(
                        "host file",
                        p.display().to_string(),
                        "the path must be absolute",
                    ));
                }
            }
            queue.push_back((normalize(host), normalize(at)));
        }
        while let Some((host, path)) = queue.pop_front() {
            if out.files.contains_key(&path) {
                continue;
            }
            let meta =
                std::fs::symlink_metadata(&host).map_err(|e| Error::io("reading", &host, e))?;
            if meta.file_type().is_symlink() && host == path {
                let target =
                    std::fs::read_link(&path).map_err(|e| Error::io("reading", &path, e))?;
                let parent = path.parent().unwrap_or(Path::new("/"));
                let target_path = normalize(&parent.join(&target));
                queue.push_back((target_path.clone(), target_path));
                out.files.insert(path, HostEntry::Symlink(target));
                continue;
            }
            // A file placed elsewhere in the image is copied from what its link points to.
            let meta = std::fs::metadata(&host).map_err(|e| Error::io("reading", &host, e))?;
            if !meta.is_file() {
                return Err(Error::invalid(
                    "host file",
                    host.display().to_string(),
                    "not a regular file or a link to one",
                ));
            }
            let data = std::fs::read(&host).map_err(|e| Error::io("reading", &host, e))?;
            out.files
                .insert(path.clone(), HostEntry::File(host.clone()));
            let Some(deps) = elf::parse(&data).map_err(|source| Error::Elf {
                path: host.clone(),
                source,
            })?
            else {
                continue;
            };
            if let Some(interp) = &deps.interp {
                let interp = normalize(Path::new(interp));
                queue.push_back((interp.clone(), interp));
            }
            for name in &deps.needed {
                let (lib, dir) = self.find(name, &host, &deps)?;
                if let Some(dir) = dir {
                    if !defaults.contains(&dir) && !out.extra_lib_dirs.contains(&dir) {
                        out.extra_lib_dirs.push(dir);
                    }
                }
                queue.push_back((lib.clone(), lib));
            }
        }
        Ok(out)
    }

    /// Where the loader finds `name` for `user`: the library's path and the directory it was
    /// found in (none when `name` is a path).
    fn find(&self, name: &str, user: &Path, deps: &ElfDeps) -> Result<(PathBuf, Option<PathBuf>)> {
        if name.contains('/') {
            return Ok((normalize(Path::new(name)), None));
        }
        let origin = std::fs::canonicalize(user)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/"));
        let expand = |d: &String| {
            let d = d
                .replace("${ORIGIN}", &origin.to_string_lossy())
                .replace("$ORIGIN", &origin.to_string_lossy());
            normalize(Path::new(&d))
        };
        let mut dirs: Vec<PathBuf> = Vec::new();
        if deps.runpath.is_empty() {
            dirs.extend(deps.rpath.iter().map(expand));
        }
        dirs.extend(deps.runpath.iter().map(expand));
        dirs.extend(self.dirs.iter().cloned());
        for dir in &dirs {
            let candidate = dir.join(name);
            if matches_user(&candidate, deps) {
                return Ok((candidate, Some(dir.clone())));
            }
        }
        Err(Error::LibraryNotFound {
            library: name.to_owned(),
            needed_by: user.to_path_buf(),
            searched: dirs,
        })
    }
}

/// Whether `candidate` is an ELF library the loader would take for `user`: same class and
/// machine (a 32-bit library in `/usr/lib` is skipped for a 64-bit program, as ld.so does).
fn matches_user(candidate: &Path, user: &ElfDeps) -> bool {
    let Ok(data) = std::fs::read(candidate) else {
        return false;
    };
    matches!(elf::parse(&data), Ok(Some(lib)) if lib.class64 == user.class64 && lib.machine == user.machine)
}

/// Reads an `ld.so.conf`: one directory per line, `#` comments, `include GLOB` (a `*` in the
/// file name), `hwcap` lines ignored. Includes nest at most 8 deep.
fn read_conf(file: &Path, dirs: &mut Vec<PathBuf>, depth: usize) {
    if depth > 8 {
        return;
    }
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with("hwcap ") {
            continue;
        }
        if let Some(pattern) = line
            .strip_prefix("include")
            .filter(|r| r.starts_with([' ', '\t']))
        {
            for pattern in pattern.split_whitespace() {
                let pattern = match Path::new(pattern) {
                    p if p.is_absolute() => p.to_path_buf(),
                    p => file.parent().unwrap_or(Path::new("/")).join(p),
                };
                for included in glob_files(&pattern) {
                    read_conf(&included, dirs, depth + 1);
                }
            }
            continue;
        }
        for dir in line.split([':', ',', ' ', '\t']).filter(|s| !s.is_empty()) {
            let dir = normalize(Path::new(dir));
            if dir.is_absolute() && !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
}

/// The files matching `pattern`, whose last component may hold one `*`, sorted.
fn glob_files(pattern: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    let Some((prefix, suffix)) = name.split_once('*') else {
        return vec![pattern.to_path_buf()];
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() >= prefix.len() + suffix.len())
        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
        .map(|n| dir.join(n))
        .collect();
    found.sort();
    found
}

/// `path` without `.` and `..` components (lexically: `/usr/bin/../lib` is `/usr/lib`).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(
            normalize(Path::new("/usr/bin/../lib/./x.so")),
            Path::new("/usr/lib/x.so")
        );
        assert_eq!(normalize(Path::new("/../a")), Path::new("/a"));
    }

    #[test]
    fn conf_includes_and_comments() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("d"))?;
        std::fs::write(
            dir.path().join("ld.so.conf"),
            "# top\ninclude d/*.conf\n/opt/a:/opt/b # trailing\n",
        )?;
        std::fs::write(dir.path().join("d/2.conf"), "/opt/two\n")?;
        std::fs::write(dir.path().join("d/1.conf"), "/opt/one\n/opt/a\n")?;
        std::fs::write(dir.path().join("d/skip.txt"), "/opt/never\n")?;
        let mut dirs = Vec::new();
        read_conf(&dir.path().join("ld.so.conf"), &mut dirs, 0);
        let want: Vec<PathBuf> = ["/opt/one", "/opt/a", "/opt/two", "/opt/b"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(dirs, want);
        Ok(())
    }

    #[test]
    fn the_closure_of_this_test_binary_has_libc_and_the_loader() -> Result<()> {
        let exe = std::env::current_exe().map_err(|e| Error::io("locating", "current_exe", e))?;
        let closure = Resolver::host().closure(&[(exe.clone(), exe.clone())])?;
        assert!(closure.files.contains_key(&normalize(&exe)));
        assert!(
            closure
                .files
                .keys()
                .any(|p| p.file_name().is_some_and(|n| n == "libc.so.6")),
            "{closure:?}"
        );
        assert!(
            closure
                .files
                .keys()
                .any(|p| p.to_string_lossy().contains("ld-linux")),
            "{closure:?}"
        );
        Ok(())
    }
}
