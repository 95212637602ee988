//! Running the builder's synchronous leaves (hashing, copying, unpacking, layer writing) on
//! tokio's blocking threads, so that a build does not stall the task that awaits it.

use crate::error::BuildError;

/// Runs `f` on a blocking thread and waits for it. If the awaiting future is dropped, `f` still
/// runs to its end (its staging guards then clean up after it).
pub(crate) async fn blocking<T, F>(what: &'static str, f: F) -> Result<T, BuildError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, BuildError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(BuildError::store(what))?
}
