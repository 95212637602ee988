//! Applying layer archives onto a directory, safely: the guarantees, the semantics and how
//! escapes are prevented are in [`apply_layer`]'s documentation.

mod error;
mod pipe;
mod tar_stream;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, BufRead, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use cap_std::fs::Dir;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use rustix::io::Errno;

use oci_spec::image::Digest;

use error::lossy;
pub use error::{ApplyError, Refusal};
use tar_stream::{Entry, Kind, TarStream, Time};

pub use tar_stream::MAX_EXTENSION_HEADER;

/// How `.wh.` whiteout entries are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WhiteoutMode {
    /// Carry them out (the default): `.wh.NAME` deletes `NAME` from the target, and
    /// `.wh..wh..opq` empties its directory, keeping entries this same layer adds.
    #[default]
    Apply,
    /// Convert them to overlayfs form, for snapshot lower directories: `.wh.NAME` becomes a
    /// character device 0:0 named `NAME`, and `.wh..wh..opq` sets the xattr
    /// `trusted.overlay.opaque="y"` on its directory.
    Overlay,
}

/// Settings for [`apply_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    /// How whiteouts are treated.
    pub whiteouts: WhiteoutMode,
    /// Give entries the archive's uid/gid (default: when running as root).
    pub same_owner: bool,
    /// Set extended attributes from `SCHILY.xattr.*` PAX records (default: true).
    pub xattrs: bool,
    /// Create character and block device nodes (default: false, and device entries are
    /// refused with an error naming them). Fifos are always created.
    pub devices: bool,
    /// Refuse an archive whose file contents add up to more than this many bytes.
    pub max_total_size: Option<u64>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            whiteouts: WhiteoutMode::Apply,
            same_owner: rustix::process::geteuid().is_root(),
            xattrs: true,
            devices: false,
            max_total_size: None,
        }
    }
}

impl ApplyOptions {
    /// Sets [`ApplyOptions::whiteouts`].
    pub fn with_whiteouts(mut self, whiteouts: WhiteoutMode) -> Self {
        self.whiteouts = whiteouts;
        self
    }

    /// Sets [`ApplyOptions::same_owner`].
    pub fn with_same_owner(mut self, same_owner: bool) -> Self {
        self.same_owner = same_owner;
        self
    }

    /// Sets [`ApplyOptions::xattrs`].
    pub fn with_xattrs(mut self, xattrs: bool) -> Self {
        self.xattrs = xattrs;
        self
    }

    /// Sets [`ApplyOptions::devices`].
    pub fn with_devices(mut self, devices: bool) -> Self {
        self.devices = devices;
        self
    }

    /// Sets [`ApplyOptions::max_total_size`].
    pub fn with_max_total_size(mut self, max_total_size: Option<u64>) -> Self {
        self.max_total_size = max_total_size;
        self
    }
}

/// What [`apply_layer`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyStats {
    /// Archive members applied (extension headers not counted; whiteouts counted).
    pub entries: u64,
    /// Length of the uncompressed tar stream, end-of-archive padding included.
    pub bytes: u64,
    /// sha256 of the uncompressed tar stream: the layer's diffID.
    pub diff_id: Digest,
}

/// Applies the layer archive `layer` (tar; plain, gzip or zstd, detected) onto `target`.
///
/// [`apply_layer`] unpacks an OCI/Docker layer (a tar stream, plain, gzip or zstd) into a
/// target directory the way Docker and containerd do, with one guarantee above all: **no archive
/// can write, delete or change anything outside the target.**
///
/// # How escapes are prevented
///
/// * Entry names are normalized lexically: leading `/` and `./` are stripped, `a/../b` becomes
///   `b`, and a `..` that would climb above the root is **refused** (not clamped).
/// * The parent directory of every entry is opened with `openat2(RESOLVE_IN_ROOT)` relative to
///   the target: symlinks met on the way are followed *as if the target were `/`* (an absolute
///   symlink target or `..` stays inside it), exactly like containerd's `RootPath` or Docker's
///   chrooted unpacking. So `link/x` with `link -> /etc` writes `TARGET/etc/x`, never `/etc/x`.
///   This needs Linux 5.6 or later.
/// * Everything then happens on the final name relative to that directory handle
///   (`*at` system calls, `O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, cap-std for removal): the final
///   component is never followed. A file entry over an existing symlink replaces the symlink.
/// * A missing parent is created (mode 0755) one component at a time beneath the already
///   resolved part. A parent path through a symlink that leads nowhere inside the target (such
///   as `link -> ../outside`, clamped to `TARGET/outside`) is an error
///   ([`ApplyError::Io`], kind `NotADirectory`), rather than creating the symlink's target.
/// * Hard link targets are resolved the same way (inside the root, final component not
///   followed; a hard link to a symlink links the symlink itself). Links to directories are
///   refused.
/// * Whiteouts only ever act on names inside directories resolved beneath the root.
/// * To spare a path resolution per entry, the last directory handle is kept for the next
///   entry, but only while it provably is what resolving its path again would give: after an
///   entry that added a non-directory where nothing was (adding a name cannot change what an
///   existing path leads to), or as a directory entry's own handle (opened without following).
///   Anything that removes or replaces a name, and every whiteout, drops it.
///
/// The guarantee is about the archive: like `tar`, the applier assumes nothing else changes
/// the target while it runs (a directory moved out of the target by another process between
/// resolving it and writing into it is out of scope).
///
/// # Semantics
///
/// Entries apply in order; a later entry replaces an earlier one (a file over a directory
/// removes the directory tree; a directory over a directory only updates its metadata). Modes
/// (including setuid, setgid, sticky) are set exactly, owners when
/// [`ApplyOptions::same_owner`], modification times (directories' at the end, since adding
/// children changes them; symlinks' without following them), and `SCHILY.xattr.*` extended
/// attributes when [`ApplyOptions::xattrs`]. As in Docker, an xattr the filesystem or our
/// privileges do not allow (`ENOTSUP`, `EPERM`) is skipped with a warning. Hard link entries do
/// not change the metadata of the inode they link to.
///
/// `trusted.overlay.*` and `user.overlay.*` xattrs in an archive are **refused** in both
/// whiteout modes: they could forge overlayfs whiteouts, opaque directories or redirects when
/// the tree is (or later becomes) an overlay layer, and no legitimate layer carries them.
///
/// Device nodes are refused unless [`ApplyOptions::devices`]; fifos are always fine. GNU
/// sparse files and unknown entry types are refused. PAX extended headers and GNU long names
/// larger than [`MAX_EXTENSION_HEADER`] are refused before they are read, and file contents
/// are streamed in fixed-size chunks, so memory use does not grow with the layer (only a path
/// per entry is remembered, for opaque whiteouts and directory times).
///
/// # Speed
///
/// Decompression and the diffID's sha256 run on two more threads (scoped to the call), a
/// pipeline of a few recycled 512 KiB buffers ahead of the calling thread; that thread parses
/// the archive and writes files straight from those buffers. If applying stops early (an error
/// or a refusal), the buffers' channels close and the other threads stop at their next buffer.
///
/// On error the target is left partly applied; callers should discard it.
///
/// The stream is read to its end, so [`ApplyStats::diff_id`] is the layer's diffID.
///
/// Decompression and hashing run on two more (scoped) threads, a few buffers ahead of the
/// calling thread, which parses the archive and writes the files; hence `R: Send`. Those
/// threads have ended when this function returns, whatever the outcome.
pub fn apply_layer<R: BufRead + Send>(
    layer: R,
    target: &Dir,
    options: &ApplyOptions,
) -> Result<ApplyStats, ApplyError> {
    std::thread::scope(|scope| {
        let (pipe, read_ahead) = pipe::read_ahead(scope, layer);
        // On an early return the pipe is dropped, which stops the read-ahead threads; the
        // scope then joins them.
        let (entries, bytes) = apply_entries(pipe, target, options)?;
        let hashed = read_ahead.join().map_err(|_| ApplyError::Read {
            offset: bytes,
            source: io::Error::other("the read-ahead thread panicked"),
        })?;
        // The pipe reached its end without an error, so the producer read the whole stream.
        let (diff_id, hashed_bytes) = hashed.ok_or_else(|| ApplyError::Read {
            offset: bytes,
            source: io::Error::other("the read-ahead threads stopped early"),
        })?;
        if bytes != hashed_bytes {
            // Cannot happen: both count the same buffers. Checked rather than assumed.
            return Err(ApplyError::Read {
                offset: bytes,
                source: io::Error::other(format!(
                    "the read-ahead hashed {hashed_bytes} bytes but passed on {bytes}"
                )),
            });
        }
        Ok(ApplyStats {
            entries,
            bytes: hashed_bytes,
            diff_id,
        })
    })
}

/// Applies the tar stream read from `pipe`, then reads the stream to its end (whatever follows
/// the end-of-archive blocks, tar's record padding, is part of the diffID). Returns the number
/// of entries and the stream's length.
fn apply_entries(
    pipe: pipe::Pipe,
    target: &Dir,
    options: &ApplyOptions,
) -> Result<(u64, u64), ApplyError> {
    let mut tar = TarStream::new(pipe);
    let mut applier = Applier {
        root: target,
        options,
        added: HashSet::new(),
        dirs: Vec::new(),
        total: 0,
        parent: None,
    };
    let mut entries = 0;
    while let Some(entry) = tar.next_entry()? {
        entries += 1;
        applier.apply(&mut tar, entry)?;
    }
    applier.set_dir_times()?;
    let mut bytes = tar.position();
    let mut rest = tar.into_inner();
    loop {
        let n = match rest.fill_buf() {
            Ok(data) => data.len(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(ApplyError::Read {
                    offset: bytes,
                    source,
                })
            }
        };
        if n == 0 {
            return Ok((entries, bytes));
        }
        rest.consume(n);
        bytes += n as u64;
    }
}

/// Applies the layer archive at `layer` onto the directory `target` (both opened here).
pub fn apply_layer_path(
    layer: &Path,
    target: &Path,
    options: &ApplyOptions,
) -> Result<ApplyStats, ApplyError> {
    fn open(path: &Path) -> impl FnOnce(io::Error) -> ApplyError + '_ {
        move |source| ApplyError::Open {
            path: path.to_owned(),
            source,
        }
    }
    let file = std::fs::File::open(layer).map_err(open(layer))?;
    let dir = Dir::open_ambient_dir(target, cap_std::ambient_authority()).map_err(open(target))?;
    apply_layer(
        io::BufReader::with_capacity(256 * 1024, file),
        &dir,
        options,
    )
}

/// Splits a path into components, dropping empty and `.` ones and resolving `..` lexically.
fn normalize(path: &[u8]) -> Result<Vec<&[u8]>, Refusal> {
    if path.is_empty() {
        return Err(Refusal::EmptyName);
    }
    if path.contains(&0) {
        return Err(Refusal::NulInName);
    }
    let mut out = Vec::new();
    for comp in path.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(Refusal::ClimbsAboveRoot);
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

/// Whether `path` is `join(comps)`, without building it.
fn is_path_of(path: &[u8], comps: &[&[u8]]) -> bool {
    let mut rest = path;
    for (i, comp) in comps.iter().enumerate() {
        if i > 0 {
            match rest.split_first() {
                Some((b'/', after)) => rest = after,
                _ => return false,
            }
        }
        match rest.strip_prefix(*comp) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    rest.is_empty()
}

fn os(name: &[u8]) -> &OsStr {
    OsStr::from_bytes(name)
}

const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const WHITEOUT_META: &[u8] = b".wh..wh.";

/// Directory flags for every handle we open.
fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

/// Opens `path` (relative, no `..` above it) as a directory beneath `root`, resolving symlinks
/// as if `root` were `/`.
fn open_in_root(root: &Dir, path: &[u8]) -> io::Result<OwnedFd> {
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(
            root,
            path,
            dir_flags(),
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            // EAGAIN: a concurrent rename raced the lookup; the kernel asks us to retry.
            Err(Errno::AGAIN | Errno::INTR) if tries < 16 => tries += 1,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// `statat(dirfd, name, AT_SYMLINK_NOFOLLOW)`, `None` if it does not exist.
fn lstat_at(dirfd: impl AsFd, name: &[u8]) -> io::Result<Option<rustix::fs::Stat>> {
    match rustix::fs::statat(dirfd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn is_dir(st: &rustix::fs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

fn timestamps(t: Time) -> Timestamps {
    let spec = Timespec {
        tv_sec: t.secs,
        tv_nsec: i64::from(t.nanos),
    };
    Timestamps {
        last_access: spec,
        last_modification: spec,
    }
}

struct Applier<'a> {
    root: &'a Dir,
    options: &'a ApplyOptions,
    /// Normalized paths of every entry this layer added (kept by opaque whiteouts).
    added: HashSet<Vec<u8>>,
    /// Directory entries and their mtimes, set once all entries are in.
    dirs: Vec<(Vec<u8>, Time)>,
    /// File contents so far.
    total: u64,
    /// The last entry's parent directory: its normalized path and a handle on it. Valid only
    /// while nothing could have changed what that path resolves to (see [`Applier::apply`]).
    parent: Option<(Vec<u8>, OwnedFd)>,
}

/// The error for an entry refused for `reason`.
fn refused(entry: &str, reason: Refusal) -> ApplyError {
    ApplyError::Refused {
        entry: entry.to_owned(),
        reason,
    }
}

/// Runs `create` for `name` in `parent`; when something is already there (`EEXIST`), removes
/// it, never following a symlink, and runs `create` once more. Returns what `create` gave and
/// whether something was removed.
fn create_or_replace<T>(
    entry: &str,
    parent: &OwnedFd,
    name: &[u8],
    what: &'static str,
    create: impl Fn() -> rustix::io::Result<T>,
) -> Result<(T, bool), ApplyError> {
    match create() {
        Err(Errno::EXIST) => {
            Applier::remove(parent, name).map_err(io_err(entry, "removing the old entry"))?;
            create().map(|made| (made, true))
        }
        other => other.map(|made| (made, false)),
    }
    .map_err(|err| io_err(entry, what)(err.into()))
}

/// Builds the error-mapping closure for an I/O step of an entry.
fn io_err<'e>(entry: &'e str, op: &'static str) -> impl FnOnce(io::Error) -> ApplyError + 'e {
    move |source| ApplyError::Io {
        entry: entry.to_owned(),
        op,
        source,
    }
}

impl Applier<'_> {
    /// Opens (creating missing components, mode 0755) the directory `comps` beneath the root.
    fn dir(&self, comps: &[&[u8]], create: bool) -> io::Result<OwnedFd> {
        if comps.is_empty() {
            return rustix::fs::openat(self.root, ".", dir_flags(), Mode::empty())
                .map_err(io::Error::from);
        }
        match open_in_root(self.root, &join(comps)) {
            Err(e) if create && e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {}
            other => return other,
        }
        // Find the first missing component, then create it and everything after it.
        let mut fd = rustix::fs::openat(self.root, ".", dir_flags(), Mode::empty())?;
        let mut creating = false;
        for (i, comp) in comps.iter().enumerate() {
            if !creating {
                match open_in_root(self.root, &join(&comps[..=i])) {
                    Ok(next) => {
                        fd = next;
                        continue;
                    }
                    Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {
                        creating = true;
                    }
                    Err(e) => return Err(e),
                }
            }
            // `fd` is the resolved parent; a dangling symlink here fails with EEXIST.
            match rustix::fs::mkdirat(&fd, *comp, Mode::from_raw_mode(0o755)) {
                Ok(()) => {}
                Err(Errno::EXIST) => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotADirectory,
                        format!(
                            "{:?} is a symlink that does not lead to a directory inside the target",
                            lossy(&join(&comps[..=i]))
                        ),
                    ))
                }
                Err(e) => return Err(e.into()),
            }
            let next =
                rustix::fs::openat(&fd, *comp, dir_flags() | OFlags::NOFOLLOW, Mode::empty())?;
            rustix::fs::fchmod(&next, Mode::from_raw_mode(0o755))?;
            fd = next;
        }
        Ok(fd)
    }

    /// Removes whatever is at `name` in `parent` (a directory with its tree), never following
    /// a symlink. Returns whether something was there.
    fn remove(parent: &OwnedFd, name: &[u8]) -> io::Result<bool> {
        let Some(st) = lstat_at(parent, name)? else {
            return Ok(false);
        };
        if is_dir(&st) {
            let dir = Dir::from(parent.try_clone()?);
            dir.remove_dir_all(os(name))?;
        } else {
            rustix::fs::unlinkat(parent, name, AtFlags::empty())?;
        }
        Ok(true)
    }

    fn check_xattrs(&self, entry: &str, e: &Entry) -> Result<(), ApplyError> {
        for name in e.xattrs.keys() {
            if name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.") {
                return Err(ApplyError::Refused {
                    entry: entry.to_owned(),
                    reason: Refusal::OverlayXattr { name: lossy(name) },
                });
            }
        }
        Ok(())
    }

    /// Sets `e`'s xattrs with `set`, skipping the ones the filesystem or privileges refuse.
    fn set_xattrs(
        &self,
        entry: &str,
        e: &Entry,
        mut set: impl FnMut(&[u8], &[u8]) -> rustix::io::Result<()>,
    ) -> Result<(), ApplyError> {
        if !self.options.xattrs {
            return Ok(());
        }
        for (name, value) in &e.xattrs {
            match set(name, value) {
                Ok(()) => {}
                Err(err @ (Errno::OPNOTSUPP | Errno::PERM)) => tracing::warn!(
                    entry,
                    xattr = %lossy(name),
                    error = %err,
                    "extended attribute not set"
                ),
                Err(err) => return Err(io_err(entry, "setting an extended attribute")(err.into())),
            }
        }
        Ok(())
    }

    /// Sets owner, mode, xattrs and (unless `defer_time`) mtime through an open fd.
    fn finish_fd(
        &self,
        entry: &str,
        e: &Entry,
        fd: &OwnedFd,
        set_time: bool,
    ) -> Result<(), ApplyError> {
        if self.options.same_owner {
            rustix::fs::fchown(
                fd,
                Some(rustix::fs::Uid::from_raw(e.uid)),
                Some(rustix::fs::Gid::from_raw(e.gid)),
            )
            .map_err(|err| io_err(entry, "changing owner")(err.into()))?;
        }
        // After chown, which clears setuid/setgid.
        rustix::fs::fchmod(fd, Mode::from_raw_mode(e.mode))
            .map_err(|err| io_err(entry, "changing mode")(err.into()))?;
        self.set_xattrs(entry, e, |name, value| {
            rustix::fs::fsetxattr(fd, name, value, rustix::fs::XattrFlags::empty())
        })?;
        if set_time {
            rustix::fs::futimens(fd, &timestamps(e.mtime))
                .map_err(|err| io_err(entry, "setting times")(err.into()))?;
        }
        Ok(())
    }

    /// Sets owner, xattrs and mtime of `name` in `parent` without following it (symlinks,
    /// fifos, devices), and its mode unless it is a symlink.
    fn finish_at(
        &self,
        entry: &str,
        e: &Entry,
        parent: &OwnedFd,
        name: &[u8],
    ) -> Result<(), ApplyError> {
        if self.options.same_owner {
            rustix::fs::chownat(
                parent,
                name,
                Some(rustix::fs::Uid::from_raw(e.uid)),
                Some(rustix::fs::Gid::from_raw(e.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|err| io_err(entry, "changing owner")(err.into()))?;
        }
        // The node as seen through /proc: `parent` is our handle beneath the root and `name`
        // one component, which the l* calls below do not follow.
        let mut proc_path = format!("/proc/self/fd/{}/", parent.as_raw_fd()).into_bytes();
        proc_path.extend_from_slice(name);
        if e.kind != Kind::Symlink {
            // chmod through an O_PATH handle of the node itself: never opens a device or fifo
            // and never follows a symlink swapped in.
            let node = rustix::fs::openat(
                parent,
                name,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|err| io_err(entry, "opening")(err.into()))?;
            let node_path = format!("/proc/self/fd/{}", node.as_raw_fd());
            rustix::fs::chmod(node_path.as_str(), Mode::from_raw_mode(e.mode))
                .map_err(|err| io_err(entry, "changing mode")(err.into()))?;
        }
        self.set_xattrs(entry, e, |xname, value| {
            rustix::fs::lsetxattr(
                &proc_path[..],
                xname,
                value,
                rustix::fs::XattrFlags::empty(),
            )
        })?;
        rustix::fs::utimensat(
            parent,
            name,
            &timestamps(e.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|err| io_err(entry, "setting times")(err.into()))?;
        Ok(())
    }

    /// The directory `comps` beneath the root (created if missing), with its normalized path:
    /// the cached handle if it is that directory's, otherwise a newly opened one.
    fn take_parent(&mut self, comps: &[&[u8]]) -> io::Result<(Vec<u8>, OwnedFd)> {
        if let Some((path, fd)) = self.parent.take() {
            if is_path_of(&path, comps) {
                return Ok((path, fd));
            }
        }
        let fd = self.dir(comps, true)?;
        Ok((join(comps), fd))
    }

    /// Applies one entry.
    ///
    /// Directory handles are kept for the next entry (most often in the same directory) only
    /// while they are what resolving their path beneath the root would give now:
    ///
    /// * the parent's handle, when this entry created a non-directory where nothing was
    ///   (adding a name to a directory cannot change what an existing path resolves to);
    /// * a directory entry's own handle, opened (without following) once the entry is in
    ///   place.
    ///
    /// Any other entry drops the kept handle: one that removes or replaces something, and
    /// whiteouts; so does an error.
    fn apply<R: BufRead>(&mut self, tar: &mut TarStream<R>, e: Entry) -> Result<(), ApplyError> {
        let entry = lossy(&e.path);
        let comps = normalize(&e.path).map_err(|reason| refused(&entry, reason))?;
        self.check_xattrs(&entry, &e)?;
        let Some((&name, parent_comps)) = comps.split_last() else {
            self.parent = None;
            return self.apply_root(&entry, &e);
        };

        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            self.parent = None;
            return self.whiteout(&entry, &e, parent_comps, name, hidden);
        }

        let (parent_path, parent) = self
            .take_parent(parent_comps)
            .map_err(io_err(&entry, "opening the parent directory"))?;
        // Whether something was at `name` and got removed or replaced, and the directory
        // handle to keep for the next entry.
        let (replaced, keep) = match e.kind {
            Kind::Dir => {
                let (replaced, fd) = self.apply_dir(&entry, &e, &parent, name)?;
                let path = join(&comps);
                self.dirs.push((path.clone(), e.mtime));
                (replaced, Some((path, fd)))
            }
            Kind::Regular => (self.apply_file(&entry, &e, tar, &parent, name)?, None),
            Kind::Symlink => (self.apply_symlink(&entry, &e, &parent, name)?, None),
            Kind::HardLink => (self.hard_link(&entry, &e, &parent, name)?, None),
            Kind::Char | Kind::Block | Kind::Fifo => {
                (self.apply_node(&entry, &e, &parent, name)?, None)
            }
        };
        self.parent = keep.or_else(|| (!replaced).then_some((parent_path, parent)));
        self.mark_added(&comps);
        Ok(())
    }

    /// The root itself: only a directory entry, which sets the root's metadata.
    fn apply_root(&mut self, entry: &str, e: &Entry) -> Result<(), ApplyError> {
        if e.kind != Kind::Dir {
            return Err(refused(entry, Refusal::ReplacesRoot));
        }
        let fd = self
            .dir(&[], false)
            .map_err(io_err(entry, "opening the root"))?;
        self.finish_fd(entry, e, &fd, false)?;
        self.dirs.push((Vec::new(), e.mtime));
        Ok(())
    }

    /// A directory entry: creates `name` in `parent` (replacing a non-directory there; an
    /// existing directory only gets the entry's metadata). Returns whether something was
    /// replaced, and the directory's handle, opened without following.
    fn apply_dir(
        &self,
        entry: &str,
        e: &Entry,
        parent: &OwnedFd,
        name: &[u8],
    ) -> Result<(bool, OwnedFd), ApplyError> {
        let mut replaced = false;
        match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let existing = lstat_at(parent, name).map_err(io_err(entry, "inspecting"))?;
                if !existing.as_ref().is_some_and(is_dir) {
                    replaced = true;
                    Self::remove(parent, name).map_err(io_err(entry, "removing the old entry"))?;
                    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                        .map_err(|err| io_err(entry, "creating the directory")(err.into()))?;
                }
            }
            Err(err) => return Err(io_err(entry, "creating the directory")(err.into())),
        }
        let fd = rustix::fs::openat(parent, name, dir_flags() | OFlags::NOFOLLOW, Mode::empty())
            .map_err(|err| io_err(entry, "opening the directory")(err.into()))?;
        self.finish_fd(entry, e, &fd, false)?;
        Ok((replaced, fd))
    }

    /// A regular file: its contents streamed from `tar` into `name` in `parent`, within
    /// [`ApplyOptions::max_total_size`]. Returns whether something was replaced.
    fn apply_file<R: BufRead>(
        &mut self,
        entry: &str,
        e: &Entry,
        tar: &mut TarStream<R>,
        parent: &OwnedFd,
        name: &[u8],
    ) -> Result<bool, ApplyError> {
        if let Some(limit) = self.options.max_total_size {
            let total = self.total.saturating_add(e.size);
            if total > limit {
                return Err(refused(entry, Refusal::TooLarge { limit }));
            }
        }
        self.total = self.total.saturating_add(e.size);
        // O_EXCL: whatever is there (a symlink included) makes it fail, and is removed.
        let (fd, replaced) = create_or_replace(entry, parent, name, "creating the file", || {
            rustix::fs::openat(
                parent,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        })?;
        let mut file = std::fs::File::from(fd);
        while let Some(chunk) = tar.data_chunk()? {
            file.write_all(chunk)
                .map_err(io_err(entry, "writing the file"))?;
        }
        let fd = OwnedFd::from(file);
        self.finish_fd(entry, e, &fd, true)?;
        Ok(replaced)
    }

    /// A symlink `name` in `parent`. Returns whether something was replaced.
    fn apply_symlink(
        &self,
        entry: &str,
        e: &Entry,
        parent: &OwnedFd,
        name: &[u8],
    ) -> Result<bool, ApplyError> {
        if e.link.contains(&0) {
            return Err(refused(entry, Refusal::NulInName));
        }
        let ((), replaced) =
            create_or_replace(entry, parent, name, "creating the symlink", || {
                rustix::fs::symlinkat(&e.link[..], parent, name)
            })?;
        self.finish_at(entry, e, parent, name)?;
        Ok(replaced)
    }

    /// A character or block device (when [`ApplyOptions::devices`]) or a fifo `name` in
    /// `parent`. Returns whether something was replaced.
    fn apply_node(
        &self,
        entry: &str,
        e: &Entry,
        parent: &OwnedFd,
        name: &[u8],
    ) -> Result<bool, ApplyError> {
        let (file_type, kind) = match e.kind {
            Kind::Char => (FileType::CharacterDevice, "character"),
            Kind::Block => (FileType::BlockDevice, "block"),
            _ => (FileType::Fifo, "fifo"),
        };
        if e.kind != Kind::Fifo && !self.options.devices {
            return Err(refused(
                entry,
                Refusal::Device {
                    kind,
                    major: e.dev_major,
                    minor: e.dev_minor,
                },
            ));
        }
        let ((), replaced) = create_or_replace(entry, parent, name, "creating the node", || {
            rustix::fs::mknodat(
                parent,
                name,
                file_type,
                Mode::from_raw_mode(0o600),
                rustix::fs::makedev(e.dev_major, e.dev_minor),
            )
        })?;
        self.finish_at(entry, e, parent, name)?;
        Ok(replaced)
    }

    /// Records `comps` and its ancestors as this layer's, so opaque whiteouts keep them (and
    /// still empty an ancestor that was only traversed of everything else).
    fn mark_added(&mut self, comps: &[&[u8]]) {
        for end in (1..=comps.len()).rev() {
            if !self.added.insert(join(&comps[..end])) {
                break; // its ancestors are in already
            }
        }
    }

    /// Links `name` in `parent` to the entry's link target; returns whether something else
    /// was at `name` (and was removed).
    fn hard_link(
        &mut self,
        entry: &str,
        e: &Entry,
        parent: &OwnedFd,
        name: &[u8],
    ) -> Result<bool, ApplyError> {
        let target = lossy(&e.link);
        let refuse = |reason| ApplyError::Refused {
            entry: entry.to_owned(),
            reason,
        };
        let tcomps = match normalize(&e.link) {
            Ok(c) => c,
            Err(Refusal::ClimbsAboveRoot) => {
                return Err(refuse(Refusal::LinkClimbsAboveRoot { target }))
            }
            Err(Refusal::EmptyName) => return Err(refuse(Refusal::LinkTargetMissing { target })),
            Err(other) => return Err(refuse(other)),
        };
        let Some((&tname, tparent_comps)) = tcomps.split_last() else {
            return Err(refuse(Refusal::LinkToDirectory { target }));
        };
        let tparent = match self.dir(tparent_comps, false) {
            Ok(fd) => fd,
            Err(err) if err.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {
                return Err(refuse(Refusal::LinkTargetMissing { target }))
            }
            Err(err) => return Err(io_err(entry, "opening the link target's directory")(err)),
        };
        let tstat =
            match lstat_at(&tparent, tname).map_err(io_err(entry, "inspecting the link target"))? {
                Some(st) => st,
                None => return Err(refuse(Refusal::LinkTargetMissing { target })),
            };
        if is_dir(&tstat) {
            return Err(refuse(Refusal::LinkToDirectory { target }));
        }
        let mut replaced = false;
        if let Some(st) = lstat_at(parent, name).map_err(io_err(entry, "inspecting"))? {
            if st.st_dev == tstat.st_dev && st.st_ino == tstat.st_ino {
                return Ok(false); // already this very inode
            }
            Self::remove(parent, name).map_err(io_err(entry, "removing the old entry"))?;
            replaced = true;
        }
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
        rustix::fs::linkat(&tparent, tname, parent, name, AtFlags::empty())
            .map_err(|err| io_err(entry, "creating the hard link")(err.into()))?;
        Ok(replaced)
    }

    fn whiteout(
        &mut self,
        entry: &str,
        e: &Entry,
        parent_comps: &[&[u8]],
        name: &[u8],
        hidden: &[u8],
    ) -> Result<(), ApplyError> {
        let refuse = |reason| ApplyError::Refused {
            entry: entry.to_owned(),
            reason,
        };
        let overlay = self.options.whiteouts == WhiteoutMode::Overlay;
        if name == OPAQUE {
            let dir = self
                .dir(parent_comps, true)
                .map_err(io_err(entry, "opening the opaque directory"))?;
            if overlay {
                rustix::fs::fsetxattr(
                    &dir,
                    "trusted.overlay.opaque",
                    b"y",
                    rustix::fs::XattrFlags::empty(),
                )
                .map_err(|err| io_err(entry, "marking the directory opaque")(err.into()))?;
            } else {
                self.empty_dir(entry, join(parent_comps))?;
            }
            return Ok(());
        }
        if name.starts_with(WHITEOUT_META) {
            tracing::debug!(entry, "skipping whiteout metadata entry");
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(refuse(Refusal::InvalidWhiteout));
        }
        let parent = self
            .dir(parent_comps, true)
            .map_err(io_err(entry, "opening the parent directory"))?;
        Self::remove(&parent, hidden).map_err(io_err(entry, "removing the whited-out entry"))?;
        if overlay {
            rustix::fs::mknodat(&parent, hidden, FileType::CharacterDevice, Mode::empty(), 0)
                .map_err(|err| io_err(entry, "creating the whiteout device")(err.into()))?;
            if self.options.same_owner {
                rustix::fs::chownat(
                    &parent,
                    hidden,
                    Some(rustix::fs::Uid::from_raw(e.uid)),
                    Some(rustix::fs::Gid::from_raw(e.gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|err| io_err(entry, "changing owner")(err.into()))?;
            }
            let mut path = parent_comps.to_vec();
            path.push(hidden);
            self.mark_added(&path);
        }
        Ok(())
    }

    /// Removes everything below the directory `path` that this layer did not add.
    fn empty_dir(&self, entry: &str, path: Vec<u8>) -> Result<(), ApplyError> {
        // Work list of directories (paths, not handles: deep trees must not exhaust fds).
        let mut todo = vec![path];
        while let Some(path) = todo.pop() {
            let comps: Vec<&[u8]> = path
                .split(|b| *b == b'/')
                .filter(|c| !c.is_empty())
                .collect();
            let fd = self
                .dir(&comps, false)
                .map_err(io_err(entry, "opening the opaque directory"))?;
            let dir = Dir::from(
                fd.try_clone()
                    .map_err(io_err(entry, "opening the opaque directory"))?,
            );
            let names: Vec<Vec<u8>> = dir
                .entries()
                .and_then(|it| {
                    it.map(|d| d.map(|d| d.file_name().as_bytes().to_vec()))
                        .collect()
                })
                .map_err(io_err(entry, "reading the opaque directory"))?;
            for child in names {
                let mut child_path = path.clone();
                if !child_path.is_empty() {
                    child_path.push(b'/');
                }
                child_path.extend_from_slice(&child);
                if self.added.contains(&child_path) {
                    let st = lstat_at(&fd, &child).map_err(io_err(entry, "inspecting"))?;
                    if st.as_ref().is_some_and(is_dir) {
                        todo.push(child_path);
                    }
                } else {
                    Self::remove(&fd, &child).map_err(io_err(entry, "removing a hidden entry"))?;
                }
            }
        }
        Ok(())
    }

    /// Sets the directories' mtimes, now that nothing more is added to them.
    fn set_dir_times(&self) -> Result<(), ApplyError> {
        for (path, time) in &self.dirs {
            let entry = lossy(path);
            let comps: Vec<&[u8]> = path
                .split(|b| *b == b'/')
                .filter(|c| !c.is_empty())
                .collect();
            let Some((&name, parent_comps)) = comps.split_last() else {
                let fd = self
                    .dir(&[], false)
                    .map_err(io_err(&entry, "opening the root"))?;
                rustix::fs::futimens(&fd, &timestamps(*time))
                    .map_err(|err| io_err(&entry, "setting times")(err.into()))?;
                continue;
            };
            // A later entry may have replaced or removed it.
            let parent = match self.dir(parent_comps, false) {
                Ok(fd) => fd,
                Err(err) if err.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => continue,
                Err(err) => return Err(io_err(&entry, "opening the parent directory")(err)),
            };
            let st = lstat_at(&parent, name).map_err(io_err(&entry, "inspecting"))?;
            if st.as_ref().is_some_and(is_dir) {
                rustix::fs::utimensat(&parent, name, &timestamps(*time), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|err| io_err(&entry, "setting times")(err.into()))?;
            }
        }
        Ok(())
    }
}
