//! A small Rust tokenizer: just enough to read `use` trees, paths, `mod` items and
//! attributes. Comments, strings and char literals are taken out of the way first,
//! because a `{` or `crate::` inside one must neither open a block nor count as an import.

/// One token of the source.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An identifier, keyword or number.
    Ident(String),
    /// A string literal's contents (kept for `#[path = "…"]`).
    Str(String),
    /// `::`
    PathSep,
    /// Any other single character.
    Punct(char),
}

/// The tokens of `text`, comments dropped.
pub fn tokens(text: &str) -> Vec<Tok> {
    let s: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c.is_whitespace() {
            i += 1;
        } else if at(&s, i, "//") {
            i = (i..s.len()).find(|&j| s[j] == '\n').unwrap_or(s.len());
        } else if at(&s, i, "/*") {
            i = block_comment_end(&s, i);
        } else if let Some((body, end)) = string(&s, i) {
            out.push(Tok::Str(body));
            i = end;
        } else if c == '\'' {
            i = quote_end(&s, i);
        } else if c.is_alphanumeric() || c == '_' {
            let end = (i..s.len())
                .find(|&j| !(s[j].is_alphanumeric() || s[j] == '_'))
                .unwrap_or(s.len());
            out.push(Tok::Ident(s[i..end].iter().collect()));
            i = end;
        } else if at(&s, i, "::") {
            out.push(Tok::PathSep);
            i += 2;
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

fn at(s: &[char], i: usize, pat: &str) -> bool {
    pat.chars()
        .enumerate()
        .all(|(k, p)| s.get(i + k) == Some(&p))
}

/// Block comments nest in Rust.
fn block_comment_end(s: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < s.len() {
        if at(s, i, "/*") {
            depth += 1;
            i += 2;
        } else if at(s, i, "*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// A string literal starting at `i` (`"…"`, `b"…"`, `r#"…"#`, `br"…"`, `c"…"`):
/// its contents and the index after it.
fn string(s: &[char], i: usize) -> Option<(String, usize)> {
    let mut j = i;
    if matches!(s.get(j), Some('b' | 'c')) {
        j += 1;
    }
    let raw = s.get(j) == Some(&'r');
    if raw {
        j += 1;
    }
    let hashes = (j..s.len()).take_while(|&k| s[k] == '#').count();
    j += hashes;
    if s.get(j) != Some(&'"') || (!raw && hashes > 0) {
        return None;
    }
    let start = j + 1;
    let mut k = start;
    while k < s.len() {
        if !raw && s[k] == '\\' {
            k += 2;
        } else if s[k] == '"' && (1..=hashes).all(|h| s.get(k + h) == Some(&'#')) {
            return Some((s[start..k].iter().collect(), k + 1 + hashes));
        } else {
            k += 1;
        }
    }
    Some((s[start..].iter().collect(), s.len()))
}

/// Skips a char literal (`'{'`, `'\''`, `'\u{7b}'`); a lifetime (`'a`) only loses its quote.
fn quote_end(s: &[char], i: usize) -> usize {
    if s.get(i + 1) == Some(&'\\') {
        (i + 3..s.len())
            .find(|&j| s[j] == '\'')
            .map_or(s.len(), |j| j + 1)
    } else if s.get(i + 2) == Some(&'\'') {
        i + 3
    } else {
        i + 1
    }
}
