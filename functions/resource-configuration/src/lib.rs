//! Step 5: the resource configuration that exposes the database through the
//! resource gateway. How it names the database depends on `plan.mode`:
//! - `dns` (default): SINGLE + `dnsResource` on the RDS endpoint (follows failover);
//! - `arn`: ARN type on the instance/cluster ARN (no port ranges, no protocol);
//! - `ip`: SINGLE + `ipResource` on an in-VPC address (the failover Lambda repoints it).
//!
//! Recipe difference: it passed the endpoint *hostname* as `ipResource` (aws-facts §2 #9).

use std::net::{IpAddr, Ipv4Addr};

use aws_sdk_vpclattice::operation::get_resource_configuration::GetResourceConfigurationOutput;
use aws_sdk_vpclattice::types::{
    ArnResource, DnsResource, IpResource, ProtocolType, ResourceConfigurationDefinition,
    ResourceConfigurationIpAddressType, ResourceConfigurationStatus, ResourceConfigurationSummary,
    ResourceConfigurationType,
};
use aws_sdk_vpclattice::Client;
use shared::input::{ipv4_in_cidr, Mode};
use shared::plan::{client_token, IdArn, Plan, PollOut};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "resource-configuration";

/// What this step reads from the execution state; a section missing there fails at the
/// state boundary, naming it ([`shared::runtime::invoke_step`]).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The validated plan (ValidateInput).
    pub plan: shared::plan::Plan,
    /// The resource gateway.
    pub gateway: shared::plan::IdArn,
    /// The database as its polling loop last saw it (endpoint, ARN).
    pub database_poll: shared::plan::PollOut,
}

/// What the configuration must look like for this plan.
#[derive(Debug, Clone, PartialEq)]
struct Desired {
    kind: ResourceConfigurationType,
    definition: ResourceConfigurationDefinition,
    /// SINGLE only: the API rejects port ranges and a protocol on ARN configurations.
    port_ranges: Option<Vec<String>>,
    /// The definition in one line, for the client token and error messages.
    summary: String,
}

pub async fn handle(client: &Client, input: Input) -> Result<IdArn, StepError> {
    let plan = &input.plan;
    let gateway = &input.gateway;
    let want = desired(plan, &input.database_poll).await?;
    let names = plan.names.resource_configuration_names();
    let existing = find(client, &gateway.id, &names).await?;
    let (found, name) = match choose(&names, &existing, &want.kind) {
        // The name is only for a create; adopting keeps the configuration's own.
        Choice::Adopt(found) => (Some(*found), String::new()),
        Choice::Busy(message) => {
            return Err(StepError::Conflict {
                operation: "vpc-lattice:CreateResourceConfiguration".into(),
                message,
            })
        }
        Choice::Create(name) => {
            if let Some(old) = existing.first() {
                tracing::info!(
                    old_resource_configuration_id = old.id().unwrap_or_default(),
                    old_type = ?old.r#type(),
                    new_name = %name,
                    mode = plan.mode.as_str(),
                    "the configuration's type cannot be updated: creating its replacement; \
                     clients get a new DNS name, and the old configuration is removed once the \
                     new one is associated"
                );
            }
            (None, name)
        }
    };
    let name = &name;

    let ports = want.port_ranges.clone().unwrap_or_default();
    let params = format!("{}|{}|{}", gateway.id, want.summary, ports.join(","));
    let find_named = async || {
        let named = find(client, &gateway.id, std::slice::from_ref(name)).await?;
        Ok(named.into_iter().next())
    };
    shared::reconcile::ensure(
        COMPONENT,
        found,
        find_named,
        async |found| adopt(client, plan, &want, found).await,
        async || {
            let mut req = client
                .create_resource_configuration()
                .name(name)
                .r#type(want.kind.clone())
                .resource_gateway_identifier(&gateway.id)
                .resource_configuration_definition(want.definition.clone())
                .set_tags(Some(tags(plan)))
                .client_token(client_token(&plan.name, COMPONENT, &params));
            if want.port_ranges.is_some() {
                req = req
                    .set_port_ranges(want.port_ranges.clone())
                    .protocol(ProtocolType::Tcp);
            }
            let out = req
                .send()
                .await
                .aws("vpc-lattice:CreateResourceConfiguration")?;
            tracing::info!(
                resource_configuration_id = out.id(),
                mode = plan.mode.as_str(),
                definition = %want.summary,
                status = ?out.status(),
                "created resource configuration"
            );
            shared::reconcile::created("CreateResourceConfiguration", out.id(), out.arn())
        },
    )
    .await
}

/// Our tags plus the ones the failover Lambda uses to find configurations.
fn tags(plan: &Plan) -> std::collections::HashMap<String, String> {
    let mut t = shared::lattice::tag_map(&plan.tags, &plan.name, COMPONENT);
    t.extend(identity_tags(plan));
    t
}

fn identity_tags(plan: &Plan) -> Vec<(String, String)> {
    let mut t = vec![
        (shared::tags::MODE.into(), plan.mode.as_str().into()),
        (
            shared::tags::DB_KIND.into(),
            plan.database.kind.as_str().into(),
        ),
        (
            shared::tags::DB_IDENTIFIER.into(),
            plan.database.identifier.clone(),
        ),
    ];
    if let Some(s) = &plan.standby {
        t.push((shared::tags::STANDBY_KIND.into(), s.kind.as_str().into()));
        t.push((
            shared::tags::STANDBY_IDENTIFIER.into(),
            s.identifier.clone(),
        ));
    }
    t
}

async fn desired(plan: &Plan, db: &PollOut) -> Result<Desired, StepError> {
    let endpoint = || {
        db.endpoint.as_deref().ok_or_else(|| {
            StepError::internal(
                "the execution state has no `databasePoll.endpoint`: the database is not ready",
            )
        })
    };
    let single = |definition, summary| Desired {
        kind: ResourceConfigurationType::Single,
        definition,
        port_ranges: Some(vec![plan.port.to_string()]),
        summary,
    };
    Ok(match plan.mode {
        Mode::Dns => {
            let domain = endpoint()?;
            single(
                ResourceConfigurationDefinition::DnsResource(
                    DnsResource::builder()
                        .domain_name(domain)
                        .ip_address_type(ResourceConfigurationIpAddressType::Ipv4)
                        .build(),
                ),
                format!("dns:{domain}"),
            )
        }
        Mode::Arn => {
            let arn = db.arn.as_deref().ok_or_else(|| {
                StepError::internal(
                    "the execution state has no `databasePoll.arn`: the database is not ready",
                )
            })?;
            Desired {
                kind: ResourceConfigurationType::Arn,
                definition: ResourceConfigurationDefinition::ArnResource(
                    ArnResource::builder().arn(arn).build(),
                ),
                port_ranges: None,
                summary: format!("arn:{arn}"),
            }
        }
        Mode::Ip => {
            let address = match &plan.ip_address {
                Some(a) => a.clone(),
                None => resolve_in_vpc(endpoint()?, plan.port, &plan.database_vpc_cidrs)
                    .await?
                    .to_string(),
            };
            single(
                ResourceConfigurationDefinition::IpResource(
                    IpResource::builder().ip_address(&address).build(),
                ),
                format!("ip:{address}"),
            )
        }
    })
}

/// The endpoint's address inside the database VPC (`ip` mode without `ipAddress`).
async fn resolve_in_vpc(
    endpoint: &str,
    port: u16,
    cidrs: &[String],
) -> Result<Ipv4Addr, StepError> {
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((endpoint, port))
        .await
        .map_err(|e| StepError::Transient {
            operation: "dns:Resolve".into(),
            message: format!("resolving the database endpoint `{endpoint}`: {e}"),
        })?
        .map(|a| a.ip())
        .collect();
    select_vpc_ipv4(&addrs, cidrs).ok_or_else(|| {
        StepError::invalid(
            "ipAddress",
            format!(
                "the database endpoint `{endpoint}` (resolves to {addrs:?}) could not be resolved \
                 to an address in the database VPC ({}); give ipAddress",
                cidrs.join(", ")
            ),
        )
    })
}

/// The first IPv4 address inside one of the VPC's CIDRs (public or foreign
/// addresses are useless to a resource gateway: `ipResource` must be in-VPC).
fn select_vpc_ipv4(addrs: &[IpAddr], cidrs: &[String]) -> Option<Ipv4Addr> {
    addrs.iter().find_map(|a| match a {
        IpAddr::V4(v4) if cidrs.iter().any(|c| ipv4_in_cidr(*v4, c)) => Some(*v4),
        _ => None,
    })
}

async fn adopt(
    client: &Client,
    plan: &Plan,
    want: &Desired,
    found: ResourceConfigurationSummary,
) -> Result<IdArn, StepError> {
    let (id, arn) = (
        found.id().unwrap_or_default(),
        found.arn().unwrap_or_default(),
    );
    let before = shared::lattice::adopt(
        client,
        "resource configuration",
        found.name().unwrap_or_default(),
        arn,
        &plan.name,
        &tags(plan),
    )
    .await?;
    let current = client
        .get_resource_configuration()
        .resource_configuration_identifier(id)
        .send()
        .await
        .aws("vpc-lattice:GetResourceConfiguration")?;
    reconcile(client, plan, want, id, &current).await?;
    converge_identity(client, plan, arn, &before).await?;
    Ok(IdArn {
        id: id.into(),
        arn: arn.into(),
    })
}

/// Bring an adopted configuration to the desired definition, where the API allows it.
async fn reconcile(
    client: &Client,
    plan: &Plan,
    want: &Desired,
    id: &str,
    current: &GetResourceConfigurationOutput,
) -> Result<(), StepError> {
    let conflict = |message: String| StepError::Conflict {
        operation: "vpc-lattice:UpdateResourceConfiguration".into(),
        message,
    };
    if current.status() == Some(&ResourceConfigurationStatus::DeleteInProgress) {
        return Err(conflict(format!(
            "resource configuration {id} is being deleted; retry once it is gone"
        )));
    }
    match mismatch(want, current) {
        None => return Ok(()),
        Some(Mismatch::Type) => {
            return Err(conflict(format!(
                "resource configuration {id} is of type {:?} but mode `{}` needs {:?}; \
                 the type cannot be updated: run the teardown first",
                current.r#type(),
                plan.mode.as_str(),
                want.kind
            )))
        }
        Some(Mismatch::Definition | Mismatch::Ports) => {}
    }
    if want.kind == ResourceConfigurationType::Arn {
        return Err(conflict(format!(
            "resource configuration {id} points at {:?}, not {}; ARN definitions cannot be \
             updated: run the teardown first",
            current.resource_configuration_definition(),
            want.summary
        )));
    }
    client
        .update_resource_configuration()
        .resource_configuration_identifier(id)
        .resource_configuration_definition(want.definition.clone())
        .set_port_ranges(want.port_ranges.clone())
        .send()
        .await
        .aws("vpc-lattice:UpdateResourceConfiguration")?;
    tracing::info!(
        resource_configuration_id = id,
        definition = %want.summary,
        "updated the adopted resource configuration to the desired definition"
    );
    Ok(())
}

/// The tags the failover reads (mode, primary, standby) as the plan has them, which after a
/// takeover is what the failover recorded: set where they differ, the standby's removed when the
/// input names none any more.
async fn converge_identity(
    client: &Client,
    plan: &Plan,
    arn: &str,
    before: &std::collections::HashMap<String, String>,
) -> Result<(), StepError> {
    let (set, remove) = identity_diff(plan, before);
    if !set.is_empty() {
        client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(set.clone().into_iter().collect()))
            .send()
            .await
            .aws("vpc-lattice:TagResource")?;
    }
    if !remove.is_empty() {
        client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(remove.clone()))
            .send()
            .await
            .aws("vpc-lattice:UntagResource")?;
    }
    if !set.is_empty() || !remove.is_empty() {
        tracing::info!(arn, ?set, ?remove, "identity tags converged");
    }
    Ok(())
}

/// (tags to set, keys to remove) for the identity tags (pure).
fn identity_diff(
    plan: &Plan,
    before: &std::collections::HashMap<String, String>,
) -> (Vec<(String, String)>, Vec<String>) {
    let set: Vec<(String, String)> = identity_tags(plan)
        .into_iter()
        .filter(|(k, v)| before.get(k) != Some(v))
        .collect();
    let remove = if plan.standby.is_none() {
        [shared::tags::STANDBY_KIND, shared::tags::STANDBY_IDENTIFIER]
            .into_iter()
            .filter(|k| before.contains_key(*k))
            .map(String::from)
            .collect()
    } else {
        vec![]
    };
    (set, remove)
}

/// How the configuration `current` differs from what `plan` asks for with the database `db`
/// (its endpoint and ARN, as the database step's poll has them): `None` when it matches. The
/// same desired state the step converges to (`doctor` reports it).
pub async fn drift(
    plan: &Plan,
    db: &PollOut,
    current: &GetResourceConfigurationOutput,
) -> Result<Option<String>, StepError> {
    let want = desired(plan, db).await?;
    Ok(mismatch(&want, current).map(|m| match m {
        Mismatch::Type => format!(
            "is of type {:?}, mode `{}` needs {:?}",
            current.r#type(),
            plan.mode.as_str(),
            want.kind
        ),
        Mismatch::Definition => format!(
            "points at {}",
            current
                .resource_configuration_definition()
                .map(summary)
                .unwrap_or_else(|| "nothing".into())
        ),
        Mismatch::Ports => format!(
            "serves ports {:?}, the deployment's port is {}",
            current.port_ranges(),
            plan.port
        ),
    }))
}

/// How a configuration differs from the desired one, first difference first (pure): the step
/// converges on it, `doctor` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mismatch {
    /// Another type: never updatable.
    Type,
    Definition,
    Ports,
}

fn mismatch(want: &Desired, current: &GetResourceConfigurationOutput) -> Option<Mismatch> {
    if current.r#type() != Some(&want.kind) {
        return Some(Mismatch::Type);
    }
    let same = current
        .resource_configuration_definition()
        .is_some_and(|d| same_definition(d, &want.definition));
    if !same {
        return Some(Mismatch::Definition);
    }
    match &want.port_ranges {
        Some(p) if current.port_ranges() != p.as_slice() => Some(Mismatch::Ports),
        _ => None,
    }
}

/// A definition in one line (`dns:host`, `ip:addr`, `arn:…`).
fn summary(d: &ResourceConfigurationDefinition) -> String {
    use ResourceConfigurationDefinition as D;
    match d {
        D::DnsResource(x) => format!("dns:{}", x.domain_name().unwrap_or("?")),
        D::IpResource(x) => format!("ip:{}", x.ip_address().unwrap_or("?")),
        D::ArnResource(x) => format!("arn:{}", x.arn().unwrap_or("?")),
        _ => "an unknown definition".into(),
    }
}

fn same_definition(
    a: &ResourceConfigurationDefinition,
    b: &ResourceConfigurationDefinition,
) -> bool {
    use ResourceConfigurationDefinition as D;
    // DNS names compare case-insensitively, with or without the root dot.
    let host = |s: Option<&str>| s.map(|s| s.trim_end_matches('.').to_ascii_lowercase());
    match (a, b) {
        (D::DnsResource(x), D::DnsResource(y)) => {
            host(x.domain_name()) == host(y.domain_name())
                && x.ip_address_type() == y.ip_address_type()
        }
        (D::IpResource(x), D::IpResource(y)) => x.ip_address() == y.ip_address(),
        (D::ArnResource(x), D::ArnResource(y)) => x.arn() == y.arn(),
        _ => false,
    }
}

/// Where this run's configuration comes from (pure).
#[derive(Debug, Clone, PartialEq)]
enum Choice {
    /// Ours already, of the type the mode needs: adopted and brought to the definition.
    Adopt(Box<ResourceConfigurationSummary>),
    /// None of the needed type: a new one under this name (the one not in use).
    Create(String),
    /// Both names in use by configurations of the other type, or on their way out.
    Busy(String),
}

fn choose(
    names: &[String],
    existing: &[ResourceConfigurationSummary],
    kind: &ResourceConfigurationType,
) -> Choice {
    let usable = |c: &&ResourceConfigurationSummary| {
        c.r#type() == Some(kind)
            && c.status() != Some(&ResourceConfigurationStatus::DeleteInProgress)
    };
    if let Some(c) = existing.iter().find(usable) {
        return Choice::Adopt(Box::new(c.clone()));
    }
    match names
        .iter()
        .find(|n| !existing.iter().any(|c| c.name() == Some(n.as_str())))
    {
        Some(free) => Choice::Create(free.clone()),
        None => Choice::Busy(format!(
            "the deployment's configurations {} are in use by another type or being deleted; \
             retry once the replacement under way has ended",
            names.join(" and ")
        )),
    }
}

/// The configurations on the gateway with one of `names`, in the order of `names` (no name
/// filter in the API: page through).
pub async fn find(
    client: &Client,
    gateway_id: &str,
    names: &[String],
) -> Result<Vec<ResourceConfigurationSummary>, StepError> {
    let items = client
        .list_resource_configurations()
        .resource_gateway_identifier(gateway_id)
        .into_paginator()
        .items()
        .send();
    let mut found: Vec<_> = shared::pages::all(items, "vpc-lattice:ListResourceConfigurations")
        .await?
        .into_iter()
        .filter(|c| c.name().is_some_and(|n| names.iter().any(|m| m == n)))
        .collect();
    found.sort_by_key(|c| names.iter().position(|n| c.name() == Some(n.as_str())));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_vpclattice::operation::create_resource_configuration::{
        CreateResourceConfigurationInput, CreateResourceConfigurationOutput,
    };
    use aws_sdk_vpclattice::operation::list_resource_configurations::ListResourceConfigurationsOutput;
    use aws_sdk_vpclattice::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_vpclattice::operation::tag_resource::TagResourceOutput;
    use aws_sdk_vpclattice::operation::update_resource_configuration::UpdateResourceConfigurationOutput;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use shared::testing;

    /// The step as the state machine runs it: its typed input read from the execution state.
    async fn handle(
        client: &Client,
        state: testing::State,
    ) -> Result<shared::plan::IdArn, StepError> {
        super::handle(client, testing::typed(&state)).await
    }

    const ID: &str = "rcfg-0123456789abcdefg";
    const ARN: &str =
        "arn:aws:vpc-lattice:us-east-1:123456789012:resourceconfiguration/rcfg-0123456789abcdefg";
    const GW: &str = "rgw-0123456789abcdefg";
    const ENDPOINT: &str = "orders-db.c9akciq32xyz.us-east-1.rds.amazonaws.com";
    const DB_ARN: &str = "arn:aws:rds:us-east-1:123456789012:db:orders-db";

    fn ctx_with_mode(mode: Mode) -> testing::State {
        let mut ctx = testing::ctx_full();
        ctx.plan.as_mut().unwrap().mode = mode;
        ctx
    }

    fn empty_list() -> Rule {
        mock!(Client::list_resource_configurations)
            .match_requests(|r| r.resource_gateway_identifier() == Some(GW))
            .then_output(|| ListResourceConfigurationsOutput::builder().build())
    }

    fn listed() -> Rule {
        listed_as(ResourceConfigurationType::Single)
    }

    fn listed_as(kind: ResourceConfigurationType) -> Rule {
        mock!(Client::list_resource_configurations).then_output(move || {
            ListResourceConfigurationsOutput::builder()
                .items(
                    ResourceConfigurationSummary::builder()
                        .id(ID)
                        .arn(ARN)
                        .name("orders-rcfg")
                        .r#type(kind.clone())
                        .resource_gateway_id(GW)
                        .build(),
                )
                .build()
        })
    }

    fn owned_by(deployment: &'static str) -> Rule {
        mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_arn() == Some(ARN))
            .then_output(move || {
                // What our create put there: our tags and the identity the plan records.
                let mut t = testing::created_tags(deployment, COMPONENT);
                t.extend(identity_tags(&testing::plan()));
                ListTagsForResourceOutput::builder()
                    .set_tags(Some(t))
                    .build()
            })
    }

    fn created() -> CreateResourceConfigurationOutput {
        CreateResourceConfigurationOutput::builder()
            .id(ID)
            .arn(ARN)
            .status(ResourceConfigurationStatus::CreateInProgress)
            .build()
    }

    fn dns(domain: &str) -> ResourceConfigurationDefinition {
        ResourceConfigurationDefinition::DnsResource(
            DnsResource::builder()
                .domain_name(domain)
                .ip_address_type(ResourceConfigurationIpAddressType::Ipv4)
                .build(),
        )
    }

    fn current(
        kind: ResourceConfigurationType,
        def: ResourceConfigurationDefinition,
        ports: &[&str],
    ) -> GetResourceConfigurationOutput {
        GetResourceConfigurationOutput::builder()
            .id(ID)
            .arn(ARN)
            .name("orders-rcfg")
            .r#type(kind)
            .resource_configuration_definition(def)
            .set_port_ranges(Some(ports.iter().map(|p| p.to_string()).collect()))
            .status(ResourceConfigurationStatus::Active)
            .build()
    }

    fn tag(r: &CreateResourceConfigurationInput, k: &str) -> Option<String> {
        r.tags().and_then(|t| t.get(k).cloned())
    }

    fn has_identity_tags(r: &CreateResourceConfigurationInput, mode: &str) -> bool {
        tag(r, shared::tags::MODE).as_deref() == Some(mode)
            && tag(r, shared::tags::DB_KIND).as_deref() == Some("instance")
            && tag(r, shared::tags::DB_IDENTIFIER).as_deref() == Some("orders-db")
            && tag(r, shared::tags::DEPLOYMENT).as_deref() == Some("orders")
            && tag(r, shared::tags::COMPONENT).as_deref() == Some(COMPONENT)
            && tag(r, "team").as_deref() == Some("payments")
    }

    #[tokio::test]
    async fn dns_mode_creates_a_single_dns_resource_on_the_endpoint() {
        let list = empty_list();
        let create = mock!(Client::create_resource_configuration)
            .match_requests(|r| {
                r.name() == Some("orders-rcfg")
                    && r.r#type() == Some(&ResourceConfigurationType::Single)
                    && r.resource_gateway_identifier() == Some(GW)
                    && r.resource_configuration_definition().is_some_and(|d| {
                        d.as_dns_resource().is_ok_and(|d| {
                            d.domain_name() == Some(ENDPOINT)
                                && d.ip_address_type()
                                    == Some(&ResourceConfigurationIpAddressType::Ipv4)
                        })
                    })
                    && r.port_ranges() == ["3306"]
                    && r.protocol() == Some(&ProtocolType::Tcp)
                    && has_identity_tags(r, "dns")
                    && r.client_token().is_some_and(|t| {
                        t.starts_with("orders-resource-configuration-") && t.len() <= 64
                    })
            })
            .then_output(created);
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &create]);
        let out = handle(&client, ctx_with_mode(Mode::Dns)).await.unwrap();
        assert_eq!((out.id.as_str(), out.arn.as_str()), (ID, ARN));
        assert_eq!(create.num_calls(), 1);
        assert_eq!(list.num_calls(), 1);
    }

    #[tokio::test]
    async fn arn_mode_uses_the_db_arn_without_ports_or_protocol() {
        let list = empty_list();
        let create = mock!(Client::create_resource_configuration)
            .match_requests(|r| {
                r.r#type() == Some(&ResourceConfigurationType::Arn)
                    && r.resource_gateway_identifier() == Some(GW)
                    && r.resource_configuration_definition()
                        .is_some_and(|d| d.as_arn_resource().is_ok_and(|a| a.arn() == Some(DB_ARN)))
                    && r.port_ranges().is_empty()
                    && r.protocol().is_none()
                    && has_identity_tags(r, "arn")
            })
            .then_output(created);
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &create]);
        handle(&client, ctx_with_mode(Mode::Arn)).await.unwrap();
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn ip_mode_uses_the_given_address() {
        let mut ctx = ctx_with_mode(Mode::Ip);
        ctx.plan.as_mut().unwrap().ip_address = Some("10.0.1.25".into());
        let list = empty_list();
        let create = mock!(Client::create_resource_configuration)
            .match_requests(|r| {
                r.r#type() == Some(&ResourceConfigurationType::Single)
                    && r.resource_configuration_definition().is_some_and(|d| {
                        d.as_ip_resource()
                            .is_ok_and(|i| i.ip_address() == Some("10.0.1.25"))
                    })
                    && r.port_ranges() == ["3306"]
                    && r.protocol() == Some(&ProtocolType::Tcp)
                    && has_identity_tags(r, "ip")
            })
            .then_output(created);
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &create]);
        handle(&client, ctx).await.unwrap();
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn ip_mode_without_an_address_resolves_the_endpoint_into_the_vpc() {
        // A literal address resolves without DNS, so this exercises the lookup path offline.
        let mut ctx = ctx_with_mode(Mode::Ip);
        ctx.database_poll.as_mut().unwrap().endpoint = Some("10.0.3.7".into());
        let list = empty_list();
        let create = mock!(Client::create_resource_configuration)
            .match_requests(|r| {
                r.resource_configuration_definition().is_some_and(|d| {
                    d.as_ip_resource()
                        .is_ok_and(|i| i.ip_address() == Some("10.0.3.7"))
                })
            })
            .then_output(created);
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &create]);
        handle(&client, ctx).await.unwrap();
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn ip_mode_refuses_an_endpoint_outside_the_vpc() {
        let mut ctx = ctx_with_mode(Mode::Ip);
        ctx.database_poll.as_mut().unwrap().endpoint = Some("192.168.4.4".into());
        let list = empty_list();
        let create = mock!(Client::create_resource_configuration).then_output(created);
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &create]);
        let e = handle(&client, ctx).await.unwrap_err();
        assert!(
            matches!(&e, StepError::InvalidInput { field, message } if field == "ipAddress" && message.contains("give ipAddress")),
            "{e:?}"
        );
        assert_eq!(create.num_calls(), 0);
    }

    #[test]
    fn address_selection_keeps_the_first_in_vpc_ipv4() {
        let cidrs = vec!["10.0.0.0/16".to_string(), "10.2.0.0/16".to_string()];
        let ips: Vec<IpAddr> = ["fd00::5", "203.0.113.5", "10.2.9.9", "10.0.2.9"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(
            select_vpc_ipv4(&ips, &cidrs),
            Some("10.2.9.9".parse().unwrap())
        );
        let outside: Vec<IpAddr> = ["203.0.113.5", "10.1.0.1", "::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(select_vpc_ipv4(&outside, &cidrs), None);
        assert_eq!(select_vpc_ipv4(&[], &cidrs), None);
    }

    #[tokio::test]
    async fn a_missing_endpoint_is_an_internal_error() {
        let mut ctx = ctx_with_mode(Mode::Dns);
        ctx.database_poll.as_mut().unwrap().endpoint = None;
        let list = empty_list();
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list]);
        let e = handle(&client, ctx).await.unwrap_err();
        assert_eq!(e.name(), "Internal");
        assert!(e.to_string().contains("databasePoll.endpoint"), "{e}");
        assert_eq!(list.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_retry_adopts_the_unchanged_configuration_without_create_or_update() {
        let list = listed();
        let tags = owned_by("orders");
        let get = mock!(Client::get_resource_configuration)
            .match_requests(|r| r.resource_configuration_identifier() == Some(ID))
            .then_output(|| {
                current(
                    ResourceConfigurationType::Single,
                    dns(&ENDPOINT.to_uppercase()),
                    &["3306"],
                )
            });
        let create = mock!(Client::create_resource_configuration).then_output(created);
        let update = mock!(Client::update_resource_configuration)
            .then_output(|| UpdateResourceConfigurationOutput::builder().build());
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list, &tags, &get, &create, &update]
        );
        let out = handle(&client, ctx_with_mode(Mode::Dns)).await.unwrap();
        assert_eq!(out.id, ID);
        assert_eq!(get.num_calls(), 1);
        assert_eq!(create.num_calls(), 0);
        assert_eq!(update.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_adopted_dns_configuration_with_a_stale_endpoint_is_updated() {
        let list = listed();
        // It was in ip mode (tags say so): back to dns, the mode tag follows.
        let tags = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_arn() == Some(ARN))
            .then_output(|| {
                let mut t = testing::created_tags("orders", COMPONENT);
                t.extend(identity_tags(&testing::plan()));
                t.insert(shared::tags::MODE.into(), "ip".into());
                ListTagsForResourceOutput::builder()
                    .set_tags(Some(t))
                    .build()
            });
        let get = mock!(Client::get_resource_configuration).then_output(|| {
            current(
                ResourceConfigurationType::Single,
                dns("old-db.c9akciq32xyz.us-east-1.rds.amazonaws.com"),
                &["3306"],
            )
        });
        let update = mock!(Client::update_resource_configuration)
            .match_requests(|r| {
                r.resource_configuration_identifier() == Some(ID)
                    && r.resource_configuration_definition() == Some(&dns(ENDPOINT))
                    && r.port_ranges() == ["3306"]
            })
            .then_output(|| UpdateResourceConfigurationOutput::builder().build());
        let retag = mock!(Client::tag_resource)
            .match_requests(|r| {
                r.resource_arn() == Some(ARN)
                    && r.tags().is_some_and(|t| {
                        t.get(shared::tags::MODE).map(String::as_str) == Some("dns")
                    })
            })
            .then_output(|| TagResourceOutput::builder().build());
        let create = mock!(Client::create_resource_configuration).then_output(created);
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list, &tags, &get, &update, &retag, &create]
        );
        handle(&client, ctx_with_mode(Mode::Dns)).await.unwrap();
        assert_eq!(update.num_calls(), 1);
        assert_eq!(retag.num_calls(), 1);
        assert_eq!(create.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_adopted_arn_configuration_on_another_database_is_a_conflict() {
        let list = listed_as(ResourceConfigurationType::Arn);
        let tags = owned_by("orders");
        let get = mock!(Client::get_resource_configuration).then_output(|| {
            current(
                ResourceConfigurationType::Arn,
                ResourceConfigurationDefinition::ArnResource(
                    ArnResource::builder()
                        .arn("arn:aws:rds:us-east-1:123456789012:db:other-db")
                        .build(),
                ),
                &[],
            )
        });
        let update = mock!(Client::update_resource_configuration)
            .then_output(|| UpdateResourceConfigurationOutput::builder().build());
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list, &tags, &get, &update]
        );
        let e = handle(&client, ctx_with_mode(Mode::Arn)).await.unwrap_err();
        assert_eq!(e.name(), "Resource.Conflict");
        assert!(e.to_string().contains("cannot be updated"), "{e}");
        assert_eq!(update.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_type_change_creates_the_replacement_beside_the_old_configuration() {
        // dns (SINGLE) -> arn: the type cannot be updated; the old one stays until the prune.
        let list = listed();
        let tags = owned_by("orders");
        let get = mock!(Client::get_resource_configuration)
            .then_output(|| current(ResourceConfigurationType::Single, dns(ENDPOINT), &["3306"]));
        let update = mock!(Client::update_resource_configuration)
            .then_output(|| UpdateResourceConfigurationOutput::builder().build());
        let create = mock!(Client::create_resource_configuration)
            .match_requests(|r| {
                r.name() == Some("orders-rcfg-2")
                    && r.r#type() == Some(&ResourceConfigurationType::Arn)
                    && has_identity_tags(r, "arn")
            })
            .then_output(created);
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list, &tags, &get, &update, &create]
        );
        handle(&client, ctx_with_mode(Mode::Arn)).await.unwrap();
        assert_eq!(
            (create.num_calls(), update.num_calls(), get.num_calls()),
            (1, 0, 0)
        );
    }

    #[tokio::test]
    async fn a_same_named_configuration_of_another_deployment_is_refused() {
        let list = listed();
        let tags = owned_by("someone-else");
        let create = mock!(Client::create_resource_configuration).then_output(created);
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list, &tags, &create]
        );
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
        assert_eq!(create.num_calls(), 0);
    }

    #[tokio::test]
    async fn losing_a_create_race_adopts_the_winner() {
        let lists = mock!(Client::list_resource_configurations)
            .sequence()
            .output(|| ListResourceConfigurationsOutput::builder().build())
            .output(|| {
                ListResourceConfigurationsOutput::builder()
                    .items(
                        ResourceConfigurationSummary::builder()
                            .id(ID)
                            .arn(ARN)
                            .name("orders-rcfg")
                            .build(),
                    )
                    .build()
            })
            .build();
        let create = mock!(Client::create_resource_configuration)
            .then_http_response(|| testing::lattice_error(409, "ConflictException", "name exists"));
        let tags = owned_by("orders");
        let get = mock!(Client::get_resource_configuration)
            .then_output(|| current(ResourceConfigurationType::Single, dns(ENDPOINT), &["3306"]));
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&lists, &create, &tags, &get]
        );
        assert_eq!(handle(&client, testing::ctx_full()).await.unwrap().id, ID);
        assert_eq!(lists.num_calls(), 2);
    }

    #[tokio::test]
    async fn aws_errors_keep_their_stable_names() {
        let list = empty_list();
        let create = mock!(Client::create_resource_configuration).then_http_response(|| {
            testing::lattice_error(402, "ServiceQuotaExceededException", "too many")
        });
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &create]);
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Aws.QuotaExceeded");
        assert!(e.to_string().contains("CreateResourceConfiguration"), "{e}");
    }

    #[tokio::test]
    async fn pages_through_the_gateway_configurations() {
        let lists = mock!(Client::list_resource_configurations)
            .sequence()
            .output(|| {
                ListResourceConfigurationsOutput::builder()
                    .next_token("p2")
                    .build()
            })
            .output(|| {
                ListResourceConfigurationsOutput::builder()
                    .items(
                        ResourceConfigurationSummary::builder()
                            .id(ID)
                            .name("orders-rcfg")
                            .build(),
                    )
                    .build()
            })
            .build();
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&lists]);
        let names = testing::plan().names.resource_configuration_names();
        assert_eq!(find(&client, GW, &names).await.unwrap().len(), 1);
        assert_eq!(lists.num_calls(), 2);
    }

    fn summary(name: &str, kind: ResourceConfigurationType) -> ResourceConfigurationSummary {
        ResourceConfigurationSummary::builder()
            .id(format!("rcfg-{name}"))
            .name(name)
            .r#type(kind)
            .status(ResourceConfigurationStatus::Active)
            .build()
    }

    #[test]
    fn a_type_change_creates_the_replacement_under_the_free_name() {
        use ResourceConfigurationType::{Arn, Single};
        let names = testing::plan().names.resource_configuration_names();
        assert_eq!(names, ["orders-rcfg", "orders-rcfg-2"]);
        // First run: the first name.
        assert_eq!(
            choose(&names, &[], &Single),
            Choice::Create("orders-rcfg".into())
        );
        // Same type: adopted (and updated in place: dns <-> ip, ports).
        let single = summary("orders-rcfg", Single);
        assert_eq!(
            choose(&names, std::slice::from_ref(&single), &Single),
            Choice::Adopt(Box::new(single.clone()))
        );
        // ip -> arn: the type cannot be updated, so a new one beside it...
        assert_eq!(
            choose(&names, std::slice::from_ref(&single), &Arn),
            Choice::Create("orders-rcfg-2".into())
        );
        // ... and back (arn -> dns) after the prune removed the first: the first name again.
        let arn = summary("orders-rcfg-2", Arn);
        assert_eq!(
            choose(&names, std::slice::from_ref(&arn), &Single),
            Choice::Create("orders-rcfg".into())
        );
        // A re-run while both exist (the prune has not run): the one of the wanted type.
        assert_eq!(
            choose(&names, &[single.clone(), arn.clone()], &Arn),
            Choice::Adopt(Box::new(arn))
        );
        // One on its way out is neither adopted nor its name reused.
        let going = ResourceConfigurationSummary::builder()
            .id("rcfg-going")
            .name("orders-rcfg-2")
            .r#type(Arn)
            .status(ResourceConfigurationStatus::DeleteInProgress)
            .build();
        assert!(matches!(
            choose(&names, &[single, going], &Arn),
            Choice::Busy(m) if m.contains("orders-rcfg and orders-rcfg-2")
        ));
    }

    #[test]
    fn identity_tags_follow_the_plan_and_a_dropped_standby_is_untagged() {
        let mut plan = testing::plan();
        plan.standby = Some(shared::plan::DbRef {
            kind: shared::plan::DbKind::Instance,
            identifier: "orders-replica".into(),
        });
        let before: std::collections::HashMap<String, String> =
            identity_tags(&plan).into_iter().collect();
        assert_eq!(identity_diff(&plan, &before), (vec![], vec![]));
        // The input drops the standby: its two tags go, nothing is set.
        plan.standby = None;
        let (set, remove) = identity_diff(&plan, &before);
        assert!(set.is_empty(), "{set:?}");
        assert_eq!(
            remove,
            [shared::tags::STANDBY_KIND, shared::tags::STANDBY_IDENTIFIER]
        );
        // Another standby: its identifier is set.
        plan.standby = Some(shared::plan::DbRef {
            kind: shared::plan::DbKind::Instance,
            identifier: "orders-replica-2".into(),
        });
        let (set, remove) = identity_diff(&plan, &before);
        assert_eq!(
            set,
            [(
                shared::tags::STANDBY_IDENTIFIER.to_string(),
                "orders-replica-2".to_string()
            )]
        );
        assert!(remove.is_empty());
    }
}
