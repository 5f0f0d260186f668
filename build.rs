//! Embeds the git commit the harvester is built from (`HARVESTER_GIT_COMMIT`), so
//! that a job record, a metric or a bug report names exactly what ran.
//!
//! The commit is, in order: the `HARVESTER_GIT_COMMIT` environment variable (a
//! container build passes it, its context holding no `.git`); else the checkout's
//! `HEAD`, 12 hex digits, with `-dirty` when tracked files differ from it; else
//! `unknown` (no git, or not a checkout).

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HARVESTER_GIT_COMMIT");
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&root);
    // What moves HEAD or the dirty flag, and what a build compiles anyway: the
    // commit is looked up again only when one of them changed.
    for watched in [
        ".git/HEAD",
        ".git/index",
        ".git/refs",
        ".git/packed-refs",
        "src",
        "migrations",
        "Cargo.toml",
    ] {
        if root.join(watched).exists() {
            println!("cargo:rerun-if-changed={watched}");
        }
    }
    let commit = std::env::var("HARVESTER_GIT_COMMIT")
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .or_else(|| git_commit(root))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=HARVESTER_GIT_COMMIT={commit}");
}

/// `HEAD`'s short hash, with `-dirty` when tracked files were changed; `None` when
/// git is missing or `root` is not in a checkout.
fn git_commit(root: &Path) -> Option<String> {
    let head = git(root, &["rev-parse", "--short=12", "HEAD"])?;
    let head = head.trim();
    if head.is_empty() {
        return None;
    }
    let status = git(root, &["status", "--porcelain", "--untracked-files=no"])?;
    Some(if status.trim().is_empty() {
        head.to_string()
    } else {
        format!("{head}-dirty")
    })
}

/// The standard output of a git command run in `root`, if it succeeded.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}
