//! Step 7, the recipe's "IAM policy" step done right. Auth policies do not
//! apply to resource configurations and a resource policy is a RAM sharing
//! policy, not a traffic filter (aws-facts §1.6, §2 #5 #11). What does control
//! who reaches the database is the security group on each client VPC's
//! service-network association: it admits only the client group from step 9
//! and the sources the input names, on the DB port.

use aws_sdk_ec2::Client;
use shared::ec2::{ensure_ingress, ensure_security_group, tcp_cidr, tcp_group};
use shared::plan::{AccessControlsOut, VpcSecurityGroup};
use shared::{Ctx, StepError};

pub const COMPONENT: &str = "access-controls";

pub async fn handle(client: &Client, ctx: Ctx) -> Result<AccessControlsOut, StepError> {
    let plan = ctx.plan()?;
    let clients = ctx.client_access()?;
    let tags = shared::tags::resource_tags(&plan.tags, &plan.name, COMPONENT);
    let mut associations = Vec::with_capacity(plan.client_vpcs.len());
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
            &plan.name,
        )
        .await?;
        let port = plan.port;
        ensure_ingress(
            client,
            &sg,
            tcp_group(port, &client_sg.security_group_id, "database clients"),
        )
        .await?;
        for source in &vpc.allowed_security_group_ids {
            ensure_ingress(client, &sg, tcp_group(port, source, "allowed by input")).await?;
        }
        for cidr in &vpc.allowed_cidrs {
            ensure_ingress(client, &sg, tcp_cidr(port, cidr, "allowed by input")).await?;
        }
        associations.push(VpcSecurityGroup {
            vpc_id: vpc.vpc_id.clone(),
            security_group_id: sg,
        });
    }
    Ok(AccessControlsOut { associations })
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

    #[tokio::test]
    async fn association_group_admits_exactly_the_client_group_and_the_named_sources() {
        let mut ctx = testing::ctx_full();
        ctx.access_controls = None;
        let none = mock!(Client::describe_security_groups)
            .then_output(|| DescribeSecurityGroupsOutput::builder().build());
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
        let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&none, &create, &ingress]);
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
