//! Helpers the test modules share.

use boxwright_dockerfile_parser::{parse, Dockerfile};

/// Prints `file` and parses the text back: the printed text when it parses to the same
/// instructions, otherwise what went wrong (with the printed text).
pub(crate) fn print_and_reparse(file: &Dockerfile) -> Result<String, String> {
    let printed = file.to_string();
    match parse(&printed) {
        Ok(again) if again.same_as(file) => Ok(printed),
        Ok(_) => Err(format!("printing changed the instructions:\n{printed}")),
        Err(e) => Err(format!("printed form does not parse: {e}\n{printed}")),
    }
}
