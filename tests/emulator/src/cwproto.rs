//! CloudWatch's other two protocols, awsJson1_0 and awsQuery, translated to and from the CBOR
//! values the handlers work on (so all three share one implementation). The model gives each
//! member its type: query strings and JSON numbers become integers, doubles or timestamps as the
//! input shape says.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ciborium::Value as C;
use serde_json::{Map, Value};

use crate::cbor::CMap;
use crate::ids;
use crate::smithy::{self, Model, Shape, Type};

/// An awsJson1_0 request body as the operation's input.
pub fn decode_json(op: &str, body: &Bytes) -> Result<CMap, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("Malformed JSON: {e}"))?;
    if !v.is_object() {
        return Err("Request body must be a JSON object".into());
    }
    let model = smithy::cloudwatch();
    match to_cbor(model, model.input(op), &v) {
        C::Map(m) => Ok(m),
        _ => Ok(Vec::new()),
    }
}

/// An awsQuery form body (`Action`, `Version` and the flattened members: `AlarmNames.member.1`,
/// `Dimensions.member.1.Name`, `X.entry.1.key`) as the operation's input.
pub fn decode_query(op: &str, body: &Bytes) -> CMap {
    let params: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let model = smithy::cloudwatch();
    let Some(input) = model.input(op) else {
        return Vec::new();
    };
    let v = query_value(model, input, "", &params).unwrap_or(Value::Object(Map::new()));
    match to_cbor(model, Some(input), &v) {
        C::Map(m) => m,
        _ => Vec::new(),
    }
}

fn present(params: &HashMap<String, String>, key: &str) -> bool {
    let dotted = format!("{key}.");
    params
        .keys()
        .any(|k| k == key || k.starts_with(dotted.as_str()))
}

fn query_value(
    model: &Model,
    shape: &Shape,
    key: &str,
    params: &HashMap<String, String>,
) -> Option<Value> {
    let join = |k: &str| {
        if key.is_empty() {
            k.to_string()
        } else {
            format!("{key}.{k}")
        }
    };
    match shape.ty {
        Type::Structure | Type::Union => {
            let mut o = Map::new();
            for m in &shape.members {
                let wire = m
                    .traits
                    .get("smithy.api#xmlName")
                    .and_then(Value::as_str)
                    .unwrap_or(&m.name);
                let Some(target) = model.shape(&m.target) else {
                    continue;
                };
                if let Some(v) = query_value(model, target, &join(wire), params) {
                    o.insert(m.name.clone(), v);
                }
            }
            (key.is_empty() || !o.is_empty() || params.contains_key(key))
                .then_some(Value::Object(o))
        }
        Type::List => {
            let member = shape.member("member")?;
            let target = model.shape(&member.target)?;
            let flat = shape.traits.contains_key("smithy.api#xmlFlattened");
            let prefix = if flat {
                key.to_string()
            } else {
                join("member")
            };
            let mut items = Vec::new();
            for i in 1.. {
                let k = format!("{prefix}.{i}");
                if !present(params, &k) {
                    break;
                }
                items.push(query_value(model, target, &k, params).unwrap_or(Value::Null));
            }
            // `Key=` (present, empty) is how awsQuery sends an empty list.
            (!items.is_empty() || params.contains_key(key)).then_some(Value::Array(items))
        }
        Type::Map => {
            let kt = model.shape(&shape.member("key")?.target)?;
            let vt = model.shape(&shape.member("value")?.target)?;
            let mut o = Map::new();
            for i in 1.. {
                let e = join(&format!("entry.{i}"));
                if !present(params, &e) {
                    break;
                }
                let k = query_value(model, kt, &format!("{e}.key"), params);
                let v = query_value(model, vt, &format!("{e}.value"), params);
                if let Some(Value::String(k)) = k {
                    o.insert(k, v.unwrap_or(Value::Null));
                }
            }
            (!o.is_empty() || params.contains_key(key)).then_some(Value::Object(o))
        }
        t => {
            let raw = params.get(key)?;
            Some(if t.is_integral() {
                raw.parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| raw.clone().into())
            } else if t.is_number() {
                raw.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or_else(|| raw.clone().into())
            } else if t == Type::Boolean {
                raw.parse::<bool>()
                    .map(Value::from)
                    .unwrap_or_else(|_| raw.clone().into())
            } else {
                raw.clone().into()
            })
        }
    }
}

/// JSON to the CBOR the handlers take, typed by the model (doubles stay floats, timestamps
/// become tag 1).
fn to_cbor(model: &Model, shape: Option<&Shape>, v: &Value) -> C {
    let ty = shape.map(|s| s.ty);
    let child = |name: &str| {
        shape
            .and_then(|s| s.member(name))
            .and_then(|m| model.shape(&m.target))
    };
    match v {
        Value::Null => C::Null,
        Value::Bool(b) => C::Bool(*b),
        Value::Number(n) => match ty {
            Some(Type::Timestamp) => C::Tag(1, Box::new(C::Float(n.as_f64().unwrap_or_default()))),
            Some(Type::Float | Type::Double | Type::BigDecimal) => {
                C::Float(n.as_f64().unwrap_or_default())
            }
            _ => match n.as_i64() {
                Some(i) => C::Integer(i.into()),
                None => C::Float(n.as_f64().unwrap_or_default()),
            },
        },
        Value::String(s) => C::Text(s.clone()),
        Value::Array(items) => {
            let item = child("member");
            C::Array(items.iter().map(|i| to_cbor(model, item, i)).collect())
        }
        Value::Object(o) => {
            let map_value = (ty == Some(Type::Map)).then(|| child("value")).flatten();
            C::Map(
                o.iter()
                    .map(|(k, x)| {
                        let s = if ty == Some(Type::Map) {
                            map_value
                        } else {
                            child(k)
                        };
                        (C::Text(k.clone()), to_cbor(model, s, x))
                    })
                    .collect(),
            )
        }
    }
}

fn with_request_id(mut resp: Response, content_type: &'static str) -> Response {
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&ids::request_id()) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// An awsJson1_0 response (success or error body).
pub fn json_response(code: u16, body: &Value) -> Response {
    with_request_id(
        (status(code), body.to_string()).into_response(),
        "application/x-amz-json-1.0",
    )
}

fn namespace() -> String {
    smithy::cloudwatch()
        .service_traits
        .get("smithy.api#xmlNamespace")
        .and_then(|n| n.get("uri"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// awsQuery XML for a value: structures as elements, lists as `<member>` items, timestamps in
/// ISO 8601; null members are left out.
fn xml(v: &C, out: &mut String) {
    match v {
        C::Map(pairs) => {
            for (k, x) in pairs {
                let (Some(k), false) = (k.as_text(), x.is_null()) else {
                    continue;
                };
                out.push_str(&format!("<{k}>"));
                xml(x, out);
                out.push_str(&format!("</{k}>"));
            }
        }
        C::Array(items) => {
            for i in items {
                out.push_str("<member>");
                xml(i, out);
                out.push_str("</member>");
            }
        }
        C::Tag(1, inner) => {
            let secs = match inner.as_ref() {
                C::Float(f) => *f,
                C::Integer(i) => i128::from(*i) as f64,
                _ => 0.0,
            };
            out.push_str(&ids::rfc3339((secs * 1000.0).round().max(0.0) as u64));
        }
        C::Tag(_, inner) => xml(inner, out),
        C::Text(s) => out.push_str(&escape(s)),
        C::Integer(i) => out.push_str(&i128::from(*i).to_string()),
        C::Float(f) => out.push_str(&f.to_string()),
        C::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        _ => {}
    }
}

/// `<OpResponse xmlns=…><OpResult>…</OpResult><ResponseMetadata>…</ResponseMetadata></OpResponse>`.
pub fn xml_response(op: &str, body: Option<&C>) -> Response {
    let mut out = format!("<{op}Response xmlns=\"{}\">", namespace());
    if let Some(b) = body {
        out.push_str(&format!("<{op}Result>"));
        xml(b, &mut out);
        out.push_str(&format!("</{op}Result>"));
    }
    out.push_str(&format!(
        "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{op}Response>",
        ids::request_id()
    ));
    with_request_id((StatusCode::OK, out).into_response(), "text/xml")
}

/// awsQuery's `<ErrorResponse>`.
pub fn xml_error(code: u16, fault: &str, error: &str, message: &str) -> Response {
    let out = format!(
        "<ErrorResponse xmlns=\"{}\"><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        namespace(),
        escape(error),
        escape(message),
        ids::request_id()
    );
    with_request_id((status(code), out).into_response(), "text/xml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor;

    #[test]
    fn query_members_take_their_model_types() {
        let body = Bytes::from_static(b"Action=PutMetricAlarm&Version=2010-08-01&AlarmName=a&Threshold=80&EvaluationPeriods=3&Dimensions.member.1.Name=DBInstanceIdentifier&Dimensions.member.1.Value=orders&AlarmActions.member.1=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Aops&Tags.member.1.Key=k&Tags.member.1.Value=v&ActionsEnabled=true");
        let m = decode_query("PutMetricAlarm", &body);
        let j = cbor::to_json(&C::Map(m.clone()));
        assert_eq!(j["AlarmName"], "a");
        assert_eq!(j["EvaluationPeriods"], 3);
        assert_eq!(j["ActionsEnabled"], true);
        assert_eq!(j["Dimensions"][0]["Value"], "orders");
        assert_eq!(j["Tags"][0]["Key"], "k");
        assert!(j.get("Action").is_none());
        assert!(matches!(cbor::get(&m, "Threshold"), Some(C::Float(f)) if *f == 80.0));
        let empty = decode_query(
            "DeleteAlarms",
            &Bytes::from_static(b"Action=DeleteAlarms&AlarmNames="),
        );
        assert_eq!(
            cbor::to_json(&C::Map(empty))["AlarmNames"],
            serde_json::json!([])
        );
    }

    #[test]
    fn json_numbers_take_their_model_types() {
        let body = Bytes::from_static(br#"{"AlarmName":"a","Threshold":80,"Period":60}"#);
        let m = decode_json("PutMetricAlarm", &body).unwrap();
        assert!(matches!(cbor::get(&m, "Threshold"), Some(C::Float(_))));
        assert!(matches!(cbor::get(&m, "Period"), Some(C::Integer(_))));
    }
}
