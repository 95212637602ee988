//! Writes the image's Dockerfile into `OUT_DIR`, from this package's metadata: `FROM scratch`,
//! the program's files, OCI labels (title, version, description) and the entrypoint.
//!
//! A build script runs *before* its crate is compiled, so it cannot pack the crate's own
//! binary: that does not exist yet, Cargo has no post-build hook, and artifact dependencies
//! (a build script of another crate depending on this binary) are unstable (`-Z bindeps`).
//! What it can do honestly is decide the image from `Cargo.toml`; the packing happens once
//! the binary exists — in `tests/image.rs`, where Cargo hands over the built program as
//! `CARGO_BIN_EXE_hello` (see README.md).

use std::path::PathBuf;

fn main() {
    let Some(out) = std::env::var_os("OUT_DIR") else {
        // Cargo always sets OUT_DIR for build scripts.
        std::process::exit(1);
    };
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let label = |key: &str, value: String| {
        format!(
            "LABEL org.opencontainers.image.{key}=\"{}\"\n",
            value.replace('\\', "\\\\").replace('"', "\\\"")
        )
    };
    let mut dockerfile = String::from(
        "# Written by build.rs from Cargo.toml.\n\
         FROM scratch\n\
         # The program and the libraries it loads, staged by boxwright's HostImage::stage.\n\
         COPY rootfs/ /\n",
    );
    dockerfile += &label("title", var("CARGO_PKG_NAME"));
    dockerfile += &label("version", var("CARGO_PKG_VERSION"));
    dockerfile += &label("description", var("CARGO_PKG_DESCRIPTION"));
    dockerfile += "ENTRYPOINT [\"/usr/local/bin/hello\"]\nCMD [\"world\"]\n";
    let path = PathBuf::from(out).join("Dockerfile");
    if let Err(err) = std::fs::write(&path, dockerfile) {
        // A build script reports through Cargo: its stderr is shown when it fails.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("writing {}: {err}", path.display());
        }
        std::process::exit(1);
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=Cargo.toml");
}
