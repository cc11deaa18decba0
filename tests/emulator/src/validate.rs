//! Field checks that produce Lattice `ValidationException { reason: fieldValidationFailed, fieldList }`.

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

pub fn check_tags(f: &mut Fields, o: &Map<String, Value>) -> Option<Vec<(String, String)>> {
    if o.len() > 50 {
        f.add("tags", "Member must have at most 50 entries");
    }
    let mut out = Vec::new();
    for (k, v) in o {
        let Some(v) = v.as_str() else {
            f.add("tags", "Tag values must be strings");
            return None;
        };
        if k.is_empty() || k.len() > 128 || v.len() > 256 {
            f.add(
                "tags",
                "Tag keys must be 1-128 characters and values at most 256",
            );
        }
        out.push((k.clone(), v.to_string()));
    }
    Some(out)
}

/// Lattice names: lowercase alphanumerics and `-`, no leading/trailing/double `-`,
/// length bounds, and optionally a forbidden prefix (`rgw-`, `rcfg-`).
pub fn name(f: &mut Fields, field: &str, v: &str, max: usize, forbidden_prefix: Option<&str>) {
    let charset_ok = v
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let dash_ok = !v.starts_with('-') && !v.ends_with('-') && !v.contains("--");
    if v.len() < 3 || v.len() > max {
        f.add(
            field,
            format!("Member must have length between 3 and {max}"),
        );
    } else if !charset_ok || !dash_ok {
        f.add(
            field,
            "Member must satisfy regular expression pattern: (?![-])(?!.*[-]$)(?!.*[-]{2})[a-z0-9-]+",
        );
    } else if let Some(p) = forbidden_prefix.filter(|p| v.starts_with(p)) {
        f.add(field, format!("Member must not start with '{p}'"));
    }
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

/// `vpc-` / `sg-` followed by 8 or 17 lowercase alphanumerics.
pub fn ec2_id(f: &mut Fields, field: &str, v: &str, prefix: &str) {
    let ok = v
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|r| {
            (r.len() == 8 || r.len() == 17)
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if !ok {
        f.add(
            field,
            format!("Member must satisfy regular expression pattern: {prefix}-(([0-9a-z]{{8}})|([0-9a-z]{{17}}))"),
        );
    }
}

pub fn security_groups(f: &mut Fields, field: &str, sgs: &[String], min: usize) {
    if sgs.len() > 5 || sgs.len() < min {
        f.add(
            field,
            format!("Member must have length between {min} and 5"),
        );
    }
    for sg in sgs {
        ec2_id(f, field, sg, "sg");
    }
}

/// `portRanges` items: `\d{1,5}` or `\d{1,5}-\d{1,5}`, each port 1–65535, start ≤ end.
pub fn port_ranges(f: &mut Fields, ranges: &[String]) {
    if ranges.is_empty() {
        f.add("portRanges", "Member must have at least 1 item");
    }
    for r in ranges {
        let parse = |p: &str| -> Option<u32> {
            (!p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        let bounds = match r.split_once('-') {
            Some((a, b)) => parse(a).zip(parse(b)),
            None => parse(r).map(|p| (p, p)),
        };
        match bounds {
            None => f.add(
                "portRanges",
                format!("'{r}' must satisfy regular expression pattern: ((\\d{{1,5}}\\-\\d{{1,5}})|(\\d+))"),
            ),
            Some((a, b)) if a == 0 || b > 65535 || a > b => {
                f.add("portRanges", format!("'{r}' is not a valid port range within 1-65535"))
            }
            Some(_) => {}
        }
    }
}

/// Generic ARN shape `arn:<partition>:<service>:<region>:<account>:<resource>`.
pub fn arn(f: &mut Fields, field: &str, v: &str) {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    if parts.len() != 6
        || parts[0] != "arn"
        || parts[1].is_empty()
        || parts[2].is_empty()
        || parts[5].is_empty()
    {
        f.add(field, "Member must be a valid ARN");
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
        for bad in ["0", "65536", "80-70", "abc", "1-", "123456"] {
            let mut f = Fields::default();
            port_ranges(&mut f, &[bad.into()]);
            assert_eq!(f.0.len(), 1, "{bad}");
        }
    }

    #[test]
    fn name_rules() {
        for (v, ok) in [
            ("orders", true),
            ("a-b-c", true),
            ("ab", false),
            ("Bad_Name", false),
            ("-x-", false),
            ("a--b", false),
            ("rgw-x", false),
        ] {
            let mut f = Fields::default();
            name(&mut f, "name", v, 40, Some("rgw-"));
            assert_eq!(f.is_empty(), ok, "{v}");
        }
    }
}
