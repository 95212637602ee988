//! Creates a layer blob from a directory, an overlayfs upper directory or two directories.
//!
//! `cargo run --release -p boxwright-layer-store --example create -- [--gzip|--none]
//! [--overlay|--diff LOWER] DIR OUT` writes the blob to OUT (`-` for stdout) and prints its
//! digest, size and diffID. `SOURCE_DATE_EPOCH` clamps mtimes.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use boxwright_layer_store::Compression;
use boxwright_layer_store::{create_layer, CreateOptions, LayerSource};

const USAGE: &str = "usage: create [--gzip|--none] [--overlay|--diff LOWER] DIR OUT";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("create: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut options = CreateOptions::from_env();
    let mut overlay = false;
    let mut lower: Option<PathBuf> = None;
    let mut positional = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--gzip") => options.compress.compression = Compression::Gzip,
            Some("--none") => options.compress.compression = Compression::None,
            Some("--zstd") => options.compress.compression = Compression::Zstd,
            Some("--overlay") => overlay = true,
            Some("--diff") => lower = Some(args.next().ok_or(USAGE)?.into()),
            Some("-h" | "--help") => return Err(USAGE.into()),
            _ => positional.push(PathBuf::from(arg)),
        }
    }
    let [dir, out] = <[PathBuf; 2]>::try_from(positional).map_err(|_| USAGE.to_owned())?;
    let source = match (&lower, overlay) {
        (Some(_), true) => return Err(USAGE.into()),
        (Some(lower), false) => LayerSource::Diff { lower, upper: &dir },
        (None, true) => LayerSource::OverlayUpper(&dir),
        (None, false) => LayerSource::Directory(&dir),
    };
    let sink: Box<dyn Write> = if out.as_os_str() == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?)
    };
    let (mut sink, layer) = create_layer(source, sink, &options).map_err(|e| {
        if out.as_os_str() != "-" {
            // Leave no half-written blob behind.
            let _ = std::fs::remove_file(&out);
        }
        // The message says what failed; its causes follow.
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    })?;
    sink.flush().map_err(|e| e.to_string())?;
    drop(sink);
    let report = format!(
        "digest {}\nsize {}\ndiff_id {}\nuncompressed_size {}\nmedia_type {}\n",
        layer.digest, layer.size, layer.diff_id, layer.uncompressed_size, layer.media_type
    );
    if out.as_os_str() == "-" {
        eprint!("{report}");
    } else {
        print!("{report}");
    }
    Ok(())
}
