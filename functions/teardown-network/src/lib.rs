//! Teardown of a deployment's security groups: the gateway and database groups
//! (database VPC), and the client and association groups (each client VPC).
//! They are found by name AND deployment tag, in any VPC. Groups that
//! reference each other cannot be deleted, so every rule of ours that
//! references another of our groups is revoked first; then each group is
//! deleted. A group still held by network interfaces (the resource gateway's,
//! the database's, the VPC association's, or applications that attached the
//! client group) is `DependencyViolation`: the next call tries again.
//! With `keepDatabase` the database group stays (the kept database uses it).
//! With `onlyExecution` only the groups that execution created are deleted;
//! the deployment's other groups stay, but lose their rules that reference a
//! group being deleted (rules that execution added: they would block it).

pub use shared::teardown::{Previous, TeardownInput, TeardownOut};

use aws_sdk_ec2::types::{Filter, IpPermission, SecurityGroup};
use aws_sdk_ec2::Client;
use shared::error::error_code;
use shared::poll::Policy;
use shared::tags::{Owner, Ownership};
use shared::teardown::{settle, Outcome, Progress};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "teardown-network";

/// How many interfaces a waiting entry names.
const SHOWN_INTERFACES: usize = 3;

pub async fn handle(client: &Client, input: TeardownInput) -> Result<TeardownOut, StepError> {
    let names = input.names()?;
    let mut p = Progress::default();
    let group_names = [
        names.gateway_security_group.as_str(),
        names.db_security_group.as_str(),
        names.client_security_group.as_str(),
        names.association_security_group.as_str(),
    ];
    let groups = deployment_groups(client, &group_names, &input.owner()).await?;
    let kept = |g: &SecurityGroup| {
        let name = g.group_name().unwrap_or_default();
        match &input.prune {
            // A prune deletes only the client-side groups of client VPCs the input dropped.
            Some(k) => {
                let client_side =
                    name == names.client_security_group || name == names.association_security_group;
                !client_side || g.vpc_id().is_none_or(|v| k.keeps_vpc(v))
            }
            None => input.keep_database && name == names.db_security_group,
        }
    };
    // The groups this call deletes: ours, unless kept.
    let doomed: Vec<&SecurityGroup> = groups
        .iter()
        .filter(|(g, o)| *o == Ownership::Owned && !kept(g))
        .map(|(g, _)| g)
        .collect();
    let doomed_ids: Vec<&str> = doomed.iter().filter_map(|g| g.group_id()).collect();

    // A rule referencing a group blocks that group's deletion (not its own group's).
    for (g, _) in &groups {
        revoke_references(client, g, &doomed_ids).await?;
    }
    for (g, o) in &groups {
        let (Some(id), name) = (g.group_id(), g.group_name().unwrap_or_default()) else {
            continue;
        };
        if *o == Ownership::OtherExecution {
            tracing::info!(
                group_id = id,
                group_name = name,
                "created by another execution: left alone"
            );
        } else if kept(g) {
            tracing::info!(
                group_id = id,
                group_name = name,
                "kept (keepDatabase, or a prune and the input still uses it)"
            );
        }
    }
    for g in doomed {
        let (Some(id), name) = (g.group_id(), g.group_name().unwrap_or_default()) else {
            continue;
        };
        let deleted = settle(
            client
                .delete_security_group()
                .group_id(id)
                .send()
                .await
                .map(|_| ())
                .aws("ec2:DeleteSecurityGroup"),
        )?;
        match deleted {
            Outcome::Done(()) => {
                tracing::info!(group_id = id, group_name = name, "deleted security group");
                p.deleted(id);
            }
            Outcome::Gone => tracing::info!(group_id = id, "security group already gone"),
            // DependencyViolation: network interfaces (or another group's rule) still use it.
            Outcome::Refused(message) => {
                let users = users_of(client, id).await?;
                tracing::info!(group_id = id, %message, users = %users, "security group still in use");
                p.wait(
                    "security group",
                    &format!("{id} ({name})"),
                    format!("in use ({users})"),
                );
            }
        }
    }
    Ok(p.finish(COMPONENT, Policy::LATTICE, input.attempt()))
}

/// The deployment's groups: by name, and by the deployment tag (checked again
/// here), each with where it stands for `owner`.
async fn deployment_groups(
    client: &Client,
    group_names: &[&str],
    owner: &Owner,
) -> Result<Vec<(SecurityGroup, Ownership)>, StepError> {
    let mut groups = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("group-name")
                    .set_values(Some(group_names.iter().map(|n| n.to_string()).collect()))
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name(format!("tag:{}", shared::tags::DEPLOYMENT))
                    .values(&owner.deployment)
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .aws("ec2:DescribeSecurityGroups")?;
        for g in page.security_groups() {
            let ownership =
                owner.ownership(g.tags().iter().filter_map(|t| Some((t.key()?, t.value()?))));
            let named = g.group_name().is_some_and(|n| group_names.contains(&n));
            if ownership != Ownership::Foreign && named {
                groups.push((g.clone(), ownership));
            } else {
                tracing::warn!(group_id = ?g.group_id(), group_name = ?g.group_name(), "not this deployment's group: left alone");
            }
        }
        match page.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(groups),
        }
    }
}

/// The parts of `perms` that reference one of `ours` (and nothing else of them),
/// each pair exactly as described (description included): moto revokes only a
/// rule that matches as created, and so it is the rule we created that goes.
fn referencing(perms: &[IpPermission], ours: &[&str]) -> Vec<IpPermission> {
    shared::ec2::single_rules(perms)
        .into_iter()
        .filter(|(_, p)| {
            p.user_id_group_pairs()
                .iter()
                .any(|u| u.group_id().is_some_and(|g| ours.contains(&g)))
        })
        .map(|(_, p)| p)
        .collect()
}

/// Revoke the rules of `g` that reference the groups in `ours`. Already revoked
/// (or the group already gone) counts as revoked.
async fn revoke_references(
    client: &Client,
    g: &SecurityGroup,
    ours: &[&str],
) -> Result<(), StepError> {
    let Some(id) = g.group_id() else {
        return Ok(());
    };
    let ingress = referencing(g.ip_permissions(), ours);
    if !ingress.is_empty() {
        let result = client
            .revoke_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(ingress))
            .send()
            .await;
        revoked(
            id,
            "ingress",
            result.map(|_| ()).map_err(|e| {
                (
                    error_code(&e).map(str::to_string),
                    StepError::from_sdk("ec2:RevokeSecurityGroupIngress", &e),
                )
            }),
        )?;
    }
    let egress = referencing(g.ip_permissions_egress(), ours);
    if !egress.is_empty() {
        let result = client
            .revoke_security_group_egress()
            .group_id(id)
            .set_ip_permissions(Some(egress))
            .send()
            .await;
        revoked(
            id,
            "egress",
            result.map(|_| ()).map_err(|e| {
                (
                    error_code(&e).map(str::to_string),
                    StepError::from_sdk("ec2:RevokeSecurityGroupEgress", &e),
                )
            }),
        )?;
    }
    Ok(())
}

fn revoked(
    id: &str,
    direction: &str,
    result: Result<(), (Option<String>, StepError)>,
) -> Result<(), StepError> {
    match result {
        Ok(()) => {
            tracing::info!(
                group_id = id,
                direction,
                "revoked rules referencing our other groups"
            );
            Ok(())
        }
        Err((Some(code), _))
            if code == "InvalidPermission.NotFound" || code == "InvalidGroup.NotFound" =>
        {
            Ok(())
        }
        Err((_, e)) => Err(e),
    }
}

/// Who holds a group: its network interfaces, for the waiting entry.
async fn users_of(client: &Client, group_id: &str) -> Result<String, StepError> {
    let out = client
        .describe_network_interfaces()
        .filters(Filter::builder().name("group-id").values(group_id).build())
        // The API's minimum page size.
        .max_results(5)
        .send()
        .await
        .aws("ec2:DescribeNetworkInterfaces")?;
    let enis = out.network_interfaces();
    if enis.is_empty() {
        return Ok(
            "no network interface uses it: another group's rule may still reference it".into(),
        );
    }
    let shown: Vec<String> = enis
        .iter()
        .take(SHOWN_INTERFACES)
        .map(|n| {
            let id = n.network_interface_id().unwrap_or("?");
            match n.description() {
                Some(d) if !d.is_empty() => format!("{id} `{d}`"),
                _ => id.to_string(),
            }
        })
        .collect();
    let more = if enis.len() > SHOWN_INTERFACES || out.next_token().is_some() {
        ", …"
    } else {
        ""
    };
    Ok(format!("held by {}{more}", shown.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::UserIdGroupPair;
    use std::sync::{Arc, Mutex};

    use aws_sdk_ec2::operation::delete_security_group::DeleteSecurityGroupOutput;
    use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::operation::revoke_security_group_egress::RevokeSecurityGroupEgressOutput;
    use aws_sdk_ec2::operation::revoke_security_group_ingress::RevokeSecurityGroupIngressOutput;
    use aws_sdk_ec2::types::{IpRange, NetworkInterface, Tag};
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use shared::plan::PollState;
    use shared::testing;

    const GW: &str = "sg-0a1b2c3d4e5f60001";
    const DB: &str = "sg-0a1b2c3d4e5f60002";
    const CLIENT: &str = "sg-0c1c2c3d4e5f60003";
    const ASSOC: &str = "sg-0c1c2c3d4e5f60004";
    /// The user's own group, admitted by the association group.
    const USERS: &str = "sg-0abc0000000000001";

    fn input() -> TeardownInput {
        TeardownInput {
            name: "orders".into(),
            ..TeardownInput::default()
        }
    }

    fn tcp(port: i32, groups: &[&str]) -> IpPermission {
        let mut b = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port);
        for g in groups {
            b = b.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(*g)
                    .user_id("123456789012")
                    .description("x")
                    .build(),
            );
        }
        b.build()
    }

    #[test]
    fn revokes_each_reference_exactly_as_created_and_nothing_else() {
        let perms = [tcp(5432, &[GW, USERS])];
        let out = referencing(&perms, &[GW]);
        assert_eq!(out.len(), 1);
        let [pair] = out[0].user_id_group_pairs() else {
            panic!("one pair expected: {out:?}");
        };
        // The description and owner as described: EC2 (and moto) revoke the rule that matches.
        assert_eq!(
            (pair.group_id(), pair.user_id(), pair.description()),
            (Some(GW), Some("123456789012"), Some("x"))
        );
        assert_eq!(
            (out[0].ip_protocol(), out[0].from_port(), out[0].to_port()),
            (Some("tcp"), Some(5432), Some(5432))
        );
        assert!(referencing(&perms, &[DB]).is_empty());
    }

    fn group(id: &str, name: &str, owner: Option<&str>) -> SecurityGroup {
        let mut b = SecurityGroup::builder().group_id(id).group_name(name);
        if let Some(o) = owner {
            b = b.tags(
                Tag::builder()
                    .key(shared::tags::DEPLOYMENT)
                    .value(o)
                    .build(),
            );
        }
        b.build()
    }

    /// The four groups as provisioning left them.
    fn provisioned() -> Vec<SecurityGroup> {
        let mut gw = group(GW, "orders-resource-gateway", Some("orders")).to_builder();
        gw = gw.ip_permissions_egress(tcp(3306, &[DB]));
        let mut db = group(DB, "orders-database", Some("orders")).to_builder();
        db = db.ip_permissions(tcp(3306, &[GW]));
        let mut client = group(CLIENT, "orders-db-client", Some("orders")).to_builder();
        client = client.ip_permissions_egress(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(3306)
                .to_port(3306)
                .build(),
        );
        let mut assoc = group(ASSOC, "orders-lattice-association", Some("orders")).to_builder();
        assoc = assoc
            .ip_permissions(tcp(3306, &[CLIENT, USERS]))
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(3306)
                    .to_port(3306)
                    .ip_ranges(IpRange::builder().cidr_ip("10.1.0.0/16").build())
                    .build(),
            );
        vec![gw.build(), db.build(), client.build(), assoc.build()]
    }

    trait ToBuilder {
        fn to_builder(self) -> aws_sdk_ec2::types::builders::SecurityGroupBuilder;
    }

    impl ToBuilder for SecurityGroup {
        fn to_builder(self) -> aws_sdk_ec2::types::builders::SecurityGroupBuilder {
            SecurityGroup::builder()
                .set_group_id(self.group_id().map(str::to_string))
                .set_group_name(self.group_name().map(str::to_string))
                .set_tags(Some(self.tags().to_vec()))
        }
    }

    type Log = Arc<Mutex<Vec<String>>>;

    struct Mocks {
        log: Log,
        describe: Rule,
        revoke_in: Rule,
        revoke_out: Rule,
        delete: Rule,
        enis: Rule,
    }

    /// The only group pairs in `perms` (port 3306 TCP).
    fn pairs(perms: &[IpPermission]) -> Vec<String> {
        perms
            .iter()
            .inspect(|p| {
                assert_eq!(
                    (p.ip_protocol(), p.from_port(), p.to_port()),
                    (Some("tcp"), Some(3306), Some(3306))
                );
                assert!(p.ip_ranges().is_empty() && p.prefix_list_ids().is_empty());
            })
            .flat_map(|p| p.user_id_group_pairs())
            .filter_map(|u| u.group_id().map(str::to_string))
            .collect()
    }

    impl Mocks {
        fn new(groups: Vec<SecurityGroup>) -> Self {
            let log: Log = Arc::default();
            let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
            Self {
                describe: mock!(Client::describe_security_groups)
                    .match_requests(|r| {
                        let has = |n: &str, v: &[&str]| {
                            r.filters()
                                .iter()
                                .any(|f| f.name() == Some(n) && f.values() == v)
                        };
                        has(
                            "group-name",
                            &[
                                "orders-resource-gateway",
                                "orders-database",
                                "orders-db-client",
                                "orders-lattice-association",
                            ],
                        ) && has("tag:lattice-db-access:deployment", &["orders"])
                    })
                    .then_output(move || {
                        DescribeSecurityGroupsOutput::builder()
                            .set_security_groups(Some(groups.clone()))
                            .build()
                    }),
                revoke_in: mock!(Client::revoke_security_group_ingress).then_compute_output(
                    move |r| {
                        l1.lock().unwrap().push(format!(
                            "revoke ingress {} {:?}",
                            r.group_id().unwrap(),
                            pairs(r.ip_permissions())
                        ));
                        RevokeSecurityGroupIngressOutput::builder()
                            .r#return(true)
                            .build()
                    },
                ),
                revoke_out: mock!(Client::revoke_security_group_egress).then_compute_output(
                    move |r| {
                        l2.lock().unwrap().push(format!(
                            "revoke egress {} {:?}",
                            r.group_id().unwrap(),
                            pairs(r.ip_permissions())
                        ));
                        RevokeSecurityGroupEgressOutput::builder()
                            .r#return(true)
                            .build()
                    },
                ),
                delete: mock!(Client::delete_security_group).then_compute_output(move |r| {
                    l3.lock()
                        .unwrap()
                        .push(format!("delete {}", r.group_id().unwrap()));
                    DeleteSecurityGroupOutput::builder().build()
                }),
                enis: mock!(Client::describe_network_interfaces)
                    .then_output(|| DescribeNetworkInterfacesOutput::builder().build()),
                log,
            }
        }

        fn client(&self) -> Client {
            mock_client!(
                aws_sdk_ec2,
                RuleMode::MatchAny,
                [
                    &self.describe,
                    &self.revoke_in,
                    &self.revoke_out,
                    &self.delete,
                    &self.enis
                ]
            )
        }

        fn calls(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }
    }

    #[tokio::test]
    async fn cross_references_are_revoked_before_any_group_is_deleted() {
        let m = Mocks::new(provisioned());
        let out = handle(&m.client(), input()).await.unwrap();
        assert_eq!(
            m.calls(),
            [
                format!("revoke egress {GW} [\"{DB}\"]"),
                format!("revoke ingress {DB} [\"{GW}\"]"),
                // The user's own group and the CIDR rule are not references to ours.
                format!("revoke ingress {ASSOC} [\"{CLIENT}\"]"),
                format!("delete {GW}"),
                format!("delete {DB}"),
                format!("delete {CLIENT}"),
                format!("delete {ASSOC}"),
            ]
        );
        assert_eq!(out.state, PollState::Ready);
        assert_eq!(out.deleted, [GW, DB, CLIENT, ASSOC]);
    }

    #[tokio::test]
    async fn a_group_still_held_by_interfaces_is_retried_next_call() {
        let mut m = Mocks::new(provisioned());
        let log = m.log.clone();
        m.delete = mock!(Client::delete_security_group).then_compute_response(move |r| {
            let id = r.group_id().unwrap().to_string();
            log.lock().unwrap().push(format!("delete {id}"));
            if id == GW {
                aws_smithy_mocks::MockResponse::Http(testing::ec2_error(
                    400,
                    "DependencyViolation",
                    "resource sg-0a1b2c3d4e5f60001 has a dependent object",
                ))
            } else {
                aws_smithy_mocks::MockResponse::Output(DeleteSecurityGroupOutput::builder().build())
            }
        });
        m.enis = mock!(Client::describe_network_interfaces)
            .match_requests(|r| {
                r.filters()[0].name() == Some("group-id") && r.filters()[0].values() == [GW]
            })
            .then_output(|| {
                DescribeNetworkInterfacesOutput::builder()
                    .network_interfaces(
                        NetworkInterface::builder()
                            .network_interface_id("eni-0123456789abcdef0")
                            .description("VPC Lattice resource gateway")
                            .build(),
                    )
                    .build()
            });
        let out = handle(&m.client(), input()).await.unwrap();
        assert_eq!(out.state, PollState::Pending);
        assert_eq!(out.deleted, [DB, CLIENT, ASSOC]);
        assert_eq!(
            out.waiting,
            [format!(
                "security group {GW} (orders-resource-gateway) is in use (held by eni-0123456789abcdef0 `VPC Lattice resource gateway`)"
            )]
        );
        // Until the bound: then the loop gives up.
        let max = Policy::LATTICE.max_attempts;
        let out = handle(
            &m.client(),
            TeardownInput {
                previous: Some(Previous {
                    attempt: max - 1,
                    waiting: vec![],
                }),
                ..input()
            },
        )
        .await
        .unwrap();
        assert_eq!((out.state, out.attempt), (PollState::TimedOut, max));
    }

    #[tokio::test]
    async fn nothing_left_is_ready_without_any_delete() {
        let m = Mocks::new(vec![]);
        let out = handle(&m.client(), input()).await.unwrap();
        assert!(m.calls().is_empty());
        assert_eq!(m.describe.num_calls(), 1);
        assert_eq!(out.state, PollState::Ready);
    }

    #[tokio::test]
    async fn groups_that_vanished_meanwhile_count_as_deleted() {
        let mut m = Mocks::new(provisioned());
        m.revoke_in = mock!(Client::revoke_security_group_ingress).then_http_response(|| {
            testing::ec2_error(400, "InvalidPermission.NotFound", "rule not found")
        });
        m.revoke_out = mock!(Client::revoke_security_group_egress)
            .then_http_response(|| testing::ec2_error(400, "InvalidGroup.NotFound", "no group"));
        m.delete = mock!(Client::delete_security_group)
            .then_http_response(|| testing::ec2_error(400, "InvalidGroup.NotFound", "no group"));
        let out = handle(&m.client(), input()).await.unwrap();
        assert_eq!(m.delete.num_calls(), 4);
        assert_eq!(out.state, PollState::Ready);
        assert!(out.deleted.is_empty());
    }

    #[tokio::test]
    async fn keep_database_keeps_the_database_group_but_frees_the_others() {
        let m = Mocks::new(provisioned());
        let out = handle(
            &m.client(),
            TeardownInput {
                keep_database: true,
                ..input()
            },
        )
        .await
        .unwrap();
        // Its rule naming the gateway group must go, or the gateway group could never be deleted.
        assert!(m
            .calls()
            .contains(&format!("revoke ingress {DB} [\"{GW}\"]")));
        assert!(!m.calls().contains(&format!("delete {DB}")));
        assert_eq!(out.deleted, [GW, CLIENT, ASSOC]);
        assert_eq!(out.state, PollState::Ready);
    }

    #[tokio::test]
    async fn a_prune_deletes_only_the_client_side_groups_of_a_dropped_vpc() {
        // The client VPC's two groups in a VPC the input dropped; the database VPC's stay, and so
        // would the client-side groups of a VPC the input still lists.
        let in_vpc = |g: SecurityGroup, vpc: &str| g.to_builder().vpc_id(vpc).build();
        let [gw, db, client, assoc]: [SecurityGroup; 4] = provisioned().try_into().unwrap();
        let groups = vec![
            in_vpc(gw, "vpc-db"),
            in_vpc(db, "vpc-db"),
            in_vpc(client, "vpc-dropped"),
            in_vpc(assoc, "vpc-dropped"),
        ];
        let prune = |vpcs: &[&str]| TeardownInput {
            prune: Some(shared::teardown::Prune {
                client_vpcs: vpcs
                    .iter()
                    .map(|v| shared::teardown::KeptVpc {
                        vpc_id: v.to_string(),
                    })
                    .collect(),
                resource_configuration_id: "rcfg-1".into(),
            }),
            ..input()
        };
        let m = Mocks::new(groups.clone());
        let out = handle(&m.client(), prune(&["vpc-kept"])).await.unwrap();
        assert_eq!(out.deleted, [CLIENT, ASSOC]);
        assert!(!m.calls().contains(&format!("delete {GW}")));
        assert!(!m.calls().contains(&format!("delete {DB}")));
        assert_eq!(out.state, PollState::Ready);

        let m = Mocks::new(groups);
        let out = handle(&m.client(), prune(&["vpc-dropped"])).await.unwrap();
        assert!(m.calls().is_empty(), "{:?}", m.calls());
        assert!(out.deleted.is_empty());
    }

    #[tokio::test]
    async fn a_same_named_group_without_our_tag_is_left_alone() {
        let mut foreign = group(DB, "orders-database", Some("billing")).to_builder();
        foreign = foreign.ip_permissions(tcp(3306, &[GW]));
        let m = Mocks::new(vec![
            foreign.build(),
            group(CLIENT, "orders-db-client", None),
        ]);
        let out = handle(&m.client(), input()).await.unwrap();
        assert!(m.calls().is_empty(), "{:?}", m.calls());
        assert_eq!(out.state, PollState::Ready);
    }

    /// `g` also tagged as created by `execution`.
    fn by(g: SecurityGroup, execution: &str) -> SecurityGroup {
        let (ingress, egress) = (
            g.ip_permissions().to_vec(),
            g.ip_permissions_egress().to_vec(),
        );
        g.to_builder()
            .tags(
                Tag::builder()
                    .key(shared::tags::EXECUTION)
                    .value(execution)
                    .build(),
            )
            .set_ip_permissions(Some(ingress))
            .set_ip_permissions_egress(Some(egress))
            .build()
    }

    fn rollback_of(execution: &str) -> TeardownInput {
        TeardownInput {
            only_execution: Some(execution.into()),
            ..input()
        }
    }

    #[tokio::test]
    async fn only_execution_deletes_only_the_groups_that_execution_created() {
        // run-1 made the database-side groups; run-2 adopted them and made the client side.
        let [gw, db, client, assoc] = <[SecurityGroup; 4]>::try_from(provisioned()).unwrap();
        let groups = vec![
            by(gw, "run-1"),
            by(db, "run-1"),
            by(client, "run-2"),
            by(assoc, "run-2"),
        ];
        let m = Mocks::new(groups.clone());
        let out = handle(&m.client(), rollback_of("run-2")).await.unwrap();
        assert_eq!(
            m.calls(),
            [
                format!("revoke ingress {ASSOC} [\"{CLIENT}\"]"),
                format!("delete {CLIENT}"),
                format!("delete {ASSOC}"),
            ]
        );
        // What run-1 made is neither deleted nor waited for.
        assert_eq!(out.deleted, [CLIENT, ASSOC]);
        assert!(out.waiting.is_empty());
        assert_eq!(out.state, PollState::Ready);

        // run-1's rollback takes the other two, and nothing of run-2.
        let m = Mocks::new(groups.clone());
        let out = handle(&m.client(), rollback_of("run-1")).await.unwrap();
        assert_eq!(
            m.calls(),
            [
                format!("revoke egress {GW} [\"{DB}\"]"),
                format!("revoke ingress {DB} [\"{GW}\"]"),
                format!("delete {GW}"),
                format!("delete {DB}"),
            ]
        );
        assert_eq!(out.deleted, [GW, DB]);

        // Groups tagged before executions were: never a rollback's.
        let m = Mocks::new(provisioned());
        let out = handle(&m.client(), rollback_of("run-2")).await.unwrap();
        assert!(m.calls().is_empty(), "{:?}", m.calls());
        assert_eq!(out.state, PollState::Ready);
    }

    #[tokio::test]
    async fn a_kept_group_loses_only_its_rules_that_reference_a_deleted_group() {
        // The gateway group is run-1's; the database group (which it references) is run-2's.
        let [gw, db, ..] = <[SecurityGroup; 4]>::try_from(provisioned()).unwrap();
        let m = Mocks::new(vec![by(gw, "run-1"), by(db, "run-2")]);
        let out = handle(&m.client(), rollback_of("run-2")).await.unwrap();
        // The database group's own rule naming the gateway group goes with it.
        assert_eq!(
            m.calls(),
            [
                format!("revoke egress {GW} [\"{DB}\"]"),
                format!("delete {DB}"),
            ]
        );
        assert_eq!(out.deleted, [DB]);
    }

    #[tokio::test]
    async fn aws_errors_keep_their_stable_names() {
        let denied = mock!(Client::describe_security_groups)
            .then_http_response(|| testing::ec2_error(403, "UnauthorizedOperation", "no"));
        let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&denied]);
        let e = handle(&client, input()).await.unwrap_err();
        assert_eq!(e.name(), "Aws.AccessDenied");
        assert!(e.to_string().contains("ec2:DescribeSecurityGroups"), "{e}");
    }
}
