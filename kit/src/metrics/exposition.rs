//! Reading the Prometheus text format back: the samples of a scrape with their
//! labels, for tools that check a running deployment from its `/metrics`
//! (`brisk doctor`). Comments and malformed lines are skipped.

use std::collections::BTreeMap;

/// One sample: family name (with its `_bucket`/`_sum`/`_count` suffix), labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name as written.
    pub name: String,
    /// Its labels, unescaped.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, or "".
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map_or("", String::as_str)
    }
}

/// Every sample of a scrape, in order.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let (labels, after) = parse_labels(&line[open + 1..])?;
            (&line[..open], labels, after)
        }
        None => {
            let (name, rest) = line.split_once(' ')?;
            (name, BTreeMap::new(), rest)
        }
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `k="v",…}` and what follows the closing brace.
fn parse_labels(text: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after_key) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after_key.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.insert(key.trim().to_string(), value);
        rest = &after_key[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_with_unescaped_labels_and_any_value() {
        let text = "# HELP x y\nplain 3\nh_bucket{route=\"/a/\\\"q\\\"\",le=\"+Inf\"} 7\n\
                    g{a=\"1,2\",b=\"x\\ny\"} -1.5e3 1700000000\nbroken{a=\"1\" 2\n";
        let s = parse(text);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!((s[0].name.as_str(), s[0].value), ("plain", 3.0));
        assert_eq!(s[1].label("route"), "/a/\"q\"");
        assert_eq!(s[1].label("le"), "+Inf");
        assert_eq!(s[2].label("a"), "1,2");
        assert_eq!(s[2].label("b"), "x\ny");
        assert_eq!(s[2].value, -1500.0);
    }
}
