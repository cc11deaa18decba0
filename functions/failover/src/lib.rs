//! Failover: keeps every resource configuration pointed at its database's current primary.
//!
//! Triggered by RDS failover and blue/green switchover events (EventBridge `aws.rds`) and by a
//! 5-minute schedule; both run the same reconcile. The event only says *which* configurations to
//! look at: the truth (RDS, the configuration) is always re-read, so duplicates, replays and late
//! events are harmless and can never move a configuration back to an old primary.
//!
//! Per mode (tag `lattice-db-access:mode`):
//! - `dns`: the RDS endpoint is stable across Multi-AZ and cluster failovers, so this verifies;
//!   it repoints only when the standby recorded in the tags has taken over (a different endpoint).
//! - `ip`: the endpoint's address changes on failover: re-resolve and repoint.
//! - `arn`: AWS follows the database; ARN definitions are not updatable, so this only verifies.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_sdk_vpclattice::types::{
    DnsResource, IpResource, ResourceConfigurationDefinition, ResourceConfigurationIpAddressType,
    ResourceConfigurationStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::error::{error_code, names};
use shared::input::Mode;
use shared::plan::{DbKind, DbRef};
use shared::{tags, SdkResultExt, StepError};

pub const COMPONENT: &str = "failover";

/// Waits between attempts while a configuration is busy (`*_IN_PROGRESS`, `ConflictException`).
pub const BACKOFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// Multi-AZ instance failover (started, standby promoted, completed), Multi-AZ re-activated after
/// a recovery in the same AZ (started, completed), cluster failover (completed, started same-AZ /
/// cross-AZ), blue/green switchover completed (deployment, per RDS database, per Aurora cluster).
/// The same list as the EventBridge rule in template.yaml (a test checks it).
///
/// Not handled: switchover started (0247/0250/0259: the databases are being renamed, a read in the
/// middle sees neither side settled) and canceled (0249/0252/0261: nothing moved). The 5-minute
/// schedule reconciles everything anyway.
pub const HANDLED_EVENTS: &[&str] = &[
    "RDS-EVENT-0013",
    "RDS-EVENT-0015",
    "RDS-EVENT-0049",
    "RDS-EVENT-0050",
    "RDS-EVENT-0051",
    "RDS-EVENT-0071",
    "RDS-EVENT-0072",
    "RDS-EVENT-0073",
    "RDS-EVENT-0248",
    "RDS-EVENT-0251",
    "RDS-EVENT-0260",
];

/// Blue/green switchover completed: for the deployment (0248), one RDS database (0251), one
/// Aurora cluster (0260). RDS lists them with the deployment's events (source `bgd-…`); whatever
/// they name, the switchover renamed the databases (`blue` → `blue-old1`, `green` → `blue`), so
/// every configuration is checked against the truth.
pub const SWITCHOVER_COMPLETED: &[&str] = &["RDS-EVENT-0248", "RDS-EVENT-0251", "RDS-EVENT-0260"];

const INSTANCE_EVENT: &str = "RDS DB Instance Event";
const CLUSTER_EVENT: &str = "RDS DB Cluster Event";
/// Detail-type of the blue/green deployment events (EventBridge events-ref-rds).
const BLUE_GREEN_EVENT: &str = "RDS Blue Green Deployment Event";

/// `detail` of an `aws.rds` event (AWS spells it `EventID`, with a capital ID).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RdsEventDetail {
    #[serde(rename = "EventID")]
    pub event_id: String,
    #[serde(default)]
    pub source_arn: Option<String>,
    /// `my-db` in AWS's documented samples; an older sample showed `rds:my-db`, so a prefix
    /// is stripped. `bgd-…` for blue/green deployment events.
    #[serde(default)]
    pub source_identifier: Option<String>,
    /// `DB_INSTANCE`, `CLUSTER`, `BLUE_GREEN_DEPLOYMENT`, ...
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub event_categories: Vec<String>,
}

impl RdsEventDetail {
    /// The source's identifier: `SourceIdentifier` without its `rds:` prefix, else the
    /// resource name at the end of `SourceArn` (`arn:aws:rds:<region>:<account>:db:<name>`).
    pub fn identifier(&self) -> Option<String> {
        let from_id = self
            .source_identifier
            .as_deref()
            .map(|s| s.strip_prefix("rds:").unwrap_or(s).trim().to_string());
        let from_arn = || {
            self.source_arn
                .as_deref()
                .and_then(|a| a.splitn(7, ':').nth(6))
                .map(|s| s.trim().to_string())
        };
        from_id
            .filter(|s| !s.is_empty())
            .or_else(|| from_arn().filter(|s| !s.is_empty()))
    }
}

/// Resolves the primary's endpoint for `ip` mode.
pub trait Resolver: Sync {
    fn resolve_ipv4(&self, host: &str) -> impl Future<Output = Result<Ipv4Addr, StepError>> + Send;
}

/// The real resolver: the system's (inside the database VPC when the function runs there).
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsResolver;

impl Resolver for DnsResolver {
    async fn resolve_ipv4(&self, host: &str) -> Result<Ipv4Addr, StepError> {
        let unresolved = |message: String| StepError::Transient {
            operation: "dns:Resolve".into(),
            message,
        };
        tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| unresolved(format!("resolving `{host}`: {e}")))?
            .find_map(|a| match a.ip() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
            .ok_or_else(|| unresolved(format!("`{host}` has no IPv4 address")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    Event,
    Schedule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Repointed,
    Unchanged,
    Ignored,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigResult {
    pub resource_configuration_id: String,
    pub mode: Option<Mode>,
    pub outcome: Outcome,
    pub reason: String,
    /// The definition's value before (domain name, IP or ARN).
    pub from: Option<String>,
    /// The value it should have (and has, unless `failed`, or `arn` mode).
    pub to: Option<String>,
    /// The primary the decision was based on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Clusters: the writer instance at the time of the check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub trigger: TriggerKind,
    pub event_id: Option<String>,
    /// The identifier the event names.
    pub database: Option<String>,
    /// Why the whole event was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// Event `time` to the repoint, when this invocation repointed something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repoint_latency_ms: Option<u64>,
    pub results: Vec<ConfigResult>,
}

/// A summary and the error of the first configuration that failed: the invocation fails with
/// it (after every configuration was handled) so the async retry and the DLQ see it.
#[derive(Debug)]
pub struct Report {
    pub summary: Summary,
    pub error: Option<StepError>,
}

pub async fn handle<R: Resolver>(
    lattice: &aws_sdk_vpclattice::Client,
    rds: &aws_sdk_rds::Client,
    resolver: &R,
    event: Value,
    now: SystemTime,
) -> Result<Summary, StepError> {
    handle_with_backoff(lattice, rds, resolver, event, now, &BACKOFF).await
}

/// [`handle`] with injectable waits (tests run them instantly).
pub async fn handle_with_backoff<R: Resolver>(
    lattice: &aws_sdk_vpclattice::Client,
    rds: &aws_sdk_rds::Client,
    resolver: &R,
    event: Value,
    now: SystemTime,
    backoff: &[Duration],
) -> Result<Summary, StepError> {
    let report = reconcile(lattice, rds, resolver, event, now, backoff).await?;
    match report.error {
        None => Ok(report.summary),
        Some(e) => {
            let summary = serde_json::to_string(&report.summary).unwrap_or_default();
            tracing::error!(summary = %summary, "some configurations failed");
            Err(e)
        }
    }
}

/// Everything [`handle`] does, returning the summary even when a configuration failed.
pub async fn reconcile<R: Resolver>(
    lattice: &aws_sdk_vpclattice::Client,
    rds: &aws_sdk_rds::Client,
    resolver: &R,
    event: Value,
    now: SystemTime,
    backoff: &[Duration],
) -> Result<Report, StepError> {
    let parsed = parse_event(event)?;
    let mut summary = Summary {
        trigger: parsed.trigger,
        event_id: parsed.event_id.clone(),
        database: parsed.database.clone(),
        ignored: None,
        repoint_latency_ms: None,
        results: vec![],
    };
    let scope = match parsed.action {
        Action::Reconcile(scope) => scope,
        Action::Ignore(reason) => return Ok(ignored(summary, reason)),
    };
    let candidates = find_configurations(lattice, &scope).await?;
    if candidates.is_empty() {
        let reason = match &scope {
            Scope::Database(db) => format!("ignored: no configuration fronts {}", db.identifier),
            Scope::All => "ignored: no configuration of any deployment".to_string(),
        };
        return Ok(ignored(summary, reason));
    }

    let cx = Cx {
        lattice,
        rds,
        resolver,
        backoff,
        trigger: parsed.trigger,
    };
    let mut error = None;
    for cand in &candidates {
        let mut row = Row::default();
        let (outcome, reason) = match reconcile_one(&cx, cand, &mut row).await {
            Ok(done) => done,
            Err(e) => {
                let reason = e.to_string();
                error.get_or_insert(e);
                (Outcome::Failed, reason)
            }
        };
        let mode = row.mode.map(Mode::as_str).unwrap_or("-");
        let db = row.database.as_deref().unwrap_or("-");
        let (from, to) = (
            row.from.as_deref().unwrap_or("-"),
            row.to.as_deref().unwrap_or("-"),
        );
        let writer = row.writer.as_deref().unwrap_or("-");
        let deployment = cand.identity.deployment.as_deref().unwrap_or("-");
        let outcome_name = outcome_str(outcome);
        if outcome == Outcome::Failed {
            tracing::error!(rcfg_id = %cand.id, deployment, db_identifier = db, mode, outcome = outcome_name, reason = %reason, from, to, writer, "failover reconcile");
        } else {
            tracing::info!(rcfg_id = %cand.id, deployment, db_identifier = db, mode, outcome = outcome_name, reason = %reason, from, to, writer, "failover reconcile");
        }
        summary.results.push(ConfigResult {
            resource_configuration_id: cand.id.clone(),
            mode: row.mode,
            outcome,
            reason,
            from: row.from,
            to: row.to,
            database: row.database,
            writer: row.writer,
        });
    }

    let repointed = summary
        .results
        .iter()
        .any(|r| r.outcome == Outcome::Repointed);
    if repointed && parsed.trigger == TriggerKind::Event {
        summary.repoint_latency_ms = parsed.time_ms.map(|t| {
            let now_ms = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or_default();
            now_ms.saturating_sub(t).max(0) as u64
        });
    }
    emit_metrics(&summary);
    Ok(Report { summary, error })
}

fn ignored(mut summary: Summary, reason: String) -> Report {
    tracing::info!(
        event_id = summary.event_id.as_deref().unwrap_or("-"),
        database = summary.database.as_deref().unwrap_or("-"),
        outcome = "ignored",
        reason = %reason,
        "failover event ignored"
    );
    summary.ignored = Some(reason);
    emit_metrics(&summary);
    Report {
        summary,
        error: None,
    }
}

fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Repointed => "repointed",
        Outcome::Unchanged => "unchanged",
        Outcome::Ignored => "ignored",
        Outcome::Failed => "failed",
    }
}

fn emit_metrics(summary: &Summary) {
    let count = |o: Outcome| summary.results.iter().filter(|r| r.outcome == o).count() as f64;
    let ignored = count(Outcome::Ignored) + f64::from(u8::from(summary.ignored.is_some()));
    shared::emf::emit(
        &[("Function", COMPONENT)],
        &[
            ("Repointed", count(Outcome::Repointed), "Count"),
            ("Unchanged", count(Outcome::Unchanged), "Count"),
            ("Ignored", ignored, "Count"),
            ("Failed", count(Outcome::Failed), "Count"),
        ],
    );
    if let Some(ms) = summary.repoint_latency_ms {
        shared::emf::emit(
            &[("Function", COMPONENT)],
            &[("RepointLatencyMs", ms as f64, "Milliseconds")],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The event

#[derive(Debug, Clone, PartialEq)]
enum Scope {
    /// Every configuration of every deployment (schedule, deployment-level blue/green events).
    All,
    /// Configurations whose primary or standby is this database.
    Database(DbRef),
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    Reconcile(Scope),
    Ignore(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    trigger: TriggerKind,
    event_id: Option<String>,
    database: Option<String>,
    /// The event's `time`, in ms since the epoch.
    time_ms: Option<i64>,
    action: Action,
}

fn parse_event(event: Value) -> Result<Parsed, StepError> {
    let ev: EventBridgeEvent<Value> = shared::input::parse(event)?;
    let time_ms = ev.time.map(|t| t.timestamp_millis());
    match (ev.source.as_str(), ev.detail_type.as_str()) {
        ("aws.events", "Scheduled Event") => Ok(Parsed {
            trigger: TriggerKind::Schedule,
            event_id: None,
            database: None,
            time_ms,
            action: Action::Reconcile(Scope::All),
        }),
        ("aws.events", other) => Err(StepError::invalid(
            "detail-type",
            format!("`{other}`: the only aws.events event handled is `Scheduled Event`"),
        )),
        ("aws.rds", detail_type @ (INSTANCE_EVENT | CLUSTER_EVENT | BLUE_GREEN_EVENT)) => {
            let detail = parse_detail(ev.detail)?;
            let identifier = detail.identifier();
            let mut parsed = Parsed {
                trigger: TriggerKind::Event,
                event_id: Some(detail.event_id.clone()),
                database: identifier.clone(),
                time_ms,
                action: Action::Ignore(String::new()),
            };
            if !HANDLED_EVENTS.contains(&detail.event_id.as_str()) {
                parsed.action = Action::Ignore(format!(
                    "ignored: {} is not a failover or switchover event",
                    detail.event_id
                ));
                return Ok(parsed);
            }
            let blue_green = detail_type == BLUE_GREEN_EVENT
                || detail.source_type.as_deref() == Some("BLUE_GREEN_DEPLOYMENT")
                || SWITCHOVER_COMPLETED.contains(&detail.event_id.as_str());
            if blue_green {
                // The event names the deployment (or a database the switchover just renamed):
                // check every configuration against the truth.
                parsed.action = Action::Reconcile(Scope::All);
                return Ok(parsed);
            }
            let identifier = identifier.ok_or_else(|| {
                StepError::invalid(
                    "detail.SourceIdentifier",
                    "missing: an RDS event names its database in SourceIdentifier or SourceArn",
                )
            })?;
            let kind = if detail_type == CLUSTER_EVENT {
                DbKind::Cluster
            } else {
                DbKind::Instance
            };
            parsed.action = Action::Reconcile(Scope::Database(DbRef { kind, identifier }));
            Ok(parsed)
        }
        ("aws.rds", other) => Err(StepError::invalid(
            "detail-type",
            format!(
                "`{other}` is not handled: expected `{INSTANCE_EVENT}`, `{CLUSTER_EVENT}` or `{BLUE_GREEN_EVENT}`"
            ),
        )),
        (other, _) => Err(StepError::invalid(
            "source",
            format!("`{other}`: expected an `aws.rds` event or the `aws.events` schedule"),
        )),
    }
}

/// The detail, with errors naming `detail.<field>`.
fn parse_detail(detail: Value) -> Result<RdsEventDetail, StepError> {
    shared::input::parse(detail).map_err(|e| match e {
        StepError::InvalidInput { field, message } => StepError::invalid(
            if field == "(input)" {
                "detail".to_string()
            } else {
                format!("detail.{field}")
            },
            message,
        ),
        other => other,
    })
}

// ---------------------------------------------------------------------------------------------
// Finding the configurations

/// What our tags say about a configuration.
#[derive(Debug, Clone, Default, PartialEq)]
struct Identity {
    deployment: Option<String>,
    mode: Option<Mode>,
    primary: Option<DbRef>,
    standby: Option<DbRef>,
}

impl Identity {
    fn from_tags(t: &HashMap<String, String>) -> Self {
        Self {
            deployment: t.get(tags::DEPLOYMENT).filter(|s| !s.is_empty()).cloned(),
            mode: t.get(tags::MODE).and_then(|m| parse_mode(m)),
            primary: DbRef::tagged_primary(t),
            standby: DbRef::tagged_standby(t),
        }
    }

    fn fronts(&self, db: &DbRef) -> bool {
        self.primary.as_ref().is_some_and(|p| p.is(db))
            || self.standby.as_ref().is_some_and(|s| s.is(db))
    }
}

fn parse_mode(s: &str) -> Option<Mode> {
    [Mode::Dns, Mode::Arn, Mode::Ip]
        .into_iter()
        .find(|m| m.as_str() == s)
}

#[derive(Debug, Clone)]
struct Candidate {
    id: String,
    arn: String,
    identity: Identity,
}

/// The configurations of our deployments that the scope asks about.
///
/// The cost must not grow with the account (2,000 configurations per Region, most of them
/// other owners'): our names narrow the candidates before any tag is read. A deployment's
/// configuration is `<name>-rcfg` on its gateway `<name>-rgw` (`Names::for_deployment`), so this
/// lists the gateways (500 per VPC at most, usually a page), lists the configurations of only the
/// gateways named like ours, and reads the tags of only the configuration named like ours on
/// each. The tags then decide: the deployment tag must name the same deployment.
async fn find_configurations(
    lattice: &aws_sdk_vpclattice::Client,
    scope: &Scope,
) -> Result<Vec<Candidate>, StepError> {
    let mut found = vec![];
    for (gateway_id, deployment) in shared::lattice::gateways_named_like_ours(lattice).await? {
        // Two only while a replacement of another type is under way: both follow the database.
        for cfg in
            shared::lattice::deployment_configurations(lattice, &gateway_id, &deployment).await?
        {
            let identity = Identity::from_tags(&cfg.tags);
            let wanted = match scope {
                Scope::All => true,
                Scope::Database(db) => identity.fronts(db),
            };
            if wanted {
                found.push(Candidate {
                    id: cfg.id,
                    arn: cfg.arn,
                    identity,
                });
            }
        }
    }
    Ok(found)
}

// ---------------------------------------------------------------------------------------------
// The truth in RDS

/// Instance statuses in which the database cannot serve as the primary (aws-facts §3).
const UNUSABLE: &[&str] = &[
    "deleting",
    "deleted",
    "failed",
    "stopped",
    "stopping",
    "storage-full",
    "restore-error",
    "cloning-failed",
    "migration-failed",
];

#[derive(Debug, Clone, Default)]
struct Truth {
    status: String,
    endpoint: Option<String>,
    arn: Option<String>,
    /// Set on a read replica (instance) or a replica cluster: not writable.
    replica_of: Option<String>,
    /// Clusters: the writer instance, if any.
    writer: Option<String>,
    has_writer: bool,
}

impl Truth {
    /// Why this database cannot be the primary; `None` when it can.
    fn unusable(&self) -> Option<String> {
        let s = self.status.as_str();
        if UNUSABLE.contains(&s)
            || s.starts_with("incompatible-")
            || s.starts_with("inaccessible-encryption-credentials")
        {
            return Some(format!("is {s}"));
        }
        if let Some(source) = &self.replica_of {
            return Some(format!("is a read replica of `{source}`"));
        }
        if !self.has_writer {
            return Some("has no writer instance".into());
        }
        None
    }

    /// A standby can take over only when it accepts writes: available, with an endpoint, and
    /// promoted (a read replica still replicating, or a cluster without a writer, would send
    /// the application's writes to a read-only database).
    fn can_take_over(&self) -> Result<(), String> {
        if let Some(why) = self.unusable() {
            return Err(why);
        }
        if self.status != "available" {
            return Err(format!("is {}", self.status));
        }
        if self.endpoint.is_none() {
            return Err("has no endpoint yet".into());
        }
        Ok(())
    }
}

enum Db {
    Found(Truth),
    Gone,
}

async fn describe(rds: &aws_sdk_rds::Client, db: &DbRef) -> Result<Db, StepError> {
    let not_found = |code: Option<&str>| {
        matches!(
            code,
            Some(
                "DBInstanceNotFound"
                    | "DBInstanceNotFoundFault"
                    | "DBClusterNotFoundFault"
                    | "DBClusterNotFound"
            )
        )
    };
    match db.kind {
        DbKind::Instance => {
            let out = match rds
                .describe_db_instances()
                .db_instance_identifier(&db.identifier)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if not_found(error_code(&e)) => return Ok(Db::Gone),
                Err(e) => return Err(StepError::from_sdk("rds:DescribeDBInstances", &e)),
            };
            Ok(match out.db_instances().first() {
                None => Db::Gone,
                Some(i) => Db::Found(Truth {
                    status: i.db_instance_status().unwrap_or_default().to_string(),
                    endpoint: i.endpoint().and_then(|e| e.address()).map(String::from),
                    arn: i.db_instance_arn().map(String::from),
                    replica_of: i
                        .read_replica_source_db_instance_identifier()
                        .map(String::from),
                    writer: None,
                    has_writer: true,
                }),
            })
        }
        DbKind::Cluster => {
            let out = match rds
                .describe_db_clusters()
                .db_cluster_identifier(&db.identifier)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if not_found(error_code(&e)) => return Ok(Db::Gone),
                Err(e) => return Err(StepError::from_sdk("rds:DescribeDBClusters", &e)),
            };
            Ok(match out.db_clusters().first() {
                None => Db::Gone,
                Some(c) => {
                    let writer = c
                        .db_cluster_members()
                        .iter()
                        .find(|m| m.is_cluster_writer() == Some(true))
                        .and_then(|m| m.db_instance_identifier())
                        .map(String::from);
                    Db::Found(Truth {
                        status: c.status().unwrap_or_default().to_string(),
                        // The writer endpoint: stable through failover.
                        endpoint: c.endpoint().map(String::from),
                        arn: c.db_cluster_arn().map(String::from),
                        replica_of: c.replication_source_identifier().map(String::from),
                        has_writer: writer.is_some(),
                        writer,
                    })
                }
            })
        }
    }
}

/// The database that is the primary now.
struct Chosen {
    db: DbRef,
    truth: Truth,
    /// The recorded primary, when the standby took over, and why.
    replaced: Option<(DbRef, String)>,
    /// Why the recorded primary was kept although it is not usable.
    note: Option<String>,
}

async fn current_primary(
    rds: &aws_sdk_rds::Client,
    primary: &DbRef,
    standby: Option<&DbRef>,
) -> Result<Chosen, StepError> {
    let recorded = describe(rds, primary).await?;
    let why = match &recorded {
        Db::Found(t) => match t.unusable() {
            None => {
                return Ok(Chosen {
                    db: primary.clone(),
                    truth: t.clone(),
                    replaced: None,
                    note: None,
                })
            }
            Some(why) => why,
        },
        Db::Gone => "is gone".to_string(),
    };
    let mut standby_state = "no standby is recorded".to_string();
    let mut standby_pending = false;
    if let Some(s) = standby {
        match describe(rds, s).await? {
            Db::Found(t) => match t.can_take_over() {
                Ok(()) => {
                    return Ok(Chosen {
                        db: s.clone(),
                        truth: t,
                        replaced: Some((primary.clone(), why)),
                        note: None,
                    })
                }
                // Not yet: it may be promoted (or finish promoting); a retry can succeed.
                Err(not_yet) => {
                    standby_state = format!(
                        "standby `{}` {not_yet}, so it cannot take writes; not repointed",
                        s.identifier
                    );
                    standby_pending = true;
                }
            },
            Db::Gone => standby_state = format!("standby `{}` is gone", s.identifier),
        }
    }
    let message = format!("primary `{}` {why} and {standby_state}", primary.identifier);
    match recorded {
        // Nothing better to point at: keep the primary (it may come back).
        Db::Found(t) => Ok(Chosen {
            db: primary.clone(),
            truth: t,
            replaced: None,
            note: Some(message),
        }),
        // The standby may become available: a retry can succeed.
        Db::Gone if standby_pending => Err(StepError::Conflict {
            operation: describe_operation(primary.kind).into(),
            message,
        }),
        Db::Gone => Err(StepError::NotFound {
            operation: describe_operation(primary.kind).into(),
            message,
        }),
    }
}

fn describe_operation(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Instance => "rds:DescribeDBInstances",
        DbKind::Cluster => "rds:DescribeDBClusters",
    }
}

// ---------------------------------------------------------------------------------------------
// One configuration

struct Cx<'a, R> {
    lattice: &'a aws_sdk_vpclattice::Client,
    rds: &'a aws_sdk_rds::Client,
    resolver: &'a R,
    backoff: &'a [Duration],
    trigger: TriggerKind,
}

#[derive(Debug, Default)]
struct Row {
    mode: Option<Mode>,
    database: Option<String>,
    writer: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn reconcile_one<R: Resolver>(
    cx: &Cx<'_, R>,
    cand: &Candidate,
    row: &mut Row,
) -> Result<(Outcome, String), StepError> {
    let Some(primary) = cand.identity.primary.clone() else {
        return Ok((
            Outcome::Ignored,
            format!(
                "not tagged with the database it fronts ({} and {})",
                tags::DB_KIND,
                tags::DB_IDENTIFIER
            ),
        ));
    };
    row.database = Some(primary.identifier.clone());
    let mut attempt = 0;
    // Decided once (first pass): the mode, the current primary, the value the definition should hold.
    let mut decided: Option<(Mode, Chosen, String)> = None;
    loop {
        let cfg = cx
            .lattice
            .get_resource_configuration()
            .resource_configuration_identifier(&cand.id)
            .send()
            .await
            .aws("vpc-lattice:GetResourceConfiguration")?;
        match cfg.status() {
            Some(
                s @ (ResourceConfigurationStatus::CreateInProgress
                | ResourceConfigurationStatus::UpdateInProgress),
            ) => {
                let busy = StepError::Conflict {
                    operation: "vpc-lattice:GetResourceConfiguration".into(),
                    message: format!(
                        "resource configuration `{}` is still {}",
                        cand.id,
                        s.as_str()
                    ),
                };
                backoff(cx.backoff, &mut attempt, busy).await?;
                continue;
            }
            Some(ResourceConfigurationStatus::DeleteInProgress) => {
                return Ok((Outcome::Ignored, "being deleted".into()))
            }
            Some(ResourceConfigurationStatus::CreateFailed) => {
                return Err(StepError::ResourceFailed(format!(
                    "resource configuration `{}` is CREATE_FAILED: {}",
                    cand.id,
                    cfg.failure_reason().unwrap_or("no reason given")
                )))
            }
            _ => {}
        }
        let definition = cfg.resource_configuration_definition();
        if decided.is_none() {
            let mode = cand
                .identity
                .mode
                .or_else(|| definition.and_then(mode_of))
                .ok_or_else(|| {
                    StepError::internal(format!(
                        "resource configuration `{}` has no {} tag and an unknown definition",
                        cand.id,
                        tags::MODE
                    ))
                })?;
            row.mode = Some(mode);
            let chosen = current_primary(cx.rds, &primary, cand.identity.standby.as_ref()).await?;
            row.database = Some(chosen.db.identifier.clone());
            row.writer = chosen.truth.writer.clone();
            let want = desired(mode, &chosen, cx.resolver).await?;
            decided = Some((mode, chosen, want));
        }
        let Some((mode, chosen, want)) = &decided else {
            return Err(StepError::internal("failover: no decision"));
        };
        let have = current_value(*mode, definition);
        row.from = have.clone();
        row.to = Some(want.clone());
        let matches = have.as_deref().is_some_and(|h| same(h, want));

        if *mode == Mode::Arn {
            // Never updated: CloudFormation and the API do not update ARN definitions in place.
            return Ok(if matches {
                (
                    Outcome::Unchanged,
                    with_note("verified: AWS follows the database", chosen),
                )
            } else {
                tracing::warn!(rcfg_id = %cand.id, from = have.as_deref().unwrap_or("-"), to = %want, "arn resource differs from the primary's ARN");
                (
                    Outcome::Unchanged,
                    "arn definitions are not updatable; AWS follows the database".into(),
                )
            });
        }

        if matches {
            if let Some((old, why)) = &chosen.replaced {
                // An earlier attempt repointed but did not swap the tags (or someone else repointed).
                swap_tags(cx.lattice, cand, old, &chosen.db).await?;
                return Ok((
                    Outcome::Unchanged,
                    format!(
                        "already points at `{}` (primary `{}` {why}); primary and standby tags swapped",
                        chosen.db.identifier, old.identifier
                    ),
                ));
            }
            let verified = match (cx.trigger, mode) {
                (TriggerKind::Event, Mode::Dns) => {
                    "verified: endpoint is stable across failover".to_string()
                }
                (TriggerKind::Event, _) => {
                    "verified: the primary's endpoint still resolves to the configured address"
                        .to_string()
                }
                (TriggerKind::Schedule, _) => format!(
                    "verified: matches the current primary `{}`",
                    chosen.db.identifier
                ),
            };
            return Ok((Outcome::Unchanged, with_note(&verified, chosen)));
        }

        match update(cx.lattice, &cand.id, *mode, want, definition).await {
            Ok(()) => {}
            Err(e) if e.name() == names::RESOURCE_CONFLICT => {
                backoff(cx.backoff, &mut attempt, e).await?;
                continue;
            }
            Err(e) => return Err(e),
        }
        let reason = match &chosen.replaced {
            Some((old, why)) => {
                swap_tags(cx.lattice, cand, old, &chosen.db).await?;
                format!(
                    "primary `{}` {why}; repointed to standby `{}` and swapped the primary and standby tags",
                    old.identifier, chosen.db.identifier
                )
            }
            None => format!(
                "the {} definition had drifted from the primary `{}`",
                mode.as_str(),
                chosen.db.identifier
            ),
        };
        return Ok((Outcome::Repointed, reason));
    }
}

fn with_note(reason: &str, chosen: &Chosen) -> String {
    match &chosen.note {
        Some(note) => format!("{reason} ({note})"),
        None => reason.to_string(),
    }
}

/// Wait before the next attempt, or give up with `err` when the attempts are used up.
async fn backoff(
    delays: &[Duration],
    attempt: &mut usize,
    err: StepError,
) -> Result<(), StepError> {
    let Some(delay) = delays.get(*attempt) else {
        return Err(err);
    };
    *attempt += 1;
    tracing::info!(attempt = *attempt, delay_ms = delay.as_millis() as u64, error = %err, "configuration busy; retrying");
    tokio::time::sleep(*delay).await;
    Ok(())
}

fn mode_of(d: &ResourceConfigurationDefinition) -> Option<Mode> {
    match d {
        ResourceConfigurationDefinition::DnsResource(_) => Some(Mode::Dns),
        ResourceConfigurationDefinition::IpResource(_) => Some(Mode::Ip),
        ResourceConfigurationDefinition::ArnResource(_) => Some(Mode::Arn),
        _ => None,
    }
}

fn current_value(mode: Mode, d: Option<&ResourceConfigurationDefinition>) -> Option<String> {
    match (mode, d?) {
        (Mode::Dns, ResourceConfigurationDefinition::DnsResource(r)) => {
            r.domain_name().map(String::from)
        }
        (Mode::Ip, ResourceConfigurationDefinition::IpResource(r)) => {
            r.ip_address().map(String::from)
        }
        (Mode::Arn, ResourceConfigurationDefinition::ArnResource(r)) => r.arn().map(String::from),
        _ => None,
    }
}

/// DNS names compare case-insensitively and without a trailing dot.
fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

async fn desired<R: Resolver>(
    mode: Mode,
    chosen: &Chosen,
    resolver: &R,
) -> Result<String, StepError> {
    let endpoint = || {
        chosen
            .truth
            .endpoint
            .as_deref()
            .ok_or_else(|| StepError::Conflict {
                operation: describe_operation(chosen.db.kind).into(),
                message: format!(
                    "`{}` has no endpoint yet (status {})",
                    chosen.db.identifier, chosen.truth.status
                ),
            })
    };
    match mode {
        Mode::Dns => Ok(endpoint()?.to_string()),
        Mode::Ip => Ok(resolver.resolve_ipv4(endpoint()?).await?.to_string()),
        Mode::Arn => {
            chosen.truth.arn.clone().ok_or_else(|| {
                StepError::internal(format!("`{}` has no ARN", chosen.db.identifier))
            })
        }
    }
}

async fn update(
    lattice: &aws_sdk_vpclattice::Client,
    id: &str,
    mode: Mode,
    want: &str,
    current: Option<&ResourceConfigurationDefinition>,
) -> Result<(), StepError> {
    let definition = match mode {
        Mode::Dns => {
            // Keep the address type the configuration was created with.
            let ip_type = match current {
                Some(ResourceConfigurationDefinition::DnsResource(d)) => {
                    d.ip_address_type().cloned()
                }
                _ => None,
            }
            .unwrap_or(ResourceConfigurationIpAddressType::Ipv4);
            ResourceConfigurationDefinition::DnsResource(
                DnsResource::builder()
                    .domain_name(want)
                    .ip_address_type(ip_type)
                    .build(),
            )
        }
        Mode::Ip => ResourceConfigurationDefinition::IpResource(
            IpResource::builder().ip_address(want).build(),
        ),
        Mode::Arn => return Err(StepError::internal("arn definitions are never updated")),
    };
    lattice
        .update_resource_configuration()
        .resource_configuration_identifier(id)
        .resource_configuration_definition(definition)
        .send()
        .await
        .aws("vpc-lattice:UpdateResourceConfiguration")?;
    Ok(())
}

/// After a repoint to the standby, the standby is the primary: the next failover goes back.
async fn swap_tags(
    lattice: &aws_sdk_vpclattice::Client,
    cand: &Candidate,
    old_primary: &DbRef,
    new_primary: &DbRef,
) -> Result<(), StepError> {
    lattice
        .tag_resource()
        .resource_arn(&cand.arn)
        .tags(tags::DB_KIND, new_primary.kind.as_str())
        .tags(tags::DB_IDENTIFIER, &new_primary.identifier)
        .tags(tags::STANDBY_KIND, old_primary.kind.as_str())
        .tags(tags::STANDBY_IDENTIFIER, &old_primary.identifier)
        .send()
        .await
        .aws("vpc-lattice:TagResource")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::types::{DbCluster, DbClusterMember, DbInstance, Endpoint};
    use aws_sdk_rds::Client as Rds;
    use aws_sdk_vpclattice::operation::get_resource_configuration::GetResourceConfigurationOutput;
    use aws_sdk_vpclattice::operation::list_resource_configurations::ListResourceConfigurationsOutput;
    use aws_sdk_vpclattice::operation::list_resource_gateways::ListResourceGatewaysOutput;
    use aws_sdk_vpclattice::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_vpclattice::operation::tag_resource::TagResourceOutput;
    use aws_sdk_vpclattice::operation::update_resource_configuration::UpdateResourceConfigurationOutput;
    use aws_sdk_vpclattice::types::ResourceConfigurationType;
    use aws_sdk_vpclattice::types::{
        ArnResource, ResourceConfigurationSummary, ResourceGatewayStatus, ResourceGatewaySummary,
    };
    use aws_sdk_vpclattice::Client as Lattice;
    use aws_smithy_mocks::{mock, mock_client, MockResponse, Rule, RuleMode};
    use serde_json::json;
    use shared::plan::Names;
    use shared::testing;

    // The fixtures under events/rds/ (README there says which are AWS's own samples).
    const I0013: &str = include_str!("../../../events/rds/instance-failover-started-0013.json");
    const I0015: &str = include_str!("../../../events/rds/instance-standby-promoted-0015.json");
    const I0049: &str = include_str!("../../../events/rds/instance-failover-completed-0049.json");
    const I0050: &str =
        include_str!("../../../events/rds/instance-multi-az-activation-started-0050.json");
    const I0051: &str =
        include_str!("../../../events/rds/instance-multi-az-activation-completed-0051.json");
    const BG0251: &str =
        include_str!("../../../events/rds/blue-green-db-switchover-completed-0251.json");
    const BG0260: &str =
        include_str!("../../../events/rds/blue-green-cluster-switchover-completed-0260.json");
    const C0071: &str = include_str!("../../../events/rds/cluster-failover-completed-0071.json");
    const C0072: &str =
        include_str!("../../../events/rds/cluster-failover-started-same-az-0072.json");
    const C0073: &str =
        include_str!("../../../events/rds/cluster-failover-started-cross-az-0073.json");
    const BG0248: &str =
        include_str!("../../../events/rds/blue-green-deployment-switchover-completed-0248.json");
    const SCHEDULE: &str = include_str!("../../../events/rds/scheduled-reconcile.json");
    const UNRELATED: &str = include_str!("../../../events/rds/unrelated-database-0049.json");
    const UNHANDLED: &str =
        include_str!("../../../events/rds/unhandled-instance-restarted-0006.json");
    const NOT_EVENTBRIDGE: &str =
        include_str!("../../../events/rds/malformed-not-eventbridge.json");
    const NO_SOURCE: &str =
        include_str!("../../../events/rds/malformed-missing-source-identifier.json");
    const UNKNOWN_DETAIL_TYPE: &str =
        include_str!("../../../events/rds/malformed-unknown-detail-type.json");
    const EVENT_ID_NOT_STRING: &str =
        include_str!("../../../events/rds/malformed-event-id-not-a-string.json");

    const ACCOUNT: &str = "123456789012";
    const DB: &str = "lattice-db";
    const REPLICA: &str = "lattice-db-replica";
    const CLUSTER: &str = "lattice-cluster";
    const DB_EP: &str = "lattice-db.c9akciq32xyz.us-east-1.rds.amazonaws.com";
    const REPLICA_EP: &str = "lattice-db-replica.c9akciq32xyz.us-east-1.rds.amazonaws.com";
    const CLUSTER_EP: &str = "lattice-cluster.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com";
    const RCFG: &str = "rcfg-0123456789abcdefg";
    /// 2026-11-27T10:15:42Z, the `time` of the 0049 sample.
    const T0049_S: u64 = 1_795_774_542;
    const NO_WAIT: [Duration; 3] = [Duration::ZERO; 3];

    fn ev(s: &str) -> Value {
        serde_json::from_str(s).expect("fixture is JSON")
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0049_S + 3)
    }

    fn db_arn(id: &str) -> String {
        format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:{id}")
    }

    fn cluster_arn(id: &str) -> String {
        format!("arn:aws:rds:us-east-1:{ACCOUNT}:cluster:{id}")
    }

    fn dns(domain: &str) -> ResourceConfigurationDefinition {
        ResourceConfigurationDefinition::DnsResource(
            DnsResource::builder()
                .domain_name(domain)
                .ip_address_type(ResourceConfigurationIpAddressType::Ipv4)
                .build(),
        )
    }

    fn ip(address: &str) -> ResourceConfigurationDefinition {
        ResourceConfigurationDefinition::IpResource(
            IpResource::builder().ip_address(address).build(),
        )
    }

    fn arn(a: &str) -> ResourceConfigurationDefinition {
        ResourceConfigurationDefinition::ArnResource(ArnResource::builder().arn(a).build())
    }

    // ---- A stateful VPC Lattice: the configurations, their tags and definitions change as
    // the function calls Update/TagResource, so replays see what the first delivery did.

    #[derive(Clone, Debug)]
    struct FakeCfg {
        id: String,
        name: String,
        /// The gateway's (id, name).
        gateway: (String, String),
        kind: ResourceConfigurationType,
        tags: HashMap<String, String>,
        def: ResourceConfigurationDefinition,
        /// Served one per Get; the last one repeats.
        statuses: Vec<ResourceConfigurationStatus>,
        /// Updates answered with ConflictException before one succeeds.
        conflicts: usize,
    }

    impl FakeCfg {
        fn new(
            id: &str,
            deployment: Option<&str>,
            mode: &str,
            def: ResourceConfigurationDefinition,
        ) -> Self {
            let mut tags = HashMap::from([(tags::MODE.to_string(), mode.to_string())]);
            if let Some(d) = deployment {
                tags.insert(tags::DEPLOYMENT.into(), d.into());
                tags.insert(tags::COMPONENT.into(), "resource-configuration".into());
            }
            let kind = if mode == "arn" {
                ResourceConfigurationType::Arn
            } else {
                ResourceConfigurationType::Single
            };
            // Ours are named as `Names::for_deployment` names them; others' are not.
            let (name, gateway) = match deployment {
                Some(d) => {
                    let n = Names::for_deployment(d);
                    let gateway = (format!("rgw-{d}"), n.resource_gateway);
                    (n.resource_configuration, gateway)
                }
                None => (
                    format!("{id}-name"),
                    ("rgw-others".into(), "others-gateway".into()),
                ),
            };
            Self {
                id: id.into(),
                name,
                gateway,
                kind,
                tags,
                def,
                statuses: vec![ResourceConfigurationStatus::Active],
                conflicts: 0,
            }
        }

        fn fronts(mut self, kind: &str, id: &str) -> Self {
            self.tags.insert(tags::DB_KIND.into(), kind.into());
            self.tags.insert(tags::DB_IDENTIFIER.into(), id.into());
            self
        }

        fn named(mut self, name: &str) -> Self {
            self.name = name.into();
            self
        }

        fn on_gateway(mut self, id: &str, name: &str) -> Self {
            self.gateway = (id.into(), name.into());
            self
        }

        fn standby(mut self, kind: &str, id: &str) -> Self {
            self.tags.insert(tags::STANDBY_KIND.into(), kind.into());
            self.tags.insert(tags::STANDBY_IDENTIFIER.into(), id.into());
            self
        }

        fn arn(&self) -> String {
            format!(
                "arn:aws:vpc-lattice:us-east-1:{ACCOUNT}:resourceconfiguration/{}",
                self.id
            )
        }
    }

    #[derive(Debug, Default)]
    struct LatticeState {
        cfgs: Vec<FakeCfg>,
        /// The ARNs whose tags were read.
        tag_reads: Vec<String>,
        gets: Vec<String>,
        updates: Vec<(String, ResourceConfigurationDefinition)>,
        tagged: Vec<(String, HashMap<String, String>)>,
    }

    struct FakeLattice {
        state: Arc<Mutex<LatticeState>>,
        gateways: Rule,
        list: Rule,
        tags: Rule,
        get: Rule,
        update: Rule,
        tag: Rule,
    }

    /// Two configurations per page, so three or more exercise the paginator.
    const PAGE: usize = 2;

    impl FakeLattice {
        fn new(cfgs: Vec<FakeCfg>) -> Self {
            let state = Arc::new(Mutex::new(LatticeState {
                cfgs,
                ..Default::default()
            }));
            let st = state.clone();
            let gateways = mock!(Lattice::list_resource_gateways).then_compute_output(move |r| {
                let s = st.lock().unwrap();
                let mut all: Vec<(String, String)> = vec![];
                for c in &s.cfgs {
                    if !all.contains(&c.gateway) {
                        all.push(c.gateway.clone());
                    }
                }
                let start: usize = r.next_token().map_or(0, |t| t.parse().unwrap());
                let items = all
                    .iter()
                    .skip(start)
                    .take(PAGE)
                    .map(|(id, name)| {
                        ResourceGatewaySummary::builder()
                            .id(id)
                            .name(name)
                            .status(ResourceGatewayStatus::Active)
                            .build()
                    })
                    .collect();
                let mut out = ListResourceGatewaysOutput::builder().set_items(Some(items));
                if start + PAGE < all.len() {
                    out = out.next_token((start + PAGE).to_string());
                }
                out.build()
            });
            let st = state.clone();
            let list = mock!(Lattice::list_resource_configurations).then_compute_output(move |r| {
                let s = st.lock().unwrap();
                let start: usize = r.next_token().map_or(0, |t| t.parse().unwrap());
                let on_gateway: Vec<&FakeCfg> = s
                    .cfgs
                    .iter()
                    .filter(|c| {
                        r.resource_gateway_identifier()
                            .is_none_or(|g| c.gateway.0 == g)
                    })
                    .collect();
                let items = on_gateway
                    .iter()
                    .skip(start)
                    .take(PAGE)
                    .map(|c| {
                        ResourceConfigurationSummary::builder()
                            .id(&c.id)
                            .arn(c.arn())
                            .name(&c.name)
                            .resource_gateway_id(&c.gateway.0)
                            .r#type(c.kind.clone())
                            .status(ResourceConfigurationStatus::Active)
                            .build()
                    })
                    .collect();
                let mut out = ListResourceConfigurationsOutput::builder().set_items(Some(items));
                if start + PAGE < on_gateway.len() {
                    out = out.next_token((start + PAGE).to_string());
                }
                out.build()
            });
            let st = state.clone();
            let tags = mock!(Lattice::list_tags_for_resource).then_compute_output(move |r| {
                let mut s = st.lock().unwrap();
                s.tag_reads
                    .push(r.resource_arn().unwrap_or_default().to_string());
                let c = s
                    .cfgs
                    .iter()
                    .find(|c| Some(c.arn().as_str()) == r.resource_arn());
                ListTagsForResourceOutput::builder()
                    .set_tags(c.map(|c| c.tags.clone()))
                    .build()
            });
            let st = state.clone();
            let get = mock!(Lattice::get_resource_configuration).then_compute_response(move |r| {
                let mut s = st.lock().unwrap();
                let id = r
                    .resource_configuration_identifier()
                    .unwrap_or_default()
                    .to_string();
                s.gets.push(id.clone());
                let Some(c) = s.cfgs.iter_mut().find(|c| c.id == id) else {
                    return MockResponse::Http(testing::lattice_error(
                        404,
                        "ResourceNotFoundException",
                        "not found",
                    ));
                };
                let status = if c.statuses.len() > 1 {
                    c.statuses.remove(0)
                } else {
                    c.statuses[0].clone()
                };
                MockResponse::Output(
                    GetResourceConfigurationOutput::builder()
                        .id(&c.id)
                        .arn(c.arn())
                        .r#type(c.kind.clone())
                        .status(status)
                        .resource_configuration_definition(c.def.clone())
                        .build(),
                )
            });
            let st = state.clone();
            // Only the definition is ever updated: no ports, no sharing flag.
            let update = mock!(Lattice::update_resource_configuration)
                .match_requests(|r| {
                    r.resource_configuration_identifier().is_some()
                        && r.resource_configuration_definition().is_some()
                        && r.port_ranges().is_empty()
                        && r.allow_association_to_shareable_service_network().is_none()
                })
                .then_compute_response(move |r| {
                    let mut s = st.lock().unwrap();
                    let id = r.resource_configuration_identifier().unwrap().to_string();
                    let def = r.resource_configuration_definition().unwrap().clone();
                    let c = s.cfgs.iter_mut().find(|c| c.id == id).expect("known id");
                    if c.conflicts > 0 {
                        c.conflicts -= 1;
                        return MockResponse::Http(testing::lattice_error(
                            409,
                            "ConflictException",
                            "resource configuration is being updated",
                        ));
                    }
                    c.def = def.clone();
                    s.updates.push((id.clone(), def));
                    MockResponse::Output(
                        UpdateResourceConfigurationOutput::builder().id(id).build(),
                    )
                });
            let st = state.clone();
            // Exactly the four identity tags, nothing else (never the deployment tag).
            let tag = mock!(Lattice::tag_resource)
                .match_requests(|r| {
                    r.tags().is_some_and(|t| {
                        t.len() == 4
                            && [
                                tags::DB_KIND,
                                tags::DB_IDENTIFIER,
                                tags::STANDBY_KIND,
                                tags::STANDBY_IDENTIFIER,
                            ]
                            .iter()
                            .all(|k| t.contains_key(*k))
                    })
                })
                .then_compute_output(move |r| {
                    let mut s = st.lock().unwrap();
                    let arn = r.resource_arn().unwrap().to_string();
                    let new = r.tags().unwrap().clone();
                    let c = s
                        .cfgs
                        .iter_mut()
                        .find(|c| c.arn() == arn)
                        .expect("known arn");
                    c.tags.extend(new.clone());
                    s.tagged.push((arn, new));
                    TagResourceOutput::builder().build()
                });
            Self {
                state,
                gateways,
                list,
                tags,
                get,
                update,
                tag,
            }
        }

        fn client(&self) -> Lattice {
            mock_client!(
                aws_sdk_vpclattice,
                RuleMode::MatchAny,
                [
                    &self.gateways,
                    &self.list,
                    &self.tags,
                    &self.get,
                    &self.update,
                    &self.tag
                ]
            )
        }

        fn updates(&self) -> Vec<(String, ResourceConfigurationDefinition)> {
            self.state.lock().unwrap().updates.clone()
        }

        fn tagged(&self) -> Vec<(String, HashMap<String, String>)> {
            self.state.lock().unwrap().tagged.clone()
        }

        fn gets(&self) -> Vec<String> {
            self.state.lock().unwrap().gets.clone()
        }

        fn cfg(&self, id: &str) -> FakeCfg {
            let s = self.state.lock().unwrap();
            s.cfgs.iter().find(|c| c.id == id).unwrap().clone()
        }
    }

    // ---- RDS

    fn instance_rule(
        id: &'static str,
        status: &'static str,
        endpoint: &'static str,
        replica_of: Option<&'static str>,
    ) -> Rule {
        mock!(Rds::describe_db_instances)
            .match_requests(move |r| r.db_instance_identifier() == Some(id))
            .then_output(move || {
                DescribeDbInstancesOutput::builder()
                    .db_instances(
                        DbInstance::builder()
                            .db_instance_identifier(id)
                            .db_instance_status(status)
                            .db_instance_arn(db_arn(id))
                            .set_read_replica_source_db_instance_identifier(
                                replica_of.map(String::from),
                            )
                            .endpoint(Endpoint::builder().address(endpoint).port(3306).build())
                            .build(),
                    )
                    .build()
            })
    }

    fn instance(id: &'static str, status: &'static str, endpoint: &'static str) -> Rule {
        instance_rule(id, status, endpoint, None)
    }

    fn instance_gone(id: &'static str) -> Rule {
        mock!(Rds::describe_db_instances)
            .match_requests(move |r| r.db_instance_identifier() == Some(id))
            .then_http_response(move || {
                testing::rds_error(
                    404,
                    "DBInstanceNotFound",
                    &format!("DBInstance {id} not found."),
                )
            })
    }

    fn cluster(id: &'static str, endpoint: &'static str, writer: &'static str) -> Rule {
        mock!(Rds::describe_db_clusters)
            .match_requests(move |r| r.db_cluster_identifier() == Some(id))
            .then_output(move || {
                let member = |name: &str| {
                    DbClusterMember::builder()
                        .db_instance_identifier(name)
                        .is_cluster_writer(name == writer)
                        .build()
                };
                DescribeDbClustersOutput::builder()
                    .db_clusters(
                        DbCluster::builder()
                            .db_cluster_identifier(id)
                            .status("available")
                            .endpoint(endpoint)
                            .db_cluster_arn(cluster_arn(id))
                            .db_cluster_members(member("lattice-cluster-instance-1"))
                            .db_cluster_members(member("lattice-cluster-instance-2"))
                            .build(),
                    )
                    .build()
            })
    }

    fn rds(rules: &[&Rule]) -> Rds {
        mock_client!(aws_sdk_rds, RuleMode::MatchAny, rules.iter().copied())
    }

    struct FakeResolver(Vec<(&'static str, Ipv4Addr)>);

    impl Resolver for FakeResolver {
        async fn resolve_ipv4(&self, host: &str) -> Result<Ipv4Addr, StepError> {
            self.0
                .iter()
                .find(|(h, _)| *h == host)
                .map(|(_, ip)| *ip)
                .ok_or_else(|| StepError::Transient {
                    operation: "dns:Resolve".into(),
                    message: format!("unexpected lookup of {host}"),
                })
        }
    }

    fn no_dns() -> FakeResolver {
        FakeResolver(vec![])
    }

    async fn run(lattice: &FakeLattice, rds: &Rds, resolver: &FakeResolver, event: &str) -> Report {
        reconcile(&lattice.client(), rds, resolver, ev(event), now(), &NO_WAIT)
            .await
            .expect("a well-formed event")
    }

    fn only(report: &Report) -> &ConfigResult {
        assert_eq!(report.summary.results.len(), 1, "{:?}", report.summary);
        &report.summary.results[0]
    }

    fn dns_cfg(domain: &str) -> FakeCfg {
        FakeCfg::new(RCFG, Some("orders"), "dns", dns(domain)).fronts("instance", DB)
    }

    // ---- Parsing

    #[test]
    fn every_fixture_maps_to_the_right_scope() {
        let db = |kind, id: &str| {
            Action::Reconcile(Scope::Database(DbRef {
                kind,
                identifier: id.into(),
            }))
        };
        let cases = [
            (I0013, "RDS-EVENT-0013", db(DbKind::Instance, DB)),
            (I0015, "RDS-EVENT-0015", db(DbKind::Instance, DB)),
            (I0049, "RDS-EVENT-0049", db(DbKind::Instance, DB)),
            (I0050, "RDS-EVENT-0050", db(DbKind::Instance, DB)),
            (I0051, "RDS-EVENT-0051", db(DbKind::Instance, DB)),
            (C0071, "RDS-EVENT-0071", db(DbKind::Cluster, CLUSTER)),
            (C0072, "RDS-EVENT-0072", db(DbKind::Cluster, CLUSTER)),
            (C0073, "RDS-EVENT-0073", db(DbKind::Cluster, CLUSTER)),
            (BG0248, "RDS-EVENT-0248", Action::Reconcile(Scope::All)),
            (BG0251, "RDS-EVENT-0251", Action::Reconcile(Scope::All)),
            (BG0260, "RDS-EVENT-0260", Action::Reconcile(Scope::All)),
            (
                UNRELATED,
                "RDS-EVENT-0049",
                db(DbKind::Instance, "billing-db"),
            ),
        ];
        for (fixture, id, action) in cases {
            let p = parse_event(ev(fixture)).unwrap();
            assert_eq!(p.trigger, TriggerKind::Event, "{id}");
            assert_eq!(p.event_id.as_deref(), Some(id));
            assert_eq!(p.action, action, "{id}");
        }
        let p = parse_event(ev(I0049)).unwrap();
        assert_eq!(p.time_ms, Some(T0049_S as i64 * 1000));
        assert_eq!(p.database.as_deref(), Some(DB));
        // AWS's samples carry no `rds:` prefix; an older sample did, and it is still stripped.
        let mut prefixed = ev(I0049);
        prefixed["detail"]["SourceIdentifier"] = json!("rds:lattice-db");
        let p = parse_event(prefixed).unwrap();
        assert_eq!(p.action, db(DbKind::Instance, DB));
        // The switchover events name the deployment, not a database.
        let p = parse_event(ev(BG0260)).unwrap();
        assert_eq!(p.database.as_deref(), Some("bgd-1b2c3d4e5f6a7b8c"));
        // Per-database switchovers reconcile everything however RDS names their source.
        for id in ["RDS-EVENT-0251", "RDS-EVENT-0260"] {
            let mut e = ev(C0071);
            e["detail"]["EventID"] = json!(id);
            assert_eq!(
                parse_event(e).unwrap().action,
                Action::Reconcile(Scope::All),
                "{id}"
            );
        }
        for (fixture, id) in [(I0049, "RDS-EVENT-0049"), (BG0260, "RDS-EVENT-0260")] {
            assert!(
                ev(fixture)["detail"]["SourceIdentifier"]
                    .as_str()
                    .is_some_and(|s| !s.starts_with("rds:")),
                "{id}"
            );
        }

        let p = parse_event(ev(SCHEDULE)).unwrap();
        assert_eq!(p.trigger, TriggerKind::Schedule);
        assert_eq!(p.action, Action::Reconcile(Scope::All));
        assert_eq!(p.event_id, None);

        let p = parse_event(ev(UNHANDLED)).unwrap();
        assert!(
            matches!(&p.action, Action::Ignore(r) if r.contains("RDS-EVENT-0006")),
            "{p:?}"
        );
    }

    #[test]
    fn the_identifier_comes_from_the_arn_when_source_identifier_is_missing() {
        let d = RdsEventDetail {
            event_id: "RDS-EVENT-0049".into(),
            source_arn: Some(db_arn("orders-db")),
            ..Default::default()
        };
        assert_eq!(d.identifier().as_deref(), Some("orders-db"));
        let d = RdsEventDetail {
            source_identifier: Some("orders-db".into()),
            ..d
        };
        assert_eq!(d.identifier().as_deref(), Some("orders-db"));
        let d = RdsEventDetail {
            source_identifier: Some("rds:orders-db".into()),
            ..d
        };
        assert_eq!(d.identifier().as_deref(), Some("orders-db"));
        let d = RdsEventDetail {
            source_identifier: Some("rds:".into()),
            source_arn: None,
            ..d
        };
        assert_eq!(d.identifier(), None);
    }

    #[tokio::test]
    async fn malformed_bodies_are_input_invalid_naming_the_field_and_call_nothing() {
        let cases = [
            (ev(NOT_EVENTBRIDGE), "detail-type"),
            (ev(NO_SOURCE), "detail.SourceIdentifier"),
            (ev(UNKNOWN_DETAIL_TYPE), "detail-type"),
            (ev(EVENT_ID_NOT_STRING), "detail.EventID"),
            (json!("not an event"), "(input)"),
            (
                json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}),
                "source",
            ),
            (
                json!({"source": "aws.rds", "detail-type": "RDS DB Instance Event"}),
                "detail",
            ),
            (
                json!({"source": "aws.rds", "detail-type": "RDS DB Instance Event", "detail": "x"}),
                "detail",
            ),
            (
                json!({"source": "aws.rds", "detail-type": "RDS DB Instance Event", "detail": {"SourceIdentifier": "rds:x"}}),
                "detail.EventID",
            ),
            (
                json!({"source": "aws.events", "detail-type": "Something Else", "detail": {}}),
                "detail-type",
            ),
            (
                json!({"source": "aws.events", "detail-type": "Scheduled Event", "time": "yesterday", "detail": {}}),
                "time",
            ),
        ];
        // Clients without rules: any AWS call would panic the test.
        let lattice = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, []);
        let rds = rds(&[]);
        for (body, field) in cases {
            let err = handle_with_backoff(&lattice, &rds, &no_dns(), body.clone(), now(), &NO_WAIT)
                .await
                .unwrap_err();
            assert_eq!(err.name(), "Input.Invalid", "{body}: {err}");
            assert!(
                matches!(&err, StepError::InvalidInput { field: f, .. } if f == field),
                "{body}: expected {field}, got {err}"
            );
        }
    }

    // ---- dns mode

    #[tokio::test]
    async fn dns_multi_az_failover_verifies_the_stable_endpoint_without_update() {
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP)]);
        let primary = instance(DB, "available", DB_EP);
        let r = run(&lattice, &rds(&[&primary]), &no_dns(), I0049).await;
        assert!(r.error.is_none());
        let row = only(&r);
        assert_eq!(row.outcome, Outcome::Unchanged);
        assert_eq!(row.reason, "verified: endpoint is stable across failover");
        assert_eq!(
            (row.from.as_deref(), row.to.as_deref()),
            (Some(DB_EP), Some(DB_EP))
        );
        assert_eq!(lattice.update.num_calls(), 0);
        assert_eq!(lattice.tag.num_calls(), 0);
        assert_eq!(primary.num_calls(), 1);
        assert_eq!(r.summary.repoint_latency_ms, None);
    }

    #[tokio::test]
    async fn dns_cluster_failover_new_writer_same_cluster_endpoint_no_update() {
        let cfg =
            FakeCfg::new(RCFG, Some("orders"), "dns", dns(CLUSTER_EP)).fronts("cluster", CLUSTER);
        let lattice = FakeLattice::new(vec![cfg]);
        let c = cluster(CLUSTER, CLUSTER_EP, "lattice-cluster-instance-2");
        let r = run(&lattice, &rds(&[&c]), &no_dns(), C0071).await;
        let row = only(&r);
        assert_eq!(row.outcome, Outcome::Unchanged, "{row:?}");
        assert_eq!(row.writer.as_deref(), Some("lattice-cluster-instance-2"));
        assert_eq!(row.database.as_deref(), Some(CLUSTER));
        assert_eq!(lattice.update.num_calls(), 0);
        assert_eq!(c.num_calls(), 1);
    }

    #[tokio::test]
    async fn dns_primary_gone_repoints_to_the_available_standby_and_swaps_tags() {
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP).standby("instance", REPLICA)]);
        let (gone, standby) = (
            instance_gone(DB),
            instance(REPLICA, "available", REPLICA_EP),
        );
        let r = run(&lattice, &rds(&[&gone, &standby]), &no_dns(), I0049).await;
        assert!(r.error.is_none(), "{:?}", r.error);
        let row = only(&r);
        assert_eq!(row.outcome, Outcome::Repointed, "{row:?}");
        assert_eq!(
            (row.from.as_deref(), row.to.as_deref()),
            (Some(DB_EP), Some(REPLICA_EP))
        );
        assert!(
            row.reason.contains("is gone") && row.reason.contains(REPLICA),
            "{}",
            row.reason
        );
        // The update carries the standby's endpoint and keeps the address type.
        assert_eq!(lattice.updates(), vec![(RCFG.to_string(), dns(REPLICA_EP))]);
        assert_eq!(lattice.update.num_calls(), 1);
        // Tags swapped: the standby is the primary now, the old primary the standby.
        let tagged = lattice.tagged();
        assert_eq!(tagged.len(), 1);
        let (arn, t) = &tagged[0];
        assert_eq!(arn, &lattice.cfg(RCFG).arn());
        assert_eq!(t[tags::DB_IDENTIFIER], REPLICA);
        assert_eq!(t[tags::DB_KIND], "instance");
        assert_eq!(t[tags::STANDBY_IDENTIFIER], DB);
        assert_eq!(t[tags::STANDBY_KIND], "instance");
        // Event time 10:15:42Z, now 3 s later.
        assert_eq!(r.summary.repoint_latency_ms, Some(3000));
    }

    #[tokio::test]
    async fn a_stopped_primary_is_kept_when_no_standby_is_recorded() {
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP)]);
        let stopped = instance(DB, "stopped", DB_EP);
        let r = run(&lattice, &rds(&[&stopped]), &no_dns(), I0049).await;
        let row = only(&r);
        assert_eq!(row.outcome, Outcome::Unchanged);
        assert!(
            row.reason.contains("is stopped and no standby is recorded"),
            "{}",
            row.reason
        );
        assert_eq!(lattice.update.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_primary_gone_without_standby_fails_with_not_found() {
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP)]);
        let gone = instance_gone(DB);
        let r = run(&lattice, &rds(&[&gone]), &no_dns(), I0049).await;
        assert_eq!(only(&r).outcome, Outcome::Failed);
        assert_eq!(r.error.as_ref().unwrap().name(), "Resource.NotFound");
        assert_eq!(lattice.update.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_standby_still_promoting_is_a_retryable_conflict() {
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP).standby("instance", REPLICA)]);
        let (gone, promoting) = (
            instance_gone(DB),
            instance(REPLICA, "modifying", REPLICA_EP),
        );
        let r = run(&lattice, &rds(&[&gone, &promoting]), &no_dns(), I0015).await;
        assert_eq!(only(&r).outcome, Outcome::Failed);
        assert_eq!(r.error.as_ref().unwrap().name(), "Resource.Conflict");
        assert!(
            only(&r).reason.contains("is modifying"),
            "{}",
            only(&r).reason
        );
        assert_eq!(lattice.update.num_calls(), 0);
    }

    #[tokio::test]
    async fn rds_errors_keep_their_stable_names() {
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP)]);
        let denied = mock!(Rds::describe_db_instances).then_http_response(|| {
            testing::rds_error(
                403,
                "AccessDenied",
                "not authorized to perform rds:DescribeDBInstances",
            )
        });
        let lambda = rds(&[&denied]);
        let err = handle_with_backoff(
            &lattice.client(),
            &lambda,
            &no_dns(),
            ev(I0049),
            now(),
            &NO_WAIT,
        )
        .await
        .unwrap_err();
        assert_eq!(err.name(), "Aws.AccessDenied");
        assert!(err.to_string().contains("rds:DescribeDBInstances"), "{err}");
    }

    // ---- ip mode

    #[tokio::test]
    async fn ip_mode_repoints_to_the_new_address_and_not_when_it_is_the_same() {
        let new_ip = Ipv4Addr::new(10, 0, 2, 20);
        let resolver = FakeResolver(vec![(DB_EP, new_ip)]);
        let primary = instance(DB, "available", DB_EP);
        let rds = rds(&[&primary]);

        let lattice = FakeLattice::new(vec![FakeCfg::new(
            RCFG,
            Some("orders"),
            "ip",
            ip("10.0.1.10"),
        )
        .fronts("instance", DB)]);
        let r = run(&lattice, &rds, &resolver, I0049).await;
        let row = only(&r);
        assert_eq!(row.outcome, Outcome::Repointed);
        assert_eq!(
            (row.from.as_deref(), row.to.as_deref()),
            (Some("10.0.1.10"), Some("10.0.2.20"))
        );
        assert_eq!(lattice.updates(), vec![(RCFG.to_string(), ip("10.0.2.20"))]);
        // Same primary: no tag swap.
        assert_eq!(lattice.tag.num_calls(), 0);
        assert_eq!(r.summary.repoint_latency_ms, Some(3000));

        let lattice = FakeLattice::new(vec![FakeCfg::new(
            RCFG,
            Some("orders"),
            "ip",
            ip("10.0.2.20"),
        )
        .fronts("instance", DB)]);
        let r = run(&lattice, &rds, &resolver, I0049).await;
        assert_eq!(only(&r).outcome, Outcome::Unchanged);
        assert_eq!(lattice.update.num_calls(), 0);
    }

    // ---- arn mode

    #[tokio::test]
    async fn arn_mode_never_updates_even_when_the_arn_differs() {
        let primary = instance(DB, "available", DB_EP);
        let rds_ok = rds(&[&primary]);
        let lattice = FakeLattice::new(vec![FakeCfg::new(
            RCFG,
            Some("orders"),
            "arn",
            arn(&db_arn(DB)),
        )
        .fronts("instance", DB)]);
        let r = run(&lattice, &rds_ok, &no_dns(), I0049).await;
        assert_eq!(only(&r).outcome, Outcome::Unchanged);
        assert!(
            only(&r).reason.starts_with("verified"),
            "{}",
            only(&r).reason
        );

        let lattice = FakeLattice::new(vec![FakeCfg::new(
            RCFG,
            Some("orders"),
            "arn",
            arn(&db_arn("some-other-db")),
        )
        .fronts("instance", DB)]);
        let r = run(&lattice, &rds_ok, &no_dns(), I0049).await;
        let row = only(&r);
        assert_eq!(row.outcome, Outcome::Unchanged);
        assert_eq!(
            row.reason,
            "arn definitions are not updatable; AWS follows the database"
        );
        assert_eq!(lattice.update.num_calls(), 0);

        // Even when the standby took over: no update, no tag swap.
        let lattice = FakeLattice::new(vec![FakeCfg::new(
            RCFG,
            Some("orders"),
            "arn",
            arn(&db_arn(DB)),
        )
        .fronts("instance", DB)
        .standby("instance", REPLICA)]);
        let (gone, standby) = (
            instance_gone(DB),
            instance(REPLICA, "available", REPLICA_EP),
        );
        let r = run(&lattice, &rds(&[&gone, &standby]), &no_dns(), I0049).await;
        assert_eq!(only(&r).outcome, Outcome::Unchanged);
        assert_eq!(only(&r).to, Some(db_arn(REPLICA)));
        assert_eq!(lattice.update.num_calls(), 0);
        assert_eq!(lattice.tag.num_calls(), 0);
    }

    // ---- Replays, late events, unrelated events

    #[tokio::test]
    async fn a_duplicate_event_repoints_once_then_finds_the_configuration_matching() {
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP).standby("instance", REPLICA)]);
        let (gone, standby) = (
            instance_gone(DB),
            instance(REPLICA, "available", REPLICA_EP),
        );
        let rds = rds(&[&gone, &standby]);
        let first = run(&lattice, &rds, &no_dns(), I0049).await;
        assert_eq!(only(&first).outcome, Outcome::Repointed);
        // Same event again: the tags now name the replica as primary and the old one as standby.
        let second = run(&lattice, &rds, &no_dns(), I0049).await;
        let row = only(&second);
        assert_eq!(row.outcome, Outcome::Unchanged, "{row:?}");
        assert_eq!(row.database.as_deref(), Some(REPLICA));
        assert_eq!(lattice.update.num_calls(), 1);
        assert_eq!(lattice.tag.num_calls(), 1);
        assert_eq!(lattice.cfg(RCFG).def, dns(REPLICA_EP));
    }

    #[tokio::test]
    async fn a_late_event_never_moves_the_configuration_back_to_the_old_primary() {
        // State after the repoint: the replica is the primary, the old primary the standby.
        let cfg = FakeCfg::new(RCFG, Some("orders"), "dns", dns(REPLICA_EP))
            .fronts("instance", REPLICA)
            .standby("instance", DB);
        let lattice = FakeLattice::new(vec![cfg]);
        // The old primary is back and available: still not a reason to move.
        let (new_primary, old) = (
            instance(REPLICA, "available", REPLICA_EP),
            instance(DB, "available", DB_EP),
        );
        let r = run(&lattice, &rds(&[&new_primary, &old]), &no_dns(), I0013).await;
        let row = only(&r);
        assert_eq!(row.outcome, Outcome::Unchanged);
        assert_eq!(row.to.as_deref(), Some(REPLICA_EP));
        assert_eq!(lattice.update.num_calls(), 0);
        assert_eq!(lattice.tag.num_calls(), 0);
        assert_eq!(
            old.num_calls(),
            0,
            "the standby is not even read while the primary is usable"
        );
    }

    #[tokio::test]
    async fn a_promoted_replica_stays_primary_after_the_old_primary_is_gone() {
        let cfg = FakeCfg::new(RCFG, Some("orders"), "dns", dns(REPLICA_EP))
            .fronts("instance", REPLICA)
            .standby("instance", DB);
        let lattice = FakeLattice::new(vec![cfg]);
        let promoted = instance(REPLICA, "available", REPLICA_EP);
        let gone = instance_gone(DB);
        let r = run(&lattice, &rds(&[&promoted, &gone]), &no_dns(), SCHEDULE).await;
        assert_eq!(only(&r).outcome, Outcome::Unchanged, "{:?}", only(&r));
        assert!(r.error.is_none());
        assert_eq!(lattice.update.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_standby_still_replicating_never_takes_the_writes() {
        // Primary gone, the standby available but not promoted: a read-only database.
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP).standby("instance", REPLICA)]);
        let gone = instance_gone(DB);
        let replica = instance_rule(REPLICA, "available", REPLICA_EP, Some(DB));
        let r = run(&lattice, &rds(&[&gone, &replica]), &no_dns(), I0015).await;
        assert_eq!(only(&r).outcome, Outcome::Failed);
        assert_eq!(
            r.error.as_ref().unwrap().name(),
            "Resource.Conflict",
            "retried: it may be promoted"
        );
        let reason = &only(&r).reason;
        assert!(
            reason.contains("is a read replica of `lattice-db`"),
            "{reason}"
        );
        assert!(reason.contains("not repointed"), "{reason}");
        assert_eq!(
            (lattice.update.num_calls(), lattice.tag.num_calls()),
            (0, 0)
        );

        // Primary stopped (not gone), standby still replicating: keep the primary.
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP).standby("instance", REPLICA)]);
        let stopped = instance(DB, "stopped", DB_EP);
        let r = run(&lattice, &rds(&[&stopped, &replica]), &no_dns(), SCHEDULE).await;
        assert_eq!(only(&r).outcome, Outcome::Unchanged, "{:?}", only(&r));
        assert!(
            only(&r).reason.contains("cannot take writes"),
            "{}",
            only(&r).reason
        );
        assert_eq!(lattice.update.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_unrelated_database_or_event_is_ignored_without_touching_configurations() {
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP)]);
        let rds = rds(&[]);
        let r = run(&lattice, &rds, &no_dns(), UNRELATED).await;
        assert!(r.summary.results.is_empty());
        assert_eq!(
            r.summary.ignored.as_deref(),
            Some("ignored: no configuration fronts billing-db")
        );
        assert_eq!(
            (lattice.get.num_calls(), lattice.update.num_calls()),
            (0, 0)
        );
        assert_eq!(lattice.list.num_calls(), 1);

        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP)]);
        let r = run(&lattice, &rds, &no_dns(), UNHANDLED).await;
        assert!(r.summary.ignored.is_some() && r.error.is_none());
        assert_eq!(lattice.list.num_calls(), 0);

        // Same identifier but a cluster event: the configuration fronts an instance.
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP)]);
        let mut e = ev(C0071);
        e["detail"]["SourceIdentifier"] = json!("rds:lattice-db");
        let r = reconcile(&lattice.client(), &rds, &no_dns(), e, now(), &NO_WAIT)
            .await
            .unwrap();
        assert!(r.summary.ignored.is_some(), "{:?}", r.summary);
        assert_eq!(lattice.get.num_calls(), 0);
    }

    #[tokio::test]
    async fn configurations_of_other_owners_are_never_read() {
        // Our DB tags but no deployment tag: not ours.
        let foreign = FakeCfg::new(RCFG, None, "dns", dns(DB_EP)).fronts("instance", DB);
        let lattice = FakeLattice::new(vec![foreign]);
        let r = run(&lattice, &rds(&[]), &no_dns(), I0049).await;
        assert!(r.summary.ignored.is_some());
        assert_eq!(lattice.get.num_calls(), 0);
        assert_eq!(lattice.tags.num_calls(), 0, "not even its tags");
    }

    #[tokio::test]
    async fn only_the_configuration_named_like_ours_on_a_gateway_named_like_ours_is_tag_read() {
        let ours = dns_cfg(DB_EP);
        let mut cfgs = vec![];
        // Other owners: many configurations on their own gateways.
        for i in 0..7 {
            cfgs.push(
                FakeCfg::new(&format!("rcfg-0{i:016x}"), None, "dns", dns(DB_EP))
                    .fronts("instance", DB)
                    .on_gateway(&format!("rgw-0{i:016x}"), &format!("team{i}-gateway")),
            );
        }
        // A gateway named like ours, holding a configuration that is not named like ours.
        cfgs.push(
            FakeCfg::new("rcfg-0eeeeeeeeeeeeeeee", Some("orders"), "dns", dns(DB_EP))
                .fronts("instance", DB)
                .named("orders-something-else"),
        );
        // Named like ours on a gateway named like ours, but another deployment's tag.
        let impostor = FakeCfg::new("rcfg-0ffffffffffffffff", Some("billing"), "dns", dns(DB_EP))
            .fronts("instance", DB)
            .named("orders-rcfg")
            .on_gateway("rgw-orders", "orders-rgw");
        cfgs.push(impostor.clone());
        cfgs.push(ours.clone());
        let lattice = FakeLattice::new(cfgs);
        let primary = instance(DB, "available", DB_EP);
        let r = run(&lattice, &rds(&[&primary]), &no_dns(), I0049).await;
        let ids: Vec<_> = r
            .summary
            .results
            .iter()
            .map(|x| x.resource_configuration_id.as_str())
            .collect();
        assert_eq!(ids, vec![RCFG]);
        let state = lattice.state.lock().unwrap();
        assert_eq!(state.tag_reads, vec![impostor.arn(), ours.arn()]);
        // 8 gateways in pages of 2, then the configurations of the one named like ours (3, in
        // pages of 2); never a list of every configuration.
        assert_eq!(lattice.gateways.num_calls(), 4);
        assert_eq!(lattice.list.num_calls(), 2);
    }

    // ---- Busy configurations

    #[tokio::test]
    async fn update_in_progress_then_active_is_retried_then_updated() {
        let mut cfg =
            FakeCfg::new(RCFG, Some("orders"), "ip", ip("10.0.1.10")).fronts("instance", DB);
        cfg.statuses = vec![
            ResourceConfigurationStatus::UpdateInProgress,
            ResourceConfigurationStatus::UpdateInProgress,
            ResourceConfigurationStatus::Active,
        ];
        let lattice = FakeLattice::new(vec![cfg]);
        let primary = instance(DB, "available", DB_EP);
        let resolver = FakeResolver(vec![(DB_EP, Ipv4Addr::new(10, 0, 2, 20))]);
        let r = run(&lattice, &rds(&[&primary]), &resolver, I0049).await;
        assert_eq!(only(&r).outcome, Outcome::Repointed);
        assert_eq!(lattice.get.num_calls(), 3);
        assert_eq!(lattice.update.num_calls(), 1);
        assert_eq!(
            primary.num_calls(),
            1,
            "the truth is read once per configuration"
        );
    }

    #[tokio::test]
    async fn a_conflict_on_update_is_retried() {
        let mut cfg = dns_cfg(DB_EP).standby("instance", REPLICA);
        cfg.conflicts = 2;
        let lattice = FakeLattice::new(vec![cfg]);
        let (gone, standby) = (
            instance_gone(DB),
            instance(REPLICA, "available", REPLICA_EP),
        );
        let r = run(&lattice, &rds(&[&gone, &standby]), &no_dns(), I0049).await;
        assert_eq!(only(&r).outcome, Outcome::Repointed);
        assert_eq!(lattice.update.num_calls(), 3);
        assert_eq!(lattice.updates().len(), 1);
        assert_eq!(lattice.tag.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_persistent_conflict_fails_the_configuration_with_resource_conflict() {
        let mut cfg = dns_cfg(DB_EP).standby("instance", REPLICA);
        cfg.conflicts = usize::MAX;
        let lattice = FakeLattice::new(vec![cfg]);
        let (gone, standby) = (
            instance_gone(DB),
            instance(REPLICA, "available", REPLICA_EP),
        );
        let rds = rds(&[&gone, &standby]);
        let r = run(&lattice, &rds, &no_dns(), I0049).await;
        assert_eq!(only(&r).outcome, Outcome::Failed);
        assert_eq!(only(&r).to.as_deref(), Some(REPLICA_EP));
        // One attempt plus one per backoff delay.
        assert_eq!(lattice.update.num_calls(), 1 + NO_WAIT.len());
        assert_eq!(
            lattice.tag.num_calls(),
            0,
            "tags only move with the definition"
        );

        let err = handle_with_backoff(
            &lattice.client(),
            &rds,
            &no_dns(),
            ev(I0049),
            now(),
            &NO_WAIT,
        )
        .await
        .unwrap_err();
        assert_eq!(err.name(), "Resource.Conflict");
        assert!(
            err.to_string().contains("UpdateResourceConfiguration"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_configuration_that_stays_busy_fails_with_resource_conflict() {
        let mut cfg = dns_cfg(DB_EP);
        cfg.statuses = vec![ResourceConfigurationStatus::CreateInProgress];
        let lattice = FakeLattice::new(vec![cfg]);
        let r = run(&lattice, &rds(&[]), &no_dns(), I0049).await;
        assert_eq!(only(&r).outcome, Outcome::Failed);
        assert_eq!(r.error.as_ref().unwrap().name(), "Resource.Conflict");
        assert_eq!(lattice.get.num_calls(), 1 + NO_WAIT.len());
    }

    // ---- Scheduled reconcile

    #[tokio::test]
    async fn the_schedule_repairs_a_drifted_configuration_and_leaves_correct_ones_alone() {
        let drifted = FakeCfg::new(
            "rcfg-0aaaaaaaaaaaaaaaa",
            Some("orders"),
            "ip",
            ip("10.0.1.10"),
        )
        .fronts("instance", DB);
        let correct = FakeCfg::new(
            "rcfg-0bbbbbbbbbbbbbbbb",
            Some("billing"),
            "dns",
            dns(CLUSTER_EP),
        )
        .fronts("cluster", CLUSTER);
        let foreign = FakeCfg::new("rcfg-0cccccccccccccccc", None, "dns", dns("db.example.com"));
        // Three configurations: two pages.
        let lattice = FakeLattice::new(vec![drifted, foreign, correct]);
        let primary = instance(DB, "available", DB_EP);
        let c = cluster(CLUSTER, CLUSTER_EP, "lattice-cluster-instance-1");
        let resolver = FakeResolver(vec![(DB_EP, Ipv4Addr::new(10, 0, 2, 20))]);
        let r = run(&lattice, &rds(&[&primary, &c]), &resolver, SCHEDULE).await;
        assert_eq!(r.summary.trigger, TriggerKind::Schedule);
        // Three gateways in two pages; one configuration list per gateway named like ours.
        assert_eq!(lattice.gateways.num_calls(), 2, "paginated");
        assert_eq!(lattice.list.num_calls(), 2);
        let outcomes: Vec<_> = r
            .summary
            .results
            .iter()
            .map(|x| (x.resource_configuration_id.as_str(), x.outcome))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("rcfg-0aaaaaaaaaaaaaaaa", Outcome::Repointed),
                ("rcfg-0bbbbbbbbbbbbbbbb", Outcome::Unchanged)
            ]
        );
        assert_eq!(
            lattice.updates(),
            vec![("rcfg-0aaaaaaaaaaaaaaaa".to_string(), ip("10.0.2.20"))]
        );
        assert!(!lattice
            .gets()
            .contains(&"rcfg-0cccccccccccccccc".to_string()));
        assert_eq!(
            r.summary.repoint_latency_ms, None,
            "no event to measure from"
        );
    }

    #[tokio::test]
    async fn a_deployment_level_blue_green_event_checks_every_configuration() {
        let lattice = FakeLattice::new(vec![FakeCfg::new(
            RCFG,
            Some("orders"),
            "ip",
            ip("10.0.1.10"),
        )
        .fronts("instance", DB)]);
        // After a switchover the green database carries the old name, at a new address.
        let primary = instance(DB, "available", DB_EP);
        let resolver = FakeResolver(vec![(DB_EP, Ipv4Addr::new(10, 0, 3, 30))]);
        let r = run(&lattice, &rds(&[&primary]), &resolver, BG0248).await;
        assert_eq!(r.summary.trigger, TriggerKind::Event);
        assert_eq!(only(&r).outcome, Outcome::Repointed);
        assert_eq!(lattice.updates(), vec![(RCFG.to_string(), ip("10.0.3.30"))]);
    }

    #[tokio::test]
    async fn an_rds_database_switchover_0251_checks_every_configuration() {
        let lattice = FakeLattice::new(vec![FakeCfg::new(
            RCFG,
            Some("orders"),
            "ip",
            ip("10.0.1.10"),
        )
        .fronts("instance", DB)]);
        // The green instance now carries the name `lattice-db`, at a new address.
        let primary = instance(DB, "available", DB_EP);
        let resolver = FakeResolver(vec![(DB_EP, Ipv4Addr::new(10, 0, 3, 31))]);
        let r = run(&lattice, &rds(&[&primary]), &resolver, BG0251).await;
        assert_eq!(r.summary.event_id.as_deref(), Some("RDS-EVENT-0251"));
        assert_eq!(only(&r).outcome, Outcome::Repointed);
        assert_eq!(lattice.updates(), vec![(RCFG.to_string(), ip("10.0.3.31"))]);
    }

    #[tokio::test]
    async fn an_aurora_cluster_switchover_0260_repoints_ip_and_verifies_dns() {
        let ip_cfg = FakeCfg::new(
            "rcfg-0aaaaaaaaaaaaaaaa",
            Some("orders"),
            "ip",
            ip("10.0.1.40"),
        )
        .fronts("cluster", CLUSTER);
        let dns_cfg =
            FakeCfg::new(RCFG, Some("billing"), "dns", dns(CLUSTER_EP)).fronts("cluster", CLUSTER);
        let lattice = FakeLattice::new(vec![ip_cfg, dns_cfg]);
        // After the switchover the green cluster is `lattice-cluster`: same endpoint name,
        // another writer at another address.
        let c = cluster(CLUSTER, CLUSTER_EP, "lattice-cluster-instance-2");
        let resolver = FakeResolver(vec![(CLUSTER_EP, Ipv4Addr::new(10, 0, 4, 40))]);
        let r = run(&lattice, &rds(&[&c]), &resolver, BG0260).await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.summary.event_id.as_deref(), Some("RDS-EVENT-0260"));
        let outcomes: Vec<_> = r
            .summary
            .results
            .iter()
            .map(|x| (x.resource_configuration_id.as_str(), x.outcome))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("rcfg-0aaaaaaaaaaaaaaaa", Outcome::Repointed),
                (RCFG, Outcome::Unchanged)
            ]
        );
        assert_eq!(
            lattice.updates(),
            vec![("rcfg-0aaaaaaaaaaaaaaaa".to_string(), ip("10.0.4.40"))]
        );
        assert!(r.summary.repoint_latency_ms.is_some());
    }

    #[tokio::test]
    async fn switchover_started_and_canceled_events_are_ignored() {
        // Started: the databases are being renamed; canceled: nothing moved. The schedule
        // reconciles anyway; the rule does not deliver them (template.yaml).
        for id in [
            "RDS-EVENT-0247",
            "RDS-EVENT-0249",
            "RDS-EVENT-0250",
            "RDS-EVENT-0252",
            "RDS-EVENT-0259",
            "RDS-EVENT-0261",
        ] {
            let lattice = FakeLattice::new(vec![dns_cfg(DB_EP)]);
            let mut e = ev(BG0260);
            e["detail"]["EventID"] = json!(id);
            let r = reconcile(&lattice.client(), &rds(&[]), &no_dns(), e, now(), &NO_WAIT)
                .await
                .unwrap();
            assert!(
                r.summary.ignored.as_deref().is_some_and(|s| s.contains(id)),
                "{id}: {:?}",
                r.summary
            );
            assert_eq!(lattice.list.num_calls(), 0, "{id}");
        }
    }

    #[tokio::test]
    async fn multi_az_reactivation_0050_verifies_dns_without_update() {
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP)]);
        let primary = instance(DB, "available", DB_EP);
        let r = run(&lattice, &rds(&[&primary]), &no_dns(), I0050).await;
        assert!(r.error.is_none());
        assert_eq!(r.summary.event_id.as_deref(), Some("RDS-EVENT-0050"));
        assert_eq!(only(&r).outcome, Outcome::Unchanged);
        assert_eq!(lattice.update.num_calls(), 0);
        assert_eq!(primary.num_calls(), 1, "the truth is re-read");
    }

    #[tokio::test]
    async fn multi_az_reactivation_0051_repoints_ip_mode_to_the_recovered_address() {
        // A recovery in the same AZ may bring the primary back on another host and address.
        let lattice = FakeLattice::new(vec![FakeCfg::new(
            RCFG,
            Some("orders"),
            "ip",
            ip("10.0.1.10"),
        )
        .fronts("instance", DB)]);
        let primary = instance(DB, "available", DB_EP);
        let resolver = FakeResolver(vec![(DB_EP, Ipv4Addr::new(10, 0, 1, 77))]);
        let r = run(&lattice, &rds(&[&primary]), &resolver, I0051).await;
        assert_eq!(r.summary.event_id.as_deref(), Some("RDS-EVENT-0051"));
        assert_eq!(only(&r).outcome, Outcome::Repointed);
        assert_eq!(lattice.updates(), vec![(RCFG.to_string(), ip("10.0.1.77"))]);
        // The same event again finds it right.
        let r = run(&lattice, &rds(&[&primary]), &resolver, I0051).await;
        assert_eq!(only(&r).outcome, Outcome::Unchanged);
        assert_eq!(lattice.updates().len(), 1);
    }

    // ---- Output, resolver

    #[tokio::test]
    async fn the_summary_has_the_documented_shape() {
        let lattice = FakeLattice::new(vec![dns_cfg(DB_EP)]);
        let primary = instance(DB, "available", DB_EP);
        let s = handle_with_backoff(
            &lattice.client(),
            &rds(&[&primary]),
            &no_dns(),
            ev(I0049),
            now(),
            &NO_WAIT,
        )
        .await
        .unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            json!({
                "trigger": "event",
                "eventId": "RDS-EVENT-0049",
                "database": DB,
                "results": [{
                    "resourceConfigurationId": RCFG,
                    "mode": "dns",
                    "outcome": "unchanged",
                    "reason": "verified: endpoint is stable across failover",
                    "from": DB_EP,
                    "to": DB_EP,
                    "database": DB
                }]
            })
        );
    }

    #[tokio::test]
    async fn the_dns_resolver_is_the_systems_and_a_name_that_does_not_resolve_is_transient() {
        assert_eq!(
            DnsResolver.resolve_ipv4("localhost").await.unwrap(),
            Ipv4Addr::LOCALHOST
        );
        // `.invalid` never resolves (RFC 2606).
        let e = DnsResolver
            .resolve_ipv4("orders-db.lattice-db-access.invalid")
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Aws.Transient", "{e}");
    }
}
