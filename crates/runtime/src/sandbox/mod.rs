//! From spec to plan, with no process started: the builder (Docker's defaults into an
//! oci-spec `Spec`), the root file system, `/etc` files, capabilities, cgroups, the network and
//! volumes asked for, seccomp, and `prepare`, which turns a container into the init's plan.
//!
//! Files import only from this layer (without circles) or below it (`plan`, `sys`, `error`).

pub(crate) mod builder;
pub(crate) mod caps;
pub(crate) mod cgroup;
pub(crate) mod container;
pub(crate) mod defaults;
pub(crate) mod etc_files;
pub(crate) mod ids;
pub(crate) mod network;
pub(crate) mod overlay_copy;
pub(crate) mod prepare;
pub(crate) mod rootfs;
pub(crate) mod seccomp;
pub(crate) mod volumes;
