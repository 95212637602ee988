//! COPY/ADD flags in COPY-only builds (FROM scratch, no executor): `--exclude`, `--parents`,
//! `ADD --checksum` on a local source, symbolic `--chmod`, and `--link`; each image is
//! unpacked to check its files and modes, and rebuilt to check the cache. And a COPY's staged
//! files kept as its layer's snapshot: the same tree as unpacking the layer gives.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use boxwright_builder::{
    BuildError, BuildEvent, BuildRequest, BuildResult, Builder, DockerfileSource, LocalOnly,
    MissReason, RefuseRun,
};
use boxwright_layer_store::Store;

use crate::support::{context_dir, run_build, write_files};

/// Builds `dockerfile` in `ctx` into the store at `root`; the result and the events.
fn try_build(
    root: &Path,
    ctx: &Path,
    dockerfile: &str,
) -> (Result<BuildResult, BuildError>, Vec<BuildEvent>) {
    let builder = Builder::new(
        Store::open(root).unwrap(),
        Arc::new(RefuseRun),
        Arc::new(LocalOnly),
    );
    let request = BuildRequest::new(
        DockerfileSource::Text {
            name: "Dockerfile".into(),
            text: dockerfile.into(),
        },
        ctx,
    );
    run_build(&builder, request)
}

/// Builds and unpacks the image into a temp dir; the result, events and the unpacked tree.
fn build(
    root: &Path,
    ctx: &Path,
    dockerfile: &str,
) -> (BuildResult, Vec<BuildEvent>, tempfile::TempDir) {
    let (r, events) = try_build(root, ctx, dockerfile);
    let r = r.unwrap();
    let store = Store::open(root).unwrap();
    let img = store.resolve(&r.image_id.digest()[..12]).unwrap();
    let out = tempfile::tempdir().unwrap();
    store.unpack(&img, out.path()).unwrap();
    (r, events, out)
}

/// Every regular file and link under `dir`, relative and sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p: PathBuf = e.unwrap().path();
            if p.symlink_metadata().unwrap().is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn cached(events: &[BuildEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, BuildEvent::StepCached { .. }))
        .count()
}

fn misses(events: &[BuildEvent]) -> Vec<MissReason> {
    events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::StepCacheMiss { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn exclude_drops_matches_and_keeps_excluded_files_out_of_the_key() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[
        ("src/main.js", "1"),
        ("src/debug.log", "noise"),
        ("src/lib/util.js", "2"),
        ("src/lib/trace.log", "noise"),
        ("src/keep/x.log", "kept by !"),
        ("home.txt", "t"),
        ("homer.md", "m"),
    ]);
    let df = "FROM scratch\n\
              COPY --exclude=**/*.log --exclude=!keep/*.log src/ /app/\n\
              COPY --exclude=*.txt hom* /mydir/\n";
    let (first, _, out) = build(root.path(), ctx.path(), df);
    assert_eq!(
        files(out.path()),
        [
            "app/keep/x.log",
            "app/lib/util.js",
            "app/main.js",
            "mydir/homer.md"
        ]
    );
    // A change to an excluded file keeps every step cached, and the image the same.
    std::fs::write(ctx.path().join("src/debug.log"), "more noise").unwrap();
    std::fs::write(ctx.path().join("home.txt"), "changed").unwrap();
    let (again, events, _) = build(root.path(), ctx.path(), df);
    assert_eq!(again.image_id, first.image_id);
    assert_eq!(
        cached(&events),
        2,
        "both COPYs (FROM scratch is no step event)"
    );
    // A copied file's change misses, naming it.
    std::fs::write(ctx.path().join("src/main.js"), "3").unwrap();
    let (_, events, _) = build(root.path(), ctx.path(), df);
    match misses(&events).first() {
        Some(MissReason::FilesChanged { paths, .. }) => assert_eq!(paths, &["src/main.js"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn exclude_is_in_the_key() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("a.txt", "a"), ("b.md", "b")]);
    let (one, _, out) = build(
        root.path(),
        ctx.path(),
        "FROM scratch\nCOPY --exclude=*.md . /d/\n",
    );
    assert_eq!(files(out.path()), ["d/a.txt"]);
    let (two, _, out) = build(root.path(), ctx.path(), "FROM scratch\nCOPY . /d/\n");
    assert_eq!(files(out.path()), ["d/a.txt", "d/b.md"]);
    assert_ne!(one.image_id, two.image_id);
}

#[test]
fn parents_keep_the_sources_directories_and_a_pivot_cuts_them() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[
        ("x/a.txt", "xa"),
        ("y/a.txt", "ya"),
        ("src/app/file", "f"),
        ("src/app/sub/g", "g"),
        ("deep/one/two/c.txt", "c"),
    ]);
    std::fs::set_permissions(
        ctx.path().join("deep/one"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    let df = "FROM scratch\n\
              COPY --parents ./x/a.txt ./y/a.txt /dst/\n\
              COPY --parents ./src/./app/file /pivot/\n\
              COPY --parents deep/*/two/*.txt src/./app/sub /more/\n";
    let (first, events, out) = build(root.path(), ctx.path(), df);
    assert_eq!(
        files(out.path()),
        [
            "dst/x/a.txt",
            "dst/y/a.txt",
            "more/app/sub/g",
            "more/deep/one/two/c.txt",
            "pivot/app/file"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("dst/y/a.txt")).unwrap(),
        "ya"
    );
    assert_eq!(
        mode(&out.path().join("more/deep/one")),
        0o750,
        "parents keep their modes"
    );
    let history: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::StepStarted { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(
        history
            .iter()
            .any(|t| t.starts_with("COPY --parents ./x/a.txt")),
        "{history:?}"
    );
    assert!(
        history.contains(&"COPY --parents ./src/./app/file /pivot/".to_string()),
        "the source as written: {history:?}"
    );
    // A parent directory's mode is something the layer depends on.
    std::fs::set_permissions(
        ctx.path().join("deep/one"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let (again, events, _) = build(root.path(), ctx.path(), df);
    assert_ne!(again.image_id, first.image_id);
    assert_eq!(cached(&events), 2, "the first two COPYs");
}

#[test]
fn add_checksum_on_a_local_source_is_buildkits_error() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("a.txt", "a"), ("b.txt", "b")]);
    let sha = format!("sha256:{}", "0".repeat(64));
    for (df, message) in [
        (
            format!("FROM scratch\nADD --checksum={sha} a.txt /a\n"),
            "checksum requires HTTP(S) or Git sources",
        ),
        (
            format!("FROM scratch\nADD --checksum={sha} a.txt b.txt /d/\n"),
            "checksum can't be specified for multiple sources",
        ),
    ] {
        let (r, _) = try_build(root.path(), ctx.path(), &df);
        let err = r.unwrap_err().to_string();
        assert!(err.contains(message), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }
}

#[test]
fn symbolic_chmod_applies_to_each_entrys_own_mode() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("d/run.sh", "echo"), ("d/data", "x"), ("d/sub/f", "y")]);
    let set = |p: &str, m: u32| {
        std::fs::set_permissions(ctx.path().join(p), std::fs::Permissions::from_mode(m)).unwrap()
    };
    set("d/run.sh", 0o744);
    set("d/data", 0o664);
    set("d/sub", 0o700);
    set("d/sub/f", 0o600);
    let df = "FROM scratch\n\
              COPY --chmod=go+rX,g-w d /opt/\n\
              COPY --chmod=a=r <<EOF /etc/motd\nhi\nEOF\n\
              COPY --chmod=u+x d/data /bin/data\n";
    let (_, _, out) = build(root.path(), ctx.path(), df);
    let o = out.path();
    assert_eq!(mode(&o.join("opt/run.sh")), 0o755);
    assert_eq!(mode(&o.join("opt/data")), 0o644);
    assert_eq!(mode(&o.join("opt/sub")), 0o755, "X gives directories x");
    assert_eq!(mode(&o.join("opt/sub/f")), 0o644);
    assert_eq!(mode(&o.join("etc/motd")), 0o444);
    assert_eq!(mode(&o.join("bin/data")), 0o764);
    // A malformed mode is refused with BuildKit's words.
    let (r, _) = try_build(
        root.path(),
        ctx.path(),
        "FROM scratch\nCOPY --chmod=u+q d /x/\n",
    );
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("invalid chmod parameter"));
    let (r, _) = try_build(
        root.path(),
        ctx.path(),
        "FROM scratch\nCOPY --chmod=8 d /x/\n",
    );
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("it should be octal string and between 0 and 07777"));
}

#[test]
fn exclude_and_parents_with_a_changed_unmatched_file_keep_the_cache() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("x/a.txt", "a"), ("x/b.log", "b"), ("other", "o")]);
    let df = "FROM scratch\nCOPY --parents --exclude=*.log x /dst/\n";
    let (first, _, out) = build(root.path(), ctx.path(), df);
    assert_eq!(files(out.path()), ["dst/x/a.txt"]);
    write_files(ctx.path(), &[("x/b.log", "changed"), ("other", "changed")]);
    let (again, events, _) = build(root.path(), ctx.path(), df);
    assert_eq!(again.image_id, first.image_id);
    assert_eq!(cached(&events), 1);
}

#[test]
fn a_link_copy_is_reused_on_a_changed_base_and_a_plain_copy_is_not() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("base.txt", "1"), ("app/main.js", "m")]);
    let df = |flag: &str| {
        format!(
            "FROM scratch AS base\nCOPY base.txt /\n\
             FROM base\nCOPY {flag} app /app/\nCMD [\"/app/main.js\"]\n"
        )
    };
    for (flag, reused) in [("--link", true), ("", false)] {
        let (first, _, _) = build(root.path(), ctx.path(), &df(flag));
        let (same, events, _) = build(root.path(), ctx.path(), &df(flag));
        assert_eq!(
            same.image_id, first.image_id,
            "{flag}: no change, same image"
        );
        assert_eq!(cached(&events), 3);
        // The base changes: the COPY of app/ keeps its layer only with --link.
        std::fs::write(ctx.path().join("base.txt"), format!("{flag} changed")).unwrap();
        let (second, events, out) = build(root.path(), ctx.path(), &df(flag));
        assert_eq!(second.steps[1].cached, reused, "{flag}: {:?}", second.steps);
        if reused {
            assert_eq!(
                second.steps[1].layer, first.steps[1].layer,
                "the same layer"
            );
        }
        assert_eq!(
            files(out.path()),
            ["app/main.js", "base.txt"],
            "{flag}: the layer sits on the new base"
        );
        assert_eq!(
            std::fs::read_to_string(out.path().join("base.txt")).unwrap(),
            format!("{flag} changed")
        );
        assert!(!misses(&events).is_empty());
    }
}

#[test]
fn a_link_copy_does_not_look_at_the_parent_and_chmod_turns_link_off() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("d/x", "x"), ("f", "f")]);
    // Without a trailing slash, /d is a file for a --link copy even where the parent has a
    // directory /d (BuildKit's link copies onto an empty tree); a plain COPY goes into it.
    let (_, _, out) = build(
        root.path(),
        ctx.path(),
        "FROM scratch\nCOPY d /d/\nCOPY --link f /d\n",
    );
    assert!(out.path().join("d").is_file());
    let (_, _, out) = build(
        root.path(),
        ctx.path(),
        "FROM scratch\nCOPY d /d/\nCOPY f /d\n",
    );
    assert!(out.path().join("d/f").is_file() && out.path().join("d/x").is_file());
    let (_, _, out) = build(
        root.path(),
        ctx.path(),
        "FROM scratch\nCOPY d /d/\nCOPY --link --chmod=600 f /d\n",
    );
    assert_eq!(
        mode(&out.path().join("d/f")),
        0o600,
        "--chmod: a plain copy"
    );
}

#[test]
fn a_link_copy_to_a_relative_destination_is_keyed_by_the_workdir() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("f", "f")]);
    let (_, _, out) = build(
        root.path(),
        ctx.path(),
        "FROM scratch\nWORKDIR /a\nCOPY --link f ./\n",
    );
    assert_eq!(files(out.path()), ["a/f"]);
    let (r, _, out) = build(
        root.path(),
        ctx.path(),
        "FROM scratch\nWORKDIR /b\nCOPY --link f ./\n",
    );
    assert_eq!(files(out.path()), ["b/f"]);
    assert!(!r.steps[1].cached);
}

#[test]
fn copy_from_with_parents_or_exclude_is_refused_by_name() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("f", "f")]);
    for flag in ["--parents", "--exclude=*.log"] {
        let df =
            format!("FROM scratch AS a\nCOPY f /f\nFROM scratch\nCOPY --from=a {flag} /f /g\n");
        let err = try_build(root.path(), ctx.path(), &df).0.unwrap_err();
        assert!(
            matches!(err, BuildError::Unsupported { line: 4, .. }),
            "{flag}: {err}"
        );
    }
}

/// Every entry under `dir` with its kind, mode, owner, size, content, link target and mtime
/// (to the nanosecond).
fn described(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut paths = files(dir);
    fn dirs(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p: PathBuf = e.unwrap().path();
            if p.symlink_metadata().unwrap().is_dir() {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
                dirs(base, &p, out);
            }
        }
    }
    dirs(dir, dir, &mut paths);
    paths.sort();
    paths
        .iter()
        .map(|rel| {
            let p = dir.join(rel);
            let m = p.symlink_metadata().unwrap();
            let content = if m.is_file() {
                std::fs::read_to_string(&p).unwrap()
            } else {
                String::new()
            };
            let link = std::fs::read_link(&p).ok();
            format!(
                "{rel} {:o} {}:{} {} {content:?} {link:?} {}.{}",
                m.mode(),
                m.uid(),
                m.gid(),
                if m.is_dir() { 0 } else { m.size() },
                m.mtime(),
                m.mtime_nsec()
            )
        })
        .collect()
}

#[test]
fn copy_staging_becomes_the_snapshot_unpacking_would_give() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context_dir(&[("a/x", "x"), ("a/deep/y", "yy"), ("b", "b")]);
    std::os::unix::fs::symlink("deep/y", ctx.path().join("a/link")).unwrap();
    let df = "FROM scratch\nCOPY a /app/\nCOPY --chmod=600 b /app/sub/\n";
    let (r, _, _) = build(root.path(), ctx.path(), df);
    let store = Store::open(root.path()).unwrap();
    // A COPY-only build never needs a snapshot: both are there because the staging was
    // adopted, and no staging is left behind.
    let snapshots = root.path().join("snapshots");
    assert_eq!(std::fs::read_dir(&snapshots).unwrap().count(), 2);
    let tmp = std::fs::read_dir(root.path().join("tmp")).unwrap().count();
    assert_eq!(tmp, 0, "ROOT/tmp is empty");
    let img = store.resolve(&r.image_id.digest()[..12]).unwrap();
    let adopted: Vec<Vec<String>> = store
        .snapshots(&img)
        .unwrap()
        .iter()
        .map(|s| described(&s.dir))
        .collect();
    assert!(adopted[0].iter().any(|l| l.starts_with("app/link ")));
    // The same snapshots unpacked from the layers.
    for e in std::fs::read_dir(&snapshots).unwrap() {
        std::fs::remove_dir_all(e.unwrap().path()).unwrap();
    }
    let unpacked: Vec<Vec<String>> = store
        .snapshots(&img)
        .unwrap()
        .iter()
        .map(|s| described(&s.dir))
        .collect();
    assert_eq!(adopted, unpacked);
}
