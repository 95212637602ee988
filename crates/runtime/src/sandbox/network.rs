//! The network a container asks for: its kind, its published ports (Docker's `-p` syntax),
//! outbound access. What runs it (the proxy, slirp4netns) is `process::net`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use crate::error::Error;
use crate::protocol::Protocol;

/// The container's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// A network namespace with only the loopback interface (`docker run --network none`).
    #[default]
    None,
    /// The host's network namespace (`--network host`).
    Host,
    /// A network namespace of its own, with loopback, published ports
    /// ([`ContainerBuilder::publish`](crate::ContainerBuilder::publish)) and, when `slirp4netns` is installed, outbound access
    /// (see [Networks](crate#networks)).
    Private,
}

/// A published port (`-p [IP:][HOST:]CONTAINER[/tcp|/udp]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortMapping {
    /// The host address to listen on (Docker's default: `0.0.0.0`).
    pub host_ip: IpAddr,
    /// The host port; 0 picks a free one (see [`Child::published_ports`](crate::Child::published_ports)).
    pub host_port: u16,
    /// The port inside the container (connected to on its `127.0.0.1` by the rootful proxy, on
    /// its `tap0` address 10.0.2.100 by slirp4netns: see [`Child::published_ports`](crate::Child::published_ports)).
    pub container_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
}

impl PortMapping {
    /// `host_port` on all host addresses to `container_port`, TCP.
    pub fn tcp(host_port: u16, container_port: u16) -> Self {
        PortMapping {
            host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            host_port,
            container_port,
            protocol: Protocol::Tcp,
        }
    }

    /// `host_port` on all host addresses to `container_port`, UDP.
    pub fn udp(host_port: u16, container_port: u16) -> Self {
        PortMapping {
            protocol: Protocol::Udp,
            ..Self::tcp(host_port, container_port)
        }
    }

    /// The same mapping on one host address only.
    pub fn on(self, host_ip: IpAddr) -> Self {
        PortMapping { host_ip, ..self }
    }

    pub(crate) fn host_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host_ip, self.host_port)
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}/{}",
            self.host_addr(),
            self.container_port,
            self.protocol
        )
    }
}

impl FromStr for PortMapping {
    type Err = Error;

    /// Parses Docker's `-p` syntax: `CONTAINER`, `HOST:CONTAINER`, `IP:HOST:CONTAINER`,
    /// `IP::CONTAINER` (IPv6 addresses in brackets), each with an optional `/tcp` or `/udp`.
    fn from_str(spec: &str) -> Result<Self, Error> {
        let bad = |reason: &'static str| Error::InvalidPortSpec {
            spec: spec.to_owned(),
            reason,
        };
        let (rest, protocol) = match spec.rsplit_once('/') {
            Some((r, "tcp")) => (r, Protocol::Tcp),
            Some((r, "udp")) => (r, Protocol::Udp),
            Some(_) => return Err(bad("the protocol must be tcp or udp")),
            None => (spec, Protocol::Tcp),
        };
        let port = |s: &str, zero_ok: bool| -> Result<u16, Error> {
            match s.parse::<u16>() {
                Ok(0) if !zero_ok => Err(bad("the container port cannot be 0")),
                Ok(p) => Ok(p),
                Err(_) => Err(bad("a port must be a number from 0 to 65535")),
            }
        };
        let (front, container) = match rest.rsplit_once(':') {
            Some((f, c)) => (Some(f), c),
            None => (None, rest),
        };
        let container_port = port(container, false)?;
        let (ip, host) = match front {
            None => (None, ""),
            Some(f) => match f.rsplit_once(':') {
                Some((ip, host)) => (Some(ip), host),
                None => (None, f),
            },
        };
        let host_port = if host.is_empty() {
            0
        } else {
            port(host, true)?
        };
        let host_ip = match ip {
            None | Some("") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some(ip) => ip
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| bad("not an IP address"))?,
        };
        Ok(PortMapping {
            host_ip,
            host_port,
            container_port,
            protocol,
        })
    }
}

/// A port published by a started container: where it listens on the host.
///
/// [`host`](Self::host) is the address bound, as `docker port` shows it: `0.0.0.0:N` for
/// the default host IP, which is no address to connect to; a client uses
/// [`connect_addr`](Self::connect_addr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PublishedPort {
    /// The host address and port actually bound (the chosen port when 0 was asked for).
    pub host: SocketAddr,
    /// The port inside the container.
    pub container_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
}

impl PublishedPort {
    /// The address a client on this host connects to: the loopback address of the same
    /// family when the port is bound on every address (`127.0.0.1:N` for `0.0.0.0:N`,
    /// `[::1]:N` for `[::]:N`), else [`host`](Self::host) itself.
    pub fn connect_addr(&self) -> SocketAddr {
        let ip = match self.host.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.host.port())
    }
}

/// The network setup a container asks for, decided when it is built.
#[derive(Debug, Clone, Default)]
pub(crate) struct NetConfig {
    pub(crate) ports: Vec<PortMapping>,
    /// slirp4netns is wanted (a private network with outbound access, or a rootless caller's
    /// published ports); it is looked for in `$PATH` when the container starts.
    pub(crate) slirp: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_connect_to_loopback_for_an_unspecified_bind() {
        let at = |host: &str| {
            PublishedPort {
                host: host.parse().unwrap(),
                container_port: 80,
                protocol: Protocol::Tcp,
            }
            .connect_addr()
            .to_string()
        };
        assert_eq!(at("0.0.0.0:32768"), "127.0.0.1:32768");
        assert_eq!(at("[::]:32768"), "[::1]:32768");
        assert_eq!(at("127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(at("192.0.2.7:8080"), "192.0.2.7:8080");
        assert_eq!(at("[fe80::1]:53"), "[fe80::1]:53");
    }

    #[test]
    fn port_specs_parse_like_docker() {
        let p: PortMapping = "8080:80".parse().unwrap();
        assert_eq!(p, PortMapping::tcp(8080, 80));
        let p: PortMapping = "127.0.0.1:0:53/udp".parse().unwrap();
        assert_eq!(
            p,
            PortMapping::udp(0, 53).on(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        let p: PortMapping = "80".parse().unwrap();
        assert_eq!(p, PortMapping::tcp(0, 80));
        let p: PortMapping = "127.0.0.1::80/tcp".parse().unwrap();
        assert_eq!((p.host_port, p.container_port), (0, 80));
        let p: PortMapping = "[::1]:9000:90".parse().unwrap();
        assert_eq!(p.host_ip, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(p.to_string(), "[::1]:9000:90/tcp");
        for bad in ["", "x:80", "80/sctp", "8080:0", "1.2.3:80:80", "70000:80"] {
            assert!(bad.parse::<PortMapping>().is_err(), "{bad}");
        }
    }
}
