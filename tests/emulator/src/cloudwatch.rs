//! CloudWatch dashboards and metric alarms over Smithy RPC v2 CBOR
//! (`POST /service/GraniteServiceVersion20100801/operation/<Op>`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ciborium::Value as C;
use serde_json::{json, Value};

use crate::cbor::{self, get, get_int, get_str, get_str_list, map, text, CMap};
use crate::ids;
use crate::state::Emu;

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

/// An error in CloudWatch's awsQuery-compatible form: the query code is what the SDK matches on.
pub struct CwError {
    status: u16,
    code: String,
    message: String,
    extra: Vec<(&'static str, C)>,
}

impl CwError {
    fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        CwError {
            status,
            code: code.into(),
            message: message.into(),
            extra: Vec::new(),
        }
    }

    fn invalid_value(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameterValue", message)
    }

    fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationError", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "ResourceNotFound", message)
    }

    fn dashboard_invalid(data_path: &str, message: &str) -> Self {
        let mut e = Self::new(
            400,
            "InvalidParameterInput",
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

    fn into_response(self) -> Response {
        let mut pairs = vec![(
            "__type",
            text(format!("com.amazonaws.cloudwatch#{}", self.code)),
        )];
        // InternalServiceFault's member is `Message`; every other error uses `message`.
        let key = if self.code == "InternalServiceError" {
            "Message"
        } else {
            "message"
        };
        pairs.push((key, text(self.message)));
        pairs.extend(self.extra);
        let mut resp = cbor_response(self.status, Some(map(pairs)));
        let fault = if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        };
        if let Ok(v) = HeaderValue::from_str(&format!("{};{fault}", self.code)) {
            resp.headers_mut().insert("x-amzn-query-error", v);
        }
        resp
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

pub fn handle(emu: &mut Emu, op: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    let region =
        ids::region_from_authorization(headers.get("authorization").and_then(|v| v.to_str().ok()));
    let decoded: Result<CMap, CwError> = if body.is_empty() {
        Ok(Vec::new())
    } else {
        match ciborium::from_reader::<C, _>(body.as_ref()) {
            Ok(C::Map(m)) => Ok(m),
            Ok(_) => Err(CwError::new(
                400,
                "SerializationException",
                "Request body must be a CBOR map",
            )),
            Err(e) => Err(CwError::new(
                400,
                "SerializationException",
                format!("Malformed CBOR: {e}"),
            )),
        }
    };
    let input = decoded
        .as_ref()
        .map(|m| cbor::to_json(&C::Map(m.clone())))
        .unwrap_or(json!({}));
    let result = match emu.take_injected(op) {
        Some(i) => {
            // CloudWatch's query-compatible codes for the generic injected errors.
            let code = match i.error.as_str() {
                "ThrottlingException" => "Throttling",
                "InternalServerException" => "InternalServiceError",
                other => other,
            };
            Err(CwError::new(i.status, code, i.message))
        }
        None => decoded.and_then(|m| dispatch(&mut emu.cloudwatch, op, &region, &m)),
    };
    let (status, resp) = match result {
        Ok(body) => (200, cbor_response(200, body)),
        Err(e) => (e.status, e.into_response()),
    };
    emu.record("cloudwatch", op, status, &region, input);
    resp
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
        _ => Err(CwError::new(
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
    get_str(m, key).ok_or_else(|| {
        CwError::new(
            400,
            "MissingParameter",
            format!("The parameter {key} is required."),
        )
    })
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
    let d = s
        .dashboards
        .get(name)
        .ok_or_else(|| CwError::not_found(format!("Dashboard {name} does not exist")))?;
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
        return Err(CwError::new(
            400,
            "MissingParameter",
            "The parameter DashboardNames is required.",
        ));
    }
    // All or nothing, as AWS does.
    if let Some(missing) = names
        .iter()
        .find(|n| !s.dashboards.contains_key(n.as_str()))
    {
        return Err(CwError::not_found(format!(
            "Dashboard {missing} does not exist"
        )));
    }
    for n in &names {
        s.dashboards.remove(n);
    }
    Ok(Some(map(Vec::new())))
}

// ---- alarms ----

const COMPARISON: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
const MISSING_DATA: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];

fn enum_check(m: &CMap, key: &str, allowed: &[&str]) -> Result<(), CwError> {
    match get_str(m, key) {
        Some(v) if !allowed.contains(&v) => Err(CwError::validation(format!(
            "1 validation error detected: Value '{v}' at '{key}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        ))),
        _ => Ok(()),
    }
}

fn put_metric_alarm(s: &mut Store, region: &str, m: &CMap) -> CwResult {
    let name = required(m, "AlarmName")?;
    if name.is_empty() || name.len() > 255 {
        return Err(CwError::validation(
            "AlarmName must have length between 1 and 255",
        ));
    }
    required(m, "ComparisonOperator")?;
    enum_check(m, "ComparisonOperator", COMPARISON)?;
    enum_check(m, "Statistic", STATISTICS)?;
    enum_check(m, "TreatMissingData", MISSING_DATA)?;
    match get_int(m, "EvaluationPeriods") {
        None => return Err(CwError::new(400, "MissingParameter", "The parameter EvaluationPeriods is required.")),
        Some(n) if n < 1 => {
            return Err(CwError::validation(format!(
                "1 validation error detected: Value '{n}' at 'evaluationPeriods' failed to satisfy constraint: Member must have value greater than or equal to 1"
            )))
        }
        _ => {}
    }
    if let Some(p) = get_int(m, "Period") {
        if !(p == 10 || p == 30 || (p >= 60 && p % 60 == 0)) {
            return Err(CwError::invalid_value(format!(
                "The parameter Period must be 10, 30 or a multiple of 60 (got {p})"
            )));
        }
    }
    if get(m, "Metrics").is_none()
        && (get_str(m, "MetricName").is_none() || get_str(m, "Namespace").is_none())
    {
        return Err(CwError::validation(
            "Either MetricName and Namespace or Metrics must be specified",
        ));
    }
    if get(m, "Metrics").is_none()
        && get_str(m, "Statistic").is_none()
        && get_str(m, "ExtendedStatistic").is_none()
    {
        return Err(CwError::validation(
            "Either Statistic or ExtendedStatistic must be specified",
        ));
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
                    tags: cbor::get_tags(m, "Tags"),
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
        return Err(CwError::new(
            400,
            "InvalidParameterCombination",
            "AlarmNames and AlarmNamePrefix cannot be used together",
        ));
    }
    let state = get_str(m, "StateValue");
    let max = get_int(m, "MaxRecords").unwrap_or(50);
    if !(1..=100).contains(&max) {
        return Err(CwError::validation("MaxRecords must be between 1 and 100"));
    }
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
        return Err(CwError::new(
            400,
            "MissingParameter",
            "The parameter AlarmNames is required.",
        ));
    }
    let key = |n: &String| (region.to_string(), n.clone());
    if let Some(missing) = names.iter().find(|n| !s.alarms.contains_key(&key(n))) {
        return Err(CwError::not_found(format!(
            "Alarm {missing} does not exist"
        )));
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
    let tags = tags.ok_or_else(|| CwError::not_found(format!("{arn} does not exist")))?;
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
