//! The summary every benchmark hands back: rows of figure, value and aim, printed as one
//! markdown table, and passed from a benchmark's process to `openamt bench all` as JSON.

use std::path::Path;

use anyhow::Context;

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub figure: String,
    pub value: String,
    /// The aim from the issues or spec/limits.md, else the reference's figure, else "—".
    pub aim: String,
}

impl Row {
    pub fn new(figure: impl Into<String>, value: impl Into<String>, aim: impl Into<String>) -> Row {
        Row {
            figure: figure.into(),
            value: value.into(),
            aim: aim.into(),
        }
    }
}

/// No aim stated and no reference figure.
pub const NO_AIM: &str = "—";

/// The rows as a markdown table, columns padded so it also reads as plain text.
pub fn markdown(rows: &[Row]) -> String {
    let width = |header: &str, cell: fn(&Row) -> &str| {
        rows.iter()
            .map(|r| cell(r).chars().count())
            .chain([header.len()])
            .max()
            .unwrap_or(0)
    };
    let widths = [
        width("figure", |r| &r.figure),
        width("value", |r| &r.value),
        width("aim", |r| &r.aim),
    ];
    let line = |cells: [&str; 3]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut text = line(["figure", "value", "aim"]);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    text.push_str(&format!("|-{}-|\n", rule.join("-|-")));
    for r in rows {
        text.push_str(&line([&r.figure, &r.value, &r.aim]));
    }
    text
}

pub fn write(path: &Path, rows: &[Row]) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(rows)?)
        .with_context(|| format!("writing {}", path.display()))
}

pub fn read(path: &Path) -> anyhow::Result<Vec<Row>> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_slice(&text)?)
}

/// `12345.6` as `12,346`: the table's counts and rates.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

/// Milliseconds with two decimals, for latencies.
pub fn ms(d: std::time::Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_markdown_with_aligned_columns() {
        let rows = [
            Row::new("connects per second", "1,834 /s", "≥ 1,500 /s"),
            Row::new("RSS", "12.0 KiB", NO_AIM),
        ];
        let text = markdown(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("| figure "));
        assert!(lines[1].starts_with("|--"));
        assert!(lines[2].contains("| 1,834 /s |"));
        let lengths: Vec<usize> = lines.iter().map(|l| l.chars().count()).collect();
        assert!(lengths.iter().all(|l| *l == lengths[0]), "{text}");
    }

    #[test]
    fn rows_survive_the_trip_between_processes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.json");
        let rows = vec![Row::new("a", "1", "≥ 2")];
        write(&path, &rows).unwrap();
        assert_eq!(read(&path).unwrap(), rows);
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1500.0), "1,500");
        assert_eq!(thousands(1234567.8), "1,234,568");
    }
}
