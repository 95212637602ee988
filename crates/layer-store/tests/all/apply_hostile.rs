//! Hostile layer archives: whatever they try, nothing outside the target may change.
//!
//! Every case builds a sandbox holding `target/` and a sibling `outside/` (with
//! `outside/victim`), snapshots the whole sandbox except `target/` (paths, types, contents,
//! modes, owners, link counts, mtimes, symlink targets, xattrs), applies the archive, and
//! compares.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::support::raw_tar::{compress, Hdr, RawTar};
use crate::support::{is_root, with_causes};
use boxwright_layer_store::Compression;
use boxwright_layer_store::{
    apply_layer, ApplyError, ApplyOptions, ApplyStats, Refusal, WhiteoutMode, MAX_EXTENSION_HEADER,
};
use cap_std::fs::Dir;

struct Sandbox {
    dir: tempfile::TempDir,
}

type Snapshot = BTreeMap<PathBuf, String>;

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("target")).unwrap();
        fs::create_dir_all(root.join("outside/sub")).unwrap();
        fs::write(root.join("outside/victim"), b"victim: do not touch").unwrap();
        fs::set_permissions(
            root.join("outside/victim"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        fs::write(root.join("outside/sub/file"), b"nested").unwrap();
        std::os::unix::fs::symlink("victim", root.join("outside/alias")).unwrap();
        Sandbox { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn target(&self) -> PathBuf {
        self.root().join("target")
    }

    fn outside(&self) -> PathBuf {
        self.root().join("outside")
    }

    /// Everything in the sandbox but the target (whose own metadata an archive may set).
    fn snapshot(&self) -> Snapshot {
        let mut out = BTreeMap::new();
        walk(self.root(), self.root(), &self.target(), &mut out);
        out
    }

    fn apply(&self, archive: &[u8], options: &ApplyOptions) -> Result<ApplyStats, ApplyError> {
        let dir = Dir::open_ambient_dir(self.target(), cap_std::ambient_authority()).unwrap();
        apply_layer(archive, &dir, options)
    }

    /// Applies `archive` and asserts nothing outside the target changed; returns the result.
    fn run_with(&self, archive: &[u8], options: &ApplyOptions) -> Result<ApplyStats, ApplyError> {
        let before = self.snapshot();
        let result = self.apply(archive, options);
        let after = self.snapshot();
        assert_eq!(
            before, after,
            "something outside the target changed ({result:?})"
        );
        assert_eq!(
            fs::read(self.outside().join("victim")).unwrap(),
            b"victim: do not touch"
        );
        result
    }

    fn run(&self, archive: &[u8]) -> Result<ApplyStats, ApplyError> {
        self.run_with(archive, &ApplyOptions::default())
    }
}

fn walk(root: &Path, path: &Path, skip: &Path, out: &mut Snapshot) {
    if path == skip {
        return;
    }
    let meta = fs::symlink_metadata(path).unwrap();
    let ft = meta.file_type();
    let what = if ft.is_symlink() {
        format!("symlink -> {:?}", fs::read_link(path).unwrap())
    } else if ft.is_file() {
        format!("file {:?}", fs::read(path).unwrap())
    } else if ft.is_dir() {
        "dir".to_owned()
    } else {
        format!("other rdev {}", meta.rdev())
    };
    let xattrs = rustix::fs::llistxattr(path, &mut [0u8; 4096][..]).unwrap_or(0);
    out.insert(
        path.strip_prefix(root).unwrap().to_owned(),
        format!(
            "{what} mode {:o} uid {} gid {} nlink {} mtime {}.{} xattr-bytes {xattrs}",
            meta.mode(),
            meta.uid(),
            meta.gid(),
            meta.nlink(),
            meta.mtime(),
            meta.mtime_nsec()
        ),
    );
    if ft.is_dir() {
        for child in fs::read_dir(path).unwrap() {
            walk(root, &child.unwrap().path(), skip, out);
        }
    }
}

fn refusal(result: Result<ApplyStats, ApplyError>) -> Refusal {
    match result {
        Err(ApplyError::Refused { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn refused_entry(result: &Result<ApplyStats, ApplyError>) -> String {
    match result {
        Err(ApplyError::Refused { entry, .. }) => entry.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn absolute_path_lands_inside_the_target() {
    let sb = Sandbox::new();
    let name = format!("/boxwright-hostile-abs-{}", std::process::id());
    let tar = RawTar::new().file(&name, b"abs").finish();
    sb.run(&tar).unwrap();
    assert!(!Path::new(&name).exists(), "{name} was created on the host");
    assert_eq!(fs::read(sb.target().join(&name[1..])).unwrap(), b"abs");
}

#[test]
fn dotdot_is_refused() {
    let sb = Sandbox::new();
    for name in [
        "../escape",
        "a/../../escape",
        "./../outside/victim",
        "a/b/../../../x",
    ] {
        let tar = RawTar::new().dir("a").file(name, b"pwned").finish();
        let result = sb.run(&tar);
        assert_eq!(refused_entry(&result), name);
        assert_eq!(refusal(result), Refusal::ClimbsAboveRoot, "{name}");
    }
    assert!(!sb.root().join("escape").exists());
}

#[test]
fn inner_dotdot_stays_inside() {
    let sb = Sandbox::new();
    let tar = RawTar::new().file("a/../b", b"ok").finish();
    sb.run(&tar).unwrap();
    assert_eq!(fs::read(sb.target().join("b")).unwrap(), b"ok");
}

#[test]
fn write_through_relative_symlink_out() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .symlink("link", "../outside")
        .file("link/pwned", b"pwned")
        .finish();
    // `link` resolves to TARGET/outside, which does not exist: refused, nothing written.
    let err = sb.run(&tar).unwrap_err();
    assert!(err.to_string().contains("link/pwned"), "{err}");
    assert!(
        with_causes(&err).contains("\"link\" is a symlink"),
        "{}",
        with_causes(&err)
    );
    assert!(!sb.outside().join("pwned").exists());
}

#[test]
fn write_through_absolute_symlink_out() {
    let sb = Sandbox::new();
    let outside = sb.outside();
    let tar = RawTar::new()
        .symlink("link", outside.as_os_str().as_encoded_bytes())
        .file("link/pwned", b"pwned")
        .finish();
    assert!(sb.run(&tar).is_err());
    assert!(!outside.join("pwned").exists());
    // Once the path exists inside the target, the write lands there (chroot semantics).
    let inner = sb.target().join(outside.strip_prefix("/").unwrap());
    fs::create_dir_all(&inner).unwrap();
    sb.run(&tar).unwrap();
    assert_eq!(fs::read(inner.join("pwned")).unwrap(), b"pwned");
}

#[test]
fn symlink_to_root_writes_into_the_target() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .symlink("up", "/")
        .symlink("upup", "../../../..")
        .file("up/a", b"a")
        .file("upup/b", b"b")
        .finish();
    sb.run(&tar).unwrap();
    assert_eq!(fs::read(sb.target().join("a")).unwrap(), b"a");
    assert_eq!(fs::read(sb.target().join("b")).unwrap(), b"b");
}

#[test]
fn symlink_chain_out() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .symlink("a", "b")
        .symlink("b", "../outside")
        .file("a/pwned", b"pwned")
        .finish();
    assert!(sb.run(&tar).is_err());
    let tar = RawTar::new()
        .symlink("c", "d/../../outside/sub")
        .file("c/file", b"pwned")
        .finish();
    assert!(sb.run(&tar).is_err());
}

#[test]
fn hard_link_out_is_refused() {
    let sb = Sandbox::new();
    let tar = RawTar::new().hardlink("h", "../outside/victim").finish();
    assert!(matches!(
        refusal(sb.run(&tar)),
        Refusal::LinkClimbsAboveRoot { .. }
    ));
    // An absolute target is resolved inside the target, where it does not exist.
    let abs = sb.outside().join("victim");
    let tar = RawTar::new()
        .hardlink("h", abs.as_os_str().as_encoded_bytes())
        .finish();
    assert!(matches!(
        refusal(sb.run(&tar)),
        Refusal::LinkTargetMissing { .. }
    ));
    // A target reached through a symlinked directory is resolved inside the target too.
    let tar = RawTar::new()
        .symlink("out", "../outside")
        .hardlink("h", "out/victim")
        .finish();
    assert!(matches!(
        refusal(sb.run(&tar)),
        Refusal::LinkTargetMissing { .. }
    ));
}

#[test]
fn hard_link_to_outward_symlink_then_write() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .symlink("s", "../outside/victim")
        .hardlink("h", "s")
        .file("h", b"pwned through h")
        .file("s", b"pwned through s")
        .finish();
    sb.run(&tar).unwrap();
    assert_eq!(fs::read(sb.target().join("h")).unwrap(), b"pwned through h");
    assert_eq!(fs::read(sb.target().join("s")).unwrap(), b"pwned through s");
}

#[test]
fn hard_link_to_directory_is_refused() {
    let sb = Sandbox::new();
    let tar = RawTar::new().dir("d").hardlink("h", "d").finish();
    assert!(matches!(
        refusal(sb.run(&tar)),
        Refusal::LinkToDirectory { .. }
    ));
    let tar = RawTar::new().hardlink("h", "./").finish();
    assert!(matches!(
        refusal(sb.run(&tar)),
        Refusal::LinkToDirectory { .. }
    ));
}

#[test]
fn directory_replaced_by_symlink_then_written_under() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .dir("d")
        .file("d/inner", b"x")
        .symlink("d", "../outside")
        .file("d/pwned", b"pwned")
        .finish();
    assert!(sb.run(&tar).is_err());
    assert!(fs::symlink_metadata(sb.target().join("d"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn whiteouts_cannot_reach_outside() {
    let sb = Sandbox::new();
    let tar = RawTar::new().file(".wh...", b"").finish();
    assert_eq!(refusal(sb.run(&tar)), Refusal::InvalidWhiteout);
    let tar = RawTar::new().file("../.wh.victim", b"").finish();
    assert_eq!(refusal(sb.run(&tar)), Refusal::ClimbsAboveRoot);
    let tar = RawTar::new().file("../outside/.wh.victim", b"").finish();
    assert_eq!(refusal(sb.run(&tar)), Refusal::ClimbsAboveRoot);
    let tar = RawTar::new()
        .symlink("out", "../outside")
        .file("out/.wh.victim", b"")
        .finish();
    assert!(sb.run(&tar).is_err());
    // A whiteout of a symlink removes the symlink, not what it points to.
    std::os::unix::fs::symlink("../outside/victim", sb.target().join("v")).unwrap();
    let tar = RawTar::new().file(".wh.v", b"").finish();
    sb.run(&tar).unwrap();
    assert!(fs::symlink_metadata(sb.target().join("v")).is_err());
}

#[test]
fn opaque_whiteout_in_symlinked_dir() {
    let sb = Sandbox::new();
    let abs = sb.outside();
    for target in [&b"../outside"[..], abs.as_os_str().as_encoded_bytes()] {
        for mode in [WhiteoutMode::Apply, WhiteoutMode::Overlay] {
            let tar = RawTar::new()
                .symlink("s", target)
                .file("s/.wh..wh..opq", b"")
                .finish();
            let options = ApplyOptions::default().with_whiteouts(mode);
            assert!(sb.run_with(&tar, &options).is_err(), "{mode:?}");
        }
    }
    // A pre-existing symlinked directory in the target (a lower layer's) is no better.
    std::os::unix::fs::symlink(&abs, sb.target().join("lower")).unwrap();
    let tar = RawTar::new().file("lower/.wh..wh..opq", b"").finish();
    assert!(sb.run(&tar).is_err());
    // ... and an opaque whiteout of the root only empties the target.
    let tar = RawTar::new().file(".wh..wh..opq", b"").finish();
    sb.run(&tar).unwrap();
    assert_eq!(fs::read_dir(sb.target()).unwrap().count(), 0);
}

#[test]
fn device_nodes_are_refused_by_default() {
    let sb = Sandbox::new();
    for (kind, name) in [(b'3', "dev/null"), (b'4', "dev/sda")] {
        let mut h = Hdr::new(name, kind);
        h.major = 8;
        h.minor = 0;
        let tar = RawTar::new().entry(&h, b"").finish();
        let result = sb.run(&tar);
        assert_eq!(refused_entry(&result), name);
        assert!(matches!(
            refusal(result),
            Refusal::Device {
                major: 8,
                minor: 0,
                ..
            }
        ));
        assert!(fs::symlink_metadata(sb.target().join(name)).is_err());
    }
    // Fifos are fine.
    let tar = RawTar::new().entry(&Hdr::new("fifo", b'6'), b"").finish();
    sb.run(&tar).unwrap();
}

#[test]
fn absurd_sizes_fail_without_allocating() {
    let sb = Sandbox::new();
    // 8 EiB in base-256: the stream ends long before.
    let mut h = Hdr::new("huge", b'0').block();
    h[124..136].fill(0);
    h[124] = 0x80;
    h[128] = 0x80; // 2^63 bytes
    crate::support::raw_tar::set_checksum(&mut h);
    let mut tar = RawTar::new();
    tar.bytes.extend_from_slice(&h);
    tar.bytes.extend_from_slice(&[7; 4096]);
    assert!(matches!(
        sb.run(&tar.bytes),
        Err(ApplyError::Truncated { .. })
    ));
    // The same with a limit is refused before anything is written.
    let options = ApplyOptions::default().with_max_total_size(Some(1 << 30));
    let result = sb.run_with(&tar.bytes, &options);
    assert!(matches!(refusal(result), Refusal::TooLarge { .. }));
    // Beyond u64 in base-256.
    let mut h = Hdr::new("huger", b'0').block();
    h[124..136].fill(0xff);
    h[124] = 0x80;
    crate::support::raw_tar::set_checksum(&mut h);
    assert!(matches!(sb.run(&h), Err(ApplyError::Malformed { .. })));
    // The largest octal size.
    let mut h = Hdr::new("octal", b'0').block();
    h[124..136].copy_from_slice(b"77777777777\0");
    crate::support::raw_tar::set_checksum(&mut h);
    assert!(matches!(sb.run(&h), Err(ApplyError::Truncated { .. })));
}

#[test]
fn huge_extension_headers_are_refused_before_reading() {
    let sb = Sandbox::new();
    for kind in [b'x', b'g', b'L', b'K'] {
        let mut h = Hdr::new("ext", kind);
        h.size = (8 << 30) - 1; // claims 8 GiB; the stream has none of it
        let mut tar = RawTar::new();
        tar.bytes.extend_from_slice(&h.block());
        let result = sb.run(&tar.bytes);
        assert!(
            matches!(
                refusal(result),
                Refusal::ExtensionTooLarge { size, limit, .. } if size == (8 << 30) - 1 && limit == MAX_EXTENSION_HEADER
            ),
            "{}",
            kind as char
        );
    }
    // A PAX `size` record claiming 10 TB for a file: streamed, so the short stream just ends.
    let tar = RawTar::new()
        .pax(&[(b"size", b"10000000000000")])
        .file("big", b"")
        .finish();
    assert!(matches!(sb.run(&tar), Err(ApplyError::Truncated { .. })));
    let tar = RawTar::new()
        .pax(&[(b"size", b"99999999999999999999999")])
        .file("big", b"")
        .finish();
    assert!(matches!(sb.run(&tar), Err(ApplyError::Malformed { .. })));
}

#[test]
fn truncated_archives_error_clearly() {
    let sb = Sandbox::new();
    let full = RawTar::new().file("f", &[1; 3000]).finish();
    for cut in [100, 512, 1500, 512 + 3072] {
        let err = sb.run(&full[..cut]).unwrap_err();
        assert!(
            matches!(err, ApplyError::Truncated { .. }),
            "cut at {cut}: {err}"
        );
    }
    let err = sb.run(&full[..1500]).unwrap_err();
    assert!(err.to_string().contains("\"f\""), "{err}");
}

#[test]
fn nul_and_empty_names_are_refused() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .pax(&[(b"path", b"a\0b")])
        .file("placeholder", b"x")
        .finish();
    assert_eq!(refusal(sb.run(&tar)), Refusal::NulInName);
    let tar = RawTar::new().file("", b"x").finish();
    assert_eq!(refusal(sb.run(&tar)), Refusal::EmptyName);
    let tar = RawTar::new()
        .pax(&[(b"linkpath", b"../outside\0/x")])
        .symlink("l", "placeholder")
        .finish();
    assert_eq!(refusal(sb.run(&tar)), Refusal::NulInName);
}

#[test]
fn setuid_file_is_only_data() {
    let sb = Sandbox::new();
    let mut h = Hdr::new("bin/su", b'0');
    h.mode = 0o4755;
    let tar = RawTar::new().entry(&h, b"#!/bin/false\n").finish();
    sb.run(&tar).unwrap();
    let meta = fs::metadata(sb.target().join("bin/su")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o4755);
}

#[test]
fn file_over_existing_outward_symlink_replaces_it() {
    let sb = Sandbox::new();
    std::os::unix::fs::symlink("../outside/victim", sb.target().join("rel")).unwrap();
    std::os::unix::fs::symlink(sb.outside().join("victim"), sb.target().join("abs")).unwrap();
    std::os::unix::fs::symlink("../outside", sb.target().join("dir")).unwrap();
    let mut chmod = Hdr::new("dir", b'5');
    chmod.mode = 0o777;
    let mut fifo = Hdr::new("fifo", b'6');
    fifo.mode = 0o666;
    std::os::unix::fs::symlink("../outside/victim", sb.target().join("fifo")).unwrap();
    let tar = RawTar::new()
        .file("rel", b"pwned")
        .file("abs", b"pwned")
        .entry(&chmod, b"")
        .entry(&fifo, b"")
        .finish();
    sb.run(&tar).unwrap();
    assert_eq!(fs::read(sb.target().join("rel")).unwrap(), b"pwned");
    assert_eq!(fs::read(sb.target().join("abs")).unwrap(), b"pwned");
    assert!(fs::symlink_metadata(sb.target().join("dir"))
        .unwrap()
        .is_dir());
}

#[test]
fn overlay_xattrs_in_the_archive_are_refused() {
    let sb = Sandbox::new();
    for mode in [WhiteoutMode::Apply, WhiteoutMode::Overlay] {
        let tar = RawTar::new()
            .pax(&[(b"SCHILY.xattr.trusted.overlay.opaque", b"y")])
            .dir("d")
            .finish();
        let options = ApplyOptions::default().with_whiteouts(mode);
        assert!(matches!(
            refusal(sb.run_with(&tar, &options)),
            Refusal::OverlayXattr { .. }
        ));
    }
}

#[test]
fn root_cannot_be_replaced() {
    let sb = Sandbox::new();
    for name in ["./", "/", "."] {
        let tar = RawTar::new().file(name, b"x").finish();
        assert_eq!(refusal(sb.run(&tar)), Refusal::ReplacesRoot);
        let tar = RawTar::new().symlink(name, "../outside").finish();
        assert_eq!(refusal(sb.run(&tar)), Refusal::ReplacesRoot);
    }
}

#[test]
fn compressed_hostile_archives_are_refused_alike() {
    let tar = RawTar::new()
        .symlink("link", "../outside")
        .file("link/pwned", b"pwned")
        .file("../escape", b"pwned")
        .finish();
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let sb = Sandbox::new();
        let blob = compress(&tar, compression);
        assert!(sb.run(&blob).is_err(), "{compression:?}");
        let tar2 = RawTar::new().file("../escape", b"pwned").finish();
        let blob = compress(&tar2, compression);
        assert_eq!(refusal(sb.run(&blob)), Refusal::ClimbsAboveRoot);
        // Truncating the compressed stream is an error too.
        let blob = compress(
            &RawTar::new().file("f", &[9; 100_000]).finish(),
            compression,
        );
        assert!(sb.run(&blob[..blob.len() / 2]).is_err(), "{compression:?}");
    }
}

#[test]
fn devices_when_enabled_stay_inside() {
    if !is_root() {
        eprintln!("skipping: creating device nodes needs root");
        return;
    }
    let sb = Sandbox::new();
    let mut h = Hdr::new("../outside/null", b'3');
    h.major = 1;
    h.minor = 3;
    let options = ApplyOptions::default().with_devices(true);
    let tar = RawTar::new().entry(&h, b"").finish();
    assert_eq!(
        refusal(sb.run_with(&tar, &options)),
        Refusal::ClimbsAboveRoot
    );
    h.name = b"dev/null".to_vec();
    std::fs::create_dir(sb.target().join("dev")).unwrap();
    std::os::unix::fs::symlink("../../outside/victim", sb.target().join("dev/null")).unwrap();
    let tar = RawTar::new().entry(&h, b"").finish();
    sb.run_with(&tar, &options).unwrap();
    let meta = fs::symlink_metadata(sb.target().join("dev/null")).unwrap();
    assert_eq!(meta.rdev(), rustix::fs::makedev(1, 3));
}
