//! Generates statemachine/*.asl.json, the single source of the state machines' structure
//! (`cargo run -q -p statemachine --bin gen-asl`; `-- --check` in the test command).
//!
//! Each machine's `TimeoutSeconds` is derived, not chosen: the longest legal path through it
//! (every polling loop using all its attempts, the provisioning then rolled back with every
//! rollback loop doing the same) sums the Waits the polling policies of `shared::poll` allow; the
//! timeout is that sum plus an allowance per Task invocation on the path, rounded up to 15
//! minutes. So an execution can never be stopped mid-rollback by its timeout.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use shared::error::names as step;
use shared::poll::Policy;

/// Per Task invocation on the worst path: a poll takes well under a second warm; the rest covers
/// cold starts and the occasional retried throttle or 5xx.
pub const TASK_ALLOWANCE_SECONDS: u32 = 5;
pub const ROUND_TO_SECONDS: u32 = 900;
/// Seconds a lock outlives its machine's TimeoutSeconds: an execution that timed out, was stopped
/// or crashed without releasing cannot wedge the deployment for longer than that.
pub const LEASE_MARGIN_SECONDS: u32 = 900;

pub const PROVISION_FILE: &str = "provision.asl.json";
pub const TEARDOWN_FILE: &str = "teardown.asl.json";

/// Error names the ASL matches or raises that are not `StepError` names (those are
/// `shared::error::names`): Step Functions', Lambda's and the polling loops' own.
pub mod errors {
    pub const STATES_ALL: &str = "States.ALL";
    /// A polling loop used all its attempts (the Lambda reports TIMED_OUT, the Fail state raises).
    pub const POLL_TIMED_OUT: &str = "Poll.TimedOut";
    pub const LAMBDA_CLIENT_EXECUTION_TIMEOUT: &str = "Lambda.ClientExecutionTimeoutException";
    pub const LAMBDA_SERVICE: &str = "Lambda.ServiceException";
    pub const LAMBDA_AWS_LAMBDA: &str = "Lambda.AWSLambdaException";
    pub const LAMBDA_SDK_CLIENT: &str = "Lambda.SdkClientException";
    pub const LAMBDA_TOO_MANY_REQUESTS: &str = "Lambda.TooManyRequestsException";
    pub const LAMBDA_UNKNOWN: &str = "Lambda.Unknown";
    pub const SANDBOX_TIMEDOUT: &str = "Sandbox.Timedout";

    pub const ALL: &[&str] = &[
        STATES_ALL,
        POLL_TIMED_OUT,
        LAMBDA_CLIENT_EXECUTION_TIMEOUT,
        LAMBDA_SERVICE,
        LAMBDA_AWS_LAMBDA,
        LAMBDA_SDK_CLIENT,
        LAMBDA_TOO_MANY_REQUESTS,
        LAMBDA_UNKNOWN,
        SANDBOX_TIMEDOUT,
    ];
}

/// State names used in more than one place. Names built from a label (polling loops, teardown
/// loops, build branches) come from the functions below.
pub mod state {
    // Both machines.
    pub const ACQUIRE_LOCK: &str = "AcquireLock";
    pub const RELEASE_LOCK: &str = "ReleaseLock";
    pub const RELEASE_LOCK_AFTER_FAILURE: &str = "ReleaseLockAfterFailure";
    // Teardown.
    pub const PREPARE: &str = "Prepare";
    pub const TEARDOWN: &str = "Teardown";
    pub const TORN_DOWN: &str = "TornDown";
    pub const TEARDOWN_DONE: &str = "TeardownDone";
    pub const TEARDOWN_FAILED: &str = "TeardownFailed";
    // Provisioning.
    pub const VALIDATE_INPUT: &str = "ValidateInput";
    pub const PROVISION: &str = "Provision";
    pub const PROVISIONED: &str = "Provisioned";
    pub const PREPARE_ROLLBACK: &str = "PrepareRollback";
    pub const ROLLBACK: &str = "Rollback";
    pub const ROLLBACK_DONE: &str = "RollbackDone";
    pub const ROLLED_BACK: &str = "RolledBack";
    pub const ROLLBACK_FAILED: &str = "RollbackFailed";
    pub const PROVISIONING_FAILED: &str = "ProvisioningFailed";
    pub const CREATE_DATABASE_NETWORK: &str = "CreateDatabaseNetwork";
    pub const BUILD_IN_PARALLEL: &str = "BuildInParallel";
    pub const DID_EVERY_BUILD_SUCCEED: &str = "DidEveryBuildSucceed";
    pub const JOIN_BUILDS: &str = "JoinBuilds";
    pub const CREATE_DATABASE: &str = "CreateDatabase";
    pub const DATABASE_DONE: &str = "DatabaseDone";
    pub const CREATE_RESOURCE_GATEWAY: &str = "CreateResourceGateway";
    pub const RESOURCE_GATEWAY_DONE: &str = "ResourceGatewayDone";
    pub const CREATE_CLIENT_ACCESS: &str = "CreateClientAccess";
    pub const CREATE_ACCESS_CONTROLS: &str = "CreateAccessControls";
    pub const CREATE_SERVICE_NETWORK: &str = "CreateServiceNetwork";
    pub const CREATE_MONITORING: &str = "CreateMonitoring";
    pub const CREATE_RESOURCE_CONFIGURATION: &str = "CreateResourceConfiguration";
    pub const CREATE_RESOURCE_ASSOCIATION: &str = "CreateResourceAssociation";
    pub const PRUNE_REMOVED: &str = "PruneRemoved";
    pub const PRUNE_NETWORK: &str = "PruneNetwork";
    pub const PRUNE_DONE: &str = "PruneDone";
    pub const CONNECTION_DETAILS: &str = "ConnectionDetails";

    /// Prefixes of the teardown flow's copies: none in the teardown machine.
    pub const ROLLBACK_PREFIX: &str = "Rollback";
    pub const PRUNE_PREFIX: &str = "Prune";

    // A status polling loop: Check → Is…Ready → WaitFor… → Check, failing in …Failed/…TimedOut.
    pub fn check(label: &str) -> String {
        format!("Check{label}")
    }
    pub fn is_ready(label: &str) -> String {
        format!("Is{label}Ready")
    }
    pub fn wait_for(label: &str) -> String {
        format!("WaitFor{label}")
    }
    pub fn failed(label: &str) -> String {
        format!("{label}Failed")
    }
    pub fn timed_out(label: &str) -> String {
        format!("{label}TimedOut")
    }

    // A converging teardown loop: Teardown… → Is…Gone → WaitFor…Teardown → Teardown….
    pub fn teardown(prefix: &str, label: &str) -> String {
        format!("{prefix}Teardown{label}")
    }
    pub fn is_gone(prefix: &str, label: &str) -> String {
        format!("{prefix}Is{label}Gone")
    }
    pub fn wait_for_teardown(prefix: &str, label: &str) -> String {
        format!("{prefix}WaitFor{label}Teardown")
    }
    pub fn teardown_failed(prefix: &str, label: &str) -> String {
        format!("{prefix}Teardown{label}Failed")
    }
    pub fn teardown_timed_out(prefix: &str, label: &str) -> String {
        format!("{prefix}Teardown{label}TimedOut")
    }
    pub fn gone(prefix: &str, label: &str) -> String {
        format!("{prefix}{label}Gone")
    }
    pub fn teardown_in_parallel(prefix: &str) -> String {
        format!("{prefix}TeardownInParallel")
    }

    // A guarded build branch of BuildInParallel.
    pub fn build(label: &str) -> String {
        format!("Build{label}")
    }
    pub fn stopped(label: &str) -> String {
        format!("{label}Stopped")
    }
    pub fn build_failed(label: &str) -> String {
        format!("{label}BuildFailed")
    }
}

/// The `shared::poll::Policy` a loop's Lambda computes its waits with, by its name in poll.rs
/// (the Wait state's comment names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollPolicy {
    Database,
    Lattice,
}

impl PollPolicy {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Database => "DATABASE",
            Self::Lattice => "LATTICE",
        }
    }

    pub const fn policy(self) -> Policy {
        match self {
            Self::Database => Policy::DATABASE,
            Self::Lattice => Policy::LATTICE,
        }
    }

    /// (Wait seconds, Task invocations after the first) of a loop that uses all its attempts.
    pub fn worst_loop(self) -> (u32, u32) {
        let p = self.policy();
        (p.bound_seconds(), p.max_attempts - 1)
    }
}

/// The repository root: the crate lives in `<root>/statemachine`.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate directory has a parent")
        .to_path_buf()
}

/// Where the generated files live.
pub fn out_dir() -> PathBuf {
    repo_root().join("statemachine")
}

/// One generated state machine.
#[derive(Debug, Clone)]
pub struct Machine {
    pub file: &'static str,
    pub doc: Value,
    /// Wait seconds on the worst path.
    pub waits: u32,
    /// Task invocations on the worst path.
    pub tasks: u32,
    pub timeout: u32,
}

impl Machine {
    /// The file's text, as Python's `json.dumps(doc, indent=2) + "\n"` writes it.
    pub fn render(&self) -> String {
        render(&self.doc)
    }

    /// The line both the generator and the budget test print for the machine.
    pub fn summary(&self) -> String {
        format!(
            "{}: worst path: {:.1} min of Waits ({} Task invocations), timeout {:.0} min",
            self.file,
            f64::from(self.waits) / 60.0,
            self.tasks,
            f64::from(self.timeout) / 60.0
        )
    }
}

/// `json.dumps(doc, indent=2) + "\n"`: serde_json's pretty printer has Python's indent and
/// separators; Python's default `ensure_ascii` escapes everything outside printable ASCII, and
/// such characters can only occur inside strings, so escaping them in the output is safe.
pub fn render(doc: &Value) -> String {
    let pretty = serde_json::to_string_pretty(doc).expect("a JSON value serializes");
    let mut out = String::with_capacity(pretty.len() + 1);
    for c in pretty.chars() {
        if c.is_ascii() && c != '\x7f' {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                write!(out, "\\u{unit:04x}").expect("writing to a String");
            }
        }
    }
    out.push('\n');
    out
}

/// (Wait seconds, Task invocations) on the longest path from `start` to the end of its scope.
///
/// A polling loop (a Choice whose Default is a Wait) costs its policy's whole bound and its
/// attempts after the first; a Parallel costs its longest branch, then continues to its Next or a
/// Catch target. Panics on a Wait outside a polling loop or a dangling state name: both are bugs
/// of this generator.
pub fn worst_path(
    states: &Map<String, Value>,
    start: &str,
    wait_policy: &HashMap<String, PollPolicy>,
) -> (u32, u32) {
    fn go(
        states: &Map<String, Value>,
        name: &str,
        wait_policy: &HashMap<String, PollPolicy>,
        memo: &mut HashMap<String, (u32, u32)>,
    ) -> (u32, u32) {
        if let Some(&cost) = memo.get(name) {
            return cost;
        }
        let s = states
            .get(name)
            .unwrap_or_else(|| panic!("{name}: no such state"));
        let next_and_catches = || {
            let mut v = vec![s.get("Next").and_then(Value::as_str)];
            v.extend(catches(s).map(|c| c["Next"].as_str()));
            v
        };
        let (here, nexts): ((u32, u32), Vec<Option<&str>>) = match s["Type"].as_str() {
            Some("Task") => ((0, 1), next_and_catches()),
            Some("Choice") => {
                let mut nexts: Vec<_> = s["Choices"]
                    .as_array()
                    .expect("Choices")
                    .iter()
                    .map(|c| c["Next"].as_str())
                    .collect();
                let default = s.get("Default").and_then(Value::as_str);
                match default {
                    Some(d) if states[d]["Type"] == "Wait" => {
                        let policy = wait_policy
                            .get(d)
                            .unwrap_or_else(|| panic!("{d}: a Wait without a policy"));
                        (policy.worst_loop(), nexts)
                    }
                    _ => {
                        nexts.push(default);
                        ((0, 0), nexts)
                    }
                }
            }
            Some("Parallel") => {
                let here = s["Branches"]
                    .as_array()
                    .expect("Branches")
                    .iter()
                    .map(|b| {
                        let start = b["StartAt"].as_str().expect("StartAt");
                        worst_path(b["States"].as_object().expect("States"), start, wait_policy)
                    })
                    .max()
                    .expect("a Parallel has branches");
                (here, next_and_catches())
            }
            Some("Pass") => ((0, 0), vec![s.get("Next").and_then(Value::as_str)]),
            Some("Wait") => panic!("{name}: a Wait outside a polling loop"),
            _ => ((0, 0), vec![]),
        };
        let rest = nexts
            .into_iter()
            .flatten()
            .map(|n| go(states, n, wait_policy, memo))
            .max()
            .unwrap_or((0, 0));
        let cost = (here.0 + rest.0, here.1 + rest.1);
        memo.insert(name.to_string(), cost);
        cost
    }
    go(states, start, wait_policy, &mut HashMap::new())
}

fn catches(s: &Value) -> impl Iterator<Item = &Value> {
    s.get("Catch")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// TimeoutSeconds for a worst path: its Waits plus the Task allowance, rounded up.
pub fn timeout_seconds(waits: u32, tasks: u32) -> u32 {
    (waits + TASK_ALLOWANCE_SECONDS * tasks).div_ceil(ROUND_TO_SECONDS) * ROUND_TO_SECONDS
}

type States = Map<String, Value>;

fn obj(v: Value) -> States {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("json!({{…}}) is an object"),
    }
}

fn retry() -> Value {
    use errors::*;
    json!([
        {"ErrorEquals": [LAMBDA_CLIENT_EXECUTION_TIMEOUT, LAMBDA_SERVICE, LAMBDA_AWS_LAMBDA, LAMBDA_SDK_CLIENT],
         "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2},
        {"ErrorEquals": [LAMBDA_TOO_MANY_REQUESTS, step::AWS_THROTTLED],
         "IntervalSeconds": 2, "MaxAttempts": 8, "BackoffRate": 2, "MaxDelaySeconds": 60, "JitterStrategy": "FULL"},
        {"ErrorEquals": [step::AWS_TRANSIENT, step::RESOURCE_CONFLICT],
         "IntervalSeconds": 5, "MaxAttempts": 5, "BackoffRate": 2},
        {"ErrorEquals": [SANDBOX_TIMEDOUT, LAMBDA_UNKNOWN],
         "IntervalSeconds": 5, "MaxAttempts": 2, "BackoffRate": 2},
    ])
}

/// What a Task hands its Lambda.
enum Payload {
    /// The whole state (`Payload.$: "$"`).
    State,
    Fixed(Value),
}

const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";

/// A Lambda Task whose output (`$.Payload`) is the next state.
fn task(function: &str, next: Option<&str>, payload: Payload, comment: Option<&str>) -> Value {
    let mut s = obj(json!({"Type": "Task", "Resource": LAMBDA_INVOKE}));
    if let Some(c) = comment {
        s.insert("Comment".into(), json!(c));
    }
    let mut params = obj(json!({"FunctionName": format!("${{{function}}}")}));
    match payload {
        Payload::State => params.insert("Payload.$".into(), json!("$")),
        Payload::Fixed(p) => params.insert("Payload".into(), p),
    };
    s.insert("Parameters".into(), Value::Object(params));
    s.insert("OutputPath".into(), json!("$.Payload"));
    s.insert("Retry".into(), retry());
    match next {
        Some(n) => s.insert("Next".into(), json!(n)),
        None => s.insert("End".into(), json!(true)),
    };
    Value::Object(s)
}

fn fail(error: &str, cause_path: String) -> Value {
    json!({"Type": "Fail", "Error": error, "CausePath": cause_path})
}

fn succeed() -> Value {
    json!({"Type": "Succeed"})
}

fn catch_all(result_path: &str, next: &str) -> Value {
    json!([{"ErrorEquals": [errors::STATES_ALL], "ResultPath": result_path, "Next": next}])
}

/// `{"StartAt": …, "States": …}` of a Parallel branch.
fn branch(start: &str, states: States) -> Value {
    json!({"StartAt": start, "States": states})
}

/// Whose lock a lock Task names.
enum LockOf<'a> {
    /// The deployment name at this path.
    Deployment(&'a str),
    /// The teardown state: the name is read as the teardown reads it.
    TeardownState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LockAction {
    Acquire,
    Release,
}

/// A teardown loop: the Lambda, the state section it reports in, what it deletes, its policy.
struct Teardown {
    label: &'static str,
    function: &'static str,
    section: &'static str,
    what: &'static str,
    policy: PollPolicy,
}

const TEARDOWN_LATTICE: Teardown = Teardown {
    label: "Lattice",
    function: "TeardownLatticeFunctionArn",
    section: "teardownLattice",
    what: "resource association -> resource configuration -> resource gateway; access logs and VPC associations -> service network",
    policy: PollPolicy::Lattice,
};
const TEARDOWN_NETWORK: Teardown = Teardown {
    label: "Network",
    function: "TeardownNetworkFunctionArn",
    section: "teardownNetwork",
    what: "security groups, once nothing uses them",
    policy: PollPolicy::Lattice,
};
/// Run in parallel; the security groups (TEARDOWN_NETWORK) go after them.
const TEARDOWN_BRANCHES: [Teardown; 3] = [
    TEARDOWN_LATTICE,
    Teardown {
        label: "Monitoring",
        function: "TeardownMonitoringFunctionArn",
        section: "teardownMonitoring",
        what: "dashboard, alarms, log group",
        policy: PollPolicy::Lattice,
    },
    Teardown {
        label: "Database",
        function: "TeardownDatabaseFunctionArn",
        section: "teardownDatabase",
        what: "deletion protection off -> database (final snapshot unless skipped) -> subnet group; adopted databases are kept",
        policy: PollPolicy::Database,
    },
];

/// A guarded build branch of BuildInParallel: its label, first state and states.
struct Build {
    label: &'static str,
    start: &'static str,
    build: fn(&mut Generator, &mut States),
}

const BUILDS: [Build; 3] = [
    Build {
        label: "Database",
        start: state::CREATE_DATABASE,
        build: Generator::db_branch,
    },
    Build {
        label: "ResourceGateway",
        start: state::CREATE_RESOURCE_GATEWAY,
        build: Generator::gw_branch,
    },
    Build {
        label: "ClientSide",
        start: state::CREATE_CLIENT_ACCESS,
        build: Generator::net_branch,
    },
];

// Labels of the status polling loops.
const DATABASE: &str = "Database";
const RESOURCE_GATEWAY: &str = "ResourceGateway";
const VPC_ASSOCIATIONS: &str = "VpcAssociations";
const RESOURCE_CONFIGURATION: &str = "ResourceConfiguration";
const RESOURCE_ASSOCIATION: &str = "ResourceAssociation";

const RELEASE_COMMENT: &str = "Not caught: a release that still fails after the retries (denied, table gone) is a fault of the stack the execution reports; the lock then ends with its lease.";

/// Builds the documents, remembering what the timeouts and leases need once they are built.
#[derive(Default)]
struct Generator {
    /// Wait state name -> the policy its Lambda computes waitSeconds with.
    wait_policy: HashMap<String, PollPolicy>,
    /// (machine file, AcquireLock state): leaseSeconds is set once the timeout is known.
    acquires: Vec<(&'static str, String)>,
}

impl Generator {
    fn wait_state(
        &mut self,
        name: &str,
        seconds_path: String,
        next: &str,
        policy: PollPolicy,
    ) -> Value {
        self.wait_policy.insert(name.to_string(), policy);
        let p = policy.policy();
        json!({
            "Type": "Wait",
            "Comment": format!(
                "waitSeconds from the Lambda's polling policy {} (shared/src/poll.rs): at most {} waits, {} s in all.",
                policy.name(),
                p.max_attempts - 1,
                p.bound_seconds()
            ),
            "SecondsPath": seconds_path,
            "Next": next,
        })
    }

    /// The deployment's lock (functions/lock): the state passes through untouched (ResultPath
    /// null). Deployment.Locked is not retried: a second execution fails fast, naming the holder.
    #[allow(clippy::too_many_arguments)]
    fn lock_task(
        &mut self,
        machine: &'static str,
        name: &str,
        action: LockAction,
        operation: &str,
        next: &str,
        of: LockOf<'_>,
        catch_next: Option<&str>,
        comment: Option<&str>,
    ) -> Value {
        let action_name = match action {
            LockAction::Acquire => "acquire",
            LockAction::Release => "release",
        };
        let mut payload = obj(json!({
            "action": action_name,
            "operation": operation,
            "execution.$": "$$.Execution.Id",
        }));
        match of {
            LockOf::Deployment(path) => payload.insert("deployment.$".into(), json!(path)),
            LockOf::TeardownState => payload.insert("state.$".into(), json!("$")),
        };
        let mut s = obj(json!({"Type": "Task", "Resource": LAMBDA_INVOKE}));
        if let Some(c) = comment {
            s.insert("Comment".into(), json!(c));
        }
        s.insert(
            "Parameters".into(),
            json!({"FunctionName": "${LockFunctionArn}", "Payload": payload}),
        );
        s.insert("ResultPath".into(), Value::Null);
        s.insert("Retry".into(), retry());
        if let Some(c) = catch_next {
            s.insert(
                "Catch".into(),
                json!([{"ErrorEquals": [errors::STATES_ALL], "ResultPath": null, "Next": c}]),
            );
        }
        s.insert("Next".into(), json!(next));
        if action == LockAction::Acquire {
            self.acquires.push((machine, name.to_string()));
        }
        Value::Object(s)
    }

    /// A status polling loop: Check (Task) -> Is…Ready (Choice) -> WaitFor… (Wait) -> Check.
    #[allow(clippy::too_many_arguments)]
    fn poll_loop(
        &mut self,
        states: &mut States,
        label: &str,
        kind: &str,
        poll_field: &str,
        next: &str,
        what: &str,
        policy: PollPolicy,
    ) {
        let (check, choice, wait) = (
            state::check(label),
            state::is_ready(label),
            state::wait_for(label),
        );
        let (failed, timed) = (state::failed(label), state::timed_out(label));
        let comment =
            format!("Poll the {what}; the result carries state, attempt and the next wait.");
        states.insert(
            check.clone(),
            task(
                "StatusFunctionArn",
                Some(&choice),
                Payload::Fixed(json!({"kind": kind, "ctx.$": "$"})),
                Some(&comment),
            ),
        );
        states.insert(
            choice,
            outcome_choice(poll_field, next, &failed, &timed, &wait),
        );
        let w = self.wait_state(&wait, format!("$.{poll_field}.waitSeconds"), &check, policy);
        states.insert(wait, w);
        states.insert(
            failed,
            fail(step::RESOURCE_FAILED, format!("$.{poll_field}.reason")),
        );
        states.insert(
            timed,
            fail(errors::POLL_TIMED_OUT, format!("$.{poll_field}.reason")),
        );
    }

    fn db_branch(&mut self, st: &mut States) {
        st.insert(
            state::CREATE_DATABASE.into(),
            task(
                "DatabaseFunctionArn",
                Some(&state::check(DATABASE)),
                Payload::State,
                Some("Step 2: create the RDS instance/cluster (managed master password) or adopt the existing one."),
            ),
        );
        self.poll_loop(
            st,
            DATABASE,
            "database",
            "databasePoll",
            state::DATABASE_DONE,
            "RDS database",
            PollPolicy::Database,
        );
        st.insert(state::DATABASE_DONE.into(), succeed());
    }

    fn gw_branch(&mut self, st: &mut States) {
        st.insert(
            state::CREATE_RESOURCE_GATEWAY.into(),
            task(
                "ResourceGatewayFunctionArn",
                Some(&state::check(RESOURCE_GATEWAY)),
                Payload::State,
                Some("Step 4: resource gateway in the database VPC, one private subnet per AZ (>= 2), with its security group."),
            ),
        );
        self.poll_loop(
            st,
            RESOURCE_GATEWAY,
            "resource-gateway",
            "gatewayPoll",
            state::RESOURCE_GATEWAY_DONE,
            "resource gateway",
            PollPolicy::Lattice,
        );
        st.insert(state::RESOURCE_GATEWAY_DONE.into(), succeed());
    }

    fn net_branch(&mut self, st: &mut States) {
        st.insert(
            state::CREATE_CLIENT_ACCESS.into(),
            task(
                "ClientAccessFunctionArn",
                Some(state::CREATE_ACCESS_CONTROLS),
                Payload::State,
                Some("Step 9 (client side): client security group, egress on the DB port to the VPC Lattice prefix list."),
            ),
        );
        st.insert(
            state::CREATE_ACCESS_CONTROLS.into(),
            task(
                "AccessControlsFunctionArn",
                Some(state::CREATE_SERVICE_NETWORK),
                Payload::State,
                Some("Step 7: the association security group admits only the client group and the sources the input names."),
            ),
        );
        st.insert(
            state::CREATE_SERVICE_NETWORK.into(),
            task(
                "ServiceNetworkFunctionArn",
                Some(&state::check(VPC_ASSOCIATIONS)),
                Payload::State,
                Some("Step 3: service network (auth type NONE) and the client VPC associations with their security group."),
            ),
        );
        self.poll_loop(
            st,
            VPC_ASSOCIATIONS,
            "vpc-associations",
            "vpcAssociationsPoll",
            state::CREATE_MONITORING,
            "client VPC associations",
            PollPolicy::Lattice,
        );
        st.insert(
            state::CREATE_MONITORING.into(),
            task(
                "MonitoringFunctionArn",
                None,
                Payload::State,
                Some("Step 8: access logs (type RESOURCE) to a log group with retention, dashboard, alarms."),
            ),
        );
    }

    /// Task (converging delete) -> Choice -> Wait -> Task, bounded by the Lambda's attempt count.
    /// Returns the Task's name, the loop's entry.
    fn converge(
        &mut self,
        states: &mut States,
        prefix: &str,
        t: &Teardown,
        what: &str,
        next: &str,
    ) -> String {
        let label = t.label;
        let task_name = state::teardown(prefix, label);
        let choice = state::is_gone(prefix, label);
        let wait = state::wait_for_teardown(prefix, label);
        let failed = state::teardown_failed(prefix, label);
        let timed = state::teardown_timed_out(prefix, label);
        let comment =
            format!("Deletes what is deletable now ({what}); reports what it still waits for.");
        states.insert(
            task_name.clone(),
            task(t.function, Some(&choice), Payload::State, Some(&comment)),
        );
        states.insert(
            choice,
            outcome_choice(t.section, next, &failed, &timed, &wait),
        );
        let w = self.wait_state(
            &wait,
            format!("$.{}.waitSeconds", t.section),
            &task_name,
            t.policy,
        );
        states.insert(wait, w);
        states.insert(
            failed,
            fail(step::RESOURCE_FAILED, format!("$.{}.reason", t.section)),
        );
        states.insert(
            timed,
            fail(errors::POLL_TIMED_OUT, format!("$.{}.reason", t.section)),
        );
        task_name
    }

    /// The teardown flow: Lattice, monitoring and the database in parallel, then the security
    /// groups. Returns its first state and its states.
    fn teardown_states(&mut self, prefix: &str, end_state: &str) -> (String, States) {
        let mut st = States::new();
        let mut branches = Vec::new();
        for t in &TEARDOWN_BRANCHES {
            let mut b = States::new();
            let gone = state::gone(prefix, t.label);
            let first = self.converge(&mut b, prefix, t, t.what, &gone);
            b.insert(gone, succeed());
            branches.push(branch(&first, b));
        }
        let mut selector = obj(json!({"request.$": "$[0].request"}));
        for (i, t) in TEARDOWN_BRANCHES.iter().enumerate() {
            selector.insert(
                format!("{}.$", t.section),
                json!(format!("$[{i}].{}", t.section)),
            );
        }
        let parallel = state::teardown_in_parallel(prefix);
        st.insert(
            parallel.clone(),
            json!({
                "Type": "Parallel",
                "Comment": "Security groups go last: the gateway's and the database's network interfaces hold them.",
                "Branches": branches,
                "ResultSelector": selector,
                "Next": state::teardown(prefix, TEARDOWN_NETWORK.label),
            }),
        );
        self.converge(
            &mut st,
            prefix,
            &TEARDOWN_NETWORK,
            TEARDOWN_NETWORK.what,
            end_state,
        );
        (parallel, st)
    }

    fn teardown_machine(&mut self) -> Value {
        use state::*;
        let mut states = States::new();
        states.insert(
            PREPARE.into(),
            json!({
                "Type": "Pass",
                "Comment": "The Lambdas read the request from $.request and keep their progress beside it.",
                "Parameters": {"request.$": "$"},
                "Next": ACQUIRE_LOCK,
            }),
        );
        let acquire = self.lock_task(
            TEARDOWN_FILE,
            ACQUIRE_LOCK,
            LockAction::Acquire,
            "teardown",
            TEARDOWN,
            LockOf::TeardownState,
            None,
            Some("One deployment, one writer: fails fast with Deployment.Locked while another execution changes it. A typo in the request fails here with Input.Invalid, before anything is deleted."),
        );
        states.insert(ACQUIRE_LOCK.into(), acquire);
        let (first, mut st) = self.teardown_states("", TEARDOWN_DONE);
        st.insert(TEARDOWN_DONE.into(), succeed());
        states.insert(
            TEARDOWN.into(),
            json!({
                "Type": "Parallel",
                "Comment": "One branch, so that one Catch covers every teardown state: the lock is given back on failure too.",
                "Branches": [branch(&first, st)],
                "OutputPath": "$[0]",
                "Catch": catch_all("$.error", RELEASE_LOCK_AFTER_FAILURE),
                "Next": RELEASE_LOCK,
            }),
        );
        let release = self.lock_task(
            TEARDOWN_FILE,
            RELEASE_LOCK,
            LockAction::Release,
            "teardown",
            TORN_DOWN,
            LockOf::TeardownState,
            None,
            Some(RELEASE_COMMENT),
        );
        states.insert(RELEASE_LOCK.into(), release);
        states.insert(TORN_DOWN.into(), succeed());
        let release = self.lock_task(
            TEARDOWN_FILE,
            RELEASE_LOCK_AFTER_FAILURE,
            LockAction::Release,
            "teardown",
            TEARDOWN_FAILED,
            LockOf::TeardownState,
            Some(TEARDOWN_FAILED),
            None,
        );
        states.insert(RELEASE_LOCK_AFTER_FAILURE.into(), release);
        states.insert(
            TEARDOWN_FAILED.into(),
            json!({
                "Type": "Fail",
                "Comment": "The original error name and cause.",
                "ErrorPath": "$.error.Error",
                "CausePath": "$.error.Cause",
            }),
        );
        json!({
            "TimeoutSeconds": null,
            "Comment": "Delete everything a deployment created, in dependency order; deleting what is gone counts as success, so it can be re-run. Input: {\"name\", \"keepDatabase\", \"skipFinalSnapshot\"} or the provisioning output.",
            "StartAt": PREPARE,
            "States": states,
        })
    }

    /// A branch that ends normally even when its steps fail, with the error in $.failure.
    ///
    /// A failing branch would otherwise stop the Parallel while a sibling's Lambda is still
    /// running (an invocation cannot be cancelled): the rollback would start, and that Lambda
    /// could then create something after the rollback had looked for it. Each branch therefore
    /// runs to its end.
    fn guarded(&mut self, b: &Build) -> Value {
        let mut inner = States::new();
        (b.build)(self, &mut inner);
        let (build, stopped) = (state::build(b.label), state::stopped(b.label));
        let mut states = States::new();
        states.insert(
            build.clone(),
            json!({
                "Type": "Parallel",
                "Branches": [branch(b.start, inner)],
                "OutputPath": "$[0]",
                "Catch": catch_all("$.failure", &stopped),
                "End": true,
            }),
        );
        states.insert(stopped, succeed());
        branch(&build, states)
    }

    /// The provisioning steps, the Provision Parallel's one branch.
    fn provision_flow(&mut self) -> States {
        use state::*;
        let mut flow = States::new();
        flow.insert(
            CREATE_DATABASE_NETWORK.into(),
            task(
                "DbNetworkFunctionArn",
                Some(BUILD_IN_PARALLEL),
                Payload::State,
                Some("Step 1: DB subnet group; gateway and database security groups, paired on the DB port."),
            ),
        );
        let branches: Vec<Value> = BUILDS.iter().map(|b| self.guarded(b)).collect();
        flow.insert(
            BUILD_IN_PARALLEL.into(),
            json!({
                "Type": "Parallel",
                "Comment": "The database takes minutes; the gateway and the client side are built meanwhile. A failed branch does not stop the others, so the rollback starts only once nothing is still being created.",
                "Branches": branches,
                "Next": DID_EVERY_BUILD_SUCCEED,
            }),
        );
        let choices: Vec<Value> = BUILDS
            .iter()
            .enumerate()
            .map(|(i, b)| json!({"Variable": format!("$[{i}].failure"), "IsPresent": true, "Next": build_failed(b.label)}))
            .collect();
        flow.insert(
            DID_EVERY_BUILD_SUCCEED.into(),
            json!({"Type": "Choice", "Choices": choices, "Default": JOIN_BUILDS}),
        );
        for (i, b) in BUILDS.iter().enumerate() {
            flow.insert(
                build_failed(b.label),
                json!({
                    "Type": "Fail",
                    "Comment": "The branch's own error name and cause.",
                    "ErrorPath": format!("$[{i}].failure.Error"),
                    "CausePath": format!("$[{i}].failure.Cause"),
                }),
            );
        }
        flow.insert(
            JOIN_BUILDS.into(),
            json!({
                "Type": "Pass",
                "Parameters": {
                    "plan.$": "$[0].plan", "dbNetwork.$": "$[0].dbNetwork",
                    "database.$": "$[0].database", "databasePoll.$": "$[0].databasePoll",
                    "gateway.$": "$[1].gateway", "gatewayPoll.$": "$[1].gatewayPoll",
                    "clientAccess.$": "$[2].clientAccess", "accessControls.$": "$[2].accessControls",
                    "serviceNetwork.$": "$[2].serviceNetwork", "vpcAssociationsPoll.$": "$[2].vpcAssociationsPoll",
                    "monitoring.$": "$[2].monitoring",
                },
                "Next": CREATE_RESOURCE_CONFIGURATION,
            }),
        );
        flow.insert(
            CREATE_RESOURCE_CONFIGURATION.into(),
            task(
                "ResourceConfigurationFunctionArn",
                Some(&check(RESOURCE_CONFIGURATION)),
                Payload::State,
                Some("Step 5: resource configuration per mode (dns: SINGLE + dnsResource on the endpoint; arn: ARN type; ip: SINGLE + ipResource)."),
            ),
        );
        self.poll_loop(
            &mut flow,
            RESOURCE_CONFIGURATION,
            "resource-configuration",
            "resourceConfigurationPoll",
            CREATE_RESOURCE_ASSOCIATION,
            "resource configuration",
            PollPolicy::Lattice,
        );
        flow.insert(
            CREATE_RESOURCE_ASSOCIATION.into(),
            task(
                "ResourceAssociationFunctionArn",
                Some(&check(RESOURCE_ASSOCIATION)),
                Payload::State,
                Some("Step 6: associate the resource configuration with the service network."),
            ),
        );
        self.poll_loop(
            &mut flow,
            RESOURCE_ASSOCIATION,
            "resource-association",
            "resourceAssociationPoll",
            PRUNE_REMOVED,
            "service-network resource association",
            PollPolicy::Lattice,
        );
        let mut prune = States::new();
        let prune_first = self.converge(
            &mut prune,
            PRUNE_PREFIX,
            &TEARDOWN_LATTICE,
            "VPC associations of client VPCs the input dropped; resource configurations other than the one clients now use, after their associations",
            PRUNE_NETWORK,
        );
        // After the network loop's states, as Python's `d[k] = f(d)` inserts them.
        let network = self.converge(
            &mut prune,
            PRUNE_PREFIX,
            &TEARDOWN_NETWORK,
            "the client and association security groups of client VPCs the input dropped, once their associations are gone",
            PRUNE_DONE,
        );
        prune.insert(
            PRUNE_NETWORK.into(),
            json!({"Type": "Pass", "Next": network}),
        );
        prune.insert(PRUNE_DONE.into(), succeed());
        flow.insert(
            PRUNE_REMOVED.into(),
            json!({
                "Type": "Parallel",
                "Comment": "Converge by removal, once clients have what this run made: the teardown Lambdas delete only what the deployment has and the input no longer asks for (prune), nothing else.",
                "Parameters": {"request": {"name.$": "$.plan.name"},
                               "prune": {"clientVpcs.$": "$.plan.clientVpcs", "resourceConfigurationId.$": "$.resourceConfiguration.id"}},
                "Branches": [branch(&prune_first, prune)],
                "ResultSelector": {
                    "lattice.$": format!("$[0].{}.removed", TEARDOWN_LATTICE.section),
                    "securityGroups.$": format!("$[0].{}.removed", TEARDOWN_NETWORK.section),
                },
                "ResultPath": "$.removed",
                "Next": CONNECTION_DETAILS,
            }),
        );
        flow.insert(
            CONNECTION_DETAILS.into(),
            json!({
                "Type": "Pass",
                "Comment": "The execution output: what clients connect to, and every resource this deployment uses.",
                "Parameters": {
                    "deployment.$": "$.plan.name",
                    "dnsName.$": "$.resourceAssociationPoll.dnsName",
                    "dnsNameFrom.$": "$.resourceAssociationPoll.dnsNameFrom",
                    "port.$": "$.plan.port",
                    "secretArn.$": "$.databasePoll.secretArn",
                    "mode.$": "$.plan.mode",
                    "database": {"kind.$": "$.database.kind", "identifier.$": "$.database.identifier", "created.$": "$.database.created",
                                 "engine.$": "$.plan.database.engine",
                                 "endpoint.$": "$.databasePoll.endpoint", "arn.$": "$.databasePoll.arn"},
                    "resources": {
                        "serviceNetworkId.$": "$.serviceNetwork.id",
                        "vpcAssociations.$": "$.serviceNetwork.vpcAssociations",
                        "resourceGatewayId.$": "$.gateway.id",
                        "resourceConfigurationId.$": "$.resourceConfiguration.id",
                        "resourceAssociationId.$": "$.resourceAssociation.id",
                        "gatewaySecurityGroupId.$": "$.dbNetwork.gatewaySecurityGroupId",
                        "databaseSecurityGroupId.$": "$.dbNetwork.dbSecurityGroupId",
                        "dbSubnetGroupName.$": "$.dbNetwork.dbSubnetGroupName",
                        "clientSecurityGroups.$": "$.clientAccess.clients",
                        "associationSecurityGroups.$": "$.accessControls.associations",
                        "logGroupName.$": "$.monitoring.logGroupName",
                        "accessLogSubscriptionId.$": "$.monitoring.accessLogSubscriptionId",
                        "dashboardName.$": "$.monitoring.dashboardName",
                        "alarmNames.$": "$.monitoring.alarmNames",
                    },
                    "changes": {
                        "removed.$": "$.removed",
                        "securityGroupRules": {"databaseNetwork.$": "$.dbNetwork.ruleChanges",
                                               "clientAccess.$": "$.clientAccess.ruleChanges",
                                               "accessControls.$": "$.accessControls.ruleChanges"},
                    },
                },
                "End": true,
            }),
        );
        flow
    }

    fn provision_machine(&mut self) -> Value {
        use state::*;
        let mut states = States::new();
        states.insert(
            VALIDATE_INPUT.into(),
            task(
                "ValidateInputFunctionArn",
                Some(ACQUIRE_LOCK),
                Payload::Fixed(json!({"input.$": "$", "execution.$": "$$.Execution.Name"})),
                Some("Checks the input against AWS's constraints and resolves VPCs, subnets and the database before anything is created. Bad input fails here with Input.Invalid."),
            ),
        );
        let acquire = self.lock_task(
            PROVISION_FILE,
            ACQUIRE_LOCK,
            LockAction::Acquire,
            "provision",
            PROVISION,
            LockOf::Deployment("$.plan.name"),
            None,
            Some("One deployment, one writer: fails fast with Deployment.Locked, naming the execution that changes it now; nothing is created or rolled back."),
        );
        states.insert(ACQUIRE_LOCK.into(), acquire);
        let flow = self.provision_flow();
        states.insert(
            PROVISION.into(),
            json!({
                "Type": "Parallel",
                "Comment": "One branch, so that one Catch covers every provisioning state: on any failure the rollback deletes what this execution created.",
                "Branches": [branch(CREATE_DATABASE_NETWORK, flow)],
                "OutputPath": "$[0]",
                "Catch": catch_all("$.error", PREPARE_ROLLBACK),
                "Next": RELEASE_LOCK,
            }),
        );
        let release = self.lock_task(
            PROVISION_FILE,
            RELEASE_LOCK,
            LockAction::Release,
            "provision",
            PROVISIONED,
            LockOf::Deployment("$.deployment"),
            None,
            Some(RELEASE_COMMENT),
        );
        states.insert(RELEASE_LOCK.into(), release);
        states.insert(PROVISIONED.into(), succeed());
        states.insert(
            PREPARE_ROLLBACK.into(),
            json!({
                "Type": "Pass",
                "Comment": "Only what this execution created (tagged with its name); an empty new database needs no final snapshot.",
                "Parameters": {"request": {"name.$": "$.plan.name", "skipFinalSnapshot": true, "onlyExecution.$": "$$.Execution.Name"},
                               "error.$": "$.error"},
                "Next": ROLLBACK,
            }),
        );
        let (rb_first, mut rb_states) = self.teardown_states(ROLLBACK_PREFIX, ROLLBACK_DONE);
        rb_states.insert(ROLLBACK_DONE.into(), succeed());
        states.insert(
            ROLLBACK.into(),
            json!({
                "Type": "Parallel",
                "Branches": [branch(&rb_first, rb_states)],
                "ResultPath": "$.rollback",
                "Catch": catch_all("$.rollbackError", ROLLBACK_FAILED),
                "Next": ROLLED_BACK,
            }),
        );
        states.insert(
            ROLLED_BACK.into(),
            json!({
                "Type": "Pass",
                "Parameters": {"Error.$": "$.error.Error", "deployment.$": "$.request.name",
                               "Cause.$": "States.Format('{} (rolled back: what this execution created was deleted)', $.error.Cause)"},
                "Next": RELEASE_LOCK_AFTER_FAILURE,
            }),
        );
        states.insert(
            ROLLBACK_FAILED.into(),
            json!({
                "Type": "Pass",
                "Parameters": {"Error.$": "$.error.Error", "deployment.$": "$.request.name",
                               "Cause.$": "States.Format('{} (rollback failed too with {}: {}; run the teardown state machine)', $.error.Cause, $.rollbackError.Error, $.rollbackError.Cause)"},
                "Next": RELEASE_LOCK_AFTER_FAILURE,
            }),
        );
        let release = self.lock_task(
            PROVISION_FILE,
            RELEASE_LOCK_AFTER_FAILURE,
            LockAction::Release,
            "provision",
            PROVISIONING_FAILED,
            LockOf::Deployment("$.deployment"),
            Some(PROVISIONING_FAILED),
            None,
        );
        states.insert(RELEASE_LOCK_AFTER_FAILURE.into(), release);
        states.insert(
            PROVISIONING_FAILED.into(),
            json!({
                "Type": "Fail",
                "Comment": "The original error name and cause.",
                "ErrorPath": "$.Error",
                "CausePath": "$.Cause",
            }),
        );
        json!({
            "TimeoutSeconds": null,
            "Comment": "Provision private access to an RDS database through Amazon VPC Lattice (see README). Every Task returns the execution state with its own section added.",
            "StartAt": VALIDATE_INPUT,
            "States": states,
        })
    }

    /// Sets the derived TimeoutSeconds, the lock leases and the comment that explains them.
    fn finish(&self, file: &'static str, mut doc: Value) -> Machine {
        let start = doc["StartAt"].as_str().expect("StartAt").to_string();
        let (waits, tasks) = worst_path(
            doc["States"].as_object().expect("States"),
            &start,
            &self.wait_policy,
        );
        let timeout = timeout_seconds(waits, tasks);
        doc["TimeoutSeconds"] = json!(timeout);
        for (_, name) in self.acquires.iter().filter(|(machine, _)| *machine == file) {
            let acquire = find_state_mut(&mut doc["States"], name)
                .unwrap_or_else(|| panic!("{file}: no state {name}"));
            acquire["Parameters"]["Payload"]["leaseSeconds"] =
                json!(timeout + LEASE_MARGIN_SECONDS);
        }
        // Still names the Python generator: the output is byte-identical to what it writes.
        let comment = format!(
            "{} TimeoutSeconds is derived (statemachine/src/lib.rs): the longest path has {waits} s of Waits and {tasks} Task invocations.",
            doc["Comment"].as_str().expect("Comment")
        );
        doc["Comment"] = json!(comment);
        Machine {
            file,
            doc,
            waits,
            tasks,
            timeout,
        }
    }
}

/// The three-way Choice after a poll: READY goes on, FAILED and TIMED_OUT fail, else wait.
fn outcome_choice(section: &str, next: &str, failed: &str, timed_out: &str, wait: &str) -> Value {
    let var = format!("$.{section}.state");
    json!({
        "Type": "Choice",
        "Choices": [
            {"Variable": var, "StringEquals": "READY", "Next": next},
            {"Variable": var, "StringEquals": "FAILED", "Next": failed},
            {"Variable": var, "StringEquals": "TIMED_OUT", "Next": timed_out},
        ],
        "Default": wait,
    })
}

/// The state called `name` in `states` or in any Parallel's branches below it.
fn find_state_mut<'a>(states: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    let states = states.as_object_mut()?;
    if states.contains_key(name) {
        return states.get_mut(name);
    }
    states.values_mut().find_map(|s| {
        s.get_mut("Branches")?
            .as_array_mut()?
            .iter_mut()
            .find_map(|b| find_state_mut(&mut b["States"], name))
    })
}

/// Both machines, in the order the files are written: provisioning, then teardown.
pub fn generate() -> Vec<Machine> {
    let mut g = Generator::default();
    // Built in Python's order (teardown first) although only the file order shows.
    let teardown = g.teardown_machine();
    let provision = g.provision_machine();
    vec![
        g.finish(PROVISION_FILE, provision),
        g.finish(TEARDOWN_FILE, teardown),
    ]
}

/// The wait policies the generator recorded, for tests that recompute the worst path.
pub fn wait_policies() -> HashMap<String, PollPolicy> {
    let mut g = Generator::default();
    g.teardown_machine();
    g.provision_machine();
    g.wait_policy
}

#[cfg(test)]
mod tests;
