//! `lattice-db-access`: the front door to the provisioning and teardown state machines, over
//! `aws-sdk-sfn` (the same against AWS and the local stack: endpoints come from the standard
//! `AWS_ENDPOINT_URL_*` variables).

pub mod connect;
pub mod doctor;
pub mod progress;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};

use progress::{Event, View};

/// Exit codes (documented in the README and `--help`).
pub mod exit {
    pub const OK: i32 = 0;
    /// The workflow failed (its error name and cause are printed), or `doctor` found drift.
    pub const FAILED: i32 = 1;
    /// Bad usage or a bad input (nothing was started).
    pub const USAGE: i32 = 2;
    /// AWS refused or could not be reached (credentials, permissions, endpoint).
    pub const AWS: i32 = 3;
    /// Ctrl-C while following: detached, the execution goes on.
    pub const DETACHED: i32 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Aws(String),
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn code(&self) -> i32 {
        match self {
            Self::Usage(_) => exit::USAGE,
            Self::Aws(_) => exit::AWS,
            Self::Failed(_) => exit::FAILED,
        }
    }
}

/// An SDK error of any of the clients (they share one error type), classified and worded as the
/// steps report it (`shared::StepError::from_sdk`).
pub(crate) fn aws<E, R>(operation: &str, e: aws_sdk_sfn::error::SdkError<E, R>) -> CliError
where
    E: aws_sdk_sfn::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    shared::StepError::from_sdk(operation, &e).into()
}

/// What the shared AWS helpers report: AWS refused or could not be reached.
impl From<shared::StepError> for CliError {
    fn from(e: shared::StepError) -> Self {
        CliError::Aws(e.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// Provision, follow, inspect, connect to and tear down private database access over VPC Lattice.
///
/// Exit codes: 0 ok; 1 the workflow failed (error name and cause printed) or doctor found drift;
/// 2 usage or bad input; 3 AWS or credentials; 130 detached with Ctrl-C (the execution goes on).
#[derive(Debug, Parser)]
#[command(name = "lattice-db-access", version)]
pub struct Cli {
    /// The CloudFormation stack whose outputs name the state machines.
    #[arg(long, global = true, default_value = "lattice-db-access")]
    pub stack: String,
    /// The provisioning state machine (instead of the stack's output).
    #[arg(long, global = true)]
    pub provision_arn: Option<String>,
    /// The teardown state machine (instead of the stack's output).
    #[arg(long, global = true)]
    pub teardown_arn: Option<String>,
    /// AWS Region (as the AWS CLI: else AWS_REGION, the profile's).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile (as the AWS CLI).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// `json` is stable: one JSON document on stdout (progress goes to stderr).
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Seconds between two looks at a running execution.
    #[arg(long, global = true, default_value_t = 2.0, hide = true)]
    pub poll_seconds: f64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate an input locally, start the provisioning workflow and follow it.
    Provision {
        /// The input document (`-` for stdin).
        input: String,
        /// Print the execution ARN and return.
        #[arg(long)]
        no_wait: bool,
    },
    /// Attach to an execution (running or finished): a deployment's latest, or an execution ARN.
    Follow { target: String },
    /// A deployment's last executions, its resources and where its configuration points.
    Status { deployment: String },
    /// The deployments this stack has provisioned, one line each.
    List,
    /// How a client connects: DNS name, port, secret, security group, and the command.
    Connect { deployment: String },
    /// Compare what exists in AWS with what the deployment's input asks for; exit 1 on drift.
    Doctor { deployment: String },
    /// Start the teardown workflow and follow it.
    Teardown {
        deployment: String,
        /// Keep the database this deployment created.
        #[arg(long)]
        keep_database: bool,
        /// Delete a created database without a final snapshot.
        #[arg(long)]
        skip_final_snapshot: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// The two state machines.
#[derive(Debug, Clone)]
pub struct Machines {
    pub provision: String,
    pub teardown: String,
}

pub async fn machines(
    cli: &Cli,
    cfn: &aws_sdk_cloudformation::Client,
) -> Result<Machines, CliError> {
    if let (Some(p), Some(t)) = (&cli.provision_arn, &cli.teardown_arn) {
        return Ok(Machines {
            provision: p.clone(),
            teardown: t.clone(),
        });
    }
    let out = cfn
        .describe_stacks()
        .stack_name(&cli.stack)
        .send()
        .await
        .map_err(|e| {
            CliError::Aws(format!(
                "stack {}: {} (deploy with `sam deploy`, or pass --provision-arn and \
                 --teardown-arn)",
                cli.stack,
                aws("cloudformation:DescribeStacks", e)
            ))
        })?;
    let outputs = out
        .stacks()
        .first()
        .map(|s| s.outputs().to_vec())
        .unwrap_or_default();
    let find = |key: &str| {
        outputs
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .map(str::to_string)
    };
    let missing = |key: &str| {
        CliError::Aws(format!(
            "stack {} has no output {key}: is it a lattice-db-access stack?",
            cli.stack
        ))
    };
    Ok(Machines {
        provision: cli
            .provision_arn
            .clone()
            .or_else(|| find("ProvisionStateMachineArn"))
            .ok_or_else(|| missing("ProvisionStateMachineArn"))?,
        teardown: cli
            .teardown_arn
            .clone()
            .or_else(|| find("TeardownStateMachineArn"))
            .ok_or_else(|| missing("TeardownStateMachineArn"))?,
    })
}

/// The input, checked with the code `ValidateInput` runs before any AWS call.
pub fn validate_locally(text: &str) -> Result<(Value, String), CliError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| CliError::Usage(format!("the input is not JSON: {e}")))?;
    let input: shared::input::ProvisionInput = shared::input::parse(value.clone())
        .map_err(|e| CliError::Usage(format!("invalid input: {e}")))?;
    input
        .validate()
        .map_err(|e| CliError::Usage(format!("invalid input: {e}")))?;
    Ok((value, input.name.clone()))
}

/// `<deployment>-<UTC timestamp>`: readable, sortable, unique per second.
pub fn execution_name(deployment: &str, now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil(days as i64);
    format!(
        "{deployment}-{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) (H. Hinnant's civil_from_days).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The deployment an execution name belongs to, when the CLI named it.
pub fn deployment_of_name(name: &str) -> Option<&str> {
    let (d, stamp) = name.rsplit_once('-')?;
    let ok = stamp.len() == 16
        && stamp.ends_with('Z')
        && stamp.as_bytes()[8] == b'T'
        && stamp[..8].bytes().all(|b| b.is_ascii_digit());
    (ok && !d.is_empty()).then_some(d)
}

fn event(h: &HistoryEvent) -> Event {
    let kind = h.r#type().as_str().to_string();
    let (state, data) = if let Some(d) = h.state_entered_event_details() {
        (Some(d.name().to_string()), d.input().map(str::to_string))
    } else if let Some(d) = h.state_exited_event_details() {
        (Some(d.name().to_string()), d.output().map(str::to_string))
    } else if let Some(d) = h.execution_succeeded_event_details() {
        (None, d.output().map(str::to_string))
    } else {
        (None, None)
    };
    let error = h
        .execution_failed_event_details()
        .map(|d| (d.error(), d.cause()))
        .or_else(|| {
            h.task_failed_event_details()
                .map(|d| (d.error(), d.cause()))
        })
        .map(|(e, c)| {
            (
                e.unwrap_or("States.Unknown").to_string(),
                c.unwrap_or("").to_string(),
            )
        });
    Event {
        id: h.id(),
        timestamp: h.timestamp().as_secs_f64(),
        kind,
        state,
        data,
        error,
    }
}

/// The events after `after` (ids grow by one), oldest first: read newest first, so following a
/// long execution does not re-read its whole history every time.
async fn events_after(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
    after: i64,
) -> Result<Vec<Event>, CliError> {
    let mut out = Vec::new();
    let mut token = None;
    'pages: loop {
        let page = sfn
            .get_execution_history()
            .execution_arn(arn)
            .reverse_order(true)
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws("states:GetExecutionHistory", e))?;
        for h in page.events() {
            if h.id() <= after {
                break 'pages;
            }
            out.push(event(h));
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.reverse();
    Ok(out)
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    pub arn: String,
    pub status: String,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// Follow `arn` until it ends, a line per event worth one on `err` (progress), then its end.
pub async fn follow(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
    poll: Duration,
    err: &mut (dyn Write + Send),
    terminal: bool,
) -> Result<Ended, CliError> {
    let mut view = View::default();
    let mut last = 0;
    let mut previous = String::new();
    loop {
        let d = sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .map_err(|e| aws("states:DescribeExecution", e))?;
        for ev in events_after(sfn, arn, last).await? {
            last = ev.id;
            if let Some(line) = view.line(&ev) {
                if terminal && progress::replaces(&previous, &line) {
                    // Up one line and clear it: the loop's new state replaces its old one.
                    let _ = write!(err, "\x1b[1A\x1b[2K");
                }
                let _ = writeln!(err, "{line}");
                previous = line;
            }
        }
        if d.status() != &ExecutionStatus::Running {
            return Ok(Ended {
                arn: arn.to_string(),
                status: d.status().as_str().to_string(),
                output: d.output().and_then(|o| serde_json::from_str(o).ok()),
                error: d.error().map(str::to_string),
                cause: d.cause().map(str::to_string),
            });
        }
        tokio::time::sleep(poll).await;
    }
}

/// Start an execution of `machine`.
pub async fn start(
    sfn: &aws_sdk_sfn::Client,
    machine: &str,
    name: &str,
    input: &Value,
) -> Result<String, CliError> {
    let out = sfn
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .map_err(|e| aws("states:StartExecution", e))?;
    Ok(out.execution_arn().to_string())
}

/// An execution summary with the deployment it belongs to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub deployment: String,
    pub workflow: &'static str,
    pub name: String,
    pub arn: String,
    pub status: String,
    pub start: f64,
    pub stop: Option<f64>,
}

/// Every execution of `machine`, newest first, with its deployment (from the name the CLI gives,
/// else from the execution's input).
pub async fn runs(
    sfn: &aws_sdk_sfn::Client,
    machine: &str,
    workflow: &'static str,
) -> Result<Vec<Run>, CliError> {
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let page = sfn
            .list_executions()
            .state_machine_arn(machine)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws("states:ListExecutions", e))?;
        for e in page.executions() {
            let deployment = match deployment_of_name(e.name()) {
                Some(d) => d.to_string(),
                None => deployment_of_input(sfn, e.execution_arn()).await?,
            };
            all.push(Run {
                deployment,
                workflow,
                name: e.name().to_string(),
                arn: e.execution_arn().to_string(),
                status: e.status().as_str().to_string(),
                start: e.start_date().as_secs_f64(),
                stop: e.stop_date().map(|d| d.as_secs_f64()),
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    all.sort_by(|a, b| b.start.total_cmp(&a.start));
    Ok(all)
}

/// The runs of both workflows, newest first; with `deployment`, only its own.
pub async fn all_runs(
    sfn: &aws_sdk_sfn::Client,
    m: &Machines,
    deployment: Option<&str>,
) -> Result<Vec<Run>, CliError> {
    let mut all = runs(sfn, &m.provision, "provision").await?;
    all.extend(runs(sfn, &m.teardown, "teardown").await?);
    all.retain(|r| deployment.is_none_or(|d| r.deployment == d));
    all.sort_by(|a, b| b.start.total_cmp(&a.start));
    Ok(all)
}

async fn deployment_of_input(sfn: &aws_sdk_sfn::Client, arn: &str) -> Result<String, CliError> {
    let d = sfn
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .map_err(|e| aws("states:DescribeExecution", e))?;
    let input: Value = d
        .input()
        .and_then(|i| serde_json::from_str(i).ok())
        .unwrap_or_default();
    Ok(input["name"]
        .as_str()
        .or(input["deployment"].as_str())
        .unwrap_or("?")
        .to_string())
}

/// The deployment's latest successful provisioning: its ARN and output.
pub async fn provisioned_run(
    sfn: &aws_sdk_sfn::Client,
    m: &Machines,
    deployment: &str,
) -> Result<(String, Value), CliError> {
    let runs = runs(sfn, &m.provision, "provision").await?;
    last_success(sfn, &runs, deployment).await
}

/// Of `runs` (newest first), the deployment's latest successful provisioning: its ARN and output.
pub async fn last_success(
    sfn: &aws_sdk_sfn::Client,
    runs: &[Run],
    deployment: &str,
) -> Result<(String, Value), CliError> {
    let Some(run) = runs.iter().find(|r| {
        r.deployment == deployment && r.workflow == "provision" && r.status == "SUCCEEDED"
    }) else {
        return Err(CliError::Usage(format!(
            "deployment `{deployment}` has no successful provisioning in this stack"
        )));
    };
    let d = sfn
        .describe_execution()
        .execution_arn(&run.arn)
        .send()
        .await
        .map_err(|e| aws("states:DescribeExecution", e))?;
    let output = d
        .output()
        .and_then(|o| serde_json::from_str(o).ok())
        .ok_or_else(|| CliError::Aws(format!("execution {} has no output", run.arn)))?;
    Ok((run.arn.clone(), output))
}

/// Where the deployment's Lattice resources stand in AWS now, and the primary and standby the
/// configuration's tags name (what the failover Lambda keeps current): for `status`.
pub async fn live(lattice: &aws_sdk_vpclattice::Client, output: &Value) -> Result<Value, CliError> {
    let r = &output["resources"];
    let id = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    let gateway = or_gone(
        lattice
            .get_resource_gateway()
            .resource_gateway_identifier(id("resourceGatewayId"))
            .send()
            .await,
        "vpc-lattice:GetResourceGateway",
        |g| g.status().map(|s| s.as_str().to_string()),
    )?;
    let association = or_gone(
        lattice
            .get_service_network_resource_association()
            .service_network_resource_association_identifier(id("resourceAssociationId"))
            .send()
            .await,
        "vpc-lattice:GetServiceNetworkResourceAssociation",
        |a| a.status().map(|s| s.as_str().to_string()),
    )?;
    let (configuration, primary, standby) = match lattice
        .get_resource_configuration()
        .resource_configuration_identifier(id("resourceConfigurationId"))
        .send()
        .await
    {
        Ok(c) => {
            let tags = shared::lattice::tags_of(lattice, c.arn().unwrap_or_default()).await?;
            let name = |d: Option<shared::plan::DbRef>| {
                d.map(|d| format!("{} {}", d.kind.as_str(), d.identifier))
            };
            (
                c.status().map(|s| s.as_str().to_string()),
                name(shared::plan::DbRef::tagged_primary(&tags)),
                name(shared::plan::DbRef::tagged_standby(&tags)),
            )
        }
        Err(e) => (
            or_gone::<(), _>(Err(e), "vpc-lattice:GetResourceConfiguration", |_| None)?,
            None,
            None,
        ),
    };
    Ok(json!({
        "resourceGateway": gateway, "resourceConfiguration": configuration,
        "resourceAssociation": association, "primary": primary, "standby": standby,
    }))
}

/// A Lattice read's status, or `gone` when the resource no longer exists.
fn or_gone<T, E>(
    result: Result<T, aws_sdk_vpclattice::error::SdkError<E>>,
    operation: &str,
    status: impl FnOnce(T) -> Option<String>,
) -> Result<Option<String>, CliError>
where
    E: aws_sdk_vpclattice::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(t) => Ok(status(t)),
        Err(e) => match shared::StepError::from_sdk(operation, &e) {
            e if e.name() == shared::error::names::RESOURCE_NOT_FOUND => Ok(Some("gone".into())),
            e => Err(e.into()),
        },
    }
}

/// `status` as text: the recent executions, the endpoint, and where things stand now.
pub fn status_text(
    deployment: &str,
    recent: &[Run],
    output: Option<&Value>,
    now: &Value,
) -> String {
    let mut text = format!("deployment {deployment}\n");
    for r in recent {
        text.push_str(&format!(
            "  {:<9} {:<10} {}\n",
            r.workflow, r.status, r.name
        ));
    }
    if let Some(o) = output {
        let s = |k: &str| now[k].as_str().unwrap_or("-").to_string();
        text.push_str(&format!(
            "endpoint   {}:{}\ndatabase   {} {}\nprimary    {} (standby {})\nresources  gateway {}, configuration {}, association {}",
            o["dnsName"].as_str().unwrap_or("?"),
            o["port"],
            o["database"]["kind"].as_str().unwrap_or("?"),
            o["database"]["identifier"].as_str().unwrap_or("?"),
            s("primary"),
            s("standby"),
            s("resourceGateway"),
            s("resourceConfiguration"),
            s("resourceAssociation"),
        ));
    }
    text.trim_end().to_string()
}

/// The end of a followed execution as the user reads it, and its exit code.
pub fn report(ended: &Ended, output: Output) -> (String, i32) {
    let ok = ended.status == "SUCCEEDED";
    let code = if ok { exit::OK } else { exit::FAILED };
    let text = match output {
        Output::Json => serde_json::to_string_pretty(&json!({
            "executionArn": ended.arn, "status": ended.status, "output": ended.output,
            "error": ended.error, "cause": ended.cause,
        }))
        .unwrap_or_default(),
        Output::Text if ok => match ended
            .output
            .as_ref()
            .map(connect::from_output)
            .and_then(Result::ok)
        {
            Some(c) => connect::render(&c),
            None => format!("{} {}", ended.status, ended.arn),
        },
        Output::Text => format!(
            "{} {}\nError: {}\nCause: {}",
            ended.status,
            ended.arn,
            ended.error.as_deref().unwrap_or("-"),
            ended.cause.as_deref().unwrap_or("-")
        ),
    };
    (text, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_carry_the_deployment_and_the_utc_time() {
        // 2026-12-07T22:30:05Z
        let t = UNIX_EPOCH + Duration::from_secs(1_796_682_605);
        let n = execution_name("orders", t);
        assert_eq!(n, "orders-20261207T223005Z");
        assert_eq!(deployment_of_name(&n), Some("orders"));
        assert_eq!(deployment_of_name("my-db-20261207T223005Z"), Some("my-db"));
        assert_eq!(deployment_of_name("run-1765000000000"), None);
        assert_eq!(execution_name("a", UNIX_EPOCH), "a-19700101T000000Z");
    }

    #[test]
    fn a_typo_is_refused_locally_naming_the_field() {
        let mut doc: Value =
            serde_json::from_str(include_str!("../../events/provision.json")).unwrap();
        assert_eq!(validate_locally(&doc.to_string()).unwrap().1, "orders");
        doc["name"] = json!("Orders!");
        let e = validate_locally(&doc.to_string()).unwrap_err();
        assert_eq!(e.code(), exit::USAGE);
        assert!(e.to_string().starts_with("invalid input: name"), "{e}");
        doc["name"] = json!("orders");
        doc["port"] = json!(70000);
        let e = validate_locally(&doc.to_string()).unwrap_err();
        assert!(e.to_string().contains("port"), "{e}");
        assert!(validate_locally("{").is_err());
    }

    use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
    use aws_sdk_sfn::operation::get_execution_history::GetExecutionHistoryOutput;
    use aws_sdk_sfn::types::{
        ExecutionFailedEventDetails, HistoryEventType, StateEnteredEventDetails,
    };
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::DateTime;

    fn history(
        id: i64,
        kind: HistoryEventType,
    ) -> aws_sdk_sfn::types::builders::HistoryEventBuilder {
        HistoryEvent::builder()
            .id(id)
            .r#type(kind)
            .timestamp(DateTime::from_secs(1_796_682_600 + id))
    }

    #[tokio::test]
    async fn follow_reads_only_new_events_newest_first_and_reports_the_failure() {
        const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:p:orders-1";
        let running = mock!(aws_sdk_sfn::Client::describe_execution)
            .sequence()
            .output(|| {
                DescribeExecutionOutput::builder()
                    .execution_arn(ARN)
                    .state_machine_arn("arn:sm")
                    .status(ExecutionStatus::Running)
                    .start_date(DateTime::from_secs(0))
                    .build()
                    .unwrap()
            })
            .output(|| {
                DescribeExecutionOutput::builder()
                    .execution_arn(ARN)
                    .state_machine_arn("arn:sm")
                    .status(ExecutionStatus::Failed)
                    .start_date(DateTime::from_secs(0))
                    .error("Input.Invalid")
                    .cause("port: out of range")
                    .build()
                    .unwrap()
            })
            .build();
        let entered = || {
            history(2, HistoryEventType::TaskStateEntered)
                .state_entered_event_details(
                    StateEnteredEventDetails::builder()
                        .name("ValidateInput")
                        .input("{}")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        };
        let pages = mock!(aws_sdk_sfn::Client::get_execution_history)
            .sequence()
            // First look: two events, newest first.
            .output(move || {
                GetExecutionHistoryOutput::builder()
                    .events(entered())
                    .events(
                        history(1, HistoryEventType::ExecutionStarted)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap()
            })
            // Second look: the new failure, then the events already shown (not read further).
            .output(move || {
                GetExecutionHistoryOutput::builder()
                    .events(
                        history(3, HistoryEventType::ExecutionFailed)
                            .execution_failed_event_details(
                                ExecutionFailedEventDetails::builder()
                                    .error("Input.Invalid")
                                    .cause("port: out of range")
                                    .build(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .events(entered())
                    .next_token("more")
                    .build()
                    .unwrap()
            })
            .build();
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&running, &pages]);
        let mut err = Vec::new();
        let ended = follow(&sfn, ARN, Duration::from_millis(1), &mut err, false)
            .await
            .unwrap();
        let text = String::from_utf8(err).unwrap();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "[    0.0s] execution started",
                "[    1.0s] → validate input",
                "[    2.0s] execution failed: Input.Invalid: port: out of range",
            ]
        );
        assert_eq!(
            pages.num_calls(),
            2,
            "the page with the seen events ends the read"
        );
        let (report, code) = report(&ended, Output::Text);
        assert_eq!(code, exit::FAILED);
        assert!(report.contains("Error: Input.Invalid"), "{report}");
    }

    #[test]
    fn a_failed_run_reports_its_error_and_cause_with_exit_1() {
        let ended = Ended {
            arn: "arn:x".into(),
            status: "FAILED".into(),
            output: None,
            error: Some("Input.Invalid".into()),
            cause: Some("clientVpcs[0]: vpc-1 not found".into()),
        };
        let (text, code) = report(&ended, Output::Text);
        assert_eq!(code, exit::FAILED);
        assert!(text.contains("Error: Input.Invalid\nCause: clientVpcs[0]: vpc-1 not found"));
    }
}
