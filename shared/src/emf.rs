//! CloudWatch Embedded Metric Format: one JSON line on stdout per flush,
//! which Lambda ships to CloudWatch Logs and CloudWatch turns into metrics.

use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "LatticeDbAccess";

/// One EMF document with `dimensions` (all used as one dimension set) and
/// `metrics` as (name, value, unit).
pub fn document(
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64, &str)],
    timestamp_ms: u128,
) -> Value {
    let mut root = Map::new();
    let dim_names: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    let defs: Vec<Value> = metrics
        .iter()
        .map(|(n, _, u)| json!({"Name": n, "Unit": u}))
        .collect();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms as u64,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [dim_names], "Metrics": defs}]
        }),
    );
    for (k, v) in dimensions {
        root.insert((*k).into(), Value::String((*v).into()));
    }
    for (n, v, _) in metrics {
        root.insert((*n).into(), json!(v));
    }
    Value::Object(root)
}

/// Properties added to every EMF line of the current invocation (the deployment
/// and the request id), so metric lines can be traced like log lines. Lambda runs
/// one invocation at a time per process, so one process-wide slot is enough.
static CONTEXT: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Set the properties of the current invocation (replacing the previous ones).
pub fn set_context(properties: Vec<(String, String)>) {
    if let Ok(mut c) = CONTEXT.lock() {
        *c = properties;
    }
}

/// Print an EMF document to stdout (not through `tracing`: EMF must be a bare JSON line).
pub fn emit(dimensions: &[(&str, &str)], metrics: &[(&str, f64, &str)]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    println!("{}", with_context(document(dimensions, metrics, now)));
}

/// `doc` with the invocation's properties (never replacing a dimension or metric).
fn with_context(mut doc: Value) -> Value {
    if let (Ok(context), Some(map)) = (CONTEXT.lock(), doc.as_object_mut()) {
        for (k, v) in context.iter() {
            map.entry(k.clone())
                .or_insert_with(|| Value::String(v.clone()));
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_follows_the_emf_specification() {
        let d = document(
            &[("Function", "resource-gateway"), ("Outcome", "created")],
            &[("ResourcesCreated", 1.0, "Count")],
            1_700_000_000_000,
        );
        let cw = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], NAMESPACE);
        assert_eq!(cw["Dimensions"][0], json!(["Function", "Outcome"]));
        assert_eq!(cw["Metrics"][0]["Name"], "ResourcesCreated");
        assert_eq!(d["_aws"]["Timestamp"], 1_700_000_000_000u64);
        // Every dimension and metric named in the metadata is a top-level member.
        assert_eq!(d["Function"], "resource-gateway");
        assert_eq!(d["ResourcesCreated"], 1.0);
    }

    #[test]
    fn metric_lines_carry_the_invocations_deployment_and_request_id() {
        set_context(vec![
            ("deployment".into(), "orders".into()),
            ("requestId".into(), "req-1".into()),
        ]);
        let d = with_context(document(
            &[("Function", "status")],
            &[("PollAttempts", 1.0, "Count")],
            1,
        ));
        assert_eq!(
            (d["deployment"].as_str(), d["requestId"].as_str()),
            (Some("orders"), Some("req-1"))
        );
        assert_eq!(
            d["Function"], "status",
            "context never replaces a dimension"
        );
        set_context(vec![]);
    }
}
