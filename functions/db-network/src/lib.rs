//! Step 1: the network around the database, in the DB VPC: a security group
//! for the resource gateway, one for the database, the pairing rules between
//! them, and (when the workflow creates the database) its DB subnet group.
//! Recipe difference: the recipe let the RDS SG reference itself, which blocks
//! the gateway's traffic (aws-facts §2 #1); here the DB SG admits only the
//! gateway SG and the gateway SG may only reach the DB SG, on the DB port.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client as Ec2;
use aws_sdk_rds::types::{DbSubnetGroup, Tag};
use aws_sdk_rds::Client as Rds;
use shared::ec2::{converge_egress, converge_ingress, tcp_group};
use shared::plan::{DbNetworkOut, Plan};
use shared::rds::describe_subnet_group;
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "db-network";

/// What this step reads from the execution state; a section missing there fails at the
/// state boundary, naming it ([`shared::runtime::invoke_step`]).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The validated plan (ValidateInput).
    pub plan: shared::plan::Plan,
}

pub async fn handle(ec2: &Ec2, rds: &Rds, input: Input) -> Result<DbNetworkOut, StepError> {
    let plan = &input.plan;
    let tags = shared::tags::resource_tags(&plan.tags, &plan.name, COMPONENT);

    let gateway_sg = security_group(
        ec2,
        plan,
        &plan.names.gateway_security_group,
        "for the VPC Lattice resource gateway",
        &tags,
    )
    .await?;
    let db_sg = security_group(
        ec2,
        plan,
        &plan.names.db_security_group,
        "database: ingress only from the resource gateway",
        &tags,
    )
    .await?;

    let (db_ingress, gateway_egress) = desired_rules(plan.port, &gateway_sg, &db_sg);
    let mut rule_changes = converge_ingress(ec2, &db_sg, db_ingress).await?;
    rule_changes.extend(converge_egress(ec2, &gateway_sg, gateway_egress).await?);

    // An adopted database already has its subnet group.
    let db_subnet_group_name = if plan.database.create {
        Some(ensure_subnet_group(rds, plan, &tags).await?)
    } else {
        None
    };

    tracing::info!(
        gateway_security_group = %gateway_sg,
        db_security_group = %db_sg,
        db_subnet_group = ?db_subnet_group_name,
        port = plan.port,
        "database network ready"
    );
    Ok(DbNetworkOut {
        gateway_security_group_id: gateway_sg,
        db_security_group_id: db_sg,
        db_subnet_group_name,
        rule_changes,
    })
}

/// The rules the two groups must have, exactly (pure; `doctor` compares with them too): the
/// database sees connections from the gateway's ENIs, so the gateway SG is the only source it
/// admits; the gateway may reach the database and nothing else (EC2's default egress goes, and so
/// does any other rule). Returns (database ingress, gateway egress).
pub fn desired_rules(
    port: u16,
    gateway_sg: &str,
    db_sg: &str,
) -> (
    Vec<aws_sdk_ec2::types::IpPermission>,
    Vec<aws_sdk_ec2::types::IpPermission>,
) {
    (
        vec![tcp_group(
            port,
            gateway_sg,
            "from the VPC Lattice resource gateway",
        )],
        vec![tcp_group(port, db_sg, "to the database")],
    )
}

/// Our group of that name in the database VPC.
async fn security_group(
    ec2: &Ec2,
    plan: &Plan,
    name: &str,
    description: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, StepError> {
    shared::ec2::ensure_security_group(
        ec2,
        &plan.database_vpc_id,
        name,
        description,
        tags,
        (&plan.name, COMPONENT),
    )
    .await
}

fn rds_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The DB subnet group over every tagged private subnet of the DB VPC.
async fn ensure_subnet_group(
    rds: &Rds,
    plan: &Plan,
    tags: &BTreeMap<String, String>,
) -> Result<String, StepError> {
    let name = &plan.names.db_subnet_group;
    shared::reconcile::ensure(
        COMPONENT,
        describe_subnet_group(rds, name).await?,
        async || describe_subnet_group(rds, name).await,
        async |found| adopt_subnet_group(rds, plan, &found).await,
        async || {
            rds.create_db_subnet_group()
                .db_subnet_group_name(name)
                .db_subnet_group_description(format!(
                    "lattice-db-access {}: private subnets of the database",
                    plan.name
                ))
                .set_subnet_ids(Some(plan.db_subnet_ids.clone()))
                .set_tags(Some(rds_tags(tags)))
                .send()
                .await
                .aws("rds:CreateDBSubnetGroup")?;
            tracing::info!(db_subnet_group = %name, subnets = ?plan.db_subnet_ids, "created DB subnet group");
            Ok(name.clone())
        },
    )
    .await
}

/// Adopt a same-named group only if this deployment tagged it and it is in the DB VPC.
async fn adopt_subnet_group(
    rds: &Rds,
    plan: &Plan,
    found: &DbSubnetGroup,
) -> Result<String, StepError> {
    let name = &plan.names.db_subnet_group;
    let arn = found.db_subnet_group_arn().ok_or_else(|| {
        StepError::internal("rds:DescribeDBSubnetGroups returned a group without an ARN")
    })?;
    let tags = rds
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .aws("rds:ListTagsForResource")?;
    let ours = shared::tags::is_ours(
        tags.tag_list()
            .iter()
            .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
        &plan.name,
    );
    if !ours {
        return Err(StepError::NameTaken(format!(
            "DB subnet group `{name}` exists but was not created by deployment `{}`; \
             delete it or choose another deployment name",
            plan.name
        )));
    }
    let desired = shared::tags::resource_tags(&plan.tags, &plan.name, COMPONENT);
    shared::rds::converge_tags(rds, arn, tags.tag_list(), &desired).await?;
    if found.vpc_id() != Some(plan.database_vpc_id.as_str()) {
        return Err(StepError::NameTaken(format!(
            "DB subnet group `{name}` of deployment `{}` is in {}, not in the database VPC {}; \
             run the teardown first or choose another deployment name",
            plan.name,
            found.vpc_id().unwrap_or("no VPC"),
            plan.database_vpc_id
        )));
    }
    let mut have: Vec<&str> = found
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .collect();
    have.sort_unstable();
    let mut want: Vec<&str> = plan.db_subnet_ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    if have != want {
        // Still usable (same VPC, ours); the database step places the DB in it.
        tracing::warn!(db_subnet_group = %name, ?have, ?want, "adopted DB subnet group has other subnets than planned");
    }
    tracing::info!(db_subnet_group = %name, "adopted DB subnet group");
    Ok(name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::authorize_security_group_egress::AuthorizeSecurityGroupEgressOutput;
    use aws_sdk_ec2::operation::authorize_security_group_ingress::AuthorizeSecurityGroupIngressOutput;
    use aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupOutput;
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::operation::revoke_security_group_egress::RevokeSecurityGroupEgressOutput;
    use aws_sdk_ec2::types::{Filter, IpPermission, ResourceType, SecurityGroup};
    use aws_sdk_rds::operation::create_db_subnet_group::CreateDbSubnetGroupOutput;
    use aws_sdk_rds::operation::describe_db_subnet_groups::DescribeDbSubnetGroupsOutput;
    use aws_sdk_rds::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_rds::types::Subnet;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use shared::testing;

    /// The step as the state machine runs it: its typed input read from the execution state.
    async fn handle(
        ec2: &Ec2,
        rds: &Rds,
        state: testing::State,
    ) -> Result<shared::plan::DbNetworkOut, StepError> {
        super::handle(ec2, rds, testing::typed(&state)).await
    }

    const VPC: &str = "vpc-0db0000000000000a";
    const GW_SG: &str = "sg-0a1b2c3d4e5f60001";
    const DB_SG: &str = "sg-0a1b2c3d4e5f60002";
    const GROUP_ARN: &str = "arn:aws:rds:us-east-1:123456789012:subgrp:orders-db-subnets";

    fn has(filters: &[Filter], name: &str, value: &str) -> bool {
        filters
            .iter()
            .any(|f| f.name() == Some(name) && f.values().iter().any(|v| v == value))
    }

    /// DescribeSecurityGroups for `group_name` in the DB VPC → `found`.
    fn describe_sg(group_name: &'static str, found: Option<(&'static str, &'static str)>) -> Rule {
        mock!(Ec2::describe_security_groups)
            .match_requests(move |r| {
                has(r.filters(), "vpc-id", VPC) && has(r.filters(), "group-name", group_name)
            })
            .then_output(move || {
                let mut b = DescribeSecurityGroupsOutput::builder();
                if let Some((id, deployment)) = found {
                    b = b.security_groups(
                        SecurityGroup::builder()
                            .group_id(id)
                            .group_name(group_name)
                            .vpc_id(VPC)
                            .set_tags(Some(testing::ec2_created_tags(deployment, COMPONENT)))
                            .build(),
                    );
                }
                b.build()
            })
    }

    /// DescribeSecurityGroups by id, as EC2 shows the groups before this run's rules: the
    /// gateway group with EC2's default allow-all egress, the database group without ingress.
    fn by_id() -> Rule {
        mock!(Ec2::describe_security_groups)
            .match_requests(|r| r.filters().is_empty() && r.group_ids().len() == 1)
            .then_compute_output(|r| {
                let id = r.group_ids()[0].clone();
                let mut g = SecurityGroup::builder().group_id(&id).vpc_id(VPC);
                if id == GW_SG {
                    g = g.ip_permissions_egress(
                        IpPermission::builder()
                            .ip_protocol("-1")
                            .ip_ranges(
                                aws_sdk_ec2::types::IpRange::builder()
                                    .cidr_ip("0.0.0.0/0")
                                    .build(),
                            )
                            .build(),
                    );
                }
                DescribeSecurityGroupsOutput::builder()
                    .security_groups(g.build())
                    .build()
            })
    }

    fn create_sg(group_name: &'static str, id: &'static str) -> Rule {
        mock!(Ec2::create_security_group)
            .match_requests(move |r| {
                let spec = &r.tag_specifications()[0];
                let tag = |k: &str| {
                    spec.tags()
                        .iter()
                        .find(|t| t.key() == Some(k))
                        .and_then(|t| t.value())
                        .map(str::to_string)
                };
                r.group_name() == Some(group_name)
                    && r.vpc_id() == Some(VPC)
                    && spec.resource_type() == Some(&ResourceType::SecurityGroup)
                    && tag(shared::tags::DEPLOYMENT).as_deref() == Some("orders")
                    && tag(shared::tags::COMPONENT).as_deref() == Some(COMPONENT)
                    && tag("team").as_deref() == Some("payments")
                    && tag("Name").as_deref() == Some(group_name)
            })
            .then_output(move || CreateSecurityGroupOutput::builder().group_id(id).build())
    }

    /// Exactly one TCP rule on `port` whose only peer is `peer_sg`.
    fn only_group_rule(perms: &[IpPermission], port: i32, peer_sg: &str) -> bool {
        let [p] = perms else { return false };
        p.ip_protocol() == Some("tcp")
            && p.from_port() == Some(port)
            && p.to_port() == Some(port)
            && p.ip_ranges().is_empty()
            && p.ipv6_ranges().is_empty()
            && p.prefix_list_ids().is_empty()
            && p.user_id_group_pairs().len() == 1
            && p.user_id_group_pairs()[0].group_id() == Some(peer_sg)
    }

    fn ingress_ok(port: i32) -> Rule {
        mock!(Ec2::authorize_security_group_ingress)
            .match_requests(move |r| {
                r.group_id() == Some(DB_SG) && only_group_rule(r.ip_permissions(), port, GW_SG)
            })
            .then_output(|| {
                AuthorizeSecurityGroupIngressOutput::builder()
                    .r#return(true)
                    .build()
            })
    }

    fn egress_ok(port: i32) -> Rule {
        mock!(Ec2::authorize_security_group_egress)
            .match_requests(move |r| {
                r.group_id() == Some(GW_SG) && only_group_rule(r.ip_permissions(), port, DB_SG)
            })
            .then_output(|| {
                AuthorizeSecurityGroupEgressOutput::builder()
                    .r#return(true)
                    .build()
            })
    }

    fn revoke_ok() -> Rule {
        mock!(Ec2::revoke_security_group_egress)
            .match_requests(|r| {
                let [p] = r.ip_permissions() else {
                    return false;
                };
                r.group_id() == Some(GW_SG)
                    && p.ip_protocol() == Some("-1")
                    && p.ip_ranges()[0].cidr_ip() == Some("0.0.0.0/0")
            })
            .then_output(|| {
                RevokeSecurityGroupEgressOutput::builder()
                    .r#return(true)
                    .build()
            })
    }

    fn subnet_group_absent() -> Rule {
        mock!(Rds::describe_db_subnet_groups)
            .match_requests(|r| r.db_subnet_group_name() == Some("orders-db-subnets"))
            .then_http_response(|| {
                testing::rds_error(
                    404,
                    "DBSubnetGroupNotFoundFault",
                    "DBSubnetGroup orders-db-subnets not found.",
                )
            })
    }

    fn subnet_group(vpc: &str) -> DbSubnetGroup {
        let mut b = DbSubnetGroup::builder()
            .db_subnet_group_name("orders-db-subnets")
            .db_subnet_group_arn(GROUP_ARN)
            .vpc_id(vpc);
        for id in testing::plan().db_subnet_ids {
            b = b.subnets(Subnet::builder().subnet_identifier(id).build());
        }
        b.build()
    }

    fn subnet_group_found(vpc: &'static str) -> Rule {
        mock!(Rds::describe_db_subnet_groups)
            .match_requests(|r| r.db_subnet_group_name() == Some("orders-db-subnets"))
            .then_output(move || {
                DescribeDbSubnetGroupsOutput::builder()
                    .db_subnet_groups(subnet_group(vpc))
                    .build()
            })
    }

    fn group_tags(deployment: &'static str) -> Rule {
        mock!(Rds::list_tags_for_resource)
            .match_requests(|r| r.resource_name() == Some(GROUP_ARN))
            .then_output(move || {
                ListTagsForResourceOutput::builder()
                    .set_tag_list(Some(
                        testing::created_tags(deployment, COMPONENT)
                            .into_iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .build()
            })
    }

    fn create_group() -> Rule {
        mock!(Rds::create_db_subnet_group)
            .match_requests(|r| {
                let tag = |k: &str| {
                    r.tags()
                        .iter()
                        .find(|t| t.key() == Some(k))
                        .and_then(|t| t.value())
                        .map(str::to_string)
                };
                r.db_subnet_group_name() == Some("orders-db-subnets")
                    && r.subnet_ids() == testing::plan().db_subnet_ids.as_slice()
                    && r.db_subnet_group_description()
                        .is_some_and(|d| !d.is_empty())
                    && tag(shared::tags::DEPLOYMENT).as_deref() == Some("orders")
                    && tag(shared::tags::COMPONENT).as_deref() == Some(COMPONENT)
                    && tag("team").as_deref() == Some("payments")
            })
            .then_output(|| {
                CreateDbSubnetGroupOutput::builder()
                    .db_subnet_group(subnet_group(VPC))
                    .build()
            })
    }

    fn no_rules() -> [&'static Rule; 0] {
        []
    }

    #[tokio::test]
    async fn creates_both_groups_the_paired_rules_and_the_subnet_group() {
        let ec2_rules = [
            describe_sg("orders-resource-gateway", None),
            describe_sg("orders-database", None),
            by_id(),
            create_sg("orders-resource-gateway", GW_SG),
            create_sg("orders-database", DB_SG),
            ingress_ok(3306),
            revoke_ok(),
            egress_ok(3306),
        ];
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &ec2_rules);
        let rds_rules = [subnet_group_absent(), create_group()];
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, &rds_rules);

        let out = handle(&ec2, &rds, testing::ctx()).await.unwrap();
        assert_eq!(
            out,
            DbNetworkOut {
                gateway_security_group_id: GW_SG.into(),
                db_security_group_id: DB_SG.into(),
                db_subnet_group_name: Some("orders-db-subnets".into()),
                rule_changes: vec![
                    format!("{DB_SG}: added ingress tcp 3306 from {GW_SG}"),
                    format!("{GW_SG}: added egress tcp 3306 to {DB_SG}"),
                    format!("{GW_SG}: revoked egress all all to 0.0.0.0/0"),
                ],
            }
        );
        let [_, _, _, create_gw, create_db, ingress, revoke, egress] = &ec2_rules;
        for (what, rule) in [
            ("create gateway SG", create_gw),
            ("create DB SG", create_db),
            ("DB ingress from the gateway SG", ingress),
            ("revoke gateway default egress", revoke),
            ("gateway egress to the DB SG", egress),
            ("create subnet group", &rds_rules[1]),
        ] {
            assert_eq!(rule.num_calls(), 1, "{what}");
        }
    }

    #[tokio::test]
    async fn rules_follow_the_planned_port() {
        let mut ctx = testing::ctx();
        let plan = ctx.plan.as_mut().unwrap();
        plan.port = 5432;
        plan.database.create = false;
        let ec2_rules = [
            describe_sg("orders-resource-gateway", Some((GW_SG, "orders"))),
            describe_sg("orders-database", Some((DB_SG, "orders"))),
            by_id(),
            ingress_ok(5432),
            revoke_ok(),
            egress_ok(5432),
        ];
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &ec2_rules);
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, no_rules());
        handle(&ec2, &rds, ctx).await.unwrap();
        assert_eq!((ec2_rules[3].num_calls(), ec2_rules[5].num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_retry_adopts_everything_and_creates_nothing() {
        let create_gw = create_sg("orders-resource-gateway", GW_SG);
        let create_db = create_sg("orders-database", DB_SG);
        // Rules and the revoke already applied: EC2 reports duplicates / not found.
        let ingress = mock!(Ec2::authorize_security_group_ingress).then_http_response(|| {
            testing::ec2_error(
                400,
                "InvalidPermission.Duplicate",
                "the rule already exists",
            )
        });
        let egress = mock!(Ec2::authorize_security_group_egress).then_http_response(|| {
            testing::ec2_error(
                400,
                "InvalidPermission.Duplicate",
                "the rule already exists",
            )
        });
        let revoke = mock!(Ec2::revoke_security_group_egress).then_http_response(|| {
            testing::ec2_error(400, "InvalidPermission.NotFound", "no such rule")
        });
        let ec2_rules = [
            describe_sg("orders-resource-gateway", Some((GW_SG, "orders"))),
            describe_sg("orders-database", Some((DB_SG, "orders"))),
            by_id(),
        ];
        let ec2 = mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            ec2_rules
                .iter()
                .chain([&create_gw, &create_db, &ingress, &egress, &revoke])
        );
        let create = create_group();
        let found = subnet_group_found(VPC);
        let tags = group_tags("orders");
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&found, &tags, &create]);

        let out = handle(&ec2, &rds, testing::ctx()).await.unwrap();
        assert_eq!(
            (
                out.gateway_security_group_id.as_str(),
                out.db_security_group_id.as_str(),
                out.db_subnet_group_name.as_deref()
            ),
            (GW_SG, DB_SG, Some("orders-db-subnets"))
        );
        assert_eq!(
            (
                create_gw.num_calls(),
                create_db.num_calls(),
                create.num_calls()
            ),
            (0, 0, 0)
        );
        assert_eq!(tags.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_existing_database_gets_no_subnet_group() {
        let mut ctx = testing::ctx();
        ctx.plan.as_mut().unwrap().database.create = false;
        let ec2_rules = [
            describe_sg("orders-resource-gateway", Some((GW_SG, "orders"))),
            describe_sg("orders-database", Some((DB_SG, "orders"))),
            by_id(),
            ingress_ok(3306),
            revoke_ok(),
            egress_ok(3306),
        ];
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &ec2_rules);
        // No RDS rules: any RDS call would fail the test.
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, no_rules());
        let out = handle(&ec2, &rds, ctx).await.unwrap();
        assert_eq!(out.db_subnet_group_name, None);
        assert_eq!(out.db_security_group_id, DB_SG);
    }

    fn adopted_sgs() -> [Rule; 6] {
        [
            describe_sg("orders-resource-gateway", Some((GW_SG, "orders"))),
            describe_sg("orders-database", Some((DB_SG, "orders"))),
            by_id(),
            ingress_ok(3306),
            revoke_ok(),
            egress_ok(3306),
        ]
    }

    #[tokio::test]
    async fn a_foreign_subnet_group_is_name_taken() {
        let ec2_rules = adopted_sgs();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &ec2_rules);
        let create = create_group();
        let found = subnet_group_found(VPC);
        let tags = group_tags("billing");
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&found, &tags, &create]);
        let e = handle(&ec2, &rds, testing::ctx()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
        assert!(e.to_string().contains("orders-db-subnets"), "{e}");
        assert_eq!(create.num_calls(), 0);
    }

    #[tokio::test]
    async fn our_subnet_group_in_another_vpc_is_not_reused() {
        let ec2_rules = adopted_sgs();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &ec2_rules);
        let found = subnet_group_found("vpc-0ffff00000000000f");
        let tags = group_tags("orders");
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&found, &tags]);
        let e = handle(&ec2, &rds, testing::ctx()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
        assert!(e.to_string().contains("vpc-0ffff00000000000f"), "{e}");
    }

    #[tokio::test]
    async fn a_foreign_security_group_is_name_taken_and_nothing_is_created() {
        let foreign = describe_sg("orders-resource-gateway", Some((GW_SG, "billing")));
        let create = create_sg("orders-resource-gateway", GW_SG);
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&foreign, &create]);
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, no_rules());
        let e = handle(&ec2, &rds, testing::ctx()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
        assert_eq!(create.num_calls(), 0);
    }

    #[tokio::test]
    async fn losing_the_subnet_group_create_race_adopts_the_winner() {
        let ec2_rules = adopted_sgs();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &ec2_rules);
        let describes = mock!(Rds::describe_db_subnet_groups)
            .sequence()
            .http_response(|| testing::rds_error(404, "DBSubnetGroupNotFoundFault", "not found"))
            .output(|| {
                DescribeDbSubnetGroupsOutput::builder()
                    .db_subnet_groups(subnet_group(VPC))
                    .build()
            })
            .build();
        let create = mock!(Rds::create_db_subnet_group).then_http_response(|| {
            testing::rds_error(400, "DBSubnetGroupAlreadyExists", "already exists")
        });
        let tags = group_tags("orders");
        let rds = mock_client!(
            aws_sdk_rds,
            RuleMode::MatchAny,
            [&describes, &create, &tags]
        );
        let out = handle(&ec2, &rds, testing::ctx()).await.unwrap();
        assert_eq!(
            out.db_subnet_group_name.as_deref(),
            Some("orders-db-subnets")
        );
        assert_eq!((create.num_calls(), describes.num_calls()), (1, 2));
    }

    #[tokio::test]
    async fn subnet_group_quota_maps_to_a_stable_name() {
        let ec2_rules = adopted_sgs();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &ec2_rules);
        let absent = subnet_group_absent();
        let create = mock!(Rds::create_db_subnet_group).then_http_response(|| {
            testing::rds_error(400, "DBSubnetGroupQuotaExceeded", "too many subnet groups")
        });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&absent, &create]);
        let e = handle(&ec2, &rds, testing::ctx()).await.unwrap_err();
        assert_eq!(e.name(), "Aws.QuotaExceeded");
        assert!(e.to_string().contains("rds:CreateDBSubnetGroup"), "{e}");
    }

    #[tokio::test]
    async fn a_denied_rule_fails_the_step_with_its_aws_name() {
        let denied = mock!(Ec2::authorize_security_group_ingress)
            .then_http_response(|| testing::ec2_error(403, "UnauthorizedOperation", "denied"));
        let ec2_rules = [
            describe_sg("orders-resource-gateway", Some((GW_SG, "orders"))),
            describe_sg("orders-database", Some((DB_SG, "orders"))),
            by_id(),
        ];
        let ec2 = mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            ec2_rules.iter().chain([&denied])
        );
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, no_rules());
        let e = handle(&ec2, &rds, testing::ctx()).await.unwrap_err();
        assert_eq!(e.name(), "Aws.AccessDenied");
    }
}
