//! Property tests of the parsers that take outside input (API.md "Hostile input"):
//! limit strings, keyset cursors, query normalization, query parameters and JSON
//! bodies never panic, and round-trip where they should.

use brisk::domain::orders::OrderPosition;
use brisk::routes::cursor;
use brisk_kit::cache::keys::normalize_query;
use brisk_kit::http::error::ApiError;
use brisk_kit::http::extract::body::parse_json;
use brisk_kit::http::extract::query::{QueryParams, MAX_QUERY_INTEGER};
use brisk_kit::ratelimit::limits::{format_limits, parse_limits, MAX_COUNT};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// The field a 400 names.
fn field(e: ApiError) -> String {
    match e {
        ApiError::BadRequest { field, .. } => field,
        other => panic!("not a 400: {other:?}"),
    }
}

// ---- limit strings -------------------------------------------------------------

/// Fragments of the limit grammar, glued in any order: near-misses of real strings.
fn limit_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,22}",
        Just(" ".to_string()),
        Just("per".to_string()),
        Just("/".to_string()),
        Just(";".to_string()),
        Just(",".to_string()),
        prop::sample::select(vec![
            "s", "sec", "seconds", "m", "min", "minute", "h", "hours", "d", "day", "days", "ms",
            "week", "PER", "Minute", "é", "\u{0}",
        ])
        .prop_map(str::to_string),
    ]
}

/// One well-formed rate: (text, count, period in seconds).
fn well_formed_rate() -> impl Strategy<Value = (String, u64, u64)> {
    let units = prop::sample::select(vec![
        ("second", 1u64),
        ("secs", 1),
        ("s", 1),
        ("minute", 60),
        ("min", 60),
        ("m", 60),
        ("hours", 3_600),
        ("hr", 3_600),
        ("day", 86_400),
        ("d", 86_400),
    ]);
    (
        1..=MAX_COUNT,
        units,
        1u64..=400,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_filter_map(
            "period within a year",
            |(count, (unit, secs), multiplier, slash, spelled_one)| {
                let period = multiplier
                    .checked_mul(secs)
                    .filter(|p| *p <= 366 * 86_400)?;
                let amount = if multiplier == 1 && !spelled_one {
                    String::new()
                } else {
                    format!("{multiplier} ")
                };
                let sep = if slash { "/" } else { " per " };
                Some((format!("{count}{sep}{amount}{unit}"), count, period))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn limit_strings_never_panic_and_what_parses_round_trips(
        parts in prop::collection::vec(limit_fragment(), 0..10),
        noise in ".{0,40}",
    ) {
        for input in [parts.concat(), noise] {
            if let Ok(rates) = parse_limits(&input) {
                prop_assert!(!rates.is_empty());
                prop_assert_eq!(parse_limits(&format_limits(&rates)), Ok(rates), "{:?}", input);
            }
        }
    }

    #[test]
    fn well_formed_limit_strings_parse_to_their_rates_and_round_trip(
        rates in prop::collection::vec(well_formed_rate(), 1..4),
        semicolons in any::<bool>(),
    ) {
        let sep = if semicolons { "; " } else { ", " };
        let text = rates.iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(sep);
        let parsed = parse_limits(&text).unwrap();
        let want: Vec<(u64, u64)> = rates.iter().map(|r| (r.1, r.2)).collect();
        let got: Vec<(u64, u64)> = parsed.iter().map(|r| (r.count, r.period.as_secs())).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(parse_limits(&format_limits(&parsed)), Ok(parsed));
    }
}

// ---- cursors -------------------------------------------------------------------

fn position() -> impl Strategy<Value = OrderPosition> {
    // Every instant chrono can hold, to the microsecond.
    let range =
        DateTime::<Utc>::MIN_UTC.timestamp_micros()..=DateTime::<Utc>::MAX_UTC.timestamp_micros();
    (range, any::<i64>()).prop_map(|(micros, id)| OrderPosition {
        created_at: DateTime::from_timestamp_micros(micros).expect("in chrono's range"),
        id,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn cursors_round_trip_for_their_tenant_only(
        pos in position(),
        tenant in any::<i64>(),
        other in any::<i64>(),
        secret in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let c = cursor::encode(&secret, tenant, pos);
        prop_assert_eq!(cursor::decode(&secret, tenant, &c), Some(pos));
        prop_assert_eq!(cursor::decode(&secret, tenant, &format!(" {c} ")), Some(pos));
        if other != tenant {
            prop_assert_eq!(cursor::decode(&secret, other, &c), None);
        }
    }

    #[test]
    fn an_edited_cursor_never_decodes(
        pos in position(),
        at in any::<prop::sample::Index>(),
        with in prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/%.".chars().collect::<Vec<_>>()
        ),
    ) {
        let c = cursor::encode(b"secret", 7, pos);
        let i = at.index(c.len());
        let mut edited: Vec<char> = c.chars().collect();
        prop_assume!(edited[i] != with);
        edited[i] = with;
        let edited: String = edited.into_iter().collect();
        prop_assert_eq!(cursor::decode(b"secret", 7, &edited), None);
        // Truncated or extended: never a position either.
        prop_assert_eq!(cursor::decode(b"secret", 7, &c[..i]), None);
        prop_assert_eq!(cursor::decode(b"secret", 7, &format!("{c}{with}")), None);
    }

    #[test]
    fn any_text_as_a_cursor_is_refused_without_panicking(raw in ".{0,64}", tenant in any::<i64>()) {
        prop_assert_eq!(cursor::decode(b"secret", tenant, &raw), None);
    }
}

// ---- query strings ---------------------------------------------------------------

/// Query-string text: the characters that matter to a form decoder, and any other.
fn query_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(vec![
                "&", "=", "+", "%", "%2", "%00", "%FF", "%C3%A9", "%26", "%3D", "?", "q", "limit",
                "a", "5", " ", "é", "\u{0}",
            ])
            .prop_map(str::to_string),
            ".{0,3}",
        ],
        0..16,
    )
    .prop_map(|parts| parts.concat())
}

/// A list of (name, value) pairs of any text but NUL.
fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[^\u{0}]{0,8}", "[^\u{0}]{0,12}"), 0..6)
}

fn encode(pairs: &[(String, String)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn normalization_never_panics_is_idempotent_and_ignores_order(
        raw in query_text(),
        mut list in pairs(),
    ) {
        let only: &[&str] = &["q", "limit"];
        for filter in [None, Some(only)] {
            let once = normalize_query(&raw, filter);
            prop_assert_eq!(normalize_query(&once, filter), once.clone());
            if !raw.starts_with('?') {
                prop_assert_eq!(normalize_query(&format!("?{raw}"), filter), once);
            }
        }
        let forward = normalize_query(&encode(&list), None);
        list.reverse();
        prop_assert_eq!(normalize_query(&encode(&list), None), forward);
    }

    #[test]
    fn query_params_never_panic_and_refuse_exactly_nul_and_bad_utf8(raw in query_text()) {
        let strict = QueryParams::parse(&raw);
        prop_assert_eq!(QueryParams::check(&raw).is_ok(), strict.is_ok());
        // What a lossy decoder makes of it: refused exactly when that lost or held something.
        let lossy: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let suspicious = lossy
            .iter()
            .any(|(k, v)| format!("{k}{v}").contains(['\u{0}', '\u{FFFD}']));
        if !suspicious {
            let strict = strict.unwrap();
            for (k, v) in &lossy {
                let first = lossy.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v);
                prop_assert_eq!(strict.get(k), first.map(String::as_str), "{} = {}", k, v);
            }
        }
    }

    #[test]
    fn query_params_round_trip_encoded_pairs(list in pairs()) {
        let params = QueryParams::parse(&encode(&list)).unwrap();
        for (k, _) in &list {
            let first = list.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v.as_str());
            prop_assert_eq!(params.get(k), first);
        }
    }

    #[test]
    fn a_nul_in_a_value_is_refused_naming_its_parameter(
        before in pairs(),
        name in "[a-z]{1,8}",
        value in "[^\u{0}]{0,6}",
    ) {
        let mut list = before.clone();
        list.push((name.clone(), format!("{value}\u{0}")));
        let err = QueryParams::parse(&encode(&list));
        // An earlier pair may already be refused (it cannot: no NUL), so this one is.
        prop_assert_eq!(field(err.unwrap_err()), name);
    }

    #[test]
    fn positive_integers_are_exactly_one_to_a_million(n in any::<i64>(), name in "[a-z]{1,8}") {
        let params = QueryParams::parse(&format!("{name}={n}")).unwrap();
        let got = params.positive(&name, 1);
        prop_assert_eq!(got.is_ok(), (1..=MAX_QUERY_INTEGER).contains(&n));
        if let Ok(v) = got {
            prop_assert_eq!(v, n);
            prop_assert_eq!(params.clamped(&name, 1, 100).unwrap(), n.min(100));
        } else {
            prop_assert_eq!(field(got.unwrap_err()), name);
        }
    }
}

// ---- JSON bodies -----------------------------------------------------------------

/// JSON values with integer numbers (floats need not print back identically).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((".{0,6}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn holds_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\u{0}'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\u{0}') || holds_nul(v)),
        _ => false,
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn json_bodies_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), text in ".{0,64}") {
        for body in [bytes.as_slice(), text.as_bytes()] {
            let _ = parse_json::<Value>(body);
            if let Ok(login) = parse_json::<Login>(body) {
                let nul_free = !format!("{}{}", login.email, login.password).contains('\0');
                prop_assert!(nul_free, "a NUL got through: {:?}", login);
            }
        }
    }

    #[test]
    fn a_json_value_round_trips_unless_it_holds_a_nul(value in json_value(), pretty in any::<bool>()) {
        // A body is an object: the value is one of its fields.
        let value = serde_json::json!({ "v": value });
        let text = if pretty {
            serde_json::to_string_pretty(&value).unwrap()
        } else {
            serde_json::to_string(&value).unwrap()
        };
        let parsed = parse_json::<Value>(format!(" \n{text}\t\r\n ").as_bytes());
        if holds_nul(&value) {
            prop_assert!(parsed.is_err());
        } else {
            prop_assert_eq!(parsed.unwrap(), value);
        }
    }

    #[test]
    fn anything_after_the_value_but_whitespace_is_refused(
        value in json_value(),
        trailer in "[ \t\r\n]{0,2}[^ \t\r\n]{1,4}",
    ) {
        prop_assume!(!holds_nul(&value));
        let body = serde_json::json!({ "v": value });
        let text = format!("{}{trailer}", serde_json::to_string(&body).unwrap());
        let parsed = parse_json::<Value>(text.as_bytes());
        prop_assert_eq!(field(parsed.unwrap_err()), "body", "{:?}", text);
    }
}
