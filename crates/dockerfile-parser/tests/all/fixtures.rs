//! Golden tests: every `tests/fixtures/NAME/Dockerfile` must parse to exactly
//! `tests/fixtures/NAME/expected.json` (the `dump` example's format), and print back to text that
//! parses to the same instructions; every `tests/fixtures-negative/NAME/Dockerfile` must fail
//! with exactly the message in `tests/fixtures-negative/NAME/error.txt` (line included).
//!
//! `BLESS=1 cargo test -p boxwright-dockerfile-parser --test all fixtures::` rewrites the
//! expected files; review the diff before committing it.

use std::path::{Path, PathBuf};

use boxwright_dockerfile_parser::{parse_bytes, Dockerfile};
use serde_json::{json, Value};

use crate::common::print_and_reparse;

fn dump(file: &Dockerfile) -> Value {
    let instructions: Vec<Value> = file
        .instructions
        .iter()
        .map(|inst| {
            let mut v = json!(inst.node_view());
            if let Value::Object(map) = &mut v {
                map.insert("typed".into(), json!(inst.kind));
            }
            v
        })
        .collect();
    json!({
        "directives": file.directives,
        "warnings": file.warnings,
        "instructions": instructions,
    })
}

fn cases(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    out.sort();
    out
}

/// Compares `got` with the expected file (rewriting it first under `BLESS=1`); `true` when equal.
fn matches_expected(path: &Path, got: &str) -> bool {
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(path, got).unwrap();
    }
    std::fs::read_to_string(path).is_ok_and(|expected| expected == got)
}

#[test]
fn positive_fixtures_match_expected_json() {
    let cases = cases("fixtures");
    assert!(cases.len() >= 40, "only {} positive fixtures", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let bytes = std::fs::read(case.join("Dockerfile")).unwrap();
        let file = match parse_bytes(&bytes) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{}: does not parse: {e}", case.display()));
                continue;
            }
        };
        let got = serde_json::to_string_pretty(&dump(&file)).unwrap() + "\n";
        if !matches_expected(&case.join("expected.json"), &got) {
            failures.push(format!(
                "{}: parse differs from expected.json\n--- got\n{got}",
                case.display()
            ));
        }
        if let Err(e) = print_and_reparse(&file) {
            failures.push(format!("{}: {e}", case.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn negative_fixtures_fail_with_expected_error() {
    let cases = cases("fixtures-negative");
    assert!(cases.len() >= 10, "only {} negative fixtures", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let bytes = std::fs::read(case.join("Dockerfile")).unwrap();
        let got = match parse_bytes(&bytes) {
            Ok(_) => {
                failures.push(format!("{}: parsed, but must fail", case.display()));
                continue;
            }
            Err(e) => e.to_string() + "\n",
        };
        if !matches_expected(&case.join("error.txt"), &got) {
            failures.push(format!("{}: got {got:?}, not error.txt", case.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
