//! The image verbs of [`Engine`](crate::Engine): `docker images`, `image inspect`, `history`,
//! `tag`, `rmi`, `image prune`, `save`, `load` and `import`.
//!
//! Files, top-down (each uses only those on its own line or below):
//!
//! ```text
//! list  inspect  remove  prune  archive     the verbs, one area per file
//! users  read  change                       who uses an image; an image's config and sizes;
//!                                           `--change` applied to a config
//! ```

mod archive;
// `pub(crate)`: `docker commit --change` applies the same instructions.
pub(crate) mod change;
mod inspect;
mod list;
mod prune;
mod read;
mod remove;
mod users;

pub use archive::{ImportFrom, ImportOptions, Loaded};
pub use inspect::{HistoryEntry, ImageInspect, RootFs};
pub use list::ImageSummary;
pub use prune::ImagePruneReport;
pub use remove::RmiLine;
