//! One-constraint-broken requests generated from the pinned Smithy models, for every operation
//! the product calls (found by scanning `functions/` and `shared/` for SDK calls): each must be
//! refused the way AWS refuses it. Lattice: `ValidationException` (`fieldValidationFailed`)
//! naming the broken member. CloudWatch: the model's error shape (`MissingParameter` for a
//! missing member, `InvalidParameterValue` for any other constraint), over RPC v2 CBOR (what the
//! SDK speaks) and again over awsJson1_0 and awsQuery. The semantic rules the model cannot
//! express are probed from a hand-written list beside them.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use axum::body::Bytes;
use common::*;
use lattice_emulator::smithy::{self, Binding, Bounds, Model, Shape, Type};
use serde_json::{json, Map, Value};

const SN: &str = "sn-0123456789abcdefg";
const SNVA: &str = "snva-0123456789abcdefg";
const RGW: &str = "rgw-0123456789abcdefg";
const RCFG: &str = "rcfg-0123456789abcdefg";
const SNRA: &str = "snra-0123456789abcdef0";
const ALS: &str = "als-0123456789abcdefg";
const RGW_ARN: &str =
    "arn:aws:vpc-lattice:us-east-1:123456789012:resourcegateway/rgw-0123456789abcdefg";
const SUBNET: &str = "subnet-0a00000000000000a";
const LOG_GROUP: &str = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpclattice/orders";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ops";

/// A valid request (input members by name) for every Lattice operation the emulator serves.
fn lattice_baselines() -> Vec<(&'static str, Value)> {
    let tags = json!({"lattice-db-access:deployment": "orders"});
    let dns =
        json!({"dnsResource": {"domainName": "orders-db.example.com", "ipAddressType": "IPV4"}});
    vec![
        (
            "CreateServiceNetwork",
            json!({"clientToken": "token-1", "name": "orders-sn", "authType": "NONE", "tags": tags, "sharingConfig": {"enabled": false}}),
        ),
        ("GetServiceNetwork", json!({"serviceNetworkIdentifier": SN})),
        (
            "ListServiceNetworks",
            json!({"maxResults": 10, "nextToken": "emu-1"}),
        ),
        (
            "UpdateServiceNetwork",
            json!({"serviceNetworkIdentifier": SN, "authType": "AWS_IAM"}),
        ),
        (
            "DeleteServiceNetwork",
            json!({"serviceNetworkIdentifier": SN}),
        ),
        (
            "CreateServiceNetworkVpcAssociation",
            json!({"clientToken": "token-1", "serviceNetworkIdentifier": SN, "vpcIdentifier": VPC, "privateDnsEnabled": true, "securityGroupIds": [SG], "tags": tags, "dnsOptions": {"privateDnsPreference": "SPECIFIED_DOMAINS_ONLY", "privateDnsSpecifiedDomains": ["example.com"]}}),
        ),
        (
            "GetServiceNetworkVpcAssociation",
            json!({"serviceNetworkVpcAssociationIdentifier": SNVA}),
        ),
        (
            "ListServiceNetworkVpcAssociations",
            json!({"serviceNetworkIdentifier": SN, "vpcIdentifier": VPC, "maxResults": 10, "nextToken": "emu-1"}),
        ),
        (
            "UpdateServiceNetworkVpcAssociation",
            json!({"serviceNetworkVpcAssociationIdentifier": SNVA, "securityGroupIds": [SG]}),
        ),
        (
            "DeleteServiceNetworkVpcAssociation",
            json!({"serviceNetworkVpcAssociationIdentifier": SNVA}),
        ),
        (
            "CreateServiceNetworkResourceAssociation",
            json!({"clientToken": "token-1", "resourceConfigurationIdentifier": RCFG, "serviceNetworkIdentifier": SN, "privateDnsEnabled": true, "tags": tags}),
        ),
        (
            "GetServiceNetworkResourceAssociation",
            json!({"serviceNetworkResourceAssociationIdentifier": SNRA}),
        ),
        (
            "ListServiceNetworkResourceAssociations",
            json!({"serviceNetworkIdentifier": SN, "resourceConfigurationIdentifier": RCFG, "maxResults": 10, "nextToken": "emu-1", "includeChildren": true}),
        ),
        (
            "DeleteServiceNetworkResourceAssociation",
            json!({"serviceNetworkResourceAssociationIdentifier": SNRA}),
        ),
        (
            "CreateResourceGateway",
            json!({"clientToken": "token-1", "name": "orders-gw", "vpcIdentifier": VPC, "subnetIds": [SUBNET], "securityGroupIds": [SG], "ipAddressType": "IPV4", "ipv4AddressesPerEni": 16, "tags": tags}),
        ),
        (
            "GetResourceGateway",
            json!({"resourceGatewayIdentifier": RGW}),
        ),
        (
            "ListResourceGateways",
            json!({"maxResults": 10, "nextToken": "emu-1"}),
        ),
        (
            "UpdateResourceGateway",
            json!({"resourceGatewayIdentifier": RGW, "securityGroupIds": [SG]}),
        ),
        (
            "DeleteResourceGateway",
            json!({"resourceGatewayIdentifier": RGW}),
        ),
        (
            "CreateResourceConfiguration",
            json!({"clientToken": "token-1", "name": "orders-db", "type": "SINGLE", "portRanges": ["3306"], "protocol": "TCP", "resourceGatewayIdentifier": RGW, "resourceConfigurationDefinition": dns, "allowAssociationToShareableServiceNetwork": true, "customDomainName": "orders.db.internal", "tags": tags}),
        ),
        (
            "GetResourceConfiguration",
            json!({"resourceConfigurationIdentifier": RCFG}),
        ),
        (
            "ListResourceConfigurations",
            json!({"resourceGatewayIdentifier": RGW, "maxResults": 10, "nextToken": "emu-1"}),
        ),
        (
            "UpdateResourceConfiguration",
            json!({"resourceConfigurationIdentifier": RCFG, "resourceConfigurationDefinition": dns, "allowAssociationToShareableServiceNetwork": false, "portRanges": ["3306"]}),
        ),
        (
            "DeleteResourceConfiguration",
            json!({"resourceConfigurationIdentifier": RCFG}),
        ),
        (
            "CreateAccessLogSubscription",
            json!({"clientToken": "token-1", "resourceIdentifier": SN, "destinationArn": LOG_GROUP, "serviceNetworkLogType": "RESOURCE", "tags": tags}),
        ),
        (
            "GetAccessLogSubscription",
            json!({"accessLogSubscriptionIdentifier": ALS}),
        ),
        (
            "ListAccessLogSubscriptions",
            json!({"resourceIdentifier": SN, "maxResults": 10, "nextToken": "emu-1"}),
        ),
        (
            "UpdateAccessLogSubscription",
            json!({"accessLogSubscriptionIdentifier": ALS, "destinationArn": LOG_GROUP}),
        ),
        (
            "DeleteAccessLogSubscription",
            json!({"accessLogSubscriptionIdentifier": ALS}),
        ),
        ("TagResource", json!({"resourceArn": RGW_ARN, "tags": tags})),
        (
            "UntagResource",
            json!({"resourceArn": RGW_ARN, "tagKeys": ["team"]}),
        ),
        ("ListTagsForResource", json!({"resourceArn": RGW_ARN})),
    ]
}

/// A valid request for every CloudWatch operation the emulator serves (PutMetricAlarm twice:
/// a single-metric alarm and a metric-math one).
fn cloudwatch_baselines() -> Vec<(&'static str, Value)> {
    let dims = json!([{"Name": "DBInstanceIdentifier", "Value": "orders-db"}]);
    vec![
        (
            "PutMetricAlarm",
            json!({"AlarmName": "orders-cpu", "AlarmDescription": "cpu", "ActionsEnabled": true, "OKActions": [TOPIC], "AlarmActions": [TOPIC], "InsufficientDataActions": [TOPIC], "MetricName": "CPUUtilization", "Namespace": "AWS/RDS", "Statistic": "Average", "Dimensions": dims, "Period": 300, "Unit": "Percent", "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": 80.0, "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching", "Tags": [{"Key": "lattice-db-access:deployment", "Value": "orders"}]}),
        ),
        (
            "PutMetricAlarm",
            json!({"AlarmName": "orders-math", "EvaluationPeriods": 3, "Threshold": 80.0, "ComparisonOperator": "GreaterThanThreshold", "Metrics": [{"Id": "m1", "ReturnData": true, "Label": "cpu", "MetricStat": {"Metric": {"Namespace": "AWS/RDS", "MetricName": "CPUUtilization", "Dimensions": dims}, "Period": 300, "Stat": "Average", "Unit": "Percent"}}]}),
        ),
        (
            "DescribeAlarms",
            json!({"AlarmNames": ["orders-cpu"], "AlarmTypes": ["MetricAlarm"], "StateValue": "OK", "ActionPrefix": "arn:aws:sns", "MaxRecords": 10, "NextToken": "orders-cpu"}),
        ),
        (
            "DescribeAlarms",
            json!({"AlarmNamePrefix": "orders-", "ChildrenOfAlarmName": "orders-cpu"}),
        ),
        ("DeleteAlarms", json!({"AlarmNames": ["orders-cpu"]})),
        (
            "PutDashboard",
            json!({"DashboardName": "orders", "DashboardBody": "{\"widgets\":[]}"}),
        ),
        ("GetDashboard", json!({"DashboardName": "orders"})),
        (
            "ListDashboards",
            json!({"DashboardNamePrefix": "orders", "NextToken": "orders"}),
        ),
        ("DeleteDashboards", json!({"DashboardNames": ["orders"]})),
        (
            "ListTagsForResource",
            json!({"ResourceARN": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-cpu"}),
        ),
    ]
}

// ---- which operations the product calls ----

fn snake(op: &str) -> String {
    let mut out = String::new();
    for (i, c) in op.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn rust_sources(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && p.file_name().is_some_and(|n| n != "target") {
            rust_sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(std::fs::read_to_string(&p).unwrap_or_default());
        }
    }
}

/// The model operations whose SDK method (`.create_resource_gateway()`) the product calls.
fn product_calls(model: &Model) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut sources = Vec::new();
    rust_sources(&root.join("functions"), &mut sources);
    rust_sources(&root.join("shared"), &mut sources);
    let text = sources.join("\n");
    model
        .operations()
        .filter(|o| text.contains(&format!(".{}()", snake(&o.name))))
        .map(|o| o.name.clone())
        .collect()
}

// ---- probe generation ----

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

struct Probe {
    op: String,
    what: String,
    /// The member path the rejection must name.
    path: String,
    input: Value,
    /// A missing required member (CloudWatch: MissingParameter).
    missing: bool,
    /// For hand-written semantic probes: the CloudWatch error shape expected.
    cw_shape: Option<&'static str>,
}

fn set_at(root: &mut Value, ptr: &[Seg], v: Option<Value>) {
    let (last, parents) = ptr.split_last().expect("non-empty pointer");
    let mut cur = root;
    for s in parents {
        cur = match s {
            Seg::Key(k) => cur.get_mut(k.as_str()).expect("pointer into baseline"),
            Seg::Index(i) => cur.get_mut(*i).expect("pointer into baseline"),
        };
    }
    match (last, v) {
        (Seg::Key(k), Some(v)) => {
            cur.as_object_mut().expect("object").insert(k.clone(), v);
        }
        (Seg::Key(k), None) => {
            cur.as_object_mut().expect("object").remove(k);
        }
        (Seg::Index(i), Some(v)) => cur[*i] = v,
        (Seg::Index(i), None) => {
            cur.as_array_mut().expect("array").remove(*i);
        }
    }
}

/// A member's effective constraints: length, range, pattern, enum values.
type Effective<'a> = (
    Option<Bounds>,
    Option<Bounds>,
    Option<&'a smithy::Pattern>,
    Option<&'a Vec<Value>>,
);

/// Member constraints override the target's, trait by trait (as the validator does).
fn effective<'a>(member: Option<&'a smithy::Constraints>, target: &'a Shape) -> Effective<'a> {
    let m = |f: fn(&smithy::Constraints) -> bool| match member {
        Some(c) if f(c) => c,
        _ => &target.constraints,
    };
    (
        m(|c| c.length.is_some()).length,
        m(|c| c.range.is_some()).range,
        m(|c| c.pattern.is_some()).pattern.as_ref(),
        target.constraints.values.as_ref(),
    )
}

fn repeat_to(seed: &str, n: usize) -> String {
    seed.chars().cycle().take(n).collect()
}

struct Gen<'a> {
    model: &'a Model,
    op: String,
    base: Value,
    out: Vec<Probe>,
}

impl Gen<'_> {
    fn push(&mut self, what: String, path: &str, ptr: &[Seg], v: Option<Value>, missing: bool) {
        let mut input = self.base.clone();
        set_at(&mut input, ptr, v);
        self.out.push(Probe {
            op: self.op.clone(),
            what,
            path: path.to_string(),
            input,
            missing,
            cw_shape: None,
        });
    }

    /// Violations of a string's or number's own constraints, placed at `ptr`.
    fn scalar(
        &mut self,
        target: &Shape,
        member: Option<&smithy::Constraints>,
        ptr: &[Seg],
        path: &str,
        label: bool,
    ) {
        let (length, range, pattern, values) = effective(member, target);
        match target.ty {
            Type::String | Type::Enum => {
                let (min, max) = length
                    .map(|b| (b.min.unwrap_or(0.0) as usize, b.max.map(|m| m as usize)))
                    .unwrap_or((0, None));
                if min > 0 && !(label && min == 1) {
                    let v = repeat_to("a", min - 1);
                    self.push(
                        format!("{path}: length {} < {min}", min - 1),
                        path,
                        ptr,
                        Some(v.into()),
                        false,
                    );
                }
                if let Some(max) = max {
                    let v = repeat_to("a", max + 1);
                    self.push(
                        format!("{path}: length {} > {max}", max + 1),
                        path,
                        ptr,
                        Some(v.into()),
                        false,
                    );
                }
                if let Some(p) = pattern {
                    let fit = |s: &str| {
                        let n = s.chars().count().max(min).min(max.unwrap_or(usize::MAX));
                        repeat_to(s, n)
                    };
                    let bad = ["!", "INVALID VALUE", "a b", "0", "-", "x", " ", ":", "é"]
                        .iter()
                        .map(|c| fit(c))
                        .find(|c| !p.is_match(c));
                    match bad {
                        Some(v) => self.push(
                            format!("{path}: '{v}' against pattern"),
                            path,
                            ptr,
                            Some(v.into()),
                            false,
                        ),
                        None => println!(
                            "note: no pattern probe for {} {path} ({})",
                            self.op, p.source
                        ),
                    }
                }
                if values.is_some() {
                    self.push(
                        format!("{path}: not in enum"),
                        path,
                        ptr,
                        Some("BOGUS_VALUE".into()),
                        false,
                    );
                }
            }
            t if t.is_number() => {
                if let Some(b) = range {
                    if let Some(min) = b.min {
                        self.push(
                            format!("{path}: {} < {min}", min - 1.0),
                            path,
                            ptr,
                            Some(json!(min as i64 - 1)),
                            false,
                        );
                    }
                    if let Some(max) = b.max {
                        self.push(
                            format!("{path}: {} > {max}", max + 1.0),
                            path,
                            ptr,
                            Some(json!(max as i64 + 1)),
                            false,
                        );
                    }
                }
            }
            _ => {}
        }
    }

    /// Every probe for the members of the structure (or union) at `ptr`.
    fn structure(&mut self, shape: &Shape, ptr: &[Seg], path: &str) {
        let obj = self.at(ptr).as_object().cloned().unwrap_or_default();
        if shape.ty == Type::Union {
            let set: Vec<&String> = obj.keys().collect();
            if let Some(other) = shape.members.iter().find(|m| !set.contains(&&m.name)) {
                let mut two = obj.clone();
                two.insert(other.name.clone(), json!({}));
                self.push(
                    format!("{path}: two union members"),
                    path,
                    ptr,
                    Some(Value::Object(two)),
                    false,
                );
            }
            self.push(
                format!("{path}: no union member"),
                path,
                ptr,
                Some(json!({})),
                false,
            );
        }
        for m in &shape.members {
            let Some(target) = self.model.shape(&m.target) else {
                continue;
            };
            let label = m.binding == Binding::Label;
            let mut child = ptr.to_vec();
            child.push(Seg::Key(m.name.clone()));
            let cpath = if path.is_empty() {
                m.name.clone()
            } else {
                format!("{path}.{}", m.name)
            };
            let cur = obj.get(&m.name).filter(|v| !v.is_null()).cloned();
            // A path label cannot be left out of a URI: its absence is another route.
            if m.required && cur.is_some() && !label {
                self.push(format!("{cpath}: missing"), &cpath, &child, None, true);
            }
            match target.ty {
                Type::Structure | Type::Union => {
                    if cur.is_some() {
                        self.structure(target, &child, &cpath);
                    }
                }
                Type::List => {
                    let (length, ..) = effective(Some(&m.constraints), target);
                    let items = cur.as_ref().and_then(Value::as_array).cloned();
                    if let Some(b) = length {
                        if b.min.is_some_and(|min| min >= 1.0) {
                            let n = b.min.unwrap_or(1.0) as usize - 1;
                            let v: Vec<Value> = items
                                .clone()
                                .unwrap_or_default()
                                .into_iter()
                                .cycle()
                                .take(n)
                                .collect();
                            self.push(
                                format!("{cpath}: {n} items"),
                                &cpath,
                                &child,
                                Some(v.into()),
                                false,
                            );
                        }
                        if let (Some(max), Some(first)) =
                            (b.max, items.as_ref().and_then(|i| i.first()))
                        {
                            let n = max as usize + 1;
                            self.push(
                                format!("{cpath}: {n} items"),
                                &cpath,
                                &child,
                                Some(Value::Array(vec![first.clone(); n])),
                                false,
                            );
                        }
                    }
                    let Some(item_member) = target.member("member") else {
                        continue;
                    };
                    let Some(item) = self.model.shape(&item_member.target) else {
                        continue;
                    };
                    if items.as_ref().is_some_and(|i| !i.is_empty()) {
                        let mut first = child.clone();
                        first.push(Seg::Index(0));
                        match item.ty {
                            Type::Structure | Type::Union => self.structure(item, &first, &cpath),
                            _ => self.scalar(
                                item,
                                Some(&item_member.constraints),
                                &first,
                                &cpath,
                                false,
                            ),
                        }
                    }
                }
                Type::Map => {
                    let (length, ..) = effective(Some(&m.constraints), target);
                    if let Some(max) = length.and_then(|b| b.max) {
                        let big: Map<String, Value> = (0..=max as usize)
                            .map(|i| (format!("k{i}"), json!("v")))
                            .collect();
                        self.push(
                            format!("{cpath}: {} entries", max as usize + 1),
                            &cpath,
                            &child,
                            Some(Value::Object(big)),
                            false,
                        );
                    }
                    // Keys and values: each broken in a one-entry map.
                    for (which, name) in [("key", "key"), ("value", "value")] {
                        let Some(km) = target.member(name) else {
                            continue;
                        };
                        let Some(ks) = self.model.shape(&km.target) else {
                            continue;
                        };
                        let before = self.out.len();
                        let tmp_ptr = [Seg::Key("__probe".into())];
                        let saved = std::mem::replace(&mut self.base, json!({"__probe": "ok"}));
                        self.scalar(ks, Some(&km.constraints), &tmp_ptr, &cpath, false);
                        self.base = saved;
                        let made: Vec<Probe> = self.out.drain(before..).collect();
                        for p in made {
                            let bad = p.input["__probe"].clone();
                            let entry = match which {
                                "key" => json!({ bad.as_str().unwrap_or_default(): "v" }),
                                _ => json!({ "k": bad }),
                            };
                            self.push(
                                format!("{} ({which})", p.what),
                                &cpath,
                                &child,
                                Some(entry),
                                false,
                            );
                        }
                    }
                }
                _ => {
                    // Absent optional scalars are probed too: the violation is added.
                    self.scalar(target, Some(&m.constraints), &child, &cpath, label);
                }
            }
        }
    }

    fn at(&self, ptr: &[Seg]) -> &Value {
        let mut cur = &self.base;
        for s in ptr {
            cur = match s {
                Seg::Key(k) => &cur[k.as_str()],
                Seg::Index(i) => &cur[*i],
            };
        }
        cur
    }
}

fn probes(model: &Model, op: &str, base: &Value) -> Vec<Probe> {
    let input = model.input(op).expect("input shape");
    let mut g = Gen {
        model,
        op: op.to_string(),
        base: base.clone(),
        out: Vec::new(),
    };
    g.structure(input, &[], "");
    g.out
}

// ---- sending ----

fn encode_label(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A Lattice input as the restJson1 request the SDK would send.
async fn send_lattice(e: &Emu, op: &str, input: &Value) -> Raw {
    let model = smithy::lattice();
    let o = model.operation(op).expect("operation");
    let (method, uri, _) = o.http.clone().expect("http trait");
    let shape = model.input(op).expect("input");
    let mut path = uri.clone();
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut body = Map::new();
    for (k, v) in input.as_object().expect("object") {
        let binding = shape
            .member(k)
            .map(|m| m.binding.clone())
            .unwrap_or(Binding::Body);
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match binding {
            Binding::Label => path = path.replace(&format!("{{{k}}}"), &encode_label(&text(v))),
            Binding::Query(q) => match v {
                Value::Array(items) => items.iter().for_each(|i| {
                    query.append_pair(&q, &text(i));
                }),
                other => {
                    query.append_pair(&q, &text(other));
                }
            },
            _ => {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    let q = query.finish();
    if !q.is_empty() {
        path = format!("{path}?{q}");
    }
    let body = if matches!(method.as_str(), "GET" | "DELETE") {
        Vec::new()
    } else {
        Value::Object(body).to_string().into_bytes()
    };
    e.raw_with(
        &method,
        &path,
        &[("Content-Type", "application/json")],
        body,
    )
    .await
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Proto {
    Cbor,
    Json,
    Query,
}

/// The awsQuery form of a JSON input (`A.member.1`, `A.member.1.Name`, `M.entry.1.key`).
fn query_form(
    model: &Model,
    shape: &Shape,
    v: &Value,
    prefix: &str,
    out: &mut Vec<(String, String)>,
) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match (shape.ty, v) {
        (Type::Structure | Type::Union, Value::Object(o)) => {
            for (k, x) in o {
                if let Some(t) = shape.member(k).and_then(|m| model.shape(&m.target)) {
                    query_form(model, t, x, &key(k), out);
                }
            }
        }
        (Type::List, Value::Array(items)) => {
            if items.is_empty() {
                out.push((prefix.to_string(), String::new()));
            }
            let item = shape.member("member").and_then(|m| model.shape(&m.target));
            for (i, x) in items.iter().enumerate() {
                if let Some(t) = item {
                    query_form(model, t, x, &key(&format!("member.{}", i + 1)), out);
                }
            }
        }
        (_, Value::String(s)) => out.push((prefix.to_string(), s.clone())),
        (_, Value::Null) => {}
        (_, other) => out.push((prefix.to_string(), other.to_string())),
    }
}

/// (status, `__type` or query code, message).
async fn send_cloudwatch(e: &Emu, op: &str, input: &Value, proto: Proto) -> (u16, String, String) {
    let model = smithy::cloudwatch();
    match proto {
        Proto::Cbor => {
            let m = lattice_emulator::cwproto::decode_json(op, &Bytes::from(input.to_string()))
                .expect("json");
            let body = lattice_emulator::cbor::encode(&ciborium::Value::Map(m));
            let r = e
                .raw_with(
                    "POST",
                    &format!("/service/GraniteServiceVersion20100801/operation/{op}"),
                    &[
                        ("Content-Type", "application/cbor"),
                        ("smithy-protocol", "rpc-v2-cbor"),
                    ],
                    body,
                )
                .await;
            let v: ciborium::Value =
                ciborium::from_reader(r.body.as_slice()).unwrap_or(ciborium::Value::Null);
            let j = lattice_emulator::cbor::to_json(&v);
            let msg = j
                .get("message")
                .or_else(|| j.get("Message"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (
                r.status,
                j["__type"].as_str().unwrap_or_default().to_string(),
                msg,
            )
        }
        Proto::Json => {
            let target = format!("GraniteServiceVersion20100801.{op}");
            let r = e
                .raw_with(
                    "POST",
                    "/",
                    &[
                        ("Content-Type", "application/x-amz-json-1.0"),
                        ("X-Amz-Target", &target),
                    ],
                    input.to_string().into_bytes(),
                )
                .await;
            let j = r.json();
            let msg = j
                .get("message")
                .or_else(|| j.get("Message"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (
                r.status,
                j["__type"].as_str().unwrap_or_default().to_string(),
                msg,
            )
        }
        Proto::Query => {
            let mut pairs = vec![
                ("Action".to_string(), op.to_string()),
                ("Version".to_string(), "2010-08-01".to_string()),
            ];
            query_form(
                model,
                model.input(op).expect("input"),
                input,
                "",
                &mut pairs,
            );
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            let r = e
                .raw_with(
                    "POST",
                    "/",
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    body.into_bytes(),
                )
                .await;
            let text = String::from_utf8_lossy(&r.body).to_string();
            let between = |a: &str, b: &str| {
                text.split(a)
                    .nth(1)
                    .and_then(|t| t.split(b).next())
                    .unwrap_or_default()
                    .to_string()
            };
            (
                r.status,
                between("<Code>", "</Code>"),
                between("<Message>", "</Message>"),
            )
        }
    }
}

/// The query code of a CloudWatch error shape (what the awsQuery protocol shows).
fn query_code(shape: &str) -> String {
    let s = smithy::cloudwatch().named(shape).expect("error shape");
    s.traits["aws.protocols#awsQueryError"]["code"]
        .as_str()
        .expect("code")
        .to_string()
}

// ---- semantic rules (not in the model) ----

fn lattice_semantic() -> Vec<Probe> {
    let p = |op: &str, what: &str, path: &str, input: Value| Probe {
        op: op.into(),
        what: what.into(),
        path: path.into(),
        input,
        missing: false,
        cw_shape: None,
    };
    let rcfg = |def: Value| json!({"name": "orders-db", "type": "SINGLE", "portRanges": ["3306"], "resourceGatewayIdentifier": RGW, "resourceConfigurationDefinition": def});
    vec![
        p(
            "CreateResourceGateway",
            "aws: tag key",
            "tags",
            json!({"name": "orders-gw", "vpcIdentifier": VPC, "subnetIds": [SUBNET], "tags": {"aws:team": "db"}}),
        ),
        p(
            "TagResource",
            "aws: tag key",
            "tags",
            json!({"resourceArn": RGW_ARN, "tags": {"AWS:x": "y"}}),
        ),
        p(
            "CreateServiceNetwork",
            "aws: tag key",
            "tags",
            json!({"name": "orders-sn", "tags": {"aws:cloudformation:stack-name": "x"}}),
        ),
        p(
            "CreateResourceConfiguration",
            "IPv4 literal as domainName",
            "resourceConfigurationDefinition.dnsResource.domainName",
            rcfg(json!({"dnsResource": {"domainName": "10.0.1.25", "ipAddressType": "IPV4"}})),
        ),
        p(
            "UpdateResourceConfiguration",
            "IPv6 literal as domainName",
            "resourceConfigurationDefinition.dnsResource.domainName",
            json!({"resourceConfigurationIdentifier": RCFG, "resourceConfigurationDefinition": {"dnsResource": {"domainName": "fd00::1"}}}),
        ),
        p(
            "CreateResourceConfiguration",
            "a name as ipAddress",
            "resourceConfigurationDefinition.ipResource.ipAddress",
            rcfg(json!({"ipResource": {"ipAddress": "orders-db.example.com"}})),
        ),
        p(
            "CreateResourceConfiguration",
            "port 0",
            "portRanges",
            json!({"name": "orders-db", "type": "SINGLE", "portRanges": ["0"], "resourceGatewayIdentifier": RGW, "resourceConfigurationDefinition": {"dnsResource": {"domainName": "db.example.com"}}}),
        ),
        p(
            "CreateResourceConfiguration",
            "reversed port range",
            "portRanges",
            json!({"name": "orders-db", "type": "SINGLE", "portRanges": ["80-70"], "resourceGatewayIdentifier": RGW, "resourceConfigurationDefinition": {"dnsResource": {"domainName": "db.example.com"}}}),
        ),
        p(
            "CreateResourceGateway",
            "no subnets",
            "subnetIds",
            json!({"name": "orders-gw", "vpcIdentifier": VPC}),
        ),
    ]
}

fn cloudwatch_semantic() -> Vec<Probe> {
    let base = cloudwatch_baselines()[0].1.clone();
    let with = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut v = base.clone();
        f(v.as_object_mut().unwrap());
        v
    };
    let p = |what: &str, path: &str, shape: &'static str, input: Value| Probe {
        op: "PutMetricAlarm".into(),
        what: what.into(),
        path: path.into(),
        input,
        missing: false,
        cw_shape: Some(shape),
    };
    vec![
        p(
            "DatapointsToAlarm above EvaluationPeriods",
            "DatapointsToAlarm",
            "InvalidParameterValueException",
            with(&|m| {
                m.insert("DatapointsToAlarm".into(), json!(4));
            }),
        ),
        p(
            "Statistic with ExtendedStatistic",
            "ExtendedStatistic",
            "InvalidParameterCombinationException",
            with(&|m| {
                m.insert("ExtendedStatistic".into(), json!("p99"));
            }),
        ),
        p(
            "Metrics with MetricName",
            "Metrics",
            "InvalidParameterCombinationException",
            with(&|m| {
                m.insert(
                    "Metrics".into(),
                    cloudwatch_baselines()[1].1["Metrics"].clone(),
                );
            }),
        ),
        p(
            "aws: tag key",
            "aws:",
            "InvalidParameterValueException",
            with(&|m| {
                m.insert("Tags".into(), json!([{"Key": "aws:x", "Value": "y"}]));
            }),
        ),
        p(
            "bogus TreatMissingData",
            "TreatMissingData",
            "InvalidParameterValueException",
            with(&|m| {
                m.insert("TreatMissingData".into(), json!("sometimes"));
            }),
        ),
        p(
            "Period 45",
            "Period",
            "InvalidParameterValueException",
            with(&|m| {
                m.insert("Period".into(), json!(45));
            }),
        ),
        p(
            "neither Statistic nor ExtendedStatistic",
            "Statistic",
            "MissingRequiredParameterException",
            with(&|m| {
                m.remove("Statistic");
            }),
        ),
        p(
            "no ComparisonOperator",
            "ComparisonOperator",
            "MissingRequiredParameterException",
            with(&|m| {
                m.remove("ComparisonOperator");
            }),
        ),
    ]
}

// ---- the tests ----

#[tokio::test]
async fn model_probes_are_all_rejected() {
    let e = start_with(0).await;
    let lm = smithy::lattice();
    let cm = smithy::cloudwatch();

    let lattice_ops = product_calls(lm);
    let cw_ops = product_calls(cm);
    assert!(
        lattice_ops.len() >= 20,
        "product Lattice calls found: {lattice_ops:?}"
    );
    assert!(
        cw_ops.contains("PutMetricAlarm"),
        "product CloudWatch calls found: {cw_ops:?}"
    );
    let lb = lattice_baselines();
    let cb = cloudwatch_baselines();
    for op in &lattice_ops {
        assert!(
            lb.iter().any(|(o, _)| o == op),
            "no Lattice baseline for {op}"
        );
    }
    for op in &cw_ops {
        assert!(
            cb.iter().any(|(o, _)| o == op),
            "no CloudWatch baseline for {op}"
        );
    }

    let mut failures = Vec::new();

    // Lattice.
    let mut lattice_probes = Vec::new();
    for (op, base) in lb.iter().filter(|(op, _)| lattice_ops.contains(*op)) {
        assert!(
            lm.validate(op, base).is_empty(),
            "{op} baseline: {:?}",
            lm.validate(op, base)
        );
        let r = send_lattice(&e, op, base).await;
        assert_ne!(
            r.status,
            400,
            "{op} baseline refused: {}",
            String::from_utf8_lossy(&r.body)
        );
        lattice_probes.extend(probes(lm, op, base));
    }
    let generated = lattice_probes.len();
    lattice_probes.extend(
        lattice_semantic()
            .into_iter()
            .filter(|p| lattice_ops.contains(&p.op)),
    );
    let mut lattice_rejected = 0;
    for p in &lattice_probes {
        let r = send_lattice(&e, &p.op, &p.input).await;
        let j = r.json();
        let names: Vec<&str> = j["fieldList"]
            .as_array()
            .map(|l| l.iter().filter_map(|f| f["name"].as_str()).collect())
            .unwrap_or_default();
        let ok = r.status == 400
            && r.header("x-amzn-ErrorType") == Some("ValidationException")
            && j["reason"] == "fieldValidationFailed"
            && names.contains(&p.path.as_str());
        if ok {
            lattice_rejected += 1;
        } else {
            failures.push(format!(
                "lattice {} [{}]: {} {}",
                p.op,
                p.what,
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
    }

    // CloudWatch, over each protocol.
    let mut cw_probes = Vec::new();
    for (op, base) in cb.iter().filter(|(op, _)| cw_ops.contains(*op)) {
        assert!(
            cm.validate(op, base).is_empty(),
            "{op} baseline: {:?}",
            cm.validate(op, base)
        );
        for proto in [Proto::Cbor, Proto::Json, Proto::Query] {
            let (status, ty, msg) = send_cloudwatch(&e, op, base, proto).await;
            assert!(
                status == 200 || status == 404,
                "{op} baseline over {proto:?}: {status} {ty} {msg}"
            );
        }
        cw_probes.extend(probes(cm, op, base));
    }
    let cw_generated = cw_probes.len();
    cw_probes.extend(cloudwatch_semantic());
    let mut cw_rejected = [0usize; 3];
    for (i, proto) in [Proto::Cbor, Proto::Json, Proto::Query]
        .into_iter()
        .enumerate()
    {
        for p in &cw_probes {
            let shape = p.cw_shape.unwrap_or(if p.missing {
                "MissingRequiredParameterException"
            } else {
                "InvalidParameterValueException"
            });
            let expected = match proto {
                Proto::Query => query_code(shape),
                _ => format!("com.amazonaws.cloudwatch#{shape}"),
            };
            let (status, got, msg) = send_cloudwatch(&e, &p.op, &p.input, proto).await;
            if status == 400 && got == expected && msg.contains(&p.path) {
                cw_rejected[i] += 1;
            } else {
                failures.push(format!(
                    "cloudwatch/{proto:?} {} [{}]: {status} {got} {msg}",
                    p.op, p.what
                ));
            }
        }
    }

    println!(
        "model probes: lattice {lattice_rejected}/{} rejected, cloudwatch {}/{} rejected",
        lattice_probes.len(),
        cw_rejected[0],
        cw_probes.len()
    );
    println!(
        "  ({generated} Lattice and {cw_generated} CloudWatch probes generated from the model, the rest hand-written semantic rules; \
         operations: {} Lattice, {} CloudWatch; CloudWatch over awsJson1_0 {}/{}, awsQuery {}/{})",
        lattice_ops.len(),
        cw_ops.len(),
        cw_rejected[1],
        cw_probes.len(),
        cw_rejected[2],
        cw_probes.len()
    );
    assert!(
        failures.is_empty(),
        "{} probes accepted or mis-answered:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn two_hundred_tags_are_accepted_and_201_refused() {
    let e = start().await;
    let c = &e.lattice;
    let tags = |n: usize| -> std::collections::HashMap<String, String> {
        (0..n)
            .map(|i| (format!("key-{i}"), format!("value-{i}")))
            .collect()
    };
    let created = c
        .create_resource_gateway()
        .name("orders-gw")
        .vpc_identifier(VPC)
        .subnet_ids(SUBNETS[0])
        .set_tags(Some(tags(200)))
        .send()
        .await
        .expect("200 tags are allowed");
    let listed = c
        .list_tags_for_resource()
        .resource_arn(created.arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.tags().map(|t| t.len()), Some(200));
    let err = c
        .create_resource_gateway()
        .name("orders-gw-2")
        .vpc_identifier(VPC)
        .subnet_ids(SUBNETS[0])
        .set_tags(Some(tags(201)))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    let err = c
        .tag_resource()
        .resource_arn(created.arn().unwrap())
        .set_tags(Some(tags(201)))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
}
