//! The monitor of a detached container (see the crate docs, *The monitor*).

pub(crate) mod proto;
