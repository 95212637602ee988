//! `bw volume create|ls|rm|prune` (inspect is in `inspect`).

use boxwright::runtime::VolumeInfo;
use boxwright::Engine;
use serde_json::{json, Value};

use crate::cli::{VolumeCreateArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs};
use crate::format::{self, Format, Table};
use crate::{Failure, Outcome};

/// A volume as `docker volume inspect` shows it.
pub(crate) fn volume_json(v: &VolumeInfo) -> Value {
    json!({
        "Name": v.name,
        "Driver": "local",
        "Mountpoint": v.mountpoint,
        "Labels": null,
        "Scope": "local",
        "Options": null,
        "UsageData": {"RefCount": v.users.len()},
    })
}

/// Docker's column names of the fields, for `--format 'table …'`.
const HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Scope", "SCOPE"),
];

/// `bw volume create [NAME]`: prints the name.
pub(crate) async fn create(engine: &Engine, args: VolumeCreateArgs) -> Outcome {
    let info = engine.volume_create(args.name.as_deref()).await?;
    format::println(&info.name);
    Ok(0)
}

/// `bw volume ls`.
pub(crate) async fn ls(engine: &Engine, args: VolumeLsArgs) -> Outcome {
    let format = Format::parse(args.format.as_deref())?;
    let mut list = engine.volume_ls().await?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    if args.quiet {
        for v in &list {
            format::println(&v.name);
        }
        return Ok(0);
    }
    let items: Vec<Value> = list.iter().map(volume_json).collect();
    if let Some(text) = format.items(&items, HEADERS)? {
        format::print(&text);
        return Ok(0);
    }
    let mut table = Table::new(vec!["DRIVER", "VOLUME NAME"]);
    for v in &list {
        table.row(vec!["local".into(), v.name.clone()]);
    }
    format::print(&table.render());
    Ok(0)
}

/// `bw volume rm`.
pub(crate) async fn rm(engine: &Engine, args: VolumeRmArgs) -> Outcome {
    let mut failed = None;
    for name in &args.volumes {
        match engine.volume_rm(name, args.force).await {
            Ok(()) => format::println(name),
            Err(e) => {
                let f = Failure::from_error(e);
                eprintln!("bw: {}", f.message);
                failed = Some(f);
            }
        }
    }
    failed.map_or(Ok(0), |f: Failure| Err(Failure::printed(f.code)))
}

/// `bw volume prune`: unused anonymous volumes (all unused ones with `-a`).
pub(crate) async fn prune(engine: &Engine, args: VolumePruneArgs) -> Outcome {
    let removed = engine.volume_prune(args.all).await?;
    if !removed.is_empty() {
        format::println("Deleted Volumes:");
        for name in &removed {
            format::println(name);
        }
        format::println("");
    }
    format::println("Total reclaimed space: 0B");
    Ok(0)
}
