//! Everything the container's init needs, prepared before `clone3`.
//!
//! The child of `clone3` may only make async-signal-safe system calls: it cannot allocate, take a
//! lock or format a string. So every path, option string, id, capability mask and filter it uses
//! is built here, in the parent, into owned C strings and plain vectors; `init` only reads them.
//!
//! - [`step`]: [`Step`], the setup step a failure report names;
//! - [`mount`]: paths inside the root and the mount steps;
//! - [`child`]: [`ChildPlan`], the whole plan;
//! - [`cstr`]: C strings and socket paths from Rust text and paths.

pub(crate) mod child;
pub(crate) mod cstr;
pub(crate) mod mount;
pub(crate) mod step;

pub(crate) use child::{CapPlan, ChildPlan, MmLayout, Rlimit};
pub(crate) use cstr::{cpath, cstring, socket_path};
pub(crate) use mount::{InRoot, Kind, MountStep, RootMount};
pub use step::Step;
