//! Volumes from inside busybox containers: named volumes persist and are shared, anonymous ones
//! die with their container when asked, empty volumes are seeded from the image, read-only
//! binds refuse writes.

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use boxwright_runtime::{Container, Error, RootFs, Volumes};

use crate::common::{
    busybox_rootfs, fill_busybox, output, sh, subdirs, text, wait, wait_until, TEMP_MOUNTS,
};

/// A volume store in a directory of its own (keep it alive).
fn volumes() -> (tempfile::TempDir, Volumes) {
    let dir = tempfile::tempdir().unwrap();
    let vols = Volumes::open(dir.path()).unwrap();
    (dir, vols)
}

#[tokio::test]
async fn a_named_volume_outlives_its_container_and_is_released() {
    let root = busybox_rootfs();
    let (_store_dir, vols) = volumes();

    let writer = sh(root.path(), "echo persisted > /data/f && ls /data")
        .volume(&vols, "data", "/data", false)
        .build()
        .unwrap();
    let out = output(&writer).await;
    assert!(out.status.success(), "{out:?}");
    // Nothing of the volume's content landed in the root file system.
    assert!(!root.path().join("data/f").exists());

    let reader = sh(root.path(), "cat /data/f")
        .volume(&vols, "data", "/data", false)
        .build()
        .unwrap();
    let out = output(&reader).await;
    assert_eq!(text(&out.stdout), "persisted\n", "{out:?}");

    let info = vols.inspect("data").unwrap();
    let mut users = vec![writer.id().to_owned(), reader.id().to_owned()];
    users.sort();
    assert_eq!(info.users, users);
    assert!(matches!(
        vols.remove("data", false),
        Err(Error::VolumeInUse { .. })
    ));
    // `rm -v` of both: a named volume stays, with its data, and is no longer in use.
    writer.release_volumes(true).unwrap();
    reader.release_volumes(true).unwrap();
    let info = vols.inspect("data").unwrap();
    assert!(info.users.is_empty());
    assert_eq!(
        std::fs::read_to_string(info.mountpoint.join("f")).unwrap(),
        "persisted\n"
    );
    vols.remove("data", false).unwrap();
    assert!(vols.list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_running_containers_share_a_named_volume() {
    let root = busybox_rootfs();
    let (_store_dir, vols) = volumes();
    // Each writes its file (renamed into place whole), then waits for the other's: both must
    // run at the same time.
    let one = sh(
        root.path(),
        "echo from-one > /shared/.one && mv /shared/.one /shared/one; while [ ! -f /shared/two ]; do sleep 0.02; done; cat /shared/two",
    )
    .volume(&vols, "shared", "/shared", false)
    .build()
    .unwrap();
    let two = sh(
        root.path(),
        "echo from-two > /shared/.two && mv /shared/.two /shared/two; while [ ! -f /shared/one ]; do sleep 0.02; done; cat /shared/one",
    )
    .volume(&vols, "shared", "/shared", false)
    .build()
    .unwrap();
    let (a, b) = tokio::join!(output(&one), output(&two));
    assert_eq!(text(&a.stdout), "from-two\n", "{a:?}");
    assert_eq!(text(&b.stdout), "from-one\n", "{b:?}");
    assert_eq!(vols.inspect("shared").unwrap().users.len(), 2);
    one.release_volumes(false).unwrap();
    two.release_volumes(false).unwrap();
}

#[tokio::test]
async fn an_anonymous_volume_is_removed_with_its_container_when_asked() {
    let root = busybox_rootfs();
    let (_store_dir, vols) = volumes();
    let keep = sh(root.path(), "echo kept > /scratch/f")
        .anonymous_volume(&vols, "/scratch")
        .build()
        .unwrap();
    let drop_it = sh(root.path(), "echo gone > /scratch/f")
        .anonymous_volume(&vols, "/scratch")
        .build()
        .unwrap();
    output(&keep).await;
    output(&drop_it).await;
    let [k, d] = [&keep, &drop_it].map(|c| {
        let m = &c.volumes()[0];
        assert!(m.anonymous);
        vols.inspect(&m.name).unwrap()
    });
    assert_ne!(k.name, d.name, "one anonymous volume per container");
    assert_eq!(
        std::fs::read_to_string(d.mountpoint.join("f")).unwrap(),
        "gone\n"
    );

    drop_it.release_volumes(true).unwrap();
    assert!(matches!(
        vols.inspect(&d.name),
        Err(Error::NoSuchVolume { .. })
    ));
    assert!(!d.mountpoint.exists());
    // `rm` without -v keeps it, unused; prune removes it then.
    keep.release_volumes(false).unwrap();
    assert!(vols.inspect(&k.name).unwrap().users.is_empty());
    assert_eq!(vols.prune(false).unwrap(), vec![k.name.clone()]);
    assert!(vols.list().unwrap().is_empty());
}

/// Adds `/var/lib/app` to an image root: a file owned 1000:1000 mode 0640, a symlink, a
/// subdirectory; the directory itself 0750 owned 1000:1000.
fn add_app_dir(root: &Path) {
    let app = root.join("var/lib/app");
    std::fs::create_dir_all(app.join("sub")).unwrap();
    std::fs::write(app.join("conf"), "seeded=yes\n").unwrap();
    std::fs::write(app.join("sub/x"), "x\n").unwrap();
    symlink("conf", app.join("link")).unwrap();
    std::fs::set_permissions(app.join("conf"), PermissionsExt::from_mode(0o640)).unwrap();
    std::fs::set_permissions(&app, PermissionsExt::from_mode(0o750)).unwrap();
    for p in [&app, &app.join("conf")] {
        std::os::unix::fs::chown(p, Some(1000), Some(1000)).unwrap();
    }
}

const SHOW_APP: &str = "cat /var/lib/app/conf /var/lib/app/link /var/lib/app/sub/x; \
    stat -c '%a %u %g' /var/lib/app /var/lib/app/conf; readlink /var/lib/app/link; \
    echo new > /var/lib/app/written";

#[tokio::test]
async fn an_image_volume_is_seeded_with_the_images_content() {
    let root = busybox_rootfs();
    add_app_dir(root.path());
    let (_store_dir, vols) = volumes();
    let c = sh(root.path(), SHOW_APP)
        .anonymous_volume(&vols, "/var/lib/app")
        .build()
        .unwrap();
    let out = output(&c).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        "seeded=yes\nseeded=yes\nx\n750 1000 1000\n640 1000 1000\nconf\n"
    );
    // The write went to the volume, not to the image.
    let data = vols.inspect(&c.volumes()[0].name).unwrap().mountpoint;
    assert_eq!(
        std::fs::read_to_string(data.join("written")).unwrap(),
        "new\n"
    );
    assert!(!root.path().join("var/lib/app/written").exists());
    let meta = std::fs::metadata(&data).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o750, 1000));
    c.release_volumes(true).unwrap();
}

#[tokio::test]
async fn an_image_volume_is_seeded_through_the_overlay_of_its_layers() {
    // Another test's temporary mount, in use, is no leak of this one.
    let _mounts = TEMP_MOUNTS.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let [base, app, upper, work] = subdirs(dir.path(), ["base", "app", "upper", "work"]);
    fill_busybox(&base);
    add_app_dir(&app);
    // The container's own layer already changed the file: its version is seeded.
    std::fs::create_dir_all(upper.join("var/lib/app")).unwrap();
    std::fs::write(upper.join("var/lib/app/conf"), "seeded=upper\n").unwrap();
    let rootfs = RootFs::overlay([&base, &app], &upper, &work);
    let (_store_dir, vols) = volumes();
    let c = sh(rootfs, "cat /var/lib/app/conf /var/lib/app/sub/x")
        .anonymous_volume(&vols, "/var/lib/app")
        .build()
        .unwrap();
    let out = output(&c).await;
    assert_eq!(text(&out.stdout), "seeded=upper\nx\n", "{out:?}");
    c.release_volumes(true).unwrap();
    // No temporary mount is left behind.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("boxwright-mnt-"), "{mounts}");
}

#[tokio::test]
async fn a_named_volume_is_seeded_only_while_empty() {
    let root = busybox_rootfs();
    add_app_dir(root.path());
    let (_store_dir, vols) = volumes();
    let data = vols.create("app").unwrap().mountpoint;
    std::fs::write(data.join("mine"), "mine\n").unwrap();
    let c = sh(root.path(), "ls /var/lib/app")
        .volume(&vols, "app", "/var/lib/app", false)
        .build()
        .unwrap();
    assert_eq!(text(&output(&c).await.stdout), "mine\n");
    c.release_volumes(false).unwrap();

    let fresh = sh(root.path(), "ls /var/lib/app")
        .volume(&vols, "fresh", "/var/lib/app", false)
        .build()
        .unwrap();
    assert_eq!(text(&output(&fresh).await.stdout), "conf\nlink\nsub\n");
    fresh.release_volumes(false).unwrap();
}

#[tokio::test]
async fn read_only_binds_and_volumes_refuse_writes() {
    let root = busybox_rootfs();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "host\n").unwrap();
    let (_store_dir, vols) = volumes();
    let c = sh(
        root.path(),
        "cat /ro/f; echo x > /ro/f; echo rc=$?; touch /ro/new; echo rc=$?; \
         touch /vol/new; echo rc=$?; echo ok > /rw/f; echo rc=$?",
    )
    .mount_bind(host.path(), "/ro", true)
    .mount_bind(host.path(), "/rw", false)
    .volume(&vols, "ro", "/vol", true)
    .build()
    .unwrap();
    let out = output(&c).await;
    assert_eq!(
        text(&out.stdout),
        "host\nrc=1\nrc=1\nrc=1\nrc=0\n",
        "{out:?}"
    );
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{out:?}"
    );
    assert!(!host.path().join("new").exists());
    assert_eq!(
        std::fs::read_to_string(host.path().join("f")).unwrap(),
        "ok\n"
    );
    c.release_volumes(false).unwrap();
}

/// A container store registers a container's volumes at create and releases them at `rm`: a
/// named volume outlives it with its data; an anonymous one is removed with `rm -v`, kept by a
/// plain `rm`, and removed with a `--rm` container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_store_releases_volumes_on_rm() {
    use boxwright_runtime::{Containers, CreateOptions, RemoveOptions};
    let root = busybox_rootfs();
    let state = tempfile::tempdir().unwrap();
    let vols = Volumes::open(state.path()).unwrap();
    let store = Containers::open(state.path()).unwrap();
    let build = || {
        sh(root.path(), "echo kept > /named/f && echo gone > /anon/f")
            .volume(&vols, "named", "/named", false)
            .anonymous_volume(&vols, "/anon")
            .build()
            .unwrap()
    };
    let anonymous_of = |c: &Container| {
        c.volumes()
            .iter()
            .find(|v| v.anonymous)
            .unwrap()
            .name
            .clone()
    };

    // rm -v: the anonymous volume goes, the named one stays with its data.
    let c = build();
    let anon = anonymous_of(&c);
    let id = store.run(&c, &CreateOptions::default()).await.unwrap();
    assert_eq!(wait(&store, &id).await, 0);
    assert_eq!(vols.inspect("named").unwrap().users, [id.as_str()]);
    assert_eq!(vols.inspect(&anon).unwrap().users, [id.as_str()]);
    store
        .remove_with(
            &id,
            RemoveOptions {
                force: false,
                volumes: true,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        vols.inspect(&anon),
        Err(Error::NoSuchVolume { .. })
    ));
    let named = vols.inspect("named").unwrap();
    assert!(named.users.is_empty(), "{named:?}");
    assert_eq!(
        std::fs::read_to_string(named.mountpoint.join("f")).unwrap(),
        "kept\n"
    );

    // A plain rm keeps the anonymous volume, unused (prune takes it).
    let c = build();
    let anon = anonymous_of(&c);
    let id = store.run(&c, &CreateOptions::default()).await.unwrap();
    assert_eq!(wait(&store, &id).await, 0);
    store.remove(&id, false).await.unwrap();
    assert!(vols.inspect(&anon).unwrap().users.is_empty());
    assert!(vols.inspect("named").unwrap().users.is_empty());
    assert_eq!(vols.prune(false).unwrap(), vec![anon]);

    // --rm: released (and the anonymous volume removed) once the store collects it.
    let c = build();
    let anon = anonymous_of(&c);
    let opts = CreateOptions {
        auto_remove: true,
        ..CreateOptions::default()
    };
    let id = store.run(&c, &opts).await.unwrap();
    assert_eq!(wait(&store, &id).await, 0);
    // The monitor moves it away once the exit is recorded.
    wait_until("the removal of the --rm container", async || {
        store.inspect(&id).is_err()
    })
    .await;
    // Any later create or rm collects removed containers.
    let other = store
        .create(
            &sh(root.path(), "true").build().unwrap(),
            &CreateOptions::default(),
        )
        .unwrap();
    store.remove(&other, false).await.unwrap();
    assert!(matches!(
        vols.inspect(&anon),
        Err(Error::NoSuchVolume { .. })
    ));
    assert!(vols.inspect("named").unwrap().users.is_empty());
    assert_eq!(vols.list().unwrap().len(), 1);
}
