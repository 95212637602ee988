//! The image commands over the facade's image verbs: `images`, `rmi`, `tag`, `history`,
//! `import`, `save`, `load`, `image prune`.

use std::io::IsTerminal;
use std::path::PathBuf;

use boxwright::{Engine, ImportFrom, ImportOptions};
use serde_json::{json, Value};

use crate::cli::{
    HistoryArgs, ImagePruneArgs, ImagesArgs, ImportArgs, LoadArgs, RmiArgs, SaveArgs, TagArgs,
};
use crate::format::{self, ellipsis, human_size, parse_rfc3339, Format, Table};
use crate::{Failure, Outcome};

/// Docker's column names of the fields, for `--format 'table …'`.
const HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("ID", "IMAGE ID"),
    ("Digest", "DIGEST"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedSince", "CREATED"),
    ("Size", "SIZE"),
];

/// `docker history`'s column names, for `--format 'table …'`.
const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedSince", "CREATED"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// `bw images [PATTERN]` / `bw image ls`.
pub(crate) async fn images(engine: &Engine, args: ImagesArgs) -> Outcome {
    let format = Format::parse(args.format.as_deref())?;
    let mut dangling: Option<bool> = None;
    let mut reference: Option<String> = args.pattern.clone();
    for f in &args.filter {
        match f.split_once('=') {
            Some(("dangling", v)) => dangling = Some(v == "true"),
            Some(("reference", v)) => reference = Some(v.to_owned()),
            _ => return Err(Failure::msg(format!("invalid filter {f:?}"))),
        }
    }
    let mut list = engine.images(reference.as_deref()).await?;
    if let Some(d) = dangling {
        list.retain(|i| i.name.is_none() == d);
    }
    if args.quiet {
        let mut seen = Vec::new();
        for i in &list {
            let id = if args.no_trunc {
                i.id.to_string()
            } else {
                i.short_id().to_owned()
            };
            if !seen.contains(&id) {
                format::println(&id);
                seen.push(id);
            }
        }
        return Ok(0);
    }
    let items: Vec<Value> = list
        .iter()
        .map(|i| {
            json!({
                "Repository": i.repository,
                "Tag": i.tag,
                "ID": if args.no_trunc { i.id.to_string() } else { i.short_id().to_owned() },
                "Digest": i.digest.to_string(),
                "CreatedAt": i.created.clone().unwrap_or_default(),
                "CreatedSince": format::ago_ns(i.created.as_deref().and_then(parse_rfc3339)),
                "Size": human_size(i.size),
            })
        })
        .collect();
    if let Some(text) = format.items(&items, HEADERS)? {
        format::print(&text);
        return Ok(0);
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let mut table = Table::new(header);
    for item in &items {
        let cell = |k: &str| item[k].as_str().unwrap_or_default().to_owned();
        let mut row = vec![cell("Repository"), cell("Tag")];
        if args.digests {
            row.push(cell("Digest"));
        }
        row.extend([cell("ID"), cell("CreatedSince"), cell("Size")]);
        table.row(row);
    }
    format::print(&table.render());
    Ok(0)
}

/// `bw rmi` / `bw image rm`: Docker's `Untagged:` and `Deleted:` lines.
pub(crate) async fn rmi(engine: &Engine, args: RmiArgs) -> Outcome {
    let mut failed = None;
    for image in &args.images {
        match engine.rmi(image, args.force).await {
            Ok(lines) => {
                for line in lines {
                    format::println(&line.to_string());
                }
            }
            Err(e) => {
                let f = Failure::from(e);
                eprintln!("bw: {}", f.message);
                failed = Some(f.code);
            }
        }
    }
    failed.map_or(Ok(0), |code| Err(Failure::printed(code)))
}

/// `bw tag SOURCE TARGET`.
pub(crate) async fn tag(engine: &Engine, args: TagArgs) -> Outcome {
    engine.tag(&args.source, &args.target).await?;
    Ok(0)
}

/// `bw history IMAGE`.
pub(crate) async fn history(engine: &Engine, args: HistoryArgs) -> Outcome {
    let format = Format::parse(args.format.as_deref())?;
    let rows = engine.history(&args.image).await?;
    if args.quiet {
        for r in &rows {
            format::println(&r.id);
        }
        return Ok(0);
    }
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let created_ns = r.created.as_deref().and_then(parse_rfc3339);
            json!({
                "ID": if args.no_trunc || r.id == "<missing>" { r.id.clone() } else { format::short_id(&r.id) },
                "CreatedAt": r.created.clone().unwrap_or_default(),
                "CreatedSince": if args.human { format::ago_ns(created_ns) } else { r.created.clone().unwrap_or_default() },
                "CreatedBy": if args.no_trunc { r.created_by.clone() } else { ellipsis(&r.created_by, 45) },
                "Size": if args.human { human_size(r.size) } else { r.size.to_string() },
                "Comment": r.comment,
            })
        })
        .collect();
    if let Some(text) = format.items(&items, HISTORY_HEADERS)? {
        format::print(&text);
        return Ok(0);
    }
    let mut table = Table::new(vec!["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]);
    for item in &items {
        let cell = |k: &str| item[k].as_str().unwrap_or_default().to_owned();
        table.row(vec![
            cell("ID"),
            cell("CreatedSince"),
            cell("CreatedBy"),
            cell("Size"),
            cell("Comment"),
        ]);
    }
    format::print(&table.render());
    Ok(0)
}

/// `bw import FILE|DIR|- [REPOSITORY[:TAG]]`: prints the new image's ID.
pub(crate) async fn import(engine: &Engine, args: ImportArgs) -> Outcome {
    if args.platform.is_some() {
        return Err(Failure::usage(
            "import --platform is not supported: images are imported for this host's platform",
        ));
    }
    let from = if args.file == "-" {
        ImportFrom::Tar(Box::new(std::io::stdin()))
    } else {
        let path = PathBuf::from(&args.file);
        if path.is_dir() {
            ImportFrom::Dir(path)
        } else {
            ImportFrom::TarFile(path)
        }
    };
    let mut options = ImportOptions::default();
    if let Some(m) = &args.message {
        options = options.message(m.clone());
    }
    for change in &args.change {
        options = options.change(change.clone());
    }
    let id = engine
        .import(from, args.repository.as_deref(), options)
        .await?;
    format::println(id.as_ref());
    Ok(0)
}

/// `bw save [-o FILE] IMAGE…`: to stdout unless it is a terminal (as Docker refuses).
pub(crate) async fn save(engine: &Engine, args: SaveArgs) -> Outcome {
    let images: Vec<&str> = args.images.iter().map(String::as_str).collect();
    match &args.output {
        Some(path) => engine.save_to(&images, path).await?,
        None => {
            if std::io::stdout().is_terminal() {
                return Err(Failure::msg(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                ));
            }
            engine.save(&images, std::io::stdout()).await?;
        }
    }
    Ok(0)
}

/// `bw load [-i FILE]`: Docker's `Loaded image: …` lines.
pub(crate) async fn load(engine: &Engine, args: LoadArgs) -> Outcome {
    let loaded = match &args.input {
        Some(path) => engine.load_from(path).await?,
        None => {
            if std::io::stdin().is_terminal() {
                return Err(Failure::msg(
                    "requested load from stdin, but stdin is empty",
                ));
            }
            engine.load(std::io::stdin()).await?
        }
    };
    if !args.quiet {
        for line in loaded.lines() {
            format::println(&line);
        }
    }
    Ok(0)
}

/// `bw image prune [-a]`.
pub(crate) async fn prune(engine: &Engine, args: ImagePruneArgs) -> Outcome {
    let report = engine.image_prune(args.all).await?;
    if !report.deleted.is_empty() {
        format::println("Deleted Images:");
        for line in &report.deleted {
            let text = line.to_string();
            // Docker lists them in lower case here: `untagged: …`, `deleted: …`.
            let mut chars = text.chars();
            let first = chars
                .next()
                .map(|c| c.to_ascii_lowercase())
                .unwrap_or_default();
            format::println(&format!("{first}{}", chars.as_str()));
        }
        format::println("");
    }
    format::println(&format!(
        "Total reclaimed space: {}",
        human_size(report.space_reclaimed)
    ));
    Ok(0)
}
