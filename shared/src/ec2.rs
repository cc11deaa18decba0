//! EC2 security-group helpers shared by the steps that create groups: find or
//! create by (VPC, name), adopt only what this deployment tagged, and treat
//! "rule already there" as success so retries converge.

use std::collections::BTreeMap;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, PrefixListId, ResourceType, Tag, TagSpecification,
    UserIdGroupPair,
};
use aws_sdk_ec2::Client;

use crate::error::{error_code, SdkResultExt, StepError};
use crate::tags;

pub fn tag_spec(
    resource_type: ResourceType,
    t: &BTreeMap<String, String>,
    name: &str,
) -> TagSpecification {
    let mut b = TagSpecification::builder()
        .resource_type(resource_type)
        .tags(Tag::builder().key("Name").value(name).build());
    for (k, v) in t {
        b = b.tags(Tag::builder().key(k).value(v).build());
    }
    b.build()
}

/// The group `group_name` in `vpc_id`, created if absent ([`crate::reconcile::ensure`], counted
/// for `component`); an existing one of ours gets its user tags brought to `tag_set`
/// ([`tags::tag_diff`]). A group of that name that this deployment did not create is an error.
pub async fn ensure_security_group(
    client: &Client,
    vpc_id: &str,
    group_name: &str,
    description: &str,
    tag_set: &BTreeMap<String, String>,
    (deployment, component): (&str, &str),
) -> Result<String, StepError> {
    crate::reconcile::ensure(
        component,
        find_group(client, vpc_id, group_name, deployment).await?,
        async || find_group(client, vpc_id, group_name, deployment).await,
        async |g: aws_sdk_ec2::types::SecurityGroup| {
            let id = g.group_id().unwrap_or_default().to_string();
            tracing::info!(group_id = %id, group_name, "adopted existing security group");
            converge_tags(client, &g, tag_set).await?;
            Ok(id)
        },
        async || {
            let out = client
                .create_security_group()
                .group_name(group_name)
                .description(description)
                .vpc_id(vpc_id)
                .tag_specifications(tag_spec(ResourceType::SecurityGroup, tag_set, group_name))
                .send()
                .await
                .aws("ec2:CreateSecurityGroup")?;
            let id = out
                .group_id()
                .ok_or_else(|| StepError::internal("ec2:CreateSecurityGroup returned no GroupId"))?
                .to_string();
            tracing::info!(group_id = %id, group_name, "created security group");
            Ok(id)
        },
    )
    .await
}

/// Bring the user tags of our group `g` to `desired` (CreateTags sets, DeleteTags removes).
async fn converge_tags(
    client: &Client,
    g: &aws_sdk_ec2::types::SecurityGroup,
    desired: &BTreeMap<String, String>,
) -> Result<(), StepError> {
    let id = g.group_id().unwrap_or_default();
    let diff = tags::tag_diff(
        g.tags()
            .iter()
            .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
        desired,
    );
    if !diff.set.is_empty() {
        client
            .create_tags()
            .resources(id)
            .set_tags(Some(
                diff.set
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .aws("ec2:CreateTags")?;
    }
    if !diff.remove.is_empty() {
        client
            .delete_tags()
            .resources(id)
            .set_tags(Some(
                diff.remove
                    .iter()
                    .map(|k| Tag::builder().key(k).build())
                    .collect(),
            ))
            .send()
            .await
            .aws("ec2:DeleteTags")?;
    }
    diff.log(id);
    Ok(())
}

/// Find `group_name` in `vpc_id`; `Ok(None)` if absent, `NameTaken` if not ours.
pub async fn find_security_group(
    client: &Client,
    vpc_id: &str,
    group_name: &str,
    deployment: &str,
) -> Result<Option<String>, StepError> {
    Ok(find_group(client, vpc_id, group_name, deployment)
        .await?
        .and_then(|g| g.group_id().map(str::to_string)))
}

async fn find_group(
    client: &Client,
    vpc_id: &str,
    group_name: &str,
    deployment: &str,
) -> Result<Option<aws_sdk_ec2::types::SecurityGroup>, StepError> {
    let out = client
        .describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .filters(
            Filter::builder()
                .name("group-name")
                .values(group_name)
                .build(),
        )
        .send()
        .await
        .aws("ec2:DescribeSecurityGroups")?;
    let Some(g) = out.security_groups().first() else {
        return Ok(None);
    };
    let ours = tags::is_ours(
        g.tags()
            .iter()
            .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
        deployment,
    );
    if !ours {
        return Err(StepError::NameTaken(format!(
            "security group `{group_name}` in {vpc_id} exists but was not created by deployment `{deployment}`; \
             delete it or choose another deployment name"
        )));
    }
    Ok(Some(g.clone()))
}

/// TCP `port` from/to another security group.
pub fn tcp_group(port: u16, group_id: &str, description: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(port))
        .to_port(i32::from(port))
        .user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(group_id)
                .description(description)
                .build(),
        )
        .build()
}

/// TCP `port` from/to an IPv4 CIDR.
pub fn tcp_cidr(port: u16, cidr: &str, description: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(port))
        .to_port(i32::from(port))
        .ip_ranges(
            IpRange::builder()
                .cidr_ip(cidr)
                .description(description)
                .build(),
        )
        .build()
}

/// TCP `port` to a managed prefix list.
pub fn tcp_prefix_list(port: u16, prefix_list_id: &str, description: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(port))
        .to_port(i32::from(port))
        .prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(prefix_list_id)
                .description(description)
                .build(),
        )
        .build()
}

/// Add an ingress rule; a rule that is already there counts as added.
/// (One function per direction: each calls one EC2 action, so each caller's IAM policy grants only
/// the direction it uses; tests/test_security.py reads the calls.)
pub async fn ensure_ingress(
    client: &Client,
    group_id: &str,
    permission: IpPermission,
) -> Result<(), StepError> {
    let sent = client
        .authorize_security_group_ingress()
        .group_id(group_id)
        .ip_permissions(permission)
        .send()
        .await;
    rule_added(group_id, "ec2:AuthorizeSecurityGroupIngress", sent)
}

/// Add an egress rule; a rule that is already there counts as added.
pub async fn ensure_egress(
    client: &Client,
    group_id: &str,
    permission: IpPermission,
) -> Result<(), StepError> {
    let sent = client
        .authorize_security_group_egress()
        .group_id(group_id)
        .ip_permissions(permission)
        .send()
        .await;
    rule_added(group_id, "ec2:AuthorizeSecurityGroupEgress", sent)
}

fn rule_added<T, E, R>(
    group_id: &str,
    op: &str,
    sent: Result<T, SdkError<E, R>>,
) -> Result<(), StepError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    rule_settled(group_id, op, sent, "InvalidPermission.Duplicate")
}

/// A revoke whose rule is already gone counts as done.
fn rule_gone<T, E, R>(
    group_id: &str,
    op: &str,
    sent: Result<T, SdkError<E, R>>,
) -> Result<(), StepError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    rule_settled(group_id, op, sent, "InvalidPermission.NotFound")
}

/// `sent`, with the error code that means "already so" counted as success.
fn rule_settled<T, E, R>(
    group_id: &str,
    op: &str,
    sent: Result<T, SdkError<E, R>>,
    already: &str,
) -> Result<(), StepError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match sent {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some(already) => {
            tracing::debug!(group_id, op, already, "rule already as wanted");
            Ok(())
        }
        Err(e) => Err(StepError::from_sdk(op, &e)),
    }
}

/// The identity of one rule as EC2 matches it: protocol, ports and one peer
/// (descriptions aside).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleKey {
    pub protocol: String,
    pub from: Option<i32>,
    pub to: Option<i32>,
    /// `sg-…`, an IPv4/IPv6 CIDR, or `pl-…`.
    pub peer: String,
}

impl RuleKey {
    /// `tcp 3306`, `tcp 1024-2048`, `all all`: how people read the protocol and ports.
    pub fn protocol_and_ports(&self) -> String {
        let ports = match (self.from, self.to) {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(a), Some(b)) => format!("{a}-{b}"),
            _ => "all".into(),
        };
        let protocol = if self.protocol == "-1" {
            "all"
        } else {
            &self.protocol
        };
        format!("{protocol} {ports}")
    }
}

/// Each permission split into one permission per peer, with its key; each part is exactly as
/// described by EC2 (descriptions included), which is what a revoke must name.
pub fn single_rules(perms: &[IpPermission]) -> Vec<(RuleKey, IpPermission)> {
    let mut out = Vec::new();
    for p in perms {
        let key = |peer: &str| RuleKey {
            protocol: p.ip_protocol().unwrap_or_default().to_string(),
            from: p.from_port(),
            to: p.to_port(),
            peer: peer.to_string(),
        };
        let base = || {
            IpPermission::builder()
                .set_ip_protocol(p.ip_protocol().map(str::to_string))
                .set_from_port(p.from_port())
                .set_to_port(p.to_port())
        };
        for g in p.user_id_group_pairs() {
            if let Some(id) = g.group_id() {
                out.push((key(id), base().user_id_group_pairs(g.clone()).build()));
            }
        }
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                out.push((key(c), base().ip_ranges(r.clone()).build()));
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                out.push((key(c), base().ipv6_ranges(r.clone()).build()));
            }
        }
        for l in p.prefix_list_ids() {
            if let Some(id) = l.prefix_list_id() {
                out.push((key(id), base().prefix_list_ids(l.clone()).build()));
            }
        }
    }
    out
}

/// What makes a group's rules in one direction exactly `desired` (pure).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RuleDiff {
    /// Desired rules the group lacks.
    pub add: Vec<IpPermission>,
    /// Rules the group has that nothing desires, exactly as EC2 describes them.
    pub revoke: Vec<IpPermission>,
}

pub fn rule_diff(current: &[IpPermission], desired: &[IpPermission]) -> RuleDiff {
    let have = single_rules(current);
    let want = single_rules(desired);
    RuleDiff {
        add: want
            .iter()
            .filter(|(k, _)| !have.iter().any(|(h, _)| h == k))
            .map(|(_, p)| p.clone())
            .collect(),
        revoke: have
            .iter()
            .filter(|(k, _)| !want.iter().any(|(w, _)| w == k))
            .map(|(_, p)| p.clone())
            .collect(),
    }
}

/// `sg-1: revoked ingress tcp 3306 from 10.1.0.0/16`: one line per rule changed, for the
/// execution output.
fn describe_changes(group_id: &str, direction: &str, diff: &RuleDiff) -> Vec<String> {
    let (towards, mut out) = (
        if direction == "ingress" { "from" } else { "to" },
        Vec::new(),
    );
    for (verb, perms) in [("added", &diff.add), ("revoked", &diff.revoke)] {
        for (k, _) in single_rules(perms) {
            out.push(format!(
                "{group_id}: {verb} {direction} {} {towards} {}",
                k.protocol_and_ports(),
                k.peer
            ));
        }
    }
    if !out.is_empty() {
        tracing::info!(group_id, changes = ?out, "security group rules converged");
    }
    out
}

async fn describe_group(
    client: &Client,
    group_id: &str,
) -> Result<aws_sdk_ec2::types::SecurityGroup, StepError> {
    client
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .aws("ec2:DescribeSecurityGroups")?
        .security_groups()
        .first()
        .cloned()
        .ok_or_else(|| StepError::NotFound {
            operation: "ec2:DescribeSecurityGroups".into(),
            message: format!("security group {group_id} vanished"),
        })
}

/// Make the group's ingress exactly `desired`: missing rules are added first, then rules the
/// input no longer asks for are revoked (a group we own carries only what we put there).
pub async fn converge_ingress(
    client: &Client,
    group_id: &str,
    desired: Vec<IpPermission>,
) -> Result<Vec<String>, StepError> {
    let group = describe_group(client, group_id).await?;
    let diff = rule_diff(group.ip_permissions(), &desired);
    let revoke = |stale| async move {
        let sent = client
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(stale))
            .send()
            .await;
        rule_gone(group_id, "ec2:RevokeSecurityGroupIngress", sent)
    };
    apply_rules(
        group_id,
        "ingress",
        diff,
        |p| ensure_ingress(client, group_id, p),
        revoke,
    )
    .await
}

/// Make the group's egress exactly `desired` (EC2's default allow-all egress included: it goes).
/// (Apart from [`converge_ingress`] so that each caller's policy grants only its direction.)
pub async fn converge_egress(
    client: &Client,
    group_id: &str,
    desired: Vec<IpPermission>,
) -> Result<Vec<String>, StepError> {
    let group = describe_group(client, group_id).await?;
    let diff = rule_diff(group.ip_permissions_egress(), &desired);
    let revoke = |stale| async move {
        let sent = client
            .revoke_security_group_egress()
            .group_id(group_id)
            .set_ip_permissions(Some(stale))
            .send()
            .await;
        rule_gone(group_id, "ec2:RevokeSecurityGroupEgress", sent)
    };
    apply_rules(
        group_id,
        "egress",
        diff,
        |p| ensure_egress(client, group_id, p),
        revoke,
    )
    .await
}

/// Add what `diff` adds, then revoke what it revokes (one call); the changes, described.
async fn apply_rules<AF, RF>(
    group_id: &str,
    direction: &str,
    diff: RuleDiff,
    add: impl Fn(IpPermission) -> AF,
    revoke: impl FnOnce(Vec<IpPermission>) -> RF,
) -> Result<Vec<String>, StepError>
where
    AF: std::future::Future<Output = Result<(), StepError>>,
    RF: std::future::Future<Output = Result<(), StepError>>,
{
    for p in &diff.add {
        add(p.clone()).await?;
    }
    if !diff.revoke.is_empty() {
        revoke(diff.revoke.clone()).await?;
    }
    Ok(describe_changes(group_id, direction, &diff))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::authorize_security_group_ingress::AuthorizeSecurityGroupIngressOutput;
    use aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupOutput;
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::types::SecurityGroup;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn sg(id: &str, deployment: &str) -> SecurityGroup {
        SecurityGroup::builder()
            .group_id(id)
            .tags(
                Tag::builder()
                    .key(tags::DEPLOYMENT)
                    .value(deployment)
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn creates_when_absent_with_name_and_deployment_tags() {
        let none = mock!(Client::describe_security_groups)
            .then_output(|| DescribeSecurityGroupsOutput::builder().build());
        let create = mock!(Client::create_security_group)
            .match_requests(|r| {
                r.vpc_id() == Some("vpc-1")
                    && r.group_name() == Some("orders-database")
                    && r.tag_specifications()[0]
                        .tags()
                        .iter()
                        .any(|t| t.key() == Some(tags::DEPLOYMENT) && t.value() == Some("orders"))
            })
            .then_output(|| {
                CreateSecurityGroupOutput::builder()
                    .group_id("sg-new")
                    .build()
            });
        let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&none, &create]);
        let t = tags::resource_tags(&BTreeMap::new(), "orders", "database-network");
        let id = ensure_security_group(
            &client,
            "vpc-1",
            "orders-database",
            "d",
            &t,
            ("orders", "t"),
        )
        .await
        .unwrap();
        assert_eq!(id, "sg-new");
        assert_eq!(create.num_calls(), 1, "absent: created");
    }

    #[tokio::test]
    async fn adopts_ours_and_refuses_someone_elses() {
        let ours = mock!(Client::describe_security_groups).then_output(|| {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(sg("sg-old", "orders"))
                .build()
        });
        let create = mock!(Client::create_security_group)
            .then_output(|| CreateSecurityGroupOutput::builder().build());
        let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&ours, &create]);
        let t = BTreeMap::new();
        assert_eq!(
            ensure_security_group(&client, "vpc-1", "n", "d", &t, ("orders", "t"))
                .await
                .unwrap(),
            "sg-old"
        );
        assert_eq!(
            create.num_calls(),
            0,
            "an existing group of ours is adopted, not recreated"
        );
        let e = ensure_security_group(&client, "vpc-1", "n", "d", &t, ("billing", "t"))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
    }

    #[tokio::test]
    async fn duplicate_rule_is_success_other_errors_are_not() {
        let dup = mock!(Client::authorize_security_group_ingress).then_http_response(|| {
            crate::testing::ec2_error(400, "InvalidPermission.Duplicate", "dup")
        });
        let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&dup]);
        ensure_ingress(&client, "sg-1", tcp_group(3306, "sg-2", "x"))
            .await
            .unwrap();

        let denied = mock!(Client::authorize_security_group_ingress)
            .then_http_response(|| crate::testing::ec2_error(403, "UnauthorizedOperation", "no"));
        let ok = mock!(Client::authorize_security_group_ingress).then_output(|| {
            AuthorizeSecurityGroupIngressOutput::builder()
                .r#return(true)
                .build()
        });
        let client = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&denied, &ok]);
        let e = ensure_ingress(&client, "sg-1", tcp_group(3306, "sg-2", "x"))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Aws.AccessDenied");
    }

    #[test]
    fn the_diff_adds_what_is_missing_and_revokes_what_nothing_asks_for() {
        // As EC2 describes a group: several peers in one permission, with descriptions.
        let current = vec![
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(3306)
                .to_port(3306)
                .user_id_group_pairs(
                    UserIdGroupPair::builder()
                        .group_id("sg-client")
                        .description("database clients")
                        .build(),
                )
                .user_id_group_pairs(
                    UserIdGroupPair::builder()
                        .group_id("sg-old")
                        .description("allowed by input")
                        .build(),
                )
                .build(),
            tcp_cidr(3306, "10.1.0.0/16", "allowed by input"),
        ];
        let desired = vec![
            tcp_group(3306, "sg-client", "other words do not matter"),
            tcp_cidr(3306, "10.1.0.0/16", "x"),
            tcp_cidr(3306, "10.2.0.0/16", "allowed by input"),
        ];
        let d = rule_diff(&current, &desired);
        assert_eq!(d.add.len(), 1);
        assert_eq!(d.add[0].ip_ranges()[0].cidr_ip(), Some("10.2.0.0/16"));
        assert_eq!(d.revoke.len(), 1);
        let r = &d.revoke[0];
        assert_eq!(r.user_id_group_pairs().len(), 1);
        assert_eq!(r.user_id_group_pairs()[0].group_id(), Some("sg-old"));
        // Revoked exactly as described: the description is part of the rule moto matches.
        assert_eq!(
            r.user_id_group_pairs()[0].description(),
            Some("allowed by input")
        );
        assert_eq!(
            describe_changes("sg-a", "ingress", &d),
            vec![
                "sg-a: added ingress tcp 3306 from 10.2.0.0/16",
                "sg-a: revoked ingress tcp 3306 from sg-old"
            ]
        );
        assert_eq!(rule_diff(&current, &current), RuleDiff::default());
    }

    #[test]
    fn a_port_change_replaces_the_rule_and_the_default_egress_goes() {
        let default_egress = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let current = vec![default_egress, tcp_prefix_list(3306, "pl-1", "lattice")];
        let d = rule_diff(&current, &[tcp_prefix_list(3307, "pl-1", "lattice")]);
        assert_eq!(d.add.len(), 1);
        assert_eq!(d.add[0].from_port(), Some(3307));
        let revoked: Vec<_> = d
            .revoke
            .iter()
            .map(|p| (p.ip_protocol().unwrap(), p.from_port()))
            .collect();
        assert_eq!(revoked, vec![("-1", None), ("tcp", Some(3306))]);
        assert_eq!(
            describe_changes("sg-c", "egress", &d),
            vec![
                "sg-c: added egress tcp 3307 to pl-1",
                "sg-c: revoked egress all all to 0.0.0.0/0",
                "sg-c: revoked egress tcp 3306 to pl-1"
            ]
        );
    }

    #[test]
    fn permissions_carry_port_and_source() {
        let p = tcp_group(5432, "sg-gw", "from gateway");
        assert_eq!(
            (p.from_port(), p.to_port(), p.ip_protocol()),
            (Some(5432), Some(5432), Some("tcp"))
        );
        assert_eq!(p.user_id_group_pairs()[0].group_id(), Some("sg-gw"));
        let p = tcp_prefix_list(3306, "pl-1", "lattice");
        assert_eq!(p.prefix_list_ids()[0].prefix_list_id(), Some("pl-1"));
    }
}
