//! Shared helpers of the facade's tests: an engine on a temporary root, base images made of
//! real files (busybox-static, host programs), a build with its events collected.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use boxwright::store::{import, Image, ImportOptions, ImportSource};
use boxwright::Engine;

/// The busybox applets the tests' images link.
pub const BUSYBOX_APPLETS: [&str; 14] = [
    "sh", "cat", "echo", "ls", "tr", "wc", "true", "false", "sleep", "env", "mkdir", "rm", "touch",
    "grep",
];

/// An engine on a fresh temporary root (removed when the `TempDir` drops).
pub fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().expect("a temporary root");
    let engine = Engine::open(dir.path().join("root")).expect("opening the engine");
    (dir, engine)
}

/// Imports a busybox root file system (Debian's `/bin/busybox`, applets as links, `/etc`
/// with root) as the image `name`.
pub fn busybox(engine: &Engine, name: &str) -> Image {
    let dir = tempfile::tempdir().expect("a staging directory");
    let root = dir.path();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("/bin/busybox (busybox-static)");
    for applet in BUSYBOX_APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    let options = ImportOptions {
        name: Some(name.to_owned()),
        config: serde_json::json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]}),
        ..ImportOptions::default()
    };
    import(engine.store(), ImportSource::Directory(root), &options).expect("importing busybox")
}

/// Writes `files` (path, contents) under `dir`, making parents.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
