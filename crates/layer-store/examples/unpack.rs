//! Unpacks an image from an OCI image layout (ours, skopeo's, buildah's, umoci's) into a
//! directory — every layer applied in order by the store's safe applier, whiteouts honoured —
//! like `umoci unpack` without the runtime bundle.
//!
//! ```sh
//! cargo run -p boxwright-layer-store --example unpack -- LAYOUT[:REF] DIR
//! ```
//!
//! LAYOUT is the layout directory (for a boxwright root, `ROOT/oci`); REF is a name, a digest
//! or an image ID prefix, and may be left out when the layout holds a single image. The split is
//! at the first `:`, as skopeo's `oci:` transport does, so `oci-dir:docker.io/library/busybox:latest`
//! works. DIR is created if missing and should be empty.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use boxwright_layer_store::Store;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, dir] = args.as_slice() else {
        eprintln!("usage: unpack LAYOUT[:REF] DIR");
        return ExitCode::from(2);
    };
    match run(source, &PathBuf::from(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unpack: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn run(source: &str, dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let (layout, reference) = match source.split_once(':') {
        Some((layout, reference)) => (layout, Some(reference)),
        None => (source, None),
    };
    let layout = PathBuf::from(layout);
    if !layout.join("oci-layout").is_file() {
        return Err(format!(
            "{} is not an OCI image layout (no oci-layout file)",
            layout.display()
        )
        .into());
    }
    // boxwright's own state (locks, staging) goes beside, in a directory removed afterwards.
    let state = tempfile::Builder::new()
        .prefix(".boxwright-unpack-")
        .tempdir_in(layout.parent().unwrap_or(&layout))?;
    let store = Store::with_layout(&layout, state.path())?;
    let reference = match reference {
        Some(r) => r.to_string(),
        None => {
            let entries = store.entries()?;
            match entries.as_slice() {
                [one] => one.descriptor.digest().to_string(),
                [] => return Err("the layout holds no image".into()),
                many => {
                    let names: Vec<String> = many
                        .iter()
                        .map(|e| {
                            e.name
                                .clone()
                                .unwrap_or_else(|| e.descriptor.digest().to_string())
                        })
                        .collect();
                    return Err(format!(
                        "the layout holds {} images; name one of: {}",
                        many.len(),
                        names.join(", ")
                    )
                    .into());
                }
            }
        }
    };
    let image = store.resolve(&reference)?;
    std::fs::create_dir_all(dir)?;
    store.unpack(&image, dir)?;
    println!(
        "unpacked {} ({} layers, image ID {}) into {}",
        reference,
        image.layers().len(),
        image.id,
        dir.display()
    );
    Ok(())
}
