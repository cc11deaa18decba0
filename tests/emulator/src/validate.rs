//! Hand-written field checks (what the model cannot express) that produce Lattice `ValidationException { reason: fieldValidationFailed, fieldList }`.

use serde_json::{Map, Value};

use crate::ids;

/// Collects every failing field so one response lists them all, as AWS does.
#[derive(Default, Debug)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn add(&mut self, name: &str, message: impl Into<String>) {
        self.0.push((name.to_string(), message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Typed access to a JSON request body; type mismatches become field errors.
pub struct Body<'a> {
    pub map: &'a Map<String, Value>,
}

impl<'a> Body<'a> {
    pub fn str(&self, f: &mut Fields, key: &str) -> Option<&'a str> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                f.add(key, "Expected a string");
                None
            }
        }
    }

    pub fn required_str(&self, f: &mut Fields, key: &str) -> Option<&'a str> {
        let v = self.str(f, key);
        if v.is_none() && !self.map.contains_key(key) {
            f.add(key, "Member must not be null");
        }
        v
    }

    pub fn bool(&self, f: &mut Fields, key: &str) -> Option<bool> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                f.add(key, "Expected a boolean");
                None
            }
        }
    }

    pub fn int(&self, f: &mut Fields, key: &str) -> Option<i64> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => v.as_i64().or_else(|| {
                f.add(key, "Expected an integer");
                None
            }),
        }
    }

    pub fn str_list(&self, f: &mut Fields, key: &str) -> Option<Vec<String>> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let out: Option<Vec<String>> =
                    items.iter().map(|i| i.as_str().map(String::from)).collect();
                if out.is_none() {
                    f.add(key, "Expected a list of strings");
                }
                out
            }
            Some(_) => {
                f.add(key, "Expected a list");
                None
            }
        }
    }

    pub fn object(&self, f: &mut Fields, key: &str) -> Option<&'a Map<String, Value>> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o),
            Some(_) => {
                f.add(key, "Expected an object");
                None
            }
        }
    }

    pub fn tags(&self, f: &mut Fields) -> Option<Vec<(String, String)>> {
        let o = self.object(f, "tags")?;
        check_tags(f, o)
    }
}

/// Tag values as strings. Counts and lengths are the model's (`TagMap`: up to 200); the model
/// cannot say that keys starting `aws:` are reserved, so that rule is here.
pub fn check_tags(f: &mut Fields, o: &Map<String, Value>) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (k, v) in o {
        let Some(v) = v.as_str() else {
            f.add("tags", "Tag values must be strings");
            return None;
        };
        if reserved_tag_key(k) {
            f.add(
                "tags",
                format!("Tag key '{k}' uses the reserved prefix 'aws:'"),
            );
        }
        out.push((k.clone(), v.to_string()));
    }
    Some(out)
}

/// `aws:` (in any case) is reserved for AWS's own tags.
pub fn reserved_tag_key(k: &str) -> bool {
    k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}

/// An identifier that must be the id or ARN of the given prefix; returns the bare id.
pub fn identifier(f: &mut Fields, field: &str, v: &str, prefix: &str) -> Option<String> {
    let id = ids::parse_identifier(prefix, v);
    if id.is_none() {
        f.add(
            field,
            format!("Member must be a {prefix}- id or a VPC Lattice ARN of one"),
        );
    }
    id
}

/// For members the pinned model does not have yet (`resourceConfigDnsResolution`).
pub fn one_of(f: &mut Fields, field: &str, v: &str, allowed: &[&str]) {
    if !allowed.contains(&v) {
        f.add(
            field,
            format!(
                "Value '{v}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        );
    }
}

/// `portRanges` items (their syntax is the model's pattern): each port 1–65535, start ≤ end.
pub fn port_ranges(f: &mut Fields, ranges: &[String]) {
    for r in ranges {
        let bounds = match r.split_once('-') {
            Some((a, b)) => a.parse::<u32>().ok().zip(b.parse::<u32>().ok()),
            None => r.parse::<u32>().ok().map(|p| (p, p)),
        };
        if let Some((a, b)) = bounds {
            if a == 0 || b > 65535 || a > b {
                f.add(
                    "portRanges",
                    format!("'{r}' is not a valid port range within 1-65535"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_rules() {
        let mut f = Fields::default();
        port_ranges(
            &mut f,
            &["3306".into(), "1-65535".into(), "5432-5433".into()],
        );
        assert!(f.is_empty(), "{f:?}");
        for bad in ["0", "65536", "80-70", "1-99999"] {
            let mut f = Fields::default();
            port_ranges(&mut f, &[bad.into()]);
            assert_eq!(f.0.len(), 1, "{bad}");
        }
    }

    #[test]
    fn aws_prefix_is_reserved() {
        assert!(reserved_tag_key("aws:x"));
        assert!(reserved_tag_key("AWS:x"));
        assert!(!reserved_tag_key("awsx"));
        assert!(!reserved_tag_key("team"));
    }
}
