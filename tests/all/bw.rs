//! `bw` as a user types it: the built example run as a process on a temporary
//! `BOXWRIGHT_ROOT`, with busybox (Debian's busybox-static) imported through `bw import` of a
//! root file system tar, real namespaces and overlayfs, a published port on 127.0.0.1.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Generous, only so that a broken test fails instead of hanging: never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

/// The `bw` example `cargo test` built beside this test binary
/// (`target/debug/deps/all-…` → `target/debug/examples/bw`).
fn bw_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let bw = profile.join("examples/bw");
    let built = std::fs::metadata(&bw)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: `cargo test -p boxwright` builds it (`--test all` alone does not)",
                bw.display()
            )
        });
    // `cargo test --test all` alone does not rebuild examples: refuse a stale binary.
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bw");
    for entry in std::fs::read_dir(&sources).unwrap() {
        let modified = entry.unwrap().metadata().unwrap().modified().unwrap();
        assert!(
            modified <= built,
            "{} is older than its sources: `cargo build --example bw` first",
            bw.display()
        );
    }
    bw
}

/// A shell for `bw`: one root, one working directory.
struct Shell {
    root: tempfile::TempDir,
    cwd: tempfile::TempDir,
}

/// What a `bw` command gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Panics with the command's output unless it exited 0.
    fn ok(self, line: &str) -> Run {
        assert_eq!(
            self.code, 0,
            "`bw {line}` failed: {}\n{}",
            self.stderr, self.stdout
        );
        self
    }
}

impl Shell {
    fn new() -> Shell {
        Shell {
            root: tempfile::tempdir().unwrap(),
            cwd: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bw_binary());
        cmd.args(args)
            .current_dir(self.cwd.path())
            .env("BOXWRIGHT_ROOT", self.root.path())
            .env("DOCKER_CONFIG", self.cwd.path().join(".docker"))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `bw ARGS…` to its end.
    fn bw(&self, args: &[&str]) -> Run {
        let out: Output = self.command(args).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `bw ARGS…` with `input` on its stdin.
    fn bw_input(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `bw LINE` (split on spaces), which must succeed.
    fn ok(&self, line: &str) -> Run {
        self.bw(&line.split_whitespace().collect::<Vec<_>>())
            .ok(line)
    }

    /// A file in the working directory.
    fn write(&self, name: &str, text: &str) {
        let path = self.cwd.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// `busybox.tar` in the working directory, then `bw import busybox.tar busybox` with
    /// Docker's `--change` for the config.
    fn import_busybox(&self) -> String {
        let tree = tempfile::tempdir().unwrap();
        fill_busybox(tree.path());
        let tar = self.cwd.path().join("busybox.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(tree.path())
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        let run = self
            .bw(&[
                "import",
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--change",
                r#"CMD ["sh"]"#,
                "busybox.tar",
                "busybox",
            ])
            .ok("import busybox.tar busybox");
        run.stdout.trim().to_owned()
    }
}

/// Fills `root` with `/bin/busybox`, a symlink per applet, `/etc/passwd`, `/etc/group`, `/tmp`.
fn fill_busybox(root: &Path) {
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    for d in ["bin", "etc", "tmp", "root", "www"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static is installed");
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    std::fs::write(root.join("www/index.html"), "hello from bw\n").unwrap();
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The reply to `GET /` on 127.0.0.1:`port`, retried until something answers.
fn http_get(port: u16) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) {
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = conn.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut reply = String::new();
            let _ = conn.read_to_string(&mut reply);
            if !reply.is_empty() {
                return reply;
            }
        }
        assert!(Instant::now() < deadline, "nothing answered on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `bw ARGS` until its stdout satisfies `done`.
fn poll(shell: &Shell, args: &[&str], what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let run = shell.bw(args);
        if run.code == 0 && done(&run.stdout) {
            return run.stdout;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const DOCKERFILE: &str = "FROM busybox
WORKDIR /app
COPY message.txt .
RUN tr a-z A-Z < message.txt > shout.txt
CMD [\"cat\", \"/app/shout.txt\"]
";

/// The Docker lesson, typed: `build -t app .`, every step cached on the rebuild, `run --rm
/// app`, a changed file re-runs its `COPY` and what follows (saying why), `history`, `-q`.
#[test]
fn build_rebuild_run_through_bw() {
    let sh = Shell::new();
    sh.import_busybox();
    sh.write("Dockerfile", DOCKERFILE);
    sh.write("message.txt", "hello\n");
    let first = sh.ok("build -t app .").stdout;
    assert!(!first.contains("CACHED"), "{first}");
    assert!(
        first.contains("naming to docker.io/library/app:latest"),
        "{first}"
    );

    let again = sh.ok("build -t app .").stdout;
    let steps: Vec<&str> = again.lines().filter(|l| l.contains("/5] ")).collect();
    assert_eq!(steps.len(), 5, "{again}");
    let cached = again.lines().filter(|l| l.ends_with(" CACHED")).count();
    assert_eq!(cached, 4, "every step after FROM cached:\n{again}");
    assert!(!again.contains("cache miss"), "{again}");
    assert_eq!(sh.ok("run --rm app").stdout, "HELLO\n");

    sh.write("message.txt", "changed\n");
    let third = sh.ok("build -t app .").stdout;
    let workdir = third
        .lines()
        .position(|l| l.contains("WORKDIR /app"))
        .unwrap();
    assert!(
        third.lines().nth(workdir + 1).unwrap().ends_with(" CACHED"),
        "{third}"
    );
    assert!(third.contains("cache miss: message.txt changed"), "{third}");
    assert_eq!(sh.ok("run --rm app").stdout, "CHANGED\n");

    let history = sh.ok("history app").stdout;
    assert!(
        history.lines().nth(1).unwrap().contains("CMD [\"cat\""),
        "{history}"
    );
    assert!(history.contains("<missing>"), "{history}");
    let id = sh.ok("build -q -t app .").stdout;
    assert_eq!(
        id,
        sh.bw(&["inspect", "-f", "{{.Id}}", "app"])
            .ok("inspect")
            .stdout
    );

    let bad = sh.bw(&["build", "-t", "app", "no-such-dir"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("no-such-dir"), "{}", bad.stderr);
}

/// A detached web server on a published port, as typed: `run -d --name -p`, `ps` (Docker's
/// columns, filters), `logs`, `exec`, `inspect -f`, `rmi` refused while used, `stop`, `rm`,
/// `rmi`; `run --rm` with the command's own exit code and streams.
#[test]
fn run_ps_logs_stop_rm_through_bw() {
    let sh = Shell::new();
    let busybox_id = sh.import_busybox();
    assert!(busybox_id.starts_with("sha256:"), "{busybox_id}");
    let images = sh.ok("images").stdout;
    assert!(images.starts_with("REPOSITORY"), "{images}");
    assert!(
        images
            .lines()
            .any(|l| l.starts_with("busybox ") && l.contains("latest")),
        "{images}"
    );
    sh.ok("tag busybox app:1");

    // A command's own exit code and output streams; --rm leaves nothing.
    let run = sh.bw(&[
        "run",
        "--rm",
        "app:1",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    assert_eq!(sh.ok("ps -a -q").stdout, "");

    let port = free_port();
    let publish = format!("{port}:80");
    let web = sh
        .bw(&[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            &publish,
            "-e",
            "GREETING=hi",
            "app:1",
            "sh",
            "-c",
            "echo serving; exec httpd -f -p 80 -h /www",
        ])
        .ok("run -d --name web");
    let id = web.stdout.trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    assert!(http_get(port).contains("hello from bw"));

    let ps = sh.ok("ps").stdout;
    let header = ps.lines().next().unwrap();
    for column in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(column), "{ps}");
    }
    let line = ps.lines().find(|l| l.ends_with("web")).expect("web in ps");
    assert!(line.starts_with(&id[..12]), "{ps}");
    assert!(line.contains(" app:1 "), "{ps}");
    assert!(line.contains("Up "), "{ps}");
    assert!(line.contains(&format!(":{port}->80/tcp")), "{ps}");
    assert_eq!(sh.ok("ps -q --filter name=web").stdout.trim(), &id[..12]);
    assert_eq!(
        sh.ok("ps -q --filter ancestor=app:1").stdout.trim(),
        &id[..12]
    );
    assert_eq!(sh.ok("ps -q --filter status=exited").stdout.trim(), "");
    let table = sh
        .bw(&["ps", "--format", "table {{.Names}}\\t{{.Image}}"])
        .ok("ps --format");
    assert_eq!(table.stdout, "NAMES     IMAGE\nweb       app:1\n");
    let json = sh
        .bw(&["ps", "--format", "json"])
        .ok("ps --format json")
        .stdout;
    assert!(json.contains("\"Names\":\"web\""), "{json}");
    let tags = sh
        .bw(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok("images --format");
    assert_eq!(tags.stdout, "app:1\nbusybox:latest\n");

    poll(&sh, &["logs", "web"], "the server's first line", |o| {
        o == "serving\n"
    });
    let exec = sh
        .bw(&["exec", "web", "sh", "-c", "echo $GREETING"])
        .ok("exec");
    assert_eq!(exec.stdout, "hi\n");
    assert_eq!(
        sh.bw(&["inspect", "-f", "{{.State.Status}} {{.Name}} {{.Config.Env}}", &id[..8]])
            .ok("inspect")
            .stdout,
        "running /web [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GREETING=hi]\n"
    );
    let image_id = sh
        .bw(&["inspect", "-f", "{{.Id}}", "app:1"])
        .ok("inspect app")
        .stdout;
    assert_eq!(image_id.trim(), busybox_id);
    let env = sh
        .bw(&["inspect", "-f", "{{json .Config.Env}}", "app:1"])
        .ok("inspect env")
        .stdout;
    assert!(env.starts_with("[\"PATH=/usr/local/sbin"), "{env}");

    // Another tag of the image goes; its last tag, used by web, is refused and says by whom.
    assert_eq!(sh.ok("rmi busybox").stdout, "Untagged: busybox:latest\n");
    let refused = sh.bw(&["rmi", "app:1"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.starts_with("bw: "), "{}", refused.stderr);
    assert!(refused.stderr.contains("web"), "{}", refused.stderr);
    assert!(sh.ok("images -q").stdout.contains(&busybox_id[7..19]));

    sh.ok("stop -t 1 web");
    let ps = sh.ok("ps -a").stdout;
    assert!(
        ps.lines()
            .any(|l| l.ends_with("web") && l.contains("Exited (")),
        "{ps}"
    );
    assert_eq!(sh.ok("ps -q").stdout, "");
    sh.ok("rm web");
    assert_eq!(sh.ok("ps -a -q").stdout, "");
    let removed = sh.ok("rmi app:1").stdout;
    assert_eq!(removed, format!("Untagged: app:1\nDeleted: {busybox_id}\n"));
    let images = sh.ok("images").stdout;
    assert!(!images.lines().any(|l| l.starts_with("app ")), "{images}");
}

/// Bad input: a clear `bw: …` line and Docker's exit codes, and nothing half-made left.
#[test]
fn bad_input_gives_dockers_exit_codes() {
    let sh = Shell::new();
    sh.import_busybox();

    // An image the store lacks, from a registry nobody serves: 125 with the root cause.
    let port = free_port();
    let missing = format!("127.0.0.1:{port}/nothing:1");
    let run = sh.bw(&["run", "--rm", &missing]);
    assert_eq!(run.code, 125, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with(&format!("Unable to find image '{missing}' locally\n")),
        "{}",
        run.stderr
    );
    let error = run.stderr.lines().last().unwrap();
    assert!(
        error.starts_with(&format!("bw: pulling {missing} failed: ")),
        "{error}"
    );
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.to_lowercase().contains("connection refused"),
        "{}",
        run.stderr
    );

    // A command that is not there: 127; one that cannot be executed: 126.
    let run = sh.bw(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(run.code, 127, "{}", run.stderr);
    assert!(run.stderr.contains("no-such-command"), "{}", run.stderr);
    let run = sh.bw(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(run.code, 126, "{}", run.stderr);

    // A bad reference, an unknown flag, a malformed port: 125.
    for args in [
        &["run", "--rm", "Bad:Ref:"][..],
        &["run", "--no-such-flag", "busybox"],
        &["run", "-p", "99999:80", "busybox", "true"],
        &["create", "-v", "/does/not/exist:/data", "busybox"],
    ] {
        let run = sh.bw(args);
        assert_eq!(run.code, 125, "bw {args:?}: {}", run.stderr);
        assert!(!run.stderr.trim().is_empty(), "bw {args:?} said nothing");
    }

    // Other commands exit 1, as Docker's do.
    let run = sh.bw(&["stop", "no-such-container"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no such container: no-such-container"),
        "{}",
        run.stderr
    );
    let run = sh.bw(&["inspect", "no-such-thing"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no-such-thing"), "{}", run.stderr);
    let run = sh.bw(&["inspect", "-f", "{{.Id", "busybox"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("template"), "{}", run.stderr);

    // None of the failures left a container.
    assert_eq!(sh.ok("ps -a -q").stdout, "");
}

/// The commit lab: change a file in a container, commit, the new image has it; `cp` both
/// ways; an ambiguous prefix lists the candidates.
#[test]
fn commit_and_cp_through_bw() {
    let sh = Shell::new();
    sh.import_busybox();
    sh.bw(&[
        "run",
        "--name",
        "lab",
        "busybox",
        "sh",
        "-c",
        "echo changed > /lab.txt",
    ])
    .ok("run lab");
    sh.write("in.txt", "from the host\n");
    sh.ok("cp in.txt lab:/in.txt");
    sh.ok("cp lab:/lab.txt out.txt");
    assert_eq!(
        std::fs::read_to_string(sh.cwd.path().join("out.txt")).unwrap(),
        "changed\n"
    );
    sh.bw(&["commit", "-m", "the lab", "lab", "lab-image:1"])
        .ok("commit");
    let out = sh
        .bw(&["run", "--rm", "lab-image:1", "cat", "/lab.txt", "/in.txt"])
        .ok("run lab-image");
    assert_eq!(out.stdout, "changed\nfrom the host\n");
    let history = sh.ok("history lab-image:1").stdout;
    assert!(history.starts_with("IMAGE"), "{history}");
    assert!(history.contains("the lab"), "{history}");
    let tpl = sh
        .bw(&["history", "--format", "{{.Comment}}", "lab-image:1"])
        .ok("history --format")
        .stdout;
    assert!(tpl.lines().next() == Some("the lab"), "{tpl}");
}

/// Push to and pull from a real Distribution registry on 127.0.0.1 with basic auth: `login
/// --password-stdin`, `tag`, `push`; an empty root refused without credentials, then `login`,
/// `pull`, `run`; `logout`.
#[test]
fn push_pull_login_through_bw() {
    let registry = crate::support::Registry::start_with(Some(("bw", "s3cret")));
    let host = registry.host();
    let name = format!("{host}/team/bb:1");

    let first = Shell::new();
    first.import_busybox();
    let login = first.bw_input(
        &["login", "-u", "bw", "--password-stdin", &host],
        "s3cret\n",
    );
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert_eq!(login.stdout, "Login Succeeded\n");
    first.bw(&["tag", "busybox", &name]).ok("tag");
    let push = first.bw(&["push", &name]).ok("push");
    assert!(
        push.stdout.contains("1: digest: sha256:"),
        "{}",
        push.stdout
    );

    let second = Shell::new();
    let refused = second.bw(&["pull", &name]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.starts_with("bw: pulling"),
        "{}",
        refused.stderr
    );
    let wrong = second.bw_input(&["login", "-u", "bw", "--password-stdin", &host], "nope\n");
    assert_ne!(wrong.code, 0);
    let login = second.bw_input(&["login", "-u", "bw", "--password-stdin", &host], "s3cret");
    assert_eq!(login.code, 0, "{}", login.stderr);
    let pull = second.bw(&["pull", &name]).ok("pull");
    assert!(pull.stdout.contains("Digest: sha256:"), "{}", pull.stdout);
    assert!(
        pull.stdout.ends_with(&format!("{name}\n")),
        "{}",
        pull.stdout
    );
    let run = second
        .bw(&["run", "--rm", &name, "echo", "pulled"])
        .ok("run pulled");
    assert_eq!(run.stdout, "pulled\n");
    let again = second.bw(&["pull", "-q", &name]).ok("pull again");
    assert_eq!(again.stdout, format!("{name}\n"));

    let logout = second.bw(&["logout", &host]).ok("logout");
    assert_eq!(
        logout.stdout,
        format!("Removing login credentials for {host}\n")
    );
}

/// Named volumes, `create` then `start -a` with the command's code, `logs --tail`, `wait`,
/// `container prune`, and `save` / `load` into another root.
#[test]
fn volumes_lifecycle_save_load_through_bw() {
    let sh = Shell::new();
    sh.import_busybox();
    assert_eq!(sh.ok("volume create data").stdout, "data\n");
    let write = [
        "run",
        "--name",
        "writer",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ];
    sh.bw(&write).ok("run -v data");
    sh.ok("rm writer");
    let read = sh.ok("run --name reader -v data:/data busybox cat /data/f");
    assert_eq!(read.stdout, "kept\n");
    let refused = sh.bw(&["volume", "rm", "data"]);
    assert_eq!(refused.code, 1, "in use by reader: {}", refused.stdout);
    assert!(refused.stderr.contains("in use"), "{}", refused.stderr);
    sh.ok("rm reader");
    let volumes = sh.ok("volume ls").stdout;
    assert_eq!(volumes, "DRIVER    VOLUME NAME\nlocal     data\n");
    let name = sh.bw(&["volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "data"]);
    assert_eq!(name.ok("volume inspect").stdout, "data local\n");
    sh.ok("volume rm data");
    assert_eq!(sh.ok("volume ls -q").stdout, "");

    let id = sh
        .bw(&[
            "create",
            "--name",
            "c1",
            "busybox",
            "sh",
            "-c",
            "echo one; echo two; exit 2",
        ])
        .ok("create")
        .stdout;
    assert_eq!(id.trim().len(), 64, "{id}");
    let ps = sh.ok("ps -a").stdout;
    assert!(
        ps.lines()
            .any(|l| l.ends_with("c1") && l.contains("Created")),
        "{ps}"
    );
    let start = sh.bw(&["start", "-a", "c1"]);
    assert_eq!((start.code, start.stdout.as_str()), (2, "one\ntwo\n"));
    assert_eq!(sh.ok("wait c1").stdout, "2\n");
    assert_eq!(sh.ok("logs --tail 1 c1").stdout, "two\n");
    let pruned = sh.ok("container prune -f").stdout;
    assert!(pruned.contains(id.trim()), "{pruned}");
    assert_eq!(sh.ok("ps -a -q").stdout, "");

    sh.ok("save -o saved.tar busybox");
    let other = Shell::new();
    let tar = sh.cwd.path().join("saved.tar");
    let loaded = other.bw(&["load", "-i", tar.to_str().unwrap()]).ok("load");
    assert_eq!(loaded.stdout, "Loaded image: busybox:latest\n");
    assert_eq!(other.ok("run --rm busybox echo loaded").stdout, "loaded\n");
}

/// Docker's signal proxy: SIGINT to an attached `bw run` reaches the container's command,
/// whose exit code `bw` then exits with.
#[test]
fn signals_reach_the_container_through_bw() {
    use std::io::BufRead as _;
    let sh = Shell::new();
    sh.import_busybox();
    let script = "trap 'echo got INT; exit 7' INT; echo ready; while :; do sleep 0.1; done";
    let mut child = sh
        .command(&["run", "--rm", "--init", "busybox", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got INT\n");
    assert_eq!(child.wait().unwrap().code(), Some(7));
}

/// The `-f` template evaluator's own unit tests, run in this binary (`cargo test` does not run
/// an example's tests).
#[path = "../../examples/bw/template.rs"]
#[allow(dead_code, unreachable_pub)]
mod template;
