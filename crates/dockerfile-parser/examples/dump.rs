//! Prints the parse of a Dockerfile as JSON, or its error.
//!
//! ```text
//! cargo run -p boxwright-dockerfile-parser --example dump -- PATH
//! ```
//!
//! The output is one JSON document: the parser directives, any warnings, and one object per
//! instruction with `keyword` (lower case), `flags` (as `--name=value` strings), `args` (split
//! the way the instruction splits them), `json` (exec form), `start_line`, `end_line`,
//! `heredocs`, and the typed instruction under `typed`. On a parse error it prints
//! `PATH:LINE:COLUMN: MESSAGE` to stderr and exits 1; on a usage or read error it exits 2.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use boxwright_dockerfile_parser::{parse_bytes, Dockerfile, Instruction};
use serde_json::{json, Value};

/// The node view of an instruction, with the typed instruction added under `typed`.
fn instruction(inst: &Instruction) -> Value {
    let mut v = json!(inst.node_view());
    if let Value::Object(map) = &mut v {
        map.insert("typed".into(), json!(inst.kind));
    }
    v
}

/// The JSON the example prints for a parsed file.
fn document(file: &Dockerfile) -> Value {
    json!({
        "directives": file.directives,
        "warnings": file.warnings,
        "instructions": file.instructions.iter().map(instruction).collect::<Vec<_>>(),
    })
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).filter(|a| a != "--");
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: dump PATH");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    match parse_bytes(&bytes) {
        Ok(file) => {
            let out = std::io::stdout().lock();
            match serde_json::to_writer_pretty(out, &document(&file)) {
                Ok(()) => {
                    println!();
                    ExitCode::SUCCESS
                }
                // A closed pipe (`dump … | head`) is not an error of ours.
                Err(e) if e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe) => {
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Err(e) => {
            eprintln!("{path}:{}:{}: {}", e.line(), e.column(), e.kind());
            ExitCode::from(1)
        }
    }
}
