//! [`Engine::import_host`]: an image made from host programs and the shared libraries they
//! load, so a machine with nothing installed but a Linux userland can build and run images.

mod elf;
mod resolve;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use boxwright_layer_store::{import, CreateOptions, Image, ImportOptions, ImportSource};
use serde_json::json;

use crate::engine::Engine;
use crate::error::{Error, Result};
use resolve::{Closure, HostEntry, Resolver};

/// The `PATH` of the image, Docker's default.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What [`Engine::import_host`] puts in the image: host programs (with what they load), whole
/// host directories, and the image's config.
///
/// ```
/// let spec = boxwright::HostImage::new(["/bin/sh", "/bin/cat", "/bin/ls"])
///     .cmd(["/bin/sh"])
///     .env("GREETING", "hello");
/// assert_eq!(spec.programs().len(), 3);
/// ```
#[derive(Debug, Clone, Default)]
pub struct HostImage {
    programs: Vec<PathBuf>,
    /// Programs placed at another path: (host path, image path).
    files: Vec<(PathBuf, PathBuf)>,
    trees: Vec<PathBuf>,
    cmd: Option<Vec<String>>,
    env: Vec<(String, String)>,
    workdir: Option<String>,
}

impl HostImage {
    /// An image of these programs (absolute host paths).
    pub fn new<I, P>(programs: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        HostImage {
            programs: programs.into_iter().map(Into::into).collect(),
            ..HostImage::default()
        }
    }

    /// One more program (an absolute host path).
    pub fn program(mut self, path: impl Into<PathBuf>) -> Self {
        self.programs.push(path.into());
        self
    }

    /// A program (or any file) copied from the host path `from` to the image path `at`, its
    /// libraries followed as a program's: a binary of `target/release/` as `/app`.
    pub fn file(mut self, from: impl Into<PathBuf>, at: impl Into<PathBuf>) -> Self {
        self.files.push((from.into(), at.into()));
        self
    }

    /// A whole host directory, copied as it is at the same path (links kept as links, ELF
    /// files in it not followed to their libraries): the data a program reads, such as
    /// `/usr/lib/node_modules/npm`.
    pub fn tree(mut self, dir: impl Into<PathBuf>) -> Self {
        self.trees.push(dir.into());
        self
    }

    /// The image's `Cmd`.
    pub fn cmd<I, S>(mut self, cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cmd = Some(cmd.into_iter().map(Into::into).collect());
        self
    }

    /// An environment variable of the image's config (after `PATH`, which is Docker's default
    /// unless set here).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The image's `WorkingDir`.
    pub fn workdir(mut self, dir: impl Into<String>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    /// Writes the image's root file system into the directory `dir` (which may exist): what
    /// [`Engine::import_host`] makes its layer of, for a Dockerfile `FROM scratch` that
    /// `COPY`s it (as `examples/build-script` does). Returns the library directories the
    /// image's loader must be told about in `LD_LIBRARY_PATH` (those outside its default
    /// directories: usually none; `import_host` sets it in the config). Blocks: from async
    /// code, call it on a blocking thread.
    pub fn stage(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut wanted: Vec<(PathBuf, PathBuf)> = self
            .programs
            .iter()
            .map(|p| (p.clone(), p.clone()))
            .collect();
        wanted.extend(self.files.iter().cloned());
        let closure = Resolver::host().closure(&wanted)?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
        // Trees first: a program inside one (npm's `npm-cli.js`) is then written over its copy.
        for tree in &self.trees {
            copy_tree(tree, &dir.join(relative(tree)))?;
        }
        stage_closure(dir, &closure)?;
        stage_skeleton(dir)?;
        Ok(closure.extra_lib_dirs)
    }

    /// The programs, as given.
    pub fn programs(&self) -> &[PathBuf] {
        &self.programs
    }

    /// The image config's `config` section, with `LD_LIBRARY_PATH` when the programs load
    /// libraries from directories the image's loader does not search on its own.
    fn config(&self, extra_lib_dirs: &[PathBuf]) -> serde_json::Value {
        let mut env: Vec<(String, String)> = Vec::new();
        if !self.env.iter().any(|(k, _)| k == "PATH") {
            env.push(("PATH".into(), DEFAULT_PATH.into()));
        }
        if !extra_lib_dirs.is_empty() && !self.env.iter().any(|(k, _)| k == "LD_LIBRARY_PATH") {
            let dirs: Vec<String> = extra_lib_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            env.push(("LD_LIBRARY_PATH".into(), dirs.join(":")));
        }
        env.extend(self.env.iter().cloned());
        let env: Vec<String> = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut config = json!({ "Env": env });
        if let Some(cmd) = &self.cmd {
            config["Cmd"] = json!(cmd);
        }
        if let Some(dir) = &self.workdir {
            config["WorkingDir"] = json!(dir);
        }
        config
    }
}

impl Engine {
    /// Makes a one-layer image from host files and tags it `name`, as `docker import` of a
    /// root file system holding `spec`'s programs, the ELF interpreter and shared libraries
    /// they load (read from their `PT_INTERP` and `DT_NEEDED`, found through `DT_RPATH`,
    /// `DT_RUNPATH`, `/etc/ld.so.conf` and the loader's default directories, as the host's
    /// `ld.so` finds them), `spec`'s directories, a minimal `/etc/passwd` and `/etc/group`
    /// (`root`, `nobody`/`nogroup`), `/tmp` and `/root`.
    ///
    /// Each file sits at its host path; a path that is a symbolic link on the host (`/bin/sh`
    /// → `dash`) is a link in the image, beside its target. The image is deterministic: every
    /// time is the epoch (`created` too, as ko and Bazel's images), owners are those of the
    /// copies (root's when run as root), so the same host files give the same image ID.
    ///
    /// Not Docker: Docker has no such verb (one writes a Dockerfile `FROM scratch` and copies
    /// the files). Limits: `dlopen`ed libraries (NSS modules, plugins) are not seen (add them
    /// with [`HostImage::program`]); a script's interpreter (`#!`) is not followed (list it
    /// too).
    ///
    /// ```no_run
    /// # async fn f(engine: boxwright::Engine) -> boxwright::Result<()> {
    /// let spec = boxwright::HostImage::new(["/bin/sh", "/bin/cat", "/bin/ls"]).cmd(["/bin/sh"]);
    /// let image = engine.import_host("hostbase:1", &spec).await?;
    /// tracing::info!(id = image.short_id(), "imported");
    /// # Ok(()) }
    /// ```
    pub async fn import_host(&self, name: &str, spec: &HostImage) -> Result<Image> {
        let name = name.to_owned();
        let spec = spec.clone();
        self.blocking(move |e| e.import_host_blocking(&name, &spec))
            .await
    }

    fn import_host_blocking(&self, name: &str, spec: &HostImage) -> Result<Image> {
        let tmp = self.root().join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
        let stage = tempfile::Builder::new()
            .prefix("host-image-")
            .tempdir_in(&tmp)
            .map_err(|e| Error::io("creating a directory in", &tmp, e))?;
        let rootfs = stage.path();
        let extra_lib_dirs = spec.stage(rootfs)?;
        let mut programs: Vec<String> = spec
            .programs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        programs.extend(
            spec.files
                .iter()
                .map(|(from, at)| format!("{} as {}", from.display(), at.display())),
        );
        programs.extend(spec.trees.iter().map(|p| format!("{}/", p.display())));
        let options = ImportOptions {
            name: Some(name.to_owned()),
            config: spec.config(&extra_lib_dirs),
            message: Some(format!("host files: {}", programs.join(" "))),
            create: CreateOptions {
                source_date_epoch: Some(0),
                xattrs: false,
                ..CreateOptions::default()
            },
            ..ImportOptions::default()
        };
        let image = import(self.store(), ImportSource::Directory(rootfs), &options)?;
        tracing::debug!(image = %image.id, "host image imported");
        Ok(image)
    }
}

/// `path` without its leading `/`.
fn relative(path: &Path) -> PathBuf {
    resolve::normalize(path)
        .strip_prefix("/")
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Creates `dir` and its missing parents with mode 0755 (whatever the umask). A link where a
/// directory is wanted is refused: writing through it could reach the host's files.
fn make_dirs(dir: &Path) -> Result<()> {
    match dir.symlink_metadata() {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(Error::invalid(
                "host file",
                dir.display().to_string(),
                "a link or a file in the image where a directory is needed",
            ))
        }
        Err(_) => {}
    }
    if let Some(parent) = dir.parent() {
        make_dirs(parent)?;
    }
    std::fs::create_dir(dir).map_err(|e| Error::io("creating", dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io("setting the mode of", dir, e))
}

/// Copies every file of the closure under `rootfs`, and makes its links.
fn stage_closure(rootfs: &Path, closure: &Closure) -> Result<()> {
    for (path, entry) in &closure.files {
        let to = rootfs.join(relative(path));
        if let Some(parent) = to.parent() {
            make_dirs(parent)?;
        }
        // What a tree put there is replaced (never written through, were it a link).
        if to.symlink_metadata().is_ok() {
            std::fs::remove_file(&to).map_err(|e| Error::io("replacing", &to, e))?;
        }
        match entry {
            HostEntry::File(from) => {
                std::fs::copy(from, &to).map_err(|e| Error::io("copying", from, e))?;
            }
            HostEntry::Symlink(target) => {
                symlink(target, &to).map_err(|e| Error::io("making a link at", &to, e))?;
            }
        }
    }
    Ok(())
}

/// Copies the host directory `from` to `to`, links as links.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::metadata(from).map_err(|e| Error::io("reading", from, e))?;
    make_dirs(to)?;
    std::fs::set_permissions(to, meta.permissions())
        .map_err(|e| Error::io("setting the mode of", to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| Error::io("reading", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("reading", from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| Error::io("reading", &src, e))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&src).map_err(|e| Error::io("reading", &src, e))?;
            symlink(&target, &dst).map_err(|e| Error::io("making a link at", &dst, e))?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).map_err(|e| Error::io("copying", &src, e))?;
        }
        // Sockets, fifos and devices of a host tree are left out.
    }
    Ok(())
}

/// `/etc/passwd`, `/etc/group`, `/tmp` (1777) and `/root` (0700), where the files did not
/// already bring them.
fn stage_skeleton(rootfs: &Path) -> Result<()> {
    let files = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    ];
    make_dirs(&rootfs.join("etc"))?;
    for (path, text) in files {
        let path = rootfs.join(path);
        if !path.exists() {
            std::fs::write(&path, text).map_err(|e| Error::io("writing", &path, e))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::io("setting the mode of", &path, e))?;
        }
    }
    for (dir, mode) in [("tmp", 0o1777), ("root", 0o700)] {
        let dir = rootfs.join(dir);
        make_dirs(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("setting the mode of", &dir, e))?;
    }
    Ok(())
}
