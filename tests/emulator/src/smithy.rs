//! The pinned Smithy models (`models/*.json`, trimmed by `models/trim.py`) and the request
//! validation derived from them: required members, `length`, `pattern`, `range`, enums, unions,
//! recursively through structures, lists and maps. Loaded once (at start-up: [`load`]).
//!
//! Smithy patterns are ECMA 262 regexes, matched anywhere in the value unless anchored. The
//! `regex` crate has no look-around, so a run of negative look-aheads right after a leading `^`
//! (`^(?!rgw-)(?![-])…`, the only form the pinned models use) becomes "must not match
//! `^(?:rgw-)`" checks beside the main pattern; `\d`/`\w` keep their ASCII meaning. A pattern
//! that still does not compile is listed in [`Model::unsupported_patterns`] and not enforced.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

static LATTICE: LazyLock<Model> = LazyLock::new(|| {
    Model::parse(include_str!("../models/vpc-lattice.json"))
        .unwrap_or_else(|e| panic!("models/vpc-lattice.json: {e}"))
});
static CLOUDWATCH: LazyLock<Model> = LazyLock::new(|| {
    Model::parse(include_str!("../models/cloudwatch.json"))
        .unwrap_or_else(|e| panic!("models/cloudwatch.json: {e}"))
});

/// The VPC Lattice model (`com.amazonaws.vpclattice`).
pub fn lattice() -> &'static Model {
    &LATTICE
}

/// The CloudWatch model (`com.amazonaws.cloudwatch`).
pub fn cloudwatch() -> &'static Model {
    &CLOUDWATCH
}

/// Parses both models now, so a broken model fails at start-up rather than on a request.
pub fn load() {
    let _ = (lattice(), cloudwatch());
}

// ---- the JSON AST, as much of it as the trimmed models keep ----

/// A JSON object read in document order (members keep their declaration order).
struct Ordered<T>(Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, T>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct RawRef {
    target: String,
    #[serde(default)]
    traits: Map<String, Value>,
}

#[derive(Deserialize)]
struct RawShape {
    #[serde(rename = "type")]
    ty: String,
    member: Option<RawRef>,
    key: Option<RawRef>,
    value: Option<RawRef>,
    #[serde(default)]
    members: Ordered<RawRef>,
    input: Option<RawRef>,
    output: Option<RawRef>,
    #[serde(default)]
    errors: Vec<RawRef>,
    #[serde(default)]
    operations: Vec<RawRef>,
    #[serde(default)]
    traits: Map<String, Value>,
}

#[derive(Deserialize)]
struct RawModel {
    #[serde(default)]
    metadata: Value,
    shapes: BTreeMap<String, RawShape>,
}

// ---- the model ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Structure,
    Union,
    List,
    Map,
    String,
    Enum,
    IntEnum,
    Boolean,
    Byte,
    Short,
    Integer,
    Long,
    Float,
    Double,
    BigInteger,
    BigDecimal,
    Timestamp,
    Blob,
    Document,
}

impl Type {
    fn parse(s: &str) -> Option<Type> {
        Some(match s {
            "structure" => Type::Structure,
            "union" => Type::Union,
            "list" | "set" => Type::List,
            "map" => Type::Map,
            "string" => Type::String,
            "enum" => Type::Enum,
            "intEnum" => Type::IntEnum,
            "boolean" => Type::Boolean,
            "byte" => Type::Byte,
            "short" => Type::Short,
            "integer" => Type::Integer,
            "long" => Type::Long,
            "float" => Type::Float,
            "double" => Type::Double,
            "bigInteger" => Type::BigInteger,
            "bigDecimal" => Type::BigDecimal,
            "timestamp" => Type::Timestamp,
            "blob" => Type::Blob,
            "document" => Type::Document,
            _ => return None,
        })
    }

    pub fn is_integral(self) -> bool {
        matches!(
            self,
            Type::Byte
                | Type::Short
                | Type::Integer
                | Type::Long
                | Type::BigInteger
                | Type::IntEnum
        )
    }

    pub fn is_number(self) -> bool {
        self.is_integral() || matches!(self, Type::Float | Type::Double | Type::BigDecimal)
    }
}

/// `length` / `range` bounds (either side optional).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bounds {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Bounds {
    fn parse(v: Option<&Value>) -> Option<Bounds> {
        let o = v?.as_object()?;
        let num = |k: &str| -> Option<f64> {
            match o.get(k)? {
                Value::Number(n) => n.as_f64(),
                // bigDecimal ranges may be written as strings.
                Value::String(s) => s.parse().ok(),
                _ => None,
            }
        };
        Some(Bounds {
            min: num("min"),
            max: num("max"),
        })
    }
}

/// A compiled `smithy.api#pattern`.
#[derive(Debug)]
pub struct Pattern {
    pub source: String,
    main: Regex,
    /// Leading negative look-aheads, as anchored regexes that must not match.
    forbidden: Vec<Regex>,
}

impl Pattern {
    pub fn compile(source: &str) -> Result<Pattern, String> {
        let (forbidden, rest) = split_lookaheads(source)?;
        let main = Regex::new(&ecma_to_rust(&rest)?).map_err(|e| e.to_string())?;
        let forbidden = forbidden
            .iter()
            .map(|f| Regex::new(&format!("^(?:{})", ecma_to_rust(f)?)).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Pattern {
            source: source.to_string(),
            main,
            forbidden,
        })
    }

    /// ECMA `RegExp.prototype.test` semantics: a match anywhere unless the pattern anchors.
    pub fn is_match(&self, s: &str) -> bool {
        self.main.is_match(s) && !self.forbidden.iter().any(|f| f.is_match(s))
    }
}

/// `^(?!a)(?!b)rest` → (["a", "b"], "^rest"). Look-arounds anywhere else are an error.
fn split_lookaheads(source: &str) -> Result<(Vec<String>, String), String> {
    let mut forbidden = Vec::new();
    let Some(mut rest) = source.strip_prefix('^') else {
        return check_no_lookaround(source).map(|()| (forbidden, source.to_string()));
    };
    while let Some(after) = rest.strip_prefix("(?!") {
        let end = group_end(after).ok_or("unbalanced look-ahead")?;
        forbidden.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    check_no_lookaround(rest)?;
    Ok((forbidden, format!("^{rest}")))
}

fn check_no_lookaround(s: &str) -> Result<(), String> {
    for la in ["(?=", "(?!", "(?<=", "(?<!"] {
        if s.contains(la) {
            return Err(format!("look-around {la}…) is not supported here"));
        }
    }
    Ok(())
}

/// Index of the `)` closing a group whose body starts at `s[0]`.
fn group_end(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_class = false;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => {
                if depth == 0 {
                    return Some(i);
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    None
}

/// ECMA (non-`u`) escapes whose Rust meaning differs: `\d`, `\w` (and negations) are ASCII in
/// ECMA, Unicode-aware in Rust; `\/` is a plain `/`.
fn ecma_to_rust(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len() + 8);
    let mut in_class = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    return Err("trailing backslash".into());
                };
                let (class_body, negated) = match e {
                    'd' => ("0-9", false),
                    'D' => ("0-9", true),
                    'w' => ("0-9A-Za-z_", false),
                    'W' => ("0-9A-Za-z_", true),
                    '/' => {
                        out.push('/');
                        continue;
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                        continue;
                    }
                };
                match (in_class, negated) {
                    (true, false) => out.push_str(class_body),
                    (true, true) => return Err(format!("\\{e} inside a character class")),
                    (false, false) => out.push_str(&format!("[{class_body}]")),
                    (false, true) => out.push_str(&format!("[^{class_body}]")),
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

#[derive(Debug, Default)]
pub struct Constraints {
    pub length: Option<Bounds>,
    pub range: Option<Bounds>,
    pub pattern: Option<Pattern>,
    /// Allowed values: strings for `enum`/`smithy.api#enum`, integers for `intEnum`.
    pub values: Option<Vec<Value>>,
}

/// Where a member travels in a restJson1 request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    Body,
    Label,
    Query(String),
    Header(String),
    Payload,
}

#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub target: String,
    pub required: bool,
    pub binding: Binding,
    /// Member-level constraints (they override the target's, trait by trait).
    pub constraints: Constraints,
    pub traits: Map<String, Value>,
}

#[derive(Debug)]
pub struct Shape {
    pub id: String,
    pub ty: Type,
    /// Structure/union members; a list's `member`; a map's `key` and `value`.
    pub members: Vec<Member>,
    pub constraints: Constraints,
    pub traits: Map<String, Value>,
}

impl Shape {
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// The short name (`ResourceNotFoundException` for `com.amazonaws.cloudwatch#ResourceNotFoundException`).
    pub fn name(&self) -> &str {
        self.id.rsplit('#').next().unwrap_or(&self.id)
    }
}

#[derive(Debug)]
pub struct Operation {
    pub name: String,
    pub input: Option<String>,
    pub output: Option<String>,
    pub errors: Vec<String>,
    /// `smithy.api#http`: (method, uri pattern, success code).
    pub http: Option<(String, String, u16)>,
    pub traits: Map<String, Value>,
}

pub struct Model {
    pub namespace: String,
    pub service_id: String,
    /// The service shape's traits (protocols, `smithy.api#xmlNamespace`...).
    pub service_traits: Map<String, Value>,
    pub source: Value,
    shapes: HashMap<String, Shape>,
    operations: BTreeMap<String, Operation>,
    unsupported: Vec<(String, String, String)>,
}

const PRELUDE: &[(&str, Type)] = &[
    ("String", Type::String),
    ("Boolean", Type::Boolean),
    ("PrimitiveBoolean", Type::Boolean),
    ("Byte", Type::Byte),
    ("PrimitiveByte", Type::Byte),
    ("Short", Type::Short),
    ("PrimitiveShort", Type::Short),
    ("Integer", Type::Integer),
    ("PrimitiveInteger", Type::Integer),
    ("Long", Type::Long),
    ("PrimitiveLong", Type::Long),
    ("Float", Type::Float),
    ("PrimitiveFloat", Type::Float),
    ("Double", Type::Double),
    ("PrimitiveDouble", Type::Double),
    ("BigInteger", Type::BigInteger),
    ("BigDecimal", Type::BigDecimal),
    ("Timestamp", Type::Timestamp),
    ("Blob", Type::Blob),
    ("Document", Type::Document),
    ("Unit", Type::Structure),
];

impl Model {
    pub fn parse(text: &str) -> Result<Model, String> {
        let raw: RawModel = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut unsupported = Vec::new();
        let mut shapes = HashMap::new();
        let mut operations = BTreeMap::new();
        let mut service = None;
        for (name, ty) in PRELUDE {
            let id = format!("smithy.api#{name}");
            shapes.insert(
                id.clone(),
                Shape {
                    id,
                    ty: *ty,
                    members: Vec::new(),
                    constraints: Constraints::default(),
                    traits: Map::new(),
                },
            );
        }
        for (id, s) in raw.shapes {
            match s.ty.as_str() {
                "service" => service = Some((id, s)),
                "operation" => {
                    let name = id.rsplit('#').next().unwrap_or(&id).to_string();
                    let http = s.traits.get("smithy.api#http").map(|h| {
                        (
                            h["method"].as_str().unwrap_or_default().to_string(),
                            h["uri"].as_str().unwrap_or_default().to_string(),
                            h["code"].as_u64().unwrap_or(200) as u16,
                        )
                    });
                    let op = Operation {
                        name: name.clone(),
                        input: s.input.map(|r| r.target),
                        output: s.output.map(|r| r.target),
                        errors: s.errors.into_iter().map(|r| r.target).collect(),
                        http,
                        traits: s.traits,
                    };
                    operations.insert(name, op);
                }
                "resource" => {}
                other => {
                    let ty = Type::parse(other)
                        .ok_or_else(|| format!("{id}: unknown shape type {other}"))?;
                    let mut c = constraints(&id, &s.traits, &mut unsupported);
                    let mut members = Vec::new();
                    for (name, r) in [("member", s.member), ("key", s.key), ("value", s.value)] {
                        if let Some(r) = r {
                            members.push(member(&id, name, r, &mut unsupported));
                        }
                    }
                    for (name, r) in s.members.0 {
                        members.push(member(&id, &name, r, &mut unsupported));
                    }
                    if ty == Type::Enum || ty == Type::IntEnum {
                        c.values = Some(
                            members
                                .iter()
                                .map(|m| {
                                    m.traits
                                        .get("smithy.api#enumValue")
                                        .cloned()
                                        .unwrap_or_else(|| Value::String(m.name.clone()))
                                })
                                .collect(),
                        );
                        members.clear();
                    }
                    shapes.insert(
                        id.clone(),
                        Shape {
                            id,
                            ty,
                            members,
                            constraints: c,
                            traits: s.traits,
                        },
                    );
                }
            }
        }
        let (service_id, service) = service.ok_or("no service shape")?;
        let namespace = service_id.split('#').next().unwrap_or_default().to_string();
        let served: Vec<String> = service
            .operations
            .iter()
            .map(|r| r.target.rsplit('#').next().unwrap_or_default().to_string())
            .collect();
        operations.retain(|name, _| served.contains(name));
        let model = Model {
            namespace,
            service_id,
            service_traits: service.traits,
            source: raw.metadata.get("source").cloned().unwrap_or(Value::Null),
            shapes,
            operations,
            unsupported,
        };
        // Every target must resolve.
        for s in model.shapes.values() {
            for m in &s.members {
                if model.shape(&m.target).is_none() {
                    return Err(format!("{}${}: unknown target {}", s.id, m.name, m.target));
                }
            }
        }
        Ok(model)
    }

    pub fn shape(&self, id: &str) -> Option<&Shape> {
        self.shapes.get(id)
    }

    /// A shape of this model's namespace by short name.
    pub fn named(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(&format!("{}#{name}", self.namespace))
    }

    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.get(name)
    }

    pub fn operations(&self) -> impl Iterator<Item = &Operation> {
        self.operations.values()
    }

    /// Every shape with the `smithy.api#error` trait.
    pub fn error_shapes(&self) -> impl Iterator<Item = &Shape> {
        self.shapes
            .values()
            .filter(|s| s.traits.contains_key("smithy.api#error"))
    }

    pub fn input(&self, op: &str) -> Option<&Shape> {
        self.shape(self.operation(op)?.input.as_deref()?)
    }

    /// (shape id, pattern, why) for every pattern that is not enforced.
    pub fn unsupported_patterns(&self) -> &[(String, String, String)] {
        &self.unsupported
    }

    /// Checks `input` (the operation's input as JSON: members by name, labels and query
    /// parameters merged in) against the operation's input shape.
    pub fn validate(&self, op: &str, input: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        if let Some(shape) = self.input(op) {
            self.check(shape, None, input, "", &mut out);
        }
        out
    }

    fn check(
        &self,
        shape: &Shape,
        member: Option<&Constraints>,
        v: &Value,
        path: &str,
        out: &mut Vec<Violation>,
    ) {
        // Member traits override the target's, trait by trait.
        let pick = |f: fn(&Constraints) -> bool| -> &Constraints {
            match member {
                Some(m) if f(m) => m,
                _ => &shape.constraints,
            }
        };
        let length = pick(|c| c.length.is_some()).length;
        let range = pick(|c| c.range.is_some()).range;
        let pattern = pick(|c| c.pattern.is_some()).pattern.as_ref();
        let values = shape.constraints.values.as_ref();
        let mut add = |check: Check, message: String| {
            out.push(Violation {
                path: path.to_string(),
                check,
                value: v.clone(),
                message,
            })
        };
        let type_error = |out_add: &mut dyn FnMut(Check, String), what: &str| {
            out_add(Check::Type, format!("Member must be {what}"));
        };
        match shape.ty {
            Type::String | Type::Enum => {
                let Some(s) = v.as_str() else {
                    return type_error(&mut add, "a string");
                };
                if let Some(b) = length {
                    check_len(&mut add, s.chars().count(), b);
                }
                if let Some(p) = pattern {
                    if !p.is_match(s) {
                        add(
                            Check::Pattern,
                            format!(
                                "Member must satisfy regular expression pattern: {}",
                                p.source
                            ),
                        );
                    }
                }
                if let Some(vals) = values {
                    if !vals.iter().any(|x| x.as_str() == Some(s)) {
                        add(Check::Enum, enum_message(vals));
                    }
                }
            }
            Type::Boolean if !v.is_boolean() => type_error(&mut add, "a boolean"),
            Type::Boolean => {}
            t if t.is_number() => {
                let Some(n) = v.as_f64() else {
                    return type_error(&mut add, "a number");
                };
                if t.is_integral() && n.fract() != 0.0 {
                    return type_error(&mut add, "an integer");
                }
                if let Some(b) = range {
                    if b.min.is_some_and(|min| n < min) {
                        add(
                            Check::Range,
                            format!(
                                "Member must have value greater than or equal to {}",
                                num(b.min)
                            ),
                        );
                    }
                    if b.max.is_some_and(|max| n > max) {
                        add(
                            Check::Range,
                            format!(
                                "Member must have value less than or equal to {}",
                                num(b.max)
                            ),
                        );
                    }
                }
                if let (Type::IntEnum, Some(vals)) = (t, values) {
                    if !vals.iter().any(|x| x.as_f64() == Some(n)) {
                        add(Check::Enum, enum_message(vals));
                    }
                }
            }
            Type::Timestamp if !(v.is_number() || v.is_string()) => {
                type_error(&mut add, "a timestamp")
            }
            Type::Timestamp => {}
            Type::Blob => {
                if let Some(s) = v.as_str() {
                    if let Some(b) = length {
                        check_len(&mut add, s.len(), b);
                    }
                } else {
                    type_error(&mut add, "a blob");
                }
            }
            Type::Document => {}
            Type::List => {
                let Some(items) = v.as_array() else {
                    return type_error(&mut add, "a list");
                };
                if let Some(b) = length {
                    check_len(&mut add, items.len(), b);
                }
                let Some(m) = shape.member("member") else {
                    return;
                };
                let Some(target) = self.shape(&m.target) else {
                    return;
                };
                for item in items.iter().filter(|i| !i.is_null()) {
                    self.check(target, Some(&m.constraints), item, path, out);
                }
            }
            Type::Map => {
                let Some(entries) = v.as_object() else {
                    return type_error(&mut add, "a map");
                };
                if let Some(b) = length {
                    check_len(&mut add, entries.len(), b);
                }
                let key = shape
                    .member("key")
                    .and_then(|m| Some((m, self.shape(&m.target)?)));
                let value = shape
                    .member("value")
                    .and_then(|m| Some((m, self.shape(&m.target)?)));
                for (k, val) in entries {
                    if let Some((m, t)) = key {
                        self.check(
                            t,
                            Some(&m.constraints),
                            &Value::String(k.clone()),
                            path,
                            out,
                        );
                    }
                    if let Some((m, t)) = value.filter(|_| !val.is_null()) {
                        self.check(t, Some(&m.constraints), val, path, out);
                    }
                }
            }
            Type::Structure | Type::Union => {
                let Some(obj) = v.as_object() else {
                    return type_error(&mut add, "an object");
                };
                if shape.ty == Type::Union {
                    let set: Vec<&String> = obj
                        .iter()
                        .filter(|(_, x)| !x.is_null())
                        .map(|(k, _)| k)
                        .collect();
                    let unknown: Vec<&&String> =
                        set.iter().filter(|k| shape.member(k).is_none()).collect();
                    if set.len() != 1 || !unknown.is_empty() {
                        let names: Vec<&str> =
                            shape.members.iter().map(|m| m.name.as_str()).collect();
                        add(
                            Check::Union,
                            format!(
                                "Exactly one of [{}] must be set (got {})",
                                names.join(", "),
                                set.iter()
                                    .map(|k| k.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                        return;
                    }
                }
                for m in &shape.members {
                    let child = if path.is_empty() {
                        m.name.clone()
                    } else {
                        format!("{path}.{}", m.name)
                    };
                    match obj.get(&m.name) {
                        None | Some(Value::Null) => {
                            if m.required {
                                out.push(Violation {
                                    path: child,
                                    check: Check::Required,
                                    value: Value::Null,
                                    message: "Member must not be null".into(),
                                });
                            }
                        }
                        Some(x) => {
                            if let Some(t) = self.shape(&m.target) {
                                self.check(t, Some(&m.constraints), x, &child, out);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn check_len(add: &mut dyn FnMut(Check, String), n: usize, b: Bounds) {
    let n = n as f64;
    if b.min.is_some_and(|min| n < min) {
        add(
            Check::Length,
            format!(
                "Member must have length greater than or equal to {}",
                num(b.min)
            ),
        );
    }
    if b.max.is_some_and(|max| n > max) {
        add(
            Check::Length,
            format!(
                "Member must have length less than or equal to {}",
                num(b.max)
            ),
        );
    }
}

fn num(v: Option<f64>) -> String {
    let v = v.unwrap_or_default();
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

fn enum_message(vals: &[Value]) -> String {
    let vals: Vec<String> = vals
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    format!("Member must satisfy enum value set: [{}]", vals.join(", "))
}

fn constraints(
    id: &str,
    traits: &Map<String, Value>,
    unsupported: &mut Vec<(String, String, String)>,
) -> Constraints {
    let pattern = traits
        .get("smithy.api#pattern")
        .and_then(Value::as_str)
        .and_then(|p| match Pattern::compile(p) {
            Ok(p) => Some(p),
            Err(why) => {
                unsupported.push((id.to_string(), p.to_string(), why));
                None
            }
        });
    // Smithy 1.0 style: a string with `smithy.api#enum: [{value, name}]`.
    let values = traits
        .get("smithy.api#enum")
        .and_then(Value::as_array)
        .map(|vals| {
            vals.iter()
                .filter_map(|v| v.get("value").cloned())
                .collect()
        });
    Constraints {
        length: Bounds::parse(traits.get("smithy.api#length")),
        range: Bounds::parse(traits.get("smithy.api#range")),
        pattern,
        values,
    }
}

fn member(
    parent: &str,
    name: &str,
    r: RawRef,
    unsupported: &mut Vec<(String, String, String)>,
) -> Member {
    let t = &r.traits;
    let binding = if t.contains_key("smithy.api#httpLabel") {
        Binding::Label
    } else if let Some(q) = t.get("smithy.api#httpQuery").and_then(Value::as_str) {
        Binding::Query(q.to_string())
    } else if let Some(h) = t.get("smithy.api#httpHeader").and_then(Value::as_str) {
        Binding::Header(h.to_string())
    } else if t.contains_key("smithy.api#httpPayload") {
        Binding::Payload
    } else {
        Binding::Body
    };
    Member {
        name: name.to_string(),
        target: r.target.clone(),
        required: t.contains_key("smithy.api#required"),
        binding,
        constraints: constraints(&format!("{parent}${name}"), t, unsupported),
        traits: r.traits,
    }
}

/// What a violation broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    Required,
    Type,
    Length,
    Pattern,
    Enum,
    Range,
    Union,
}

#[derive(Clone, Debug)]
pub struct Violation {
    /// Member path from the input: `name`, `resourceConfigurationDefinition.dnsResource.domainName`
    /// (list and map entries report their list's or map's path).
    pub path: String,
    pub check: Check,
    pub value: Value,
    pub message: String,
}

impl Violation {
    /// AWS's wording: `Value 'x' at 'path' failed to satisfy constraint: Member must …`.
    pub fn aws_message(&self) -> String {
        let value = match &self.value {
            Value::Null => "null".to_string(),
            Value::String(s) => format!("'{s}'"),
            Value::Array(_) | Value::Object(_) => "'…'".to_string(),
            other => format!("'{other}'"),
        };
        format!(
            "Value {value} at '{}' failed to satisfy constraint: {}",
            self.path, self.message
        )
    }
}

/// `N validation error(s) detected: …; …`, as AWS words a failed request.
pub fn summary(violations: &[Violation]) -> String {
    let n = violations.len();
    let list: Vec<String> = violations.iter().map(Violation::aws_message).collect();
    format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        list.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_load_and_every_pattern_compiles() {
        for m in [lattice(), cloudwatch()] {
            assert!(
                m.unsupported_patterns().is_empty(),
                "{:?}",
                m.unsupported_patterns()
            );
            assert!(m.operations().count() > 5);
            assert!(m.source["commit"].as_str().is_some_and(|c| c.len() == 40));
        }
    }

    #[test]
    fn lookaheads_and_ecma_classes() {
        let p = Pattern::compile("^(?!rgw-)(?![-])(?!.*[-]$)(?!.*[-]{2})[a-z0-9-]+$").unwrap();
        for ok in ["orders-gw", "a-b-c", "rg-w"] {
            assert!(p.is_match(ok), "{ok}");
        }
        for bad in ["rgw-orders", "-a", "a-", "a--b", "Bad"] {
            assert!(!p.is_match(bad), "{bad}");
        }
        let d = Pattern::compile(r"^\d{3}$").unwrap();
        assert!(d.is_match("123"));
        assert!(!d.is_match("١٢٣"), "ECMA \\d is ASCII only");
        let cls = Pattern::compile(r"^[\d\-]+$").unwrap();
        assert!(cls.is_match("1-2"));
        // Unanchored patterns match anywhere, as ECMA `test` does.
        assert!(Pattern::compile("[!-~]+").unwrap().is_match(" x "));
        assert!(Pattern::compile("^a(?=b)").is_err());
    }

    #[test]
    fn tag_maps_allow_200_entries() {
        let m = lattice();
        let tags = |n: usize| -> Value {
            Value::Object(
                (0..n)
                    .map(|i| (format!("k{i}"), Value::from("v")))
                    .collect(),
            )
        };
        let input = |n| serde_json::json!({"name": "orders-sn", "tags": tags(n)});
        assert!(m.validate("CreateServiceNetwork", &input(200)).is_empty());
        let v = m.validate("CreateServiceNetwork", &input(201));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].path, "tags");
        assert_eq!(v[0].check, Check::Length);
    }

    #[test]
    fn nested_paths_and_unions() {
        let m = lattice();
        let input = serde_json::json!({
            "name": "orders-db", "type": "SINGLE",
            "resourceConfigurationDefinition": {"dnsResource": {"domainName": "x", "ipAddressType": "IPV5"}}
        });
        let v = m.validate("CreateResourceConfiguration", &input);
        let paths: Vec<&str> = v.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "resourceConfigurationDefinition.dnsResource.domainName",
                "resourceConfigurationDefinition.dnsResource.ipAddressType"
            ]
        );
        let two = serde_json::json!({"name": "orders-db", "type": "SINGLE",
            "resourceConfigurationDefinition": {"dnsResource": {"domainName": "db.example.com"}, "ipResource": {"ipAddress": "10.0.0.1"}}});
        let v = m.validate("CreateResourceConfiguration", &two);
        assert_eq!(v[0].check, Check::Union);
    }
}
