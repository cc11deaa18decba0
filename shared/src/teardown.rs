//! The contract of the four teardown Lambdas (`teardown-lattice`,
//! `teardown-monitoring`, `teardown-database`, `teardown-network`), and their
//! entry: the teardown state machine's state in, the same state out with the
//! Lambda's own section replaced ([`invoke_teardown`], [`run_teardown`]).
//!
//! Each call converges: it looks at what of the deployment still exists,
//! starts every delete that is allowed now, and reports what it deleted and
//! what it still waits for. The state machine calls it again (Wait → Task →
//! Choice) until `state` is no longer `PENDING`.

use std::fmt::Display;
use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::plan::{Names, PollState};
use crate::poll::{outcome, Class, Policy};
use crate::tags::Owner;
use crate::StepError;

/// The input of every teardown Lambda. Unknown fields are rejected: a typo in
/// `keepDatabase` must not delete a database.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeardownInput {
    /// The deployment name given to the provisioning workflow.
    pub name: String,
    /// Keep a database this deployment created (and its subnet group and
    /// security group); detach nothing from an adopted one.
    #[serde(default)]
    pub keep_database: bool,
    /// Delete a database this deployment created without a final snapshot.
    #[serde(default)]
    pub skip_final_snapshot: bool,
    /// Delete only what this Step Functions execution created (its
    /// `lattice-db-access:execution` tag): a failed execution's rollback.
    /// The deployment's other resources are left alone and not waited for.
    #[serde(default)]
    pub only_execution: Option<String>,
    /// This Lambda's previous output in the polling loop (`null` at first).
    #[serde(default)]
    pub previous: Option<Previous>,
    /// Set by the provisioning workflow only (never from a teardown request): delete just what
    /// the deployment has and its input no longer asks for.
    #[serde(default)]
    pub prune: Option<Prune>,
}

/// What a provisioning run keeps; of the deployment's resources, the prune deletes the VPC
/// associations and client-side security groups of client VPCs not listed, and resource
/// configurations (with their associations) other than the one clients now use. Nothing else.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Prune {
    /// The plan's client VPCs (only `vpcId` is read).
    pub client_vpcs: Vec<KeptVpc>,
    /// The configuration this run made or adopted.
    pub resource_configuration_id: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KeptVpc {
    pub vpc_id: String,
}

impl Prune {
    pub fn keeps_vpc(&self, vpc_id: &str) -> bool {
        self.client_vpcs.iter().any(|v| v.vpc_id == vpc_id)
    }
}

/// The parts of the previous output a call reads; other fields are ignored.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Previous {
    #[serde(default)]
    pub attempt: u32,
    #[serde(default)]
    pub waiting: Vec<String>,
}

impl TeardownInput {
    /// The deployment's resource names, once `name` passes the checks the
    /// provisioning input applies to it (and `onlyExecution`, when given, is
    /// not empty).
    pub fn names(&self) -> Result<Names, StepError> {
        crate::input::validate_name(&self.name)?;
        if self.only_execution.as_deref() == Some("") {
            // An empty value would match nothing and silently delete nothing.
            return Err(StepError::invalid(
                "onlyExecution",
                "must be a Step Functions execution name, not empty",
            ));
        }
        Ok(Names::for_deployment(&self.name))
    }

    /// Whose resources this teardown deletes.
    pub fn owner(&self) -> Owner {
        Owner::new(&self.name, self.only_execution.clone())
    }

    /// This call's attempt number (1-based).
    pub fn attempt(&self) -> u32 {
        self.previous
            .as_ref()
            .map_or(0, |p| p.attempt)
            .saturating_add(1)
    }

    /// Did the previous call report a waiting entry starting with `prefix`?
    pub fn previously(&self, prefix: &str) -> bool {
        self.previous
            .as_ref()
            .is_some_and(|p| p.waiting.iter().any(|w| w.starts_with(prefix)))
    }
}

/// The output of every teardown Lambda; the ASL's Choice reads `state`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TeardownOut {
    pub state: PollState,
    /// Attempts made so far, including this one.
    pub attempt: u32,
    pub max_attempts: u32,
    /// How long the ASL Wait state sleeps before the next attempt.
    pub wait_seconds: u32,
    /// Ids or names whose deletion this call started (or completed).
    pub deleted: Vec<String>,
    /// `<what> <id> is <status>` for everything of ours that is still there.
    pub waiting: Vec<String>,
    /// Why it failed or timed out.
    pub reason: Option<String>,
}

/// What one call saw and did.
#[derive(Debug, Default)]
pub struct Progress {
    deleted: Vec<String>,
    waiting: Vec<String>,
    failed: Vec<String>,
}

impl Progress {
    /// A delete of ours was accepted.
    pub fn deleted(&mut self, id: impl Into<String>) {
        self.deleted.push(id.into());
    }

    /// `what` `id` still exists; `status` says why we wait.
    pub fn wait(&mut self, what: &str, id: &str, status: impl Display) {
        self.waiting.push(entry(what, id, status));
    }

    /// Something a retry cannot fix: the loop stops with this reason.
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.failed.push(reason.into());
    }

    /// The output for attempt `attempt`, counted and logged.
    pub fn finish(self, component: &str, policy: Policy, attempt: u32) -> TeardownOut {
        let class = if !self.failed.is_empty() {
            Class::Failed
        } else if self.waiting.is_empty() {
            Class::Ready
        } else {
            Class::Pending
        };
        let status = if self.waiting.is_empty() {
            "DELETED".to_string()
        } else {
            self.waiting.join("; ")
        };
        let reason = (!self.failed.is_empty()).then(|| self.failed.join("; "));
        let poll = outcome(policy, attempt, component, &status, class, reason);
        let reason = match poll.state {
            PollState::TimedOut => Some(format!(
                "still waiting after {attempt} attempts (about {} min) for: {status}; giving up: \
                 run the teardown again to delete what is left",
                policy.bound_minutes()
            )),
            _ => poll.reason,
        };
        crate::emf::emit(
            &[("Function", component)],
            &[("ResourcesDeleted", self.deleted.len() as f64, "Count")],
        );
        tracing::info!(
            state = ?poll.state,
            attempt,
            deleted = ?self.deleted,
            waiting = ?self.waiting,
            reason = ?reason,
            "teardown progress"
        );
        TeardownOut {
            state: poll.state,
            attempt,
            max_attempts: poll.max_attempts,
            wait_seconds: poll.wait_seconds,
            deleted: self.deleted,
            waiting: self.waiting,
            reason,
        }
    }
}

/// The waiting entry for `what` `id` in `status`.
pub fn entry(what: &str, id: &str, status: impl Display) -> String {
    format!("{what} {id} is {status}")
}

/// How a delete call ended, for the cases a teardown expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// Accepted.
    Done(T),
    /// Already gone: as good as deleted.
    Gone,
    /// Refused for now (busy, still in use): the AWS message.
    Refused(String),
}

/// Sort a delete's result (after `.aws("svc:Op")`) into [`Outcome`]; other errors stay errors.
pub fn settle<T>(result: Result<T, StepError>) -> Result<Outcome<T>, StepError> {
    match result {
        Ok(t) => Ok(Outcome::Done(t)),
        Err(StepError::NotFound { .. }) => Ok(Outcome::Gone),
        Err(StepError::Conflict { message, .. }) => Ok(Outcome::Refused(message)),
        Err(e) => Err(e),
    }
}

// ---- the entry: teardown state in, teardown state out ----

/// The members a hand-written teardown request may have.
const REQUEST_FIELDS: [&str; 4] = ["name", "keepDatabase", "skipFinalSnapshot", "onlyExecution"];

/// A hand-written request: `{"name", "keepDatabase", "skipFinalSnapshot", "onlyExecution"}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NamedRequest {
    name: String,
    keep_database: Option<bool>,
    skip_final_snapshot: Option<bool>,
    only_execution: Option<String>,
}

/// The provisioning workflow's output: its `deployment`; the rest is ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutputRequest {
    deployment: String,
    keep_database: Option<bool>,
    skip_final_snapshot: Option<bool>,
    only_execution: Option<String>,
}

/// The [`TeardownInput`] of the Lambda owning `section`, from the teardown
/// state `{"request": <teardown input>, "<section>": <its last output>, …}`.
/// Errors in the request name the field as the user wrote it.
pub fn teardown_input(state: &Value, section: &str) -> Result<TeardownInput, StepError> {
    let Some(state) = state.as_object() else {
        return Err(StepError::invalid(
            "(input)",
            "the teardown state must be a JSON object",
        ));
    };
    let request = match state.get("request") {
        Some(Value::Object(r)) => r,
        Some(_) => {
            return Err(StepError::invalid(
                "(input)",
                "the teardown input must be a JSON object: {\"name\": \"<deployment>\"} or the provisioning output",
            ))
        }
        None => {
            return Err(StepError::internal(
                "the teardown state has no `request`: the state machine must pass the teardown input there",
            ))
        }
    };
    let mut input = if request.contains_key("name") {
        // Written by hand: a misspelt option must not be silently ignored.
        if let Some(key) = request
            .keys()
            .find(|k| !REQUEST_FIELDS.contains(&k.as_str()))
        {
            return Err(StepError::invalid(
                key.as_str(),
                format!(
                    "unknown field `{key}`; a teardown input has only {}",
                    REQUEST_FIELDS.map(|f| format!("`{f}`")).join(", ")
                ),
            ));
        }
        let r: NamedRequest = crate::input::parse(Value::Object(request.clone()))?;
        TeardownInput {
            name: r.name,
            keep_database: r.keep_database.unwrap_or(false),
            skip_final_snapshot: r.skip_final_snapshot.unwrap_or(false),
            only_execution: r.only_execution,
            previous: None,
            prune: None,
        }
    } else if request.contains_key("deployment") {
        let r: OutputRequest = crate::input::parse(Value::Object(request.clone()))?;
        TeardownInput {
            name: r.deployment,
            keep_database: r.keep_database.unwrap_or(false),
            skip_final_snapshot: r.skip_final_snapshot.unwrap_or(false),
            only_execution: r.only_execution,
            previous: None,
            prune: None,
        }
    } else {
        return Err(StepError::invalid(
            "name",
            "missing: give the deployment name as {\"name\": \"<deployment>\"}, or pass the provisioning workflow's output",
        ));
    };
    // Beside the request, where only the provisioning workflow puts it.
    input.prune = match state.get("prune") {
        None | Some(Value::Null) => None,
        Some(v) => Some(Prune::deserialize(v).map_err(|e| {
            StepError::internal(format!("`prune` in the state is not a prune request: {e}"))
        })?),
    };
    input.previous = match state.get(section) {
        None | Some(Value::Null) => None,
        Some(v) => Some(Previous::deserialize(v).map_err(|e| {
            StepError::internal(format!(
                "`{section}` in the teardown state is not this Lambda's output: {e}"
            ))
        })?),
    };
    Ok(input)
}

/// Invoke a teardown Lambda on the teardown state: build its [`TeardownInput`]
/// (see [`teardown_input`]), run `handler`, and return the whole state with
/// `state[section]` replaced by the output; other members are untouched.
pub async fn invoke_teardown<O, F, Fut>(
    function: &str,
    section: &str,
    payload: Value,
    request_id: &str,
    handler: F,
) -> Result<Value, StepError>
where
    O: Serialize,
    F: FnOnce(TeardownInput) -> Fut,
    Fut: Future<Output = Result<O, StepError>>,
{
    crate::runtime::invoke(function, payload, request_id, |state: Value| async move {
        let input = teardown_input(&state, section)?;
        let earlier: Vec<String> = state
            .get(section)
            .and_then(|p| p.get("removed"))
            .and_then(|r| serde_json::from_value(r.clone()).ok())
            .unwrap_or_default();
        let out = handler(input).await?;
        let mut out = serde_json::to_value(out)
            .map_err(|e| StepError::internal(format!("serializing {section}: {e}")))?;
        // `removed`: every delete started over the loop's calls (`deleted` is this call's), so
        // the last call's output says what the whole loop removed.
        if let Some(o) = out.as_object_mut() {
            let mut removed = earlier;
            for id in o
                .get("deleted")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(id) = id.as_str().filter(|id| !removed.iter().any(|r| r == id)) {
                    removed.push(id.to_string());
                }
            }
            o.insert("removed".into(), Value::from(removed));
        }
        let mut state: Map<String, Value> = match state {
            Value::Object(m) => m,
            // teardown_input has already refused anything else.
            _ => return Err(StepError::internal("the teardown state is not an object")),
        };
        state.insert(section.to_string(), out);
        Ok(Value::Object(state))
    })
    .await
}

/// Run a teardown Lambda (see [`invoke_teardown`]) forever.
pub async fn run_teardown<O, F, Fut>(
    function: &'static str,
    section: &'static str,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    O: Serialize,
    F: Fn(TeardownInput) -> Fut,
    Fut: Future<Output = Result<O, StepError>>,
{
    let handler = &handler;
    crate::runtime::serve(move |payload, request_id| async move {
        invoke_teardown(function, section, payload, &request_id, handler).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Diagnostic;
    use serde_json::json;

    const POLICY: Policy = Policy {
        first_wait: 5,
        steady_attempts: 1,
        max_wait: 30,
        max_attempts: 3,
    };

    #[test]
    fn input_defaults_and_rejects_unknown_fields() {
        let i: TeardownInput = crate::input::parse(json!({"name": "orders"})).unwrap();
        assert!(!i.keep_database && !i.skip_final_snapshot && i.previous.is_none());
        assert!(i.only_execution.is_none());
        assert_eq!(i.attempt(), 1);
        let e =
            crate::input::parse::<TeardownInput>(json!({"name": "orders", "keepDatabse": true}))
                .unwrap_err();
        assert_eq!(e.name(), "Input.Invalid");
        // The previous output is read leniently: only attempt and waiting matter.
        let i: TeardownInput = crate::input::parse(json!({
            "name": "orders", "keepDatabase": true, "skipFinalSnapshot": true,
            "onlyExecution": "run-1",
            "previous": {"state": "PENDING", "attempt": 4, "maxAttempts": 60, "waitSeconds": 30,
                         "deleted": [], "waiting": ["x y is DELETE_FAILED"], "reason": null}
        }))
        .unwrap();
        assert_eq!(i.attempt(), 5);
        assert!(i.previously("x y is DELETE_FAILED"));
        assert!(!i.previously("x z"));
        assert_eq!(i.owner(), Owner::new("orders", Some("run-1".into())));
    }

    #[test]
    fn names_are_checked_like_the_provisioning_input() {
        let named = |n: &str| TeardownInput {
            name: n.into(),
            ..TeardownInput::default()
        };
        assert_eq!(named("orders").names().unwrap().db_identifier, "orders-db");
        for bad in ["ab", "Orders", "orders-", "a--b", "rgw-x1", &"a".repeat(31)] {
            let e = named(bad).names().unwrap_err();
            assert!(
                matches!(&e, StepError::InvalidInput { field, .. } if field == "name"),
                "{bad}: {e}"
            );
        }
        let e = TeardownInput {
            only_execution: Some(String::new()),
            ..named("orders")
        }
        .names()
        .unwrap_err();
        assert!(
            matches!(&e, StepError::InvalidInput { field, .. } if field == "onlyExecution"),
            "{e}"
        );
    }

    #[test]
    fn finish_reports_ready_pending_failed_and_timed_out() {
        let out = Progress::default().finish("t", POLICY, 1);
        assert_eq!((out.state, out.reason), (PollState::Ready, None));

        let mut p = Progress::default();
        p.deleted("snra-1");
        p.wait("resource gateway", "rgw-1", "DELETE_IN_PROGRESS");
        let out = p.finish("t", POLICY, 2);
        assert_eq!(out.state, PollState::Pending);
        assert_eq!(out.deleted, ["snra-1"]);
        assert_eq!(
            out.waiting,
            ["resource gateway rgw-1 is DELETE_IN_PROGRESS"]
        );
        assert_eq!(
            (out.attempt, out.max_attempts, out.wait_seconds),
            (2, 3, 10)
        );

        let mut p = Progress::default();
        p.wait("resource gateway", "rgw-1", "DELETE_IN_PROGRESS");
        let out = p.finish("t", POLICY, 3);
        assert_eq!(out.state, PollState::TimedOut);
        assert!(out.reason.unwrap().contains("rgw-1"));

        let mut p = Progress::default();
        p.wait("a", "b", "c");
        p.fail("it broke");
        let out = p.finish("t", POLICY, 1);
        assert_eq!(
            (out.state, out.reason.as_deref()),
            (PollState::Failed, Some("it broke"))
        );
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(v["state"], "FAILED");
        assert!(v.as_object().unwrap().contains_key("maxAttempts"));
    }

    #[test]
    fn settle_sorts_gone_and_busy_from_real_errors() {
        let nf = StepError::NotFound {
            operation: "o".into(),
            message: "m".into(),
        };
        let busy = StepError::Conflict {
            operation: "o".into(),
            message: "in use".into(),
        };
        assert_eq!(settle::<()>(Err(nf)).unwrap(), Outcome::Gone);
        assert_eq!(
            settle::<()>(Err(busy)).unwrap(),
            Outcome::Refused("in use".into())
        );
        assert_eq!(settle(Ok(1)).unwrap(), Outcome::Done(1));
        assert!(settle::<()>(Err(StepError::internal("x"))).is_err());
    }

    // ---- the state adapter ----

    fn field_of(e: &StepError) -> &str {
        match e {
            StepError::InvalidInput { field, .. } => field,
            other => panic!("not Input.Invalid: {other}"),
        }
    }

    #[test]
    fn a_hand_written_request_gives_every_option() {
        let state = json!({"request": {"name": "orders", "keepDatabase": true,
                                       "skipFinalSnapshot": true, "onlyExecution": "run-1"}});
        let i = teardown_input(&state, "teardownDatabase").unwrap();
        assert_eq!(
            i,
            TeardownInput {
                name: "orders".into(),
                keep_database: true,
                skip_final_snapshot: true,
                only_execution: Some("run-1".into()),
                previous: None,
                prune: None,
            }
        );
        // A prune comes only from beside the request (the provisioning workflow puts it there);
        // in a hand-written request it is an unknown field.
        let state = json!({"request": {"name": "orders"},
                           "prune": {"clientVpcs": [{"vpcId": "vpc-1", "allowedCidrs": []}],
                                     "resourceConfigurationId": "rcfg-1"}});
        let i = teardown_input(&state, "teardownLattice").unwrap();
        let k = i.prune.unwrap();
        assert!(k.keeps_vpc("vpc-1") && !k.keeps_vpc("vpc-2"));
        assert_eq!(k.resource_configuration_id, "rcfg-1");
        let state = json!({"request": {"name": "orders", "prune": {}}});
        assert_eq!(
            teardown_input(&state, "teardownLattice")
                .unwrap_err()
                .name(),
            "Input.Invalid"
        );
        // Absent and null options are off.
        let state = json!({"request": {"name": "orders", "onlyExecution": null}});
        let i = teardown_input(&state, "teardownDatabase").unwrap();
        assert_eq!(
            i,
            TeardownInput {
                name: "orders".into(),
                ..TeardownInput::default()
            }
        );
    }

    #[test]
    fn the_provisioning_output_is_a_request_by_its_deployment() {
        let state = json!({"request": {
            "deployment": "orders", "dnsName": "x.vpc-lattice-rsc.amazonaws.com", "port": 3306,
            "database": {"kind": "instance", "identifier": "orders-db", "created": true},
            "resources": {"serviceNetworkId": "sn-1"}
        }});
        let i = teardown_input(&state, "teardownLattice").unwrap();
        assert_eq!(i.name, "orders");
        assert!(!i.keep_database && !i.skip_final_snapshot && i.only_execution.is_none());
        // Its options, when added, count.
        let state =
            json!({"request": {"deployment": "orders", "port": 3306, "keepDatabase": true}});
        assert!(
            teardown_input(&state, "teardownLattice")
                .unwrap()
                .keep_database
        );
    }

    #[test]
    fn a_typo_or_a_missing_name_is_refused_naming_the_field() {
        let e = teardown_input(
            &json!({"request": {"name": "orders", "keepDatabse": true}}),
            "teardownDatabase",
        )
        .unwrap_err();
        assert_eq!(e.name(), "Input.Invalid");
        assert_eq!(field_of(&e), "keepDatabse");
        assert!(e.to_string().contains("unknown field"), "{e}");
        // A hand-written request with `deployment` too: which one was meant is unclear.
        let e = teardown_input(
            &json!({"request": {"name": "orders", "deployment": "orders"}}),
            "teardownDatabase",
        )
        .unwrap_err();
        assert_eq!(field_of(&e), "deployment");

        let e = teardown_input(&json!({"request": {"keepDatabase": true}}), "s").unwrap_err();
        assert_eq!(field_of(&e), "name");
        let e = teardown_input(&json!({"request": {}}), "s").unwrap_err();
        assert_eq!(field_of(&e), "name");

        // Wrong types are named without any `request.` prefix.
        let e = teardown_input(&json!({"request": {"name": 5}}), "s").unwrap_err();
        assert_eq!(field_of(&e), "name");
        let e = teardown_input(
            &json!({"request": {"name": "orders", "skipFinalSnapshot": "yes"}}),
            "s",
        )
        .unwrap_err();
        assert_eq!(field_of(&e), "skipFinalSnapshot");
        let e = teardown_input(&json!({"request": {"deployment": 7}}), "s").unwrap_err();
        assert_eq!(field_of(&e), "deployment");

        let e = teardown_input(&json!({"request": "orders"}), "s").unwrap_err();
        assert_eq!(e.name(), "Input.Invalid");
        assert_eq!(
            teardown_input(&json!({"name": "orders"}), "s")
                .unwrap_err()
                .name(),
            "Internal"
        );
    }

    #[test]
    fn previous_is_this_lambdas_own_section() {
        let state = json!({
            "request": {"name": "orders"},
            "teardownLattice": {"state": "PENDING", "attempt": 3, "maxAttempts": 60, "waitSeconds": 20,
                                "deleted": [], "waiting": ["resource gateway rgw-1 is DELETE_IN_PROGRESS"],
                                "reason": null},
            "teardownDatabase": {"state": "PENDING", "attempt": 9, "maxAttempts": 90, "waitSeconds": 60,
                                 "deleted": [], "waiting": [], "reason": null},
            "teardownNetwork": null
        });
        let i = teardown_input(&state, "teardownLattice").unwrap();
        assert_eq!(i.attempt(), 4);
        assert!(i.previously("resource gateway rgw-1"));
        assert_eq!(
            teardown_input(&state, "teardownDatabase")
                .unwrap()
                .attempt(),
            10
        );
        assert!(teardown_input(&state, "teardownNetwork")
            .unwrap()
            .previous
            .is_none());
        assert!(teardown_input(&state, "teardownMonitoring")
            .unwrap()
            .previous
            .is_none());
        let bad = json!({"request": {"name": "orders"}, "teardownLattice": "x"});
        assert_eq!(
            teardown_input(&bad, "teardownLattice").unwrap_err().name(),
            "Internal"
        );
    }

    #[tokio::test]
    async fn the_output_replaces_the_section_and_keeps_the_other_members() {
        let state = json!({
            "request": {"name": "orders", "onlyExecution": "run-1"},
            "error": {"Error": "Resource.Failed", "Cause": "boom"},
            "teardownLattice": {"state": "READY", "attempt": 2},
            "teardownNetwork": {"state": "PENDING", "attempt": 1, "waiting": ["old"],
                                "removed": ["sg-earlier", "sg-of-orders"]}
        });
        let out = invoke_teardown(
            "t",
            "teardownNetwork",
            state.clone(),
            "req",
            |i: TeardownInput| async move {
                assert_eq!(i.owner(), Owner::new("orders", Some("run-1".into())));
                let mut p = Progress::default();
                p.deleted(format!("sg-of-{}", i.name));
                Ok(p.finish("t", POLICY, i.attempt()))
            },
        )
        .await
        .unwrap();
        assert_eq!(out["teardownNetwork"]["attempt"], 2);
        assert_eq!(out["teardownNetwork"]["state"], "READY");
        assert_eq!(out["teardownNetwork"]["deleted"], json!(["sg-of-orders"]));
        // What the whole loop removed: the earlier calls' and this one's, each once.
        assert_eq!(
            out["teardownNetwork"]["removed"],
            json!(["sg-earlier", "sg-of-orders"])
        );
        for kept in ["request", "error", "teardownLattice"] {
            assert_eq!(out[kept], state[kept], "{kept}");
        }
        assert_eq!(out.as_object().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn a_bad_request_never_reaches_the_handler_and_errors_keep_their_names() {
        let called = std::cell::Cell::new(false);
        let e = invoke_teardown(
            "t",
            "teardownDatabase",
            json!({"request": {"name": "orders", "keepDatabse": true}}),
            "req",
            |_: TeardownInput| async {
                called.set(true);
                Ok(json!({}))
            },
        )
        .await
        .unwrap_err();
        assert!(!called.get());
        assert_eq!(
            Diagnostic::from(e).error_type,
            crate::error::names::INPUT_INVALID
        );

        let e = invoke_teardown(
            "t",
            "teardownDatabase",
            json!({"request": {"name": "orders"}}),
            "req",
            |_: TeardownInput| async {
                Err::<Value, _>(StepError::Conflict {
                    operation: "op".into(),
                    message: "busy".into(),
                })
            },
        )
        .await
        .unwrap_err();
        assert_eq!(Diagnostic::from(e).error_type, "Resource.Conflict");
    }
}
