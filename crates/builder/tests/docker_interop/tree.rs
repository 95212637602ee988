//! Flattened file trees to compare: every path of an image's root with its type, mode,
//! owner, link target and content hash; from a directory (our store's unpack) or from the
//! layers of `docker save` (extracted one by one, whiteouts applied here).

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

/// One path of a tree (mtime is left out: see the test's named differences).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `f` file, `d` directory, `l` symlink, `c`/`b`/`p`/`s` the others.
    pub(crate) kind: char,
    /// Permission bits with setuid, setgid and sticky.
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// A symlink's target.
    pub(crate) target: Option<String>,
    /// A file's blake3.
    pub(crate) hash: Option<String>,
}

/// Path (relative, `/`-separated) to entry.
pub(crate) type Tree = BTreeMap<String, Entry>;

fn entry(path: &Path) -> Entry {
    let md = std::fs::symlink_metadata(path).unwrap();
    let ft = md.file_type();
    let kind = if ft.is_file() {
        'f'
    } else if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else if ft.is_fifo() {
        'p'
    } else {
        's'
    };
    Entry {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        target: ft
            .is_symlink()
            .then(|| std::fs::read_link(path).unwrap().display().to_string()),
        hash: ft.is_file().then(|| {
            blake3::hash(&std::fs::read(path).unwrap())
                .to_hex()
                .to_string()
        }),
    }
}

/// Every path under `root` (not `root` itself), with `prefix` before its name.
fn walk(root: &Path, prefix: &str, out: &mut Vec<(String, Entry)>) {
    let mut names: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let path = root.join(&name);
        let rel = format!("{prefix}{}", name.to_str().unwrap());
        let e = entry(&path);
        let is_dir = e.kind == 'd';
        out.push((rel.clone(), e));
        if is_dir {
            walk(&path, &format!("{rel}/"), out);
        }
    }
}

/// The tree of a directory (an unpacked image).
pub(crate) fn of_dir(root: &Path) -> Tree {
    let mut all = Vec::new();
    walk(root, "", &mut all);
    all.into_iter().collect()
}

/// Removes `path` and everything under it.
fn remove_under(tree: &mut Tree, path: &str) {
    tree.remove(path);
    let prefix = format!("{path}/");
    tree.retain(|p, _| !p.starts_with(&prefix));
}

/// Applies one layer directory (a layer tar extracted as it is) on `tree`: its whiteouts
/// (`.wh.NAME` removes NAME, `.wh..wh..opq` empties its directory of the lower layers'
/// entries), then its entries.
fn apply_layer(tree: &mut Tree, layer: &Path) {
    let mut entries = Vec::new();
    walk(layer, "", &mut entries);
    for (path, _) in &entries {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), path.as_str()),
        };
        if name == ".wh..wh..opq" {
            let parent = dir.trim_end_matches('/');
            let keep = tree.get(parent).cloned();
            remove_under(tree, parent);
            if let Some(e) = keep {
                tree.insert(parent.to_string(), e);
            }
        } else if let Some(hidden) = name.strip_prefix(".wh.") {
            remove_under(tree, &format!("{dir}{hidden}"));
        }
    }
    for (path, e) in entries {
        let name = path.rsplit('/').next().unwrap_or(&path);
        if name.starts_with(".wh.") {
            continue;
        }
        // A file or link replacing a directory hides what was under it.
        if e.kind != 'd' {
            remove_under(tree, &path);
        }
        tree.insert(path, e);
    }
}

/// The tree and the image config of `image` in the engine: `docker save`, each layer
/// extracted with its owners and modes into a directory of its own, applied in order.
pub(crate) fn of_docker_image(
    docker: impl Fn() -> Command,
    image: &str,
    work: &Path,
) -> (Tree, serde_json::Value) {
    let saved = work.join("saved");
    std::fs::create_dir_all(&saved).unwrap();
    let archive = work.join("saved.tar");
    super::run_ok(docker().args(["save", "-o"]).arg(&archive).arg(image));
    super::run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&saved),
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(saved.join("manifest.json")).unwrap()).unwrap();
    let manifest = &manifest[0];
    let config_path = saved.join(manifest["Config"].as_str().unwrap());
    let config = serde_json::from_slice(&std::fs::read(config_path).unwrap()).unwrap();
    let mut tree = Tree::new();
    for (i, layer) in manifest["Layers"].as_array().unwrap().iter().enumerate() {
        let dir = work.join(format!("layer{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        super::run_ok(
            Command::new("tar")
                .args([
                    "--same-owner",
                    "--same-permissions",
                    "--numeric-owner",
                    "-xf",
                ])
                .arg(saved.join(layer.as_str().unwrap()))
                .arg("-C")
                .arg(&dir),
        );
        apply_layer(&mut tree, &dir);
    }
    std::fs::remove_dir_all(work).unwrap();
    (tree, config)
}
