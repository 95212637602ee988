//! Output as Docker prints it: tables aligned as Go's tabwriter does, sizes and ages in
//! Docker's words ("4.26MB", "2 hours ago"), and `--format` (a template, `json`, `table …`).

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::template::Template;
use crate::Failure;

/// A table: Docker's column headers and rows of cells.
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers.
    pub(crate) fn new(header: Vec<&str>) -> Table {
        Table {
            header: header.into_iter().map(str::to_owned).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as Docker's tabwriter (min width 10, padding 3) lays it out.
    pub(crate) fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths = vec![0usize; columns];
        let header = &self.header;
        for row in std::iter::once(header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate().take(columns) {
                line.push_str(cell);
                if i + 1 < columns {
                    let width = (widths[i] + 3).max(10);
                    let pad = width - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// How `--format` asked for the output.
pub(crate) enum Format {
    /// The default table.
    Table,
    /// `--format json`: one JSON object per line.
    Json,
    /// `--format 'table {{.ID}}\t{{.Names}}'`: the columns the template picks, with Docker's
    /// headers, aligned.
    TableOf(Template),
    /// A Go template, one line per item.
    Template(Template),
}

impl Format {
    /// Reads `--format` (`table`, `json`, `table TEMPLATE`, `TEMPLATE`); a typed `\t` or `\n`
    /// is a tab or a line break, as Docker reads it.
    pub(crate) fn parse(format: Option<&str>) -> Result<Format, Failure> {
        let parse = |t: &str| {
            Template::parse(&t.replace("\\t", "\t").replace("\\n", "\n"))
                .map_err(|e| Failure::usage(format!("template parsing error: {e}")))
        };
        match format.map(str::trim) {
            None | Some("") | Some("table") => Ok(Format::Table),
            Some("json") => Ok(Format::Json),
            Some(t) => match t.strip_prefix("table ") {
                Some(columns) => parse(columns).map(Format::TableOf),
                None => parse(t).map(Format::Template),
            },
        }
    }

    /// Prints `items` as JSON lines, through the template, or as the template's table (whose
    /// header is the template over `headers`: field name → Docker's column name); `None` for
    /// the default table.
    pub(crate) fn items(
        &self,
        items: &[Value],
        headers: &[(&str, &str)],
    ) -> Result<Option<String>, Failure> {
        let render = |t: &Template, v: &Value| t.render(v).map_err(Failure::from_error);
        match self {
            Format::Table => Ok(None),
            Format::Json => Ok(Some(
                items.iter().map(|v| format!("{v}\n")).collect::<String>(),
            )),
            Format::TableOf(t) => {
                let names: serde_json::Map<String, Value> = headers
                    .iter()
                    .map(|(k, h)| ((*k).to_owned(), Value::from(*h)))
                    .collect();
                let header = render(t, &Value::Object(names))?;
                let mut table = Table::new(header.split('\t').collect());
                for v in items {
                    table.row(render(t, v)?.split('\t').map(str::to_owned).collect());
                }
                Ok(Some(table.render()))
            }
            Format::Template(t) => {
                let mut out = String::new();
                for v in items {
                    out.push_str(&render(t, v)?);
                    out.push('\n');
                }
                Ok(Some(out))
            }
        }
    }
}

/// Writes to stdout; a closed pipe (`bw images | head -1`) ends quietly.
pub(crate) fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes one line to stdout.
pub(crate) fn println(text: &str) {
    print(&format!("{text}\n"));
}

/// Docker's `units.HumanSizeWithPrecision(size, 3)`: "4.26MB", "129kB", "0B".
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit + 1 < UNITS.len() {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", g3(size), UNITS[unit])
}

/// Go's `%.3g` for the sizes Docker prints (trailing zeros dropped).
fn g3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = v.abs().log10().floor() as i32 + 1;
    let decimals = (3 - digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Docker's `units.HumanDuration`: "Less than a second", "About a minute", "3 days".
pub(crate) fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let minutes = secs / 60;
    let hours = (d.as_secs_f64() / 3600.0 + 0.5) as u64;
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// "2 hours ago" for a time in nanoseconds since the epoch (`N/A` when unknown).
pub(crate) fn ago_ns(ns: Option<u64>) -> String {
    match ns {
        Some(ns) if ns > 0 => format!("{} ago", human_duration(since(ns))),
        _ => "N/A".into(),
    }
}

/// How long ago `ns` (nanoseconds since the epoch) was.
pub(crate) fn since(ns: u64) -> Duration {
    let then = UNIX_EPOCH + Duration::from_nanos(ns);
    SystemTime::now().duration_since(then).unwrap_or_default()
}

/// Nanoseconds since the epoch of an RFC 3339 time (`2024-01-02T03:04:05.123Z`, offsets too).
pub(crate) fn parse_rfc3339(text: &str) -> Option<u64> {
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => (&time[..i], &time[i..]),
        None => (time, "Z"),
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    let offset_secs = match offset.as_bytes().first() {
        Some(b'+') | Some(b'-') => {
            let (oh, om) = offset[1..].split_once(':').unwrap_or((&offset[1..], "0"));
            let secs = oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60;
            if offset.starts_with('-') {
                -secs
            } else {
                secs
            }
        }
        _ => 0,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + min * 60 + s - offset_secs;
    let nanos: u64 = format!("{:0<9}", &frac[..frac.len().min(9)])
        .parse()
        .unwrap_or(0);
    u64::try_from(secs).ok().map(|s| s * 1_000_000_000 + nanos)
}

/// RFC 3339 with nanoseconds in UTC, as Docker's inspect prints times.
pub(crate) fn rfc3339_ns(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let base = boxwright::store::rfc3339(secs);
    match base.strip_suffix('Z') {
        Some(b) => format!("{b}.{:09}Z", ns % 1_000_000_000),
        None => base,
    }
}

/// Docker's `stringutils.Ellipsis`: at most `max` characters, the last one `…` when cut.
pub(crate) fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// The first 12 hex digits of an ID (`sha256:` dropped), as Docker shows IDs.
pub(crate) fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_234_567), "1.23MB");
        assert_eq!(human_size(129_000), "129kB");
        assert_eq!(human_size(7_800), "7.8kB");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(7200)), "2 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86_400)), "3 days");
        assert_eq!(
            ellipsis("sh -c 'while true; do x; done'", 20)
                .chars()
                .count(),
            20
        );
    }

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(
            parse_rfc3339("1970-01-01T01:00:01.5+01:00"),
            Some(1_500_000_000)
        );
        assert_eq!(rfc3339_ns(1_500_000_000), "1970-01-01T00:00:01.500000000Z");
    }

    #[test]
    fn table_like_tabwriter() {
        let mut t = Table::new(vec!["REPOSITORY", "TAG", "IMAGE ID"]);
        t.row(vec![
            "busybox".into(),
            "latest".into(),
            "0123456789ab".into(),
        ]);
        assert_eq!(
            t.render(),
            "REPOSITORY   TAG       IMAGE ID\nbusybox      latest    0123456789ab\n"
        );
    }
}
