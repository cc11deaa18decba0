//! Teardown of a deployment's VPC Lattice resources, in dependency order
//! (aws-facts §1.1, §2 #16):
//! - service-network resource associations (of our service network or our
//!   resource configuration) → gone → resource configuration → gone →
//!   resource gateway;
//! - beside them: the access-log subscriptions and VPC associations of our
//!   service network → gone → the service network.
//!
//! Each call starts every delete allowed now (never on a `*_IN_PROGRESS`
//! resource, never on a parent whose children still exist) and reports what
//! is left. Only what carries our deployment tag is deleted; something else
//! that blocks one of ours fails the teardown with an explanation.
//!
//! With `onlyExecution`, only what that execution created (its execution
//! tag) is deleted. The deployment's other resources are left alone and not
//! waited for; so is a parent of ours that one of them still uses. Children
//! that execution added to an older parent still go.

pub use shared::teardown::{Previous, TeardownInput, TeardownOut};

use aws_sdk_vpclattice::types::{
    AccessLogSubscriptionSummary, ResourceConfigurationSummary, ResourceConfigurationType,
    ServiceNetworkResourceAssociationSummary, ServiceNetworkVpcAssociationSummary,
};
use aws_sdk_vpclattice::Client;
use shared::error::names::RESOURCE_NOT_FOUND;
use shared::pages;
use shared::poll::Policy;
use shared::reconcile::{delete_next, Delete};
use shared::tags::{Owner, Ownership};
use shared::teardown::{entry, settle, Outcome, Progress};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "teardown-lattice";

/// The kinds of Lattice resources this teardown deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ResourceAssociation,
    ResourceConfiguration,
    ResourceGateway,
    AccessLogSubscription,
    VpcAssociation,
    ServiceNetwork,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::ResourceAssociation => "resource association",
            Self::ResourceConfiguration => "resource configuration",
            Self::ResourceGateway => "resource gateway",
            Self::AccessLogSubscription => "access-log subscription",
            Self::VpcAssociation => "VPC association",
            Self::ServiceNetwork => "service network",
        }
    }

    /// Resources without a status are gone once their delete is accepted.
    fn synchronous(self) -> bool {
        matches!(self, Self::AccessLogSubscription | Self::ServiceNetwork)
    }
}

/// A named resource found by listing.
#[derive(Debug, Clone)]
struct Found {
    id: String,
    arn: String,
    status: String,
    /// The deployment's, but another execution's (`onlyExecution`): never deleted.
    keep: bool,
}

/// What is left of a resource after one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    Gone,
    /// Still there and reported: on its way, refused for now, or blocking.
    Waiting,
    /// Another execution's (or held by one): left as it is, not reported.
    Kept,
}

/// The children still holding a parent.
#[derive(Debug, Default, Clone, Copy)]
struct Hold {
    waiting: usize,
    kept: usize,
}

impl Hold {
    fn add(&mut self, left: Left) {
        match left {
            Left::Gone => {}
            Left::Waiting => self.waiting += 1,
            Left::Kept => self.kept += 1,
        }
    }
}

pub async fn handle(client: &Client, input: TeardownInput) -> Result<TeardownOut, StepError> {
    let names = input.names()?;
    let owner = input.owner();
    let prune = input.prune.as_ref();
    let mut p = Progress::default();

    // A prune keeps the parents: it removes only what the input no longer asks for.
    let spare = |f: Found| Found {
        keep: f.keep || prune.is_some(),
        ..f
    };
    let sn = find_service_network(client, &names.service_network).await?;
    let sn = deployments(client, Kind::ServiceNetwork, sn, &owner)
        .await?
        .map(spare);
    let gateway = find_gateway(client, &names.resource_gateway).await?;
    let gateway = deployments(client, Kind::ResourceGateway, gateway, &owner)
        .await?
        .map(spare);
    let configurations = list_configurations(client).await?;
    // Ours under either name (a replacement of another type may be under way or left over).
    let mut rcfgs = Vec::new();
    for name in names.resource_configuration_names() {
        let found = configurations
            .iter()
            .find(|c| c.name() == Some(name.as_str()))
            .map(|c| Found {
                id: c.id().unwrap_or_default().into(),
                arn: c.arn().unwrap_or_default().into(),
                status: status_of(c.status()),
                keep: prune.is_some_and(|k| c.id() == Some(k.resource_configuration_id.as_str())),
            });
        if let Some(found) = deployments(client, Kind::ResourceConfiguration, found, &owner).await?
        {
            rcfgs.push(found);
        }
    }
    if let Some(k) = prune {
        if !rcfgs.iter().any(|r| r.id == k.resource_configuration_id) {
            // Never prune configurations without knowing which one clients use.
            return Err(StepError::internal(format!(
                "prune: the configuration this run uses ({}) is not among the deployment's",
                k.resource_configuration_id
            )));
        }
    }
    let sn_id = sn.as_ref().map(|s| s.id.as_str());
    let rcfg_ids: Vec<&str> = rcfgs.iter().map(|r| r.id.as_str()).collect();

    // 1. Associations of our configurations (with any network) and of our network.
    let mut holding_rcfg = vec![Hold::default(); rcfgs.len()];
    let mut holding_sn = Hold::default();
    for a in list_resource_associations(client, sn_id, &rcfg_ids).await? {
        let of = rcfgs
            .iter()
            .position(|r| a.resource_configuration_id() == Some(r.id.as_str()));
        let of_sn = sn_id.is_some() && a.service_network_id() == sn_id;
        // Lattice makes child configurations (and their associations) for an ARN
        // configuration; they go with it, so they stay while it is kept.
        let rcfg_kept = of.is_some_and(|i| rcfgs[i].keep);
        let left = if prune.is_some() && of.is_none_or(|i| rcfgs[i].keep) {
            // A prune deletes only the associations of a configuration it deletes.
            Left::Kept
        } else {
            // Does it keep something of ours from being deleted?
            let blocks = of.is_some_and(|i| !rcfgs[i].keep)
                || (of_sn && sn.as_ref().is_some_and(|s| !s.keep));
            resource_association(client, &input, &owner, &mut p, &a, blocks, rcfg_kept).await?
        };
        if let Some(i) = of {
            holding_rcfg[i].add(left);
        }
        if of_sn {
            holding_sn.add(left);
        }
    }

    // 2. The configurations, once nothing associates them.
    let mut rcfg_left = Hold::default();
    for (r, hold) in rcfgs.iter().zip(holding_rcfg) {
        let left = parent(
            client,
            &input,
            &mut p,
            Kind::ResourceConfiguration,
            r,
            hold,
            "resource association(s)",
        )
        .await?;
        rcfg_left.add(left);
    }
    let all_rcfgs_kept = !rcfgs.is_empty() && rcfgs.iter().all(|r| r.keep);

    // 3. The gateway, once no configuration uses it.
    if let Some(g) = &gateway {
        let mut children = rcfg_left;
        if !g.keep {
            for c in configurations
                .iter()
                .filter(|c| c.resource_gateway_id() == Some(g.id.as_str()))
                .filter(|c| c.id().is_none_or(|id| !rcfg_ids.contains(&id)))
            {
                children.add(other_configuration(&mut p, g, c, all_rcfgs_kept));
            }
        }
        parent(
            client,
            &input,
            &mut p,
            Kind::ResourceGateway,
            g,
            children,
            "resource configuration(s)",
        )
        .await?;
    }

    // 4. The service network, once its subscriptions and associations are gone.
    if let Some(sn) = &sn {
        let mut left = holding_sn;
        if prune.is_none() {
            for s in list_subscriptions(client, &sn.id).await? {
                left.add(
                    access_log_subscription(client, &input, &owner, &mut p, &s, !sn.keep).await?,
                );
            }
        }
        for a in list_vpc_associations(client, &sn.id).await? {
            if prune.is_some_and(|k| a.vpc_id().is_none_or(|v| k.keeps_vpc(v))) {
                left.add(Left::Kept);
                continue;
            }
            left.add(vpc_association(client, &input, &owner, &mut p, &a, !sn.keep).await?);
        }
        let sn = Found {
            status: "in use".into(),
            ..sn.clone()
        };
        parent(
            client,
            &input,
            &mut p,
            Kind::ServiceNetwork,
            &sn,
            left,
            "association(s) or access-log subscription(s)",
        )
        .await?;
    }

    Ok(p.finish(COMPONENT, Policy::LATTICE, input.attempt()))
}

/// A parent of ours: deleted once `hold` shows no child left (`children`
/// names them in the waiting entry); kept while it, or a child of it, is
/// another execution's.
async fn parent(
    client: &Client,
    input: &TeardownInput,
    p: &mut Progress,
    kind: Kind,
    r: &Found,
    hold: Hold,
    children: &str,
) -> Result<Left, StepError> {
    if r.keep {
        tracing::info!(kind = kind.label(), id = %r.id, "created by another execution: left alone");
        return Ok(Left::Kept);
    }
    if hold.kept > 0 {
        tracing::info!(
            kind = kind.label(),
            id = %r.id,
            kept = hold.kept,
            "still used by resources this teardown leaves alone: left alone"
        );
        return Ok(Left::Kept);
    }
    let blocked =
        (hold.waiting > 0).then(|| format!("waits for {} {children} to go", hold.waiting));
    converge(client, input, p, kind, r, blocked).await
}

/// A child that is not ours to delete. Not the deployment's and blocking a
/// parent of ours (`blocks`): the teardown fails; otherwise left alone.
fn not_deleted(
    p: &mut Progress,
    kind: Kind,
    id: &str,
    detail: &str,
    ownership: Ownership,
    blocks: bool,
    deployment: &str,
) -> Left {
    if ownership == Ownership::Foreign && blocks {
        p.fail(not_ours(kind, id, detail, deployment));
        return Left::Waiting;
    }
    tracing::info!(
        kind = kind.label(),
        id,
        ?ownership,
        "not this teardown's: left alone"
    );
    Left::Kept
}

/// One resource association.
async fn resource_association(
    client: &Client,
    input: &TeardownInput,
    owner: &Owner,
    p: &mut Progress,
    a: &ServiceNetworkResourceAssociationSummary,
    blocks: bool,
    rcfg_kept: bool,
) -> Result<Left, StepError> {
    let kind = Kind::ResourceAssociation;
    let found = Found {
        id: a.id().unwrap_or_default().into(),
        arn: a.arn().unwrap_or_default().into(),
        status: status_of(a.status()),
        keep: false,
    };
    let joins = format!(
        "{} → {}",
        a.resource_configuration_name()
            .or(a.resource_configuration_id())
            .unwrap_or("?"),
        a.service_network_name()
            .or(a.service_network_id())
            .unwrap_or("?")
    );
    if a.is_managed_association() == Some(true) {
        // Lattice made it for a child configuration and removes it with the parent.
        if rcfg_kept {
            return Ok(Left::Kept);
        }
        p.wait(
            kind.label(),
            &found.id,
            format!(
                "{} (managed by VPC Lattice: goes with its parent)",
                found.status
            ),
        );
        return Ok(Left::Waiting);
    }
    match ownership(client, &found.arn, owner).await? {
        None => Ok(Left::Gone),
        Some(Ownership::Owned) => converge(client, input, p, kind, &found, None).await,
        Some(o) => Ok(not_deleted(
            p,
            kind,
            &found.id,
            &joins,
            o,
            blocks,
            &input.name,
        )),
    }
}

async fn access_log_subscription(
    client: &Client,
    input: &TeardownInput,
    owner: &Owner,
    p: &mut Progress,
    s: &AccessLogSubscriptionSummary,
    blocks: bool,
) -> Result<Left, StepError> {
    let kind = Kind::AccessLogSubscription;
    let found = Found {
        id: s.id().into(),
        arn: s.arn().into(),
        status: "present".into(),
        keep: false,
    };
    match ownership(client, &found.arn, owner).await? {
        None => Ok(Left::Gone),
        Some(Ownership::Owned) => converge(client, input, p, kind, &found, None).await,
        Some(o) => Ok(not_deleted(
            p,
            kind,
            &found.id,
            s.destination_arn(),
            o,
            blocks,
            &input.name,
        )),
    }
}

async fn vpc_association(
    client: &Client,
    input: &TeardownInput,
    owner: &Owner,
    p: &mut Progress,
    a: &ServiceNetworkVpcAssociationSummary,
    blocks: bool,
) -> Result<Left, StepError> {
    let kind = Kind::VpcAssociation;
    let found = Found {
        id: a.id().unwrap_or_default().into(),
        arn: a.arn().unwrap_or_default().into(),
        status: status_of(a.status()),
        keep: false,
    };
    match ownership(client, &found.arn, owner).await? {
        None => Ok(Left::Gone),
        Some(Ownership::Owned) => converge(client, input, p, kind, &found, None).await,
        Some(o) => Ok(not_deleted(
            p,
            kind,
            &found.id,
            a.vpc_id().unwrap_or("?"),
            o,
            blocks,
            &input.name,
        )),
    }
}

/// A configuration on our gateway other than ours: it keeps the gateway.
fn other_configuration(
    p: &mut Progress,
    gateway: &Found,
    c: &ResourceConfigurationSummary,
    rcfg_kept: bool,
) -> Left {
    let id = c.id().unwrap_or_default();
    let status = status_of(c.status());
    let managed =
        c.amazon_managed() == Some(true) || c.r#type() == Some(&ResourceConfigurationType::Child);
    if managed && rcfg_kept {
        Left::Kept
    } else if managed {
        p.wait(
            Kind::ResourceConfiguration.label(),
            id,
            format!("{status} (managed by VPC Lattice: goes with its parent)"),
        );
        Left::Waiting
    } else {
        p.fail(format!(
            "resource gateway {} also carries resource configuration `{}` ({id}), which this \
             teardown does not delete; delete it yourself, then run the teardown again",
            gateway.id,
            c.name().unwrap_or("?")
        ));
        Left::Waiting
    }
}

fn not_ours(kind: Kind, id: &str, detail: &str, deployment: &str) -> String {
    format!(
        "{} {id} ({detail}) blocks the teardown but was not created by deployment `{deployment}`, \
         so it is never deleted here; delete it yourself, then run the teardown again",
        kind.label()
    )
}

/// Start deleting one of our resources when that is allowed. `blocked` says
/// which children it still waits for.
async fn converge(
    client: &Client,
    input: &TeardownInput,
    p: &mut Progress,
    kind: Kind,
    r: &Found,
    blocked: Option<String>,
) -> Result<Left, StepError> {
    let label = kind.label();
    let failed_before = input.previously(&entry(label, &r.id, "DELETE_FAILED"));
    let retry = match delete_next(label, &r.id, &r.status, blocked.as_deref(), failed_before) {
        Delete::Wait(why) => {
            p.wait(label, &r.id, why);
            return Ok(Left::Waiting);
        }
        Delete::Fail(reason) => {
            p.fail(reason);
            return Ok(Left::Waiting);
        }
        Delete::Start { retry } => retry,
    };
    match delete(client, kind, &r.id).await? {
        Outcome::Done(after) => {
            tracing::info!(kind = label, id = %r.id, status = ?after, "delete started");
            p.deleted(&r.id);
            if kind.synchronous() {
                return Ok(Left::Gone);
            }
            let shown = match (retry, after) {
                (true, _) => "DELETE_FAILED (delete retried)".to_string(),
                (false, Some(s)) => s,
                (false, None) => "DELETE_IN_PROGRESS".to_string(),
            };
            p.wait(label, &r.id, shown);
            Ok(Left::Waiting)
        }
        Outcome::Gone => {
            tracing::info!(kind = label, id = %r.id, "already gone");
            Ok(Left::Gone)
        }
        Outcome::Refused(message) => {
            tracing::info!(kind = label, id = %r.id, %message, "delete refused for now");
            p.wait(
                label,
                &r.id,
                format!("{} (delete refused: {message})", r.status),
            );
            Ok(Left::Waiting)
        }
    }
}

/// The delete call for `kind`; `Done` carries the status after it, if the API returns one.
async fn delete(
    client: &Client,
    kind: Kind,
    id: &str,
) -> Result<Outcome<Option<String>>, StepError> {
    let status = |s: Option<&str>| s.map(str::to_string);
    match kind {
        Kind::ResourceAssociation => settle(
            client
                .delete_service_network_resource_association()
                .service_network_resource_association_identifier(id)
                .send()
                .await
                .aws("vpc-lattice:DeleteServiceNetworkResourceAssociation")
                .map(|o| status(o.status().map(|s| s.as_str()))),
        ),
        Kind::ResourceConfiguration => settle(
            client
                .delete_resource_configuration()
                .resource_configuration_identifier(id)
                .send()
                .await
                .aws("vpc-lattice:DeleteResourceConfiguration")
                .map(|_| None),
        ),
        Kind::ResourceGateway => settle(
            client
                .delete_resource_gateway()
                .resource_gateway_identifier(id)
                .send()
                .await
                .aws("vpc-lattice:DeleteResourceGateway")
                .map(|o| status(o.status().map(|s| s.as_str()))),
        ),
        Kind::AccessLogSubscription => settle(
            client
                .delete_access_log_subscription()
                .access_log_subscription_identifier(id)
                .send()
                .await
                .aws("vpc-lattice:DeleteAccessLogSubscription")
                .map(|_| None),
        ),
        Kind::VpcAssociation => settle(
            client
                .delete_service_network_vpc_association()
                .service_network_vpc_association_identifier(id)
                .send()
                .await
                .aws("vpc-lattice:DeleteServiceNetworkVpcAssociation")
                .map(|o| status(o.status().map(|s| s.as_str()))),
        ),
        Kind::ServiceNetwork => settle(
            client
                .delete_service_network()
                .service_network_identifier(id)
                .send()
                .await
                .aws("vpc-lattice:DeleteServiceNetwork")
                .map(|_| None),
        ),
    }
}

// ---- ownership ----

/// Where `arn` stands for `owner`; `None` when it vanished meanwhile.
async fn ownership(
    client: &Client,
    arn: &str,
    owner: &Owner,
) -> Result<Option<Ownership>, StepError> {
    match shared::lattice::ownership(client, arn, owner).await {
        Ok(o) => Ok(Some(o)),
        Err(e) if e.name() == RESOURCE_NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

/// The deployment's resource, if `found` is one (`keep` set when it is
/// another execution's). A same-named resource of someone else: left alone.
async fn deployments(
    client: &Client,
    kind: Kind,
    found: Option<Found>,
    owner: &Owner,
) -> Result<Option<Found>, StepError> {
    let Some(f) = found else { return Ok(None) };
    match ownership(client, &f.arn, owner).await? {
        Some(Ownership::Owned) => Ok(Some(f)),
        Some(Ownership::OtherExecution) => Ok(Some(Found { keep: true, ..f })),
        Some(Ownership::Foreign) => {
            tracing::warn!(
                kind = kind.label(),
                id = %f.id,
                deployment = %owner.deployment,
                "a resource with our name was not created by this deployment: left alone"
            );
            Ok(None)
        }
        None => Ok(None),
    }
}

/// A Lattice status enum as its wire string.
fn status_of<S: AsRef<str>>(s: Option<&S>) -> String {
    s.map_or_else(|| "UNKNOWN".to_string(), |s| s.as_ref().to_string())
}

// ---- listing (Lattice has no name filters: page through) ----

async fn find_service_network(client: &Client, name: &str) -> Result<Option<Found>, StepError> {
    let found = shared::lattice::service_network_named(client, name).await?;
    Ok(found.map(|s| Found {
        id: s.id().unwrap_or_default().into(),
        arn: s.arn().unwrap_or_default().into(),
        status: String::new(),
        keep: false,
    }))
}

async fn find_gateway(client: &Client, name: &str) -> Result<Option<Found>, StepError> {
    let found = shared::lattice::gateway_named(client, name).await?;
    Ok(found.map(|g| Found {
        id: g.id().unwrap_or_default().into(),
        arn: g.arn().unwrap_or_default().into(),
        status: status_of(g.status()),
        keep: false,
    }))
}

/// Every configuration of the account: ours by name, and those on our gateway.
async fn list_configurations(
    client: &Client,
) -> Result<Vec<ResourceConfigurationSummary>, StepError> {
    let items = client
        .list_resource_configurations()
        .into_paginator()
        .items()
        .send();
    pages::all(items, "vpc-lattice:ListResourceConfigurations").await
}

/// The associations of our network and of our configurations, each once.
async fn list_resource_associations(
    client: &Client,
    sn: Option<&str>,
    rcfgs: &[&str],
) -> Result<Vec<ServiceNetworkResourceAssociationSummary>, StepError> {
    let mut all: Vec<ServiceNetworkResourceAssociationSummary> = Vec::new();
    let queries = sn
        .map(|sn| (Some(sn), None))
        .into_iter()
        .chain(rcfgs.iter().map(|r| (None, Some(*r))));
    for (sn, rcfg) in queries {
        let items = client
            .list_service_network_resource_associations()
            .set_service_network_identifier(sn.map(str::to_string))
            .set_resource_configuration_identifier(rcfg.map(str::to_string))
            .into_paginator()
            .items()
            .send();
        for a in pages::all(items, "vpc-lattice:ListServiceNetworkResourceAssociations").await? {
            if !all.iter().any(|b| b.id() == a.id()) {
                all.push(a);
            }
        }
    }
    Ok(all)
}

async fn list_vpc_associations(
    client: &Client,
    sn: &str,
) -> Result<Vec<ServiceNetworkVpcAssociationSummary>, StepError> {
    let items = client
        .list_service_network_vpc_associations()
        .service_network_identifier(sn)
        .into_paginator()
        .items()
        .send();
    pages::all(items, "vpc-lattice:ListServiceNetworkVpcAssociations").await
}

async fn list_subscriptions(
    client: &Client,
    sn: &str,
) -> Result<Vec<AccessLogSubscriptionSummary>, StepError> {
    let items = client
        .list_access_log_subscriptions()
        .resource_identifier(sn)
        .into_paginator()
        .items()
        .send();
    pages::all(items, "vpc-lattice:ListAccessLogSubscriptions").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_vpclattice::operation::delete_access_log_subscription::DeleteAccessLogSubscriptionOutput;
    use aws_sdk_vpclattice::operation::delete_resource_configuration::DeleteResourceConfigurationOutput;
    use aws_sdk_vpclattice::operation::delete_resource_gateway::DeleteResourceGatewayOutput;
    use aws_sdk_vpclattice::operation::delete_service_network::DeleteServiceNetworkOutput;
    use aws_sdk_vpclattice::operation::delete_service_network_resource_association::DeleteServiceNetworkResourceAssociationOutput;
    use aws_sdk_vpclattice::operation::delete_service_network_vpc_association::DeleteServiceNetworkVpcAssociationOutput;
    use aws_sdk_vpclattice::operation::list_access_log_subscriptions::ListAccessLogSubscriptionsOutput;
    use aws_sdk_vpclattice::operation::list_resource_configurations::ListResourceConfigurationsOutput;
    use aws_sdk_vpclattice::operation::list_resource_gateways::ListResourceGatewaysOutput;
    use aws_sdk_vpclattice::operation::list_service_network_resource_associations::ListServiceNetworkResourceAssociationsOutput;
    use aws_sdk_vpclattice::operation::list_service_network_vpc_associations::ListServiceNetworkVpcAssociationsOutput;
    use aws_sdk_vpclattice::operation::list_service_networks::ListServiceNetworksOutput;
    use aws_sdk_vpclattice::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_vpclattice::types::{
        ResourceConfigurationStatus, ResourceGatewayStatus, ResourceGatewaySummary,
        ServiceNetworkResourceAssociationStatus, ServiceNetworkSummary,
        ServiceNetworkVpcAssociationStatus,
    };
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use shared::plan::PollState;
    use shared::testing;

    const ARN: &str = "arn:aws:vpc-lattice:us-east-1:123456789012";
    const SN: &str = "sn-0123456789abcdefg";
    const RGW: &str = "rgw-0123456789abcdefg";
    const RCFG: &str = "rcfg-0123456789abcdefg";
    /// A replacement of another type (`orders-rcfg-2`).
    const NEW_RCFG: &str = "rcfg-0123456789abcde22";
    const SNRA: &str = "snra-0123456789abcdef0";
    const SNVA: &str = "snva-0123456789abcdefg";
    const ALS: &str = "als-0123456789abcdefg";
    /// Ids containing this belong to another deployment (see `tags`).
    const FOREIGN: &str = "f0f0f";

    fn arn(kind: &str, id: &str) -> String {
        format!("{ARN}:{kind}/{id}")
    }

    fn input() -> TeardownInput {
        TeardownInput {
            name: "orders".into(),
            ..TeardownInput::default()
        }
    }

    fn after(attempt: u32, waiting: &[&str]) -> TeardownInput {
        TeardownInput {
            previous: Some(Previous {
                attempt,
                waiting: waiting.iter().map(|s| s.to_string()).collect(),
            }),
            ..input()
        }
    }

    /// What exists when a call starts.
    #[derive(Clone)]
    struct World {
        sn: Option<&'static str>,
        rgw: Option<(&'static str, ResourceGatewayStatus)>,
        rcfgs: Vec<(&'static str, &'static str, ResourceConfigurationStatus)>,
        snras: Vec<(&'static str, ServiceNetworkResourceAssociationStatus)>,
        snvas: Vec<(&'static str, ServiceNetworkVpcAssociationStatus)>,
        subscriptions: Vec<&'static str>,
        /// Ids created by execution `run-1`; the others are `run-2`'s.
        older: Vec<&'static str>,
    }

    impl World {
        /// Everything provisioned and ACTIVE.
        fn full() -> Self {
            Self {
                sn: Some(SN),
                rgw: Some((RGW, ResourceGatewayStatus::Active)),
                rcfgs: vec![("orders-rcfg", RCFG, ResourceConfigurationStatus::Active)],
                snras: vec![(SNRA, ServiceNetworkResourceAssociationStatus::Active)],
                snvas: vec![(SNVA, ServiceNetworkVpcAssociationStatus::Active)],
                subscriptions: vec![ALS],
                older: vec![],
            }
        }

        fn empty() -> Self {
            Self {
                sn: None,
                rgw: None,
                rcfgs: vec![],
                snras: vec![],
                snvas: vec![],
                subscriptions: vec![],
                older: vec![],
            }
        }
    }

    struct Mocks {
        lists: Vec<Rule>,
        tags: Rule,
        del_snra: Rule,
        del_rcfg: Rule,
        del_rgw: Rule,
        del_als: Rule,
        del_snva: Rule,
        del_sn: Rule,
    }

    impl Mocks {
        fn new(w: &World) -> Self {
            let sn = w.sn;
            let rgw = w.rgw.clone();
            let rcfgs = w.rcfgs.clone();
            let snras = w.snras.clone();
            let snvas = w.snvas.clone();
            let subs = w.subscriptions.clone();
            let older = w.older.clone();
            let lists = vec![
                mock!(Client::list_service_networks).then_output(move || {
                    let mut b = ListServiceNetworksOutput::builder().set_items(Some(vec![]));
                    if let Some(id) = sn {
                        b = b.items(
                            ServiceNetworkSummary::builder()
                                .id(id)
                                .arn(arn("servicenetwork", id))
                                .name("orders-sn")
                                .build(),
                        );
                    }
                    b.build().unwrap()
                }),
                mock!(Client::list_resource_gateways).then_output(move || {
                    let mut b = ListResourceGatewaysOutput::builder().set_items(Some(vec![]));
                    if let Some((id, status)) = rgw.clone() {
                        b = b.items(
                            ResourceGatewaySummary::builder()
                                .id(id)
                                .arn(arn("resourcegateway", id))
                                .name("orders-rgw")
                                .status(status)
                                .build(),
                        );
                    }
                    b.build()
                }),
                mock!(Client::list_resource_configurations).then_output(move || {
                    let mut b = ListResourceConfigurationsOutput::builder().set_items(Some(vec![]));
                    for (name, id, status) in rcfgs.clone() {
                        b = b.items(
                            ResourceConfigurationSummary::builder()
                                .id(id)
                                .arn(arn("resourceconfiguration", id))
                                .name(name)
                                .resource_gateway_id(RGW)
                                .r#type(ResourceConfigurationType::Single)
                                .status(status)
                                .build(),
                        );
                    }
                    b.build()
                }),
                // Every association joins our configuration to our network.
                mock!(Client::list_service_network_resource_associations).then_compute_output(
                    move |r| {
                        assert!(
                            r.service_network_identifier() == Some(SN)
                                || r.resource_configuration_identifier() == Some(RCFG)
                                || r.resource_configuration_identifier() == Some(NEW_RCFG),
                            "{r:?}"
                        );
                        let mut b = ListServiceNetworkResourceAssociationsOutput::builder().set_items(Some(vec![]));
                        for (id, status) in snras.clone() {
                            b = b.items(
                                ServiceNetworkResourceAssociationSummary::builder()
                                    .id(id)
                                    .arn(arn("servicenetworkresourceassociation", id))
                                    .status(status)
                                    .resource_configuration_id(RCFG)
                                    .service_network_id(SN)
                                    .build(),
                            );
                        }
                        b.build().unwrap()
                    },
                ),
                mock!(Client::list_service_network_vpc_associations)
                    .match_requests(|r| r.service_network_identifier() == Some(SN))
                    .then_output(move || {
                        let mut b = ListServiceNetworkVpcAssociationsOutput::builder().set_items(Some(vec![]));
                        for (id, status) in snvas.clone() {
                            b = b.items(
                                ServiceNetworkVpcAssociationSummary::builder()
                                    .id(id)
                                    .arn(arn("servicenetworkvpcassociation", id))
                                    .status(status)
                                    .service_network_id(SN)
                                    .vpc_id("vpc-0c10000000000000b")
                                    .build(),
                            );
                        }
                        b.build().unwrap()
                    }),
                mock!(Client::list_access_log_subscriptions)
                    .match_requests(|r| r.resource_identifier() == Some(SN))
                    .then_output(move || {
                        let mut b = ListAccessLogSubscriptionsOutput::builder().set_items(Some(vec![]));
                        for id in subs.clone() {
                            b = b.items(
                                AccessLogSubscriptionSummary::builder()
                                    .id(id)
                                    .arn(arn("accesslogsubscription", id))
                                    .resource_id(SN)
                                    .resource_arn(arn("servicenetwork", SN))
                                    .destination_arn("arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpclattice/lattice-db-access/orders")
                                    .created_at(aws_smithy_types::DateTime::from_secs(0))
                                    .last_updated_at(aws_smithy_types::DateTime::from_secs(0))
                                    .build()
                                    .unwrap(),
                            );
                        }
                        b.build().unwrap()
                    }),
            ];
            Self {
                lists,
                tags: mock!(Client::list_tags_for_resource).then_compute_output(move |r| {
                    let arn = r.resource_arn().unwrap_or_default();
                    let owner = if arn.contains(FOREIGN) {
                        "someone-else"
                    } else {
                        "orders"
                    };
                    let execution = if older.iter().any(|id| arn.ends_with(id)) {
                        "run-1"
                    } else {
                        "run-2"
                    };
                    ListTagsForResourceOutput::builder()
                        .tags(shared::tags::DEPLOYMENT, owner)
                        .tags(shared::tags::EXECUTION, execution)
                        .build()
                }),
                del_snra: mock!(Client::delete_service_network_resource_association).then_output(
                    || {
                        DeleteServiceNetworkResourceAssociationOutput::builder()
                            .status(ServiceNetworkResourceAssociationStatus::DeleteInProgress)
                            .build()
                    },
                ),
                del_rcfg: mock!(Client::delete_resource_configuration)
                    .then_output(|| DeleteResourceConfigurationOutput::builder().build()),
                del_rgw: mock!(Client::delete_resource_gateway).then_output(|| {
                    DeleteResourceGatewayOutput::builder()
                        .status(ResourceGatewayStatus::DeleteInProgress)
                        .build()
                }),
                del_als: mock!(Client::delete_access_log_subscription)
                    .then_output(|| DeleteAccessLogSubscriptionOutput::builder().build()),
                del_snva: mock!(Client::delete_service_network_vpc_association).then_output(|| {
                    DeleteServiceNetworkVpcAssociationOutput::builder()
                        .status(ServiceNetworkVpcAssociationStatus::DeleteInProgress)
                        .build()
                }),
                del_sn: mock!(Client::delete_service_network)
                    .then_output(|| DeleteServiceNetworkOutput::builder().build()),
            }
        }

        fn client(&self) -> Client {
            let mut rules: Vec<&Rule> = self.lists.iter().collect();
            rules.extend([
                &self.tags,
                &self.del_snra,
                &self.del_rcfg,
                &self.del_rgw,
                &self.del_als,
                &self.del_snva,
                &self.del_sn,
            ]);
            mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, rules)
        }

        /// Calls of (snra, rcfg, rgw, als, snva, sn) deletes.
        fn deletes(&self) -> [usize; 6] {
            [
                self.del_snra.num_calls(),
                self.del_rcfg.num_calls(),
                self.del_rgw.num_calls(),
                self.del_als.num_calls(),
                self.del_snva.num_calls(),
                self.del_sn.num_calls(),
            ]
        }
    }

    fn prune(vpcs: &[&str], rcfg: &str) -> TeardownInput {
        TeardownInput {
            prune: Some(shared::teardown::Prune {
                client_vpcs: vpcs
                    .iter()
                    .map(|v| shared::teardown::KeptVpc {
                        vpc_id: v.to_string(),
                    })
                    .collect(),
                resource_configuration_id: rcfg.into(),
            }),
            ..input()
        }
    }

    #[tokio::test]
    async fn a_prune_with_nothing_dropped_deletes_nothing() {
        let m = Mocks::new(&World::full());
        let out = handle(&m.client(), prune(&["vpc-0c10000000000000b"], RCFG))
            .await
            .unwrap();
        assert_eq!(m.deletes(), [0; 6], "{out:?}");
        assert_eq!(out.state, PollState::Ready);
        assert!(out.waiting.is_empty(), "{out:?}");
    }

    #[tokio::test]
    async fn a_prune_deletes_the_association_of_a_dropped_vpc_and_keeps_the_rest() {
        let m = Mocks::new(&World::full());
        let out = handle(&m.client(), prune(&["vpc-0c2000000000000ff"], RCFG))
            .await
            .unwrap();
        // Only the VPC association: not the configuration, its association, the subscription,
        // the gateway or the network.
        assert_eq!(m.deletes(), [0, 0, 0, 0, 1, 0]);
        assert_eq!(out.deleted, [SNVA]);
        assert_eq!(
            out.waiting,
            [format!("VPC association {SNVA} is DELETE_IN_PROGRESS")]
        );
        assert_eq!(out.state, PollState::Pending);
    }

    #[tokio::test]
    async fn a_prune_after_a_replacement_removes_the_old_configuration_after_its_association() {
        let mut w = World::full();
        w.rcfgs.push((
            "orders-rcfg-2",
            NEW_RCFG,
            ResourceConfigurationStatus::Active,
        ));
        let m = Mocks::new(&w);
        let out = handle(&m.client(), prune(&["vpc-0c10000000000000b"], NEW_RCFG))
            .await
            .unwrap();
        assert_eq!(m.deletes(), [1, 0, 0, 0, 0, 0]);
        assert!(out.waiting.iter().any(|e| e.starts_with(&format!(
            "resource configuration {RCFG} is ACTIVE (waits for 1 resource association"
        ))));
        // Once the association is gone, the old configuration goes; the new one stays.
        w.snras.clear();
        let m = Mocks::new(&w);
        let out = handle(&m.client(), prune(&["vpc-0c10000000000000b"], NEW_RCFG))
            .await
            .unwrap();
        assert_eq!(m.deletes(), [0, 1, 0, 0, 0, 0]);
        assert_eq!(out.deleted, [RCFG]);
    }

    #[tokio::test]
    async fn a_prune_that_does_not_find_the_configuration_in_use_deletes_nothing() {
        let m = Mocks::new(&World::full());
        let e = handle(&m.client(), prune(&[], "rcfg-0000000000000000z"))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Internal");
        assert_eq!(m.deletes(), [0; 6]);
    }

    #[tokio::test]
    async fn first_call_deletes_only_the_leaves() {
        let m = Mocks::new(&World::full());
        let out = handle(&m.client(), input()).await.unwrap();
        // Associations and the subscription go; their parents wait.
        assert_eq!(m.deletes(), [1, 0, 0, 1, 1, 0]);
        assert_eq!(out.state, PollState::Pending);
        assert_eq!(out.attempt, 1);
        assert_eq!(out.deleted, [SNRA, ALS, SNVA]);
        assert!(out.waiting.contains(&format!(
            "resource association {SNRA} is DELETE_IN_PROGRESS"
        )));
        assert!(out.waiting.iter().any(|w| w.starts_with(&format!(
            "resource configuration {RCFG} is ACTIVE (waits for 1 resource association"
        ))));
        assert!(out
            .waiting
            .iter()
            .any(|w| w.starts_with(&format!("resource gateway {RGW} is ACTIVE (waits for 1"))));
        assert!(out
            .waiting
            .iter()
            .any(|w| w.starts_with(&format!("service network {SN} is in use"))));
        assert_eq!(out.wait_seconds, Policy::LATTICE.wait_after(1));
    }

    #[tokio::test]
    async fn the_configuration_is_not_deleted_while_an_association_still_lists() {
        let mut w = World::full();
        w.snras = vec![(
            SNRA,
            ServiceNetworkResourceAssociationStatus::DeleteInProgress,
        )];
        w.snvas = vec![];
        w.subscriptions = vec![];
        let m = Mocks::new(&w);
        let out = handle(&m.client(), after(1, &[])).await.unwrap();
        // Nothing may be deleted: the association is on its way, everything else hangs on it.
        assert_eq!(m.deletes(), [0, 0, 0, 0, 0, 0]);
        assert_eq!((out.state, out.attempt), (PollState::Pending, 2));
        assert!(out.deleted.is_empty());
    }

    #[tokio::test]
    async fn once_associations_are_gone_the_configuration_then_the_gateway_go() {
        let mut w = World::full();
        w.snras = vec![];
        w.snvas = vec![];
        w.subscriptions = vec![];
        let m = Mocks::new(&w);
        let out = handle(&m.client(), input()).await.unwrap();
        // The configuration and the service network go; the gateway waits for the configuration.
        assert_eq!(m.deletes(), [0, 1, 0, 0, 0, 1]);
        assert_eq!(out.deleted, [RCFG, SN]);
        assert_eq!(out.state, PollState::Pending);

        let mut w = World::empty();
        w.rgw = Some((RGW, ResourceGatewayStatus::Active));
        let m = Mocks::new(&w);
        let out = handle(&m.client(), input()).await.unwrap();
        assert_eq!(m.deletes(), [0, 0, 1, 0, 0, 0]);
        assert_eq!(
            out.waiting,
            [format!("resource gateway {RGW} is DELETE_IN_PROGRESS")]
        );
    }

    #[tokio::test]
    async fn the_service_network_waits_for_its_vpc_associations() {
        let mut w = World::empty();
        w.sn = Some(SN);
        w.snvas = vec![(SNVA, ServiceNetworkVpcAssociationStatus::DeleteInProgress)];
        let m = Mocks::new(&w);
        let out = handle(&m.client(), input()).await.unwrap();
        assert_eq!(m.deletes(), [0, 0, 0, 0, 0, 0]);
        assert_eq!(out.state, PollState::Pending);
        assert!(out
            .waiting
            .contains(&format!("VPC association {SNVA} is DELETE_IN_PROGRESS")));

        // A VPC association still being created is not deleted either (not allowed yet).
        w.snvas = vec![(SNVA, ServiceNetworkVpcAssociationStatus::CreateInProgress)];
        let m = Mocks::new(&w);
        handle(&m.client(), input()).await.unwrap();
        assert_eq!(m.deletes(), [0, 0, 0, 0, 0, 0]);

        w.snvas = vec![];
        let m = Mocks::new(&w);
        let out = handle(&m.client(), input()).await.unwrap();
        assert_eq!(m.deletes(), [0, 0, 0, 0, 0, 1]);
        assert_eq!(
            (out.state, out.deleted.as_slice()),
            (PollState::Ready, &[SN.to_string()][..])
        );
    }

    #[tokio::test]
    async fn nothing_left_is_ready_without_any_delete() {
        let m = Mocks::new(&World::empty());
        let out = handle(&m.client(), after(7, &[])).await.unwrap();
        assert_eq!(m.deletes(), [0, 0, 0, 0, 0, 0]);
        assert_eq!(out.state, PollState::Ready);
        assert_eq!(out.attempt, 8);
        assert!(out.deleted.is_empty() && out.waiting.is_empty() && out.reason.is_none());
    }

    #[tokio::test]
    async fn deleting_what_vanished_meanwhile_counts_as_done() {
        let mut w = World::empty();
        w.sn = Some(SN);
        w.rcfgs = vec![("orders-rcfg", RCFG, ResourceConfigurationStatus::Active)];
        let mut m = Mocks::new(&w);
        m.del_rcfg = mock!(Client::delete_resource_configuration).then_http_response(|| {
            testing::lattice_error(404, "ResourceNotFoundException", "gone")
        });
        m.del_sn = mock!(Client::delete_service_network).then_http_response(|| {
            testing::lattice_error(404, "ResourceNotFoundException", "gone")
        });
        let out = handle(&m.client(), input()).await.unwrap();
        assert_eq!(m.deletes(), [0, 1, 0, 0, 0, 1]);
        assert_eq!(out.state, PollState::Ready);
        assert!(out.deleted.is_empty());
    }

    #[tokio::test]
    async fn same_named_resources_of_another_deployment_are_left_alone() {
        let w = World {
            sn: Some("sn-f0f0f00000000000a"),
            rgw: Some(("rgw-f0f0f00000000000a", ResourceGatewayStatus::Active)),
            rcfgs: vec![(
                "orders-rcfg",
                "rcfg-f0f0f00000000000a",
                ResourceConfigurationStatus::Active,
            )],
            snras: vec![],
            snvas: vec![],
            subscriptions: vec![],
            older: vec![],
        };
        let m = Mocks::new(&w);
        let out = handle(&m.client(), input()).await.unwrap();
        assert_eq!(m.deletes(), [0, 0, 0, 0, 0, 0]);
        assert_eq!(out.state, PollState::Ready);
        assert!(m.tags.num_calls() >= 3, "ownership was checked");
    }

    #[tokio::test]
    async fn a_foreign_association_on_our_network_fails_the_teardown_and_is_kept() {
        let mut w = World::empty();
        w.sn = Some(SN);
        w.snras = vec![(
            "snra-f0f0f0000000000a0",
            ServiceNetworkResourceAssociationStatus::Active,
        )];
        w.subscriptions = vec![ALS];
        let m = Mocks::new(&w);
        let out = handle(&m.client(), input()).await.unwrap();
        // Our subscription still goes, the foreign association and our network stay.
        assert_eq!(m.deletes(), [0, 0, 0, 1, 0, 0]);
        assert_eq!(out.state, PollState::Failed);
        let reason = out.reason.unwrap();
        assert!(
            reason.contains("snra-f0f0f0000000000a0")
                && reason.contains("not created by deployment `orders`"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn a_configuration_of_someone_else_on_our_gateway_fails_the_teardown() {
        let mut w = World::empty();
        w.rgw = Some((RGW, ResourceGatewayStatus::Active));
        w.rcfgs = vec![(
            "billing-rcfg",
            "rcfg-f0f0f00000000000b",
            ResourceConfigurationStatus::Active,
        )];
        let m = Mocks::new(&w);
        let out = handle(&m.client(), input()).await.unwrap();
        assert_eq!(m.deletes(), [0, 0, 0, 0, 0, 0]);
        assert_eq!(out.state, PollState::Failed);
        assert!(out.reason.unwrap().contains("billing-rcfg"));
    }

    #[tokio::test]
    async fn a_failed_delete_is_retried_once_then_fails() {
        let mut w = World::empty();
        w.rgw = Some((RGW, ResourceGatewayStatus::DeleteFailed));
        let m = Mocks::new(&w);
        let out = handle(&m.client(), after(3, &[])).await.unwrap();
        assert_eq!(m.deletes(), [0, 0, 1, 0, 0, 0]);
        assert_eq!(out.state, PollState::Pending);
        assert_eq!(
            out.waiting,
            [format!(
                "resource gateway {RGW} is DELETE_FAILED (delete retried)"
            )]
        );

        let m = Mocks::new(&w);
        let previous: Vec<&str> = out.waiting.iter().map(String::as_str).collect();
        let out = handle(&m.client(), after(4, &previous)).await.unwrap();
        assert_eq!(m.deletes(), [0, 0, 0, 0, 0, 0]);
        assert_eq!(out.state, PollState::Failed);
        assert!(out.reason.unwrap().contains("still DELETE_FAILED"));
    }

    #[tokio::test]
    async fn a_refused_delete_waits_and_the_loop_times_out_at_the_bound() {
        let mut w = World::empty();
        w.rgw = Some((RGW, ResourceGatewayStatus::Active));
        let mut m = Mocks::new(&w);
        m.del_rgw = mock!(Client::delete_resource_gateway).then_http_response(|| {
            testing::lattice_error(409, "ConflictException", "still has ENIs")
        });
        let max = Policy::LATTICE.max_attempts;
        let out = handle(&m.client(), after(max - 2, &[])).await.unwrap();
        assert_eq!(out.state, PollState::Pending);
        assert_eq!(
            out.waiting,
            [format!(
                "resource gateway {RGW} is ACTIVE (delete refused: still has ENIs)"
            )]
        );
        let out = handle(&m.client(), after(max - 1, &[])).await.unwrap();
        assert_eq!((out.state, out.attempt), (PollState::TimedOut, max));
        assert!(out.reason.unwrap().contains(RGW));
    }

    fn rollback_of(execution: &str) -> TeardownInput {
        TeardownInput {
            only_execution: Some(execution.into()),
            ..input()
        }
    }

    #[tokio::test]
    async fn only_execution_deletes_what_that_execution_added_to_older_parents() {
        // run-1 made the network, the gateway and the configuration; run-2 the rest.
        let mut w = World::full();
        w.older = vec![SN, RGW, RCFG];
        let m = Mocks::new(&w);
        let out = handle(&m.client(), rollback_of("run-2")).await.unwrap();
        assert_eq!(m.deletes(), [1, 0, 0, 1, 1, 0]);
        assert_eq!(out.deleted, [SNRA, ALS, SNVA]);
        // Only run-2's resources are waited for; run-1's parents are not.
        assert_eq!(
            out.waiting,
            [
                format!("resource association {SNRA} is DELETE_IN_PROGRESS"),
                format!("VPC association {SNVA} is DELETE_IN_PROGRESS"),
            ]
        );
        assert_eq!(out.state, PollState::Pending);

        // Once they are gone, run-1's resources are all that is left: done.
        let w = World {
            snras: vec![],
            snvas: vec![],
            subscriptions: vec![],
            ..w
        };
        let m = Mocks::new(&w);
        let out = handle(&m.client(), rollback_of("run-2")).await.unwrap();
        assert_eq!(m.deletes(), [0, 0, 0, 0, 0, 0]);
        assert_eq!(out.state, PollState::Ready);
        assert!(out.waiting.is_empty() && out.reason.is_none());
    }

    #[tokio::test]
    async fn only_execution_leaves_what_another_execution_created() {
        let mut w = World::full();
        w.older = vec![SN, RGW, RCFG, SNRA, SNVA, ALS];
        let m = Mocks::new(&w);
        let out = handle(&m.client(), rollback_of("run-2")).await.unwrap();
        assert_eq!(m.deletes(), [0, 0, 0, 0, 0, 0]);
        assert_eq!(out.state, PollState::Ready);
        assert!(out.waiting.is_empty() && out.deleted.is_empty());
        assert!(m.tags.num_calls() >= 6, "ownership was checked");

        // Parents of run-1 whose children are all run-2's: run-1's rollback
        // deletes nothing (the children hold them), and waits for nothing.
        w.older = vec![SN, RGW, RCFG];
        let m = Mocks::new(&w);
        let out = handle(&m.client(), rollback_of("run-1")).await.unwrap();
        assert_eq!(m.deletes(), [0, 0, 0, 0, 0, 0]);
        assert_eq!(out.state, PollState::Ready);
    }

    #[tokio::test]
    async fn a_parent_of_this_execution_held_by_an_older_child_is_left_alone() {
        let w = World {
            snras: vec![],
            subscriptions: vec![],
            older: vec![SNVA],
            ..World::full()
        };
        let m = Mocks::new(&w);
        let out = handle(&m.client(), rollback_of("run-2")).await.unwrap();
        // The configuration goes; the network stays with run-1's VPC association.
        assert_eq!(m.deletes(), [0, 1, 0, 0, 0, 0]);
        assert_eq!(out.deleted, [RCFG]);
        assert_eq!(
            out.waiting,
            [
                format!("resource configuration {RCFG} is DELETE_IN_PROGRESS"),
                format!(
                    "resource gateway {RGW} is ACTIVE (waits for 1 resource configuration(s) to go)"
                ),
            ]
        );
    }

    #[tokio::test]
    async fn aws_errors_keep_their_stable_names() {
        let list = mock!(Client::list_service_networks)
            .then_http_response(|| testing::lattice_error(429, "ThrottlingException", "slow down"));
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list]);
        let e = handle(&client, input()).await.unwrap_err();
        assert_eq!(e.name(), "Aws.Throttled");
        assert!(
            e.to_string().contains("vpc-lattice:ListServiceNetworks"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_bad_name_is_rejected_before_any_call() {
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, Vec::<&Rule>::new());
        let e = handle(
            &client,
            TeardownInput {
                name: "Orders".into(),
                ..TeardownInput::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(e.name(), "Input.Invalid");
        assert!(e.to_string().starts_with("name: "), "{e}");
    }
}
