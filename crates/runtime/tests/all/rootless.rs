//! A rootless run: the test binary re-executes itself as uid/gid 65534 (nobody), and that
//! unprivileged process starts a container in a user namespace (and, for published ports,
//! reaches its server through slirp4netns).

use boxwright_runtime::Container;

use crate::common::{
    busybox_rootfs, chown_tree, http_get, reexec_as_nobody, slirp4netns_installed, test_name,
    userns_refused, NOBODY, PATIENCE,
};

const HELPER_ENV: &str = "BOXWRIGHT_ROOTLESS_ROOTFS";
/// Set: the helper runs its container under our init.
const INIT_ENV: &str = "BOXWRIGHT_ROOTLESS_INIT";
/// Set: the helper publishes a port of an httpd container and fetches a page through it.
const PORTS_ENV: &str = "BOXWRIGHT_ROOTLESS_PORTS";
/// Set: the helper runs a detached httpd container under our init in a store of its own,
/// reaches it through a published port, execs into it and copies in and out.
const DETACHED_ENV: &str = "BOXWRIGHT_ROOTLESS_DETACHED";
/// Set: the helper runs a detached interactive container in a store of its own and attaches.
const ATTACH_ENV: &str = "BOXWRIGHT_ROOTLESS_ATTACH";

/// Runs inside the unprivileged re-execution only.
#[test]
fn rootless_helper() {
    let Ok(rootfs) = std::env::var(HELPER_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var_os(DETACHED_ENV).is_some() {
        let state = tempfile::tempdir().unwrap();
        match rt.block_on(detached_under_init(&rootfs, state.path())) {
            Ok(report) => print!("{report}"),
            Err(e) => println!(
                "ERROR:{e} ({:?})",
                std::error::Error::source(&e).map(|s| s.to_string())
            ),
        }
        return;
    }
    if std::env::var_os(PORTS_ENV).is_some() {
        match rt.block_on(fetch_through_published_port(&rootfs)) {
            Ok(report) => print!("{report}"),
            Err(e) => println!(
                "ERROR:{e} ({:?})",
                std::error::Error::source(&e).map(|s| s.to_string())
            ),
        }
        return;
    }
    if std::env::var_os(ATTACH_ENV).is_some() {
        match rt.block_on(attach_to_a_detached_shell(&rootfs)) {
            Ok(report) => print!("{report}"),
            Err(e) => println!(
                "ERROR:{e} ({:?})",
                std::error::Error::source(&e).map(|s| s.to_string())
            ),
        }
        return;
    }
    let init = std::env::var_os(INIT_ENV).is_some();
    let script = if init {
        "echo pid=$$ init=$(cat /proc/1/comm) cmdline=$(tr '\\0' . < /proc/1/cmdline); cat /proc/1/mem 2>&1 >/dev/null | head -n1; exit 5"
    } else {
        "echo uid=$(id -u) pid=$$ host=$(hostname); cat /proc/self/uid_map; grep CapEff /proc/self/status; ls /dev/null; ls /proc/1/fd; exit 0"
    };
    let result = rt.block_on(async {
        Container::builder(rootfs.as_str())
            .cmd(["sh", "-c", script])
            .hostname("rootless")
            .init(init)
            .build()?
            .output()
            .await
    });
    match result {
        Ok(out) => {
            print!("STDOUT:{}", String::from_utf8_lossy(&out.stdout));
            print!("STDERR:{}", String::from_utf8_lossy(&out.stderr));
            println!("STATUS:{}", out.status.code());
        }
        Err(e) => println!(
            "ERROR:{e} ({:?})",
            std::error::Error::source(&e).map(|s| s.to_string())
        ),
    }
}

/// In the unprivileged helper: an attached httpd container publishing 127.0.0.1:0:80, a page
/// fetched through the host port, then the container killed and the port checked released.
async fn fetch_through_published_port(rootfs: &str) -> Result<String, boxwright_runtime::Error> {
    use std::net::{Ipv4Addr, SocketAddr};

    let mut child = Container::builder(rootfs)
        .cmd([
            "sh",
            "-c",
            "mkdir -p /www && echo hello-rootless > /www/index.html && \
             exec httpd -f -p 80 -h /www",
        ])
        .network(boxwright_runtime::Network::Private)
        .publish_port("127.0.0.1:0:80".parse()?)
        .build()?
        .spawn()
        .await?;
    let ports = child.published_ports().to_vec();
    let mut report = format!("PORTS:{}\n", ports.len());
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, ports[0].host.port()));
    assert_eq!(ports[0].container_port, 80);
    assert_ne!(addr.port(), 0);
    let page = http_get(addr, "/index.html").await;
    report.push_str(&format!("PAGE:{page}\n"));

    child.kill(9)?;
    let status = child.wait().await?;
    report.push_str(&format!("KILLED:{}\n", status.code()));
    // slirp4netns is stopped once the container is reaped: nothing listens on the port.
    let refused = tokio::net::TcpStream::connect(addr).await.is_err();
    let free = std::net::TcpListener::bind(addr).is_ok();
    report.push_str(&format!("REFUSED:{refused} FREE:{free}\n"));
    Ok(report)
}

/// In the unprivileged helper: a detached httpd container under our init, publishing
/// 127.0.0.1:0:80, in a store at `state`; a page fetched through the port, an `exec`, a copy
/// in and out of the running container, then stop and removal.
async fn detached_under_init(
    rootfs: &str,
    state: &std::path::Path,
) -> Result<String, boxwright_runtime::Error> {
    use boxwright_runtime::{Containers, CreateOptions, ExecOptions, Network};
    use std::net::{Ipv4Addr, SocketAddr};

    let store = Containers::open(state)?;
    let c = Container::builder(rootfs)
        .cmd([
            "sh",
            "-c",
            "mkdir -p /www && echo hello-detached > /www/index.html && \
             exec httpd -f -p 80 -h /www",
        ])
        .init(true)
        .network(Network::Private)
        .publish_port("127.0.0.1:0:80".parse()?)
        .build()?;
    let id = store.run(&c, &CreateOptions::default()).await?;
    // Whatever fails below, the container does not outlive the test.
    let _guard = KillOnDrop(&store, id.clone());
    let ports = store.inspect(&id)?.ports;
    let mut report = format!("PORTS:{}\n", ports.len());
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, ports[0].host.port()));
    report.push_str(&format!("PAGE:{}\n", http_get(addr, "/index.html").await));

    let out = store
        .exec(
            &id,
            ["sh", "-c", "echo exec-pid=$$; cat /www/index.html"],
            &ExecOptions::default(),
        )
        .await?
        .wait_with_output()
        .await?;
    report.push_str(&format!(
        "EXEC:{}|{}|{}\n",
        String::from_utf8_lossy(&out.stdout).replace('\n', ";"),
        String::from_utf8_lossy(&out.stderr).trim(),
        out.status.code()
    ));

    let dir = state.join("cp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("in.txt"), "copied-in\n").unwrap();
    let root = store.files(&id)?;
    root.copy_in(&dir.join("in.txt"), "/www/in.txt")?;
    root.copy_out("/www/index.html", &dir.join("out.txt"))?;
    drop(root);
    report.push_str(&format!(
        "CPOUT:{}",
        std::fs::read_to_string(dir.join("out.txt")).unwrap()
    ));
    let in_page = http_get(addr, "/in.txt").await;
    report.push_str(&format!("CPIN:{}\n", in_page.contains("copied-in")));

    let code = store
        .stop(&id, Some(std::time::Duration::from_secs(5)))
        .await?;
    report.push_str(&format!("STOPPED:{code}\n"));
    store.remove(&id, false).await?;
    let free = std::net::TcpListener::bind(addr).is_ok();
    report.push_str(&format!("FREE:{free}\n"));
    Ok(report)
}

/// In the unprivileged helper: `docker run -di` of a shell in a store of its own, then an
/// attachment that drives it and sees its exit code.
async fn attach_to_a_detached_shell(rootfs: &str) -> Result<String, boxwright_runtime::Error> {
    use boxwright_runtime::{AttachOptions, Containers, CreateOptions};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let state = tempfile::tempdir().unwrap();
    let store = Containers::open(state.path())?;
    let c = Container::builder(rootfs).cmd(["sh"]).build()?;
    let opts = CreateOptions {
        interactive: true,
        ..CreateOptions::default()
    };
    let id = store.run(&c, &opts).await?;
    let _guard = KillOnDrop(&store, id.clone());
    let mut a = store.attach(&id, &AttachOptions::default()).await?;
    let mut stdin = a.stdin.take().expect("stdin");
    stdin
        .write_all(b"echo uid=$(id -u) pid=$$; exit 3\n")
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(PATIENCE, a.read_to_string(&mut out))
        .await
        .expect("the output ends")
        .unwrap();
    let code = tokio::time::timeout(PATIENCE, a.wait())
        .await
        .expect("the exit code")?;
    Ok(format!("ATTACHED:{out}CODE:{code}\n"))
}

/// Kills a stored container when dropped (a no-op once it has exited).
struct KillOnDrop<'a>(&'a boxwright_runtime::Containers, String);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill(&self.1, 9);
    }
}

/// Runs the helper as nobody over a busybox root of its own; `None` when skipped.
fn run_helper_as_nobody(name: &str, init: bool) -> Option<String> {
    run_helper_as_nobody_with(name, if init { Some(INIT_ENV) } else { None })
}

/// [`run_helper_as_nobody`] with the helper's mode in `mode_env` (set to `1`).
fn run_helper_as_nobody_with(name: &str, mode_env: Option<&str>) -> Option<String> {
    let mut helper = reexec_as_nobody(&test_name(module_path!(), "rootless_helper"))?;
    // A rootless user runs containers over root file systems of its own.
    let root = busybox_rootfs();
    chown_tree(root.path(), NOBODY);
    helper.env(HELPER_ENV, root.path());
    if let Some(env) = mode_env {
        helper.env(env, "1");
    }
    let out = helper.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if let Some(err) = stdout.lines().find_map(|l| l.strip_prefix("ERROR:")) {
        if userns_refused(err) && std::env::var_os("CI").is_none() {
            eprintln!(
                "{name}: the kernel refuses unprivileged user namespaces here ({err}); skipped"
            );
            return None;
        }
        panic!("rootless run failed: {err}\n{stdout}");
    }
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(stdout)
}

#[test]
fn rootless_run_under_our_init() {
    let Some(stdout) = run_helper_as_nobody("rootless_run_under_our_init", true) else {
        return;
    };
    assert!(
        stdout.contains("STDOUT:pid=2 init=init cmdline=init.\n")
            && stdout.contains("Permission denied\n"),
        "{stdout}"
    );
    assert!(stdout.contains("STATUS:5"), "{stdout}");
}

#[test]
fn rootless_run_as_nobody() {
    let Some(stdout) = run_helper_as_nobody("rootless_run_as_nobody", false) else {
        return;
    };
    assert!(
        stdout.contains("STDOUT:uid=0 pid=1 host=rootless\n"),
        "{stdout}"
    );
    // Root inside is nobody outside, and only that one id is mapped.
    let after = stdout
        .lines()
        .skip_while(|l| !l.contains("STDOUT:"))
        .nth(1)
        .unwrap();
    let map: Vec<&str> = after.split_whitespace().collect();
    assert_eq!(map, ["0", "65534", "1"], "{stdout}");
    assert!(stdout.contains("CapEff:\t00000000a80425fb"), "{stdout}");
    // Device nodes are bound from the host (no mknod in a user namespace); no fd leaks.
    assert!(
        stdout.contains("/dev/null\n0\n1\n2\nSTDERR:STATUS:0"),
        "{stdout}"
    );
    assert!(stdout.contains("STATUS:0"), "{stdout}");
}

/// Whether slirp4netns can run as nobody here: installed, and `/dev/net/tun` open to all.
/// Under CI both must hold.
fn slirp_usable(name: &str) -> bool {
    let slirp = slirp4netns_installed();
    if !slirp && std::env::var_os("CI").is_none() {
        eprintln!("{name}: slirp4netns is not installed; skipped");
        return false;
    }
    // slirp4netns opens /dev/net/tun as nobody: some sandboxes keep it root's only.
    let tun_open_to_all = std::fs::metadata("/dev/net/tun")
        .is_ok_and(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o006 == 0o006);
    if !tun_open_to_all {
        // CI opens it as Debian's udev rules do (0666); anywhere else, say why it is skipped.
        assert!(
            std::env::var_os("CI").is_none(),
            "/dev/net/tun is not open to all in CI"
        );
        eprintln!("{name}: /dev/net/tun is not usable by nobody here; skipped");
        return false;
    }
    slirp || std::env::var_os("CI").is_some()
}

#[test]
fn rootless_attached_container_publishes_a_port_through_slirp4netns() {
    let name = "rootless_attached_container_publishes_a_port_through_slirp4netns";
    if !slirp_usable(name) {
        return;
    }
    let Some(stdout) = run_helper_as_nobody_with(name, Some(PORTS_ENV)) else {
        return;
    };
    assert!(stdout.contains("PORTS:1\n"), "{stdout}");
    assert!(stdout.contains("PAGE:HTTP/1.1 200"), "{stdout}");
    assert!(stdout.contains("hello-rootless\n"), "{stdout}");
    assert!(stdout.contains("KILLED:137\n"), "{stdout}");
    assert!(stdout.contains("REFUSED:true FREE:true\n"), "{stdout}");
}

#[test]
fn rootless_detached_container_under_init_publishes_execs_and_copies() {
    let name = "rootless_detached_container_under_init_publishes_execs_and_copies";
    if !slirp_usable(name) {
        return;
    }
    let Some(stdout) = run_helper_as_nobody_with(name, Some(DETACHED_ENV)) else {
        return;
    };
    assert!(stdout.contains("PORTS:1\n"), "{stdout}");
    assert!(stdout.contains("PAGE:HTTP/1.1 200"), "{stdout}");
    assert!(stdout.contains("hello-detached\n"), "{stdout}");
    // exec runs in the container's PID namespace, beside the init (1), httpd (2) and the
    // processes they forked.
    let exec = stdout
        .lines()
        .find_map(|l| l.strip_prefix("EXEC:exec-pid="))
        .expect("an exec report");
    let (pid, rest) = exec.split_once(';').unwrap();
    assert!((3..1000).contains(&pid.parse::<u32>().unwrap()), "{stdout}");
    assert_eq!(rest, "hello-detached;||0", "{stdout}");
    assert!(stdout.contains("CPOUT:hello-detached\n"), "{stdout}");
    assert!(stdout.contains("CPIN:true\n"), "{stdout}");
    // httpd ignores nothing: SIGTERM forwarded by the init ends it (143).
    assert!(stdout.contains("STOPPED:143\n"), "{stdout}");
    assert!(stdout.contains("FREE:true\n"), "{stdout}");
}

#[test]
fn rootless_detached_container_attached() {
    let name = "rootless_detached_container_attached";
    let Some(stdout) = run_helper_as_nobody_with(name, Some(ATTACH_ENV)) else {
        return;
    };
    assert!(
        stdout.contains("ATTACHED:uid=0 pid=1\nCODE:3\n"),
        "{stdout}"
    );
}
