//! `EXPOSE` port specifications: `80`, `80/udp`, `8000-8010/tcp`.

use serde::Serialize;

/// The protocol of an exposed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The protocol's name as image configs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// One (expanded) `EXPOSE` argument: a port or an inclusive range, and a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ExposedPort {
    /// The first port.
    pub start: u16,
    /// The last port (equal to `start` for a single port).
    pub end: u16,
    /// The protocol.
    pub protocol: Protocol,
}

/// Why an `EXPOSE` argument is not a port specification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid port specification {spec:?}: {reason}")]
pub struct PortError {
    /// The argument as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ExposedPort {
    /// Parses `port[/proto]` or `start-end[/proto]` (protocol case-insensitive, as Docker
    /// accepts it).
    ///
    /// ```
    /// use boxwright_dockerfile_parser::{ExposedPort, Protocol};
    /// let p = ExposedPort::parse("8000-8010/UDP").unwrap();
    /// assert_eq!((p.start, p.end, p.protocol), (8000, 8010, Protocol::Udp));
    /// assert_eq!(ExposedPort::parse("80").unwrap().protocol, Protocol::Tcp);
    /// assert!(ExposedPort::parse("80/icmp").is_err());
    /// ```
    pub fn parse(spec: &str) -> Result<ExposedPort, PortError> {
        let err = |reason| PortError {
            spec: spec.to_string(),
            reason,
        };
        let (ports, proto) = match spec.split_once('/') {
            Some((p, proto)) => (p, proto),
            None => (spec, "tcp"),
        };
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "sctp" => Protocol::Sctp,
            _ => return Err(err("protocol must be tcp, udp or sctp")),
        };
        let port = |s: &str| -> Result<u16, PortError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("a port must be a number"));
            }
            s.parse::<u16>()
                .map_err(|_| err("a port must be at most 65535"))
        };
        let (start, end) = match ports.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => {
                let p = port(ports)?;
                (p, p)
            }
        };
        if end < start {
            return Err(err("the range ends before it starts"));
        }
        Ok(ExposedPort {
            start,
            end,
            protocol,
        })
    }
}

impl std::fmt::Display for ExposedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.start == self.end {
            write!(f, "{}/{}", self.start, self.protocol.as_str())
        } else {
            write!(f, "{}-{}/{}", self.start, self.end, self.protocol.as_str())
        }
    }
}
