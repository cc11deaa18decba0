//! The polling Lambda behind every Wait → Task → Choice loop of the state
//! machine: reads one resource's status and says READY, PENDING, FAILED or
//! TIMED_OUT (after the policy's attempt bound), with the wait before the next try.
//! Recipe differences: no CLI waiters (none exist for Lattice; the RDS one
//! outlives a Lambda), and the client DNS name comes from the service network
//! resource association, not the resource configuration (aws-facts §2 #4, #8, #10).

use aws_sdk_rds::types::{DbCluster, DbInstance, Filter};
use serde::{Deserialize, Serialize};
use shared::input::Mode;
use shared::plan::{
    DatabaseOut, DbKind, DnsNameFrom, IdArn, PollOut, PollState, ServiceNetworkOut,
};
use shared::poll::{outcome, Class, Policy};
use shared::rds::{describe_cluster, describe_instance};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "status";

/// What to poll; the ASL passes it with the whole execution state.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Database,
    ResourceGateway,
    VpcAssociations,
    ResourceConfiguration,
    ResourceAssociation,
}

/// What to poll, and exactly what that poll reads from the execution state: the ASL passes
/// `{"kind": "<kind>", "ctx": <the execution state>}`, and a section the kind needs but the state
/// lacks fails at the boundary, naming it. `previous` is this loop's last poll (absent at first).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "ctx", rename_all = "kebab-case")]
pub enum StatusInput {
    Database(DatabaseIn),
    ResourceGateway(GatewayIn),
    VpcAssociations(VpcAssociationsIn),
    ResourceConfiguration(ResourceConfigurationIn),
    ResourceAssociation(ResourceAssociationIn),
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseIn {
    pub database: DatabaseOut,
    #[serde(default, rename = "databasePoll")]
    pub previous: Option<PollOut>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayIn {
    pub gateway: IdArn,
    #[serde(default, rename = "gatewayPoll")]
    pub previous: Option<PollOut>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VpcAssociationsIn {
    pub service_network: ServiceNetworkOut,
    #[serde(default, rename = "vpcAssociationsPoll")]
    pub previous: Option<PollOut>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceConfigurationIn {
    pub resource_configuration: IdArn,
    #[serde(default, rename = "resourceConfigurationPoll")]
    pub previous: Option<PollOut>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAssociationIn {
    pub plan: PlanMode,
    pub resource_association: IdArn,
    /// The database endpoint: what clients use in `arn` mode when the association has no DNS entry.
    #[serde(default)]
    pub database_poll: Option<PollOut>,
    #[serde(default, rename = "resourceAssociationPoll")]
    pub previous: Option<PollOut>,
}

/// Of the plan, the resource association's poll reads only the mode.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PlanMode {
    pub mode: Mode,
}

impl StatusInput {
    pub fn kind(&self) -> Kind {
        match self {
            Self::Database(_) => Kind::Database,
            Self::ResourceGateway(_) => Kind::ResourceGateway,
            Self::VpcAssociations(_) => Kind::VpcAssociations,
            Self::ResourceConfiguration(_) => Kind::ResourceConfiguration,
            Self::ResourceAssociation(_) => Kind::ResourceAssociation,
        }
    }

    /// The previous poll of this loop, carried in the execution state.
    fn previous(&self) -> Option<&PollOut> {
        match self {
            Self::Database(i) => i.previous.as_ref(),
            Self::ResourceGateway(i) => i.previous.as_ref(),
            Self::VpcAssociations(i) => i.previous.as_ref(),
            Self::ResourceConfiguration(i) => i.previous.as_ref(),
            Self::ResourceAssociation(i) => i.previous.as_ref(),
        }
    }
}

/// RDS statuses from which a database does not become available by itself.
const RDS_FAILED: &[&str] = &[
    "failed",
    "incompatible-restore",
    "incompatible-parameters",
    "incompatible-network",
    "incompatible-option-group",
    "inaccessible-encryption-credentials",
    "restore-error",
    "storage-full",
    "deleting",
    "deleted",
];

pub async fn handle(
    rds: &aws_sdk_rds::Client,
    lattice: &aws_sdk_vpclattice::Client,
    input: StatusInput,
) -> Result<PollOut, StepError> {
    let kind = input.kind();
    let attempt = input.previous().map_or(1, |p| p.attempt.saturating_add(1));
    let out = match &input {
        StatusInput::Database(i) => database(rds, i, attempt).await?,
        StatusInput::ResourceGateway(i) => gateway(lattice, i, attempt).await?,
        StatusInput::VpcAssociations(i) => vpc_associations(lattice, i, attempt).await?,
        StatusInput::ResourceConfiguration(i) => {
            resource_configuration(lattice, i, attempt).await?
        }
        StatusInput::ResourceAssociation(i) => resource_association(lattice, i, attempt).await?,
    };
    tracing::info!(
        kind = ?kind,
        state = ?out.state,
        status = %out.status,
        attempt = out.attempt,
        max_attempts = out.max_attempts,
        reason = out.reason.as_deref(),
        "polled"
    );
    let (dimensions, metrics) = poll_metrics(kind, &out);
    shared::emf::emit(&dimensions, &metrics);
    Ok(out)
}

impl Kind {
    /// The name the ASL uses (and the `Kind` metric dimension).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Database => "database",
            Kind::ResourceGateway => "resource-gateway",
            Kind::VpcAssociations => "vpc-associations",
            Kind::ResourceConfiguration => "resource-configuration",
            Kind::ResourceAssociation => "resource-association",
        }
    }
}

type Dimensions = [(&'static str, &'static str); 3];
type Metrics = [(&'static str, f64, &'static str); 2];

/// The EMF metrics of one poll, by `Kind` and `PollState` (READY, PENDING, FAILED, TIMED_OUT):
/// `PollAttempts` counts polls (its Sum is how often a loop went round), `Attempt` is this poll's
/// number in its loop (its Maximum is how long loops take to converge).
pub fn poll_metrics(kind: Kind, out: &PollOut) -> (Dimensions, Metrics) {
    let state = match out.state {
        PollState::Pending => "PENDING",
        PollState::Ready => "READY",
        PollState::Failed => "FAILED",
        PollState::TimedOut => "TIMED_OUT",
    };
    (
        [
            ("Function", COMPONENT),
            ("Kind", kind.name()),
            ("PollState", state),
        ],
        [
            ("PollAttempts", 1.0, "Count"),
            ("Attempt", f64::from(out.attempt), "Count"),
        ],
    )
}

impl Kind {
    /// Where this kind's poll lives in the execution state (the ASL's Choice reads
    /// `$.<slot>.state`; `statemachine` writes the same names).
    pub fn slot(self) -> &'static str {
        match self {
            Kind::Database => "databasePoll",
            Kind::ResourceGateway => "gatewayPoll",
            Kind::VpcAssociations => "vpcAssociationsPoll",
            Kind::ResourceConfiguration => "resourceConfigurationPoll",
            Kind::ResourceAssociation => "resourceAssociationPoll",
        }
    }
}

/// Poll, and return the execution state (`ctx` of the payload) with this poll recorded in its
/// slot; the rest of the state passes through untouched.
pub async fn handle_state(
    rds: &aws_sdk_rds::Client,
    lattice: &aws_sdk_vpclattice::Client,
    payload: serde_json::Value,
) -> Result<serde_json::Value, StepError> {
    let input: StatusInput = shared::runtime::state_input(COMPONENT, payload.clone())?;
    let kind = input.kind();
    let out = handle(rds, lattice, input).await?;
    let mut state = match payload {
        serde_json::Value::Object(mut m) => m.remove("ctx").unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    let out = serde_json::to_value(out)
        .map_err(|e| StepError::internal(format!("serializing the poll: {e}")))?;
    match state.as_object_mut() {
        Some(m) => {
            m.insert(kind.slot().to_string(), out);
            Ok(state)
        }
        None => Err(StepError::internal(
            "the execution state (`ctx`) is not an object",
        )),
    }
}

/// `outcome`, keeping our detail (which instance, which association) when the
/// loop times out: `outcome` replaces the reason with a generic one then.
fn poll(
    policy: Policy,
    attempt: u32,
    subject: &str,
    status: &str,
    class: Class,
    detail: Option<String>,
) -> PollOut {
    let mut out = outcome(policy, attempt, subject, status, class, detail.clone());
    if out.state == PollState::TimedOut {
        // The detail, unless it only repeats what the cause says already.
        let detail = detail.filter(|d| *d != format!("{subject} is {status}"));
        if let (Some(generic), Some(detail)) = (out.reason.as_mut(), detail) {
            generic.push_str(": ");
            generic.push_str(&detail);
        }
    }
    out
}

// ---- database ----

fn rds_class(status: &str) -> Class {
    if status == "available" {
        Class::Ready
    } else if RDS_FAILED.contains(&status) {
        Class::Failed
    } else {
        // creating, backing-up, modifying, ... and statuses RDS adds later.
        Class::Pending
    }
}

fn port(p: Option<i32>) -> Option<u16> {
    p.and_then(|p| u16::try_from(p).ok())
}

async fn database(
    rds: &aws_sdk_rds::Client,
    input: &DatabaseIn,
    attempt: u32,
) -> Result<PollOut, StepError> {
    let db = &input.database;
    let p = Policy::DATABASE;
    let id = db.identifier.as_str();
    match db.kind {
        DbKind::Instance => {
            let subject = format!("DB instance {id}");
            let Some(i) = describe_instance(rds, id).await? else {
                return Ok(poll(
                    p,
                    attempt,
                    &subject,
                    "not-found",
                    Class::Failed,
                    Some(format!(
                        "the database disappeared: DB instance {id} no longer exists"
                    )),
                ));
            };
            let status = i.db_instance_status().unwrap_or("unknown");
            match (rds_class(status), i.endpoint().and_then(|e| e.address())) {
                (Class::Ready, Some(address)) => {
                    let mut out = poll(p, attempt, &subject, status, Class::Ready, None);
                    out.endpoint = Some(address.into());
                    out.port = port(i.endpoint().and_then(|e| e.port()));
                    out.arn = i.db_instance_arn().map(String::from);
                    out.secret_arn = i
                        .master_user_secret()
                        .and_then(|s| s.secret_arn())
                        .map(String::from);
                    Ok(out)
                }
                (Class::Ready, None) => Ok(poll(
                    p,
                    attempt,
                    &subject,
                    status,
                    Class::Pending,
                    Some(format!(
                        "DB instance {id} is available but has no endpoint yet"
                    )),
                )),
                (Class::Failed, _) => Ok(poll(
                    p,
                    attempt,
                    &subject,
                    status,
                    Class::Failed,
                    Some(failed_db("DB instance", id, status)),
                )),
                (Class::Pending, _) => Ok(poll(p, attempt, &subject, status, Class::Pending, None)),
            }
        }
        DbKind::Cluster => {
            let subject = format!("DB cluster {id}");
            let Some(c) = describe_cluster(rds, id).await? else {
                return Ok(poll(
                    p,
                    attempt,
                    &subject,
                    "not-found",
                    Class::Failed,
                    Some(format!(
                        "the database disappeared: DB cluster {id} no longer exists"
                    )),
                ));
            };
            let status = c.status().unwrap_or("unknown");
            if rds_class(status) == Class::Failed {
                return Ok(poll(
                    p,
                    attempt,
                    &subject,
                    status,
                    Class::Failed,
                    Some(failed_db("DB cluster", id, status)),
                ));
            }
            // The instances we created must be usable too: a cluster without a
            // writer has no endpoint to connect to, and without the reader no failover.
            let mut waiting_on: Option<(String, String)> = None;
            if !db.instance_identifiers.is_empty() {
                let members = cluster_instances(rds, id).await?;
                for want in &db.instance_identifiers {
                    let found = members.iter().find(|i| {
                        i.db_instance_identifier()
                            .is_some_and(|x| x.eq_ignore_ascii_case(want))
                    });
                    let Some(found) = found else {
                        return Ok(poll(
                            p,
                            attempt,
                            &subject,
                            "not-found",
                            Class::Failed,
                            Some(format!(
                                "the database disappeared: DB instance {want} of cluster {id} no longer exists"
                            )),
                        ));
                    };
                    let s = found.db_instance_status().unwrap_or("unknown");
                    match rds_class(s) {
                        Class::Failed => {
                            return Ok(poll(
                                p,
                                attempt,
                                &subject,
                                s,
                                Class::Failed,
                                Some(failed_db(&format!("DB instance {want} of cluster"), id, s)),
                            ))
                        }
                        Class::Pending if waiting_on.is_none() => {
                            waiting_on = Some((want.clone(), s.to_string()));
                        }
                        _ => {}
                    }
                }
            }
            if rds_class(status) == Class::Pending {
                return Ok(poll(p, attempt, &subject, status, Class::Pending, None));
            }
            if let Some((instance, s)) = waiting_on {
                return Ok(poll(
                    p,
                    attempt,
                    &subject,
                    &s,
                    Class::Pending,
                    Some(format!(
                        "DB cluster {id} is available; instance {instance} is {s}"
                    )),
                ));
            }
            let Some(endpoint) = c.endpoint() else {
                return Ok(poll(
                    p,
                    attempt,
                    &subject,
                    status,
                    Class::Pending,
                    Some(format!(
                        "DB cluster {id} is available but has no endpoint yet"
                    )),
                ));
            };
            Ok(cluster_ready(p, attempt, &c, endpoint))
        }
    }
}

fn cluster_ready(p: Policy, attempt: u32, c: &DbCluster, endpoint: &str) -> PollOut {
    let subject = format!("DB cluster {}", c.db_cluster_identifier().unwrap_or("-"));
    let mut out = poll(p, attempt, &subject, "available", Class::Ready, None);
    // The cluster endpoint is the writer's: it follows a failover.
    out.endpoint = Some(endpoint.into());
    out.port = port(c.port());
    out.arn = c.db_cluster_arn().map(String::from);
    out.secret_arn = c
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .map(String::from);
    out
}

fn failed_db(what: &str, id: &str, status: &str) -> String {
    format!(
        "{what} {id} is in status `{status}`, from which it does not become available by itself; \
         see its RDS events for the cause"
    )
}

/// Every instance of the cluster, in one call per page of 100.
async fn cluster_instances(
    rds: &aws_sdk_rds::Client,
    cluster: &str,
) -> Result<Vec<DbInstance>, StepError> {
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        let page = rds
            .describe_db_instances()
            .filters(
                Filter::builder()
                    .name("db-cluster-id")
                    .values(cluster)
                    .build(),
            )
            .max_records(100)
            .set_marker(marker)
            .send()
            .await
            .aws("rds:DescribeDBInstances")?;
        all.extend_from_slice(page.db_instances());
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => return Ok(all),
        }
    }
}

// ---- VPC Lattice ----

fn lattice_class(status: &str) -> Class {
    match status {
        "ACTIVE" => Class::Ready,
        // Being deleted under us: it will not become active.
        "DELETE_IN_PROGRESS" => Class::Failed,
        s if s.ends_with("_FAILED") => Class::Failed,
        // *_IN_PROGRESS, the association's PARTIAL (undocumented), and new values.
        _ => Class::Pending,
    }
}

/// ` (failureCode: x, failureMessage: y)`, from the fields AWS filled.
fn failure_detail(fields: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| format!("{k}: {v}")))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

async fn gateway(
    lattice: &aws_sdk_vpclattice::Client,
    input: &GatewayIn,
    attempt: u32,
) -> Result<PollOut, StepError> {
    let id = input.gateway.id.as_str();
    let subject = format!("resource gateway {id}");
    let out = lattice
        .get_resource_gateway()
        .resource_gateway_identifier(id)
        .send()
        .await
        .aws("vpc-lattice:GetResourceGateway")?;
    let status = out.status().map_or("UNKNOWN", |s| s.as_str());
    let class = lattice_class(status);
    let reason = (class == Class::Failed).then(|| format!("resource gateway {id} is {status}"));
    Ok(poll(
        Policy::LATTICE,
        attempt,
        &subject,
        status,
        class,
        reason,
    ))
}

async fn vpc_associations(
    lattice: &aws_sdk_vpclattice::Client,
    input: &VpcAssociationsIn,
    attempt: u32,
) -> Result<PollOut, StepError> {
    let p = Policy::LATTICE;
    let mut waiting_on: Option<(String, String)> = None;
    for a in &input.service_network.vpc_associations {
        let out = lattice
            .get_service_network_vpc_association()
            .service_network_vpc_association_identifier(&a.id)
            .send()
            .await
            .aws("vpc-lattice:GetServiceNetworkVpcAssociation")?;
        let status = out.status().map_or("UNKNOWN", |s| s.as_str());
        let subject = format!("service network VPC association {} of {}", a.id, a.vpc_id);
        match lattice_class(status) {
            // One failure fails the loop: no need to wait for the others.
            Class::Failed => {
                let detail = failure_detail(&[
                    ("failureCode", out.failure_code()),
                    ("failureMessage", out.failure_message()),
                ]);
                return Ok(poll(
                    p,
                    attempt,
                    &subject,
                    status,
                    Class::Failed,
                    Some(format!("{subject} is {status}{detail}")),
                ));
            }
            Class::Pending if waiting_on.is_none() => {
                waiting_on = Some((subject, status.to_string()));
            }
            _ => {}
        }
    }
    Ok(match waiting_on {
        // The reason (and a timeout's cause) names the association still waited for.
        Some((subject, status)) => poll(
            p,
            attempt,
            &subject,
            &status,
            Class::Pending,
            Some(format!("{subject} is {status}")),
        ),
        None => poll(
            p,
            attempt,
            "client VPC associations",
            "ACTIVE",
            Class::Ready,
            None,
        ),
    })
}

async fn resource_configuration(
    lattice: &aws_sdk_vpclattice::Client,
    input: &ResourceConfigurationIn,
    attempt: u32,
) -> Result<PollOut, StepError> {
    let id = input.resource_configuration.id.as_str();
    let subject = format!("resource configuration {id}");
    let out = lattice
        .get_resource_configuration()
        .resource_configuration_identifier(id)
        .send()
        .await
        .aws("vpc-lattice:GetResourceConfiguration")?;
    let status = out.status().map_or("UNKNOWN", |s| s.as_str());
    let class = lattice_class(status);
    let reason = (class == Class::Failed).then(|| {
        let detail = failure_detail(&[("failureReason", out.failure_reason())]);
        format!("resource configuration {id} is {status}{detail}")
    });
    Ok(poll(
        Policy::LATTICE,
        attempt,
        &subject,
        status,
        class,
        reason,
    ))
}

async fn resource_association(
    lattice: &aws_sdk_vpclattice::Client,
    input: &ResourceAssociationIn,
    attempt: u32,
) -> Result<PollOut, StepError> {
    let p = Policy::LATTICE;
    let id = input.resource_association.id.as_str();
    let subject = format!("resource association {id}");
    let out = lattice
        .get_service_network_resource_association()
        .service_network_resource_association_identifier(id)
        .send()
        .await
        .aws("vpc-lattice:GetServiceNetworkResourceAssociation")?;
    let status = out.status().map_or("UNKNOWN", |s| s.as_str());
    Ok(match lattice_class(status) {
        Class::Ready => {
            // The name clients connect to; GetResourceConfiguration has none.
            let dns = out.dns_entry();
            match dns.and_then(|d| d.domain_name()).filter(|d| !d.is_empty()) {
                Some(name) => {
                    let mut r = poll(p, attempt, &subject, status, Class::Ready, None);
                    r.dns_name = Some(name.into());
                    r.hosted_zone_id = dns.and_then(|d| d.hosted_zone_id()).map(String::from);
                    r.dns_name_from = Some(DnsNameFrom::Association);
                    r
                }
                // An ARN configuration has private DNS always on: in the client VPCs the
                // database's own endpoint resolves through VPC Lattice. Whether its association
                // carries a dnsEntry is unverified (aws-facts §7), so do not wait for one.
                None if input.plan.mode == Mode::Arn => {
                    let endpoint = input
                        .database_poll
                        .as_ref()
                        .and_then(|d| d.endpoint.as_deref())
                        .filter(|e| !e.is_empty())
                        .ok_or_else(|| {
                            StepError::internal(
                                "the execution state has no database endpoint (databasePoll.endpoint) \
                                 for an arn-mode association without a DNS entry",
                            )
                        })?;
                    tracing::info!(
                        resource_association_id = id,
                        dns_name = endpoint,
                        "arn mode: the association has no DNS entry; clients use the database's \
                         own endpoint, which resolves through VPC Lattice in the client VPCs"
                    );
                    let mut r = poll(p, attempt, &subject, status, Class::Ready, None);
                    r.dns_name = Some(endpoint.to_string());
                    r.dns_name_from = Some(DnsNameFrom::DatabaseEndpoint);
                    r
                }
                None => poll(
                    p,
                    attempt,
                    &subject,
                    status,
                    Class::Pending,
                    Some(format!(
                        "resource association {id} is ACTIVE but has no DNS entry yet"
                    )),
                ),
            }
        }
        Class::Failed => {
            let detail = failure_detail(&[
                ("failureCode", out.failure_code()),
                ("failureReason", out.failure_reason()),
            ]);
            poll(
                p,
                attempt,
                &subject,
                status,
                Class::Failed,
                Some(format!("resource association {id} is {status}{detail}")),
            )
        }
        Class::Pending => poll(p, attempt, &subject, status, Class::Pending, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::types::{Endpoint, MasterUserSecret};
    use aws_sdk_vpclattice::operation::get_resource_configuration::GetResourceConfigurationOutput;
    use aws_sdk_vpclattice::operation::get_resource_gateway::GetResourceGatewayOutput;
    use aws_sdk_vpclattice::operation::get_service_network_resource_association::GetServiceNetworkResourceAssociationOutput;
    use aws_sdk_vpclattice::operation::get_service_network_vpc_association::GetServiceNetworkVpcAssociationOutput;
    use aws_sdk_vpclattice::types::{
        DnsEntry, ResourceConfigurationStatus, ResourceGatewayStatus,
        ServiceNetworkResourceAssociationStatus, ServiceNetworkVpcAssociationStatus,
    };
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use shared::plan::{DatabaseOut, IdArn, VpcAssociation};
    use shared::testing;

    type Rds = aws_sdk_rds::Client;
    type Lattice = aws_sdk_vpclattice::Client;

    const ENDPOINT: &str = "orders-db.c9akciq32xyz.us-east-1.rds.amazonaws.com";
    const DB_ARN: &str = "arn:aws:rds:us-east-1:123456789012:db:orders-db";
    const SECRET: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-3f1c2a7e-AbCdEf";
    const DNS: &str =
        "snra-0123456789abcdef0.rcfg-0123456789abcdefg.4232ccc.vpc-lattice-rsc.us-east-1.on.aws";

    /// A poll request as the ASL builds it: the kind, and the whole execution state.
    #[derive(Debug, Clone)]
    struct In {
        kind: Kind,
        ctx: testing::State,
    }

    impl In {
        /// The typed input, read from the state the way the Lambda entry reads it.
        fn typed(&self) -> StatusInput {
            let ctx = testing::state_json(&self.ctx);
            serde_json::from_value(serde_json::json!({"kind": self.kind, "ctx": ctx})).unwrap()
        }
    }

    /// The state as the ASL passes it on the first attempt of `kind`'s loop.
    fn input(kind: Kind) -> In {
        let mut ctx = testing::ctx_full();
        ctx.database_poll = None;
        ctx.gateway_poll = None;
        ctx.vpc_associations_poll = None;
        ctx.resource_configuration_poll = None;
        ctx.resource_association = Some(IdArn {
            id: "snra-0123456789abcdef0".into(),
            arn: "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetworkresourceassociation/snra-0123456789abcdef0".into(),
        });
        In { kind, ctx }
    }

    fn no_rds() -> Rds {
        mock_client!(aws_sdk_rds, RuleMode::MatchAny, [])
    }

    fn no_lattice() -> Lattice {
        mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [])
    }

    async fn run_rds(rules: &[&Rule], input: In) -> Result<PollOut, StepError> {
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, rules);
        handle(&rds, &no_lattice(), input.typed()).await
    }

    async fn run_lattice(rules: &[&Rule], input: In) -> Result<PollOut, StepError> {
        let lattice = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, rules);
        handle(&no_rds(), &lattice, input.typed()).await
    }

    fn instance(id: &str, status: &str) -> DbInstance {
        DbInstance::builder()
            .db_instance_identifier(id)
            .db_instance_status(status)
            .build()
    }

    fn available_instance() -> DbInstance {
        DbInstance::builder()
            .db_instance_identifier("orders-db")
            .db_instance_status("available")
            .db_instance_arn(DB_ARN)
            .endpoint(Endpoint::builder().address(ENDPOINT).port(3306).build())
            .master_user_secret(
                MasterUserSecret::builder()
                    .secret_arn(SECRET)
                    .secret_status("active")
                    .build(),
            )
            .build()
    }

    fn instances(list: Vec<DbInstance>) -> DescribeDbInstancesOutput {
        DescribeDbInstancesOutput::builder()
            .set_db_instances(Some(list))
            .build()
    }

    // ---- input ----

    #[test]
    fn the_kind_is_kebab_case_in_the_json_input() {
        for (name, kind) in [
            ("database", Kind::Database),
            ("resource-gateway", Kind::ResourceGateway),
            ("vpc-associations", Kind::VpcAssociations),
            ("resource-configuration", Kind::ResourceConfiguration),
            ("resource-association", Kind::ResourceAssociation),
        ] {
            // As the state machine passes it: loops not started yet are null.
            let ctx = serde_json::to_value(input(kind).ctx).unwrap();
            let v = serde_json::json!({"kind": name, "ctx": ctx});
            let parsed: StatusInput = serde_json::from_value(v).unwrap();
            assert_eq!(parsed.kind(), kind);
            assert_eq!(parsed, input(kind).typed());
        }
        let ctx = serde_json::to_value(input(Kind::ResourceGateway).ctx).unwrap();
        let bad = serde_json::json!({"kind": "ResourceGateway", "ctx": ctx});
        assert!(serde_json::from_value::<StatusInput>(bad).is_err());
    }

    #[test]
    fn the_metric_kind_is_the_asl_name() {
        for kind in [
            Kind::Database,
            Kind::ResourceGateway,
            Kind::VpcAssociations,
            Kind::ResourceConfiguration,
            Kind::ResourceAssociation,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
    }

    #[test]
    fn every_poll_is_one_poll_attempt_metric_by_kind_and_state() {
        let mut out = outcome(
            Policy::LATTICE,
            3,
            "resource gateway rgw-0123456789abcdefg",
            "CREATE_IN_PROGRESS",
            Class::Pending,
            None,
        );
        let (dims, metrics) = poll_metrics(Kind::ResourceGateway, &out);
        let doc = shared::emf::document(&dims, &metrics, 1_700_000_000_000);
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "LatticeDbAccess");
        assert_eq!(
            cw["Dimensions"],
            serde_json::json!([["Function", "Kind", "PollState"]])
        );
        assert_eq!(
            cw["Metrics"],
            serde_json::json!([
                {"Name": "PollAttempts", "Unit": "Count"},
                {"Name": "Attempt", "Unit": "Count"}
            ])
        );
        assert_eq!(
            (&doc["Function"], &doc["Kind"], &doc["PollState"]),
            (
                &serde_json::json!("status"),
                &serde_json::json!("resource-gateway"),
                &serde_json::json!("PENDING")
            )
        );
        assert_eq!(
            (&doc["PollAttempts"], &doc["Attempt"]),
            (&serde_json::json!(1.0), &serde_json::json!(3.0))
        );
        for (state, name) in [
            (PollState::Ready, "READY"),
            (PollState::Failed, "FAILED"),
            (PollState::TimedOut, "TIMED_OUT"),
        ] {
            out.state = state;
            assert_eq!(poll_metrics(Kind::Database, &out).0[2], ("PollState", name));
            // The dimension value is the state the ASL's Choice reads.
            assert_eq!(serde_json::to_value(state).unwrap(), name);
        }
    }

    #[test]
    fn a_minimal_json_input_parses() {
        let v = serde_json::json!({
            "kind": "resource-gateway",
            "ctx": {"gateway": {"id": "rgw-0123456789abcdefg", "arn": "arn:x"}, "gatewayPoll": null}
        });
        let parsed: StatusInput = serde_json::from_value(v).unwrap();
        let StatusInput::ResourceGateway(g) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(g.gateway.id, "rgw-0123456789abcdefg");
        assert_eq!(g.previous, None);
    }

    #[tokio::test]
    async fn a_section_the_kind_needs_is_named_when_the_state_lacks_it() {
        let mut i = input(Kind::ResourceAssociation);
        i.ctx.resource_association = None;
        let ctx = testing::state_json(&i.ctx);
        let payload = serde_json::json!({"kind": "resource-association", "ctx": ctx});
        let e = handle_state(&no_rds(), &no_lattice(), payload)
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Internal");
        assert!(e.to_string().contains("resourceAssociation"), "{e}");
    }

    #[tokio::test]
    async fn the_poll_goes_back_into_its_slot_and_the_rest_of_the_state_passes_through() {
        let get = mock!(Lattice::get_resource_gateway).then_output(|| {
            GetResourceGatewayOutput::builder()
                .status(ResourceGatewayStatus::Active)
                .build()
        });
        let lattice = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&get]);
        let mut ctx = serde_json::to_value(input(Kind::ResourceGateway).ctx).unwrap();
        ctx["unknownSection"] = serde_json::json!({"kept": true});
        let payload = serde_json::json!({"kind": "resource-gateway", "ctx": ctx});
        let out = handle_state(&no_rds(), &lattice, payload).await.unwrap();
        assert_eq!(out["gatewayPoll"]["state"], "READY");
        assert_eq!(out["unknownSection"]["kept"], true);
        assert_eq!(out["plan"]["name"], "orders");
    }

    // ---- database: instance ----

    #[tokio::test]
    async fn instance_statuses_map_to_poll_states() {
        let cases = [
            ("creating", PollState::Pending),
            ("backing-up", PollState::Pending),
            ("modifying", PollState::Pending),
            ("configuring-enhanced-monitoring", PollState::Pending),
            ("a-status-rds-adds-next-year", PollState::Pending),
            ("failed", PollState::Failed),
            ("incompatible-restore", PollState::Failed),
            ("incompatible-parameters", PollState::Failed),
            ("incompatible-network", PollState::Failed),
            ("incompatible-option-group", PollState::Failed),
            ("inaccessible-encryption-credentials", PollState::Failed),
            ("restore-error", PollState::Failed),
            ("storage-full", PollState::Failed),
            ("deleting", PollState::Failed),
            ("deleted", PollState::Failed),
        ];
        for (status, want) in cases {
            let describe = mock!(Rds::describe_db_instances)
                .match_requests(|r| r.db_instance_identifier() == Some("orders-db"))
                .then_output(move || instances(vec![instance("orders-db", status)]));
            let out = run_rds(&[&describe], input(Kind::Database)).await.unwrap();
            assert_eq!(out.state, want, "{status}");
            assert_eq!(out.status, status);
            assert_eq!(out.endpoint, None, "{status}");
            if want == PollState::Failed {
                let reason = out.reason.unwrap();
                assert!(
                    reason.contains(status) && reason.contains("orders-db"),
                    "{reason}"
                );
            }
        }
    }

    #[tokio::test]
    async fn an_available_instance_is_ready_with_endpoint_arn_and_secret() {
        let describe =
            mock!(Rds::describe_db_instances).then_output(|| instances(vec![available_instance()]));
        let out = run_rds(&[&describe], input(Kind::Database)).await.unwrap();
        assert_eq!(out.state, PollState::Ready);
        assert_eq!(out.status, "available");
        assert_eq!(out.endpoint.as_deref(), Some(ENDPOINT));
        assert_eq!(out.port, Some(3306));
        assert_eq!(out.arn.as_deref(), Some(DB_ARN));
        assert_eq!(out.secret_arn.as_deref(), Some(SECRET));
        assert_eq!(out.reason, None);
    }

    #[tokio::test]
    async fn an_available_instance_without_an_endpoint_is_still_pending() {
        let describe = mock!(Rds::describe_db_instances)
            .then_output(|| instances(vec![instance("orders-db", "available")]));
        let out = run_rds(&[&describe], input(Kind::Database)).await.unwrap();
        assert_eq!(out.state, PollState::Pending);
        assert_eq!(out.endpoint, None);
    }

    #[tokio::test]
    async fn a_vanished_instance_fails_the_loop() {
        let describe = mock!(Rds::describe_db_instances).then_http_response(|| {
            testing::rds_error(404, "DBInstanceNotFound", "DBInstance orders-db not found.")
        });
        let out = run_rds(&[&describe], input(Kind::Database)).await.unwrap();
        assert_eq!(out.state, PollState::Failed);
        assert!(out.reason.unwrap().contains("the database disappeared"));
    }

    #[tokio::test]
    async fn attempts_count_from_the_previous_poll_with_backoff() {
        let describe = mock!(Rds::describe_db_instances)
            .then_output(|| instances(vec![instance("orders-db", "creating")]));
        let first = run_rds(&[&describe], input(Kind::Database)).await.unwrap();
        assert_eq!((first.attempt, first.wait_seconds), (1, 30));
        assert_eq!(first.max_attempts, Policy::DATABASE.max_attempts);

        let mut next = input(Kind::Database);
        let mut prev = first.clone();
        prev.attempt = 4;
        next.ctx.database_poll = Some(prev);
        let out = run_rds(&[&describe], next).await.unwrap();
        assert_eq!((out.attempt, out.wait_seconds), (5, 60));
        assert_eq!(out.state, PollState::Pending);
    }

    #[tokio::test]
    async fn the_database_times_out_at_the_bound() {
        let describe = mock!(Rds::describe_db_instances)
            .then_output(|| instances(vec![instance("orders-db", "creating")]));
        let mut i = input(Kind::Database);
        let mut prev = testing::poll(PollState::Pending, "creating");
        prev.attempt = Policy::DATABASE.max_attempts - 1;
        i.ctx.database_poll = Some(prev);
        let out = run_rds(&[&describe], i).await.unwrap();
        assert_eq!(out.state, PollState::TimedOut);
        assert_eq!(out.attempt, Policy::DATABASE.max_attempts);
        assert!(out.reason.unwrap().contains("creating"));
    }

    #[tokio::test]
    async fn rds_throttling_propagates_as_aws_throttled() {
        let describe = mock!(Rds::describe_db_instances)
            .then_http_response(|| testing::rds_error(400, "Throttling", "Rate exceeded"));
        let e = run_rds(&[&describe], input(Kind::Database))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Aws.Throttled");
    }

    // ---- database: Aurora cluster ----

    fn cluster_input() -> In {
        let mut i = input(Kind::Database);
        i.ctx.database = Some(DatabaseOut {
            kind: DbKind::Cluster,
            identifier: "orders-db".into(),
            created: true,
            instance_identifiers: vec!["orders-db-1".into(), "orders-db-2".into()],
        });
        i
    }

    fn cluster(status: &str) -> DescribeDbClustersOutput {
        DescribeDbClustersOutput::builder()
            .db_clusters(
                DbCluster::builder()
                    .db_cluster_identifier("orders-db")
                    .status(status)
                    .endpoint("orders-db.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com")
                    .reader_endpoint(
                        "orders-db.cluster-ro-c9akciq32xyz.us-east-1.rds.amazonaws.com",
                    )
                    .port(3306)
                    .db_cluster_arn("arn:aws:rds:us-east-1:123456789012:cluster:orders-db")
                    .master_user_secret(MasterUserSecret::builder().secret_arn(SECRET).build())
                    .build(),
            )
            .build()
    }

    fn members(writer: &'static str, reader: &'static str) -> Rule {
        mock!(Rds::describe_db_instances)
            .match_requests(|r| {
                r.db_instance_identifier().is_none()
                    && r.filters()
                        .iter()
                        .any(|f| f.name() == Some("db-cluster-id") && f.values() == ["orders-db"])
            })
            .then_output(move || {
                instances(vec![
                    instance("orders-db-1", writer),
                    instance("orders-db-2", reader),
                ])
            })
    }

    #[tokio::test]
    async fn a_cluster_is_not_ready_while_one_instance_is_still_creating() {
        let describe = mock!(Rds::describe_db_clusters)
            .match_requests(|r| r.db_cluster_identifier() == Some("orders-db"))
            .then_output(|| cluster("available"));
        let list = members("available", "creating");
        let out = run_rds(&[&describe, &list], cluster_input()).await.unwrap();
        assert_eq!(out.state, PollState::Pending);
        assert_eq!(out.status, "creating");
        assert!(out.reason.unwrap().contains("orders-db-2"));
        assert_eq!(out.endpoint, None);
        assert_eq!(list.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_cluster_timing_out_on_an_instance_names_it() {
        let describe = mock!(Rds::describe_db_clusters).then_output(|| cluster("available"));
        let list = members("available", "creating");
        let mut i = cluster_input();
        let mut prev = testing::poll(PollState::Pending, "creating");
        prev.attempt = Policy::DATABASE.max_attempts;
        i.ctx.database_poll = Some(prev);
        let out = run_rds(&[&describe, &list], i).await.unwrap();
        assert_eq!(out.state, PollState::TimedOut);
        let reason = out.reason.unwrap();
        assert!(
            reason.starts_with("DB cluster orders-db still creating after"),
            "{reason}"
        );
        assert!(reason.contains("orders-db-2 is creating"), "{reason}");
    }

    #[tokio::test]
    async fn a_creating_cluster_is_pending() {
        let describe = mock!(Rds::describe_db_clusters).then_output(|| cluster("creating"));
        let list = members("creating", "creating");
        let out = run_rds(&[&describe, &list], cluster_input()).await.unwrap();
        assert_eq!(
            (out.state, out.status.as_str()),
            (PollState::Pending, "creating")
        );
    }

    #[tokio::test]
    async fn a_cluster_with_every_instance_available_is_ready_with_the_writer_endpoint() {
        let describe = mock!(Rds::describe_db_clusters).then_output(|| cluster("available"));
        let list = members("available", "available");
        let out = run_rds(&[&describe, &list], cluster_input()).await.unwrap();
        assert_eq!(out.state, PollState::Ready);
        assert_eq!(
            out.endpoint.as_deref(),
            Some("orders-db.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com")
        );
        assert_eq!(out.port, Some(3306));
        assert_eq!(
            out.arn.as_deref(),
            Some("arn:aws:rds:us-east-1:123456789012:cluster:orders-db")
        );
        assert_eq!(out.secret_arn.as_deref(), Some(SECRET));
    }

    #[tokio::test]
    async fn a_failed_cluster_instance_fails_the_loop() {
        let describe = mock!(Rds::describe_db_clusters).then_output(|| cluster("creating"));
        let list = members("available", "incompatible-network");
        let out = run_rds(&[&describe, &list], cluster_input()).await.unwrap();
        assert_eq!(out.state, PollState::Failed);
        let reason = out.reason.unwrap();
        assert!(
            reason.contains("orders-db-2") && reason.contains("incompatible-network"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn a_failed_or_vanished_cluster_fails_the_loop() {
        let describe = mock!(Rds::describe_db_clusters).then_output(|| cluster("deleting"));
        let list = members("available", "available");
        let out = run_rds(&[&describe, &list], cluster_input()).await.unwrap();
        assert_eq!(
            (out.state, out.status.as_str()),
            (PollState::Failed, "deleting")
        );

        let gone = mock!(Rds::describe_db_clusters).then_http_response(|| {
            testing::rds_error(
                404,
                "DBClusterNotFoundFault",
                "DBCluster orders-db not found.",
            )
        });
        let out = run_rds(&[&gone], cluster_input()).await.unwrap();
        assert_eq!(out.state, PollState::Failed);
        assert!(out.reason.unwrap().contains("disappeared"));
    }

    #[tokio::test]
    async fn a_missing_cluster_instance_fails_the_loop() {
        let describe = mock!(Rds::describe_db_clusters).then_output(|| cluster("available"));
        let list = mock!(Rds::describe_db_instances)
            .then_output(|| instances(vec![instance("orders-db-1", "available")]));
        let out = run_rds(&[&describe, &list], cluster_input()).await.unwrap();
        assert_eq!(out.state, PollState::Failed);
        assert!(out.reason.unwrap().contains("orders-db-2"));
    }

    // ---- resource gateway ----

    #[tokio::test]
    async fn the_gateway_goes_from_creating_to_active_across_polls() {
        let seq = mock!(Lattice::get_resource_gateway)
            .match_requests(|r| r.resource_gateway_identifier() == Some("rgw-0123456789abcdefg"))
            .sequence()
            .output(|| {
                GetResourceGatewayOutput::builder()
                    .status(ResourceGatewayStatus::CreateInProgress)
                    .build()
            })
            .output(|| {
                GetResourceGatewayOutput::builder()
                    .status(ResourceGatewayStatus::Active)
                    .build()
            })
            .build();
        let lattice = mock_client!(aws_sdk_vpclattice, RuleMode::Sequential, [&seq]);
        let first = handle(&no_rds(), &lattice, input(Kind::ResourceGateway).typed())
            .await
            .unwrap();
        assert_eq!(
            (
                first.state,
                first.status.as_str(),
                first.attempt,
                first.wait_seconds
            ),
            (PollState::Pending, "CREATE_IN_PROGRESS", 1, 3)
        );
        let mut next = input(Kind::ResourceGateway);
        next.ctx.gateway_poll = Some(first);
        let second = handle(&no_rds(), &lattice, next.typed()).await.unwrap();
        assert_eq!((second.state, second.attempt), (PollState::Ready, 2));
        assert_eq!(seq.num_calls(), 2);
    }

    #[tokio::test]
    async fn gateway_statuses_map_to_poll_states() {
        let cases = [
            ("ACTIVE", PollState::Ready),
            ("CREATE_IN_PROGRESS", PollState::Pending),
            ("UPDATE_IN_PROGRESS", PollState::Pending),
            ("CREATE_FAILED", PollState::Failed),
            ("UPDATE_FAILED", PollState::Failed),
            ("DELETE_FAILED", PollState::Failed),
            ("DELETE_IN_PROGRESS", PollState::Failed),
        ];
        for (status, want) in cases {
            let get = mock!(Lattice::get_resource_gateway).then_output(move || {
                GetResourceGatewayOutput::builder()
                    .status(ResourceGatewayStatus::from(status))
                    .build()
            });
            let out = run_lattice(&[&get], input(Kind::ResourceGateway))
                .await
                .unwrap();
            assert_eq!((out.state, out.status.as_str()), (want, status));
            if want == PollState::Failed {
                assert!(out.reason.unwrap().contains("rgw-0123456789abcdefg"));
            }
        }
    }

    #[tokio::test]
    async fn the_gateway_times_out_at_the_lattice_bound() {
        let get = mock!(Lattice::get_resource_gateway).then_output(|| {
            GetResourceGatewayOutput::builder()
                .status(ResourceGatewayStatus::CreateInProgress)
                .build()
        });
        let mut i = input(Kind::ResourceGateway);
        let mut prev = testing::poll(PollState::Pending, "CREATE_IN_PROGRESS");
        prev.attempt = Policy::LATTICE.max_attempts - 2;
        i.ctx.gateway_poll = Some(prev.clone());
        let out = run_lattice(&[&get], i.clone()).await.unwrap();
        assert_eq!(out.state, PollState::Pending);
        prev.attempt += 1;
        i.ctx.gateway_poll = Some(prev);
        let out = run_lattice(&[&get], i).await.unwrap();
        assert_eq!(out.state, PollState::TimedOut);
        assert_eq!(out.attempt, Policy::LATTICE.max_attempts);
        // The cause names the resource; the rollback says what became of it.
        assert_eq!(
            out.reason.as_deref(),
            Some(
                "resource gateway rgw-0123456789abcdefg still CREATE_IN_PROGRESS after 98 attempts \
                 (about 30 min); giving up"
            )
        );
    }

    #[tokio::test]
    async fn lattice_errors_propagate_with_their_names() {
        let throttled = mock!(Lattice::get_resource_gateway)
            .then_http_response(|| testing::lattice_error(429, "ThrottlingException", "slow down"));
        let e = run_lattice(&[&throttled], input(Kind::ResourceGateway))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Aws.Throttled");

        let gone = mock!(Lattice::get_resource_gateway).then_http_response(|| {
            testing::lattice_error(404, "ResourceNotFoundException", "no such gateway")
        });
        let e = run_lattice(&[&gone], input(Kind::ResourceGateway))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Resource.NotFound");
    }

    // ---- VPC associations ----

    fn two_associations() -> In {
        let mut i = input(Kind::VpcAssociations);
        i.ctx
            .service_network
            .as_mut()
            .unwrap()
            .vpc_associations
            .push(VpcAssociation {
                vpc_id: "vpc-0c20000000000000c".into(),
                id: "snva-0000000000000000b".into(),
                arn: "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetworkvpcassociation/snva-0000000000000000b".into(),
            });
        i
    }

    fn association(id: &'static str, status: &'static str) -> Rule {
        mock!(Lattice::get_service_network_vpc_association)
            .match_requests(move |r| r.service_network_vpc_association_identifier() == Some(id))
            .then_output(move || {
                let b = GetServiceNetworkVpcAssociationOutput::builder()
                    .id(id)
                    .status(ServiceNetworkVpcAssociationStatus::from(status));
                if status.ends_with("FAILED") {
                    b.failure_code("AccessDenied")
                        .failure_message("the VPC is shared from another account")
                        .build()
                } else {
                    b.build()
                }
            })
    }

    #[tokio::test]
    async fn vpc_associations_are_ready_only_when_all_are_active() {
        for (a, b, want) in [
            ("ACTIVE", "ACTIVE", PollState::Ready),
            ("ACTIVE", "CREATE_IN_PROGRESS", PollState::Pending),
            ("UPDATE_IN_PROGRESS", "ACTIVE", PollState::Pending),
            ("ACTIVE", "CREATE_FAILED", PollState::Failed),
            ("DELETE_IN_PROGRESS", "ACTIVE", PollState::Failed),
            ("UPDATE_FAILED", "CREATE_IN_PROGRESS", PollState::Failed),
        ] {
            let first = association("snva-0123456789abcdefg", a);
            let second = association("snva-0000000000000000b", b);
            let out = run_lattice(&[&first, &second], two_associations())
                .await
                .unwrap();
            assert_eq!(out.state, want, "{a} {b}");
        }
    }

    #[tokio::test]
    async fn a_failed_vpc_association_names_itself_and_the_aws_failure() {
        let first = association("snva-0123456789abcdefg", "ACTIVE");
        let second = association("snva-0000000000000000b", "CREATE_FAILED");
        let out = run_lattice(&[&first, &second], two_associations())
            .await
            .unwrap();
        assert_eq!(
            (out.state, out.status.as_str()),
            (PollState::Failed, "CREATE_FAILED")
        );
        let reason = out.reason.unwrap();
        for part in [
            "snva-0000000000000000b",
            "vpc-0c20000000000000c",
            "AccessDenied",
            "the VPC is shared from another account",
        ] {
            assert!(reason.contains(part), "{part} missing from {reason}");
        }
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_pending_vpc_association_reports_its_raw_status() {
        let first = association("snva-0123456789abcdefg", "CREATE_IN_PROGRESS");
        let second = association("snva-0000000000000000b", "ACTIVE");
        let out = run_lattice(&[&first, &second], two_associations())
            .await
            .unwrap();
        assert_eq!(out.status, "CREATE_IN_PROGRESS");
        assert!(out.reason.unwrap().contains("snva-0123456789abcdefg"));
    }

    // ---- resource configuration ----

    #[tokio::test]
    async fn resource_configuration_statuses_map_to_poll_states() {
        for (status, want) in [
            ("ACTIVE", PollState::Ready),
            ("CREATE_IN_PROGRESS", PollState::Pending),
            ("UPDATE_IN_PROGRESS", PollState::Pending),
            ("CREATE_FAILED", PollState::Failed),
            ("UPDATE_FAILED", PollState::Failed),
            ("DELETE_IN_PROGRESS", PollState::Failed),
        ] {
            let get = mock!(Lattice::get_resource_configuration)
                .match_requests(|r| {
                    r.resource_configuration_identifier() == Some("rcfg-0123456789abcdefg")
                })
                .then_output(move || {
                    GetResourceConfigurationOutput::builder()
                        .status(ResourceConfigurationStatus::from(status))
                        .failure_reason("the resource gateway cannot reach the ARN")
                        .build()
                });
            let out = run_lattice(&[&get], input(Kind::ResourceConfiguration))
                .await
                .unwrap();
            assert_eq!(out.state, want, "{status}");
            if want == PollState::Failed {
                let reason = out.reason.unwrap();
                assert!(reason.contains("rcfg-0123456789abcdefg"), "{reason}");
                assert!(
                    reason.contains("the resource gateway cannot reach the ARN"),
                    "{reason}"
                );
            } else {
                assert_eq!(out.reason, None);
            }
        }
    }

    // ---- resource association ----

    fn snra(status: &'static str, dns: bool) -> Rule {
        mock!(Lattice::get_service_network_resource_association)
            .match_requests(|r| {
                r.service_network_resource_association_identifier()
                    == Some("snra-0123456789abcdef0")
            })
            .then_output(move || {
                let mut b = GetServiceNetworkResourceAssociationOutput::builder()
                    .status(ServiceNetworkResourceAssociationStatus::from(status))
                    .failure_code("ResourceGatewayUnavailable")
                    .failure_reason("the gateway was deleted");
                if dns {
                    b = b.dns_entry(
                        DnsEntry::builder()
                            .domain_name(DNS)
                            .hosted_zone_id("Z0123456789ABCDEFGHIJ")
                            .build(),
                    );
                }
                b.build()
            })
    }

    #[tokio::test]
    async fn an_active_association_is_ready_with_the_client_dns_name() {
        let get = snra("ACTIVE", true);
        let out = run_lattice(&[&get], input(Kind::ResourceAssociation))
            .await
            .unwrap();
        assert_eq!(out.state, PollState::Ready);
        assert_eq!(out.dns_name.as_deref(), Some(DNS));
        assert_eq!(out.hosted_zone_id.as_deref(), Some("Z0123456789ABCDEFGHIJ"));
        assert_eq!(out.dns_name_from, Some(DnsNameFrom::Association));
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(v["dnsNameFrom"], "association");
    }

    /// An arn-mode resource association poll, the database ready at `ENDPOINT`.
    fn arn_input() -> In {
        let mut i = input(Kind::ResourceAssociation);
        i.ctx.plan.as_mut().unwrap().mode = Mode::Arn;
        let mut db = testing::poll(PollState::Ready, "available");
        db.endpoint = Some(ENDPOINT.into());
        i.ctx.database_poll = Some(db);
        i
    }

    #[tokio::test]
    async fn arn_mode_without_a_dns_entry_is_ready_with_the_database_endpoint() {
        // Whether AWS gives an ARN configuration's association a dnsEntry is unverified; private
        // DNS is always on for ARN configurations, so clients use the database's own name.
        let get = snra("ACTIVE", false);
        let out = run_lattice(&[&get], arn_input()).await.unwrap();
        assert_eq!(out.state, PollState::Ready);
        assert_eq!(out.dns_name.as_deref(), Some(ENDPOINT));
        assert_eq!(out.dns_name_from, Some(DnsNameFrom::DatabaseEndpoint));
        assert_eq!(out.hosted_zone_id, None);
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(v["dnsNameFrom"], "database-endpoint");
        assert_eq!(get.num_calls(), 1, "ready on the first ACTIVE poll");
    }

    #[tokio::test]
    async fn arn_mode_with_a_dns_entry_uses_it() {
        let get = snra("ACTIVE", true);
        let out = run_lattice(&[&get], arn_input()).await.unwrap();
        assert_eq!(out.state, PollState::Ready);
        assert_eq!(out.dns_name.as_deref(), Some(DNS));
        assert_eq!(out.dns_name_from, Some(DnsNameFrom::Association));
    }

    #[tokio::test]
    async fn arn_mode_still_waits_for_active_and_fails_on_failure() {
        for (status, want) in [
            ("CREATE_IN_PROGRESS", PollState::Pending),
            ("PARTIAL", PollState::Pending),
            ("CREATE_FAILED", PollState::Failed),
        ] {
            let get = snra(status, false);
            let out = run_lattice(&[&get], arn_input()).await.unwrap();
            assert_eq!(out.state, want, "{status}");
            assert_eq!(out.dns_name, None, "{status}");
        }
    }

    #[tokio::test]
    async fn arn_mode_without_a_database_endpoint_in_the_state_is_internal() {
        let get = snra("ACTIVE", false);
        let mut i = arn_input();
        i.ctx.database_poll.as_mut().unwrap().endpoint = None;
        let e = run_lattice(&[&get], i).await.unwrap_err();
        assert_eq!(e.name(), "Internal");
        assert!(e.to_string().contains("databasePoll.endpoint"), "{e}");
    }

    #[tokio::test]
    async fn dns_and_ip_modes_time_out_naming_the_association_without_a_dns_entry() {
        let get = snra("ACTIVE", false);
        let mut i = input(Kind::ResourceAssociation);
        let mut prev = testing::poll(PollState::Pending, "ACTIVE");
        prev.attempt = Policy::LATTICE.max_attempts - 1;
        i.ctx.resource_association_poll = Some(prev);
        let out = run_lattice(&[&get], i).await.unwrap();
        assert_eq!(out.state, PollState::TimedOut);
        let reason = out.reason.unwrap();
        assert!(
            reason.starts_with("resource association snra-0123456789abcdef0 still ACTIVE after 98"),
            "{reason}"
        );
        assert!(reason.ends_with("has no DNS entry yet"), "{reason}");
    }

    #[tokio::test]
    async fn resource_association_statuses_map_to_poll_states() {
        for (status, dns, want) in [
            ("ACTIVE", false, PollState::Pending),
            ("PARTIAL", true, PollState::Pending),
            ("CREATE_IN_PROGRESS", true, PollState::Pending),
            ("CREATE_FAILED", false, PollState::Failed),
            ("DELETE_FAILED", false, PollState::Failed),
            ("DELETE_IN_PROGRESS", false, PollState::Failed),
        ] {
            let get = snra(status, dns);
            let out = run_lattice(&[&get], input(Kind::ResourceAssociation))
                .await
                .unwrap();
            assert_eq!(out.state, want, "{status}");
            assert_eq!(out.dns_name, None, "{status}: only READY carries a name");
            if want == PollState::Failed {
                let reason = out.reason.unwrap();
                assert!(reason.contains("ResourceGatewayUnavailable"), "{reason}");
                assert!(reason.contains("the gateway was deleted"), "{reason}");
            }
        }
    }

    #[tokio::test]
    async fn association_attempts_come_from_the_association_poll_only() {
        let get = snra("CREATE_IN_PROGRESS", false);
        let mut i = input(Kind::ResourceAssociation);
        let mut other = testing::poll(PollState::Ready, "ACTIVE");
        other.attempt = 60;
        i.ctx.resource_configuration_poll = Some(other);
        let mut own = testing::poll(PollState::Pending, "CREATE_IN_PROGRESS");
        own.attempt = 2;
        i.ctx.resource_association_poll = Some(own);
        let out = run_lattice(&[&get], i).await.unwrap();
        // Attempt 3 of its own loop (not 61): still in the Lattice policy's steady phase.
        assert_eq!(
            (out.attempt, out.wait_seconds),
            (3, Policy::LATTICE.first_wait)
        );
        assert!(Policy::LATTICE.wait_after(61) > Policy::LATTICE.first_wait);
    }

    /// Every polling Task in the state machine names a kind this Lambda knows,
    /// and the Choice after it reads the slot this Lambda writes.
    #[test]
    fn the_state_machine_kinds_and_slots_match() {
        let asl: serde_json::Value =
            serde_json::from_str(include_str!("../../../statemachine/provision.asl.json")).unwrap();
        let mut checked = 0;
        let mut scopes = vec![asl["States"].clone()];
        while let Some(states) = scopes.pop() {
            for (_, state) in states.as_object().unwrap() {
                for b in state["Branches"].as_array().into_iter().flatten() {
                    scopes.push(b["States"].clone());
                }
                let Some(kind) = state["Parameters"]["Payload"]["kind"].as_str() else {
                    continue;
                };
                let kind: Kind = serde_json::from_value(serde_json::json!(kind)).unwrap();
                let key = kind.slot();
                // The poll reads its previous attempt from the slot it writes.
                let mut ctx = serde_json::to_value(input(kind).ctx).unwrap();
                ctx[key] = serde_json::to_value(testing::poll(PollState::Pending, "x")).unwrap();
                let typed: StatusInput =
                    serde_json::from_value(serde_json::json!({"kind": kind, "ctx": ctx})).unwrap();
                assert_eq!(
                    typed.previous().map(|p| p.status.as_str()),
                    Some("x"),
                    "{kind:?}"
                );
                let choice = &states[state["Next"].as_str().unwrap()];
                for c in choice["Choices"].as_array().unwrap() {
                    assert_eq!(c["Variable"], format!("$.{key}.state"), "{kind:?}");
                }
                assert_eq!(
                    states[choice["Default"].as_str().unwrap()]["SecondsPath"],
                    format!("$.{key}.waitSeconds")
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 5);
    }
}
