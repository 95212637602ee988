//! Properties of the parser over generated input: no input panics, and a parsed file printed
//! back to text parses to the same instructions.

use boxwright_dockerfile_parser::{parse, parse_bytes};
use proptest::prelude::*;

use crate::common::print_and_reparse;

/// Pieces real Dockerfiles are made of, including every character with a meaning to the parser.
const PIECES: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "COPY",
    "ADD",
    "ENV",
    "ARG",
    "LABEL",
    "EXPOSE",
    "WORKDIR",
    "USER",
    "VOLUME",
    "SHELL",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "ONBUILD",
    "MAINTAINER",
    "ENTRYPOINT",
    "NONE",
    "AS",
    "as",
    "run",
    "from",
    " ",
    " ",
    " ",
    "\t",
    "\n",
    "\n",
    "\r\n",
    "\\\n",
    "`\n",
    "\\",
    "`",
    "#",
    "# escape=`\n",
    "# syntax=x\n",
    "# check=skip=all\n",
    "\"",
    "'",
    "[",
    "]",
    ",",
    "=",
    "$",
    "${",
    "}",
    "<<",
    "<<-",
    "EOF",
    "'EOF'",
    "\n  EOF\n",
    "\nEOF\n",
    "\tEOF\n",
    "--",
    "--from=",
    "--mount=type=cache,target=/x",
    "--mount=",
    "--link",
    "--chown=1:1",
    "--platform=linux/amd64",
    "--interval=5s",
    "--retries=2",
    "--network=none",
    "a",
    "b",
    "/app",
    "x=y",
    "k=\"v w\"",
    "[\"a\", \"b\"]",
    "[]",
    "[1]",
    "{}",
    "\u{a0}",
    "é",
    "\u{feff}",
    "3<<",
    "CMD",
    "NONE",
    "sh -c",
    "&&",
    "||",
    ";",
    "*",
    "?",
    "0",
    "-1",
    "\u{0}",
    "\u{b}",
];

fn text_from(pieces: Vec<usize>) -> String {
    pieces
        .into_iter()
        .map(|i| PIECES[i % PIECES.len()])
        .collect()
}

/// What may follow an instruction line: nothing, or heredoc bodies.
const BODIES: &[&str] = &[
    "",
    "",
    "",
    "\nline one\n  line two\nEOF",
    "\n\tindented\n\tEOF",
    "\r\ncrlf body\r\nEOF\r",
    "\nfirst\nEOF\nsecond\nEOF",
];

const KEYWORDS: &[&str] = &[
    "RUN",
    "CMD",
    "COPY",
    "ADD",
    "ENV",
    "ARG",
    "LABEL",
    "EXPOSE",
    "WORKDIR",
    "USER",
    "VOLUME",
    "SHELL",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "ONBUILD",
    "MAINTAINER",
    "ENTRYPOINT",
    "run",
    "Copy",
];

/// A line-structured generator: an instruction keyword, then pieces (noise included), so that
/// a good share of the files parse and the round trip is exercised.
fn dockerfile() -> impl Strategy<Value = String> {
    // Line breaks other than continuations would mostly start lines that are not
    // instructions; keep them out of arguments, and add heredoc bodies after the line instead.
    let arg_pieces: Vec<&str> = PIECES
        .iter()
        .copied()
        .filter(|p| !p.contains('\n') || *p == "\\\n" || *p == "`\n")
        .collect();
    let n = arg_pieces.len();
    let line = (
        0..KEYWORDS.len(),
        prop::collection::vec(0..n, 1..10),
        0..BODIES.len(),
    )
        .prop_map(move |(k, pieces, body)| {
            let args: String = pieces.into_iter().map(|i| arg_pieces[i % n]).collect();
            match BODIES[body] {
                "" => format!("{} {}", KEYWORDS[k], args),
                b if b.contains('\t') => format!("RUN {args} <<-EOF{b}"),
                b if b.contains("second") => format!("COPY <<EOF {args} <<EOF /dst{b}"),
                b => format!("RUN {args} <<EOF{b}"),
            }
        });
    (
        prop::option::of(0..3usize),
        prop::collection::vec(line, 1..5),
    )
        .prop_map(|(directive, lines)| {
            let mut s = String::new();
            match directive {
                Some(0) => s.push_str("# escape=`\n"),
                Some(1) => s.push_str("# syntax=docker/dockerfile:1\n"),
                _ => {}
            }
            s.push_str("FROM base AS b\n");
            for l in lines {
                s.push_str(&l);
                s.push('\n');
            }
            s
        })
}

/// How often the round-trip generator produces a file that parses (it must, for the property to
/// mean something).
#[test]
fn round_trip_generator_produces_parseable_files() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = dockerfile();
    let total = 2000;
    let ok = (0..total)
        .filter(|_| parse(&strategy.new_tree(&mut runner).unwrap().current()).is_ok())
        .count();
    assert!(
        ok * 4 >= total,
        "only {ok} of {total} generated files parse"
    );
}

proptest! {
    // PROPTEST_CASES=200000 for a long local run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_bytes(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn piece_soup_never_panics(pieces in prop::collection::vec(0..PIECES.len(), 0..60)) {
        let _ = parse(&text_from(pieces));
    }

    #[test]
    fn print_then_parse_gives_the_same_file(text in dockerfile()) {
        if let Some(file) = parse(&text).ok().filter(|f| f.prints_exactly()) {
            if let Err(e) = print_and_reparse(&file) {
                prop_assert!(false, "{e}\n--- input\n{text}");
            }
        }
    }
}
