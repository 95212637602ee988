//! Writers of one layout's `index.json` in separate processes keep every entry: `OciDir`s
//! (each creating the layout, copying an image in and tagging it, as eight `copy` pulls at
//! once do) and a writer that follows the index lock rule by hand, as the layer store does.
//!
//! Child processes are this test binary re-run on one test (`layout_index::child_*`), told
//! what to do through environment variables; without them those tests return at once.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::common::*;
use boxwright_registry_client::layout::{INDEX_LOCK, REF_NAME};
use boxwright_registry_client::oci_spec::image::Descriptor;
use boxwright_registry_client::{copy, OciDir, PullOptions};

const SRC_VAR: &str = "BOXWRIGHT_TEST_CHILD_SRC";
const DST_VAR: &str = "BOXWRIGHT_TEST_CHILD_DST";
const ID_VAR: &str = "BOXWRIGHT_TEST_CHILD_ID";
/// Tags each child writes beyond its first.
const EXTRA_TAGS: usize = 15;

fn child(test: &str, src: &Path, dst: &Path, id: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(SRC_VAR, src)
        .env(DST_VAR, dst)
        .env(ID_VAR, id)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn child_env() -> Option<(String, String, String)> {
    Some((
        std::env::var(SRC_VAR).ok()?,
        std::env::var(DST_VAR).ok()?,
        std::env::var(ID_VAR).ok()?,
    ))
}

/// The tags child `id` writes.
fn tags_of(id: &str) -> Vec<String> {
    std::iter::once(id.to_string())
        .chain((0..EXTRA_TAGS).map(|k| format!("{id}-{k}")))
        .collect()
}

/// A child: creates the layout at DST (it may not exist yet), copies SRC's only image into
/// it and tags it with each of its tags.
#[tokio::test]
async fn child_oci_writer() {
    let Some((src, dst, id)) = child_env() else {
        return;
    };
    let src = OciDir::open(Path::new(&src)).await.unwrap();
    let dst = OciDir::create(Path::new(&dst)).await.unwrap();
    let root = src.resolve(Some("src")).await.unwrap();
    let done = copy(&src, &root, &dst, &PullOptions::default())
        .await
        .unwrap();
    for tag in tags_of(&id) {
        dst.set_ref(&tag, &done.root).await.unwrap();
    }
}

/// A child that follows the rule by hand, as any other program does: an exclusive flock on
/// `LAYOUT/index.json.lock`, then read, change, write to a temporary file, fsync, rename.
#[test]
fn child_rule_writer() {
    let Some((src, dst, id)) = child_env() else {
        return;
    };
    let src: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(&src).join("index.json")).unwrap())
            .unwrap();
    let entry = src["manifests"][0].clone();
    let dst = Path::new(&dst);
    // The layout may not exist yet: wait for an OciDir writer to create it.
    while !dst.join("index.json").exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    for tag in tags_of(&id) {
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(dst.join(INDEX_LOCK))
            .unwrap();
        lock.lock().unwrap();
        let mut index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dst.join("index.json")).unwrap()).unwrap();
        let mut e = entry.clone();
        e["annotations"] = serde_json::json!({ REF_NAME: tag });
        index["manifests"].as_array_mut().unwrap().push(e);
        let tmp = dst.join(format!(".tmp-rule-{id}"));
        let mut f = std::fs::File::create(&tmp).unwrap();
        f.write_all(&serde_json::to_vec(&index).unwrap()).unwrap();
        f.sync_all().unwrap();
        std::fs::rename(&tmp, dst.join("index.json")).unwrap();
        drop(lock);
    }
}

/// Runs the children `(test, id)` at once on a fresh layout and checks every tag they wrote
/// is in `index.json`, naming the image copied, and no temporary file is left.
async fn run_writers(children: &[(&str, String)]) {
    let (src_dir, src) = layout().await;
    let root = make_image(src_dir.path(), "amd64", &[&random_bytes(1 << 20, 3)]);
    src.set_ref("src", &root).await.unwrap();
    let dst_dir = tempfile::tempdir().unwrap();
    let dst = dst_dir.path().join("layout");
    let running: Vec<Child> = children
        .iter()
        .map(|(test, id)| child(test, src_dir.path(), &dst, id))
        .collect();
    for mut c in running {
        assert!(c.wait().unwrap().success());
    }
    let layout = OciDir::open(&dst).await.unwrap();
    let entries: Vec<Descriptor> = layout.manifests().await.unwrap();
    let mut have: Vec<String> = entries
        .iter()
        .filter_map(|d| d.annotations().as_ref()?.get(REF_NAME).cloned())
        .collect();
    have.sort();
    let mut want: Vec<String> = children.iter().flat_map(|(_, id)| tags_of(id)).collect();
    want.sort();
    assert_eq!(have, want, "index.json lost entries");
    assert!(entries.iter().all(|d| d.digest() == root.digest()));
    let leftovers: Vec<String> = std::fs::read_dir(&dst)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Eight `copy` pulls at once into one layout (`oci:DIR:t1` … `t8`): every tag is kept.
/// (Before `index.json` was updated under a lock between processes, 3 to 5 of 8 were.)
#[tokio::test]
async fn eight_processes_tagging_one_layout_keep_every_tag() {
    let children: Vec<_> = (1..=8)
        .map(|i| ("layout_index::child_oci_writer", format!("t{i}")))
        .collect();
    run_writers(&children).await;
}

/// `OciDir`s and another program that follows the index lock rule (the layer store does)
/// write one layout at once: neither loses the other's entries.
#[tokio::test]
async fn oci_dirs_and_another_rule_follower_keep_every_entry() {
    let children: Vec<_> = (1..=4)
        .flat_map(|i| {
            [
                ("layout_index::child_oci_writer", format!("oci{i}")),
                ("layout_index::child_rule_writer", format!("rule{i}")),
            ]
        })
        .collect();
    run_writers(&children).await;
}
