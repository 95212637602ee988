//! The embedding case: many containers started at once from a multi-threaded tokio runtime,
//! while other threads allocate and lock (what a fork-and-run-Rust child would deadlock on).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::{busybox_rootfs, text};
use boxwright_runtime::Container;

#[test]
fn fifty_containers_from_a_multi_threaded_runtime() {
    let root = busybox_rootfs();
    let stop = Arc::new(AtomicBool::new(false));
    // Threads that hold the allocator's and a mutex's locks as often as they can.
    let shared = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let noise: Vec<_> = (0..2)
        .map(|_| {
            let (stop, shared) = (stop.clone(), shared.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut v = shared.lock().unwrap();
                    v.push(vec![0u8; 4096]);
                    if v.len() > 64 {
                        v.clear();
                    }
                }
            })
        })
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(async {
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let path = root.path().to_path_buf();
                tokio::spawn(async move {
                    let out = Container::builder(path)
                        .cmd(["sh", "-c", "echo $$ $N"])
                        .env("N", i.to_string())
                        .pids_limit(if i % 5 == 0 { 16 } else { 0 })
                        .build()?
                        .output()
                        .await?;
                    Ok::<_, boxwright_runtime::Error>((i, out))
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        results
    });
    stop.store(true, Ordering::Relaxed);
    for t in noise {
        t.join().unwrap();
    }
    assert_eq!(results.len(), 50);
    for r in results {
        let (i, out) = r.unwrap();
        assert!(out.status.success(), "container {i}: {out:?}");
        assert_eq!(text(&out.stdout), format!("1 {i}\n"));
    }
}
