//! Processes: starting a container attached (`spawn`) and the parent's side of its init's
//! report (`handshake`), the running child (`running`), its terminal, its network (the port
//! proxy and slirp4netns), its volumes claimed at start, `cp`, `exec`, and processes known by
//! PID and start time (`proc`).
//!
//! Files import from this layer (without circles) or below (`sandbox`, `plan`, `sys`, `error`),
//! never from `store`.

pub(crate) mod copy;
pub(crate) mod exec;
pub(crate) mod handshake;
pub(crate) mod net;
pub(crate) mod proc;
pub(crate) mod running;
pub(crate) mod spawn;
pub(crate) mod tty;
pub(crate) mod volumes;
