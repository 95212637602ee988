//! The image commands (wired to the facade's image verbs when they land on main).

use boxwright::Engine;

use crate::cli::{
    HistoryArgs, ImagePruneArgs, ImagesArgs, ImportArgs, LoadArgs, RmiArgs, SaveArgs, TagArgs,
};
use crate::{Failure, Outcome};

fn pending(what: &str) -> Outcome {
    Err(Failure::msg(format!("{what}: not wired yet")))
}

pub(crate) async fn images(_: &Engine, _: ImagesArgs) -> Outcome {
    pending("images")
}
pub(crate) async fn rmi(_: &Engine, _: RmiArgs) -> Outcome {
    pending("rmi")
}
pub(crate) async fn tag(_: &Engine, _: TagArgs) -> Outcome {
    pending("tag")
}
pub(crate) async fn history(_: &Engine, _: HistoryArgs) -> Outcome {
    pending("history")
}
pub(crate) async fn import(_: &Engine, _: ImportArgs) -> Outcome {
    pending("import")
}
pub(crate) async fn save(_: &Engine, _: SaveArgs) -> Outcome {
    pending("save")
}
pub(crate) async fn load(_: &Engine, _: LoadArgs) -> Outcome {
    pending("load")
}
pub(crate) async fn prune(_: &Engine, _: ImagePruneArgs) -> Outcome {
    pending("image prune")
}
