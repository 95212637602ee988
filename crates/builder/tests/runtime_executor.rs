//! `RuntimeExecutor` against the real runtime (feature `runtime`; as root, with Debian's
//! busybox-static): a busybox root file system as the lower dir, the step's changes read back
//! from the upper dir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use boxwright_builder::{
    Executor, ExecutorError, OutputStream, RunStep, RuntimeExecutor, StepExit, StepMount,
    StepNetwork,
};

const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A busybox root file system (`lower`) and an empty `upper` and `work` for one step.
struct Fixture {
    tmp: tempfile::TempDir,
    lower: PathBuf,
    upper: PathBuf,
    work: PathBuf,
}

/// Makes a busybox root in `root`: `/bin/busybox` and its applets, `/etc/passwd` with root and
/// nobody, `/etc/group`, `/etc/victim` (for deletion) and `/tmp`.
fn busybox_root(root: &Path) {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    std::fs::write(root.join("etc/victim"), "delete me").unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::create_dir_all(root.join("root")).unwrap();
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let lower = tmp.path().join("lower");
        busybox_root(&lower);
        Self::on(tmp, lower, "step")
    }

    /// Another step's upper and work dirs named `name` in `tmp`, over `lower`.
    fn on(tmp: tempfile::TempDir, lower: PathBuf, name: &str) -> Self {
        let upper = tmp.path().join(format!("{name}-upper"));
        let work = tmp.path().join(format!("{name}-work"));
        std::fs::create_dir(&upper).unwrap();
        std::fs::create_dir(&work).unwrap();
        Fixture {
            tmp,
            lower,
            upper,
            work,
        }
    }

    /// A shell step running `script` as root in `/`, without network.
    fn step(&self, script: &str) -> RunStep {
        RunStep {
            args: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec![PATH.into()],
            workdir: "/".into(),
            user: None,
            lower: vec![self.lower.clone()],
            upper: self.upper.clone(),
            work: self.work.clone(),
            mounts: Vec::new(),
            network: StepNetwork::None,
            hostname: "buildkitsandbox".into(),
        }
    }

    /// A host directory for bind mounts.
    fn host_dir(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        dir
    }
}

/// What a finished step gave.
struct Ran {
    exit: StepExit,
    stdout: String,
    stderr: String,
}

/// Runs `step` to its end and collects its output by stream.
async fn run(step: RunStep) -> Ran {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let exit = RuntimeExecutor::new().run(step, tx).await.unwrap();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some((stream, chunk)) = rx.recv().await {
        match stream {
            OutputStream::Stdout => stdout.extend(chunk),
            OutputStream::Stderr => stderr.extend(chunk),
        }
    }
    Ran {
        exit,
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_land_in_upper_and_lower_is_untouched() {
    let f = Fixture::new();
    let ran = run(f.step("echo hi > /new && rm /etc/victim && mkdir /made")).await;
    assert_eq!(ran.exit.code, 0, "{}", ran.stderr);
    assert_eq!(
        std::fs::read_to_string(f.upper.join("new")).unwrap(),
        "hi\n"
    );
    assert!(f.upper.join("made").is_dir());
    let whiteout = std::fs::symlink_metadata(f.upper.join("etc/victim")).unwrap();
    assert!(whiteout.file_type().is_char_device());
    assert_eq!(whiteout.rdev(), 0);
    assert_eq!(
        std::fs::read_to_string(f.lower.join("etc/victim")).unwrap(),
        "delete me"
    );
    assert!(!f.lower.join("new").exists());
    assert!(!f.lower.join("made").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn stdout_and_stderr_arrive_apart_and_as_they_come() {
    let f = Fixture::new();
    let ran = run(f.step("echo out; echo err >&2")).await;
    assert_eq!(
        (ran.stdout.as_str(), ran.stderr.as_str()),
        ("out\n", "err\n")
    );

    // The first chunk comes while the command still runs.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let step = f.step("echo first; sleep 2; echo second");
    let task = tokio::spawn(async move { RuntimeExecutor::new().run(step, tx).await });
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, (OutputStream::Stdout, b"first\n".to_vec()));
    assert!(!task.is_finished());
    assert_eq!(task.await.unwrap().unwrap().code, 0);
    assert_eq!(
        rx.recv().await.unwrap(),
        (OutputStream::Stdout, b"second\n".to_vec())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_command_is_ok_with_its_exit_code() {
    let f = Fixture::new();
    let ran = run(f.step("echo before; exit 3")).await;
    assert_eq!(ran.exit.code, 3);
    assert!(!ran.exit.success());
    assert_eq!(ran.stdout, "before\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_command_is_a_start_error_from_the_runtime() {
    let f = Fixture::new();
    let mut step = f.step("");
    step.args = vec!["/no/such/command".into()];
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let err = RuntimeExecutor::new().run(step, tx).await.unwrap_err();
    let ExecutorError::Start { source } = err else {
        panic!("not a start error: {err:?}");
    };
    assert!(
        source.downcast_ref::<boxwright_runtime::Error>().is_some(),
        "{source:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn env_workdir_user_and_hostname_are_applied() {
    let f = Fixture::new();
    let mut step = f.step("echo $FOO $EMPTY.; pwd; id -u; id -g; hostname");
    step.env.push("FOO=bar=baz".into());
    step.env.push("EMPTY=".into());
    step.workdir = "/app/src".into();
    step.user = Some("nobody".into());
    let ran = run(step).await;
    assert_eq!(ran.exit.code, 0, "{}", ran.stderr);
    assert_eq!(
        ran.stdout,
        "bar=baz .\n/app/src\n65534\n65534\nbuildkitsandbox\n"
    );
    // The missing workdir was created, in the step's layer.
    assert!(f.upper.join("app/src").is_dir());

    let mut step = f.step("id -u; id -g");
    step.user = Some("1000:2000".into());
    let ran = run(step).await;
    assert_eq!(ran.stdout, "1000\n2000\n", "{}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn network_none_has_only_loopback() {
    let f = Fixture::new();
    let ran = run(f.step("awk -F: 'NR > 2 { gsub(/ /, \"\", $1); print $1 }' /proc/net/dev")).await;
    assert_eq!(ran.stdout, "lo\n", "{}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn network_host_sees_the_hosts_interfaces() {
    let f = Fixture::new();
    let mut step = f.step("awk 'NR > 2' /proc/net/dev | wc -l");
    step.network = StepNetwork::Host;
    let ran = run(step).await;
    let host = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .skip(2)
        .count();
    assert_eq!(ran.stdout.trim(), host.to_string(), "{}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn bind_mounts_read_only_and_read_write() {
    let f = Fixture::new();
    let ro = f.host_dir("ro");
    std::fs::write(ro.join("file"), "content").unwrap();
    let rw = f.host_dir("rw");
    let mut step = f.step(
        "cat /ro/file; echo; (echo x > /ro/new) 2>/dev/null && echo wrote || echo refused; \
         echo y > /rw/new",
    );
    step.mounts = vec![
        StepMount::Bind {
            source: ro.clone(),
            target: "/ro".into(),
            readonly: true,
        },
        StepMount::Bind {
            source: rw.clone(),
            target: "/rw".into(),
            readonly: false,
        },
    ];
    let ran = run(step).await;
    assert_eq!(ran.exit.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout, "content\nrefused\n");
    assert!(!ro.join("new").exists());
    assert_eq!(std::fs::read_to_string(rw.join("new")).unwrap(), "y\n");
    assert!(!f.upper.join("rw/new").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tmpfs_mount_is_there_and_its_files_stay_out_of_upper() {
    let f = Fixture::new();
    let mut step =
        f.step("awk '$2 == \"/scratch\" { print $3 }' /proc/mounts; echo x > /scratch/f");
    step.mounts = vec![StepMount::Tmpfs {
        target: "/scratch".into(),
        size: None,
    }];
    let ran = run(step).await;
    assert_eq!(ran.exit.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout, "tmpfs\n");
    assert!(!f.upper.join("scratch/f").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn from_scratch_runs_over_an_empty_lower_dir_removed_after() {
    let tmp = tempfile::tempdir().unwrap();
    let f = Fixture::on(tmp, PathBuf::new(), "scratch");
    let mut step = f.step("");
    step.lower.clear();
    step.args = vec![
        "/busybox".into(),
        "sh".into(),
        "-c".into(),
        "/busybox ls -A /; /busybox echo hi > /f".into(),
    ];
    step.mounts = vec![StepMount::Bind {
        source: "/bin/busybox".into(),
        target: "/busybox".into(),
        readonly: true,
    }];
    let ran = run(step).await;
    assert_eq!(ran.exit.code, 0, "{}", ran.stderr);
    assert_eq!(std::fs::read_to_string(f.upper.join("f")).unwrap(), "hi\n");
    let mut left: Vec<_> = std::fs::read_dir(f.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["scratch-upper", "scratch-work"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_steps_run_at_once_on_two_overlays() {
    let a = Fixture::new();
    let b_tmp = tempfile::tempdir().unwrap();
    let b = Fixture::on(b_tmp, a.lower.clone(), "b");
    let sync = a.host_dir("sync");
    // Each step waits for the other's mark: run one after the other, both would time out.
    let script = |me: &str, other: &str| {
        format!(
            "touch /sync/{me}; i=0; while [ ! -e /sync/{other} ]; do \
             i=$((i + 1)); [ $i -gt 200 ] && exit 9; sleep 0.05; done; echo {me} > /mine"
        )
    };
    let mount = vec![StepMount::Bind {
        source: sync.clone(),
        target: "/sync".into(),
        readonly: false,
    }];
    let mut step_a = a.step(&script("a", "b"));
    step_a.mounts = mount.clone();
    let mut step_b = b.step(&script("b", "a"));
    step_b.mounts = mount;
    let (ran_a, ran_b) = tokio::join!(run(step_a), run(step_b));
    assert_eq!((ran_a.exit.code, ran_b.exit.code), (0, 0));
    assert_eq!(
        std::fs::read_to_string(a.upper.join("mine")).unwrap(),
        "a\n"
    );
    assert_eq!(
        std::fs::read_to_string(b.upper.join("mine")).unwrap(),
        "b\n"
    );
}

/// Host PIDs of the processes whose environment holds `token`.
fn processes_with(token: &str) -> Vec<i32> {
    let needle = token.as_bytes();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_future_kills_the_step() {
    let f = Fixture::new();
    let marks = f.host_dir("marks");
    let token = format!("STEP_TOKEN={}", f.tmp.path().display());
    let mut step = f.step("sleep 1000 & touch /marks/started; wait");
    step.env.push(token.clone());
    step.mounts = vec![StepMount::Bind {
        source: marks.clone(),
        target: "/marks".into(),
        readonly: false,
    }];
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let executor = RuntimeExecutor::new();
    let mut fut = executor.run(step, tx);
    let started = async {
        while !marks.join("started").exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        r = &mut fut => panic!("the step ended: {r:?}"),
        () = started => {}
        () = tokio::time::sleep(Duration::from_secs(20)) => panic!("the step did not start"),
    }
    let pids = processes_with(&token);
    assert!(pids.len() >= 2, "the shell and its sleep: {pids:?}");
    drop(fut);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids
        .iter()
        .any(|pid| Path::new(&format!("/proc/{pid}")).exists())
    {
        assert!(Instant::now() < deadline, "still running: {pids:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(processes_with(&token).is_empty());
}

/// The entries under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let out = std::process::Command::new("find")
        .arg(dir)
        .args(["-mindepth", "1", "-printf", "%P\\n"])
        .output()
        .unwrap();
    let mut entries: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    entries.sort();
    entries
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_that_changes_nothing_leaves_only_proc_dev_and_sys() {
    // The busybox root has no /proc, /dev, /sys, /etc/hosts…: the runtime makes them as mount
    // points, and they are no change of the step's, but for /proc, /dev and /sys, which stay
    // as empty directories, as in BuildKit's layers (runc leaves them).
    let f = Fixture::new();
    let host = f.host_dir("host");
    let mut step = f.step("true");
    step.mounts = vec![
        StepMount::Bind {
            source: host,
            target: "/mnt/deep/x".into(),
            readonly: true,
        },
        StepMount::Tmpfs {
            target: "/etc/cache".into(),
            size: None,
        },
        StepMount::Tmpfs {
            target: "/tmp".into(),
            size: None,
        },
    ];
    let ran = run(step).await;
    assert_eq!(ran.exit.code, 0, "{}", ran.stderr);
    assert_eq!(tree(&f.upper), ["dev", "proc", "sys"]);
    for d in ["dev", "proc", "sys"] {
        let meta = std::fs::symlink_metadata(f.upper.join(d)).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o7777, 0o755, "/{d}");
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "/{d}");
    }
    assert!(f.lower.join("tmp").is_dir());
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_stubs_go_and_the_steps_changes_stay() {
    let f = Fixture::new();
    let host = f.host_dir("host");
    let mut step = f.step("echo hi > /etc/new; touch /mnt/other; touch here");
    step.workdir = "/app".into();
    step.mounts = vec![
        StepMount::Bind {
            source: host.clone(),
            target: "/mnt/x".into(),
            readonly: false,
        },
        StepMount::Bind {
            source: host,
            target: "/app/cache".into(),
            readonly: false,
        },
    ];
    let ran = run(step).await;
    assert_eq!(ran.exit.code, 0, "{}", ran.stderr);
    assert_eq!(
        tree(&f.upper),
        [
            "app",
            "app/here",
            "dev",
            "etc",
            "etc/new",
            "mnt",
            "mnt/other",
            "proc",
            "sys"
        ]
    );

    // A workdir the runtime makes stays, empty, as Docker's does.
    let g = Fixture::new();
    let mut step = g.step("true");
    step.workdir = "/srv/app".into();
    let ran = run(step).await;
    assert_eq!(ran.exit.code, 0, "{}", ran.stderr);
    assert_eq!(tree(&g.upper), ["dev", "proc", "srv", "srv/app", "sys"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_mode_of_a_stubs_parent_stays() {
    let f = Fixture::new();
    let ran = run(f.step("chmod 700 /etc")).await;
    assert_eq!(ran.exit.code, 0, "{}", ran.stderr);
    assert_eq!(tree(&f.upper), ["dev", "etc", "proc", "sys"]);
    let mode = std::fs::metadata(f.upper.join("etc")).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o700);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_killed_by_a_signal_exits_128_plus_it() {
    let f = Fixture::new();
    let token = format!("STEP_TOKEN={}", f.tmp.path().display());
    let mut step = f.step("exec sleep 1000");
    step.env.push(token.clone());
    let task = tokio::spawn(run(step));
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        // The shell execs sleep as the step's PID 1.
        let found: Vec<i32> = processes_with(&token)
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.starts_with(b"sleep\0"))
            })
            .collect();
        if let [pid] = found[..] {
            break pid;
        }
        assert!(Instant::now() < deadline, "the step did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let kill = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(task.await.unwrap().exit.code, 137);
}

#[tokio::test(flavor = "multi_thread")]
async fn network_outbound_has_a_private_namespace_with_slirp4netns() {
    let f = Fixture::new();
    let mut step =
        f.step("awk -F: 'NR > 2 { gsub(/ /, \"\", $1); print $1 }' /proc/net/dev | sort");
    step.network = StepNetwork::Outbound;
    let ran = run(step).await;
    assert_eq!(ran.exit.code, 0, "{}", ran.stderr);
    // slirp4netns (Debian's, installed here) adds tap0; the host's interfaces are not there.
    assert_eq!(ran.stdout, "lo\ntap0\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_materialized_copy_beside_upper_is_refused() {
    // The runtime would run over `UPPER.merged` rather than the overlay: the step's changes
    // would miss upper.
    let f = Fixture::new();
    let copy = f.tmp.path().join("step-upper.merged");
    std::fs::create_dir(&copy).unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let err = RuntimeExecutor::new()
        .run(f.step("true"), tx)
        .await
        .unwrap_err();
    let ExecutorError::Start { source } = err else {
        panic!("not a start error: {err:?}");
    };
    assert!(
        matches!(
            source.downcast_ref::<boxwright_builder::RuntimeExecutorError>(),
            Some(boxwright_builder::RuntimeExecutorError::MaterializedCopy { path }) if *path == copy
        ),
        "{source:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_receiver_does_not_block_the_command() {
    // 4 MiB on each stream, far beyond a pipe's buffer, with nobody listening.
    let f = Fixture::new();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    drop(rx);
    let step = f.step("yes | head -c 4194304; yes | head -c 4194304 >&2; echo done > /done");
    let exit = tokio::time::timeout(
        Duration::from_secs(60),
        RuntimeExecutor::new().run(step, tx),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(exit.code, 0);
    assert_eq!(
        std::fs::read_to_string(f.upper.join("done")).unwrap(),
        "done\n"
    );
}
