//! `docker exec` on a stored container: found running, then joined (see `process::exec`).

use crate::error::Error;
use crate::process::exec::{exec, ExecOptions};
use crate::process::running::Child;
use crate::store::Containers;

impl Containers {
    /// Runs `cmd` in the running container (`docker exec`), attached: streams on the returned
    /// [`Child`], which is waited for like an attached container (and killed if dropped while
    /// running). The process has the container's environment (plus `opts.env`), user,
    /// capabilities, seccomp profile, rlimits and cgroups.
    pub async fn exec<I, S>(&self, query: &str, cmd: I, opts: &ExecOptions) -> Result<Child, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let cmd: Vec<String> = cmd.into_iter().map(Into::into).collect();
        if cmd.is_empty() {
            return Err(Error::NoCommand);
        }
        let query = query.to_owned();
        let init = self.blocking(move |store| store.running(&query)).await?;
        exec(&init, cmd, opts).await
    }
}
