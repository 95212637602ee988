//! `docker exec`: a command in a running container, with the runtime's options.

use boxwright_runtime::{Child, ExecOptions};

use crate::engine::Engine;
use crate::error::Result;

impl Engine {
    /// `docker exec [-e] [-w] [-t] [-i] CONTAINER CMD…`: starts `cmd` in the running
    /// container (its namespaces, cgroups, root, user and environment, with `opts.env` over
    /// them) and returns its process: pipes (or a terminal with `tty`; `-i` is
    /// `stdin: Stdio::Piped`), [`Child::wait`], [`Child::wait_with_output`]. Docker's `-u` is not
    /// offered yet: the process runs as the container's user.
    pub async fn exec<I, S>(&self, container: &str, cmd: I, opts: &ExecOptions) -> Result<Child>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let cmd: Vec<String> = cmd.into_iter().map(Into::into).collect();
        Ok(self.containers().exec(container, cmd, opts).await?)
    }
}
