//! The architecture, checked from the source: which module imports which (every
//! `crate::…` path in `src/`, `use` groups expanded), no module cycles among siblings,
//! the layer rules of docs/ARCHITECTURE.md, and no source file over 600 lines.
//! `cargo test --test architecture -- --nocapture` prints the dependency list.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

/// A module's path below the crate root, e.g. `["cache", "serve"]`.
type ModPath = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/cache/serve.rs` → `cache::serve`; `src/cache/mod.rs` → `cache`.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: ModPath = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
        && parts.len() > 1
    {
        parts.pop();
    }
    if parts == ["lib"] {
        parts.clear();
    }
    parts
}

/// Test modules may reach anywhere; they are not part of the layering.
fn is_test_module(m: &ModPath) -> bool {
    m.iter().any(|p| p == "tests" || p == "testing")
}

/// Every `crate::a::b` path in the text, with `use crate::{a, b::{c, d}}` expanded.
fn crate_paths(text: &str) -> Vec<ModPath> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let preceded_by_ident = rest[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[i + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        expand(rest, Vec::new(), &mut out);
    }
    out
}

/// Reads one path (or group) at the start of `text` below `prefix`.
fn expand(text: &str, prefix: ModPath, out: &mut Vec<ModPath>) -> usize {
    let mut path = prefix;
    let mut pos = 0;
    let bytes = text.as_bytes();
    loop {
        let start = pos;
        while pos < bytes.len() && (bytes[pos].is_ascii_alphanumeric() || bytes[pos] == b'_') {
            pos += 1;
        }
        if pos > start {
            path.push(text[start..pos].to_string());
        }
        if text[pos..].starts_with("::{") {
            pos += 3;
            loop {
                while pos < bytes.len() && (bytes[pos] as char).is_whitespace() {
                    pos += 1;
                }
                if pos >= bytes.len() || bytes[pos] == b'}' {
                    return pos + 1;
                }
                pos += expand(&text[pos..], path.clone(), out);
                while pos < bytes.len() && bytes[pos] != b',' && bytes[pos] != b'}' {
                    pos += 1;
                }
                if pos < bytes.len() && bytes[pos] == b',' {
                    pos += 1;
                }
            }
        } else if text[pos..].starts_with("::") {
            pos += 2;
        } else {
            out.push(path);
            return pos;
        }
    }
}

struct Tree {
    /// Every module that exists as a file.
    modules: BTreeSet<ModPath>,
    /// Module → the modules it names (resolved to the deepest existing module).
    imports: BTreeMap<ModPath, BTreeSet<ModPath>>,
    lines: BTreeMap<PathBuf, usize>,
    texts: BTreeMap<ModPath, String>,
}

fn load() -> Tree {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut tree = Tree {
        modules: BTreeSet::new(),
        imports: BTreeMap::new(),
        lines: BTreeMap::new(),
        texts: BTreeMap::new(),
    };
    for f in &files {
        tree.modules.insert(module_of(&src, f));
    }
    for f in &files {
        let text = fs::read_to_string(f).expect("read source");
        tree.lines.insert(f.clone(), text.lines().count());
        let m = module_of(&src, f);
        let targets = crate_paths(&text)
            .into_iter()
            .filter_map(|p| {
                (1..=p.len())
                    .rev()
                    .map(|n| p[..n].to_vec())
                    .find(|prefix| tree.modules.contains(prefix))
            })
            .filter(|t| *t != m)
            .collect();
        tree.imports.insert(m.clone(), targets);
        tree.texts.insert(m, text);
    }
    tree
}

/// The edge between the two siblings under the importer's and target's common
/// ancestor, or `None` when one contains the other (a parent and its children).
fn sibling_edge(from: &ModPath, to: &ModPath) -> Option<(ModPath, String, String)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    Some((
        from[..common].to_vec(),
        from[common].clone(),
        to[common].clone(),
    ))
}

fn cycles(tree: &Tree) -> Vec<String> {
    let mut graphs: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, targets) in &tree.imports {
        if is_test_module(from) {
            continue;
        }
        for to in targets {
            if let Some((parent, a, b)) = sibling_edge(from, to) {
                graphs
                    .entry(parent)
                    .or_default()
                    .entry(a)
                    .or_default()
                    .insert(b);
            }
        }
    }
    let mut found = Vec::new();
    for (parent, graph) in &graphs {
        for start in graph.keys() {
            // Depth-first search for a path back to `start`.
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            let mut seen = BTreeSet::new();
            while let Some((node, path)) = stack.pop() {
                for next in graph.get(&node).into_iter().flatten() {
                    if next == start {
                        let ring = path.join(" → ");
                        found.push(format!("{}: {ring} → {start}", parent.join("::")));
                    } else if seen.insert(next.clone()) {
                        let mut p = path.clone();
                        p.push(next.clone());
                        stack.push((next.clone(), p));
                    }
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn name(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

fn starts(m: &ModPath, prefix: &str) -> bool {
    let p: Vec<&str> = prefix.split("::").collect();
    m.len() >= p.len() && m.iter().zip(&p).all(|(a, b)| a == b)
}

/// The modules of the kit: none of them may import the application.
const KIT: [&str; 20] = [
    "kit",
    "route",
    "http::deadline",
    "startup",
    "drain",
    "services",
    "authenticate",
    "cache",
    "ratelimit",
    "warm",
    "metrics",
    "redis",
    "caller",
    "supervise",
    "http::middleware",
    "http::extract",
    "http::ops",
    "http::error",
    "http::docs",
    "db::pool",
];
/// The application's modules.
const APP: [&str; 4] = ["app", "domain", "http::routes", "db::queries"];

fn violations(tree: &Tree) -> Vec<String> {
    let mut v = Vec::new();
    for (from, targets) in &tree.imports {
        if is_test_module(from) {
            continue;
        }
        let text = &tree.texts[from];
        for to in targets {
            let (f, t) = (name(from), name(to));
            if starts(to, "config")
                && !(starts(from, "config") || from == &["startup"] || from == &["main"])
            {
                v.push(format!(
                    "{f} imports {t}: config is for main, startup and config/"
                ));
            }
            if starts(from, "http") && starts(to, "db") {
                v.push(format!("{f} imports {t}: http never imports db"));
            }
            if starts(from, "db") && ["app", "http", "error"].iter().any(|m| starts(to, m)) {
                v.push(format!("{f} imports {t}: db returns rows or DbError"));
            }
            if starts(from, "domain") {
                v.push(format!(
                    "{f} imports {t}: domain imports nothing of the crate"
                ));
            }
            if KIT.iter().any(|k| starts(from, k)) && APP.iter().any(|a| starts(to, a)) {
                v.push(format!(
                    "{f} imports {t}: the kit never imports the application"
                ));
            }
            if starts(from, "app") && starts(to, "http") {
                v.push(format!("{f} imports {t}: use cases never import http"));
            }
        }
        if (starts(from, "app") || starts(from, "db") || starts(from, "domain"))
            && ["actix_web", "actix::", "actix_rt", "use actix"]
                .iter()
                .any(|a| text.contains(a))
        {
            v.push(format!("{} mentions actix", name(from)));
        }
    }
    v
}

#[test]
fn the_dependency_list_has_no_cycles_and_follows_the_layers() {
    let tree = load();
    for (from, targets) in &tree.imports {
        let list: Vec<String> = targets.iter().map(name).collect();
        println!("{}: {}", name(from), list.join(" "));
    }
    let rings = cycles(&tree);
    assert!(rings.is_empty(), "module cycles:\n{}", rings.join("\n"));
    let broken = violations(&tree);
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_source_file_is_over_six_hundred_lines() {
    let tree = load();
    let long: Vec<String> = tree
        .lines
        .iter()
        .filter(|(f, n)| **n > MAX_LINES && !f.ends_with("schema.rs"))
        .map(|(f, n)| format!("{}: {n} lines", f.display()))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_path_parser_expands_use_groups() {
    let paths =
        crate_paths("use crate::cache::{keys::Scope, Cache};\nlet x = crate::db::pool::get();");
    let names: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        names,
        ["cache::keys::Scope", "cache::Cache", "db::pool::get"]
    );
}
