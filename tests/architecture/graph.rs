//! A crate's module tree, read from its root file by following `mod` items as rustc
//! does (`foo.rs` beside `foo/`, `mod.rs`, `#[path]`), and its file-level dependency
//! graph: every path a file names, resolved to the file that defines the item, through
//! `use` re-exports (`super::Cache`, re-exported by `cache/mod.rs` from `store.rs`,
//! is an edge to `store.rs`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use super::parse::{facts, Facts, ModDecl, ModPath, Ref};

/// Reads a source file; `None` when it does not exist.
pub type Read<'a> = &'a dyn Fn(&Path) -> Option<String>;

/// A module: the file it lives in (an inline module shares its file's) and whether it
/// is test code (`#[cfg(test)]`, or inside such a module).
pub struct Module {
    pub file: PathBuf,
    pub test: bool,
}

/// One crate, read.
#[derive(Default)]
pub struct Crate {
    pub modules: BTreeMap<ModPath, Module>,
    /// Each file's own module and what it says.
    pub files: BTreeMap<PathBuf, (ModPath, Facts)>,
    /// Per module, each name its `use` items bind → the absolute path it stands for.
    uses: BTreeMap<ModPath, BTreeMap<String, ModPath>>,
}

fn join(a: &[String], b: &[String]) -> ModPath {
    a.iter().chain(b).cloned().collect()
}

impl Crate {
    /// The crate whose root file is `root`.
    pub fn load(root: &Path, read: Read) -> Crate {
        let mut krate = Crate::default();
        krate.add_file(root.to_path_buf(), Vec::new(), false, read);
        krate.uses = krate.use_maps();
        krate
    }

    fn add_file(&mut self, file: PathBuf, module: ModPath, test: bool, read: Read) {
        let text = read(&file).unwrap_or_else(|| panic!("{}: not found", file.display()));
        let facts = facts(&text);
        let at = |m: &[String], t| {
            (
                join(&module, m),
                Module {
                    file: file.clone(),
                    test: t,
                },
            )
        };
        self.modules.extend([at(&[], test)]);
        for (inline, t) in &facts.inline_mods {
            self.modules.extend([at(inline, test || *t)]);
        }
        for decl in &facts.mods {
            let child = child_file(&file, module.is_empty(), decl, read);
            let name = std::slice::from_ref(&decl.name);
            self.add_file(child, join(&module, name), test || decl.test, read);
        }
        self.files.insert(file, (module, facts));
    }

    /// The module a file holds.
    pub fn module_of(&self, file: &Path) -> &ModPath {
        &self.files[file].0
    }

    /// Whether a file is test code.
    pub fn is_test(&self, file: &Path) -> bool {
        self.modules[self.module_of(file)].test
    }

    fn use_maps(&self) -> BTreeMap<ModPath, BTreeMap<String, ModPath>> {
        let mut maps: BTreeMap<ModPath, BTreeMap<String, ModPath>> = BTreeMap::new();
        for (module, facts) in self.files.values() {
            for r in &facts.refs {
                let scope = join(module, &r.inline);
                let Some(name) = r.binds.clone().filter(|b| b != "*") else {
                    continue;
                };
                if let Some(abs) = self.absolute(&scope, &r.segments) {
                    maps.entry(scope).or_default().insert(name, abs);
                }
            }
        }
        maps
    }

    /// `segments` as written in `scope`, from the crate root; `None` outside the crate.
    fn absolute(&self, scope: &[String], segments: &[String]) -> Option<ModPath> {
        let (first, rest) = segments.split_first()?;
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" => Some(join(scope, rest)),
            "super" => {
                let ups = segments.iter().take_while(|s| *s == "super").count();
                let keep = scope.len().checked_sub(ups)?;
                Some(join(&scope[..keep], &segments[ups..]))
            }
            name => match self.uses.get(scope).and_then(|m| m.get(name)) {
                Some(target) => Some(join(target, rest)),
                // A child module named without `self::`.
                None => self
                    .modules
                    .contains_key(&join(scope, &[name.to_string()]))
                    .then(|| join(scope, segments)),
            },
        }
    }

    /// The file defining what the absolute path names: its deepest module, or
    /// where that module's `use` of the next segment points.
    fn target(&self, abs: &[String], hops: usize) -> Option<&Path> {
        let n = (0..=abs.len())
            .rev()
            .find(|&n| self.modules.contains_key(&abs[..n]))?;
        let (module, rest) = abs.split_at(n);
        let reexport = rest
            .first()
            .and_then(|name| self.uses.get(module)?.get(name));
        match reexport {
            Some(to) if hops < 8 => self.target(&join(to, &rest[1..]), hops + 1),
            _ => Some(&self.modules[module].file),
        }
    }

    /// What a file's code names, as absolute paths inside the crate (test code and
    /// signpost re-exports left out).
    pub fn named(&self, file: &Path) -> Vec<ModPath> {
        let (module, facts) = &self.files[file];
        if self.modules[module].test {
            return Vec::new();
        }
        let live = facts.refs.iter().filter(|r| !r.test && !signpost(r, facts));
        live.filter_map(|r| self.absolute(&join(module, &r.inline), &r.segments))
            .collect()
    }

    /// File → the other files it imports, test code left out.
    pub fn edges(&self) -> BTreeMap<&Path, BTreeSet<&Path>> {
        let mut edges: BTreeMap<&Path, BTreeSet<&Path>> = BTreeMap::new();
        for file in self.files.keys().filter(|f| !self.is_test(f)) {
            let set = edges.entry(file.as_path()).or_default();
            for abs in self.named(file) {
                let to = self.target(&abs, 0);
                if let Some(to) = to.filter(|to| *to != file && !self.is_test(to)) {
                    set.insert(to);
                }
            }
        }
        edges
    }
}

/// Where `mod name;` in `parent` lives. A crate root and a `mod.rs` keep their
/// children beside them; `foo.rs` keeps them in `foo/`.
fn child_file(parent: &Path, root: bool, decl: &ModDecl, read: Read) -> PathBuf {
    let dir = parent.parent().expect("a file has a directory");
    if let Some(p) = &decl.path {
        return dir.join(p);
    }
    let stem = parent.file_stem().expect("a file name");
    let base = if root || stem == "mod" {
        dir.to_path_buf()
    } else {
        dir.join(stem)
    };
    let flat = base.join(format!("{}.rs", decl.name));
    if read(&flat).is_some() {
        flat
    } else {
        base.join(&decl.name).join("mod.rs")
    }
}

/// A `pub use` the file's own code does not use: it routes outside callers to the
/// defining file (see `target`), and is no dependency of this file.
fn signpost(r: &Ref, facts: &Facts) -> bool {
    r.public
        && r.binds
            .as_ref()
            .is_some_and(|b| b == "*" || !facts.idents.contains(b))
}

/// Every import circle: for each edge `a → b`, the shortest way back from `b` to
/// `a`. Each circle once, starting at its smallest file.
pub fn cycles<'a>(edges: &BTreeMap<&'a Path, BTreeSet<&'a Path>>) -> Vec<Vec<&'a Path>> {
    let mut found = BTreeSet::new();
    for (from, targets) in edges {
        for to in targets {
            if let Some(mut ring) = shortest_path(edges, to, from) {
                let min = (0..ring.len()).min_by_key(|&i| ring[i]).unwrap_or(0);
                ring.rotate_left(min);
                found.insert(ring);
            }
        }
    }
    found.into_iter().collect()
}

/// Breadth first: the files from `start` to `goal`, both included.
fn shortest_path<'a>(
    edges: &BTreeMap<&'a Path, BTreeSet<&'a Path>>,
    start: &'a Path,
    goal: &'a Path,
) -> Option<Vec<&'a Path>> {
    let mut came_from = BTreeMap::from([(start, start)]);
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        if node == goal {
            let mut path = vec![node];
            while *path.last()? != start {
                path.push(came_from[path.last()?]);
            }
            path.reverse();
            return Some(path);
        }
        for next in edges.get(node).into_iter().flatten() {
            if !came_from.contains_key(next) {
                came_from.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    None
}
