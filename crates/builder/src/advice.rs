//! Cache-order advice: a dependency-install `RUN` after a `COPY` of the whole context re-runs
//! on every source change; copying the package manifest first keeps it cached.

use boxwright_dockerfile_parser::{Command, Instruction, InstructionKind, Span};

/// Install commands and the manifests to copy before them.
const INSTALLERS: &[(&[&str], &str)] = &[
    (
        &["npm install", "npm ci", "npm i "],
        "package.json (and package-lock.json)",
    ),
    (
        &["yarn install", "yarn --frozen-lockfile"],
        "package.json and yarn.lock",
    ),
    (
        &["pnpm install", "pnpm i "],
        "package.json and pnpm-lock.yaml",
    ),
    (
        &["pip install -r", "pip3 install -r"],
        "the requirements file",
    ),
    (&["poetry install"], "pyproject.toml and poetry.lock"),
    (&["cargo build", "cargo fetch"], "Cargo.toml and Cargo.lock"),
    (&["go mod download"], "go.mod and go.sum"),
    (&["bundle install"], "Gemfile and Gemfile.lock"),
    (&["composer install"], "composer.json and composer.lock"),
];

/// Whether a COPY copies the whole context (`COPY . .`, `COPY ./ /app`, `COPY * ./`).
fn copies_everything(ins: &Instruction) -> bool {
    match &ins.kind {
        InstructionKind::Copy {
            sources,
            from: None,
            ..
        }
        | InstructionKind::Add { sources, .. } => sources
            .iter()
            .any(|s| matches!(s.trim_end_matches('/'), "." | "" | "*" | "./*" | "./.")),
        _ => false,
    }
}

/// The manifest to copy first, when `ins` is a dependency install.
fn install_manifest(ins: &Instruction) -> Option<&'static str> {
    let InstructionKind::Run { command, .. } = &ins.kind else {
        return None;
    };
    let text = match command {
        Command::Shell(s) => format!("{s} "),
        Command::Exec(v) => format!("{} ", v.join(" ")),
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ") + " ";
    INSTALLERS
        .iter()
        .find(|(cmds, _)| cmds.iter().any(|c| text.contains(c)))
        .map(|(_, manifest)| *manifest)
}

/// The warnings for one stage's instructions: each install RUN after a whole-context COPY.
pub(crate) fn cache_order(steps: &[&Instruction]) -> Vec<(Span, String)> {
    let mut out = Vec::new();
    let mut copied_all: Option<usize> = None;
    for ins in steps {
        if copies_everything(ins) {
            copied_all.get_or_insert(ins.span.start_line);
        }
        if let (Some(copy_line), Some(manifest)) = (copied_all, install_manifest(ins)) {
            out.push((
                ins.span.clone(),
                format!(
                    "this dependency install comes after the copy of the whole context (line \
                     {copy_line}), so any source change re-runs it: copy {manifest} first, run \
                     the install, then copy the rest"
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_install_after_copy_all_is_flagged() {
        let file = boxwright_dockerfile_parser::parse(
            "FROM node\nWORKDIR /app\nCOPY . .\nRUN npm install\nCMD [\"node\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let steps: Vec<&Instruction> = file.instructions.iter().skip(1).collect();
        let w = cache_order(&steps);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].0.start_line, 4);
        assert!(w[0].1.contains("package.json"), "{}", w[0].1);

        let good = boxwright_dockerfile_parser::parse(
            "FROM node\nCOPY package.json .\nRUN npm ci\nCOPY . .\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let steps: Vec<&Instruction> = good.instructions.iter().skip(1).collect();
        assert!(cache_order(&steps).is_empty());
    }
}
