//! Small helpers over `ciborium::Value` for the RPC v2 CBOR protocol.

use ciborium::Value as C;
use serde_json::{Map, Value};

use crate::ids;

pub type CMap = Vec<(C, C)>;

pub fn text(s: impl Into<String>) -> C {
    C::Text(s.into())
}

/// Smithy timestamps: tag 1 (epoch seconds) around a float with millisecond precision.
pub fn timestamp(millis: u64) -> C {
    C::Tag(1, Box::new(C::Float(millis as f64 / 1000.0)))
}

pub fn map(pairs: Vec<(&str, C)>) -> C {
    C::Map(pairs.into_iter().map(|(k, v)| (text(k), v)).collect())
}

pub fn get<'a>(m: &'a CMap, key: &str) -> Option<&'a C> {
    m.iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

pub fn get_str<'a>(m: &'a CMap, key: &str) -> Option<&'a str> {
    get(m, key).and_then(C::as_text)
}

pub fn get_int(m: &CMap, key: &str) -> Option<i64> {
    get(m, key)
        .and_then(C::as_integer)
        .and_then(|i| i64::try_from(i128::from(i)).ok())
}

pub fn get_str_list(m: &CMap, key: &str) -> Option<Vec<String>> {
    get(m, key)?
        .as_array()?
        .iter()
        .map(|v| v.as_text().map(str::to_string))
        .collect()
}

/// `[{Key, Value}]` tag lists.
pub fn get_tags(m: &CMap, key: &str) -> Vec<(String, String)> {
    get(m, key)
        .and_then(C::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|t| {
                    let t = t.as_map()?;
                    Some((
                        get_str(t, "Key")?.to_string(),
                        get_str(t, "Value").unwrap_or_default().to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn tag_list(tags: &[(String, String)]) -> C {
    C::Array(
        tags.iter()
            .map(|(k, v)| map(vec![("Key", text(k.clone())), ("Value", text(v.clone()))]))
            .collect(),
    )
}

pub fn encode(v: &C) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail for a well-formed Value.
    let _ = ciborium::into_writer(v, &mut out);
    out
}

/// JSON view for the call log and state dump (timestamps become RFC 3339 strings).
pub fn to_json(v: &C) -> Value {
    json_view(v, false)
}

/// JSON as the awsJson1_0 protocol writes it (timestamps as epoch seconds).
pub fn to_json_epoch(v: &C) -> Value {
    json_view(v, true)
}

fn json_view(v: &C, epoch: bool) -> Value {
    let to_json = |v: &C| json_view(v, epoch);
    match v {
        C::Integer(i) => {
            let n = i128::from(*i);
            i64::try_from(n)
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(n as f64))
        }
        C::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        C::Text(s) => Value::String(s.clone()),
        C::Bool(b) => Value::Bool(*b),
        C::Null => Value::Null,
        C::Bytes(b) => Value::Array(b.iter().map(|x| Value::from(*x)).collect()),
        C::Tag(1, inner) if epoch => to_json(inner),
        C::Tag(1, inner) => {
            let secs = match inner.as_ref() {
                C::Float(f) => *f,
                C::Integer(i) => i128::from(*i) as f64,
                _ => 0.0,
            };
            Value::String(ids::rfc3339((secs * 1000.0).round().max(0.0) as u64))
        }
        C::Tag(_, inner) => to_json(inner),
        C::Array(a) => Value::Array(a.iter().map(&to_json).collect()),
        C::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.as_text()
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("{k:?}")),
                        to_json(v),
                    )
                })
                .collect::<Map<_, _>>(),
        ),
        _ => Value::Null,
    }
}
