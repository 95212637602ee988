//! Docker's per-container `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`, seen from
//! inside busybox, and the image's own files left alone.

use std::path::Path;

use boxwright_runtime::{Container, CreateOptions, Network, Output, RootFs};

use crate::common::{
    busybox_rootfs, fixture, read_log, slirp4netns_installed, subdirs, text, wait,
};

const SCRIPT: &str = "cat /etc/hosts; echo ==; cat /etc/hostname; echo ==; cat /etc/resolv.conf; \
                      echo ==; hostname -i";

async fn etc_of(rootfs: impl Into<RootFs>, network: Network) -> (Output, Vec<String>) {
    let out = Container::builder(rootfs)
        .cmd(["sh", "-c", SCRIPT])
        .hostname("box")
        .network(network)
        .build()
        .unwrap()
        .output()
        .await
        .unwrap();
    let parts = text(&out.stdout).split("==\n").map(str::to_owned).collect();
    (out, parts)
}

fn host_nameservers() -> Vec<String> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .map(|s| s.trim().to_owned())
        .collect()
}

#[tokio::test]
async fn a_private_container_resolves_its_own_name_and_no_host_loopback_dns() {
    let root = busybox_rootfs();
    let (out, parts) = etc_of(root.path(), Network::None).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(parts.len(), 4, "{out:?}");
    assert!(parts[0].contains("127.0.0.1\tlocalhost\n"), "{}", parts[0]);
    assert!(parts[0].contains("::1\tlocalhost ip6-localhost ip6-loopback\n"));
    assert!(parts[0].contains("127.0.1.1\tbox\n"), "{}", parts[0]);
    assert_eq!(parts[1], "box\n");
    // The host's nameservers minus those on its loopback, or Google's when none is left.
    let expected: Vec<String> = host_nameservers()
        .into_iter()
        .filter(|n| !n.starts_with("127.") && n != "::1")
        .collect();
    let got: Vec<&str> = parts[2]
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .collect();
    if expected.is_empty() {
        assert_eq!(got, ["8.8.8.8", "8.8.4.4"]);
    } else {
        assert_eq!(got, expected);
    }
    // busybox's `hostname -i` resolves the hostname through /etc/hosts.
    assert_eq!(parts[3].trim(), "127.0.1.1", "{out:?}");
    // Nothing was written into the image: it had no such files, and gains only empty mount
    // points.
    for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        assert_eq!(std::fs::read(root.path().join(f)).unwrap(), b"", "{f}");
    }
}

#[tokio::test]
async fn a_host_network_container_has_the_hosts_resolv_conf() {
    let root = busybox_rootfs();
    let (out, parts) = etc_of(root.path(), Network::Host).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        parts[2],
        std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
    );
    assert!(parts[0]
        .lines()
        .any(|l| l.split_whitespace().skip(1).any(|n| n == "box")));
}

#[tokio::test]
async fn slirp_gives_its_own_address_and_dns() {
    if !slirp4netns_installed() {
        eprintln!("skipped: slirp4netns is not installed");
        return;
    }
    let root = busybox_rootfs();
    let (out, parts) = etc_of(root.path(), Network::Private).await;
    assert!(out.status.success(), "{out:?}");
    assert!(parts[0].contains("10.0.2.100\tbox\n"), "{}", parts[0]);
    let ns: Vec<&str> = parts[2]
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .collect();
    assert_eq!(ns, ["10.0.2.3"]);
    assert_eq!(parts[3].trim(), "10.0.2.100");
}

#[tokio::test]
async fn the_images_own_files_are_untouched_in_a_dir_and_an_overlay() {
    let lower = busybox_rootfs();
    for f in ["hosts", "hostname", "resolv.conf"] {
        std::fs::write(lower.path().join("etc").join(f), format!("image {f}\n")).unwrap();
    }
    // A plain directory.
    let (out, parts) = etc_of(lower.path(), Network::None).await;
    assert!(out.status.success(), "{out:?}");
    assert!(parts[0].contains("127.0.1.1\tbox\n"));
    // An overlay: the upper dir gets nothing either (a mount is no copy-up).
    let state = tempfile::tempdir().unwrap();
    let [upper, work] = subdirs(state.path(), ["upper", "work"]);
    let (out, parts) = etc_of(
        RootFs::overlay([lower.path()], &upper, &work),
        Network::None,
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(parts[1], "box\n");
    for f in ["hosts", "hostname", "resolv.conf"] {
        assert_eq!(
            std::fs::read_to_string(lower.path().join("etc").join(f)).unwrap(),
            format!("image {f}\n")
        );
    }
    assert!(!upper.join("etc").exists(), "the upper dir stays empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_container_keeps_its_files_in_its_directory() {
    let (root, state, store) = fixture();
    let c = Container::builder(root.path())
        .cmd(["sh", "-c", "cat /etc/hostname; echo edited >> /etc/hosts"])
        .hostname("stored")
        .build()
        .unwrap();
    let id = store.run(&c, &CreateOptions::default()).await.unwrap();
    assert_eq!(wait(&store, &id).await, 0);
    let dir = Path::new(state.path()).join("containers").join(&id);
    assert_eq!(
        std::fs::read_to_string(dir.join("hostname")).unwrap(),
        "stored\n"
    );
    // Writes to /etc/hosts land in the container's copy, as in Docker.
    let hosts = std::fs::read_to_string(dir.join("hosts")).unwrap();
    assert!(hosts.contains("127.0.1.1\tstored\n") && hosts.ends_with("edited\n"));
    assert_eq!(std::fs::read(root.path().join("etc/hosts")).unwrap(), b"");
    assert_eq!(read_log(&store, &id).await, "stored\n");
}
