//! Names the commit in `histinspect --version`, read from `.git` without running git (a build
//! from a source archive or a wheel without `.git` says "unknown"). Nothing else is built here:
//! the protobuf types are generated once and committed (see `src/proto.rs`).

use std::fs;

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    let commit = commit().unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=HISTINSPECT_COMMIT={commit}");
}

fn short(hash: &str) -> Option<String> {
    let h = hash.trim();
    (h.len() >= 12 && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| h[..12].to_string())
}

fn commit() -> Option<String> {
    let head = fs::read_to_string(".git/HEAD").ok()?;
    let Some(r) = head.trim().strip_prefix("ref: ") else {
        return short(&head);
    };
    println!("cargo:rerun-if-changed=.git/{r}");
    println!("cargo:rerun-if-changed=.git/packed-refs");
    if let Ok(c) = fs::read_to_string(format!(".git/{r}")) {
        return short(&c);
    }
    let packed = fs::read_to_string(".git/packed-refs").ok()?;
    packed
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(r))
        .and_then(|l| short(l.split_whitespace().next()?))
}
