//! The image verbs through the facade: `images` with patterns, `tag`, `image inspect`,
//! `history`, `rmi`'s rules (a container's image is refused), `image prune`, `save`/`load`,
//! `import`.

use boxwright::store::StoreError;
use boxwright::{Error, ImportFrom, ImportOptions, RmiLine};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_lists_tags_with_docker_patterns() {
    let (_dir, engine) = engine();
    let id = busybox(&engine, "busybox").await;
    for name in ["team/app:1.0", "team/app:2.0", "localhost:5000/other"] {
        engine.tag("busybox", name).await.unwrap();
    }
    let all = engine.images(None).await.unwrap();
    let names: Vec<(String, String)> = all
        .iter()
        .map(|s| (s.repository.clone(), s.tag.clone()))
        .collect();
    assert_eq!(all.len(), 4, "{names:?}");
    for want in [
        ("busybox", "latest"),
        ("team/app", "1.0"),
        ("team/app", "2.0"),
        ("localhost:5000/other", "latest"),
    ] {
        assert!(
            names.contains(&(want.0.into(), want.1.into())),
            "{want:?} in {names:?}"
        );
    }
    for s in &all {
        assert_eq!(s.id, id);
        assert_eq!(s.short_id(), &id.digest()[..12]);
        assert!(s.size > 1_000_000, "busybox is over a megabyte: {}", s.size);
        assert!(s.created.as_deref().is_some_and(|c| c.ends_with('Z')));
    }
    let team = engine.images(Some("team/*")).await.unwrap();
    assert_eq!(team.len(), 2);
    assert!(team.iter().all(|s| s.repository == "team/app"));
    let one = engine.images(Some("team/app:1.*")).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].tag, "1.0");
    assert_eq!(engine.images(Some("busybox")).await.unwrap().len(), 1);
    assert!(engine.images(Some("nothing*")).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_moves_a_name_and_untagging_leaves_a_dangling_line() {
    let (_dir, engine) = engine();
    busybox(&engine, "busybox").await;
    let child = child_image(&engine, "busybox", "app", &[("hello", "hi\n")]);
    // `app` moves from the child to busybox: the child stays, untagged.
    assert_eq!(
        engine.tag("busybox", "app").await.unwrap(),
        "docker.io/library/app:latest"
    );
    let lines = engine.images(None).await.unwrap();
    let dangling: Vec<_> = lines.iter().filter(|s| s.name.is_none()).collect();
    assert_eq!(dangling.len(), 1);
    assert_eq!(
        (dangling[0].repository.as_str(), dangling[0].tag.as_str()),
        ("<none>", "<none>")
    );
    assert_eq!(dangling[0].id, child);
    // Tagging by ID prefix works; an unknown source is the store's NotFound.
    engine.tag(&child.digest()[..8], "child:v1").await.unwrap();
    assert_eq!(engine.image("child:v1").await.unwrap().id, child);
    let err = engine.tag("nope", "x").await.unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::NotFound { .. })),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_shows_dockers_fields() {
    let (_dir, engine) = engine();
    let id = busybox(&engine, "busybox:1.0").await;
    let info = engine.inspect_image("busybox:1.0").await.unwrap();
    assert_eq!(info.id, id);
    assert_eq!(info.repo_tags, ["busybox:1.0"]);
    assert_eq!(info.repo_digests.len(), 1);
    assert!(info.repo_digests[0].starts_with("busybox@sha256:"));
    assert_eq!(info.config["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(info.os, "linux");
    assert_eq!(
        info.architecture,
        engine.platform().architecture().to_string()
    );
    assert_eq!(info.root_fs.layers.len(), 1);
    assert!(info.size > 1_000_000);
    assert!(info.created.ends_with('Z'));
    assert_eq!(info.history.len(), 1);
    // Docker's names when serialized, as `docker image inspect` prints them.
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["Id"], serde_json::json!(id.to_string()));
    assert_eq!(json["RepoTags"][0], "busybox:1.0");
    assert_eq!(json["RootFS"]["Type"], "layers");
    assert_eq!(json["Config"]["Cmd"][0], "sh");
    // By ID prefix too, the same image.
    let by_id = engine.inspect_image(&id.digest()[..10]).await.unwrap();
    assert_eq!(by_id.id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_after_a_build_step_reads_as_dockers() {
    let (_dir, engine) = engine();
    busybox(&engine, "busybox").await;
    let id = child_image(&engine, "busybox", "app:1", &[("hello", "hi\n")]);
    let rows = engine.history("app:1").await.unwrap();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    // Newest first: the RUN (its layer), the ENV (no layer), the import (busybox).
    assert_eq!(rows[0].id, id.to_string());
    assert_eq!(rows[0].tags, ["app:1"]);
    assert!(rows[0].created_by.starts_with("RUN "));
    assert!(!rows[0].empty_layer && rows[0].size > 0);
    assert_eq!(rows[1].id, "<missing>");
    assert!(rows[1].empty_layer);
    assert_eq!(rows[1].size, 0);
    assert_eq!(rows[1].created_by, "ENV GREETING=hi");
    assert_eq!(rows[1].comment, "buildkit.dockerfile.v0");
    assert_eq!(rows[2].id, "<missing>");
    assert!(rows[2].size > 1_000_000, "busybox's layer");
    let image = engine.image("app:1").await.unwrap();
    assert_eq!(rows[0].size, image.layers()[1].size());
}

#[cfg(feature = "run")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmi_follows_dockers_rules_and_refuses_an_image_in_use() {
    let (dir, engine) = engine();
    let id = busybox(&engine, "busybox").await;
    engine.tag("busybox", "b2").await.unwrap();

    // An ID with two tags: refused unless forced.
    let err = engine.rmi(&id.digest()[..12], false).await.unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::Conflict { .. })),
        "{err}"
    );

    let container = create_container(&engine, "busybox", dir.path());
    // One tag of two goes even though a container uses the image.
    assert_eq!(
        engine.rmi("b2", false).await.unwrap(),
        [RmiLine::Untagged("b2:latest".into())]
    );
    // The last tag and the ID are refused while the container exists.
    for what in ["busybox", &id.digest()[..12]] {
        let err = engine.rmi(what, false).await.unwrap_err();
        let Error::ImageInUse { containers, .. } = &err else {
            panic!("{what}: {err}");
        };
        assert_eq!(containers.len(), 1);
        assert!(err.report().to_string().contains("is used by container"));
    }
    // Neither prune takes it.
    engine.image_prune(true).await.unwrap();
    assert_eq!(engine.image("busybox").await.unwrap().id, id);
    // Forced: the name goes, the image stays (untagged) for the container's layers.
    let lines = engine.rmi("busybox", true).await.unwrap();
    assert_eq!(lines, [RmiLine::Untagged("busybox:latest".into())]);
    assert_eq!(lines[0].to_string(), "Untagged: busybox:latest");
    assert!(engine.image("busybox").await.is_err());
    assert_eq!(engine.image(id.digest()).await.unwrap().id, id);
    engine.image_prune(false).await.unwrap();
    assert_eq!(
        engine.image(id.digest()).await.unwrap().id,
        id,
        "still used"
    );

    // Once the container is gone, the dangling image is pruned.
    engine
        .containers()
        .remove_with(&container, Default::default())
        .await
        .unwrap();
    let report = engine.image_prune(false).await.unwrap();
    assert_eq!(report.deleted, [RmiLine::Deleted(id.clone())]);
    assert!(engine.image(id.digest()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmi_of_an_unused_image_untags_and_deletes() {
    let (_dir, engine) = engine();
    let id = busybox(&engine, "busybox").await;
    let lines = engine.rmi("busybox", false).await.unwrap();
    assert_eq!(
        lines,
        [
            RmiLine::Untagged("busybox:latest".into()),
            RmiLine::Deleted(id.clone())
        ]
    );
    assert_eq!(lines[1].to_string(), format!("Deleted: {id}"));
    assert!(engine.images(None).await.unwrap().is_empty());
    let err = engine.rmi("busybox", false).await.unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::NotFound { .. })),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_all_removes_unused_images_and_gc_frees_their_blobs_after_the_grace() {
    let (_dir, engine) = engine();
    busybox(&engine, "busybox").await;
    let child = child_image(&engine, "busybox", "app", &[("hello", "hi\n")]);
    // Dangling only: nothing is untagged yet.
    let report = engine.image_prune(false).await.unwrap();
    assert!(report.deleted.is_empty());
    let report = engine.image_prune(true).await.unwrap();
    let lines: Vec<String> = report.deleted.iter().map(ToString::to_string).collect();
    assert!(
        lines.contains(&"Untagged: app:latest".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&format!("Deleted: {child}")), "{lines:?}");
    assert!(
        lines.contains(&"Untagged: busybox:latest".to_string()),
        "{lines:?}"
    );
    assert!(engine.images(None).await.unwrap().is_empty());
    // The blobs are younger than the store's grace: they stay for now.
    assert_eq!(report.space_reclaimed, 0);
    assert!(engine.store().fsck().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_then_load_into_a_fresh_root_gives_the_same_image() {
    let (dir, engine) = engine();
    busybox(&engine, "busybox").await;
    let id = child_image(&engine, "busybox", "app:1", &[("hello", "hi\n")]);
    let archive = dir.path().join("app.tar");
    engine.save_to(&["app:1"], &archive).await.unwrap();
    // What `docker load` reads: manifest.json with RepoTags, beside the OCI layout.
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.lines().any(|l| l == "manifest.json"), "{listing}");
    assert!(listing.lines().any(|l| l == "index.json"), "{listing}");

    let (_dir2, fresh) = engine_fresh();
    let loaded = fresh.load_from(&archive).await.unwrap();
    assert_eq!(loaded.names, ["app:1"]);
    assert_eq!(loaded.lines(), ["Loaded image: app:1"]);
    assert!(loaded.blobs_added >= 4);
    assert_eq!(fresh.image("app:1").await.unwrap().id, id);
    assert_eq!(fresh.history("app:1").await.unwrap().len(), 3);
    // Loading again adds nothing.
    assert_eq!(fresh.load_from(&archive).await.unwrap().blobs_added, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_a_tarball_with_config_and_message() {
    let (dir, engine) = engine();
    let rootfs = busybox_rootfs();
    let tarball = dir.path().join("rootfs.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(rootfs.path())
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let options = ImportOptions::default()
        .message("from a tarball")
        .config(serde_json::json!({"Cmd": ["sh"], "Env": ["A=1"]}))
        .change("WORKDIR /tmp")
        .change("ENV B=${A}2")
        .change("EXPOSE 8080");
    let id = engine
        .import(
            ImportFrom::TarFile(tarball.clone()),
            Some("imported:v1"),
            options,
        )
        .await
        .unwrap();
    let info = engine.inspect_image("imported:v1").await.unwrap();
    assert_eq!(info.id, id);
    assert_eq!(info.config["Env"], serde_json::json!(["A=1", "B=12"]));
    assert_eq!(info.config["WorkingDir"], "/tmp");
    assert_eq!(
        info.config["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}})
    );
    assert_eq!(info.config["Cmd"], serde_json::json!(["sh"]));
    // A change that is not a config instruction is refused, and nothing is imported.
    let before = engine.images(None).await.unwrap().len();
    let err = engine
        .import(
            ImportFrom::TarFile(tarball.clone()),
            Some("refused"),
            ImportOptions::default().change("RUN rm -rf /"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "--change",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(engine.images(None).await.unwrap().len(), before);
    let rows = engine.history("imported:v1").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].comment, "from a tarball");
    // From a stream, untagged.
    let file = std::fs::File::open(&tarball).unwrap();
    let id2 = engine
        .import(
            ImportFrom::Tar(Box::new(file)),
            None,
            ImportOptions::default(),
        )
        .await
        .unwrap();
    assert!(engine
        .images(None)
        .await
        .unwrap()
        .iter()
        .any(|s| s.id == id2 && s.name.is_none()));
    // A file that is not a tar is refused, with the cause shown.
    let bad = dir.path().join("bad.tar");
    std::fs::write(&bad, b"not a tar at all, not even close").unwrap();
    let err = engine
        .import(
            ImportFrom::TarFile(bad),
            Some("bad"),
            ImportOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.report().to_string().contains("import"),
        "{}",
        err.report()
    );
    assert!(engine.image("bad").await.is_err());
    #[cfg(feature = "run")]
    assert_eq!(
        run_image(&engine, "imported:v1", &["echo", "imported"]).await,
        "imported\n"
    );
}
