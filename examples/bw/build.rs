//! `bw build` (wired to Engine::build when it lands on main).

use boxwright::Engine;

use crate::cli::BuildArgs;
use crate::{Failure, Outcome};

pub(crate) async fn build(_: &Engine, _: BuildArgs) -> Outcome {
    Err(Failure::msg("build: not wired yet"))
}
