//! The common Lambda entry: JSON logs, typed input with field-path errors,
//! stable error names, one log line and EMF metrics per invocation.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures_util::FutureExt;

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use tracing::Instrument;

use crate::error::StepError;

/// The deployment name, wherever this payload carries it (for log context).
pub fn deployment_of(v: &Value) -> &str {
    [
        &v["plan"]["name"],
        &v["ctx"]["plan"]["name"],
        &v["name"],
        // The teardown state: a hand-written request, or the provisioning output.
        &v["request"]["name"],
        &v["request"]["deployment"],
    ]
    .into_iter()
    .find_map(|x| x.as_str())
    .unwrap_or("-")
}

/// Parse the payload, run `handler`, and report the outcome.
pub async fn invoke<I, O, F, Fut>(
    function: &str,
    payload: Value,
    request_id: &str,
    handler: F,
) -> Result<O, StepError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, StepError>>,
{
    let deployment = deployment_of(&payload).to_string();
    crate::emf::set_context(vec![
        ("deployment".to_string(), deployment.clone()),
        ("requestId".to_string(), request_id.to_string()),
    ]);
    let span = tracing::info_span!("step", function, deployment = %deployment, request_id);
    async move {
        let started = Instant::now();
        let result = match crate::input::parse::<I>(payload) {
            // Boxed: the step futures nest deeply and would overflow rustc's layout query depth.
            // A panic is a bug; caught here (the release profile keeps `panic = "unwind"`) it
            // becomes `Internal` with its message, instead of lambda_runtime's type-name error.
            Ok(input) => AssertUnwindSafe(Box::pin(async move { handler(input).await }))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(panicked(panic.as_ref()))),
            Err(e) => Err(e),
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(_) => {
                tracing::info!(outcome = "ok", duration_ms = ms, "step finished");
                crate::emf::emit(&[("Function", function)], &[("Succeeded", 1.0, "Count"), ("DurationMs", ms, "Milliseconds")]);
            }
            Err(e) => {
                tracing::error!(outcome = "error", error_name = e.name(), error = %e, duration_ms = ms, "step failed");
                crate::emf::emit(&[("Function", function), ("ErrorName", e.name())], &[("Errors", 1.0, "Count")]);
            }
        }
        result
    }
    .instrument(span)
    .await
}

fn panicked(panic: &(dyn Any + Send)) -> StepError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string());
    StepError::internal(format!("the handler panicked (a bug): {message}"))
}

/// Run a step Lambda forever: `main` builds the clients and passes a closure
/// that calls the crate's library function.
pub async fn run<I, O, F, Fut>(
    function: &'static str,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, StepError>>,
{
    let handler = &handler;
    serve(move |payload, request_id| async move {
        invoke(function, payload, &request_id, handler).await
    })
    .await
}

/// The Lambda loop every entry point shares: the JSON log subscriber, then each
/// event's payload and request id to `handle`, its error reported under its stable name.
pub async fn serve<O, F, Fut>(handle: F) -> Result<(), lambda_runtime::Error>
where
    O: Serialize,
    F: Fn(Value, String) -> Fut,
    Fut: Future<Output = Result<O, StepError>>,
{
    lambda_runtime::tracing::init_default_subscriber();
    let handle = &handle;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let (payload, context) = event.into_parts();
        handle(payload, context.request_id)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}

/// A step's typed input read from the execution state: a section it needs that the state lacks
/// is `Internal` naming it (the state machine ran the step out of order; the user's input was
/// validated by the first state).
pub fn state_input<I: DeserializeOwned>(function: &str, state: Value) -> Result<I, StepError> {
    crate::input::parse(state).map_err(|e| {
        StepError::internal(format!(
            "the execution state does not hold what `{function}` needs ({e}): the state machine \
             ran it out of order"
        ))
    })
}

/// Invoke a step on the execution state and add its own `section` to it: the Lambda returns the
/// whole state, so the ASL needs only `OutputPath: $.Payload` with the optimized `lambda:invoke`
/// integration. Unknown members of the state are passed through untouched.
///
/// The step reads only its typed input `I`, the sections it depends on ([`state_input`]).
pub async fn invoke_step<I, O, F, Fut>(
    function: &str,
    section: &str,
    payload: Value,
    request_id: &str,
    handler: F,
) -> Result<Value, StepError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, StepError>>,
{
    let mut state = payload.clone();
    let out = invoke(function, payload, request_id, |state: Value| async move {
        handler(state_input(function, state)?).await
    })
    .await?;
    let out = serde_json::to_value(out)
        .map_err(|e| StepError::internal(format!("serializing {section}: {e}")))?;
    match state.as_object_mut() {
        Some(map) => {
            map.insert(section.to_string(), out);
            Ok(state)
        }
        None => Err(StepError::invalid(
            "(input)",
            "the execution state must be a JSON object",
        )),
    }
}

/// Run a state-adding step Lambda (see [`invoke_step`]) forever.
pub async fn run_step<I, O, F, Fut>(
    function: &'static str,
    section: &'static str,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, StepError>>,
{
    let handler = &handler;
    serve(move |payload, request_id| async move {
        invoke_step(function, section, payload, &request_id, handler).await
    })
    .await
}

#[cfg(test)]
mod tests {
    /// A step's typed input: the sections it depends on.
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct GatewayIn {
        plan: crate::plan::Plan,
        db_network: crate::plan::DbNetworkOut,
    }

    #[tokio::test]
    async fn a_step_adds_its_section_and_keeps_the_rest() {
        let mut state = crate::testing::ctx_full();
        state.gateway = None;
        let mut state = serde_json::to_value(state).unwrap();
        state["extra"] = json!({"kept": true});
        let out = invoke_step("t", "gateway", state, "req", |i: GatewayIn| async move {
            Ok(json!({"id": format!("rgw-for-{}-{}", i.plan.name, i.db_network.db_security_group_id)}))
        })
        .await
        .unwrap();
        assert_eq!(out["gateway"]["id"], "rgw-for-orders-sg-0a1b2c3d4e5f60002");
        assert_eq!(out["extra"]["kept"], true);
        assert_eq!(out["plan"]["name"], "orders");
    }

    #[tokio::test]
    async fn a_missing_dependency_fails_at_the_state_boundary_naming_it() {
        let state = json!({"plan": crate::testing::plan()});
        let ran = std::sync::atomic::AtomicBool::new(false);
        let e = invoke_step(
            "resource-gateway",
            "gateway",
            state,
            "req",
            |_: GatewayIn| async {
                ran.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(json!({}))
            },
        )
        .await
        .unwrap_err();
        assert_eq!(e.name(), "Internal");
        assert!(e.to_string().contains("dbNetwork"), "{e}");
        assert!(e.to_string().contains("`resource-gateway`"), "{e}");
        assert!(
            !ran.load(std::sync::atomic::Ordering::SeqCst),
            "the step must not run"
        );
    }

    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize)]
    struct In {
        n: u8,
    }

    #[tokio::test]
    async fn a_panicking_handler_reports_internal_with_its_message() {
        let r: Result<u8, _> = invoke("t", json!({"n": 1}), "req", |i: In| async move {
            if i.n == 1 {
                panic!("index {} out of range", i.n);
            }
            Ok(i.n)
        })
        .await;
        let e = r.unwrap_err();
        assert_eq!(e.name(), "Internal");
        assert!(
            e.to_string()
                .contains("panicked (a bug): index 1 out of range"),
            "{e}"
        );
        // The process goes on: the next invocation is served.
        let ok: Result<u8, StepError> =
            invoke("t", json!({"n": 2}), "req", |i: In| async move { Ok(i.n) }).await;
        assert_eq!(ok.unwrap(), 2);
    }

    #[tokio::test]
    async fn bad_payload_is_input_invalid_naming_the_field() {
        let r: Result<u8, _> = invoke(
            "t",
            json!({"n": "x"}),
            "req",
            |i: In| async move { Ok(i.n) },
        )
        .await;
        let e = r.unwrap_err();
        assert_eq!(e.name(), "Input.Invalid");
        assert!(e.to_string().starts_with("n: "), "{e}");
    }

    #[tokio::test]
    async fn handler_errors_keep_their_name() {
        let r: Result<u8, _> = invoke("t", json!({"n": 1}), "req", |_: In| async move {
            Err(StepError::Conflict {
                operation: "op".into(),
                message: "busy".into(),
            })
        })
        .await;
        assert_eq!(
            Diagnostic::from(r.unwrap_err()).error_type,
            "Resource.Conflict"
        );
    }

    #[test]
    fn deployment_name_is_found_in_each_payload_shape() {
        assert_eq!(deployment_of(&json!({"name": "a"})), "a");
        assert_eq!(deployment_of(&json!({"plan": {"name": "b"}})), "b");
        assert_eq!(
            deployment_of(&json!({"kind": "x", "ctx": {"plan": {"name": "c"}}})),
            "c"
        );
        assert_eq!(deployment_of(&json!({"request": {"name": "d"}})), "d");
        assert_eq!(deployment_of(&json!({"request": {"deployment": "e"}})), "e");
        assert_eq!(deployment_of(&json!({})), "-");
    }
}
