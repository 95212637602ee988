//! Expands one Dockerfile word the way BuildKit does, with the given
//! variables set.
//!
//! ```text
//! cargo run -p boxwright-dockerfile-parser --example expand -- [--escape C] [--] WORD [NAME=VALUE ...]
//! ```
//!
//! * `--escape C` sets the escape character: `\` (the default) or `` ` ``
//!   (as after a ``# escape=` `` directive).
//! * `--` is optional; use it when WORD itself starts with `--escape`.
//! * Every `NAME=VALUE` sets a variable (the last one of a name wins); all
//!   other variables are unset.
//!
//! The expanded word is printed on standard output (exit status 0). An
//! expansion error is printed as `error: <message>` on standard error (exit
//! status 1); a usage error prints the usage (exit status 2).
//!
//! ```text
//! $ cargo run -q -p boxwright-dockerfile-parser --example expand -- -- '${V%.*}-"$N"' V=1.2.3 N='a b'
//! 1.2-a b
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use boxwright_dockerfile_parser::expand::Expander;

const USAGE: &str = "usage: expand [--escape C] [--] WORD [NAME=VALUE ...]
  --escape C   the escape character: \\ (default) or `
  WORD         the word to expand
  NAME=VALUE   a variable to set (all others are unset)";

/// The parsed command line.
struct Args {
    escape: char,
    word: String,
    vars: Vec<(String, String)>,
}

fn parse_args(args: Vec<String>) -> Result<Args, String> {
    let mut args = args.into_iter().peekable();
    let mut escape = '\\';
    if args.peek().map(String::as_str) == Some("--escape") {
        args.next();
        let value = args.next().ok_or("--escape needs a value")?;
        escape = match value.as_str() {
            "\\" => '\\',
            "`" => '`',
            _ => return Err(format!("invalid escape character {value:?}: use \\ or `")),
        };
    }
    if args.peek().map(String::as_str) == Some("--") {
        args.next();
    }
    let word = args.next().ok_or("missing WORD")?;
    let vars = args
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => Ok((name.to_owned(), value.to_owned())),
            None => Err(format!("{pair:?} is not NAME=VALUE")),
        })
        .collect::<Result<_, _>>()?;
    Ok(Args { escape, word, vars })
}

fn main() -> ExitCode {
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let parsed = match args {
        Ok(args) => parse_args(args),
        Err(_) => Err("arguments must be valid UTF-8".to_owned()),
    };
    let args = match parsed {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match Expander::new(args.escape).expand_word(&args.word, &args.vars) {
        Ok(expansion) => {
            println!("{}", expansion.value);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}
