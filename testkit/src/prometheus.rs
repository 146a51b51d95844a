//! Reading Prometheus' text exposition format, as a scraper would: one sample by
//! its exact series, or every sample of a family. An absent series is `None`, never
//! zero, so a check on a metric that is not there fails instead of passing.

/// The value of the sample whose series is exactly `series` (a family name, with
/// its labels as served, e.g. `brisk_cache_events_total{event="hit"}`).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Every sample of the family `name` (labelled or not): `(labels, value)`, the
/// labels as served between the braces (empty when it has none).
pub fn samples(text: &str, name: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(inner) => {
                    let (labels, value) = inner.split_once("} ")?;
                    (labels.to_string(), value)
                }
                None => (String::new(), rest.strip_prefix(' ')?),
            };
            Some((labels, value.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// The sum of the samples of `name` whose labels contain `label` (e.g.
/// `route="/api/catalog"`); `None` when no sample matches.
pub fn sum(text: &str, name: &str, label: &str) -> Option<f64> {
    let matching: Vec<f64> = samples(text, name)
        .into_iter()
        .filter(|(labels, _)| labels.contains(label))
        .map(|(_, v)| v)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP a_total A.\n# TYPE a_total counter\n\
        a_total{route=\"/x\",status=\"200\"} 3\na_total{route=\"/x\",status=\"500\"} 1\n\
        a_total{route=\"/y\",status=\"200\"} 7\nab_total 9\nup 1 1700000000000\n";

    #[test]
    fn a_series_is_read_exactly_and_an_absent_one_is_none() {
        assert_eq!(
            sample(TEXT, "a_total{route=\"/y\",status=\"200\"}"),
            Some(7.0)
        );
        assert_eq!(sample(TEXT, "ab_total"), Some(9.0));
        assert_eq!(
            sample(TEXT, "up"),
            Some(1.0),
            "a timestamp is not the value"
        );
        assert_eq!(sample(TEXT, "a_total{route=\"/z\"}"), None);
    }

    #[test]
    fn samples_of_a_family_exclude_families_that_share_its_prefix() {
        assert_eq!(samples(TEXT, "a_total").len(), 3);
        assert_eq!(samples(TEXT, "ab_total"), vec![(String::new(), 9.0)]);
        assert_eq!(sum(TEXT, "a_total", "route=\"/x\""), Some(4.0));
        assert_eq!(sum(TEXT, "a_total", "route=\"/z\""), None);
    }
}
