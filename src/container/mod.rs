//! Containers, volumes and commit: `docker create`, `run`, `start` … `commit`, as verbs of
//! [`Engine`](crate::Engine) over the runtime's container store and the layer store.
//!
//! Layers, top-down: `create`, `lifecycle`, `ps`, `exec`, `cp`, `volume`, `commit` (the verbs)
//! over `options` (what a caller asks for) and `config` (an image's config made a container's,
//! with Docker's override rules) over `signal`.

mod changes;
mod commit;
mod config;
mod cp;
mod create;
mod exec;
mod lifecycle;
mod options;
mod ps;
mod signal;
mod volume;

pub use commit::CommitOptions;
pub use config::{ContainerConfig, ANNOTATION_CONFIG};
pub use lifecycle::ContainerDetails;
pub use options::{RunOptions, VolumeSpec};
pub use ps::{PsFilter, PsOptions};
pub use signal::parse_signal;
