//! Step 7, the recipe's "IAM policy" step done right. Auth policies do not
//! apply to resource configurations and a resource policy is a RAM sharing
//! policy, not a traffic filter (aws-facts §1.6, §2 #5 #11). What does control
//! who reaches the database is the security group on each client VPC's
//! service-network association: it admits only the client group from step 9
//! and the sources the input names, on the DB port.

use aws_sdk_ec2::Client;
use shared::ec2::{converge_ingress, ensure_security_group, tcp_cidr, tcp_group};
use shared::plan::{AccessControlsOut, VpcSecurityGroup};
use shared::StepError;

pub const COMPONENT: &str = "access-controls";

/// What this step reads from the execution state; a section missing there fails at the
/// state boundary, naming it ([`shared::runtime::invoke_step`]).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The validated plan (ValidateInput).
    pub plan: shared::plan::Plan,
    /// The client-side security groups (ClientAccess).
    pub client_access: shared::plan::ClientAccessOut,
}

pub async fn handle(client: &Client, input: Input) -> Result<AccessControlsOut, StepError> {
    let plan = &input.plan;
    let clients = &input.client_access;
    let tags = shared::tags::resource_tags(&plan.tags, &plan.name, COMPONENT);
    let mut associations = Vec::with_capacity(plan.client_vpcs.len());
    let mut rule_changes = Vec::new();
    for vpc in &plan.client_vpcs {
        let client_sg = clients
            .clients
            .iter()
            .find(|c| c.vpc_id == vpc.vpc_id)
            .ok_or_else(|| {
                StepError::internal(format!("no client security group for {}", vpc.vpc_id))
            })?;
        let sg = ensure_security_group(
            client,
            &vpc.vpc_id,
            &plan.names.association_security_group,
            &format!(
                "VPC Lattice association of {}: who may reach the database",
                plan.name
            ),
            &tags,
            (&plan.name, COMPONENT),
        )
        .await?;
        // Exactly the client group and the sources the input names now: a source removed from
        // the input loses its rule (access revoked), one added gains it.
        let port = plan.port;
        let mut desired = vec![tcp_group(
            port,
            &client_sg.security_group_id,
            "database clients",
        )];
        desired.extend(
            vpc.allowed_security_group_ids
                .iter()
                .map(|source| tcp_group(port, source, "allowed by input")),
        );
        desired.extend(
            vpc.allowed_cidrs
                .iter()
                .map(|cidr| tcp_cidr(port, cidr, "allowed by input")),
        );
        rule_changes.extend(converge_ingress(client, &sg, desired).await?);
        associations.push(VpcSecurityGroup {
            vpc_id: vpc.vpc_id.clone(),
            security_group_id: sg,
        });
    }
    Ok(AccessControlsOut {
        associations,
        rule_changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::authorize_security_group_ingress::AuthorizeSecurityGroupIngressOutput;
    use aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupOutput;
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use shared::testing;
    use std::sync::{Arc, Mutex};

    /// The step as the state machine runs it: its typed input read from the execution state.
    async fn handle(
        client: &Client,
        state: testing::State,
    ) -> Result<shared::plan::AccessControlsOut, StepError> {
        super::handle(client, testing::typed(&state)).await
    }

    /// DescribeSecurityGroups by id: the association group with `ingress` (as EC2 describes it).
    fn group_with_ingress(
        ingress: Vec<aws_sdk_ec2::types::IpPermission>,
    ) -> aws_smithy_mocks::Rule {
        mock!(Client::describe_security_groups)
            .match_requests(|r| r.filters().is_empty() && r.group_ids().len() == 1)
            .then_compute_output(move |r| {
                DescribeSecurityGroupsOutput::builder()
                    .security_groups(
                        aws_sdk_ec2::types::SecurityGroup::builder()
                            .group_id(&r.group_ids()[0])
                            .set_ip_permissions(Some(ingress.clone()))
                            .build(),
                    )
                    .build()
            })
    }

    #[tokio::test]
    async fn a_source_removed_from_the_input_loses_its_rule_and_nothing_else_changes() {
        use shared::ec2::{tcp_cidr, tcp_group};
        let mut ctx = testing::ctx_full();
        ctx.access_controls = None;
        let vpc = &mut ctx.plan.as_mut().unwrap().client_vpcs[0];
        vpc.allowed_cidrs.clear();
        let existing = mock!(Client::describe_security_groups)
            .match_requests(|r| !r.filters().is_empty())
            .then_output(|| {
                DescribeSecurityGroupsOutput::builder()
                    .security_groups(
                        aws_sdk_ec2::types::SecurityGroup::builder()
                            .group_id("sg-0c1c2c3d4e5f60004")
                            .set_tags(Some(testing::ec2_created_tags("orders", COMPONENT)))
                            .build(),
                    )
                    .build()
            });
        // What the last run left: the client group, the named group and the CIDR now removed.
        let by_id = group_with_ingress(vec![
            tcp_group(3306, "sg-0c1c2c3d4e5f60003", "database clients"),
            tcp_group(3306, "sg-0abc0000000000001", "allowed by input"),
            tcp_cidr(3306, "10.1.0.0/16", "allowed by input"),
        ]);
        let revoke = mock!(Client::revoke_security_group_ingress)
            .match_requests(|r| {
                let [p] = r.ip_permissions() else {
                    return false;
                };
                r.group_id() == Some("sg-0c1c2c3d4e5f60004")
                    && p.ip_ranges().len() == 1
                    && p.ip_ranges()[0].cidr_ip() == Some("10.1.0.0/16")
                    && p.ip_ranges()[0].description() == Some("allowed by input")
                    && p.user_id_group_pairs().is_empty()
            })
            .then_output(|| {
                aws_sdk_ec2::operation::revoke_security_group_ingress::RevokeSecurityGroupIngressOutput::builder()
                    .r#return(true)
                    .build()
            });
        let client = mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            [&existing, &by_id, &revoke]
        );
        let out = handle(&client, ctx).await.unwrap();
        assert_eq!(revoke.num_calls(), 1);
        assert_eq!(
            out.rule_changes,
            vec!["sg-0c1c2c3d4e5f60004: revoked ingress tcp 3306 from 10.1.0.0/16"]
        );
    }

    #[tokio::test]
    async fn association_group_admits_exactly_the_client_group_and_the_named_sources() {
        let mut ctx = testing::ctx_full();
        ctx.access_controls = None;
        let none = mock!(Client::describe_security_groups)
            .match_requests(|r| !r.filters().is_empty())
            .then_output(|| DescribeSecurityGroupsOutput::builder().build());
        let by_id = group_with_ingress(vec![]);
        let create = mock!(Client::create_security_group)
            .match_requests(|r| {
                r.vpc_id() == Some("vpc-0c10000000000000b")
                    && r.group_name() == Some("orders-lattice-association")
            })
            .then_output(|| {
                CreateSecurityGroupOutput::builder()
                    .group_id("sg-0c1c2c3d4e5f60004")
                    .build()
            });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let ingress = mock!(Client::authorize_security_group_ingress)
            .match_requests(move |r| {
                let p = &r.ip_permissions()[0];
                let source = p
                    .user_id_group_pairs()
                    .first()
                    .and_then(|g| g.group_id())
                    .or_else(|| p.ip_ranges().first().and_then(|c| c.cidr_ip()))
                    .unwrap_or_default()
                    .to_string();
                log.lock().unwrap().push((
                    r.group_id().unwrap_or_default().to_string(),
                    p.from_port(),
                    p.to_port(),
                    source,
                ));
                true
            })
            .then_output(|| {
                AuthorizeSecurityGroupIngressOutput::builder()
                    .r#return(true)
                    .build()
            });
        let client = mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            [&none, &by_id, &create, &ingress]
        );
        let out = handle(&client, ctx).await.unwrap();
        assert_eq!(
            out.associations[0].security_group_id,
            "sg-0c1c2c3d4e5f60004"
        );
        let rules = seen.lock().unwrap().clone();
        let sg = "sg-0c1c2c3d4e5f60004".to_string();
        assert_eq!(
            rules,
            vec![
                (
                    sg.clone(),
                    Some(3306),
                    Some(3306),
                    "sg-0c1c2c3d4e5f60003".to_string()
                ),
                (
                    sg.clone(),
                    Some(3306),
                    Some(3306),
                    "sg-0abc0000000000001".to_string()
                ),
                (sg, Some(3306), Some(3306), "10.1.0.0/16".to_string()),
            ]
        );
    }

    #[tokio::test]
    async fn without_the_client_group_the_step_refuses_to_guess() {
        let mut ctx = testing::ctx_full();
        ctx.client_access.as_mut().unwrap().clients.clear();
        let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, []);
        assert_eq!(handle(&client, ctx).await.unwrap_err().name(), "Internal");
    }

    #[tokio::test]
    async fn a_foreign_group_with_our_name_is_not_adopted() {
        let foreign = mock!(Client::describe_security_groups).then_output(|| {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(
                    aws_sdk_ec2::types::SecurityGroup::builder()
                        .group_id("sg-0ffffffffffffffff")
                        .build(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&foreign]);
        assert_eq!(
            handle(&client, testing::ctx_full())
                .await
                .unwrap_err()
                .name(),
            "Resource.NameTaken"
        );
    }
}
