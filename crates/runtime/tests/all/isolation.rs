//! Each isolation property, checked from inside a container with busybox commands. (The cgroup
//! limits — memory, pids, cpu — are in `cgroups`, which also runs on pure cgroup v2 in CI's
//! VM.)

use boxwright_runtime::{Container, Error, ExitStatus, Network, RootFs, Stdio};

use crate::common::{busybox_rootfs, run, sh, subdirs, text};

#[tokio::test]
async fn command_is_pid_1_and_sees_no_host_process() {
    let root = busybox_rootfs();
    let out = run(sh(
        root.path(),
        "echo $$; ls /proc | grep -cE '^[0-9]+$'; ps -o pid,comm",
    ))
    .await;
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("1"));
    // PID 1 (sh), grep/ls and maybe their subshell: never the host's hundreds.
    let visible: usize = lines.next().unwrap().trim().parse().unwrap();
    assert!(visible <= 4, "{visible} processes visible: {stdout}");
    let ps: Vec<&str> = lines.skip(1).collect();
    assert!(ps.len() <= 3, "ps shows {ps:?}");
    assert!(
        ps.iter().any(|l| l.trim_start().starts_with("1 ")),
        "{ps:?}"
    );
}

#[tokio::test]
async fn hostname_is_the_containers() {
    let root = busybox_rootfs();
    let out = run(sh(root.path(), "hostname; echo $HOSTNAME").hostname("box")).await;
    assert_eq!(text(&out.stdout), "box\nbox\n");
    // Default: the first 12 digits of the ID, as Docker.
    let c = sh(root.path(), "hostname").build().unwrap();
    let out = c.output().await.unwrap();
    assert_eq!(text(&out.stdout).trim(), &c.id()[..12]);
}

#[tokio::test]
async fn mounts_are_refused() {
    let root = busybox_rootfs();
    let out = run(sh(
        root.path(),
        "mkdir -p /mnt; mount -t tmpfs none /mnt; echo rc=$?",
    ))
    .await;
    assert_eq!(text(&out.stdout), "rc=1\n");
    assert!(text(&out.stderr).contains("mount"), "{out:?}");
}

#[tokio::test]
async fn capabilities_are_dockers_and_the_bounding_set_is_dropped() {
    let root = busybox_rootfs();
    let out = run(sh(
        root.path(),
        "grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status",
    ))
    .await;
    let s = text(&out.stdout);
    // 0xa80425fb: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
    // NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP — exactly Docker's default set.
    assert!(s.contains("CapEff:\t00000000a80425fb"), "{s}");
    assert!(s.contains("CapBnd:\t00000000a80425fb"), "{s}");
    assert!(s.contains("CapAmb:\t0000000000000000"), "{s}");
    assert!(s.contains("NoNewPrivs:\t1"), "{s}");
    assert!(s.contains("Seccomp:\t2"), "{s}");

    // A non-root user keeps the bounding set but has no effective capability.
    let out = run(sh(
        root.path(),
        "grep -E '^(CapEff|CapBnd):' /proc/self/status; id -u",
    )
    .user("nobody"))
    .await;
    let s = text(&out.stdout);
    assert!(s.contains("CapEff:\t0000000000000000"), "{s}");
    assert!(s.contains("CapBnd:\t00000000a80425fb"), "{s}");
    assert!(s.ends_with("65534\n"), "{s}");
}

#[tokio::test]
async fn seccomp_denies_what_docker_denies() {
    let root = busybox_rootfs();
    let out = run(sh(
        root.path(),
        "unshare -n true; echo unshare=$?; swapoff /dev/null; echo swapoff=$?",
    ))
    .await;
    assert_eq!(text(&out.stdout), "unshare=1\nswapoff=1\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("unshare") && err.contains("Operation not permitted"),
        "{err}"
    );
    assert!(err.contains("swapoff"), "{err}");

    // Without the profile the same unshare still fails (no CAP_SYS_ADMIN), so check the filter
    // itself: `Seccomp: 0` when unconfined.
    let out = run(sh(root.path(), "grep '^Seccomp:' /proc/self/status").seccomp(None)).await;
    assert_eq!(text(&out.stdout), "Seccomp:\t0\n");
}

/// A static 32-bit x86 program (an ELF of 149 bytes, `int 0x80` calls): writes "ok\n", calls
/// `personality(ADDR_NO_RANDOMIZE)` (Docker's profile refuses that persona: EPERM, 1) and
/// `clone3(NULL, 0)` (the profile answers ENOSYS, 38; the kernel itself EINVAL, 22), and exits
/// with the sum of the two errnos: 39 under Docker's profile.
#[cfg(target_arch = "x86_64")]
fn i386_program() -> Vec<u8> {
    const BASE: u32 = 0x0804_8000;
    const CODE: u32 = 52 + 32; // after the ELF header and the one program header
    let code = |msg: u32| {
        let mut c = Vec::new();
        let mov = |c: &mut Vec<u8>, op: u8, v: u32| {
            c.push(op);
            c.extend(v.to_le_bytes());
        };
        // write(1, msg, 3)
        mov(&mut c, 0xb8, 4);
        mov(&mut c, 0xbb, 1);
        mov(&mut c, 0xb9, msg);
        mov(&mut c, 0xba, 3);
        c.extend([0xcd, 0x80]);
        // esi = -personality(0x0040000)
        mov(&mut c, 0xb8, 136);
        mov(&mut c, 0xbb, 0x0004_0000);
        c.extend([0xcd, 0x80, 0xf7, 0xd8, 0x89, 0xc6]);
        // exit(esi - clone3(NULL, 0))
        mov(&mut c, 0xb8, 435);
        c.extend([0x31, 0xdb, 0x31, 0xc9, 0xcd, 0x80]);
        c.extend([0xf7, 0xd8, 0x01, 0xf0, 0x89, 0xc3]);
        mov(&mut c, 0xb8, 1);
        c.extend([0xcd, 0x80]);
        c
    };
    let len = code(0).len() as u32;
    let mut body = code(BASE + CODE + len);
    body.extend(b"ok\n");
    let size = CODE + body.len() as u32;
    let mut elf = b"\x7fELF\x01\x01\x01\x00".to_vec();
    elf.extend([0u8; 8]);
    for half in [2u16, 3] {
        elf.extend(half.to_le_bytes()); // ET_EXEC, EM_386
    }
    for word in [1u32, BASE + CODE, 52, 0, 0] {
        elf.extend(word.to_le_bytes()); // version, entry, phoff, shoff, flags
    }
    for half in [52u16, 32, 1, 0, 0, 0] {
        elf.extend(half.to_le_bytes()); // ehsize, phentsize, phnum, sh*
    }
    for word in [1u32, 0, BASE, BASE, size, size, 5, 0x1000] {
        elf.extend(word.to_le_bytes()); // PT_LOAD r-x of the whole file
    }
    elf.extend(body);
    elf
}

/// Docker's profile filters 32-bit x86 programs too (it lists `SCMP_ARCH_X86`): they run,
/// and their calls get the profile's answers rather than a kill.
#[cfg(target_arch = "x86_64")]
#[tokio::test]
async fn seccomp_filters_32_bit_programs() {
    use std::os::unix::fs::PermissionsExt;
    let root = busybox_rootfs();
    let prog = root.path().join("bin/i386");
    std::fs::write(&prog, i386_program()).unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The host kernel must run 32-bit programs at all (IA32 emulation).
    match std::process::Command::new(&prog).output() {
        Ok(host) => assert_eq!(host.stdout, b"ok\n", "{host:?}"),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("this kernel does not run 32-bit x86 programs ({e}); skipped");
            return;
        }
        Err(e) => panic!("this kernel does not run 32-bit x86 programs: {e}"),
    }
    let out = run(Container::builder(root.path()).cmd(["/bin/i386"])).await;
    assert_eq!(text(&out.stdout), "ok\n", "{out:?}");
    assert_eq!(out.status.code(), 1 + 38, "{out:?}");
    // Unfiltered, the same calls get the kernel's own answers.
    let out = run(Container::builder(root.path())
        .cmd(["/bin/i386"])
        .seccomp(None))
    .await;
    assert_eq!(text(&out.stdout), "ok\n", "{out:?}");
    assert_ne!(out.status.code(), 1 + 38, "{out:?}");
    assert!(out.status.signal().is_none(), "{out:?}");
}

#[tokio::test]
async fn read_only_root_file_system() {
    let root = busybox_rootfs();
    let out = run(sh(
        root.path(),
        "touch /x; echo root=$?; touch /dev/shm/x; echo shm=$?",
    )
    .read_only(true))
    .await;
    assert_eq!(text(&out.stdout), "root=1\nshm=0\n");
    assert!(text(&out.stderr).contains("Read-only file system"));
    assert!(!root.path().join("x").exists());

    // And writable without the option, into the directory itself.
    let out = run(sh(root.path(), "touch /x; echo root=$?")).await;
    assert_eq!(text(&out.stdout), "root=0\n");
    assert!(root.path().join("x").exists());
}

#[tokio::test]
async fn proc_and_sys_are_guarded() {
    let root = busybox_rootfs();
    let script = "echo 1 > /proc/sys/kernel/hostname; echo sys=$?; touch /sys/x; echo sysfs=$?; \
                  cat /proc/keys | wc -c; ls /sys/firmware | wc -l; ls /dev | tr '\\n' ' '";
    let out = run(sh(root.path(), script)).await;
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], "sys=1");
    assert_eq!(lines[1], "sysfs=1");
    assert_eq!(lines[2].trim(), "0", "/proc/keys is masked");
    assert_eq!(lines[3].trim(), "0", "/sys/firmware is masked");
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue",
    ] {
        assert!(
            lines[4].split(' ').any(|d| d == dev),
            "/dev lacks {dev}: {}",
            lines[4]
        );
    }
}

#[tokio::test]
async fn no_host_descriptor_leaks_in() {
    // A descriptor of ours without close-on-exec, open while the container starts.
    let leaky = rustix::fs::open(
        "/etc/hostname",
        rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    assert!(std::os::fd::AsRawFd::as_raw_fd(&leaky) > 2);
    let root = busybox_rootfs();
    // PID 1's descriptors, listed by a child with no pipe in between (a pipeline's ends would
    // show up while the shell sets it up).
    let out = run(sh(root.path(), "ls /proc/1/fd; exit 0")).await;
    assert_eq!(text(&out.stdout), "0\n1\n2\n");
    drop(leaky);
}

#[tokio::test]
async fn missing_executable_is_a_clear_error() {
    let root = busybox_rootfs();
    let err = Container::builder(root.path())
        .cmd(["node", "app.js"])
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec: \"node\": executable file not found in $PATH"
    );
    assert!(err.is_exec_error());
    let err = Container::builder(root.path())
        .cmd(["/bin/nope"])
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Exec { path, .. } if path == "/bin/nope"),
        "{err:?}"
    );
    let err = Container::builder(root.path())
        .cmd(["true"])
        .user("ghost")
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find user ghost: no matching entries in passwd file"
    );
}

#[tokio::test]
async fn exit_codes_and_signals() {
    let root = busybox_rootfs();
    assert_eq!(
        run(sh(root.path(), "exit 42")).await.status,
        ExitStatus::Exited(42)
    );
    let mut child = Container::builder(root.path())
        .cmd(["sleep", "30"])
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    assert_eq!(child.try_wait().unwrap(), None);
    child.kill(9).unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!((status, status.code()), (ExitStatus::Signaled(9), 137));
}

#[tokio::test]
async fn streams_env_workdir_and_stdin() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let root = busybox_rootfs();
    let mut child = sh(root.path(), "pwd; echo $GREETING; cat; echo oops >&2")
        .env("GREETING", "hello")
        .workdir("/work/dir")
        .stdin(Stdio::Piped)
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"from stdin\n").await.unwrap();
    drop(stdin);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    assert_eq!(out, "/work/dir\nhello\nfrom stdin\n");
    assert_eq!(err, "oops\n");
    assert!(child.wait().await.unwrap().success());
}

#[tokio::test]
async fn bind_mounts_read_write_and_read_only() {
    let root = busybox_rootfs();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in"), "from host\n").unwrap();
    let out = run(
        sh(root.path(), "cat /data/in; echo out > /data/out").mount_bind(
            host.path(),
            "/data",
            false,
        ),
    )
    .await;
    assert_eq!(text(&out.stdout), "from host\n");
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap(),
        "out\n"
    );
    let out = run(sh(root.path(), "echo x > /data/ro; echo rc=$?").mount_bind(
        host.path(),
        "/data",
        true,
    ))
    .await;
    assert_eq!(text(&out.stdout), "rc=1\n");
    assert!(!host.path().join("ro").exists());
}

#[tokio::test]
async fn device_nodes_are_usable_by_any_user() {
    let root = busybox_rootfs();
    let out = run(sh(
        root.path(),
        "echo x > /dev/null && head -c 4 /dev/zero | wc -c && stat -c %a /dev/null /dev/tty",
    )
    .user("nobody"))
    .await;
    assert_eq!(text(&out.stdout), "4\n666\n666\n", "{out:?}");
}

#[tokio::test]
async fn network_none_has_only_loopback_and_host_shares() {
    let root = busybox_rootfs();
    let out = run(sh(
        root.path(),
        "ls /sys/class/net | tr '\\n' ' '; ip -o link show lo | grep -c UP",
    ))
    .await;
    assert_eq!(text(&out.stdout), "lo 1\n", "{out:?}");
    let host_ifaces = std::fs::read_dir("/sys/class/net").unwrap().count();
    let out = run(sh(root.path(), "ls /sys/class/net | wc -l").network(Network::Host)).await;
    assert_eq!(
        text(&out.stdout).trim().parse::<usize>().unwrap(),
        host_ifaces
    );
}

#[tokio::test]
async fn overlay_writes_go_to_the_upper_dir() {
    let lower = busybox_rootfs();
    let state = tempfile::tempdir().unwrap();
    let [upper, work] = subdirs(state.path(), ["upper", "work"]);
    let rootfs = RootFs::overlay([lower.path()], &upper, &work);
    let out = run(Container::builder(rootfs).cmd([
        "sh",
        "-c",
        "echo new > /new; rm /etc/group; ls /bin/busybox",
    ]))
    .await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(upper.join("new")).unwrap(), "new\n");
    assert!(
        lower.path().join("etc/group").exists(),
        "the lower dir is untouched"
    );
    assert!(!lower.path().join("new").exists());
    // The deletion is a whiteout (a 0/0 character device) in the upper dir.
    let meta = std::fs::symlink_metadata(upper.join("etc/group")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &meta.file_type()
    ));
}

#[tokio::test]
async fn a_runtime_spec_runs_as_given() {
    // The spec is the vocabulary: take the builder's, change it, run it with Container::new.
    let root = busybox_rootfs();
    let base = sh(root.path(), "true").build().unwrap();
    let mut spec = base.spec().clone();
    spec.set_hostname(Some("from-spec".into()));
    let mut process = spec.process().clone().unwrap();
    process.set_args(Some(vec!["hostname".into()]));
    spec.set_process(Some(process));
    let c = Container::new(spec, RootFs::dir(root.path())).unwrap();
    let out = c.output().await.unwrap();
    assert_eq!(text(&out.stdout), "from-spec\n");
}

/// Unmounts (lazily) what a test mounted on the host, even when the test fails.
struct HostMount(std::path::PathBuf);

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

#[tokio::test]
async fn read_only_bind_mounts_are_read_only_all_the_way_down() {
    // A read-only bind of a host directory with a mount beneath it (as the host's /sys has
    // cgroup, debugfs, securityfs… mounts, bound read-only under Network::Host): the mount
    // beneath is read-only in the container too, as in Docker (since 25, on Linux >= 5.12).
    let root = busybox_rootfs();
    let host = tempfile::tempdir().unwrap();
    let sub = host.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    rustix::mount::mount(
        "tmpfs",
        &sub,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        c"size=1m",
    )
    .unwrap();
    let _unmount = HostMount(sub.clone());
    let out = run(sh(
        root.path(),
        "touch /data/top; echo top=$?; touch /data/sub/x; echo sub=$?",
    )
    .mount_bind(host.path(), "/data", true))
    .await;
    assert_eq!(text(&out.stdout), "top=1\nsub=1\n", "{out:?}");
    assert!(!sub.join("x").exists());
    // Read-write, both are written.
    let out = run(
        sh(root.path(), "touch /data/top /data/sub/x; echo rc=$?").mount_bind(
            host.path(),
            "/data",
            false,
        ),
    )
    .await;
    assert_eq!(text(&out.stdout), "rc=0\n", "{out:?}");
    assert!(sub.join("x").exists());
}
