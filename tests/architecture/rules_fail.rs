//! Each rule shown failing on a small made-up crate, and the parser shown reading
//! every path form the rules depend on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::graph::Crate;
use super::parse::facts;
use super::{app_rules, circles, too_long};

/// A crate made of `(path, text)` pairs, the first being its root.
fn fake(files: &[(&str, &str)]) -> Crate {
    let map: BTreeMap<PathBuf, String> = files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect();
    let read = move |p: &Path| map.get(p).cloned();
    Crate::load(Path::new(files[0].0), &read)
}

/// File → the files it imports, as strings.
fn imports(krate: &Crate) -> BTreeMap<String, Vec<String>> {
    let show = |p: &Path| p.display().to_string();
    krate
        .edges()
        .into_iter()
        .map(|(f, ts)| (show(f), ts.into_iter().map(show).collect()))
        .collect()
}

#[test]
fn use_groups_expand_to_every_leaf() {
    let refs = facts("use crate::{a, b::{c, d as e}, f::*};\nfn g() { super::h::i(); }").refs;
    let got: Vec<(String, Option<String>)> = refs
        .iter()
        .map(|r| (r.segments.join("::"), r.binds.clone()))
        .collect();
    let want = [
        ("crate::a", Some("a")),
        ("crate::b::c", Some("c")),
        ("crate::b::d", Some("e")),
        ("crate::f", Some("*")),
        ("super::h::i", None),
    ];
    let want: Vec<(String, Option<String>)> = want
        .iter()
        .map(|(p, b)| (p.to_string(), b.map(String::from)))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn paths_in_comments_strings_and_test_modules_are_not_imports() {
    let text = "// use crate::a;\nconst S: &str = \"crate::b {\";\nconst C: char = '{';\n\
                #[cfg(test)]\nmod tests { use crate::c; }\nuse crate::d;";
    let f = facts(text);
    let live: Vec<String> = f
        .refs
        .iter()
        .filter(|r| !r.test)
        .map(|r| r.segments.join("::"))
        .collect();
    assert_eq!(live, ["crate::d"]);
    assert_eq!(f.inline_mods, [(vec!["tests".to_string()], true)]);
}

#[test]
fn super_self_and_reexports_resolve_to_the_defining_file() {
    let krate = fake(&[
        ("lib.rs", "mod a; mod b; pub use a::x::X;"),
        (
            "a/mod.rs",
            "mod x; mod y; mod z; pub use self::y::Y; pub use x::X; fn f(_: X) {}",
        ),
        ("a/x.rs", "use super::Y; pub struct X;"),
        ("a/y.rs", "pub struct Y; fn f() { super::super::b::g(); }"),
        ("a/z.rs", "use crate::X; mod inner { use super::super::x; }"),
        ("b.rs", "mod c; pub fn g() { c::h(); }"),
        (
            "b/c.rs",
            "#[derive(clap::Args)] pub struct H { #[arg(value_parser = super::g)] h: u8 }",
        ),
    ]);
    let got = imports(&krate);
    // `pub use self::y::Y` is a signpost (a/mod.rs never uses Y); `X` is used.
    assert_eq!(got["a/mod.rs"], ["a/x.rs"]);
    assert_eq!(got["a/x.rs"], ["a/y.rs"]);
    assert_eq!(got["a/y.rs"], ["b.rs"]);
    assert_eq!(got["a/z.rs"], ["a/x.rs"]);
    assert_eq!(got["b.rs"], ["b/c.rs"]);
    assert_eq!(got["b/c.rs"], ["b.rs"]);
}

#[test]
fn an_import_circle_is_reported_with_its_path() {
    let krate = fake(&[
        ("lib.rs", "mod a; mod b; mod c;"),
        ("a.rs", "use crate::b::B; pub struct A;"),
        ("b.rs", "use crate::c::C; pub struct B;"),
        ("c.rs", "use super::a::A; pub struct C;"),
    ]);
    assert_eq!(circles(&krate), ["a.rs → b.rs → c.rs → a.rs"]);
}

#[test]
fn handlers_naming_db_or_reaching_a_query_break_a_rule() {
    let krate = fake(&[
        ("lib.rs", "mod app; mod db; mod routes;"),
        (
            "app.rs",
            "pub use crate::db::queries::all; pub use crate::db::Row;",
        ),
        ("db/mod.rs", "pub mod queries; pub struct Row;"),
        ("db/queries.rs", "pub fn all() {}"),
        ("routes/mod.rs", "mod a; mod b; mod c;"),
        ("routes/a.rs", "use crate::db::{queries};"),
        ("routes/b.rs", "fn f() { crate::app::all(); }"),
        ("routes/c.rs", "fn f(_: crate::app::Row) {}"),
    ]);
    assert_eq!(
        app_rules(&krate),
        [
            "routes/a.rs names db: handlers call a use case",
            "routes/a.rs reaches db/queries.rs: handlers never run queries",
            "routes/b.rs reaches db/queries.rs: handlers never run queries",
        ]
    );
}

#[test]
fn a_domain_import_breaks_a_rule() {
    let krate = fake(&[
        ("lib.rs", "mod app; mod domain;"),
        ("app.rs", "pub struct Pool;"),
        ("domain/mod.rs", "mod a; mod b;"),
        (
            "domain/a.rs",
            "use super::b::B; use super::super::app::Pool;",
        ),
        ("domain/b.rs", "use brisk_kit::Scope; pub struct B;"),
    ]);
    assert_eq!(
        app_rules(&krate),
        [
            "domain/a.rs imports app.rs: the domain imports nothing",
            "domain/b.rs imports brisk_kit: the domain imports nothing",
        ]
    );
}

#[test]
fn actix_in_a_use_case_breaks_a_rule_however_spelled() {
    let krate = fake(&[
        ("lib.rs", "mod app;"),
        ("app/mod.rs", "mod a; mod b; mod c;"),
        ("app/a.rs", "use actix_web::HttpResponse;"),
        (
            "app/b.rs",
            "fn f() -> brisk_kit::actix_web::HttpResponse { todo!() }",
        ),
        (
            "app/c.rs",
            "#[cfg(test)] mod tests { use actix_web::test; }",
        ),
    ]);
    assert_eq!(
        app_rules(&krate),
        [
            "app/a.rs names actix: use cases know no web framework",
            "app/b.rs names actix: use cases know no web framework",
        ]
    );
}

#[test]
fn a_long_file_breaks_a_rule_unless_generated() {
    let long = "fn f() {}\n".repeat(601);
    let files: BTreeMap<PathBuf, String> = [
        (PathBuf::from("src/a.rs"), long.clone()),
        (PathBuf::from("src/db/schema.rs"), long),
        (PathBuf::from("src/b.rs"), "fn g() {}\n".repeat(600)),
    ]
    .into();
    assert_eq!(too_long(&files), ["src/a.rs: 601 lines"]);
}
