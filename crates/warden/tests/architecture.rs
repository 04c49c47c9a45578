//! The shape ARCHITECTURE.md promises, checked on the sources: no module of a crate imports one
//! that imports it back (however far round), the crates every kind shares depend on no kind's
//! crate, and `core` has no word of mail in it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crates() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(workspace().join("crates")).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs
}

/// A file's code: comments and its inline test modules (a top-level `#[cfg(test)]` item with
/// a body, to its closing brace at the start of a line) left out.
fn code(path: &Path) -> String {
    let mut text = std::fs::read_to_string(path).unwrap();
    // Test-only items: `#[cfg(test)]`, and the server's test kind (on for tests and the
    // `probe` feature only).
    for marker in ["\n#[cfg(test)]\n", "\n#[cfg(any(test, feature = \"probe\"))]\n"] {
        let mut from = 0;
        while let Some(at) = text[from..].find(marker).map(|i| i + from) {
            let item = at + marker.len();
            // Attributes and doc comments between the marker and the item's line.
            let mut line_start = item;
            while text[line_start..].starts_with("#[") || text[line_start..].starts_with("///") {
                line_start = text[line_start..].find('\n').map_or(text.len(), |i| i + line_start + 1);
            }
            let line_end = text[line_start..].find('\n').map_or(text.len(), |i| i + line_start);
            match text[line_end..].find("\n}\n").map(|i| i + line_end) {
                Some(close) if text[line_start..line_end].trim_end().ends_with('{') => {
                    text.replace_range(at..close + 2, "");
                    from = at;
                }
                _ => from = item,
            }
        }
    }
    let text = text.as_str();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Every `.rs` file under `dir`, however deep, in a stable order.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The top-level modules of a crate (`src/x.rs`, or `src/x/` with every file in it) and the
/// ones each names as `crate::other`. A top-level module must name the others it uses that
/// way (`use super::*` would hide them from this check).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let (name, parts) = if path.is_dir() && path.join("mod.rs").exists() {
            (path.file_name().unwrap().to_string_lossy().into_owned(), rust_files(&path))
        } else if path.extension().is_some_and(|e| e == "rs") {
            (path.file_stem().unwrap().to_string_lossy().into_owned(), vec![path.clone()])
        } else {
            continue;
        };
        // `tests.rs` is a test module kept in a file of its own: it imports what it tests.
        if !["lib", "main", "tests"].contains(&name.as_str()) {
            files.insert(name, parts);
        }
    }
    let names: BTreeSet<String> = files.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (name, parts) in &files {
        let text: String = parts.iter().map(|p| code(p)).collect::<Vec<_>>().join("\n");
        // The module's own file: `super` there is the crate root (in a file under it, `super`
        // is the module itself).
        let own = parts.iter().filter(|p| p.ends_with("mod.rs")).min_by_key(|p| p.components().count());
        let own = code(own.unwrap_or(&parts[0]));
        assert!(
            !own.lines().any(|l| l.trim() == "use super::*;"),
            "{name}: a top-level module names what it uses from its siblings (`use crate::…`), not `use super::*`"
        );
        let mut used = BTreeSet::new();
        // `crate::x…` anywhere, and each name inside `use crate::{x, y::z}`.
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + 7..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                used.extend(group.split(',').map(|p| p.trim().split("::").next().unwrap_or("").to_owned()));
            } else {
                used.insert(
                    rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap().to_owned(),
                );
            }
        }
        used.retain(|u| names.contains(u) && u != name);
        graph.insert(name.clone(), used);
    }
    graph
}

/// A cycle of the graph, if it has one, as the modules in order.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut found = path[i..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    for dir in crates() {
        let graph = module_graph(&dir.join("src"));
        assert!(!graph.is_empty(), "{} has modules", dir.display());
        if let Some(c) = cycle(&graph) {
            panic!("{}: modules import each other: {}", dir.display(), c.join(" -> "));
        }
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(cycle(&graph(&[("a", "b"), ("b", "c")])), None);
    assert_eq!(cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).map(|c| c.len()), Some(4));
    assert!(cycle(&graph(&[("x", "y"), ("y", "x")])).is_some());
}

/// The crates that are kinds of event: they implement `Kind`.
fn kind_crates() -> Vec<String> {
    crates()
        .into_iter()
        .filter(|dir| {
            walk(&dir.join("src")).iter().any(|f| {
                let text = code(f);
                text.contains("impl Kind for") || text.contains("impl warden_core::Kind for")
            })
        })
        .map(|dir| format!("warden-{}", dir.file_name().unwrap().to_string_lossy()))
        .collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_shared_crates_depend_on_no_kind() {
    let kinds = kind_crates();
    assert!(kinds.contains(&"warden-mail".to_owned()), "mail is a kind: {kinds:?}");
    assert!(!kinds.contains(&"warden-server".to_owned()), "the server's test kind is test code: {kinds:?}");
    for shared in ["core", "learn", "rules", "engine", "geo", "store", "desk", "server"] {
        let through = workspace_dependencies(shared);
        for kind in &kinds {
            assert!(
                !through.contains(kind),
                "warden-{shared} depends on {kind} (its dependencies: {through:?})"
            );
        }
    }
}

/// The workspace crates `name` depends on, directly or through others (as `cargo tree -p`
/// would list them), read from the manifests: a `warden-x` line of a `[dependencies]` section.
fn workspace_dependencies(name: &str) -> BTreeSet<String> {
    let direct = |name: &str| -> Vec<String> {
        let manifest =
            std::fs::read_to_string(workspace().join("crates").join(name).join("Cargo.toml")).unwrap();
        let mut section = "";
        let mut out = Vec::new();
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line;
            } else if section == "[dependencies]"
                && let Some(dep) = line.strip_prefix("warden-")
            {
                let dep: String =
                    dep.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
                out.push(dep);
            }
        }
        out
    };
    let mut seen = BTreeSet::new();
    let mut todo = direct(name);
    while let Some(dep) = todo.pop() {
        if seen.insert(format!("warden-{dep}")) {
            todo.extend(direct(&dep));
        }
    }
    seen
}

#[test]
fn dependencies_are_followed_through_other_crates() {
    // Mail's serving crate depends on mail directly, and on the desk through the server.
    assert!(workspace_dependencies("mail-serve").contains("warden-mail"));
    assert!(workspace_dependencies("mail-serve").contains("warden-desk"));
    assert!(workspace_dependencies("desk").contains("warden-store"));
    assert!(workspace_dependencies("desk").contains("warden-core"), "through warden-store too");
}

#[test]
fn core_has_no_word_of_mail() {
    for file in walk(&workspace().join("crates/core/src")) {
        let text = std::fs::read_to_string(&file).unwrap().to_lowercase();
        for word in ["mail", "spam", "gtube", "message"] {
            assert!(!text.contains(word), "{} says {word}", file.display());
        }
    }
}
