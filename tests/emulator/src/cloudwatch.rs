//! CloudWatch dashboards and metric alarms over Smithy RPC v2 CBOR
//! (`POST /service/GraniteServiceVersion20100801/operation/<Op>`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ciborium::Value as C;
use serde_json::{json, Value};

use crate::cbor::{self, get, get_int, get_str, get_str_list, map, text, CMap};
use crate::state::Emu;
use crate::{cwproto, ids, smithy, validate};

pub struct Dashboard {
    pub body: String,
    pub modified: u64,
    pub tags: Vec<(String, String)>,
}

pub struct Alarm {
    pub region: String,
    /// The PutMetricAlarm input (minus Tags), echoed back as given so CBOR types survive.
    pub config: CMap,
    pub tags: Vec<(String, String)>,
    pub state_value: String,
    pub state_reason: String,
    pub state_updated: u64,
    pub config_updated: u64,
}

#[derive(Default)]
pub struct Store {
    /// Dashboards are global (their ARN has no region).
    pub dashboards: BTreeMap<String, Dashboard>,
    /// Keyed by (region, name); BTreeMap keeps AWS's alphabetical listing order.
    pub alarms: BTreeMap<(String, String), Alarm>,
}

/// A CloudWatch error: an error shape of the model (`__type` is its shape id, the
/// `awsQueryError` code is what the SDKs and the CLI match on), or a raw code for the few errors
/// the model does not name (throttling, unknown operations, undecodable bodies).
#[derive(Debug)]
pub struct CwError {
    pub status: u16,
    pub code: String,
    pub type_id: String,
    message_key: &'static str,
    pub message: String,
    extra: Vec<(&'static str, C)>,
}

impl CwError {
    fn raw(status: u16, code: &str, message: impl Into<String>) -> Self {
        CwError {
            status,
            code: code.into(),
            type_id: format!("{}#{code}", smithy::cloudwatch().namespace),
            message_key: "message",
            message: message.into(),
            extra: Vec::new(),
        }
    }

    /// The model's error shape `name` (short name), with its status, query code and message
    /// member (`Message` or `message`, as the shape spells it).
    pub fn shape(name: &str, message: impl Into<String>) -> Self {
        match smithy::cloudwatch().named(name) {
            Some(s) => Self::from_shape(s, message.into()),
            None => Self::raw(400, name, message),
        }
    }

    fn from_shape(s: &smithy::Shape, message: String) -> Self {
        let t = &s.traits;
        let server = t.get("smithy.api#error").and_then(Value::as_str) == Some("server");
        let status = t
            .get("smithy.api#httpError")
            .and_then(Value::as_u64)
            .map(|n| n as u16)
            .unwrap_or(if server { 500 } else { 400 });
        let code = t
            .get("aws.protocols#awsQueryError")
            .and_then(|q| q.get("code"))
            .and_then(Value::as_str)
            .unwrap_or(s.name());
        CwError {
            status,
            code: code.to_string(),
            type_id: s.id.clone(),
            message_key: if s.member("Message").is_some() {
                "Message"
            } else {
                "message"
            },
            message,
            extra: Vec::new(),
        }
    }

    /// An injected error: a model shape by name or by query code, else the raw code.
    fn injected(error: &str, status: u16, message: String) -> Self {
        let m = smithy::cloudwatch();
        let name = match error {
            "ThrottlingException" => "Throttling",
            "InternalServerException" => "InternalServiceFault",
            other => other,
        };
        let shape = m.named(name).or_else(|| {
            m.error_shapes().find(|s| {
                s.traits
                    .get("aws.protocols#awsQueryError")
                    .and_then(|q| q.get("code"))
                    .and_then(Value::as_str)
                    == Some(name)
            })
        });
        let mut e = match shape {
            Some(s) => Self::from_shape(s, message),
            None => Self::raw(status, name, message),
        };
        e.status = status;
        e
    }

    pub fn missing(member: &str) -> Self {
        Self::shape(
            "MissingRequiredParameterException",
            format!("The parameter {member} is required."),
        )
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::shape("InvalidParameterValueException", message)
    }

    pub fn combination(message: impl Into<String>) -> Self {
        Self::shape("InvalidParameterCombinationException", message)
    }

    /// The not-found error the model names for `op` (DashboardNotFoundError, ResourceNotFound,
    /// ResourceNotFoundException...).
    fn not_found(op: &str, message: impl Into<String>) -> Self {
        let m = smithy::cloudwatch();
        let declared = m.operation(op).and_then(|o| {
            o.errors
                .iter()
                .filter_map(|id| m.shape(id))
                .find(|s| s.traits.get("smithy.api#httpError").and_then(Value::as_u64) == Some(404))
        });
        match declared {
            Some(s) => Self::from_shape(s, message.into()),
            None => Self::shape("ResourceNotFoundException", message),
        }
    }

    /// Model violations: a missing member is MissingParameter, anything else InvalidParameterValue.
    fn from_violations(v: &[smithy::Violation]) -> Self {
        match v.iter().find(|x| x.check == smithy::Check::Required) {
            Some(r) => {
                let mut e = Self::missing(&r.path);
                if v.len() > 1 {
                    e.message = format!("{} ({})", e.message, smithy::summary(v));
                }
                e
            }
            None => Self::invalid_value(smithy::summary(v)),
        }
    }

    fn dashboard_invalid(data_path: &str, message: &str) -> Self {
        let mut e = Self::shape(
            "DashboardInvalidInputError",
            format!("The field DashboardBody is invalid: {message}"),
        );
        e.extra.push((
            "dashboardValidationMessages",
            C::Array(vec![map(vec![
                ("DataPath", text(data_path)),
                ("Message", text(message)),
            ])]),
        ));
        e
    }

    fn fault(&self) -> &'static str {
        if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// The error body members (`__type` first), as CBOR.
    fn body(&self) -> C {
        let mut pairs = vec![
            ("__type", text(self.type_id.clone())),
            (self.message_key, text(self.message.clone())),
        ];
        pairs.extend(self.extra.iter().cloned());
        map(pairs)
    }

    fn into_response(self, proto: Protocol) -> Response {
        let mut resp = match proto {
            Protocol::Cbor => cbor_response(self.status, Some(self.body())),
            Protocol::Json => {
                cwproto::json_response(self.status, &cbor::to_json_epoch(&self.body()))
            }
            Protocol::Query => {
                cwproto::xml_error(self.status, self.fault(), &self.code, &self.message)
            }
        };
        // awsQueryCompatible: the query code travels in a header for the CBOR and JSON protocols.
        if proto != Protocol::Query {
            if let Ok(v) = HeaderValue::from_str(&format!("{};{}", self.code, self.fault())) {
                resp.headers_mut().insert("x-amzn-query-error", v);
            }
        }
        resp
    }
}

/// The three wire protocols of the CloudWatch model, all served by the same handlers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `POST /service/GraniteServiceVersion20100801/operation/<Op>`, `application/cbor`.
    Cbor,
    /// `POST /`, `X-Amz-Target: GraniteServiceVersion20100801.<Op>`, `application/x-amz-json-1.0`.
    Json,
    /// `POST /`, form-encoded `Action=<Op>&Version=2010-08-01&…`, XML responses.
    Query,
}

impl Protocol {
    /// As the model's protocol traits name it (and `/_emu/calls` reports it).
    pub fn wire_name(self) -> &'static str {
        match self {
            Protocol::Cbor => "rpcv2Cbor",
            Protocol::Json => "awsJson1_0",
            Protocol::Query => "awsQuery",
        }
    }
}

type CwResult = Result<Option<C>, CwError>;

pub fn cbor_response(status: u16, body: Option<C>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match &body {
        Some(b) => (code, cbor::encode(b)).into_response(),
        None => code.into_response(),
    };
    let h = resp.headers_mut();
    h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    if body.is_some() {
        h.insert("content-type", HeaderValue::from_static("application/cbor"));
    }
    if let Ok(v) = HeaderValue::from_str(&ids::request_id()) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

/// The operation a root (`POST /`) request names: `X-Amz-Target` (JSON) or `Action` (query).
pub fn root_operation(headers: &HeaderMap, body: &Bytes) -> Option<(Protocol, String)> {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if let Some(op) = target.and_then(|t| t.strip_prefix(TARGET_PREFIX)) {
        return Some((Protocol::Json, op.to_string()));
    }
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return None;
    }
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| (Protocol::Query, v.into_owned()))
}

const TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";

/// One CloudWatch request in any protocol: decode, validate against the model, dispatch, encode.
pub fn handle(
    emu: &mut Emu,
    proto: Protocol,
    op: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let region =
        ids::region_from_authorization(headers.get("authorization").and_then(|v| v.to_str().ok()));
    let decoded: Result<CMap, CwError> = match proto {
        Protocol::Cbor => decode_cbor(body),
        Protocol::Json => cwproto::decode_json(op, body)
            .map_err(|e| CwError::raw(400, "SerializationException", e)),
        Protocol::Query => Ok(cwproto::decode_query(op, body)),
    };
    let input = decoded
        .as_ref()
        .map(|m| cbor::to_json(&C::Map(m.clone())))
        .unwrap_or(json!({}));
    let result = match emu.take_injected(op) {
        Some(i) => Err(CwError::injected(&i.error, i.status, i.message)),
        None => decoded
            .and_then(|m| validate(op, &m).map(|()| m))
            .and_then(|m| dispatch(&mut emu.cloudwatch, op, &region, &m)),
    };
    let (status, resp) = match result {
        Ok(body) => (
            200,
            match proto {
                Protocol::Cbor => cbor_response(200, body),
                Protocol::Json => cwproto::json_response(
                    200,
                    &body.map(|b| cbor::to_json_epoch(&b)).unwrap_or(json!({})),
                ),
                Protocol::Query => cwproto::xml_response(op, body.as_ref()),
            },
        ),
        Err(e) => (e.status, e.into_response(proto)),
    };
    emu.record("cloudwatch", op, status, &region, input);
    emu.annotate_last("protocol", proto.wire_name().into());
    resp
}

fn decode_cbor(body: &Bytes) -> Result<CMap, CwError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    match ciborium::from_reader::<C, _>(body.as_ref()) {
        Ok(C::Map(m)) => Ok(m),
        Ok(_) => Err(CwError::raw(
            400,
            "SerializationException",
            "Request body must be a CBOR map",
        )),
        Err(e) => Err(CwError::raw(
            400,
            "SerializationException",
            format!("Malformed CBOR: {e}"),
        )),
    }
}

/// The model's constraints on the operation's input, before any handler runs.
fn validate(op: &str, m: &CMap) -> Result<(), CwError> {
    let model = smithy::cloudwatch();
    if model.operation(op).is_none() {
        return Ok(()); // dispatch answers the unknown operation
    }
    let v = model.validate(op, &cbor::to_json_epoch(&C::Map(m.clone())));
    if v.is_empty() {
        Ok(())
    } else {
        Err(CwError::from_violations(&v))
    }
}

fn dispatch(s: &mut Store, op: &str, region: &str, m: &CMap) -> CwResult {
    match op {
        "PutDashboard" => put_dashboard(s, m),
        "GetDashboard" => get_dashboard(s, m),
        "ListDashboards" => list_dashboards(s, m),
        "DeleteDashboards" => delete_dashboards(s, m),
        "PutMetricAlarm" => put_metric_alarm(s, region, m),
        "DescribeAlarms" => describe_alarms(s, region, m),
        "DeleteAlarms" => delete_alarms(s, region, m),
        "ListTagsForResource" => list_tags(s, m),
        _ => Err(CwError::raw(
            404,
            "UnknownOperationException",
            format!("{op} is not emulated"),
        )),
    }
}

fn dashboard_arn(name: &str) -> String {
    format!("arn:aws:cloudwatch::{}:dashboard/{name}", ids::ACCOUNT)
}

fn alarm_arn(region: &str, name: &str) -> String {
    format!("arn:aws:cloudwatch:{region}:{}:alarm:{name}", ids::ACCOUNT)
}

fn required<'a>(m: &'a CMap, key: &str) -> Result<&'a str, CwError> {
    get_str(m, key).ok_or_else(|| CwError::missing(key))
}

// ---- dashboards ----

fn put_dashboard(s: &mut Store, m: &CMap) -> CwResult {
    let name = required(m, "DashboardName")?;
    if name.is_empty()
        || name.len() > 255
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(CwError::dashboard_invalid(
            "/DashboardName",
            "Dashboard name may only contain A-Z, a-z, 0-9, '-' and '_' (1-255 characters)",
        ));
    }
    let body = required(m, "DashboardBody")?;
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(o)) => {
            if !o.get("widgets").is_some_and(Value::is_array) {
                return Err(CwError::dashboard_invalid(
                    "/widgets",
                    "Should have required property 'widgets' (an array)",
                ));
            }
        }
        Ok(_) => return Err(CwError::dashboard_invalid("/", "Should be an object")),
        Err(e) => {
            return Err(CwError::dashboard_invalid(
                "/",
                &format!("Not valid JSON: {e}"),
            ))
        }
    }
    let tags = cbor::get_tags(m, "Tags");
    let keep_tags = s.dashboards.get(name).map(|d| d.tags.clone());
    s.dashboards.insert(
        name.to_string(),
        Dashboard {
            body: body.to_string(),
            modified: ids::now_millis(),
            tags: if tags.is_empty() {
                keep_tags.unwrap_or_default()
            } else {
                tags
            },
        },
    );
    Ok(Some(map(vec![(
        "DashboardValidationMessages",
        C::Array(Vec::new()),
    )])))
}

fn get_dashboard(s: &mut Store, m: &CMap) -> CwResult {
    let name = required(m, "DashboardName")?;
    let d = s.dashboards.get(name).ok_or_else(|| {
        CwError::not_found("GetDashboard", format!("Dashboard {name} does not exist"))
    })?;
    Ok(Some(map(vec![
        ("DashboardArn", text(dashboard_arn(name))),
        ("DashboardBody", text(d.body.clone())),
        ("DashboardName", text(name)),
    ])))
}

/// Token = the name to resume from (opaque to clients).
fn list_dashboards(s: &mut Store, m: &CMap) -> CwResult {
    const PAGE: usize = 1000;
    let prefix = get_str(m, "DashboardNamePrefix").unwrap_or_default();
    let start = get_str(m, "NextToken").unwrap_or_default();
    let mut names = s
        .dashboards
        .iter()
        .filter(|(n, _)| n.starts_with(prefix) && n.as_str() >= start);
    let entries: Vec<C> = names
        .by_ref()
        .take(PAGE)
        .map(|(n, d)| {
            map(vec![
                ("DashboardName", text(n.clone())),
                ("DashboardArn", text(dashboard_arn(n))),
                ("LastModified", cbor::timestamp(d.modified)),
                ("Size", C::Integer((d.body.len() as u64).into())),
            ])
        })
        .collect();
    let mut out = vec![("DashboardEntries", C::Array(entries))];
    if let Some((n, _)) = names.next() {
        out.push(("NextToken", text(n.clone())));
    }
    Ok(Some(map(out)))
}

fn delete_dashboards(s: &mut Store, m: &CMap) -> CwResult {
    let names = get_str_list(m, "DashboardNames").unwrap_or_default();
    if names.is_empty() {
        return Err(CwError::missing("DashboardNames"));
    }
    // All or nothing, as AWS does.
    if let Some(missing) = names
        .iter()
        .find(|n| !s.dashboards.contains_key(n.as_str()))
    {
        return Err(CwError::not_found(
            "DeleteDashboards",
            format!("Dashboard {missing} does not exist"),
        ));
    }
    for n in &names {
        s.dashboards.remove(n);
    }
    Ok(Some(map(Vec::new())))
}

// ---- alarms ----

/// `TreatMissingData` is a free string (1–255) in the model; these are the values AWS takes.
const MISSING_DATA: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];

/// PutMetricAlarm's rules beyond the model (whose constraints have already been checked).
fn put_metric_alarm(s: &mut Store, region: &str, m: &CMap) -> CwResult {
    let name = required(m, "AlarmName")?;
    let metrics = get(m, "Metrics").is_some();
    let criteria = get(m, "EvaluationCriteria").is_some();
    // The model makes these optional for the sake of EvaluationCriteria alarms only.
    if !criteria {
        required(m, "ComparisonOperator")?;
        get_int(m, "EvaluationPeriods").ok_or_else(|| CwError::missing("EvaluationPeriods"))?;
    }
    if let Some(t) = get_str(m, "TreatMissingData").filter(|t| !MISSING_DATA.contains(t)) {
        return Err(CwError::invalid_value(format!(
            "The value {t} for parameter TreatMissingData is not supported: use one of {}",
            MISSING_DATA.join(", ")
        )));
    }
    if let (Some(d), Some(e)) = (
        get_int(m, "DatapointsToAlarm"),
        get_int(m, "EvaluationPeriods"),
    ) {
        if d > e {
            return Err(CwError::invalid_value(format!(
                "DatapointsToAlarm ({d}) must be less than or equal to EvaluationPeriods ({e})"
            )));
        }
    }
    if let Some(p) = get_int(m, "Period") {
        if !(p == 10 || p == 30 || (p >= 60 && p % 60 == 0)) {
            return Err(CwError::invalid_value(format!(
                "The parameter Period must be 10, 30 or a multiple of 60 (got {p})"
            )));
        }
    }
    let statistic = get_str(m, "Statistic").is_some();
    let extended = get_str(m, "ExtendedStatistic").is_some();
    if statistic && extended {
        return Err(CwError::combination(
            "Statistic and ExtendedStatistic cannot be used together",
        ));
    }
    let single_metric = [
        "MetricName",
        "Namespace",
        "Statistic",
        "ExtendedStatistic",
        "Dimensions",
        "Period",
        "Unit",
    ]
    .into_iter()
    .filter(|k| get(m, k).is_some())
    .collect::<Vec<_>>();
    if metrics && !single_metric.is_empty() {
        return Err(CwError::combination(format!(
            "Metrics cannot be used together with {}",
            single_metric.join(", ")
        )));
    }
    if !metrics && !criteria {
        for k in ["MetricName", "Namespace"] {
            required(m, k)?;
        }
        if !statistic && !extended {
            return Err(CwError::missing("Statistic or ExtendedStatistic"));
        }
    }
    let tags = cbor::get_tags(m, "Tags");
    if let Some((k, _)) = tags.iter().find(|(k, _)| validate::reserved_tag_key(k)) {
        return Err(CwError::invalid_value(format!(
            "Tag key {k} uses the reserved prefix aws:"
        )));
    }
    let config: CMap = m
        .iter()
        .filter(|(k, _)| k.as_text() != Some("Tags"))
        .cloned()
        .collect();
    let now = ids::now_millis();
    let key = (region.to_string(), name.to_string());
    match s.alarms.get_mut(&key) {
        // An update keeps the alarm's state and its tags (AWS ignores Tags on update).
        Some(a) => {
            a.config = config;
            a.config_updated = now;
        }
        None => {
            s.alarms.insert(
                key,
                Alarm {
                    region: region.to_string(),
                    config,
                    tags,
                    state_value: "INSUFFICIENT_DATA".into(),
                    state_reason: "Unchecked: Initial alarm creation".into(),
                    state_updated: now,
                    config_updated: now,
                },
            );
        }
    }
    Ok(None)
}

fn render_alarm(name: &str, a: &Alarm) -> C {
    let mut pairs: CMap = a.config.clone();
    fn set(pairs: &mut CMap, k: &str, v: C) {
        pairs.retain(|(key, _)| key.as_text() != Some(k));
        pairs.push((text(k), v));
    }
    set(&mut pairs, "AlarmArn", text(alarm_arn(&a.region, name)));
    set(&mut pairs, "StateValue", text(a.state_value.clone()));
    set(&mut pairs, "StateReason", text(a.state_reason.clone()));
    set(
        &mut pairs,
        "StateUpdatedTimestamp",
        cbor::timestamp(a.state_updated),
    );
    set(
        &mut pairs,
        "StateTransitionedTimestamp",
        cbor::timestamp(a.state_updated),
    );
    set(
        &mut pairs,
        "AlarmConfigurationUpdatedTimestamp",
        cbor::timestamp(a.config_updated),
    );
    for (k, default) in [
        ("ActionsEnabled", C::Bool(true)),
        ("OKActions", C::Array(Vec::new())),
        ("AlarmActions", C::Array(Vec::new())),
        ("InsufficientDataActions", C::Array(Vec::new())),
    ] {
        if get(&pairs, k).is_none() {
            set(&mut pairs, k, default);
        }
    }
    C::Map(pairs)
}

fn describe_alarms(s: &mut Store, region: &str, m: &CMap) -> CwResult {
    let names = get_str_list(m, "AlarmNames");
    let prefix = get_str(m, "AlarmNamePrefix");
    if names.is_some() && prefix.is_some() {
        return Err(CwError::combination(
            "AlarmNames and AlarmNamePrefix cannot be used together",
        ));
    }
    let state = get_str(m, "StateValue");
    let max = get_int(m, "MaxRecords").unwrap_or(50);
    let wants_metric =
        get_str_list(m, "AlarmTypes").is_none_or(|t| t.iter().any(|x| x == "MetricAlarm"));
    let start = get_str(m, "NextToken").unwrap_or_default();
    let mut matching = s.alarms.iter().filter(|((r, n), a)| {
        r == region
            && wants_metric
            && names.as_ref().is_none_or(|ns| ns.contains(n))
            && prefix.is_none_or(|p| n.starts_with(p))
            && state.is_none_or(|st| a.state_value == st)
            && n.as_str() >= start
    });
    let alarms: Vec<C> = matching
        .by_ref()
        .take(max as usize)
        .map(|((_, n), a)| render_alarm(n, a))
        .collect();
    let mut out = vec![
        ("MetricAlarms", C::Array(alarms)),
        ("CompositeAlarms", C::Array(Vec::new())),
    ];
    if let Some(((_, n), _)) = matching.next() {
        out.push(("NextToken", text(n.clone())));
    }
    Ok(Some(map(out)))
}

fn delete_alarms(s: &mut Store, region: &str, m: &CMap) -> CwResult {
    let names = get_str_list(m, "AlarmNames").unwrap_or_default();
    if names.is_empty() {
        return Err(CwError::missing("AlarmNames"));
    }
    let key = |n: &String| (region.to_string(), n.clone());
    if let Some(missing) = names.iter().find(|n| !s.alarms.contains_key(&key(n))) {
        return Err(CwError::not_found(
            "DeleteAlarms",
            format!("Alarm {missing} does not exist"),
        ));
    }
    for n in &names {
        s.alarms.remove(&key(n));
    }
    Ok(None)
}

fn list_tags(s: &mut Store, m: &CMap) -> CwResult {
    let arn = required(m, "ResourceARN")?;
    let tags = if let Some(name) = arn.split(":dashboard/").nth(1) {
        s.dashboards.get(name).map(|d| d.tags.clone())
    } else {
        s.alarms
            .iter()
            .find(|((r, n), _)| alarm_arn(r, n) == arn)
            .map(|(_, a)| a.tags.clone())
    };
    let tags = tags.ok_or_else(|| {
        let mut e = CwError::not_found("ListTagsForResource", format!("{arn} does not exist"));
        let kind = if arn.contains(":dashboard/") {
            "dashboard"
        } else {
            "alarm"
        };
        e.extra.push(("ResourceType", text(kind)));
        e.extra.push(("ResourceId", text(arn)));
        e
    })?;
    Ok(Some(map(vec![("Tags", cbor::tag_list(&tags))])))
}

impl Store {
    pub fn dump(&self) -> Value {
        let tags = |t: &[(String, String)]| t.iter().cloned().collect::<BTreeMap<_, _>>();
        json!({
            "dashboards": self.dashboards.iter().map(|(n, d)| json!({
                "DashboardName": n,
                "DashboardArn": dashboard_arn(n),
                "DashboardBody": d.body,
                "LastModified": ids::rfc3339(d.modified),
                "tags": tags(&d.tags),
            })).collect::<Vec<_>>(),
            "alarms": self.alarms.iter().map(|((_, n), a)| {
                let mut v = cbor::to_json(&render_alarm(n, a));
                if let Value::Object(o) = &mut v {
                    o.insert("region".into(), a.region.clone().into());
                    o.insert("tags".into(), json!(tags(&a.tags)));
                }
                v
            }).collect::<Vec<_>>(),
        })
    }
}
