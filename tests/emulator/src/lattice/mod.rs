//! VPC Lattice over restJson1: routing, errors, shared store plumbing.

mod model;
mod network;
mod resources;
mod subscriptions;

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

pub use model::Store;

use crate::ids;
use crate::smithy::{Binding, Type};
use crate::state::{Emu, Injected};
use crate::validate::Fields;

/// A Lattice error: `x-amzn-ErrorType` header plus a JSON body shaped per the model.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub kind: String,
    pub body: Map<String, Value>,
    pub retry_after: Option<u32>,
}

impl ApiError {
    fn new(status: u16, kind: &str, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("message".into(), message.into().into());
        ApiError {
            status,
            kind: kind.into(),
            body,
            retry_after: None,
        }
    }

    pub fn not_found(resource_type: &str, id: &str) -> Self {
        let mut e = Self::new(
            404,
            "ResourceNotFoundException",
            format!("{resource_type} {id} not found"),
        );
        e.body.insert("resourceId".into(), id.into());
        e.body.insert("resourceType".into(), resource_type.into());
        e
    }

    pub fn conflict(resource_type: &str, id: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(409, "ConflictException", message);
        e.body.insert("resourceId".into(), id.into());
        e.body.insert("resourceType".into(), resource_type.into());
        e
    }

    pub fn validation(fields: Fields) -> Self {
        let list: Vec<Value> = fields
            .0
            .iter()
            .map(|(n, m)| json!({"name": n, "message": m}))
            .collect();
        let summary = fields
            .0
            .iter()
            .map(|(n, m)| format!("{n}: {m}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut e = Self::new(
            400,
            "ValidationException",
            format!("Invalid request: {summary}"),
        );
        e.body
            .insert("reason".into(), "fieldValidationFailed".into());
        e.body.insert("fieldList".into(), list.into());
        e
    }

    /// The model's constraint violations (see `crate::smithy`), one `fieldList` entry each.
    pub fn model_validation(violations: &[crate::smithy::Violation]) -> Self {
        let mut f = Fields::default();
        for v in violations {
            f.add(&v.path, v.message.clone());
        }
        let mut e = Self::validation(f);
        e.body
            .insert("message".into(), crate::smithy::summary(violations).into());
        e
    }

    pub fn field(name: &str, message: impl Into<String>) -> Self {
        let mut f = Fields::default();
        f.add(name, message);
        Self::validation(f)
    }

    fn with_reason(status: u16, reason: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(status, "ValidationException", message);
        e.body.insert("reason".into(), reason.into());
        e
    }

    pub fn unknown_operation(status: u16, message: impl Into<String>) -> Self {
        Self::with_reason(status, "unknownOperation", message)
    }

    fn injected(i: &Injected) -> Self {
        let mut e = Self::new(i.status, &i.error, i.message.clone());
        match i.error.as_str() {
            "ThrottlingException" => {
                e.body.insert("serviceCode".into(), "vpc-lattice".into());
                e.retry_after = Some(1);
            }
            "InternalServerException" => e.retry_after = Some(1),
            "ConflictException" | "ResourceNotFoundException" => {
                e.body.insert("resourceId".into(), "injected".into());
                e.body.insert("resourceType".into(), "INJECTED".into());
            }
            "ValidationException" => {
                e.body.insert("reason".into(), "other".into());
            }
            _ => {}
        }
        e
    }

    fn into_response(self) -> Response {
        let mut body = self.body;
        body.insert("__type".into(), self.kind.clone().into());
        let mut resp = json_response(self.status, Some(Value::Object(body)));
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.kind) {
            h.insert("x-amzn-ErrorType", v);
        }
        if let Some(secs) = self.retry_after {
            h.insert("Retry-After", HeaderValue::from(secs));
        }
        resp
    }
}

pub type OpResult = Result<(u16, Option<Value>), ApiError>;

/// A parsed restJson1 request.
pub struct Req {
    pub region: String,
    /// The path label (already percent-decoded), e.g. the resource identifier.
    pub label: Option<String>,
    pub query: Vec<(String, String)>,
    pub body: Map<String, Value>,
}

impl Req {
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn q_all(&self, key: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or_default()
    }
}

/// The resource kinds, for shared lookups and error resource types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sn,
    Snva,
    Rgw,
    Rcfg,
    Snra,
    Als,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Sn => "sn",
            Kind::Snva => "snva",
            Kind::Rgw => "rgw",
            Kind::Rcfg => "rcfg",
            Kind::Snra => "snra",
            Kind::Als => "als",
        }
    }

    pub fn resource_type(self) -> &'static str {
        match self {
            Kind::Sn => "SERVICE_NETWORK",
            Kind::Snva => "SERVICE_NETWORK_VPC_ASSOCIATION",
            Kind::Rgw => "RESOURCE_GATEWAY",
            Kind::Rcfg => "RESOURCE_CONFIGURATION",
            Kind::Snra => "SERVICE_NETWORK_RESOURCE_ASSOCIATION",
            Kind::Als => "ACCESS_LOG_SUBSCRIPTION",
        }
    }

    /// The model's path-label / identifier member name.
    pub fn identifier_field(self) -> &'static str {
        match self {
            Kind::Sn => "serviceNetworkIdentifier",
            Kind::Snva => "serviceNetworkVpcAssociationIdentifier",
            Kind::Rgw => "resourceGatewayIdentifier",
            Kind::Rcfg => "resourceConfigurationIdentifier",
            Kind::Snra => "serviceNetworkResourceAssociationIdentifier",
            Kind::Als => "accessLogSubscriptionIdentifier",
        }
    }
}

/// (operation, kind of the path label if any).
fn route(method: &Method, segments: &[String]) -> Result<(&'static str, Option<Kind>), ApiError> {
    let collection = segments.first().map(String::as_str).unwrap_or_default();
    let has_label = segments.len() > 1;
    let m = method.as_str();
    let (ops, kind): ([Option<&'static str>; 5], Option<Kind>) = match collection {
        // [POST collection, GET collection, GET item, PATCH item, DELETE item]
        "servicenetworks" => (
            [
                Some("CreateServiceNetwork"),
                Some("ListServiceNetworks"),
                Some("GetServiceNetwork"),
                Some("UpdateServiceNetwork"),
                Some("DeleteServiceNetwork"),
            ],
            Some(Kind::Sn),
        ),
        "servicenetworkvpcassociations" => (
            [
                Some("CreateServiceNetworkVpcAssociation"),
                Some("ListServiceNetworkVpcAssociations"),
                Some("GetServiceNetworkVpcAssociation"),
                Some("UpdateServiceNetworkVpcAssociation"),
                Some("DeleteServiceNetworkVpcAssociation"),
            ],
            Some(Kind::Snva),
        ),
        "resourcegateways" => (
            [
                Some("CreateResourceGateway"),
                Some("ListResourceGateways"),
                Some("GetResourceGateway"),
                Some("UpdateResourceGateway"),
                Some("DeleteResourceGateway"),
            ],
            Some(Kind::Rgw),
        ),
        "resourceconfigurations" => (
            [
                Some("CreateResourceConfiguration"),
                Some("ListResourceConfigurations"),
                Some("GetResourceConfiguration"),
                Some("UpdateResourceConfiguration"),
                Some("DeleteResourceConfiguration"),
            ],
            Some(Kind::Rcfg),
        ),
        "servicenetworkresourceassociations" => (
            [
                Some("CreateServiceNetworkResourceAssociation"),
                Some("ListServiceNetworkResourceAssociations"),
                Some("GetServiceNetworkResourceAssociation"),
                None,
                Some("DeleteServiceNetworkResourceAssociation"),
            ],
            Some(Kind::Snra),
        ),
        "accesslogsubscriptions" => (
            [
                Some("CreateAccessLogSubscription"),
                Some("ListAccessLogSubscriptions"),
                Some("GetAccessLogSubscription"),
                Some("UpdateAccessLogSubscription"),
                Some("DeleteAccessLogSubscription"),
            ],
            Some(Kind::Als),
        ),
        "tags" if has_label => {
            return match m {
                "POST" => Ok(("TagResource", None)),
                "DELETE" => Ok(("UntagResource", None)),
                "GET" => Ok(("ListTagsForResource", None)),
                _ => Err(ApiError::unknown_operation(
                    400,
                    format!("No operation for {m} /tags/{{resourceArn}}"),
                )),
            };
        }
        _ => {
            return Err(ApiError::unknown_operation(
                404,
                format!(
                    "Unknown or not emulated operation: {m} /{}",
                    segments.join("/")
                ),
            ))
        }
    };
    let op = match (m, has_label) {
        ("POST", false) => ops[0],
        ("GET", false) => ops[1],
        ("GET", true) => ops[2],
        ("PATCH", true) => ops[3],
        ("DELETE", true) => ops[4],
        _ => None,
    };
    op.map(|op| (op, kind)).ok_or_else(|| {
        ApiError::unknown_operation(400, format!("No operation for {m} /{}", segments.join("/")))
    })
}

fn dispatch(emu: &mut Emu, op: &str, req: &Req) -> OpResult {
    let polls = emu.polls_to_active;
    let s = &mut emu.lattice;
    match op {
        "CreateServiceNetwork" => network::create_sn(s, req),
        "GetServiceNetwork" => network::get_sn(s, req),
        "ListServiceNetworks" => network::list_sn(s, req),
        "UpdateServiceNetwork" => network::update_sn(s, req),
        "DeleteServiceNetwork" => network::delete_sn(s, req),
        "CreateServiceNetworkVpcAssociation" => network::create_snva(s, req, polls),
        "GetServiceNetworkVpcAssociation" => network::get_snva(s, req),
        "ListServiceNetworkVpcAssociations" => network::list_snva(s, req),
        "UpdateServiceNetworkVpcAssociation" => network::update_snva(s, req, polls),
        "DeleteServiceNetworkVpcAssociation" => network::delete_snva(s, req, polls),
        "CreateServiceNetworkResourceAssociation" => network::create_snra(s, req, polls),
        "GetServiceNetworkResourceAssociation" => network::get_snra(s, req),
        "ListServiceNetworkResourceAssociations" => network::list_snra(s, req),
        "DeleteServiceNetworkResourceAssociation" => network::delete_snra(s, req, polls),
        "CreateResourceGateway" => resources::create_rgw(s, req, polls),
        "GetResourceGateway" => resources::get_rgw(s, req),
        "ListResourceGateways" => resources::list_rgw(s, req),
        "UpdateResourceGateway" => resources::update_rgw(s, req, polls),
        "DeleteResourceGateway" => resources::delete_rgw(s, req, polls),
        "CreateResourceConfiguration" => resources::create_rcfg(s, req, polls),
        "GetResourceConfiguration" => resources::get_rcfg(s, req),
        "ListResourceConfigurations" => resources::list_rcfg(s, req),
        "UpdateResourceConfiguration" => resources::update_rcfg(s, req, polls),
        "DeleteResourceConfiguration" => resources::delete_rcfg(s, req, polls),
        "CreateAccessLogSubscription" => subscriptions::create_als(s, req),
        "GetAccessLogSubscription" => subscriptions::get_als(s, req),
        "ListAccessLogSubscriptions" => subscriptions::list_als(s, req),
        "UpdateAccessLogSubscription" => subscriptions::update_als(s, req),
        "DeleteAccessLogSubscription" => subscriptions::delete_als(s, req),
        "TagResource" => subscriptions::tag(s, req),
        "UntagResource" => subscriptions::untag(s, req),
        "ListTagsForResource" => subscriptions::list_tags(s, req),
        _ => Err(ApiError::unknown_operation(
            404,
            format!("{op} is not emulated"),
        )),
    }
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// The request as the SDK's input struct would see it: path label, query and body merged.
fn logged_input(label_field: Option<&str>, req: &Req) -> Value {
    let mut m = Map::new();
    if let (Some(f), Some(l)) = (label_field, &req.label) {
        m.insert(f.into(), l.clone().into());
    }
    let mut multi: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (k, v) in &req.query {
        let parsed = match k.as_str() {
            "maxResults" => v
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| v.clone().into()),
            "includeChildren" => v
                .parse::<bool>()
                .map(Value::from)
                .unwrap_or_else(|_| v.clone().into()),
            _ => v.clone().into(),
        };
        multi.entry(k.as_str()).or_default().push(parsed);
    }
    for (k, mut vs) in multi {
        let v = if k == "tagKeys" || vs.len() > 1 {
            Value::Array(vs)
        } else {
            vs.remove(0)
        };
        m.insert(k.into(), v);
    }
    for (k, v) in &req.body {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

/// The operation's input as the model sees it: path label, query parameters (converted to the
/// member's type where they parse) and body members, under the model's member names.
pub fn model_input(op: &str, req: &Req) -> Value {
    let model = crate::smithy::lattice();
    let mut m = Map::new();
    let Some(input) = model.input(op) else {
        return Value::Object(m);
    };
    for member in &input.members {
        let target = model.shape(&member.target);
        let v = match &member.binding {
            Binding::Label => req.label.clone().map(Value::String),
            Binding::Query(q) => {
                let all = req.q_all(q);
                match target.map(|t| t.ty) {
                    _ if all.is_empty() => None,
                    Some(Type::List) => {
                        Some(Value::Array(all.into_iter().map(Value::String).collect()))
                    }
                    Some(t) => Some(query_scalar(t, &all[0])),
                    None => Some(Value::String(all[0].clone())),
                }
            }
            Binding::Body => req.body.get(&member.name).cloned(),
            Binding::Header(_) | Binding::Payload => None,
        };
        if let Some(v) = v {
            m.insert(member.name.clone(), v);
        }
    }
    Value::Object(m)
}

/// A query-string value as the member's type (left a string when it does not parse, so the
/// validator reports the type).
fn query_scalar(t: Type, v: &str) -> Value {
    if t.is_integral() {
        v.parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| v.into())
    } else if t == Type::Boolean {
        v.parse::<bool>()
            .map(Value::from)
            .unwrap_or_else(|_| v.into())
    } else {
        v.into()
    }
}

/// The model's constraints, before any handler runs.
fn validate_input(op: &str, req: &Req) -> Result<(), ApiError> {
    let violations = crate::smithy::lattice().validate(op, &model_input(op, req));
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ApiError::model_validation(&violations))
    }
}

/// The operation a request is for, if it routes to one.
pub fn operation(method: &Method, uri: &axum::http::Uri) -> Option<&'static str> {
    let segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    route(method, &segments).ok().map(|(op, _)| op)
}

/// Entry point for every non-control, non-CloudWatch request.
pub fn handle(
    emu: &mut Emu,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let region =
        ids::region_from_authorization(headers.get("authorization").and_then(|v| v.to_str().ok()));
    let raw_segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let segments: Vec<String> = raw_segments.iter().map(|s| decode(s)).collect();
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    // An ARN label may arrive with unencoded '/', so everything after the collection is the label.
    let label = (segments.len() > 1).then(|| segments[1..].join("/"));

    let parsed_body: Result<Map<String, Value>, ApiError> =
        if body.iter().all(u8::is_ascii_whitespace) {
            Ok(Map::new())
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => Err(ApiError::with_reason(
                    400,
                    "cannotParse",
                    "Request body must be a JSON object",
                )),
                Err(e) => Err(ApiError::with_reason(
                    400,
                    "cannotParse",
                    format!("Malformed JSON: {e}"),
                )),
            }
        };

    let routed = route(method, &segments);
    let op = routed
        .as_ref()
        .map(|(op, _)| *op)
        .unwrap_or("UnknownOperation");
    let label_field = match &routed {
        Ok((_, Some(kind))) => Some(kind.identifier_field()),
        Ok((_, None)) => Some("resourceArn"),
        Err(_) => None,
    };
    let req = Req {
        region: region.clone(),
        label,
        query,
        body: parsed_body.as_ref().cloned().unwrap_or_default(),
    };
    let mut input = logged_input(label_field, &req);
    if routed.is_err() {
        if let Value::Object(m) = &mut input {
            m.insert("method".into(), method.as_str().into());
            m.insert("path".into(), uri.path().into());
        }
    }

    let result = match routed {
        Err(e) => Err(e),
        Ok(_) => match emu.take_injected(op) {
            Some(i) => Err(ApiError::injected(&i)),
            None => parsed_body
                .and_then(|_| validate_input(op, &req))
                .and_then(|_| dispatch(emu, op, &req)),
        },
    };
    let (status, resp) = match result {
        Ok((status, body)) => (status, json_response(status, body)),
        Err(e) => (e.status, e.into_response()),
    };
    emu.record("vpc-lattice", op, status, &region, input);
    resp
}

pub fn json_response(status: u16, body: Option<Value>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match body {
        Some(b) if status != 204 => (code, b.to_string()).into_response(),
        _ => code.into_response(),
    };
    let h = resp.headers_mut();
    if status != 204 {
        h.insert("content-type", HeaderValue::from_static("application/json"));
    }
    if let Ok(v) = HeaderValue::from_str(&ids::request_id()) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

/// Idempotency records: (region, op, clientToken) → (parameters without the token, resource id).
pub type Tokens = HashMap<(String, String, String), (Map<String, Value>, String)>;

/// `maxResults` (1–100) and `nextToken` (the creation sequence of the next item).
pub fn page_params(req: &Req) -> Result<(usize, u64), ApiError> {
    let mut f = Fields::default();
    let max = match req.q("maxResults") {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                f.add("maxResults", "Member must be between 1 and 100");
                0
            }
        },
    };
    let start = match req.q("nextToken") {
        None => 0,
        Some(t) => match t
            .strip_prefix("emu-")
            .and_then(|n| u64::from_str_radix(n, 16).ok())
        {
            Some(n) => n,
            None => {
                f.add("nextToken", "Invalid pagination token");
                0
            }
        },
    };
    if f.is_empty() {
        Ok((max, start))
    } else {
        Err(ApiError::validation(f))
    }
}

pub fn next_token(seq: u64) -> String {
    format!("emu-{seq:x}")
}

/// The path label as a bare id of `kind` (an id or ARN is accepted).
pub fn label_id(req: &Req, kind: Kind) -> Result<String, ApiError> {
    let mut f = Fields::default();
    let id =
        crate::validate::identifier(&mut f, kind.identifier_field(), req.label(), kind.prefix());
    id.ok_or_else(|| ApiError::validation(f))
}

pub fn check(f: Fields) -> Result<(), ApiError> {
    if f.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(f))
    }
}

/// Updates and deletes are refused while a change is still in progress.
pub fn not_busy(
    kind: Kind,
    id: &str,
    life: &crate::life::Life,
    action: &str,
) -> Result<(), ApiError> {
    if life.in_progress() {
        return Err(ApiError::conflict(
            kind.resource_type(),
            id,
            format!("Cannot {action} {id} while its status is {}", life.status),
        ));
    }
    Ok(())
}

pub fn list_body(items: Vec<Value>, next: Option<String>) -> Option<Value> {
    let mut m = Map::new();
    m.insert("items".into(), items.into());
    if let Some(t) = next {
        m.insert("nextToken".into(), t.into());
    }
    Some(Value::Object(m))
}
