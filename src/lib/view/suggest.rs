//! Suggestions for a target that names nothing: the known paths and hashes closest
//! to it.

use crate::catalog::FileRecord;

/// Up to three known paths or hashes close to an unknown target.
pub fn closest_matches(target: &str, records: &[FileRecord]) -> Vec<String> {
    let target_lower = target.to_lowercase();
    let target_name = file_name(&target_lower);
    let is_hex = target.len() >= 4 && target.chars().all(|c| c.is_ascii_hexdigit());
    let mut scored: Vec<(usize, String)> = Vec::new();
    for record in records {
        let mut best = usize::MAX;
        if is_hex {
            let prefix: String = record.content_hash.chars().take(target.len()).collect();
            best = best.min(edit_distance(&target_lower, &prefix));
        }
        for path in std::iter::once(&record.source_path).chain(&record.paths) {
            let lower = path.to_lowercase();
            let name = file_name(&lower);
            let d = if lower.contains(&target_lower)
                || (!target_name.is_empty() && name.contains(target_name))
            {
                0
            } else {
                edit_distance(target_name, name)
            };
            best = best.min(d);
        }
        let limit = (target_name.chars().count().max(target.len().min(12)) / 3).max(2);
        if best <= limit {
            let label = format!("{} ({})", record.source_path, record.short_hash());
            scored.push((best, label));
        }
    }
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, label)| label).collect()
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Levenshtein distance over characters (inputs capped at 256 characters).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(256).collect();
    let b: Vec<char> = b.chars().take(256).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::FileStatus;

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    fn record(hash: &str, path: &str) -> FileRecord {
        FileRecord {
            content_hash: hash.into(),
            source_path: path.into(),
            size_bytes: 1,
            status: FileStatus::Harvested,
            attempts: 1,
            last_error: None,
            started_at: None,
            finished_at: None,
            tool_version: None,
            output_schema_version: None,
            output_dir: None,
            rows_read: None,
            rows_kept: None,
            runs: None,
            updated_at: String::new(),
            outputs_missing_since: None,
            superseded_by: None,
            superseded_reason: None,
            job_id: None,
            paths: vec![path.into()],
        }
    }

    #[test]
    fn close_matches_are_suggested() {
        let records = [
            record("abcdef0123456789", "/in/cell_a.parquet"),
            record("0123456789abcdef", "/in/other.csv"),
        ];
        let s = closest_matches("cell_a.parqet", &records);
        assert_eq!(s, vec!["/in/cell_a.parquet (abcdef012345)".to_string()]);
        let s = closest_matches("abcdee", &records);
        assert_eq!(s, vec!["/in/cell_a.parquet (abcdef012345)".to_string()]);
        assert!(closest_matches("completely-unrelated-name.txt", &records).is_empty());
    }
}
