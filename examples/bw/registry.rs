//! `bw login|logout|pull|push` (wired to the facade's registry verbs when they land on main).

use boxwright::Engine;

use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs};
use crate::{Failure, Outcome};

fn pending(what: &str) -> Outcome {
    Err(Failure::msg(format!("{what}: not wired yet")))
}

pub(crate) async fn login(_: &Engine, _: LoginArgs) -> Outcome {
    pending("login")
}
pub(crate) async fn logout(_: &Engine, _: LogoutArgs) -> Outcome {
    pending("logout")
}
pub(crate) async fn pull(_: &Engine, _: PullArgs) -> Outcome {
    pending("pull")
}
pub(crate) async fn push(_: &Engine, _: PushArgs) -> Outcome {
    pending("push")
}
