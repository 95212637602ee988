//! Applies one layer archive (tar, tar+gzip or tar+zstd, detected) onto a directory.
//!
//! ```text
//! cargo run -p boxwright-layer-store --example apply -- [--overlay] LAYER DIR
//! ```
//!
//! Prints the entry count, uncompressed size and diffID; on a refusal or error, prints it
//! (naming the entry) and exits with status 1.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use boxwright_layer_store::{apply_layer_path, ApplyOptions, WhiteoutMode};

fn main() -> ExitCode {
    let mut overlay = false;
    let mut paths = Vec::new();
    for arg in std::env::args_os().skip(1) {
        if arg == "--overlay" {
            overlay = true;
        } else {
            paths.push(PathBuf::from(arg));
        }
    }
    let [layer, dir] = paths.as_slice() else {
        eprintln!("usage: apply [--overlay] LAYER DIR");
        return ExitCode::from(2);
    };
    let whiteouts = if overlay {
        WhiteoutMode::Overlay
    } else {
        WhiteoutMode::Apply
    };
    let options = ApplyOptions::default().with_whiteouts(whiteouts);
    match apply_layer_path(layer, dir, &options) {
        Ok(stats) => {
            println!("entries: {}", stats.entries);
            println!("bytes:   {}", stats.bytes);
            println!("diffID:  {}", stats.diff_id);
            ExitCode::SUCCESS
        }
        Err(err) => {
            // The message says what failed; its causes follow, one a line.
            eprintln!("apply: {err}");
            let mut cause = std::error::Error::source(&err);
            while let Some(c) = cause {
                eprintln!("  caused by: {c}");
                cause = c.source();
            }
            ExitCode::FAILURE
        }
    }
}
