//! Labels: `key=value` pairs that say where a log came from (a line, a cell, a
//! site), taken from the `key=value` folders of its whole path
//! (`incoming/line=B/cell=7/2026-11-22/x.parquet`), so that they do not depend on
//! how a run reached it, and from `--label`.
//!
//! Labels end up in file names (the dataset's `cell=` partition), in SQL values and
//! in JSON, so both keys and values are held to a small safe alphabet: a key is a
//! letter followed by letters, digits and `_` (at most 64); a value is letters,
//! digits, `.`, `_` and `-` (at most 128, not `.` or `..`). Anything else is refused
//! whole, never escaped or cut.

use std::collections::BTreeMap;
use std::path::Path;

/// A set of labels, ordered by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(BTreeMap<String, String>);

/// The label that names a run's cell when its log has no `cell_id` column.
pub const CELL_LABEL: &str = "cell";

impl Labels {
    pub fn new() -> Labels {
        Labels::default()
    }

    /// Parses `key=value`, checking both.
    pub fn parse_pair(text: &str) -> Result<(String, String), String> {
        let (key, value) = split_pair(text)?;
        check_value(&key, &value)?;
        Ok((key, value))
    }

    /// Parses a `--where key=value` filter. It takes what a file can carry, so
    /// that a filter that can never match is a mistake said at once: a label's
    /// value as [`Labels::parse_pair`] takes it, except for `cell`, which also
    /// matches the cells logs name in `cell_id`, any text but empty. Filters are
    /// compared as values, never pasted into SQL.
    pub fn parse_filter(text: &str) -> Result<(String, String), String> {
        let (key, value) = split_pair(text)?;
        if key != CELL_LABEL {
            check_value(&key, &value)?;
        } else if value.is_empty() {
            return Err(format!(
                "`{}`: a cell is never empty; give the cell (cell=7)",
                escape(text)
            ));
        }
        Ok((key, value))
    }

    /// Adds a label, replacing the key's earlier value.
    pub fn insert(&mut self, key: String, value: String) {
        self.0.insert(key, value);
    }

    /// Labels from the `key=value` folders of `path` below `root`; other folders
    /// (dates, names) are not labels. A folder that looks like a label but is not a
    /// safe one makes the whole path's labels an error.
    /// A key that several folders give takes the innermost folder's value (see
    /// [`Labels::overridden_in_path`]).
    pub fn of_path(root: &Path, path: &Path) -> Result<Labels, String> {
        Ok(Labels(label_folders(root, path)?.into_iter().collect()))
    }

    /// The label folders of `path` below `root` that a folder further in overrides
    /// (`cell=7/cell=8/`: `cell=7`), as (key, outer value, inner value), outermost
    /// first; the inner value wins.
    pub fn overridden_in_path(root: &Path, path: &Path) -> Vec<(String, String, String)> {
        let folders = label_folders(root, path).unwrap_or_default();
        folders
            .iter()
            .enumerate()
            .filter_map(|(at, (key, outer))| {
                let inner = folders[at + 1..].iter().rev().find(|(k, _)| k == key)?;
                (inner.1 != *outer).then(|| (key.clone(), outer.clone(), inner.1.clone()))
            })
            .collect()
    }

    /// These labels, then `other`'s over them.
    pub fn merged(&self, other: &Labels) -> Labels {
        let mut merged = self.clone();
        merged
            .0
            .extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// As a JSON object with keys in order: `{"cell":"7","line":"B"}`. The form
    /// stored in the catalog and the dataset, queryable with either's JSON functions.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("string maps serialize")
    }

    /// Reads the JSON form back; anything else (a NULL, text of an older version)
    /// is no labels.
    pub fn from_json(text: Option<&str>) -> Labels {
        text.and_then(|t| serde_json::from_str(t).ok())
            .map(Labels)
            .unwrap_or_default()
    }
}

/// The `key=value` folders of `path` below `root`, outermost first; other folders
/// (dates, names) are not labels. A folder that looks like a label but is not a safe
/// one makes the whole path's labels an error.
fn label_folders(root: &Path, path: &Path) -> Result<Vec<(String, String)>, String> {
    let Some(folders) = path.strip_prefix(root).ok().and_then(Path::parent) else {
        return Ok(Vec::new());
    };
    folders
        .components()
        .map(|folder| folder.as_os_str().to_string_lossy())
        .filter(|folder| folder.contains('='))
        .map(|folder| {
            Labels::parse_pair(&folder).map_err(|e| format!("folder `{}`: {e}", escape(&folder)))
        })
        .collect()
}

/// `key=value` split at its first `=`, the key checked.
fn split_pair(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{}` is not key=value", escape(text)))?;
    check_key(key)?;
    Ok((key.to_string(), value.to_string()))
}

fn check_key(key: &str) -> Result<(), String> {
    let safe = key.len() <= 64
        && key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if safe {
        Ok(())
    } else {
        Err(format!(
            "label key `{}` is not allowed: a letter, then letters, digits and _ (at most 64)",
            escape(key)
        ))
    }
}

fn check_value(key: &str, value: &str) -> Result<(), String> {
    let safe = !value.is_empty()
        && value.len() <= 128
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if safe {
        Ok(())
    } else {
        Err(format!(
            "label {key}=`{}` is not allowed: letters, digits, '.', '_' and '-' (1 to 128)",
            escape(value)
        ))
    }
}

/// Text as it may be shown on one line: control characters escaped.
fn escape(text: &str) -> String {
    text.chars()
        .flat_map(char::escape_default)
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_labels_are_the_key_value_folders_below_the_root() {
        let labels = Labels::of_path(
            Path::new("/in"),
            Path::new("/in/line=B/cell=7/2026-11-22/x=1.parquet"),
        )
        .unwrap();
        assert_eq!(labels.to_json(), r#"{"cell":"7","line":"B"}"#);
        // Folders above the root are not the file's labels.
        let none = Labels::of_path(
            Path::new("/data/cell=3/in"),
            Path::new("/data/cell=3/in/x.csv"),
        );
        assert_eq!(none.unwrap(), Labels::new());
        let given = Labels::of_path(Path::new("/in/cell=1/x.csv"), Path::new("/in/cell=1/x.csv"));
        assert_eq!(given.unwrap(), Labels::new());
    }

    #[test]
    fn the_innermost_of_nested_label_folders_wins_and_the_others_are_named() {
        let (root, path) = (
            Path::new("/in"),
            Path::new("/in/cell=7/line=B/cell=8/line=B/x.csv"),
        );
        assert_eq!(
            Labels::of_path(root, path).unwrap().to_json(),
            r#"{"cell":"8","line":"B"}"#
        );
        assert_eq!(
            Labels::overridden_in_path(root, path),
            [("cell".to_string(), "7".to_string(), "8".to_string())],
            "a repeated equal value overrides nothing"
        );
        assert!(Labels::overridden_in_path(root, Path::new("/in/cell=7/x.csv")).is_empty());
    }

    #[test]
    fn unsafe_keys_and_values_are_refused_not_escaped() {
        for bad in [
            "cell",
            "=7",
            "1cell=7",
            "cell name=7",
            "ce'll=7",
            "cell=",
            "cell=..",
            "cell=7;DROP TABLE run_stats",
            "cell=a\u{1b}[31m",
            "cell=7=8",
        ] {
            let error = Labels::parse_pair(bad).unwrap_err();
            assert!(!error.contains('\u{1b}'), "{error}");
        }
        assert_eq!(
            Labels::parse_pair("site_2=plant-2.b").unwrap(),
            ("site_2".into(), "plant-2.b".into())
        );
        let error = Labels::of_path(Path::new("/in"), Path::new("/in/cell=7 A/x.csv")).unwrap_err();
        assert!(error.contains("cell=7 A"), "{error}");
    }

    #[test]
    fn filters_take_what_a_file_can_carry() {
        for never in ["cell=", "line=", "line=B east", "site=../x"] {
            assert!(Labels::parse_filter(never).is_err(), "{never}");
            assert!(Labels::parse_pair(never).is_err(), "{never}");
        }
        // A log's cell_id may name any cell; a label cannot.
        for cell in ["cell=8/b east", "cell=7' OR '1'='1"] {
            assert!(Labels::parse_filter(cell).is_ok(), "{cell}");
            assert!(Labels::parse_pair(cell).is_err(), "{cell}");
        }
        assert_eq!(
            Labels::parse_filter("line=B").unwrap(),
            ("line".into(), "B".into())
        );
    }

    #[test]
    fn later_labels_win_and_json_reads_back() {
        let mut path = Labels::new();
        path.insert("cell".into(), "7".into());
        path.insert("line".into(), "B".into());
        let mut given = Labels::new();
        given.insert("cell".into(), "8".into());
        let merged = path.merged(&given);
        assert_eq!(merged.get("cell"), Some("8"));
        assert_eq!(Labels::from_json(Some(&merged.to_json())), merged);
        assert_eq!(Labels::from_json(None), Labels::new());
        assert_eq!(Labels::from_json(Some("not json")), Labels::new());
    }
}
