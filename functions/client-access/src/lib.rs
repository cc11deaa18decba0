//! Step 9 (client side): a security group in each client VPC for the
//! applications that use the database, with egress on the DB port to the VPC
//! Lattice managed prefix list only. The recipe opened egress to 0.0.0.0/0,
//! which a new group already allows (aws-facts §2 #15).

use aws_sdk_ec2::types::Filter;
use aws_sdk_ec2::Client;
use shared::ec2::{converge_egress, ensure_security_group, tcp_prefix_list};
use shared::plan::{ClientAccessOut, VpcSecurityGroup};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "client-access";

/// What this step reads from the execution state; a section missing there fails at the
/// state boundary, naming it ([`shared::runtime::invoke_step`]).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The validated plan (ValidateInput).
    pub plan: shared::plan::Plan,
}

pub async fn handle(client: &Client, input: Input) -> Result<ClientAccessOut, StepError> {
    let plan = &input.plan;
    let prefix_list_id = lattice_prefix_list(client, &plan.region).await?;
    let tags = shared::tags::resource_tags(&plan.tags, &plan.name, COMPONENT);
    let mut clients = Vec::with_capacity(plan.client_vpcs.len());
    let mut rule_changes = Vec::new();
    for vpc in &plan.client_vpcs {
        let sg = ensure_security_group(
            client,
            &vpc.vpc_id,
            &plan.names.client_security_group,
            &format!("Clients of the {} database through VPC Lattice", plan.name),
            &tags,
            (&plan.name, COMPONENT),
        )
        .await?;
        // Egress only where the database is reachable: the Lattice link-local range (EC2's
        // default allow-all egress and a rule for a former port go).
        rule_changes.extend(
            converge_egress(
                client,
                &sg,
                vec![tcp_prefix_list(
                    plan.port,
                    &prefix_list_id,
                    "database through VPC Lattice",
                )],
            )
            .await?,
        );
        clients.push(VpcSecurityGroup {
            vpc_id: vpc.vpc_id.clone(),
            security_group_id: sg,
        });
    }
    Ok(ClientAccessOut {
        clients,
        prefix_list_id,
        rule_changes,
    })
}

/// The id of the AWS-managed prefix list `com.amazonaws.<region>.vpc-lattice`.
pub async fn lattice_prefix_list(client: &Client, region: &str) -> Result<String, StepError> {
    let name = format!("com.amazonaws.{region}.vpc-lattice");
    let out = client
        .describe_managed_prefix_lists()
        .filters(
            Filter::builder()
                .name("prefix-list-name")
                .values(&name)
                .build(),
        )
        .send()
        .await
        .aws("ec2:DescribeManagedPrefixLists")?;
    out.prefix_lists()
        .iter()
        .find(|p| p.prefix_list_name() == Some(name.as_str()))
        .and_then(|p| p.prefix_list_id())
        .map(str::to_string)
        .ok_or_else(|| StepError::NotFound {
            operation: "ec2:DescribeManagedPrefixLists".into(),
            message: format!(
                "no managed prefix list {name}: is VPC Lattice available in {region}?"
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::authorize_security_group_egress::AuthorizeSecurityGroupEgressOutput;
    use aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupOutput;
    use aws_sdk_ec2::operation::describe_managed_prefix_lists::DescribeManagedPrefixListsOutput;
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::operation::revoke_security_group_egress::RevokeSecurityGroupEgressOutput;
    use aws_sdk_ec2::types::ManagedPrefixList;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use shared::testing;

    /// The step as the state machine runs it: its typed input read from the execution state.
    async fn handle(
        client: &Client,
        state: testing::State,
    ) -> Result<shared::plan::ClientAccessOut, StepError> {
        super::handle(client, testing::typed(&state)).await
    }

    fn prefix_lists() -> DescribeManagedPrefixListsOutput {
        DescribeManagedPrefixListsOutput::builder()
            .prefix_lists(
                ManagedPrefixList::builder()
                    .prefix_list_id("pl-0123456789abcdef0")
                    .prefix_list_name("com.amazonaws.us-east-1.vpc-lattice")
                    .build(),
            )
            .build()
    }

    /// DescribeSecurityGroups by id: the new group as EC2 makes it, with the default egress.
    fn by_id() -> aws_smithy_mocks::Rule {
        mock!(Client::describe_security_groups)
            .match_requests(|r| r.filters().is_empty() && r.group_ids().len() == 1)
            .then_compute_output(|r| {
                DescribeSecurityGroupsOutput::builder()
                    .security_groups(
                        aws_sdk_ec2::types::SecurityGroup::builder()
                            .group_id(&r.group_ids()[0])
                            .ip_permissions_egress(
                                aws_sdk_ec2::types::IpPermission::builder()
                                    .ip_protocol("-1")
                                    .ip_ranges(
                                        aws_sdk_ec2::types::IpRange::builder()
                                            .cidr_ip("0.0.0.0/0")
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            })
    }

    #[tokio::test]
    async fn client_group_egress_goes_only_to_the_lattice_prefix_list_on_the_db_port() {
        let pl = mock!(Client::describe_managed_prefix_lists)
            .match_requests(|r| r.filters()[0].values() == ["com.amazonaws.us-east-1.vpc-lattice"])
            .then_output(prefix_lists);
        let none = mock!(Client::describe_security_groups)
            .match_requests(|r| !r.filters().is_empty())
            .then_output(|| DescribeSecurityGroupsOutput::builder().build());
        let by_id = by_id();
        let create = mock!(Client::create_security_group)
            .match_requests(|r| {
                r.vpc_id() == Some("vpc-0c10000000000000b")
                    && r.group_name() == Some("orders-db-client")
            })
            .then_output(|| {
                CreateSecurityGroupOutput::builder()
                    .group_id("sg-0c1c2c3d4e5f60003")
                    .build()
            });
        let revoke = mock!(Client::revoke_security_group_egress)
            .match_requests(|r| {
                r.group_id() == Some("sg-0c1c2c3d4e5f60003")
                    && r.ip_permissions()[0].ip_protocol() == Some("-1")
            })
            .then_output(|| {
                RevokeSecurityGroupEgressOutput::builder()
                    .r#return(true)
                    .build()
            });
        let egress = mock!(Client::authorize_security_group_egress)
            .match_requests(|r| {
                let p = &r.ip_permissions()[0];
                r.group_id() == Some("sg-0c1c2c3d4e5f60003")
                    && p.from_port() == Some(3306)
                    && p.to_port() == Some(3306)
                    && p.prefix_list_ids()[0].prefix_list_id() == Some("pl-0123456789abcdef0")
                    && p.ip_ranges().is_empty()
            })
            .then_output(|| {
                AuthorizeSecurityGroupEgressOutput::builder()
                    .r#return(true)
                    .build()
            });
        let client = mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            [&pl, &none, &by_id, &create, &revoke, &egress]
        );
        let out = handle(&client, testing::ctx()).await.unwrap();
        assert_eq!(out.prefix_list_id, "pl-0123456789abcdef0");
        assert_eq!(
            out.clients,
            vec![VpcSecurityGroup {
                vpc_id: "vpc-0c10000000000000b".into(),
                security_group_id: "sg-0c1c2c3d4e5f60003".into()
            }]
        );
        assert_eq!(
            (create.num_calls(), revoke.num_calls(), egress.num_calls()),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn a_rerun_converges_when_the_group_and_rules_exist() {
        let pl = mock!(Client::describe_managed_prefix_lists).then_output(prefix_lists);
        let by_id = by_id();
        let existing = mock!(Client::describe_security_groups)
            .match_requests(|r| !r.filters().is_empty())
            .then_output(|| {
                DescribeSecurityGroupsOutput::builder()
                    .security_groups(
                        aws_sdk_ec2::types::SecurityGroup::builder()
                            .group_id("sg-0c1c2c3d4e5f60003")
                            .set_tags(Some(testing::ec2_created_tags("orders", COMPONENT)))
                            .build(),
                    )
                    .build()
            });
        let create = mock!(Client::create_security_group)
            .then_output(|| CreateSecurityGroupOutput::builder().build());
        let revoke = mock!(Client::revoke_security_group_egress)
            .then_http_response(|| testing::ec2_error(400, "InvalidPermission.NotFound", "gone"));
        let egress = mock!(Client::authorize_security_group_egress)
            .then_http_response(|| testing::ec2_error(400, "InvalidPermission.Duplicate", "dup"));
        let client = mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            [&pl, &existing, &by_id, &create, &revoke, &egress]
        );
        let out = handle(&client, testing::ctx()).await.unwrap();
        assert_eq!(out.clients[0].security_group_id, "sg-0c1c2c3d4e5f60003");
        assert_eq!(create.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_region_without_the_lattice_prefix_list_is_reported() {
        let pl = mock!(Client::describe_managed_prefix_lists)
            .then_output(|| DescribeManagedPrefixListsOutput::builder().build());
        let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&pl]);
        let e = handle(&client, testing::ctx()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.NotFound");
        assert!(e
            .to_string()
            .contains("com.amazonaws.us-east-1.vpc-lattice"));
    }
}
