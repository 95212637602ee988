//! Containers through the facade: run with the image's config, a published port and a named
//! volume, the lifecycle verbs, `--rm`, cp, exec, ps filters, IDs by prefix, and bad input that
//! leaves nothing behind.

use std::net::SocketAddr;

use boxwright::runtime::{AttachOptions, Stream};
use boxwright::{Engine, RunOptions};

use crate::support::{engine_with_busybox, entries, http_get};

/// All of a container's logged output so far, as text.
async fn logs(engine: &Engine, id: &str) -> String {
    let mut logs = engine
        .logs(id, &boxwright::runtime::LogOptions::default())
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = logs.next_chunk().await.unwrap() {
        out.extend_from_slice(&chunk.data);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_detached_publishes_a_port_over_a_named_volume() {
    let (_root, engine) = engine_with_busybox();
    let opts = RunOptions::new()
        .name("web")
        .publish("127.0.0.1:0:80".parse().unwrap())
        .volume("site:/www".parse().unwrap())
        .cmd([
            "sh",
            "-c",
            "echo hello from the volume > /www/index.html; echo ready; exec httpd -f -p 80 -h /www",
        ]);
    let id = engine.run("busybox", opts).await.unwrap();
    let info = engine.container_inspect("web").await.unwrap();
    assert_eq!(info.info.id, id);
    let port = info.info.ports[0].host.port();
    let page = http_get(SocketAddr::from(([127, 0, 0, 1], port)), "/index.html").await;
    assert!(page.contains("hello from the volume"), "{page}");
    assert!(logs(&engine, &id).await.contains("ready"));
    // The file is in the named volume, which outlives the container.
    engine.stop(&id[..12], None).await.unwrap();
    engine.rm("web", Default::default()).await.unwrap();
    let vol = engine.volume_inspect("site").await.unwrap();
    let data = std::fs::read_to_string(vol.mountpoint.join("index.html")).unwrap();
    assert_eq!(data, "hello from the volume\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_config_and_the_overrides() {
    let (_root, engine) = engine_with_busybox();
    // The image's Cmd is `sh`; a command replaces it; -e adds; -w and -u apply.
    let opts = RunOptions::new()
        .env("GREETING=hi")
        .workdir("/srv/app")
        .user("nobody")
        .cmd(["sh", "-c", "echo $GREETING $(pwd) $(id -u) $PATH"]);
    let mut attached = engine
        .run_attached("busybox", opts, AttachOptions::default())
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = attached.next_chunk().await.unwrap() {
        if chunk.stream == Stream::Stdout {
            out.extend_from_slice(&chunk.data);
        }
    }
    assert_eq!(attached.wait().await.unwrap(), 0);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "hi /srv/app 65534 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    );
    // --entrypoint replaces the image's and clears its Cmd.
    let id = engine
        .run("busybox", RunOptions::new().entrypoint(["echo"]))
        .await
        .unwrap();
    assert_eq!(engine.wait(&id).await.unwrap(), 0);
    assert_eq!(logs(&engine, &id).await, "\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_image_leaves_nothing() {
    let (root, engine) = engine_with_busybox();
    let before = entries(&root.path().join("containers"));
    // A name the store lacks is pulled: from a registry on 127.0.0.1 that is not there.
    let err = engine
        .create("127.0.0.1:1/nosuchimage:1.0", RunOptions::new())
        .await
        .unwrap_err();
    let text = err.report().to_string();
    assert!(text.contains("nosuchimage"), "{text}");
    assert_eq!(entries(&root.path().join("containers")), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_start_restart_kill_and_rm_by_prefix() {
    let (_root, engine) = engine_with_busybox();
    let id = engine
        .run(
            "busybox",
            RunOptions::new().name("loop").cmd([
                "sh",
                "-c",
                "echo started; trap 'exit 3' TERM; while :; do sleep 0.1; done",
            ]),
        )
        .await
        .unwrap();
    let prefix = &id[..6];
    crate::support::wait_until("the first start's line", async || {
        logs(&engine, prefix).await.contains("started")
    })
    .await;
    // SIGTERM reaches the trap: the exit code is the script's.
    assert_eq!(engine.stop(prefix, None).await.unwrap(), 3);
    assert!(!engine
        .container_inspect(prefix)
        .await
        .unwrap()
        .info
        .is_running());
    engine.start(prefix).await.unwrap();
    assert!(engine
        .container_inspect("loop")
        .await
        .unwrap()
        .info
        .is_running());
    engine.restart("loop", None).await.unwrap();
    let info = engine.container_inspect(prefix).await.unwrap();
    assert!(info.info.is_running());
    assert_eq!(info.info.restart_count, 2);
    crate::support::wait_until("three starts in the log", async || {
        logs(&engine, prefix).await.matches("started").count() == 3
    })
    .await;
    // kill by name: SIGKILL is 128 + 9.
    engine.kill(prefix, "SIGKILL").await.unwrap();
    assert_eq!(engine.wait(prefix).await.unwrap(), 137);
    assert!(matches!(
        engine.kill(prefix, "SIGNOPE").await,
        Err(boxwright::Error::Invalid { .. })
    ));
    engine.rm(prefix, Default::default()).await.unwrap();
    assert!(matches!(
        engine.container_inspect(prefix).await,
        Err(boxwright::Error::Runtime(
            boxwright::runtime::Error::NoSuchContainer { .. }
        ))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_remove_leaves_nothing_once_the_command_ends() {
    let (root, engine) = engine_with_busybox();
    let id = engine
        .run("busybox", RunOptions::new().auto_remove(true).cmd(["true"]))
        .await
        .unwrap();
    crate::support::wait_until("the --rm container to go", async || {
        engine.container_inspect(&id).await.is_err()
    })
    .await;
    let ps = engine
        .ps(&boxwright::PsOptions::new().all(true))
        .await
        .unwrap();
    assert!(ps.is_empty(), "{ps:?}");
    assert!(entries(&root.path().join("names")).is_empty());
}

/// `docker run --rm -v data:/data …` then `docker volume rm data`: once the container is gone,
/// its named volume is free at once (not only after the next create or rm collects the trash).
#[tokio::test(flavor = "multi_thread")]
async fn a_removed_containers_volume_is_free_at_once() {
    let (_root, engine) = engine_with_busybox();
    engine.volume_create(Some("data")).await.unwrap();
    let opts = RunOptions::new()
        .auto_remove(true)
        .volume("data:/data".parse().unwrap())
        .cmd(["sh", "-c", "echo kept > /data/file"]);
    let id = engine.run("busybox", opts).await.unwrap();
    crate::support::wait_until("the --rm container to go", async || {
        engine.container_inspect(&id).await.is_err()
    })
    .await;
    let listed = engine.volume_ls().await.unwrap();
    let data = listed.iter().find(|v| v.name == "data").unwrap();
    assert!(data.users.is_empty(), "{data:?}");
    engine.volume_rm("data", false).await.unwrap();
    assert!(engine.volume_inspect("data").await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn cp_both_ways_and_exec() {
    let (_root, engine) = engine_with_busybox();
    let id = engine
        .run("busybox", RunOptions::new().cmd(["sleep", "600"]))
        .await
        .unwrap();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in.txt"), "from the host\n").unwrap();
    engine
        .cp_in(&id[..8], host.path().join("in.txt"), "/tmp/in.txt")
        .await
        .unwrap();
    let child = engine
        .exec(
            &id[..8],
            [
                "sh",
                "-c",
                "cat /tmp/in.txt; echo made inside > /tmp/out.txt; echo $X",
            ],
            &boxwright::runtime::ExecOptions {
                env: vec![("X".into(), "exec env".into())],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "from the host\nexec env\n"
    );
    engine
        .cp_out(&id, "/tmp/out.txt", host.path().join("out.txt"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(host.path().join("out.txt")).unwrap(),
        "made inside\n"
    );
    // A stopped container too.
    engine.kill(&id, "KILL").await.unwrap();
    engine.wait(&id).await.unwrap();
    engine
        .cp_out(&id, "/tmp/in.txt", host.path().join("again.txt"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(host.path().join("again.txt")).unwrap(),
        "from the host\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ps_filters_by_name_status_ancestor_id_and_label() {
    let (_root, engine) = engine_with_busybox();
    crate::support::import_busybox(&engine, "other:2");
    let running = engine
        .run(
            "busybox",
            RunOptions::new()
                .name("alpha-web")
                .label("tier", "front")
                .cmd(["sleep", "600"]),
        )
        .await
        .unwrap();
    let created = engine
        .create("other:2", RunOptions::new().name("beta-db"))
        .await
        .unwrap();
    let names = |list: Vec<boxwright::ContainerDetails>| -> Vec<String> {
        list.iter().map(|c| c.name().to_owned()).collect()
    };
    let ps = |all: bool, filters: &[&str]| {
        let mut opts = boxwright::PsOptions::new().all(all);
        for f in filters {
            opts = opts.filter(f.parse().unwrap());
        }
        let engine = engine.clone();
        async move { names(engine.ps(&opts).await.unwrap()) }
    };
    assert_eq!(ps(false, &[]).await, ["alpha-web"]);
    assert_eq!(ps(true, &[]).await, ["beta-db", "alpha-web"]);
    assert_eq!(ps(true, &["name=web"]).await, ["alpha-web"]);
    assert_eq!(ps(true, &["name=^beta"]).await, ["beta-db"]);
    assert_eq!(ps(true, &["status=created"]).await, ["beta-db"]);
    assert_eq!(ps(true, &["ancestor=busybox"]).await, ["alpha-web"]);
    assert_eq!(ps(true, &["ancestor=busybox:latest"]).await, ["alpha-web"]);
    assert_eq!(ps(true, &["ancestor=other"]).await, ["beta-db"]);
    let image = engine.image("other:2").await.unwrap();
    let by_id = format!("ancestor={}", &image.id.digest()[..12]);
    assert_eq!(ps(true, &[by_id.as_str()]).await, ["beta-db"]);
    let by_id = format!("id={}", &created[..5]);
    assert_eq!(ps(true, &[by_id.as_str()]).await, ["beta-db"]);
    assert_eq!(ps(true, &["label=tier=front"]).await, ["alpha-web"]);
    // Two of one kind: either; two kinds: both.
    assert_eq!(
        ps(true, &["name=alpha", "name=beta", "status=running"]).await,
        ["alpha-web"]
    );
    assert!("colour=blue".parse::<boxwright::PsFilter>().is_err());
    engine
        .rm(
            &running,
            boxwright::runtime::RemoveOptions {
                force: true,
                volumes: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(engine.container_prune().await.unwrap(), [created]);
    assert!(ps(true, &[]).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_volume_is_an_anonymous_volume_and_publish_all_picks_ports() {
    let (_root, engine) = engine_with_busybox();
    // An image with VOLUME /data and EXPOSE 80, committed from a container.
    let id = engine.create("busybox", RunOptions::new()).await.unwrap();
    engine
        .commit(
            &id,
            boxwright::CommitOptions::new()
                .reference("withvol")
                .change("VOLUME /data")
                .change("EXPOSE 80"),
        )
        .await
        .unwrap();
    let id = engine
        .run(
            "withvol",
            RunOptions::new().publish_all(true).cmd([
                "sh",
                "-c",
                "echo kept > /data/f; exec httpd -f -p 80 -h /data",
            ]),
        )
        .await
        .unwrap();
    let info = engine.container_inspect(&id).await.unwrap();
    assert_eq!(info.info.ports.len(), 1);
    assert_ne!(info.info.ports[0].host.port(), 0);
    let addr = info.port(80).unwrap();
    assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST);
    let page = http_get(addr, "/f").await;
    assert!(page.contains("kept"), "{page}");
    let volumes = engine.volume_ls().await.unwrap();
    let anon: Vec<_> = volumes.iter().filter(|v| v.anonymous).collect();
    assert_eq!(anon.len(), 1, "{volumes:?}");
    assert_eq!(
        std::fs::read_to_string(anon[0].mountpoint.join("f")).unwrap(),
        "kept\n"
    );
    engine
        .rm(
            &id,
            boxwright::runtime::RemoveOptions {
                force: true,
                volumes: true,
            },
        )
        .await
        .unwrap();
    assert!(engine
        .volume_ls()
        .await
        .unwrap()
        .iter()
        .all(|v| !v.anonymous));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_typed_error_and_leaves_nothing() {
    let (root, engine) = engine_with_busybox();
    let nothing_left = || {
        assert!(entries(&root.path().join("containers")).is_empty());
        assert!(entries(&root.path().join("names")).is_empty());
        assert!(entries(&root.path().join("trash")).is_empty());
    };
    // A bad port spec.
    let err = "80:http"
        .parse::<boxwright::runtime::PortMapping>()
        .unwrap_err();
    assert!(
        matches!(err, boxwright::runtime::Error::InvalidPortSpec { .. }),
        "{err:?}"
    );
    // A port in use: the start fails, the container is removed again.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = engine
        .run(
            "busybox",
            RunOptions::new()
                .name("clash")
                .publish(format!("127.0.0.1:{port}:80").parse().unwrap())
                .cmd(["sleep", "600"]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            boxwright::Error::Runtime(boxwright::runtime::Error::PortAllocated { .. })
        ),
        "{err:?}"
    );
    assert!(
        err.report().to_string().contains(&port.to_string()),
        "{}",
        err.report()
    );
    nothing_left();
    // A missing bind source.
    let err = engine
        .run(
            "busybox",
            RunOptions::new()
                .volume("/nonexistent/boxwright-test:/x".parse().unwrap())
                .cmd(["true"]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, boxwright::Error::Invalid { reason, .. } if reason.contains("does not exist")),
        "{err:?}"
    );
    nothing_left();
    // No command.
    let none: [&str; 0] = [];
    let err = engine
        .create("busybox", RunOptions::new().entrypoint(none))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            boxwright::Error::Runtime(boxwright::runtime::Error::NoCommand)
        ),
        "{err:?}"
    );
    nothing_left();
    // An ambiguous prefix: among 17 containers, two share their first digit.
    let mut ids = Vec::new();
    for _ in 0..17 {
        ids.push(engine.create("busybox", RunOptions::new()).await.unwrap());
    }
    let shared = (0..16)
        .map(|d| format!("{d:x}"))
        .find(|p| ids.iter().filter(|id| id.starts_with(p.as_str())).count() >= 2)
        .unwrap();
    let err = engine.start(&shared).await.unwrap_err();
    match &err {
        boxwright::Error::Runtime(boxwright::runtime::Error::AmbiguousId {
            candidates, ..
        }) => {
            assert!(candidates.len() >= 2, "{candidates:?}")
        }
        other => panic!("{other:?}"),
    }
    let running = engine.ps(&boxwright::PsOptions::new()).await.unwrap();
    assert!(running.is_empty());
    assert_eq!(engine.container_prune().await.unwrap().len(), 17);
    nothing_left();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_by_id_prefix_logs_tail_and_timestamps_and_attach() {
    let (_root, engine) = engine_with_busybox();
    let image = engine.image("busybox").await.unwrap();
    let id = engine
        .run(
            &image.id.digest()[..8],
            RunOptions::new().interactive(true).cmd([
                "sh",
                "-c",
                "echo one; echo two; echo three; read line; echo got $line",
            ]),
        )
        .await
        .unwrap();
    let details = engine.container_inspect(&id).await.unwrap();
    assert_eq!(
        details.image_id.as_deref(),
        Some(image.id.to_string().as_str())
    );
    assert_eq!(details.image_name.as_deref(), Some(&image.id.digest()[..8]));
    crate::support::wait_until("three lines", async || {
        logs(&engine, &id).await == "one\ntwo\nthree\n"
    })
    .await;
    let opts = boxwright::runtime::LogOptions {
        tail: Some(1),
        ..Default::default()
    };
    let mut tail = engine.logs(&id, &opts).await.unwrap();
    let chunk = tail.next_chunk().await.unwrap().unwrap();
    assert_eq!(chunk.data, b"three\n");
    assert!(tail.next_chunk().await.unwrap().is_none());
    let opts = boxwright::runtime::LogOptions {
        timestamps: true,
        ..Default::default()
    };
    let mut stamped = String::new();
    let mut reader = engine.logs(&id, &opts).await.unwrap();
    tokio::io::AsyncReadExt::read_to_string(&mut reader, &mut stamped)
        .await
        .unwrap();
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 3, "{stamped}");
    for (line, word) in lines.iter().zip(["one", "two", "three"]) {
        let (time, text) = line.split_once(' ').unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{line}");
        assert_eq!(text, word);
    }
    // Attach: the command reads what this client writes.
    let mut attached = engine.attach(&id, AttachOptions::default()).await.unwrap();
    // Kept open until the end: closing it would end this attachment (no stdin-once).
    let mut stdin = attached.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, b"hello\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = attached.next_chunk().await.unwrap() {
        out.extend_from_slice(&chunk.data);
    }
    assert_eq!(String::from_utf8_lossy(&out), "got hello\n");
    assert_eq!(attached.wait().await.unwrap(), 0);
    drop(stdin);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostname_network_none_read_only_init_and_limits() {
    let (_root, engine) = engine_with_busybox();
    let script = "hostname; ip -o link | wc -l; touch /x 2>/dev/null || echo read-only; \
                  tr '\\0' ' ' < /proc/1/cmdline; echo; \
                  cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null; true";
    let opts = RunOptions::new()
        .hostname("box")
        .network(boxwright::runtime::Network::None)
        .read_only(true)
        .init(true)
        .memory(64 << 20)
        .pids_limit(32)
        .cmd(["sh", "-c", script]);
    let mut attached = engine
        .run_attached("busybox", opts, AttachOptions::default())
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = attached.next_chunk().await.unwrap() {
        out.extend_from_slice(&chunk.data);
    }
    assert_eq!(attached.wait().await.unwrap(), 0);
    let out = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[..3], ["box", "1", "read-only"], "{out}");
    assert_eq!(lines[3], "init", "{out}");
    assert_eq!(lines[4], (64u64 << 20).to_string(), "{out}");
    // Ports need the default network.
    let err = engine
        .create(
            "busybox",
            RunOptions::new()
                .network(boxwright::runtime::Network::None)
                .publish("8080:80".parse().unwrap()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, boxwright::Error::Invalid { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn volume_create_ls_inspect_rm_prune() {
    let (_root, engine) = engine_with_busybox();
    let named = engine.volume_create(Some("keep")).await.unwrap();
    assert_eq!(named.name, "keep");
    let anon = engine.volume_create(None).await.unwrap();
    assert!(anon.anonymous);
    let mut names: Vec<String> = engine
        .volume_ls()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    names.sort();
    let mut want = vec!["keep".to_owned(), anon.name.clone()];
    want.sort();
    assert_eq!(names, want);
    // In use: refused unless forced.
    let id = engine
        .create(
            "busybox",
            RunOptions::new().volume("keep:/data".parse().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        engine.volume_inspect("keep").await.unwrap().users,
        std::slice::from_ref(&id)
    );
    assert!(matches!(
        engine.volume_rm("keep", false).await,
        Err(boxwright::Error::Runtime(
            boxwright::runtime::Error::VolumeInUse { .. }
        ))
    ));
    // Prune: unused anonymous ones; with `all`, unused named ones too.
    assert_eq!(engine.volume_prune(false).await.unwrap(), [anon.name]);
    engine.rm(&id, Default::default()).await.unwrap();
    assert_eq!(engine.volume_prune(true).await.unwrap(), ["keep"]);
    assert!(engine.volume_ls().await.unwrap().is_empty());
    assert!(matches!(
        engine.volume_inspect("keep").await,
        Err(boxwright::Error::Runtime(
            boxwright::runtime::Error::NoSuchVolume { .. }
        ))
    ));
}
