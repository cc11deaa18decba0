//! Step 4: the resource gateway in the database VPC, in one private subnet per
//! AZ (at least two), with the gateway security group from step 1.
//! Recipe differences: it used one subnet and no security group (aws-facts §2 #7).

use aws_sdk_vpclattice::types::{ResourceGatewayIpAddressType, ResourceGatewaySummary};
use aws_sdk_vpclattice::Client;
use shared::plan::{client_token, IdArn};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "resource-gateway";

/// What this step reads from the execution state; a section missing there fails at the
/// state boundary, naming it ([`shared::runtime::invoke_step`]).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The validated plan (ValidateInput).
    pub plan: shared::plan::Plan,
    /// The security groups and subnet group (step 1).
    pub db_network: shared::plan::DbNetworkOut,
}

pub async fn handle(client: &Client, input: Input) -> Result<IdArn, StepError> {
    let plan = &input.plan;
    let net = &input.db_network;
    let name = &plan.names.resource_gateway;
    if plan.gateway_subnet_ids.len() < 2 {
        return Err(StepError::internal(
            "the plan has fewer than two gateway subnets",
        ));
    }

    let params = format!(
        "{}|{}|{}",
        plan.database_vpc_id,
        plan.gateway_subnet_ids.join(","),
        net.gateway_security_group_id
    );
    shared::reconcile::ensure(
        COMPONENT,
        find(client, name).await?,
        async || find(client, name).await,
        async |found| adopt(client, plan, found).await,
        async || {
            let out = client
                .create_resource_gateway()
                .name(name)
                .vpc_identifier(&plan.database_vpc_id)
                .set_subnet_ids(Some(plan.gateway_subnet_ids.clone()))
                .security_group_ids(&net.gateway_security_group_id)
                .ip_address_type(ResourceGatewayIpAddressType::Ipv4)
                .set_tags(Some(shared::lattice::tag_map(
                    &plan.tags, &plan.name, COMPONENT,
                )))
                .client_token(client_token(&plan.name, COMPONENT, &params))
                .send()
                .await
                .aws("vpc-lattice:CreateResourceGateway")?;
            tracing::info!(gateway_id = out.id(), status = ?out.status(), "created resource gateway");
            shared::reconcile::created("CreateResourceGateway", out.id(), out.arn())
        },
    )
    .await
}

async fn adopt(
    client: &Client,
    plan: &shared::plan::Plan,
    found: ResourceGatewaySummary,
) -> Result<IdArn, StepError> {
    let (id, arn) = (
        found.id().unwrap_or_default(),
        found.arn().unwrap_or_default(),
    );
    shared::lattice::adopt(
        client,
        "resource gateway",
        &plan.names.resource_gateway,
        arn,
        &plan.name,
        &shared::lattice::tag_map(&plan.tags, &plan.name, COMPONENT),
    )
    .await?;
    if found.vpc_identifier() != Some(plan.database_vpc_id.as_str()) {
        return Err(StepError::Conflict {
            operation: "vpc-lattice:CreateResourceGateway".into(),
            message: format!(
                "resource gateway {id} of this deployment is in {:?}, not in the database VPC {}; run the teardown first",
                found.vpc_identifier(),
                plan.database_vpc_id
            ),
        });
    }
    Ok(IdArn {
        id: id.into(),
        arn: arn.into(),
    })
}

/// The gateway named `name`, if any.
pub async fn find(
    client: &Client,
    name: &str,
) -> Result<Option<ResourceGatewaySummary>, StepError> {
    shared::lattice::gateway_named(client, name).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_vpclattice::operation::create_resource_gateway::CreateResourceGatewayOutput;
    use aws_sdk_vpclattice::operation::list_resource_gateways::ListResourceGatewaysOutput;
    use aws_sdk_vpclattice::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_vpclattice::types::ResourceGatewayStatus;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use shared::testing;

    /// The step as the state machine runs it: its typed input read from the execution state.
    async fn handle(
        client: &Client,
        state: testing::State,
    ) -> Result<shared::plan::IdArn, StepError> {
        super::handle(client, testing::typed(&state)).await
    }

    const ID: &str = "rgw-0123456789abcdefg";
    const ARN: &str =
        "arn:aws:vpc-lattice:us-east-1:123456789012:resourcegateway/rgw-0123456789abcdefg";

    fn summary(vpc: &str) -> ResourceGatewaySummary {
        ResourceGatewaySummary::builder()
            .id(ID)
            .arn(ARN)
            .name("orders-rgw")
            .vpc_identifier(vpc)
            .status(ResourceGatewayStatus::Active)
            .build()
    }

    fn tags(deployment: &str) -> ListTagsForResourceOutput {
        // What our create put there (a retry's view); another deployment's for a stranger.
        ListTagsForResourceOutput::builder()
            .set_tags(Some(testing::created_tags(deployment, COMPONENT)))
            .build()
    }

    #[tokio::test]
    async fn creates_in_two_azs_with_the_gateway_sg_and_tags() {
        let ctx = testing::ctx_full();
        let list = mock!(Client::list_resource_gateways)
            .then_output(|| ListResourceGatewaysOutput::builder().build());
        let create = mock!(Client::create_resource_gateway)
            .match_requests(|r| {
                r.name() == Some("orders-rgw")
                    && r.vpc_identifier() == Some("vpc-0db0000000000000a")
                    && r.subnet_ids() == ["subnet-0a000000000000001", "subnet-0b000000000000002"]
                    && r.security_group_ids() == ["sg-0a1b2c3d4e5f60001"]
                    && r.ip_address_type() == Some(&ResourceGatewayIpAddressType::Ipv4)
                    && r.tags().is_some_and(|t| {
                        t.get(shared::tags::DEPLOYMENT).map(String::as_str) == Some("orders")
                            && t.get("team").map(String::as_str) == Some("payments")
                    })
                    && r.client_token()
                        .is_some_and(|t| t.starts_with("orders-resource-gateway-") && t.len() <= 64)
            })
            .then_output(|| {
                CreateResourceGatewayOutput::builder()
                    .id(ID)
                    .arn(ARN)
                    .status(ResourceGatewayStatus::CreateInProgress)
                    .build()
            });
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &create]);
        let out = handle(&client, ctx).await.unwrap();
        assert_eq!(out.id, ID);
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_retry_adopts_the_gateway_it_already_created() {
        let list = mock!(Client::list_resource_gateways).then_output(|| {
            ListResourceGatewaysOutput::builder()
                .items(summary("vpc-0db0000000000000a"))
                .build()
        });
        let tags = mock!(Client::list_tags_for_resource).then_output(|| tags("orders"));
        let create = mock!(Client::create_resource_gateway)
            .then_output(|| CreateResourceGatewayOutput::builder().build());
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list, &tags, &create]
        );
        let out = handle(&client, testing::ctx_full()).await.unwrap();
        assert_eq!((out.id.as_str(), out.arn.as_str()), (ID, ARN));
        assert_eq!(create.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_same_named_gateway_of_another_deployment_is_refused() {
        let list = mock!(Client::list_resource_gateways).then_output(|| {
            ListResourceGatewaysOutput::builder()
                .items(summary("vpc-0db0000000000000a"))
                .build()
        });
        let tags = mock!(Client::list_tags_for_resource).then_output(|| tags("someone-else"));
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &tags]);
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
    }

    #[tokio::test]
    async fn losing_a_create_race_adopts_the_winner() {
        let lists = mock!(Client::list_resource_gateways)
            .sequence()
            .output(|| ListResourceGatewaysOutput::builder().build())
            .output(|| {
                ListResourceGatewaysOutput::builder()
                    .items(summary("vpc-0db0000000000000a"))
                    .build()
            })
            .build();
        let create = mock!(Client::create_resource_gateway)
            .then_http_response(|| testing::lattice_error(409, "ConflictException", "name exists"));
        let tags = mock!(Client::list_tags_for_resource).then_output(|| tags("orders"));
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&lists, &create, &tags]
        );
        assert_eq!(handle(&client, testing::ctx_full()).await.unwrap().id, ID);
    }

    #[tokio::test]
    async fn our_gateway_in_another_vpc_is_a_conflict_not_silently_reused() {
        let list = mock!(Client::list_resource_gateways).then_output(|| {
            ListResourceGatewaysOutput::builder()
                .items(summary("vpc-0ffff00000000000f"))
                .build()
        });
        let tags = mock!(Client::list_tags_for_resource).then_output(|| tags("orders"));
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &tags]);
        assert_eq!(
            handle(&client, testing::ctx_full())
                .await
                .unwrap_err()
                .name(),
            "Resource.Conflict"
        );
    }

    #[tokio::test]
    async fn pages_through_the_list() {
        let lists = mock!(Client::list_resource_gateways)
            .sequence()
            .output(|| {
                ListResourceGatewaysOutput::builder()
                    .next_token("p2")
                    .build()
            })
            .output(|| {
                ListResourceGatewaysOutput::builder()
                    .items(summary("vpc-0db0000000000000a"))
                    .build()
            })
            .build();
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&lists]);
        assert!(find(&client, "orders-rgw").await.unwrap().is_some());
        assert_eq!(lists.num_calls(), 2);
    }
}
