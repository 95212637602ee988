//! Docker's per-container `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`.
//!
//! The parent writes the three files into a directory of the container's (the store's
//! `ROOT/containers/ID/`, or a private temporary directory for an attached run, removed when
//! its [`Child`](crate::Child) is reaped or dropped) and the child binds each one over its path
//! in the root. The image's own files are never written: a missing one gets an empty mount
//! point, created through the same in-root resolution as every mount destination.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::plan::{cpath, InRoot, Kind, MountStep};
use crate::sandbox::ids::new_id;
use crate::sandbox::network::Network;

/// The files, by their name in the container's directory and their path in the container.
pub(crate) const FILES: [(&str, &str); 3] = [
    ("hosts", "/etc/hosts"),
    ("hostname", "/etc/hostname"),
    ("resolv.conf", "/etc/resolv.conf"),
];

/// slirp4netns' address for the container (`tap0`) and its DNS forwarder.
const SLIRP_ADDR: &str = "10.0.2.100";
const SLIRP_DNS: &str = "10.0.2.3";

/// What a builder container's files say: its hostname and network. The contents are made when
/// it starts ([`EtcSpec::files`]), from the host's files then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EtcSpec {
    pub(crate) hostname: String,
    pub(crate) network: Network,
}

impl EtcSpec {
    /// The files, `slirp` telling whether slirp4netns gives the container outbound access.
    pub(crate) fn files(&self, slirp: bool) -> EtcFiles {
        EtcFiles::new(&self.hostname, self.network, slirp)
    }
}

/// The contents of the three files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EtcFiles {
    pub(crate) hosts: String,
    pub(crate) hostname: String,
    pub(crate) resolv: String,
}

impl EtcFiles {
    /// What Docker writes for a container named `hostname` on `network` (`slirp`: a private
    /// network with slirp4netns' outbound access), from the host's own files.
    pub(crate) fn new(hostname: &str, network: Network, slirp: bool) -> Self {
        let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        Self::from_host(hostname, network, slirp, &host_hosts, &host_resolv)
    }

    fn from_host(
        hostname: &str,
        network: Network,
        slirp: bool,
        host_hosts: &str,
        host_resolv: &str,
    ) -> Self {
        let hosts = match network {
            // Docker copies the host's file; our UTS namespace is the container's own, so its
            // hostname is added when the host's file does not name it.
            Network::Host => {
                let mut h = host_hosts.to_owned();
                let named = h.lines().any(|l| {
                    let l = l.split('#').next().unwrap_or_default();
                    l.split_whitespace().skip(1).any(|n| n == hostname)
                });
                if !named {
                    if !h.is_empty() && !h.ends_with('\n') {
                        h.push('\n');
                    }
                    h.push_str(&format!("127.0.1.1\t{hostname}\n"));
                }
                h
            }
            Network::None | Network::Private => {
                let addr = if network == Network::Private && slirp {
                    SLIRP_ADDR
                } else {
                    "127.0.1.1"
                };
                format!(
                    "127.0.0.1\tlocalhost\n\
                     ::1\tlocalhost ip6-localhost ip6-loopback\n\
                     fe00::0\tip6-localnet\n\
                     ff00::0\tip6-mcastprefix\n\
                     ff02::1\tip6-allnodes\n\
                     ff02::2\tip6-allrouters\n\
                     {addr}\t{hostname}\n"
                )
            }
        };
        let resolv = match network {
            Network::Host => host_resolv.to_owned(),
            Network::Private if slirp => with_nameservers(host_resolv, &[SLIRP_DNS]),
            Network::None | Network::Private => {
                let kept: Vec<&str> = nameservers(host_resolv)
                    .filter(|ns| !is_loopback(ns))
                    .collect();
                if kept.is_empty() {
                    with_nameservers(host_resolv, &["8.8.8.8", "8.8.4.4"])
                } else {
                    with_nameservers(host_resolv, &kept)
                }
            }
        };
        EtcFiles {
            hosts,
            hostname: format!("{hostname}\n"),
            resolv,
        }
    }

    /// Writes the three files into `dir` (mode 0644).
    pub(crate) fn write(&self, dir: &Path) -> Result<(), Error> {
        use std::os::unix::fs::PermissionsExt;
        for ((name, _), text) in FILES
            .iter()
            .zip([&self.hosts, &self.hostname, &self.resolv])
        {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| Error::io("writing", &path, e))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::io("setting the mode of", &path, e))?;
        }
        Ok(())
    }
}

/// The nameserver addresses of a `resolv.conf`.
fn nameservers(resolv: &str) -> impl Iterator<Item = &str> {
    resolv.lines().filter_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("nameserver")).then(|| w.next()).flatten()
    })
}

/// 127.0.0.0/8 and ::1 (a resolver on the host's loopback is unreachable from another
/// network namespace).
fn is_loopback(ns: &str) -> bool {
    // An IPv6 address may carry a zone (`fe80::1%eth0`).
    let addr = ns.split('%').next().unwrap_or(ns);
    addr.parse::<std::net::IpAddr>()
        .map(|a| a.is_loopback())
        .unwrap_or(false)
}

/// `resolv` with its nameserver lines replaced by `servers` (search and options kept).
fn with_nameservers(resolv: &str, servers: &[&str]) -> String {
    let mut out = String::new();
    for l in resolv.lines() {
        if l.split_whitespace().next() != Some("nameserver") {
            out.push_str(l);
            out.push('\n');
        }
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    out
}

/// The child's bind mounts of the files in `dir`, except over a path the spec mounts itself.
pub(crate) fn mount_steps(dir: &Path, taken: &[PathBuf]) -> Result<Vec<MountStep>, Error> {
    let mut steps = Vec::new();
    for (name, dest) in FILES {
        if taken.iter().any(|t| t == Path::new(dest)) {
            continue;
        }
        steps.push(MountStep::Bind {
            source: cpath(&dir.join(name))?,
            dest: InRoot::new(Path::new(dest))?,
            kind: Kind::File,
            recursive: false,
            readonly: false,
        });
    }
    Ok(steps)
}

/// An attached run's private directory for the files, removed when dropped.
#[derive(Debug)]
pub(crate) struct TempEtc(PathBuf);

impl TempEtc {
    /// Creates `$TMPDIR/boxwright-etc-ID-RANDOM` (mode 0700) and writes `files` into it.
    pub(crate) fn create(id: &str, files: &EtcFiles) -> Result<Self, Error> {
        let t = Self::empty("etc", id)?;
        files.write(&t.0)?;
        Ok(t)
    }

    /// Creates an empty `$TMPDIR/boxwright-KIND-ID-RANDOM` (mode 0700), removed when dropped.
    pub(crate) fn empty(kind: &str, id: &str) -> Result<Self, Error> {
        use std::os::unix::fs::DirBuilderExt;
        let short = &id[..id.len().min(12)];
        let mut last = None;
        for _ in 0..8 {
            let suffix = &new_id()[..16];
            let dir = std::env::temp_dir().join(format!("boxwright-{kind}-{short}-{suffix}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(TempEtc(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some((dir, e)),
                Err(e) => return Err(Error::io("creating", &dir, e)),
            }
        }
        let (dir, e) =
            last.unwrap_or_else(|| (std::env::temp_dir(), std::io::ErrorKind::Other.into()));
        Err(Error::io("creating", &dir, e))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempEtc {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "cannot remove a container's temporary directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESOLV: &str =
        "search example.org\nnameserver 127.0.0.53\nnameserver ::1\noptions edns0\n";

    #[test]
    fn hosts_name_the_container() {
        let f = EtcFiles::from_host("box", Network::None, false, "", "");
        assert!(f
            .hosts
            .starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost"));
        assert!(f.hosts.ends_with("127.0.1.1\tbox\n"));
        assert_eq!(f.hostname, "box\n");
        let f = EtcFiles::from_host("box", Network::Private, true, "", "");
        assert!(f.hosts.ends_with("10.0.2.100\tbox\n"));
        let f = EtcFiles::from_host("box", Network::Host, false, "127.0.0.1 localhost", "");
        assert_eq!(f.hosts, "127.0.0.1 localhost\n127.0.1.1\tbox\n");
        let f = EtcFiles::from_host("box", Network::Host, false, "10.1.1.1 box # me\n", "");
        assert_eq!(f.hosts, "10.1.1.1 box # me\n");
    }

    #[test]
    fn resolv_conf_follows_the_network() {
        let host = EtcFiles::from_host("b", Network::Host, false, "", RESOLV);
        assert_eq!(host.resolv, RESOLV);
        let slirp = EtcFiles::from_host("b", Network::Private, true, "", RESOLV);
        assert_eq!(
            slirp.resolv,
            "search example.org\noptions edns0\nnameserver 10.0.2.3\n"
        );
        let none = EtcFiles::from_host("b", Network::None, false, "", RESOLV);
        assert_eq!(
            none.resolv,
            "search example.org\noptions edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let kept = EtcFiles::from_host(
            "b",
            Network::Private,
            false,
            "",
            "nameserver 127.0.0.1\nnameserver 10.9.9.9\nnameserver fe80::1%eth0\n",
        );
        assert_eq!(
            kept.resolv,
            "nameserver 10.9.9.9\nnameserver fe80::1%eth0\n"
        );
    }

    #[test]
    fn temp_dir_holds_the_files_until_dropped() {
        let f = EtcFiles::from_host("b", Network::None, false, "", "");
        let t = TempEtc::create(&"a".repeat(64), &f).unwrap();
        let p = t.path().to_path_buf();
        assert_eq!(std::fs::read_to_string(p.join("hostname")).unwrap(), "b\n");
        let steps = mount_steps(&p, &[PathBuf::from("/etc/hostname")]).unwrap();
        assert_eq!(steps.len(), 2);
        drop(t);
        assert!(!p.exists());
    }
}
