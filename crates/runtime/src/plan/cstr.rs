//! C strings (and Unix socket paths) built from Rust text and paths, with typed errors.

use std::ffi::CString;
use std::path::Path;

use crate::error::Error;

/// A C string from Rust text; an interior NUL is an error naming the value.
pub(crate) fn cstring(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::NulByte {
        value: s.to_owned(),
    })
}

/// A path to the Unix socket `dir/name` that fits `sun_path`: its own, or (when that is too
/// long) the same through `/proc/self/fd/N/` of a descriptor of `dir`, to keep open while the
/// path is used.
pub(crate) fn socket_path(
    dir: &Path,
    name: &str,
) -> Result<(std::path::PathBuf, Option<std::os::fd::OwnedFd>), Error> {
    use std::os::fd::AsRawFd;
    let path = dir.join(name);
    // sun_path holds 108 bytes with the terminating NUL.
    if path.as_os_str().len() < 108 {
        return Ok((path, None));
    }
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::io("opening", dir, e.into()))?;
    let short = format!("/proc/self/fd/{}/{name}", fd.as_raw_fd());
    Ok((short.into(), Some(fd)))
}

/// A C string from a path; an interior NUL is an error naming the path.
pub(crate) fn cpath(p: &Path) -> Result<CString, Error> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::NulByte {
        value: p.display().to_string(),
    })
}
