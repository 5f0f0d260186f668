//! Catalog URLs: which backend, where an SQLite file is, and the form safe to show.
//!
//! Nothing in a URL is guessed: an empty host, database or file is a configuration
//! error, never a default database or an in-memory catalog.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use super::Backend;

const POSTGRES_FORM: &str = "postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE";

/// File name of the default embedded catalog, inside the output directory.
pub const DEFAULT_SQLITE_FILE: &str = "catalog.db";

/// A URL with its credentials' password (and query, which may carry one) removed,
/// safe for logs and errors. Whatever its shape, nothing between the scheme and an
/// `@` survives except a user name parsed as such.
pub fn redact_url(url: &str) -> String {
    if let Ok(mut u) = url::Url::parse(url) {
        if u.has_host() {
            let _ = u.set_password(None);
            u.set_query(None);
            return u.to_string();
        }
    }
    // Not a hierarchical URL (`postgres:user:pw@host/db`, a typo…): keep the scheme
    // and what follows the last `@`.
    let rest = url.rsplit('@').next().unwrap_or("");
    let rest = rest.split('?').next().unwrap_or("");
    match url.split_once(':') {
        Some((scheme, _)) if url.contains('@') => format!("{scheme}:…@{rest}"),
        _ => rest.to_string(),
    }
}

/// Which backend a URL names, or why it names none that can be used (the reason
/// never quotes the URL, which may hold a password).
pub(super) fn backend_of(url: &str) -> Result<Backend, String> {
    if url.starts_with("sqlite:") {
        let path = sqlite_path(url).ok_or("an SQLite URL needs a file: sqlite://PATH")?;
        let in_memory = path.as_os_str().as_encoded_bytes().starts_with(b":memory:")
            || url
                .split_once('?')
                .is_some_and(|(_, query)| query.split('&').any(|kv| kv == "mode=memory"));
        if in_memory {
            return Err("an in-memory catalog forgets every harvest when the process ends: give a file, sqlite://PATH".into());
        }
        return Ok(Backend::Sqlite);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let parsed = url::Url::parse(url).map_err(|e| format!("{e} (expected {POSTGRES_FORM})"))?;
        let param = |name: &str| {
            parsed
                .query_pairs()
                .any(|(k, v)| k == name && !v.is_empty())
        };
        if parsed.host_str().is_none_or(str::is_empty) && !param("host") && !param("hostaddr") {
            return Err(format!("no host (expected {POSTGRES_FORM})"));
        }
        if parsed.path().trim_start_matches('/').is_empty() && !param("dbname") {
            return Err(format!("no database (expected {POSTGRES_FORM})"));
        }
        return Ok(Backend::Postgres);
    }
    Err(format!("expected {POSTGRES_FORM} or sqlite://PATH"))
}

/// The URL of the default embedded catalog for an output directory. The path is
/// percent-encoded (as SQLite URLs are decoded), so a directory named with `?`, `#`,
/// `%` or spaces is the file it names, not a query or a fragment.
pub fn default_sqlite_url(out_root: &Path) -> String {
    let path = out_root.join(DEFAULT_SQLITE_FILE);
    let mut url = String::from("sqlite://");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~+,=@".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// The file of an SQLite catalog URL, if it is one (not an in-memory database).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    sqlite_path(url).filter(|p| !p.as_os_str().as_encoded_bytes().starts_with(b":memory:"))
}

/// The file an SQLite URL names, percent-decoded as SQLite's driver decodes it;
/// `None` when it names none.
pub(super) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or(rest).as_bytes();
    let mut bytes = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let hex = path
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (path[i], hex) {
            (b'%', Some(b)) => {
                bytes.push(b);
                i += 3;
            }
            (b, _) => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    (!bytes.is_empty()).then(|| PathBuf::from(OsString::from_vec(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        let r = redact_url(
            "postgres://alice:s3cret@db.example:5432/harvest?sslmode=require&password=x",
        );
        assert_eq!(r, "postgres://alice@db.example:5432/harvest");
        assert!(!redact_url("postgres://u:pw@h/db").contains("pw"));
        assert_eq!(
            redact_url("postgres:alice:s3cr3t-pw@host/db"),
            "postgres:…@host/db"
        );
        assert_eq!(
            redact_url("sqlite:///var/harvest/catalog.db"),
            "sqlite:///var/harvest/catalog.db"
        );
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://out/catalog.db"),
            Some(PathBuf::from("out/catalog.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///abs/c.db?mode=ro"),
            Some(PathBuf::from("/abs/c.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u:p@h/db"), None);
    }

    #[test]
    fn default_sqlite_urls_name_odd_directories_exactly() {
        for dir in ["out dir?x=1#y%20", "/abs/a b/ü", "plain/out"] {
            let url = default_sqlite_url(Path::new(dir));
            assert!(!url[9..].contains(['?', '#', ' ']), "{url}");
            assert_eq!(sqlite_file(&url), Some(Path::new(dir).join("catalog.db")));
        }
    }

    #[test]
    fn urls_that_name_no_usable_catalog_are_refused() {
        for bad in [
            "",
            "postgres://",
            "postgresql://",
            "postgres://host",
            "postgres://u:pw@host:99999/db",
            "postgres://u:pw@host:port/db",
            "postgres:///db",
            "sqlite:",
            "sqlite://",
            "sqlite::memory:",
            "sqlite://?mode=memory",
            "mysql://h/db",
        ] {
            let reason = backend_of(bad).expect_err(bad);
            assert!(!reason.contains("pw"), "{reason}");
        }
        assert_eq!(backend_of("postgres://u@h:5432/db"), Ok(Backend::Postgres));
        assert_eq!(
            backend_of("postgres:///db?host=/run/postgresql"),
            Ok(Backend::Postgres)
        );
        assert_eq!(backend_of("sqlite://out/c.db"), Ok(Backend::Sqlite));
        assert_eq!(backend_of("sqlite:c.db?mode=rwc"), Ok(Backend::Sqlite));
    }
}
