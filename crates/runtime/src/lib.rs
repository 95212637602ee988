//! boxwright-runtime: a daemonless namespace sandbox that runs Docker-style isolated containers
//! from plain directories, safe to start from a multi-threaded tokio program.
//!
//! ```
//! use boxwright_runtime::{Container, Network};
//!
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // Runs for real where it can (root, Debian's busybox-static), as in CI.
//! # if !rustix::process::geteuid().is_root() || !std::path::Path::new("/bin/busybox").exists() {
//! #     return Ok(());
//! # }
//! # let dir = tempfile::tempdir()?;
//! # std::fs::create_dir(dir.path().join("bin"))?;
//! # std::fs::copy("/bin/busybox", dir.path().join("bin/busybox"))?;
//! # for applet in ["sh", "echo", "hostname"] {
//! #     std::os::unix::fs::symlink("busybox", dir.path().join("bin").join(applet))?;
//! # }
//! # let rootfs = dir.path();
//! // `rootfs` is a directory holding a busybox root file system.
//! let out = Container::builder(rootfs)
//!     .cmd(["sh", "-c", "echo hello from $(hostname), PID $$, $GREETING"])
//!     .env("GREETING", "hi")
//!     .hostname("box")
//!     .network(Network::None)
//!     .memory(64 << 20)
//!     .pids_limit(64)
//!     .build()?
//!     .output()
//!     .await?;
//! assert_eq!(out.stdout, b"hello from box, PID 1, hi\n");
//! assert!(out.status.success());
//! # Ok(()) }
//! ```
//!
//! # Layers
//!
//! Each layer imports only from itself (without circles) or from the layers below it:
//!
//! - `store/` — [`Containers`], the daemonless store: one file per verb (create, start, stop,
//!   wait, remove, exec, files, attach, logs) over its records and locks.
//! - `process/` — processes: [`Container::spawn`], the running [`Child`], its terminal, its
//!   network (port proxy, slirp4netns), volumes claimed at start, `cp`, `exec`.
//! - `sandbox/` — spec to plan, no process: the [`ContainerBuilder`] and Docker's defaults, the
//!   root file system and its overlay fallback copy, `/etc` files, capabilities, cgroups,
//!   ports, volumes, seccomp, and `prepare` (a container into the init's plan).
//! - `monitor/` — the detached container's monitor, its relay (output to the log and to
//!   attached clients, their input to the command) and `proto`, the attach and log wire format
//!   that `store/attach` and `store/logs` read.
//! - `init/` — the child of `clone3` up to `execve`: setup, mounts, identity, seccomp, the tiny
//!   init of `--init`, joining a container for `exec`.
//! - `plan/`, `error` — plain data prepared before `clone3`; the [`Error`] type.
//! - `sys/` — the only `unsafe`: one safe wrapper per system call, each with its SAFETY line.
//!
//! `sandbox/` and `monitor/`/`init/` do not know each other; `.ci/layers.py` checks in CI that no
//! file imports upward.
//!
//! # What a container gets
//!
//! A container is an `oci-spec` runtime [`Spec`](oci_spec::runtime::Spec) over a [`RootFs`]
//! (one directory, or overlay lower dirs plus the container's upper dir). [`Container::builder`]
//! writes the spec `docker run` would: user (rootless only), mount, PID, UTS, IPC, network and
//! cgroup namespaces; overlayfs and `pivot_root`; `/proc`, a tmpfs `/dev` with `null`, `zero`,
//! `full`, `random`, `urandom`, `tty`, `pts`, `shm` and `mqueue`; read-only `/sys`, with the
//! container's own cgroup read-only at `/sys/fs/cgroup` (see [cgroups](#cgroups)); Docker's
//! masked and read-only paths; Docker's default capabilities with the bounding set dropped,
//! `no_new_privs` and Docker's default seccomp profile; rlimits; memory, pids and cpu limits on
//! cgroup v2 and v1. The command runs **as PID 1** of its PID namespace, attached: its stdout
//! and stderr are async streams, its exit status is reported as Docker does (137 for `SIGKILL`).
//!
//! # How a container starts, and why it is safe in a threaded program
//!
//! Everything the container's init needs — paths, mount options, argv and envp, the `$PATH`
//! candidates of the command, capability masks, rlimits (never above the caller's hard limit),
//! the seccomp BPF — is prepared first. Then one `clone3` with the namespace flags and
//! `CLONE_PIDFD` starts the init; it makes only raw, async-signal-safe system calls on that
//! prepared data (never allocation or a lock, which a `fork` of a threaded process can deadlock
//! on), reports a failure as *(step, errno)* on a close-on-exec pipe — which becomes a typed
//! [`Error`] such as `exec: "node": executable file not found in $PATH` — and ends in `execve`
//! of the command itself. There is no runtime binary re-executed inside the container, so the
//! runc CVE-2019-5736 class (overwriting the host runtime through `/proc/self/exe`) has nothing
//! to aim at; every descriptor above 2 is made close-on-exec with `close_range` just before
//! `execve` (the CVE-2024-21626 class); every mount destination is resolved inside the root
//! with `openat2(RESOLVE_IN_ROOT)`, so an image's symlinks cannot send a mount to the host.
//! Waiting uses the pidfd (readable on exit) through tokio's `AsyncFd`, so no `SIGCHLD`
//! handler is needed and a recycled PID is never signalled.
//!
//! Rootless (an unprivileged caller): a user namespace maps the caller to root inside; the
//! init waits on a pipe until the parent has written `uid_map`/`gid_map` (with `setgroups`
//! denied); device nodes are bound from the host rather than created. cgroup limits need a
//! writable cgroup tree and are refused otherwise.
//!
//! **`--init`** ([`ContainerBuilder::init`], [`CreateOptions::init`]): the init above does not
//! execute the command itself but clones it as PID 2, then stays PID 1 as a tiny init in the
//! manner of tini — still without a binary of ours inside: it makes itself non-dumpable (it
//! holds a copy of the caller's memory, so `/proc/1/mem` and `ptrace` are refused to the
//! command; its `/proc/1/cmdline` reads `init`, not the caller's arguments), takes the command's user, capabilities, `no_new_privs` and seccomp filter,
//! closes every descriptor, and waits with every signal blocked: `SIGCHLD` reaps every zombie
//! of the container, any other signal is forwarded to the command. It exits with the command's
//! exit code, or 128 + the signal that killed it.
//!
//! # Containers on disk: Docker's lifecycle without a daemon
//!
//! [`Containers`] keeps containers under a state root the caller gives, and any process may
//! list, inspect, stop, kill, wait for and remove a container another process started:
//!
//! ```text
//! ROOT/lock                      the store's lock (flock): creating, naming and removing
//! ROOT/names/NAME -> ID          one symlink per name: unique by construction
//! ROOT/containers/ID/
//!     config.json                the runtime Spec
//!     container.json             name, created, root file system, --rm, stop signal and timeout,
//!                                --init, published ports, volumes, the owner (PID, start time)
//!     state.json                 created|running|exited, PIDs and their start times, exit code
//!     lock                       the container's lock (start and state updates)
//!     container.log              stdout and stderr of detached runs, in CRI lines (see Logs)
//!     attach.sock                the monitor's attach socket, while it runs (see Attaching)
//!     exit                       written by the monitor when the command ends
//!     hosts hostname resolv.conf the container's /etc/hosts, /etc/hostname, /etc/resolv.conf
//!     upper/ work/               the read-write layer, for an overlay created with an empty upper
//! ROOT/trash/ID/                 removed containers, deleted by the next create or rm
//! ```
//!
//! IDs are 64 random hex digits, usable by unique prefix ([`Error::AmbiguousId`] lists the
//! candidates); names follow Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+` and are generated when
//! absent.
//!
//! **The monitor.** There is no daemon, so something must `wait()` for a detached container.
//! [`Containers::start`] clones a first child that leaves the caller's session, clones the
//! *monitor* and exits at once, so the monitor is re-parented to init (or the nearest
//! subreaper) and outlives the caller. The monitor is a copy of the caller that never executes
//! anything and makes only raw system calls on data prepared before the first clone (it is a
//! post-fork child of a possibly multi-threaded program): it closes every descriptor it does
//! not need (the caller's pipes and sockets never stay open), installs `/dev/null` as its own
//! 0-2, clones the container's init (the same init as attached runs) with the command's stdio
//! on pipes (or a pty) whose other ends it keeps, and reports the init's PID. Until the init
//! exits it relays, in one `ppoll` loop over fixed-size stack buffers: the command's output to
//! the log ([Logs](#logs)) and to attached clients, and their input to the command
//! ([Attaching](#attaching-to-a-detached-container)). Then it drains the output, reaps the
//! init with `waitid`, writes `exit.tmp` and renames it to `exit`, tells attached clients the
//! exit code and removes its socket, removes the container's cgroups and, for `--rm`, moves
//! the container's directory to the trash under the store lock. A running container's init and monitor are recorded by PID *and* start time
//! (`/proc/PID/stat`), and signals go through a pidfd checked against that start time, so a
//! recycled PID is never signalled. If the monitor itself is killed, the container can still be
//! stopped, but its exit code is lost ([`UNKNOWN_EXIT_CODE`]).
//!
//! **Tied containers.** A container created with [`CreateOptions::owner`] (or
//! [`CreateOptions::tied_to_caller`]) ends with that process, however it ends (a test
//! harness killed by a CI timeout's `SIGKILL` included), with no reaper process of its own:
//! `start` opens a pidfd of the owner, checked against the start time `create` recorded, and
//! the monitor polls it in its `ppoll` loop. Once it is readable the monitor sends the init
//! `SIGKILL` (the container is going away: its stop signal and timeout are skipped), and after
//! the exit removes the container as for `--rm`. What needs allocation — deleting the
//! directory from the trash, releasing its volumes and removing its anonymous ones — is done
//! by the next `create` or `rm` in the store. A tied container whose owner ended before its
//! start is removed by `start` ([`Error::OwnerGone`]).
//!
//! **exec** ([`Containers::exec`]) joins the init's namespaces with one `setns(pidfd, flags)`
//! in a first child, which clones (with `CLONE_PARENT`, so the caller waits for it) the process
//! that enters the PID namespace, joins the container's cgroups and takes the init's path from
//! there: rlimits, user, capabilities, `no_new_privs`, seccomp, `execve`.
//!
//! **Terminals** ([`ContainerBuilder::tty`], [`ExecOptions::tty`]): the pty is opened in the
//! container's own `/dev/ptmx`, so the command sees `/dev/pts/0`; the slave becomes its
//! controlling terminal and stdio, the master comes back over a Unix socket as a [`Pty`]
//! (async read/write, [`Pty::resize`]).
//!
//! # Attaching to a detached container
//!
//! [`CreateOptions::interactive`] (`docker run -di`) keeps the command's stdin open: a pipe
//! whose write end the monitor holds. [`CreateOptions::tty`] (`-t`) gives it a terminal whose
//! master the monitor holds (the pty is opened in the container's own `/dev/pts`, as for an
//! attached run). [`Containers::attach`] (`docker attach`) returns an [`Attached`]: the
//! command's stdin ([`AttachStdin`], an `AsyncWrite`), its output as [`Chunk`]s or one
//! `AsyncRead`, [`Attached::resize`] and [`Attached::wait`] for the exit code.
//! [`Containers::start_attached`] (`docker start -a -i`) and [`Containers::run_attached`]
//! (`docker run -i` without `-d`) connect the client before the command runs, so it misses
//! nothing. [`Containers::attach_output`] is an attachment without stdin that starts with the
//! current run's logged output. Docker's semantics are kept:
//!
//! - Up to [`MAX_CLIENTS`] clients at once; another is refused ([`Error::Attach`]). Each gets
//!   the output produced while it is attached — and with [`AttachOptions::logs`] first the
//!   current run's logged output, with nothing lost or repeated in between.
//! - A client that goes away (or is dropped) detaches: the container keeps running, and a new
//!   attachment works. Closing a client's stdin (`shutdown` of [`AttachStdin`], or dropping
//!   it) closes the command's stdin only for a container with Docker's `StdinOnce`
//!   ([`CreateOptions::stdin_once`], which `docker run -i` without `-d` sets, so the command
//!   reads EOF when the client's input ends) and no terminal; otherwise it ends that client's
//!   attachment, as Docker's daemon does (`docker attach` to a `docker run -di` container).
//! - With a terminal, [`Attached::resize`] sets its size (`TIOCSWINSZ` on the master, so the
//!   command's foreground process group gets `SIGWINCH`), and the detach keys
//!   ([`AttachOptions::detach_keys`], `ctrl-p,ctrl-q` by default, [`DetachKeys::parse`] for
//!   Docker's `--detach-keys` format) written to its stdin end the attachment, the container
//!   still running ([`Attached::detached`]); a broken sequence is passed on as input.
//! - The monitor never waits for a client: one whose socket has too much output queued (it
//!   does not read) is dropped and learns it ([`Error::Attach`] from its output); the command
//!   and the other clients go on.
//!
//! **The protocol** on `attach.sock`, a Unix stream socket in the container's directory made
//! by [`Containers::start`] before the monitor is cloned and removed by the monitor once the
//! container has exited: frames both ways, each an 8-byte header — the frame's kind (one
//! byte), three zero bytes, the payload's length (big-endian `u32`), as in Docker's
//! multiplexed attach stream — and the payload. Unknown kinds are skipped.
//!
//! | kind | direction | payload |
//! |---|---|---|
//! | `0x00` STDIN | client → monitor | bytes for the command's stdin (or terminal) |
//! | `0x01` STDOUT | monitor → client | the command's stdout (or its terminal's output), 16 KiB at most |
//! | `0x02` STDERR | monitor → client | the command's stderr, 16 KiB at most |
//! | `0x10` HELLO | monitor → client | version (1); flags (1 terminal, 2 stdin open, 4 stdin-once); 6 zero bytes; the log's length when the client attached (`u64`, little-endian) |
//! | `0x11` EXIT | monitor → client | `E`, `S` or `U` (exited, killed by a signal, unknown); 3 zero bytes; the code or signal (`i32`, little-endian) |
//! | `0x12` DETACHED | monitor → client | none: the attachment ended (its stdin closed without stdin-once) |
//! | `0x13` REFUSED | monitor → client | the reason (1: too many clients); the connection closes |
//! | `0x14` DROPPED | monitor → client | none: the client did not keep up; the connection closes |
//! | `0x20` ATTACH | client → monitor | what it wants (bits: 1 stdin, 2 stdout, 4 stderr); answered by HELLO, after which output flows |
//! | `0x21` CLOSE_STDIN | client → monitor | none: its input has ended |
//! | `0x22` RESIZE | client → monitor | rows, columns (`u16` each, little-endian) |
//!
//! A client connected before the start gets HELLO first, unasked. HELLO's log length is where
//! its live output starts in the log, which is how [`AttachOptions::logs`] joins the two
//! without a gap.
//!
//! # Logs
//!
//! The monitor writes `container.log` in the **CRI logging format** of containerd and CRI-O
//! (the format the kubelet reads): one record per line,
//!
//! ```text
//! 2016-10-06T00:17:09.669794202Z stdout F a complete line
//! 2016-10-06T00:17:09.669801002Z stderr P a piece without its newline...
//! 2016-10-06T00:17:09.670010001Z stderr F ...and the rest of that line
//! ```
//!
//! — when the monitor read the output (RFC 3339 in UTC, always nine fractional digits), the
//! stream, `F` for a record that ends a line (the record's newline is the line's) or `P` for a
//! partial one, a space, and the bytes as written. Why this format: it is plain text that
//! `grep`, `tail` and the kubelet's tooling already read; it keeps the two streams apart and
//! timestamped without escaping (Docker's `json-file` needs JSON string escaping, which the
//! monitor — raw system calls, no allocation — would have to hand-roll); and every byte
//! round-trips: a stream's output is the concatenation of its records, with a newline after
//! each `F`. A piece without a newline is written at once as a `P` record (nothing waits in
//! the monitor for the rest of a line), so a line written in several pieces is several `P`
//! records and an `F`. A terminal's output (`-t`) is logged as `stdout`, with its `\r\n`.
//! Lines that are not CRI records (a log written by an earlier version) read as stdout.
//!
//! [`Containers::logs`] is the simple byte stream (both streams, no timestamps, `-f`);
//! [`Containers::logs_with`] takes `docker logs`' options ([`LogOptions`]: follow,
//! timestamps, tail, since, until, stdout/stderr) and [`Logs::next_chunk`] tells the streams
//! apart. Following waits on inotify for the log and on the monitor's pidfd, and ends once
//! the container has exited and the log is drained.
//!
//! # Networks
//!
//! [`Network::None`] is a network namespace with loopback only; [`Network::Host`] shares the
//! host's. [`Network::Private`] is a namespace of the container's own with:
//!
//! - **published ports** ([`ContainerBuilder::publish`], [`ContainerBuilder::publish_port`] with
//!   Docker's `-p [IP:][HOST:]CONTAINER[/tcp|/udp]` syntax parsed by [`PortMapping`]): the host
//!   ports are bound before the container starts (a port in use is
//!   [`Error::PortAllocated`]; port 0 picks a free one, reported by
//!   [`Child::published_ports`]), and a userspace proxy of tokio tasks in the calling program
//!   forwards each TCP connection and each UDP client's datagrams to `127.0.0.1:CONTAINER` *inside*
//!   the container's namespace, through sockets made by a thread that has joined it — no
//!   iptables, no bridge. That is for rootful callers: a **rootless** attached container's
//!   ports are forwarded by `slirp4netns` (its `add_hostfwd` API, to the container's `tap0`
//!   address 10.0.2.100, so the server must listen on `0.0.0.0`, not on loopback only),
//!   stopped when the [`Child`] is reaped or dropped; without slirp4netns they are refused.
//!   A **detached** container ([`Containers::run`]) outlives
//!   its caller, so its ports are forwarded by `slirp4netns` instead (its `add_hostfwd` API, to
//!   the container's `tap0` address: the server must listen on all addresses), started outside
//!   the caller's process tree and tied to the container's monitor, so it stops with the
//!   container; the ports are in [`ContainerInfo::ports`]. Without slirp4netns,
//!   [`Containers::create`] refuses published ports.
//! - **outbound access** through `slirp4netns` when it is installed (`tap0`, 10.0.2.100/24,
//!   default route via 10.0.2.2, DNS at 10.0.2.3, the host's loopback unreachable); without it,
//!   loopback only.
//!
//! # Overlay fallback
//!
//! A [`RootFs::Overlay`] runs on the kernel's overlayfs, mounted by the container's init.
//! When the kernel refuses that mount (`EPERM`, `EINVAL` or `ENODEV`: no overlayfs, an upper
//! dir on a file system overlayfs cannot write to, a user namespace it is not allowed in…),
//! the default [`OverlayMode::Auto`] *materializes* the merged view instead: the lower dirs,
//! bottom first, then the upper dir are copied into [`RootFs::materialized_path`]
//! (`UPPER.merged`, beside the upper dir; built as `UPPER.merged.tmp` and renamed when
//! complete) with overlayfs' rules — a whiteout (a 0:0 character device, or a file with the
//! `overlay.whiteout` xattr) removes the path below it, a directory whose
//! `trusted.overlay.opaque` or `user.overlay.opaque` is `y` hides the contents below it —
//! keeping modes, owners, extended attributes (but overlayfs' own), symlinks, device nodes,
//! hard links within a layer and timestamps; and the container runs over that plain
//! directory. [`OverlayMode::Never`] always does so; [`OverlayMode::Always`] makes the
//! refusal an error. An attached run finds the refusal when its init reports it and starts
//! again over the copy; a detached start ([`Containers::start`]) tries the mount first in a
//! throwaway mount namespace of a thread (rootful only; a rootless detached container whose
//! overlay is refused fails to start, unless created with [`OverlayMode::Never`]).
//!
//! **The cost**: the whole image is copied (its size in time and disk; `copy_file_range`
//! makes it a reflink on file systems that can) before the first start. Once the copy exists
//! the container always runs over it — later starts, [`ContainerRoot::stopped`] — so its
//! changes persist; but they are no longer in the upper dir: **the container's changes are
//! the difference between the materialized directory and its lower dirs** (what a commit must
//! diff, e.g. with layer-store's diff mode, instead of reading the upper dir). The copy is
//! removed with the container's directory when it lies there (a store's container created
//! with an empty upper), else it is the caller's to remove.
//!
//! # `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`
//!
//! As in Docker, a container made by [`Container::builder`] gets its own three files, written
//! by the caller into the container's directory (`ROOT/containers/ID/` in a [`Containers`]
//! store; a private temporary directory for an attached run, removed once its [`Child`] is
//! reaped or dropped) and bound over the image's paths — the image's own files are never
//! written (a missing one gets an empty mount point, created inside the root like every mount
//! destination), and the container's writes to them land in its copy:
//!
//! - `hosts`: `127.0.0.1 localhost`, `::1 localhost ip6-localhost ip6-loopback`, the IPv6
//!   multicast names, and the container's hostname at its address — 10.0.2.100 on a private
//!   network with slirp4netns' outbound access, else 127.0.1.1. With [`Network::Host`]: the
//!   host's file, plus the hostname at 127.0.1.1 if it does not name it.
//! - `hostname`: the hostname.
//! - `resolv.conf`: the host's with [`Network::Host`]; `nameserver 10.0.2.3` (slirp4netns' DNS
//!   forwarder) on a private network with outbound access; otherwise the host's with its
//!   loopback nameservers (127.0.0.0/8, `::1`) removed, as Docker does for networks other than
//!   the host's, and 8.8.8.8 and 8.8.4.4 when none remains. Search and options lines are kept.
//!
//! A mount of the spec at one of these paths wins; [`Container::new`] (a spec as it is) adds
//! none of them.
//!
//! # Volumes
//!
//! A [`Volumes`] store (`ROOT/volumes/NAME/_data`) holds named volumes (created on demand,
//! outliving containers, shareable by several at once) and anonymous ones (one per container,
//! removed with [`Container::release_volumes`]`(true)`, Docker's `rm -v`), with create, list,
//! inspect, remove (refused while in use unless forced) and prune. An empty volume is seeded with
//! the image's content at its mount point, as Docker does — so an image's `VOLUME` paths are
//! [`ContainerBuilder::anonymous_volume`]s. Bind mounts are [`ContainerBuilder::mount_bind`].
//! Building a container only names its volumes: they are created, claimed (counted as used)
//! and seeded when it starts ([`Container::spawn`]) or is created in a store
//! ([`Containers::create`]), never by a container built and dropped.
//! A [`Containers`] store records a container's volumes in `container.json` and releases them
//! when it removes the container ([`Containers::remove_with`] with [`RemoveOptions::volumes`]
//! is `docker rm -v`; a `--rm` container's anonymous volumes go with it, as in Docker, when the
//! store next collects removed containers).
//!
//! # Copying files
//!
//! [`ContainerRoot`] copies trees into and out of a running container (through
//! `/proc/PID/root`) or a stopped one (its directory, or its overlay mounted for the copy),
//! resolving every container path with `openat2(RESOLVE_IN_ROOT)` so no symlink leads outside
//! the container (the CVE-2018-15664 class). [`Containers::files`] opens it for a stored
//! container by name or ID prefix, running or not (`docker cp`).
//!
//! # cgroups
//!
//! Memory ([`ContainerBuilder::memory`], [`ContainerBuilder::memory_swap`]), pids
//! ([`ContainerBuilder::pids_limit`]) and cpu ([`ContainerBuilder::cpus`]; a spec's cpu shares)
//! limits work on cgroup v2 and on v1, including the hybrid layout (v1 controllers beside a v2
//! mount that has none of them). A container that asks for a limit gets a cgroup of its own,
//! `boxwright/ID` at the top of the hierarchy (`/sys/fs/cgroup/boxwright/ID` on v2,
//! `/sys/fs/cgroup/{memory,pids,cpu}/boxwright/ID` on v1, as Docker's cgroupfs driver makes
//! `docker/ID`), with all three controllers the host offers, removed once the container has
//! been waited for (by the [`Child`], or by a detached container's monitor); its processes and
//! `exec`'d ones run in it, in a cgroup namespace of their own, so `/proc/self/cgroup` reads
//! `0::/` on v2. A memory limit the command exceeds is an OOM kill, exit code 137. The v2 path
//! is tested on pure cgroup v2 in a VM by `crates/runtime/tests/vm/cgroup2.sh`.
//!
//! **`/sys/fs/cgroup` inside the container** (the `cgroup` mount of [`default_mounts`], as in
//! Docker's spec) is the container's own cgroup, always read-only, never the host's tree:
//!
//! - on v2, `cgroup2` mounted by the container's init in its cgroup namespace, so its cgroup is
//!   the root: `cat /sys/fs/cgroup/memory.max` shows its limit;
//! - on v1 (and hybrid), Docker's layout: a tmpfs with the container's directory of each
//!   hierarchy bound read-only at `/sys/fs/cgroup/memory`, `pids` and `cpu` (the hierarchies
//!   this runtime manages; Docker also shows the others), then the tmpfs made read-only;
//! - without a cgroup of its own (no limit asked for, and every rootless container): an empty
//!   read-only tmpfs. runc shows the cgroup the container runs in, which would then be the
//!   caller's — the host's whole tree where callers sit in the root cgroup, as on this
//!   project's machines; a program looking for its limits finds none either way, as in Docker's
//!   view of a container without limits.
//!
//! With [`Network::Host`], `/sys` is the host's bound read-only — recursively: every mount
//! beneath it too (Linux 5.12's `mount_setattr`), as every read-only recursive bind — and the
//! view covers the host's cgroup mounts there.
//!
//! # Limitations (this release)
//!
//! - Volume seeding from an overlay needs root. A rootless container's published ports need
//!   slirp4netns, reach the container on `tap0` (10.0.2.100) rather than its loopback, and
//!   are IPv4 only. Under `--init`, a rootless caller may not open
//!   the init's namespaces or root (it is non-dumpable and its memory belongs to the caller's
//!   user namespace), so [`Containers::exec`] and [`Containers::files`] go through a child of
//!   the init instead: they need the container's command to be running. Hard links are copied as separate files and extended attributes are not
//!   copied by `cp` and seeding.
//! - A container without limits has no cgroup of its own (it stays in its caller's), so its
//!   `/sys/fs/cgroup` is empty (see [cgroups](#cgroups)). Rootless containers cannot have limits
//!   (a user cannot write the cgroup tree; systemd's delegated subtree is not used yet).
//! - Seccomp filters the native architecture and, on x86_64, 32-bit x86 programs (as Docker's
//!   profile does); x32 programs' calls are not matched and get the default action (`EPERM`).

mod error;
mod init;
mod monitor;
mod plan;
mod process;
mod protocol;
mod sandbox;
mod store;
mod sys;

pub use error::Error;
/// The `oci-spec` crate this runtime speaks, re-exported so callers use the same version.
pub use oci_spec;
pub use plan::Step;
pub use process::copy::ContainerRoot;
pub use process::exec::ExecOptions;
pub use process::running::{Child, ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output};
pub use process::tty::Pty;
pub use protocol::Protocol;
pub use sandbox::builder::ContainerBuilder;
pub use sandbox::caps::docker_default as docker_default_capabilities;
pub use sandbox::container::{Container, Stdio};
pub use sandbox::defaults::{default_mounts, DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS};
pub use sandbox::network::{Network, PortMapping, PublishedPort};
pub use sandbox::rootfs::{OverlayMode, RootFs};
pub use sandbox::seccomp::docker_default as seccomp_docker_default;
pub use sandbox::volumes::{VolumeInfo, VolumeMount, Volumes};
pub use store::attach::{AttachOptions, AttachStdin, Attached, DetachKeys, MAX_CLIENTS};
pub use store::logs::{Chunk, LogOptions, Logs, Stream};
pub use store::names::valid_name;
pub use store::record::{
    ContainerInfo, CreateOptions, RemoveOptions, RootFsRecord, Status, DEFAULT_STOP_TIMEOUT,
    UNKNOWN_EXIT_CODE,
};
pub use store::Containers;
