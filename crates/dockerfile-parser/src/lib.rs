//! A Dockerfile parser that agrees with BuildKit.
//!
//! `boxwright-dockerfile-parser` turns Dockerfile text into a typed syntax tree with spans, and
//! offers the two other pieces of the Dockerfile format a builder needs: word expansion
//! ([`expand`]) and `.dockerignore` matching ([`dockerignore`]). It is pure and synchronous: no
//! I/O, no async, no dependency on the rest of boxwright.
//!
//! ```
//! use boxwright_dockerfile_parser::{parse, Command, InstructionKind};
//!
//! let dockerfile = parse(
//!     "# syntax=docker/dockerfile:1\n\
//!      FROM rust:1 AS build\n\
//!      RUN --mount=type=cache,target=/usr/local/cargo/registry \\\n\
//!          cargo build --release\n\
//!      FROM debian:bookworm-slim\n\
//!      COPY --from=build /src/target/release/app /usr/local/bin/\n\
//!      CMD [\"app\"]\n",
//! )?;
//! assert_eq!(dockerfile.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
//! let run = &dockerfile.instructions[1];
//! assert_eq!((run.span.start_line, run.span.end_line), (3, 4));
//! let InstructionKind::Run { command, mounts, .. } = &run.kind else { unreachable!() };
//! assert_eq!(command, &Command::Shell("cargo build --release".into()));
//! assert_eq!(mounts[0].target.as_deref(), Some("/usr/local/cargo/registry"));
//! let InstructionKind::Cmd { command } = &dockerfile.instructions[4].kind else { unreachable!() };
//! assert_eq!(command, &Command::Exec(vec!["app".into()]));
//!
//! let err = parse("FROM alpine\nCOPPY . /app\n").unwrap_err();
//! assert_eq!(err.to_string(), r#"line 2: unknown instruction "COPPY" (did you mean COPY?)"#);
//! # Ok::<(), boxwright_dockerfile_parser::Error>(())
//! ```
//!
//! # Inside
//!
//! Files import only from the lines below them:
//!
//! - `instructions` — the instruction layer (BuildKit's `instructions` package): keywords,
//!   flags, argument counts, one function per instruction family; [`parse`] enters here.
//! - `print` — a parsed file back to text (`Display` for [`Dockerfile`]).
//! - `parser` — the line parser (BuildKit's `parser` package): directives, comments,
//!   continuations, heredoc bodies, the split of a line into keyword, flags and arguments.
//! - `ast` — the typed tree ([`Dockerfile`], [`Instruction`], [`InstructionKind`]).
//! - `mount` (`RUN --mount` values), `port` (`EXPOSE` ports), `error` — leaves.
//! - [`expand`] and [`dockerignore`] stand alone: word expansion and `.dockerignore` matching.
//!
//! # What it accepts
//!
//! Everything BuildKit's parser and instruction layer accept, with BuildKit's rules:
//!
//! - parser directives (`syntax`, `escape` with `\` or `` ` ``, `check`) only before anything
//!   else; comments anywhere, including inside continuations; continuations over blank and
//!   comment lines; CRLF line ends and a UTF-8 byte-order mark;
//! - heredocs for `RUN`, `COPY` and `ADD` (`<<EOF`, `<<-EOF`, quoted delimiters, several on one
//!   line, a file descriptor `3<<EOF`);
//! - exec (JSON) form, falling back to shell form when the text is not a JSON array — but a
//!   JSON array with a non-string element is an error, as in BuildKit;
//! - every instruction and flag (see [`InstructionKind`]), with flags checked as BuildKit checks
//!   them (unknown, duplicate, missing value, boolean values).
//!
//! How arguments are split ([`Instruction::args`]): `FROM` and `EXPOSE` on blanks; `COPY`,
//! `ADD` and `VOLUME` as a JSON array or on blanks (quotes do not group words there — JSON is the
//! way to write paths with spaces); `RUN`, `CMD`, `ENTRYPOINT` and `SHELL` as a JSON array or
//! the whole rest verbatim; `USER`, `WORKDIR`, `STOPSIGNAL` and `MAINTAINER` the whole rest;
//! `ENV` and `LABEL` as `k=v` words with quotes kept (or `[key, value]` in the legacy
//! `ENV key value` form); `ARG` as words with quotes kept; `HEALTHCHECK` as its type then the
//! command; `ONBUILD` as the trigger's keyword then its text.
//!
//! # Limitations
//!
//! - Variables are not expanded while parsing: argument text stays raw, and a builder expands it
//!   per build with [`expand::Expander`]. Checks that BuildKit makes only after expansion
//!   (mount options holding `$`, `COPY --from` holding a variable, signal names, `--chmod`
//!   syntax) are the builder's.
//! - Build checks (lint rules) are reported only as far as [`Warning`]s go: empty continuation
//!   lines, the legacy `ENV key value` form, `MAINTAINER`, ONBUILD triggers that cannot parse.
//! - Input must be UTF-8 (take bytes through [`parse_bytes`] to get a positioned error).

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod ast;
pub mod dockerignore;
mod error;
pub mod expand;
mod instructions;
mod mount;
mod parser;
mod port;
mod print;

pub use ast::{
    ArgDecl, Command, Directives, Dockerfile, Flag, Healthcheck, Heredoc, Instruction,
    InstructionKind, KeyValue, Keyword, Network, NodeView, Security, Span,
};
pub use error::{Error, ErrorKind, Layer, Warning};
pub use mount::{Mount, MountType, Sharing};
pub use port::{ExposedPort, PortError, Protocol};

/// Parses a Dockerfile.
///
/// Returns the first error in BuildKit's order: every line-parser error in the file (directives,
/// heredocs, JSON, `ENV` shape) before any instruction-layer error (unknown instructions, flags,
/// argument counts).
pub fn parse(text: &str) -> Result<Dockerfile, Error> {
    instructions::parse_file(text)
}

/// Parses a Dockerfile given as bytes; bytes that are not UTF-8 are an error at their position.
pub fn parse_bytes(bytes: &[u8]) -> Result<Dockerfile, Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => {
            let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(valid.get(line_start..).unwrap_or_default())
                .chars()
                .count()
                + 1;
            Err(Error::new(line, column, ErrorKind::InvalidUtf8))
        }
    }
}
