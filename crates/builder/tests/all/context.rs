//! Context checksums: what changes them, what never does, globs, .dockerignore, links, `..`.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};

use boxwright_builder::{Context, ContextError, StatCache};
use boxwright_dockerfile_parser::dockerignore::DockerIgnore;

use crate::support::{age, context_dir, sum, write_files};

const FILES: &[(&str, &str)] = &[
    ("package.json", "{}"),
    ("src/main.js", "console.log(1)"),
    ("src/lib/util.js", "export {}"),
    ("README.md", "hello"),
];

#[test]
fn an_unchanged_context_gives_the_same_checksum() {
    let tmp = context_dir(FILES);
    let a = sum(tmp.path(), &["package.json", "src"]);
    let b = sum(tmp.path(), &["package.json", "src"]);
    assert_eq!(a, b);
    assert_eq!(
        a.entries().map(|(p, _)| p).collect::<Vec<_>>(),
        [
            "package.json",
            "src",
            "src/lib",
            "src/lib/util.js",
            "src/main.js"
        ]
    );
    // The same sources in another order, or overlapping, match the same entries.
    assert_eq!(sum(tmp.path(), &["src", "package.json", "src/main.js"]), a);
}

#[test]
fn changed_content_is_named() {
    let tmp = context_dir(FILES);
    let before = sum(tmp.path(), &["."]);
    fs::write(tmp.path().join("src/lib/util.js"), "export {a}").unwrap();
    let after = sum(tmp.path(), &["."]);
    assert_ne!(before.digest(), after.digest());
    assert_eq!(after.changed_since(&before), ["src/lib/util.js"]);
}

#[test]
fn mode_bits_count_including_setuid_and_sticky() {
    let tmp = context_dir(FILES);
    let file = tmp.path().join("src/main.js");
    let mut last = sum(tmp.path(), &["src"]);
    for mode in [0o755, 0o4755, 0o2755, 0o1755] {
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
        let now = sum(tmp.path(), &["src"]);
        assert_eq!(now.changed_since(&last), ["src/main.js"], "mode {mode:o}");
        last = now;
    }
    fs::set_permissions(
        tmp.path().join("src/lib"),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    assert_eq!(sum(tmp.path(), &["src"]).changed_since(&last), ["src/lib"]);
}

#[test]
fn a_symlink_target_change_is_named() {
    let tmp = context_dir(FILES);
    symlink("main.js", tmp.path().join("src/current")).unwrap();
    let before = sum(tmp.path(), &["src"]);
    fs::remove_file(tmp.path().join("src/current")).unwrap();
    symlink("lib/util.js", tmp.path().join("src/current")).unwrap();
    assert_eq!(
        sum(tmp.path(), &["src"]).changed_since(&before),
        ["src/current"]
    );
}

#[test]
fn an_added_file_under_a_copied_dir_is_named() {
    let tmp = context_dir(FILES);
    let before = sum(tmp.path(), &["src"]);
    write_files(tmp.path(), &[("src/lib/new.js", "x")]);
    assert_eq!(
        sum(tmp.path(), &["src"]).changed_since(&before),
        ["src/lib/new.js"]
    );
    fs::remove_file(tmp.path().join("src/main.js")).unwrap();
    let after = sum(tmp.path(), &["src"]);
    assert_eq!(
        after.changed_since(&before),
        ["src/lib/new.js", "src/main.js"]
    );
}

#[test]
fn mtime_and_owner_do_not_count() {
    let tmp = context_dir(FILES);
    let before = sum(tmp.path(), &["."]);
    age(&tmp.path().join("src/main.js"));
    std::os::unix::fs::lchown(tmp.path().join("package.json"), Some(1234), Some(5678)).unwrap();
    assert_eq!(sum(tmp.path(), &["."]), before);
}

#[test]
fn a_file_no_source_matches_never_counts() {
    let tmp = context_dir(FILES);
    let before = sum(tmp.path(), &["package.json", "src/*.js"]);
    fs::write(tmp.path().join("README.md"), "changed").unwrap();
    fs::write(tmp.path().join("src/lib/util.js"), "changed").unwrap(); // `*` does not cross `/`
    write_files(tmp.path(), &[("other/new.txt", "x")]);
    assert_eq!(sum(tmp.path(), &["package.json", "src/*.js"]), before);
}

#[test]
fn an_ignored_file_inside_a_copied_dir_never_counts() {
    let tmp = context_dir(FILES);
    write_files(
        tmp.path(),
        &[
            (".dockerignore", "**/*.log\nsrc/lib\n!src/lib/keep.js\n"),
            ("src/debug.log", "a"),
            ("src/lib/keep.js", "k"),
        ],
    );
    let before = sum(tmp.path(), &["."]);
    let paths: Vec<_> = before.entries().map(|(p, _)| p.to_string()).collect();
    assert!(!paths
        .iter()
        .any(|p| p.ends_with(".log") || p == "src/lib/util.js" || p == "src/lib"));
    assert!(paths.contains(&"src/lib/keep.js".to_string()), "{paths:?}");
    fs::write(tmp.path().join("src/debug.log"), "bb").unwrap();
    fs::write(tmp.path().join("src/lib/util.js"), "changed").unwrap();
    assert_eq!(sum(tmp.path(), &["."]), before);
    fs::write(tmp.path().join("src/lib/keep.js"), "changed").unwrap();
    assert_eq!(
        sum(tmp.path(), &["."]).changed_since(&before),
        ["src/lib/keep.js"]
    );
    // An ignored path named as a source is not in the context.
    let err = Context::open(tmp.path())
        .unwrap()
        .checksum(&["src/debug.log"], &mut StatCache::new());
    assert!(
        matches!(err, Err(ContextError::SourceNotFound { .. })),
        "{err:?}"
    );
}

#[test]
fn a_dockerfile_specific_ignore_file_wins() {
    let tmp = context_dir(FILES);
    write_files(
        tmp.path(),
        &[
            (".dockerignore", "src\n"),
            ("api.Dockerfile.dockerignore", "README.md\n"),
        ],
    );
    let general = Context::open(tmp.path()).unwrap();
    assert!(general.ignore().is_excluded("src/main.js"));
    let specific =
        Context::open_for_dockerfile(tmp.path(), &tmp.path().join("api.Dockerfile")).unwrap();
    assert!(!specific.ignore().is_excluded("src/main.js"));
    assert!(specific.ignore().is_excluded("README.md"));
    assert_eq!(
        specific.ignore_file(),
        Some(
            tmp.path()
                .join("api.Dockerfile.dockerignore")
                .canonicalize()
                .unwrap()
                .as_path()
        )
    );
}

#[test]
fn dot_dot_cannot_leave_the_context() {
    let outer = context_dir(&[("secret", "s"), ("ctx/a.txt", "a")]);
    let ctx = outer.path().join("ctx");
    // `..` is cleaned against the context root, as BuildKit does: `../a.txt` is `a.txt`.
    assert_eq!(sum(&ctx, &["../a.txt"]), sum(&ctx, &["a.txt"]));
    assert_eq!(sum(&ctx, &["/../../a.txt"]), sum(&ctx, &["a.txt"]));
    let err = Context::open(&ctx)
        .unwrap()
        .checksum(&["../secret"], &mut StatCache::new());
    assert!(
        matches!(err, Err(ContextError::SourceNotFound { .. })),
        "{err:?}"
    );
}

#[test]
fn links_inside_a_copied_dir_are_links_and_never_followed() {
    let outer = context_dir(&[("outside/secret", "s1"), ("ctx/dir/a.txt", "a")]);
    let ctx = outer.path().join("ctx");
    symlink(
        outer.path().join("outside/secret"),
        ctx.join("dir/abs-link"),
    )
    .unwrap();
    symlink("../../outside/secret", ctx.join("dir/rel-link")).unwrap();
    let before = sum(&ctx, &["dir"]);
    assert_eq!(before.len(), 4);
    // The content behind a link is not read: changing it changes nothing.
    fs::write(outer.path().join("outside/secret"), "s2").unwrap();
    assert_eq!(sum(&ctx, &["dir"]), before);
    // Its target text counts.
    fs::remove_file(ctx.join("dir/rel-link")).unwrap();
    symlink("a.txt", ctx.join("dir/rel-link")).unwrap();
    assert_eq!(sum(&ctx, &["dir"]).changed_since(&before), ["dir/rel-link"]);
}

#[test]
fn a_source_link_is_followed_inside_the_context_only() {
    let outer = context_dir(&[
        ("outside/secret", "s"),
        ("ctx/dir/a.txt", "a"),
        ("ctx/outside/secret", "decoy"),
    ]);
    let ctx = outer.path().join("ctx");
    symlink("dir/a.txt", ctx.join("current")).unwrap();
    symlink("dir", ctx.join("dirlink")).unwrap();
    // A source that is a link stands for what it points to, inside the context.
    let before = sum(&ctx, &["current"]);
    assert_eq!(before, sum(&ctx, &["dir/a.txt"]));
    assert_eq!(sum(&ctx, &["dirlink/*"]), sum(&ctx, &["dir/a.txt"]));
    assert_eq!(sum(&ctx, &["dirlink"]), sum(&ctx, &["dir"]));
    fs::write(ctx.join("dir/a.txt"), "b").unwrap();
    assert_eq!(
        sum(&ctx, &["current"]).changed_since(&before),
        ["dir/a.txt"]
    );
    // Targets that would leave the context resolve against its root instead, as in BuildKit:
    // the host's file is never read.
    symlink(outer.path().join("outside/secret"), ctx.join("abs-link")).unwrap();
    symlink("../../../outside/secret", ctx.join("dir/rel-link")).unwrap();
    symlink("/outside/secret", ctx.join("rooted-link")).unwrap();
    let decoy = sum(&ctx, &["outside/secret"]);
    assert_eq!(sum(&ctx, &["dir/rel-link"]), decoy);
    assert_eq!(sum(&ctx, &["rooted-link"]), decoy);
    let err = Context::open(&ctx)
        .unwrap()
        .checksum(&["abs-link"], &mut StatCache::new());
    assert!(
        matches!(err, Err(ContextError::SourceNotFound { .. })),
        "{err:?}"
    );
    // A loop is refused, not followed forever.
    symlink("loop-b", ctx.join("loop-a")).unwrap();
    symlink("loop-a", ctx.join("loop-b")).unwrap();
    let err = Context::open(&ctx)
        .unwrap()
        .checksum(&["loop-a"], &mut StatCache::new());
    assert!(matches!(err, Err(ContextError::Read { .. })), "{err:?}");
    // A link to an ignored file gives nothing, as BuildKit never received the file.
    fs::write(ctx.join(".dockerignore"), "outside\n").unwrap();
    let err = Context::open(&ctx)
        .unwrap()
        .checksum(&["rooted-link"], &mut StatCache::new());
    assert!(
        matches!(err, Err(ContextError::SourceNotFound { .. })),
        "{err:?}"
    );
}

#[test]
fn globs_follow_go_filepath_match() {
    let tmp = context_dir(&[
        ("a.json", "1"),
        ("b.json", "2"),
        (".hidden.json", "3"),
        ("c/d.json", "4"),
        ("src/a.txt", "5"),
        ("src/b.txt", "6"),
        ("src/c.txt", "7"),
    ]);
    let names = |sources: &[&str]| -> Vec<String> {
        sum(tmp.path(), sources)
            .entries()
            .map(|(p, _)| p.to_string())
            .collect()
    };
    assert_eq!(names(&["*.json"]), [".hidden.json", "a.json", "b.json"]);
    assert_eq!(names(&["src/[ab].txt"]), ["src/a.txt", "src/b.txt"]);
    assert_eq!(names(&["src/[^ab].txt"]), ["src/c.txt"]);
    assert_eq!(names(&["?/*.json"]), ["c/d.json"]);
    assert_eq!(names(&["*/?.txt"]), ["src/a.txt", "src/b.txt", "src/c.txt"]);
    assert!(
        names(&["*.yaml"]).is_empty(),
        "a wildcard may match nothing"
    );
    let ctx = Context::open(tmp.path()).unwrap();
    let err = ctx.checksum(&["src/[a"], &mut StatCache::new());
    assert!(
        matches!(err, Err(ContextError::BadPattern { .. })),
        "{err:?}"
    );
    let err = ctx.checksum(&["missing.txt"], &mut StatCache::new());
    assert!(
        matches!(err, Err(ContextError::SourceNotFound { .. })),
        "{err:?}"
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        "source \"missing.txt\" not found in the build context"
    );
}

#[test]
fn the_root_is_every_entry_but_the_ignored() {
    let tmp = context_dir(FILES);
    write_files(tmp.path(), &[(".dockerignore", "README.md\n")]);
    let all = sum(tmp.path(), &["."]);
    assert_eq!(sum(tmp.path(), &["/"]), all);
    assert_eq!(
        all.entries().map(|(p, _)| p).collect::<Vec<_>>(),
        [
            ".dockerignore",
            "package.json",
            "src",
            "src/lib",
            "src/lib/util.js",
            "src/main.js"
        ]
    );
    let explicit = Context::with_ignore(tmp.path(), DockerIgnore::parse("src\n").unwrap()).unwrap();
    let sum2 = explicit.checksum(&["."], &mut StatCache::new()).unwrap();
    assert_eq!(sum2.len(), 3);
}

#[test]
fn errors_name_the_path() {
    let err = Context::open("/nonexistent/ctx").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot open the build context /nonexistent/ctx"
    );
    assert!(std::error::Error::source(&err).is_some());
    let tmp = context_dir(&[(".dockerignore", "!\n")]);
    let err = Context::open(tmp.path()).unwrap_err();
    assert!(matches!(err, ContextError::Ignore { .. }), "{err:?}");
}
