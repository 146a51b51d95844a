//! What one source file says about modules: the `mod` items it declares, every path
//! it names (`use` trees expanded, `super::`/`self::`/`crate::` paths in code), and
//! the inline modules (`mod tests { … }`) each path sits in, so that `super::` inside
//! one means the file itself.

use super::lexer::{tokens, Tok};

/// A module path's segments, e.g. `["cache", "serve"]`.
pub type ModPath = Vec<String>;

/// A `mod name;` item: the child lives in another file.
#[derive(Debug)]
pub struct ModDecl {
    pub name: String,
    /// `#[path = "…"]`, relative to the declaring file's directory.
    pub path: Option<String>,
    /// Declared under `#[cfg(test)]`.
    pub test: bool,
}

/// One path the file names.
#[derive(Debug)]
pub struct Ref {
    /// The inline modules around it, below the file's own module.
    pub inline: ModPath,
    /// As written: `["super", "keys", "Scope"]`.
    pub segments: ModPath,
    /// For a `use` item, the name it brings into scope (`as` honoured); `*` for a glob.
    pub binds: Option<String>,
    /// A `pub use` (or `pub(…) use`): a re-export.
    pub public: bool,
    /// Inside `#[cfg(test)]` code.
    pub test: bool,
}

/// Everything [`facts`] reads from a file.
#[derive(Debug, Default)]
pub struct Facts {
    pub mods: Vec<ModDecl>,
    /// Inline modules (below the file's module) and whether each is test code.
    pub inline_mods: Vec<(ModPath, bool)>,
    pub refs: Vec<Ref>,
    /// Every identifier of code outside test modules, `use` items aside (their
    /// segments are in `refs`).
    pub idents: Vec<String>,
}

/// An open `mod name { … }`: its name, the brace depth inside it, test or not.
struct Open {
    name: String,
    depth: usize,
    test: bool,
}

/// The walk over a file's tokens.
struct Reader {
    toks: Vec<Tok>,
    i: usize,
    open: Vec<Open>,
    depth: usize,
    /// Attributes seen for the next item.
    cfg_test: bool,
    path_attr: Option<String>,
    out: Facts,
}

/// Reads a file's text.
pub fn facts(text: &str) -> Facts {
    let toks = tokens(text);
    let mut r = Reader {
        toks,
        i: 0,
        open: Vec::new(),
        depth: 0,
        cfg_test: false,
        path_attr: None,
        out: Facts::default(),
    };
    while r.i < r.toks.len() {
        r.step();
    }
    r.out
}

impl Reader {
    fn inline(&self) -> ModPath {
        self.open.iter().map(|o| o.name.clone()).collect()
    }

    fn in_test(&self) -> bool {
        self.cfg_test || self.open.last().is_some_and(|o| o.test)
    }

    /// Reads the item or token at `i` and moves past it.
    fn step(&mut self) {
        let i = self.i;
        let (tok, next) = (self.toks[i].clone(), self.toks.get(i + 1).cloned());
        match (&tok, &next) {
            (Tok::Punct('#'), Some(Tok::Punct('['))) => return self.attribute(),
            (Tok::Ident(kw), Some(Tok::Ident(name))) if kw == "mod" => {
                return self.module(name.clone())
            }
            (Tok::Ident(kw), _) if kw == "use" => return self.use_item(),
            (Tok::Ident(_), Some(Tok::PathSep)) if !after_sep(&self.toks, i) => {
                return self.code_path()
            }
            (Tok::Punct('{'), _) => self.depth += 1,
            (Tok::Punct('}'), _) => {
                if self.open.last().is_some_and(|o| o.depth == self.depth) {
                    self.open.pop();
                }
                self.depth = self.depth.saturating_sub(1);
            }
            _ => {}
        }
        if let (Tok::Ident(id), false) = (&tok, self.in_test()) {
            self.out.idents.push(id.clone());
        }
        // An attribute belongs to the next item: it ends at that item's `;` or block.
        if matches!(tok, Tok::Punct(';' | '{' | '}')) {
            (self.cfg_test, self.path_attr) = (false, None);
        }
        self.i += 1;
    }

    /// `#[…]`: keeps `cfg(test)` and `path = "…"` for the next item. Its tokens are
    /// read on as code: `#[arg(value_parser = database::parse_pg_url)]` names a path.
    fn attribute(&mut self) {
        let end = closing(&self.toks, self.i + 1, '[', ']');
        let attr = &self.toks[self.i + 2..end];
        self.cfg_test |= attr == cfg_test_attr().as_slice();
        if let [Tok::Ident(p), Tok::Punct('='), Tok::Str(s)] = attr {
            self.path_attr = (p == "path").then(|| s.clone());
        }
        self.i += 2;
    }

    /// `mod name;` (a file: declared, unless inside an inline module) or `mod name {`
    /// (inline). The name is no use of the module.
    fn module(&mut self, name: String) {
        let test = self.in_test();
        match self.toks.get(self.i + 2) {
            Some(Tok::Punct(';')) => {
                if self.open.is_empty() {
                    let path = self.path_attr.take();
                    self.out.mods.push(ModDecl { name, path, test });
                }
                self.i += 3;
            }
            Some(Tok::Punct('{')) => {
                self.depth += 1;
                let mut inline = self.inline();
                inline.push(name.clone());
                self.out.inline_mods.push((inline, test));
                self.open.push(Open {
                    name,
                    depth: self.depth,
                    test,
                });
                self.i += 3;
            }
            _ => self.i += 1,
        }
        (self.cfg_test, self.path_attr) = (false, None);
    }

    fn use_item(&mut self) {
        let mut items = Vec::new();
        let public = is_public(&self.toks, self.i);
        self.i = use_tree(&self.toks, self.i + 1, Vec::new(), &mut items);
        let (inline, test) = (self.inline(), self.in_test());
        for (segments, binds) in items {
            let (inline, binds) = (inline.clone(), Some(binds));
            self.out.refs.push(Ref {
                inline,
                segments,
                binds,
                public,
                test,
            });
        }
    }

    /// A path in code, e.g. `super::keys::view_key`.
    fn code_path(&mut self) {
        let (segments, end) = path(&self.toks, self.i);
        let (inline, test) = (self.inline(), self.in_test());
        if !test {
            self.out.idents.extend(segments.iter().cloned());
        }
        self.out.refs.push(Ref {
            inline,
            segments,
            binds: None,
            public: false,
            test,
        });
        self.i = end;
    }
}

/// Whether the `use` at `i` is `pub` or `pub(…)`.
fn is_public(toks: &[Tok], i: usize) -> bool {
    let is_pub = |j: usize| toks.get(j) == Some(&Tok::Ident("pub".into()));
    if i > 0 && toks[i - 1] == Tok::Punct(')') {
        let open = (0..i).rev().find(|&j| toks[j] == Tok::Punct('('));
        open.is_some_and(|j| j > 0 && is_pub(j - 1))
    } else {
        i > 0 && is_pub(i - 1)
    }
}

fn cfg_test_attr() -> Vec<Tok> {
    let id = |s: &str| Tok::Ident(s.into());
    vec![id("cfg"), Tok::Punct('('), id("test"), Tok::Punct(')')]
}

fn after_sep(toks: &[Tok], i: usize) -> bool {
    i > 0 && toks[i - 1] == Tok::PathSep
}

/// The index of the bracket closing the one at `open`.
fn closing(toks: &[Tok], open: usize, o: char, c: char) -> usize {
    let mut depth = 0;
    for (j, t) in toks.iter().enumerate().skip(open) {
        if *t == Tok::Punct(o) {
            depth += 1;
        } else if *t == Tok::Punct(c) {
            depth -= 1;
            if depth == 0 {
                return j;
            }
        }
    }
    toks.len()
}

/// `a::b::c` from `i`: the segments and the index after them.
fn path(toks: &[Tok], mut i: usize) -> (ModPath, usize) {
    let mut segments = Vec::new();
    while let Some(Tok::Ident(s)) = toks.get(i) {
        segments.push(s.clone());
        i += 1;
        if toks.get(i) != Some(&Tok::PathSep) {
            break;
        }
        i += 1;
    }
    (segments, i)
}

/// One use tree below `prefix`, e.g. `crate::{a, b::{c, d as e}, f::*}`; pushes
/// (path, name bound) per leaf and returns the index after the tree.
fn use_tree(toks: &[Tok], i: usize, prefix: ModPath, out: &mut Vec<(ModPath, String)>) -> usize {
    let (mut segments, mut i) = path(toks, i);
    segments.splice(0..0, prefix);
    if toks.get(i) == Some(&Tok::PathSep) {
        i += 1; // a leading `::`
    }
    match toks.get(i) {
        Some(Tok::Punct('{')) => {
            let end = closing(toks, i, '{', '}');
            i += 1;
            while i < end {
                i = use_tree(toks, i, segments.clone(), out);
                if toks.get(i) == Some(&Tok::Punct(',')) {
                    i += 1;
                }
            }
            end + 1
        }
        Some(Tok::Punct('*')) => {
            out.push((segments, "*".into()));
            i + 1
        }
        _ => {
            if segments.last().is_some_and(|s| s == "self") {
                segments.pop(); // `use a::{self}` binds `a`
            }
            let mut binds = segments.last().cloned().unwrap_or_default();
            if let (Some(Tok::Ident(kw)), Some(Tok::Ident(alias))) = (toks.get(i), toks.get(i + 1))
            {
                if kw == "as" {
                    binds = alias.clone();
                    i += 2;
                }
            }
            out.push((segments, binds));
            i
        }
    }
}
