//! What a test harness pays to learn that a detached busybox container is ready: one
//! [`Containers::is_listening`] probe (its socket table), one `exec` of `true` (a command
//! succeeding), one read of its log (a line appearing), and `run` itself (create and start,
//! tied to this process, then removed).
//!
//! `cargo bench -p boxwright-runtime --bench readiness` (as root, with /bin/busybox from
//! busybox-static).

#![allow(missing_docs)] // criterion_group! generates an undocumented function.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::symlink;
use std::time::Duration;

use boxwright_runtime::{Container, Containers, CreateOptions, ExecOptions, RemoveOptions};
use criterion::{criterion_group, criterion_main, Criterion};
use tokio::io::AsyncReadExt;

/// A busybox root: `/bin/busybox` and the applets the bench runs.
fn busybox_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    std::fs::copy("/bin/busybox", dir.path().join("bin/busybox")).unwrap();
    for applet in ["sh", "true", "sleep", "httpd", "echo", "mkdir"] {
        symlink("/bin/busybox", dir.path().join("bin").join(applet)).unwrap();
    }
    dir
}

fn bench_readiness(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = busybox_root();
    let state = tempfile::tempdir().unwrap();
    let store = Containers::open(state.path()).unwrap();
    let server = Container::builder(root.path())
        .cmd([
            "sh",
            "-c",
            "echo ready; mkdir -p /www && exec httpd -f -p 80 -h /www",
        ])
        .build()
        .unwrap();
    let id = rt
        .block_on(store.run(&server, &CreateOptions::default().tied_to_caller()))
        .unwrap();
    while !store.is_listening(&id, 80).unwrap() {
        std::thread::sleep(Duration::from_millis(5));
    }

    let mut g = c.benchmark_group("readiness");
    g.sample_size(30);
    g.bench_function("is_listening", |b| {
        b.iter(|| assert!(store.is_listening(&id, 80).unwrap()))
    });
    g.bench_function("exec_true", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut child = store
                    .exec(&id, ["true"], &ExecOptions::default())
                    .await
                    .unwrap();
                assert_eq!(child.wait().await.unwrap().code(), 0);
            })
        })
    });
    g.bench_function("log_read", |b| {
        b.iter(|| {
            rt.block_on(async {
                let _guard = rt.enter();
                let mut log = store.logs(&id, false).unwrap();
                let mut text = String::new();
                log.read_to_string(&mut text).await.unwrap();
                assert!(text.contains("ready"));
            })
        })
    });
    // Each run needs a container of its own (a new ID): built in the loop, as a harness does.
    let sleeper = || {
        Container::builder(root.path())
            .cmd(["sleep", "600"])
            .build()
            .unwrap()
    };
    g.bench_function("run_tied_then_rm", |b| {
        b.iter(|| {
            rt.block_on(async {
                let c = sleeper();
                let id = store
                    .run(&c, &CreateOptions::default().tied_to_caller())
                    .await
                    .unwrap();
                let rm = RemoveOptions {
                    force: true,
                    volumes: true,
                };
                store.remove_with(&id, rm).await.unwrap();
            })
        })
    });
    g.finish();
    rt.block_on(store.remove(&id, true)).unwrap();
}

criterion_group!(benches, bench_readiness);
criterion_main!(benches);
