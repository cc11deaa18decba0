//! Step 6: associate the resource configuration with the service network, which
//! makes the database reachable from the associated client VPCs. The DNS name
//! clients use comes later, from the status poll of this association
//! (`dnsEntry`; not from the resource configuration — recipe bug #10).

use aws_sdk_vpclattice::types::{
    ServiceNetworkResourceAssociationStatus, ServiceNetworkResourceAssociationSummary,
};
use aws_sdk_vpclattice::Client;
use shared::plan::{client_token, IdArn, Plan};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "resource-association";

/// What this step reads from the execution state; a section missing there fails at the
/// state boundary, naming it ([`shared::runtime::invoke_step`]).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The validated plan (ValidateInput).
    pub plan: shared::plan::Plan,
    /// The service network and its VPC associations.
    pub service_network: shared::plan::ServiceNetworkOut,
    /// The resource configuration clients use.
    pub resource_configuration: shared::plan::IdArn,
}

pub async fn handle(client: &Client, input: Input) -> Result<IdArn, StepError> {
    let plan = &input.plan;
    let sn = &input.service_network.id;
    let rcfg = &input.resource_configuration.id;

    shared::reconcile::ensure(
        COMPONENT,
        find(client, sn, rcfg).await?,
        async || find(client, sn, rcfg).await,
        async |found| adopt(client, plan, &found).await,
        async || {
            let out = client
                .create_service_network_resource_association()
                .resource_configuration_identifier(rcfg)
                .service_network_identifier(sn)
                .set_tags(Some(shared::lattice::tag_map(
                    &plan.tags, &plan.name, COMPONENT,
                )))
                .client_token(client_token(&plan.name, COMPONENT, &format!("{sn}|{rcfg}")))
                .send()
                .await
                .aws("vpc-lattice:CreateServiceNetworkResourceAssociation")?;
            tracing::info!(
                association_id = out.id(),
                service_network_id = sn.as_str(),
                resource_configuration_id = rcfg.as_str(),
                status = ?out.status(),
                "associated the resource configuration with the service network"
            );
            shared::reconcile::created(
                "CreateServiceNetworkResourceAssociation",
                out.id(),
                out.arn(),
            )
        },
    )
    .await
}

async fn adopt(
    client: &Client,
    plan: &Plan,
    found: &ServiceNetworkResourceAssociationSummary,
) -> Result<IdArn, StepError> {
    let id = found.id().ok_or_else(|| {
        StepError::internal("ListServiceNetworkResourceAssociations returned an item without id")
    })?;
    let arn = found.arn().ok_or_else(|| {
        StepError::internal("ListServiceNetworkResourceAssociations returned an item without arn")
    })?;
    if found.status() == Some(&ServiceNetworkResourceAssociationStatus::DeleteInProgress) {
        return Err(StepError::Conflict {
            operation: "vpc-lattice:CreateServiceNetworkResourceAssociation".into(),
            message: format!(
                "the association {id} of resource configuration {} is being deleted; retry when that completes",
                found.resource_configuration_id().unwrap_or_default()
            ),
        });
    }
    // Associations have no name: describe it by what it joins.
    let what = format!(
        "{}→{}",
        plan.names.resource_configuration, plan.names.service_network
    );
    shared::lattice::adopt(
        client,
        "service network resource association",
        &what,
        arn,
        &plan.name,
        &shared::lattice::tag_map(&plan.tags, &plan.name, COMPONENT),
    )
    .await?;
    tracing::info!(association_id = id, status = ?found.status(), "adopted resource association");
    Ok(IdArn {
        id: id.into(),
        arn: arn.into(),
    })
}

/// The association of `rcfg` with `sn`, if any. The list is filtered by both,
/// but the resource configuration id is checked again: only an exact match is adopted.
pub async fn find(
    client: &Client,
    sn: &str,
    rcfg: &str,
) -> Result<Option<ServiceNetworkResourceAssociationSummary>, StepError> {
    let items = client
        .list_service_network_resource_associations()
        .service_network_identifier(sn)
        .resource_configuration_identifier(rcfg)
        .into_paginator()
        .items()
        .send();
    shared::pages::first(
        items,
        "vpc-lattice:ListServiceNetworkResourceAssociations",
        |a| a.resource_configuration_id() == Some(rcfg),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_vpclattice::operation::create_service_network_resource_association::CreateServiceNetworkResourceAssociationOutput;
    use aws_sdk_vpclattice::operation::list_service_network_resource_associations::ListServiceNetworkResourceAssociationsOutput;
    use aws_sdk_vpclattice::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use shared::testing;

    /// The step as the state machine runs it: its typed input read from the execution state.
    async fn handle(
        client: &Client,
        state: testing::State,
    ) -> Result<shared::plan::IdArn, StepError> {
        super::handle(client, testing::typed(&state)).await
    }

    const SN: &str = "sn-0123456789abcdefg";
    const RCFG: &str = "rcfg-0123456789abcdefg";
    const OTHER_RCFG: &str = "rcfg-0fffffffffffffff0";
    const SNRA: &str = "snra-0123456789abcdef0";
    const SNRA_ARN: &str = "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetworkresourceassociation/snra-0123456789abcdef0";
    const OTHER_SNRA: &str = "snra-0fffffffffffffff0";

    fn summary(
        id: &str,
        rcfg: &str,
        status: ServiceNetworkResourceAssociationStatus,
    ) -> ServiceNetworkResourceAssociationSummary {
        ServiceNetworkResourceAssociationSummary::builder()
            .id(id)
            .arn(format!(
                "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetworkresourceassociation/{id}"
            ))
            .resource_configuration_id(rcfg)
            .service_network_id(SN)
            .status(status)
            .build()
    }

    fn list(
        items: Vec<ServiceNetworkResourceAssociationSummary>,
    ) -> ListServiceNetworkResourceAssociationsOutput {
        ListServiceNetworkResourceAssociationsOutput::builder()
            .set_items(Some(items))
            .build()
            .unwrap()
    }

    fn tags(deployment: &str) -> ListTagsForResourceOutput {
        // What our create put there (a retry's view); another deployment's for a stranger.
        ListTagsForResourceOutput::builder()
            .set_tags(Some(testing::created_tags(deployment, COMPONENT)))
            .build()
    }

    fn created() -> CreateServiceNetworkResourceAssociationOutput {
        CreateServiceNetworkResourceAssociationOutput::builder()
            .id(SNRA)
            .arn(SNRA_ARN)
            .status(ServiceNetworkResourceAssociationStatus::CreateInProgress)
            .build()
    }

    #[tokio::test]
    async fn creates_the_association_with_exact_identifiers_and_tags() {
        let lists = mock!(Client::list_service_network_resource_associations)
            .match_requests(|r| {
                r.service_network_identifier() == Some(SN)
                    && r.resource_configuration_identifier() == Some(RCFG)
            })
            .then_output(|| list(vec![]));
        let create = mock!(Client::create_service_network_resource_association)
            .match_requests(|r| {
                r.resource_configuration_identifier() == Some(RCFG)
                    && r.service_network_identifier() == Some(SN)
                    && r.tags().is_some_and(|t| {
                        t.get(shared::tags::DEPLOYMENT).map(String::as_str) == Some("orders")
                            && t.get(shared::tags::COMPONENT).map(String::as_str) == Some(COMPONENT)
                            && t.get("team").map(String::as_str) == Some("payments")
                    })
                    && r.client_token().is_some_and(|t| {
                        t.starts_with("orders-resource-association-") && t.len() <= 64
                    })
            })
            .then_output(created);
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&lists, &create]);
        let out = handle(&client, testing::ctx_full()).await.unwrap();
        assert_eq!(
            out,
            IdArn {
                id: SNRA.into(),
                arn: SNRA_ARN.into()
            }
        );
        assert_eq!(create.num_calls(), 1);
        assert_eq!(lists.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_retry_adopts_the_association_without_creating() {
        let lists = mock!(Client::list_service_network_resource_associations).then_output(|| {
            list(vec![summary(
                SNRA,
                RCFG,
                ServiceNetworkResourceAssociationStatus::Active,
            )])
        });
        let tags = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_arn() == Some(SNRA_ARN))
            .then_output(|| tags("orders"));
        let create =
            mock!(Client::create_service_network_resource_association).then_output(created);
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&lists, &tags, &create]
        );
        let out = handle(&client, testing::ctx_full()).await.unwrap();
        assert_eq!((out.id.as_str(), out.arn.as_str()), (SNRA, SNRA_ARN));
        assert_eq!(create.num_calls(), 0);
        assert_eq!(tags.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_association_of_another_resource_configuration_is_not_adopted() {
        let lists = mock!(Client::list_service_network_resource_associations).then_output(|| {
            list(vec![summary(
                OTHER_SNRA,
                OTHER_RCFG,
                ServiceNetworkResourceAssociationStatus::Active,
            )])
        });
        let tags = mock!(Client::list_tags_for_resource).then_output(|| tags("orders"));
        let create =
            mock!(Client::create_service_network_resource_association).then_output(created);
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&lists, &tags, &create]
        );
        let out = handle(&client, testing::ctx_full()).await.unwrap();
        assert_eq!(out.id, SNRA);
        assert_eq!(create.num_calls(), 1);
        assert_eq!(tags.num_calls(), 0);
    }

    #[tokio::test]
    async fn losing_a_create_race_adopts_the_winner() {
        let lists = mock!(Client::list_service_network_resource_associations)
            .sequence()
            .output(|| list(vec![]))
            .output(|| {
                list(vec![summary(
                    SNRA,
                    RCFG,
                    ServiceNetworkResourceAssociationStatus::CreateInProgress,
                )])
            })
            .build();
        let create =
            mock!(Client::create_service_network_resource_association).then_http_response(|| {
                testing::lattice_error(409, "ConflictException", "association exists")
            });
        let tags = mock!(Client::list_tags_for_resource).then_output(|| tags("orders"));
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&lists, &create, &tags]
        );
        let out = handle(&client, testing::ctx_full()).await.unwrap();
        assert_eq!(out.id, SNRA);
        assert_eq!(create.num_calls(), 1);
        assert_eq!(lists.num_calls(), 2);
    }

    #[tokio::test]
    async fn an_association_being_deleted_is_a_retryable_conflict() {
        let lists = mock!(Client::list_service_network_resource_associations).then_output(|| {
            list(vec![summary(
                SNRA,
                RCFG,
                ServiceNetworkResourceAssociationStatus::DeleteInProgress,
            )])
        });
        let create =
            mock!(Client::create_service_network_resource_association).then_output(created);
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&lists, &create]);
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.Conflict");
        assert_eq!(create.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_association_not_tagged_ours_is_refused() {
        let lists = mock!(Client::list_service_network_resource_associations).then_output(|| {
            list(vec![summary(
                SNRA,
                RCFG,
                ServiceNetworkResourceAssociationStatus::Active,
            )])
        });
        let tags = mock!(Client::list_tags_for_resource).then_output(|| tags("someone-else"));
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&lists, &tags]);
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
    }

    #[tokio::test]
    async fn a_create_conflict_with_nothing_to_adopt_is_reported() {
        let lists =
            mock!(Client::list_service_network_resource_associations).then_output(|| list(vec![]));
        let create =
            mock!(Client::create_service_network_resource_association).then_http_response(|| {
                testing::lattice_error(409, "ConflictException", "rcfg is not active")
            });
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&lists, &create]);
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.Conflict");
        assert!(e
            .to_string()
            .contains("CreateServiceNetworkResourceAssociation"));
    }

    #[tokio::test]
    async fn pages_through_the_list() {
        let lists = mock!(Client::list_service_network_resource_associations)
            .sequence()
            .output(|| {
                ListServiceNetworkResourceAssociationsOutput::builder()
                    .set_items(Some(vec![]))
                    .next_token("p2")
                    .build()
                    .unwrap()
            })
            .output(|| {
                list(vec![summary(
                    SNRA,
                    RCFG,
                    ServiceNetworkResourceAssociationStatus::Active,
                )])
            })
            .build();
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&lists]);
        assert!(find(&client, SN, RCFG).await.unwrap().is_some());
        assert_eq!(lists.num_calls(), 2);
    }
}
