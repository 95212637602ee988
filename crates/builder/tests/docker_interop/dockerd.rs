//! A private Docker engine for one test: Debian's `dockerd` (docker.io) with its data root,
//! exec root and socket in a temp dir, driven by the Debian package's own 20.10 CLI with
//! BuildKit, and stopped (SIGTERM, then waited for) when the guard drops, also on failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Debian package's engine and CLI (a newer `docker` earlier on `PATH` has no buildx).
const DOCKERD: &str = "/usr/sbin/dockerd";
const DOCKER: &str = "/usr/bin/docker";

/// A running private `dockerd`; dropping it stops the engine and removes its files.
pub(crate) struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    /// Starts the engine and waits until it answers (panics with its log when it does not).
    pub(crate) fn start() -> Dockerd {
        assert!(
            Path::new(DOCKERD).is_file() && Path::new(DOCKER).is_file(),
            "{DOCKERD} and {DOCKER} are missing: install Debian's docker.io (./test.sh does)"
        );
        // Short paths: the exec root holds unix sockets (108 bytes at most).
        let dir = tempfile::Builder::new()
            .prefix("bwd")
            .tempdir_in("/tmp")
            .unwrap();
        let p = dir.path();
        let log = std::fs::File::create(p.join("log")).unwrap();
        let child = Command::new(DOCKERD)
            .args(["--iptables=false", "--bridge=none"])
            .arg("--data-root")
            .arg(p.join("data"))
            .arg("--exec-root")
            .arg(p.join("x"))
            .arg("--pidfile")
            .arg(p.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", p.join("d.sock").display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut engine = Dockerd { child, dir };
        engine.wait_ready();
        engine
    }

    /// Waits for the socket and for `docker version` to answer.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("dockerd exited ({status}):\n{}", self.log());
            }
            let sock = self.dir.path().join("d.sock");
            if sock.exists()
                && self
                    .docker()
                    .arg("version")
                    .output()
                    .unwrap()
                    .status
                    .success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd does not answer:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The engine's log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// A `docker` command talking to this engine, with BuildKit and a private client config.
    pub(crate) fn docker(&self) -> Command {
        let config = self.dir.path().join("cli");
        std::fs::create_dir_all(&config).unwrap();
        let mut cmd = Command::new(DOCKER);
        cmd.env("DOCKER_BUILDKIT", "1")
            .env("DOCKER_CONFIG", config)
            .arg("-H")
            .arg(format!(
                "unix://{}",
                self.dir.path().join("d.sock").display()
            ));
        cmd
    }

    /// A scratch directory inside the engine's temp dir.
    pub(crate) fn scratch(&self, name: &str) -> PathBuf {
        let d = self.dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        // Mounts the engine left under its dir (deepest first), so that the dir can go.
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut under: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|m| m.starts_with(self.dir.path().to_str().unwrap_or("\0")))
            .collect();
        under.sort_unstable_by(|a, b| b.cmp(a));
        for m in under {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
    }
}
