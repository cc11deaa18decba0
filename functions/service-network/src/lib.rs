//! Step 3: the service network, and one VPC association per client VPC carrying
//! that VPC's association security group (from the access-controls step).
//! Recipe differences (aws-facts §2): auth type NONE instead of AWS_IAM (#5);
//! only the client VPCs are associated, never the DB VPC, and every association
//! has a security group (#6).

use aws_sdk_vpclattice::types::{
    AuthType, ServiceNetworkSummary, ServiceNetworkVpcAssociationStatus,
    ServiceNetworkVpcAssociationSummary,
};
use aws_sdk_vpclattice::Client;
use shared::plan::{client_token, IdArn, Plan, ServiceNetworkOut, VpcAssociation};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "service-network";

/// What this step reads from the execution state; a section missing there fails at the
/// state boundary, naming it ([`shared::runtime::invoke_step`]).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The validated plan (ValidateInput).
    pub plan: shared::plan::Plan,
    /// The association security groups (AccessControls).
    pub access_controls: shared::plan::AccessControlsOut,
}

pub async fn handle(client: &Client, input: Input) -> Result<ServiceNetworkOut, StepError> {
    let plan = &input.plan;
    let controls = &input.access_controls;

    // Resolve every association SG before creating anything, so a broken state
    // fails without leaving half the work done.
    let mut wanted = Vec::with_capacity(plan.client_vpcs.len());
    for (i, c) in plan.client_vpcs.iter().enumerate() {
        if c.vpc_id == plan.database_vpc_id {
            // validate-input rejects this; never consume the DB VPC's single
            // association slot for nothing (aws-facts §2 #6).
            return Err(StepError::invalid(
                format!("clientVpcs[{i}]"),
                format!(
                    "{} is the database VPC; it must not be associated",
                    c.vpc_id
                ),
            ));
        }
        let sg = controls
            .associations
            .iter()
            .find(|a| a.vpc_id == c.vpc_id)
            .map(|a| a.security_group_id.as_str())
            .ok_or_else(|| {
                StepError::internal(format!(
                    "accessControls has no association security group for client VPC {}",
                    c.vpc_id
                ))
            })?;
        wanted.push((i, c.vpc_id.as_str(), sg));
    }

    let sn = ensure_service_network(client, plan).await?;
    let mut vpc_associations = Vec::with_capacity(wanted.len());
    for (i, vpc, sg) in wanted {
        vpc_associations.push(ensure_vpc_association(client, plan, &sn, i, vpc, sg).await?);
    }
    Ok(ServiceNetworkOut {
        id: sn.id,
        arn: sn.arn,
        vpc_associations,
    })
}

// ---- the service network ----

async fn ensure_service_network(client: &Client, plan: &Plan) -> Result<IdArn, StepError> {
    let name = &plan.names.service_network;
    shared::reconcile::ensure(
        COMPONENT,
        find(client, name).await?,
        async || find(client, name).await,
        async |found| adopt_service_network(client, plan, &found).await,
        async || {
            let out = client
                .create_service_network()
                .name(name)
                // NONE, not AWS_IAM: auth policies do not apply to resource
                // configurations (aws-facts §1.6, recipe bug #5), so IAM auth would
                // only suggest a control that does not exist. Access is controlled by
                // the security groups on the VPC associations and the resource gateway.
                .auth_type(AuthType::None)
                .set_tags(Some(shared::lattice::tag_map(
                    &plan.tags, &plan.name, COMPONENT,
                )))
                .client_token(client_token(&plan.name, COMPONENT, &format!("{name}|NONE")))
                .send()
                .await
                .aws("vpc-lattice:CreateServiceNetwork")?;
            tracing::info!(service_network_id = out.id(), "created service network");
            shared::reconcile::created("CreateServiceNetwork", out.id(), out.arn())
        },
    )
    .await
}

async fn adopt_service_network(
    client: &Client,
    plan: &Plan,
    found: &ServiceNetworkSummary,
) -> Result<IdArn, StepError> {
    let id = found
        .id()
        .ok_or_else(|| StepError::internal("ListServiceNetworks returned an item without id"))?;
    let arn = found
        .arn()
        .ok_or_else(|| StepError::internal("ListServiceNetworks returned an item without arn"))?;
    shared::lattice::adopt(
        client,
        "service network",
        &plan.names.service_network,
        arn,
        &plan.name,
        &shared::lattice::tag_map(&plan.tags, &plan.name, COMPONENT),
    )
    .await?;
    Ok(IdArn {
        id: id.into(),
        arn: arn.into(),
    })
}

/// The service network named `name`, if any.
pub async fn find(client: &Client, name: &str) -> Result<Option<ServiceNetworkSummary>, StepError> {
    shared::lattice::service_network_named(client, name).await
}

// ---- the VPC associations ----

async fn ensure_vpc_association(
    client: &Client,
    plan: &Plan,
    sn: &IdArn,
    index: usize,
    vpc: &str,
    sg: &str,
) -> Result<VpcAssociation, StepError> {
    let params = format!("{}|{vpc}|{sg}", sn.id);
    // A conflict: a concurrent attempt associated it first, or the VPC joined another network
    // meanwhile; the second look says which.
    shared::reconcile::ensure(
        COMPONENT,
        existing_association(client, plan, sn, index, vpc, sg).await?,
        async || existing_association(client, plan, sn, index, vpc, sg).await,
        async |found| Ok(found),
        async || {
            let out = client
                .create_service_network_vpc_association()
                .service_network_identifier(&sn.id)
                .vpc_identifier(vpc)
                .security_group_ids(sg)
                .set_tags(Some(shared::lattice::tag_map(
                    &plan.tags, &plan.name, COMPONENT,
                )))
                .client_token(client_token(&plan.name, COMPONENT, &params))
                .send()
                .await
                .aws("vpc-lattice:CreateServiceNetworkVpcAssociation")?;
            tracing::info!(
                association_id = out.id(),
                vpc_id = vpc,
                security_group_id = sg,
                status = ?out.status(),
                "associated client VPC with the service network"
            );
            let IdArn { id, arn } = shared::reconcile::created(
                "CreateServiceNetworkVpcAssociation",
                out.id(),
                out.arn(),
            )?;
            Ok(VpcAssociation {
                vpc_id: vpc.into(),
                id,
                arn,
            })
        },
    )
    .await
}

/// The VPC's association with our service network, brought to the desired
/// security groups; `None` if the VPC has no association; an error if it is
/// associated with another service network (a VPC joins only one).
async fn existing_association(
    client: &Client,
    plan: &Plan,
    sn: &IdArn,
    index: usize,
    vpc: &str,
    sg: &str,
) -> Result<Option<VpcAssociation>, StepError> {
    let all = list_vpc_associations(client, vpc).await?;
    let is_ours = |a: &ServiceNetworkVpcAssociationSummary| {
        a.service_network_id() == Some(sn.id.as_str())
            || a.service_network_arn() == Some(sn.arn.as_str())
    };
    if let Some(ours) = all.iter().find(|a| is_ours(a)) {
        return adopt_vpc_association(client, plan, ours, vpc, sg)
            .await
            .map(Some);
    }
    let Some(other) = all.first() else {
        return Ok(None);
    };
    let other_sn = other
        .service_network_id()
        .or(other.service_network_arn())
        .unwrap_or("(unknown)");
    if other.status() == Some(&ServiceNetworkVpcAssociationStatus::DeleteInProgress) {
        // It is going away; a later retry can associate the VPC with ours.
        return Err(StepError::Conflict {
            operation: "vpc-lattice:CreateServiceNetworkVpcAssociation".into(),
            message: format!(
                "VPC {vpc} is being disassociated from service network {other_sn}; retry when that completes"
            ),
        });
    }
    Err(StepError::invalid(
        format!("clientVpcs[{index}]"),
        format!(
            "VPC {vpc} is already associated with service network {other_sn}; a VPC joins only one \
             service network through an association. Remove that association, or connect this VPC \
             with a service-network VPC endpoint instead"
        ),
    ))
}

async fn adopt_vpc_association(
    client: &Client,
    plan: &Plan,
    found: &ServiceNetworkVpcAssociationSummary,
    vpc: &str,
    sg: &str,
) -> Result<VpcAssociation, StepError> {
    let id = found.id().ok_or_else(|| {
        StepError::internal("ListServiceNetworkVpcAssociations returned an item without id")
    })?;
    let arn = found.arn().ok_or_else(|| {
        StepError::internal("ListServiceNetworkVpcAssociations returned an item without arn")
    })?;
    if found.status() == Some(&ServiceNetworkVpcAssociationStatus::DeleteInProgress) {
        return Err(StepError::Conflict {
            operation: "vpc-lattice:CreateServiceNetworkVpcAssociation".into(),
            message: format!(
                "the association {id} of VPC {vpc} is being deleted; retry when that completes"
            ),
        });
    }
    // The list summary carries no security groups: read them from the association.
    let current = client
        .get_service_network_vpc_association()
        .service_network_vpc_association_identifier(id)
        .send()
        .await
        .aws("vpc-lattice:GetServiceNetworkVpcAssociation")?;
    if current.security_group_ids() != [sg] {
        tracing::info!(
            association_id = id,
            current = ?current.security_group_ids(),
            desired = sg,
            "replacing the association's security groups"
        );
        client
            .update_service_network_vpc_association()
            .service_network_vpc_association_identifier(id)
            .security_group_ids(sg)
            .send()
            .await
            .aws("vpc-lattice:UpdateServiceNetworkVpcAssociation")?;
    }
    let desired = shared::lattice::tag_map(&plan.tags, &plan.name, COMPONENT);
    shared::lattice::converge_tags_if_ours(client, arn, &plan.name, &desired).await?;
    tracing::info!(association_id = id, vpc_id = vpc, status = ?found.status(), "adopted VPC association");
    Ok(VpcAssociation {
        vpc_id: vpc.into(),
        id: id.into(),
        arn: arn.into(),
    })
}

async fn list_vpc_associations(
    client: &Client,
    vpc: &str,
) -> Result<Vec<ServiceNetworkVpcAssociationSummary>, StepError> {
    let items = client
        .list_service_network_vpc_associations()
        .vpc_identifier(vpc)
        .into_paginator()
        .items()
        .send();
    shared::pages::all(items, "vpc-lattice:ListServiceNetworkVpcAssociations").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_vpclattice::operation::create_service_network::CreateServiceNetworkOutput;
    use aws_sdk_vpclattice::operation::create_service_network_vpc_association::CreateServiceNetworkVpcAssociationOutput;
    use aws_sdk_vpclattice::operation::get_service_network_vpc_association::GetServiceNetworkVpcAssociationOutput;
    use aws_sdk_vpclattice::operation::list_service_network_vpc_associations::ListServiceNetworkVpcAssociationsOutput;
    use aws_sdk_vpclattice::operation::list_service_networks::ListServiceNetworksOutput;
    use aws_sdk_vpclattice::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_vpclattice::operation::tag_resource::TagResourceOutput;
    use aws_sdk_vpclattice::operation::update_service_network_vpc_association::UpdateServiceNetworkVpcAssociationOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use shared::plan::{PlannedClientVpc, VpcSecurityGroup};
    use shared::testing;

    /// The step as the state machine runs it: its typed input read from the execution state.
    async fn handle(
        client: &Client,
        state: testing::State,
    ) -> Result<shared::plan::ServiceNetworkOut, StepError> {
        super::handle(client, testing::typed(&state)).await
    }

    const SN_ID: &str = "sn-0123456789abcdefg";
    const SN_ARN: &str =
        "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetwork/sn-0123456789abcdefg";
    const OTHER_SN: &str = "sn-0fffffffffffffff0";
    const DB_VPC: &str = "vpc-0db0000000000000a";
    const VPC_A: &str = "vpc-0c10000000000000b";
    const SG_A: &str = "sg-0c1c2c3d4e5f60004";
    const VPC_B: &str = "vpc-0c20000000000000c";
    const SG_B: &str = "sg-0c2c2c3d4e5f60005";
    const SNVA_A: &str = "snva-0aaaaaaaaaaaaaaaa";

    fn snva_arn(id: &str) -> String {
        format!("arn:aws:vpc-lattice:us-east-1:123456789012:servicenetworkvpcassociation/{id}")
    }

    fn sn_list(items: Vec<ServiceNetworkSummary>) -> ListServiceNetworksOutput {
        ListServiceNetworksOutput::builder()
            .set_items(Some(items))
            .build()
            .unwrap()
    }

    fn our_sn() -> ServiceNetworkSummary {
        ServiceNetworkSummary::builder()
            .id(SN_ID)
            .arn(SN_ARN)
            .name("orders-sn")
            .build()
    }

    fn assoc_list(
        items: Vec<ServiceNetworkVpcAssociationSummary>,
    ) -> ListServiceNetworkVpcAssociationsOutput {
        ListServiceNetworkVpcAssociationsOutput::builder()
            .set_items(Some(items))
            .build()
            .unwrap()
    }

    fn assoc(
        sn: &str,
        vpc: &str,
        status: ServiceNetworkVpcAssociationStatus,
    ) -> ServiceNetworkVpcAssociationSummary {
        ServiceNetworkVpcAssociationSummary::builder()
            .id(SNVA_A)
            .arn(snva_arn(SNVA_A))
            .service_network_id(sn)
            .vpc_id(vpc)
            .status(status)
            .build()
    }

    fn tags(deployment: &str) -> ListTagsForResourceOutput {
        // What our create put there (a retry's view); another deployment's for a stranger.
        ListTagsForResourceOutput::builder()
            .set_tags(Some(testing::created_tags(deployment, COMPONENT)))
            .build()
    }

    fn has_our_tags(t: Option<&std::collections::HashMap<String, String>>) -> bool {
        t.is_some_and(|t| {
            t.get(shared::tags::DEPLOYMENT).map(String::as_str) == Some("orders")
                && t.get(shared::tags::COMPONENT).map(String::as_str) == Some(COMPONENT)
                && t.get("team").map(String::as_str) == Some("payments")
        })
    }

    /// Two client VPCs; the access-controls list is in the opposite order, so
    /// SGs must be matched by VPC, not by position.
    fn two_client_ctx() -> testing::State {
        let mut ctx = testing::ctx_full();
        let plan = ctx.plan.as_mut().unwrap();
        plan.client_vpcs.push(PlannedClientVpc {
            vpc_id: VPC_B.into(),
            allowed_security_group_ids: vec![],
            allowed_cidrs: vec!["10.2.0.0/16".into()],
        });
        ctx.access_controls.as_mut().unwrap().associations.insert(
            0,
            VpcSecurityGroup {
                vpc_id: VPC_B.into(),
                security_group_id: SG_B.into(),
            },
        );
        ctx
    }

    #[tokio::test]
    async fn creates_an_auth_none_network_and_associates_only_the_client_vpcs() {
        let list_sn = mock!(Client::list_service_networks).then_output(|| sn_list(vec![]));
        let create_sn = mock!(Client::create_service_network)
            .match_requests(|r| {
                r.name() == Some("orders-sn")
                    && r.auth_type() == Some(&AuthType::None)
                    && has_our_tags(r.tags())
                    && r.client_token()
                        .is_some_and(|t| t.starts_with("orders-service-network-") && t.len() <= 64)
            })
            .then_output(|| {
                CreateServiceNetworkOutput::builder()
                    .id(SN_ID)
                    .arn(SN_ARN)
                    .name("orders-sn")
                    .auth_type(AuthType::None)
                    .build()
            });
        let list_assoc = mock!(Client::list_service_network_vpc_associations)
            .match_requests(|r| {
                matches!(r.vpc_identifier(), Some(VPC_A) | Some(VPC_B))
                    && r.service_network_identifier().is_none()
            })
            .then_output(|| assoc_list(vec![]));
        let create_a = mock!(Client::create_service_network_vpc_association)
            .match_requests(|r| {
                r.vpc_identifier() == Some(VPC_A)
                    && r.service_network_identifier() == Some(SN_ID)
                    && r.security_group_ids() == [SG_A]
                    && has_our_tags(r.tags())
                    && r.client_token().is_some()
            })
            .then_output(|| {
                CreateServiceNetworkVpcAssociationOutput::builder()
                    .id("snva-0aaaaaaaaaaaaaaaa")
                    .arn(snva_arn("snva-0aaaaaaaaaaaaaaaa"))
                    .status(ServiceNetworkVpcAssociationStatus::CreateInProgress)
                    .build()
            });
        let create_b = mock!(Client::create_service_network_vpc_association)
            .match_requests(|r| {
                r.vpc_identifier() == Some(VPC_B)
                    && r.service_network_identifier() == Some(SN_ID)
                    && r.security_group_ids() == [SG_B]
            })
            .then_output(|| {
                CreateServiceNetworkVpcAssociationOutput::builder()
                    .id("snva-0bbbbbbbbbbbbbbbb")
                    .arn(snva_arn("snva-0bbbbbbbbbbbbbbbb"))
                    .build()
            });
        // Anything else (the DB VPC, a wrong SG) lands here.
        let create_other = mock!(Client::create_service_network_vpc_association)
            .then_output(|| CreateServiceNetworkVpcAssociationOutput::builder().build());
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [
                &list_sn,
                &create_sn,
                &list_assoc,
                &create_a,
                &create_b,
                &create_other
            ]
        );
        let out = handle(&client, two_client_ctx()).await.unwrap();

        assert_eq!((out.id.as_str(), out.arn.as_str()), (SN_ID, SN_ARN));
        assert_eq!(create_sn.num_calls(), 1);
        assert_eq!(create_a.num_calls(), 1);
        assert_eq!(create_b.num_calls(), 1);
        assert_eq!(create_other.num_calls(), 0, "no association for {DB_VPC}");
        assert_eq!(list_assoc.num_calls(), 2);
        let got: Vec<_> = out
            .vpc_associations
            .iter()
            .map(|a| (a.vpc_id.as_str(), a.id.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (VPC_A, "snva-0aaaaaaaaaaaaaaaa"),
                (VPC_B, "snva-0bbbbbbbbbbbbbbbb")
            ]
        );
    }

    #[tokio::test]
    async fn a_retry_adopts_the_network_and_association_without_creating() {
        let list_sn = mock!(Client::list_service_networks).then_output(|| sn_list(vec![our_sn()]));
        let tags = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_arn() == Some(SN_ARN))
            .then_output(|| tags("orders"));
        let list_assoc = mock!(Client::list_service_network_vpc_associations).then_output(|| {
            assoc_list(vec![assoc(
                SN_ID,
                VPC_A,
                ServiceNetworkVpcAssociationStatus::Active,
            )])
        });
        let get = mock!(Client::get_service_network_vpc_association)
            .match_requests(|r| r.service_network_vpc_association_identifier() == Some(SNVA_A))
            .then_output(|| {
                GetServiceNetworkVpcAssociationOutput::builder()
                    .id(SNVA_A)
                    .security_group_ids(SG_A)
                    .build()
            });
        // The association is ours, but its user tag drifted: the input's value comes back.
        let assoc_tags = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_arn() == Some(snva_arn(SNVA_A).as_str()))
            .then_output(|| {
                let mut t = testing::created_tags("orders", COMPONENT);
                t.insert("team".into(), "billing".into());
                ListTagsForResourceOutput::builder()
                    .set_tags(Some(t))
                    .build()
            });
        let retag = mock!(Client::tag_resource)
            .match_requests(|r| {
                r.resource_arn() == Some(snva_arn(SNVA_A).as_str())
                    && r.tags().is_some_and(|t| {
                        t.len() == 1 && t.get("team").map(String::as_str) == Some("payments")
                    })
            })
            .then_output(|| TagResourceOutput::builder().build());
        let create_sn = mock!(Client::create_service_network)
            .then_output(|| CreateServiceNetworkOutput::builder().build());
        let create_assoc = mock!(Client::create_service_network_vpc_association)
            .then_output(|| CreateServiceNetworkVpcAssociationOutput::builder().build());
        let update = mock!(Client::update_service_network_vpc_association)
            .then_output(|| UpdateServiceNetworkVpcAssociationOutput::builder().build());
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [
                &list_sn,
                &tags,
                &assoc_tags,
                &retag,
                &list_assoc,
                &get,
                &create_sn,
                &create_assoc,
                &update
            ]
        );
        let out = handle(&client, testing::ctx_full()).await.unwrap();
        assert_eq!(retag.num_calls(), 1, "the association's user tags converge");
        assert_eq!(
            out,
            ServiceNetworkOut {
                id: SN_ID.into(),
                arn: SN_ARN.into(),
                vpc_associations: vec![VpcAssociation {
                    vpc_id: VPC_A.into(),
                    id: SNVA_A.into(),
                    arn: snva_arn(SNVA_A),
                }],
            }
        );
        assert_eq!(create_sn.num_calls(), 0);
        assert_eq!(create_assoc.num_calls(), 0);
        assert_eq!(update.num_calls(), 0);
        assert_eq!(get.num_calls(), 1);
    }

    #[tokio::test]
    async fn security_group_drift_on_an_adopted_association_is_corrected() {
        let list_sn = mock!(Client::list_service_networks).then_output(|| sn_list(vec![our_sn()]));
        let tags = mock!(Client::list_tags_for_resource).then_output(|| tags("orders"));
        let list_assoc = mock!(Client::list_service_network_vpc_associations).then_output(|| {
            assoc_list(vec![assoc(
                SN_ID,
                VPC_A,
                ServiceNetworkVpcAssociationStatus::Active,
            )])
        });
        let get = mock!(Client::get_service_network_vpc_association).then_output(|| {
            GetServiceNetworkVpcAssociationOutput::builder()
                .id(SNVA_A)
                .security_group_ids("sg-0dddddddddddddddd")
                .security_group_ids(SG_A)
                .build()
        });
        let update = mock!(Client::update_service_network_vpc_association)
            .match_requests(|r| {
                r.service_network_vpc_association_identifier() == Some(SNVA_A)
                    && r.security_group_ids() == [SG_A]
            })
            .then_output(|| {
                UpdateServiceNetworkVpcAssociationOutput::builder()
                    .id(SNVA_A)
                    .status(ServiceNetworkVpcAssociationStatus::UpdateInProgress)
                    .build()
            });
        let create_assoc = mock!(Client::create_service_network_vpc_association)
            .then_output(|| CreateServiceNetworkVpcAssociationOutput::builder().build());
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list_sn, &tags, &list_assoc, &get, &update, &create_assoc]
        );
        let out = handle(&client, testing::ctx_full()).await.unwrap();
        assert_eq!(out.vpc_associations[0].id, SNVA_A);
        assert_eq!(update.num_calls(), 1);
        assert_eq!(create_assoc.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_vpc_associated_with_another_network_is_invalid_input() {
        let list_sn = mock!(Client::list_service_networks).then_output(|| sn_list(vec![our_sn()]));
        let tags = mock!(Client::list_tags_for_resource).then_output(|| tags("orders"));
        let list_assoc = mock!(Client::list_service_network_vpc_associations).then_output(|| {
            assoc_list(vec![assoc(
                OTHER_SN,
                VPC_A,
                ServiceNetworkVpcAssociationStatus::Active,
            )])
        });
        let create_assoc = mock!(Client::create_service_network_vpc_association)
            .then_output(|| CreateServiceNetworkVpcAssociationOutput::builder().build());
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list_sn, &tags, &list_assoc, &create_assoc]
        );
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Input.Invalid");
        match &e {
            StepError::InvalidInput { field, message } => {
                assert_eq!(field, "clientVpcs[0]");
                assert!(message.contains(OTHER_SN), "{message}");
                assert!(message.contains("only one service network"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(create_assoc.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_association_being_deleted_is_a_retryable_conflict() {
        let list_sn = mock!(Client::list_service_networks).then_output(|| sn_list(vec![our_sn()]));
        let tags = mock!(Client::list_tags_for_resource).then_output(|| tags("orders"));
        let list_assoc = mock!(Client::list_service_network_vpc_associations).then_output(|| {
            assoc_list(vec![assoc(
                SN_ID,
                VPC_A,
                ServiceNetworkVpcAssociationStatus::DeleteInProgress,
            )])
        });
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list_sn, &tags, &list_assoc]
        );
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.Conflict");
    }

    #[tokio::test]
    async fn a_same_named_network_of_another_deployment_is_refused() {
        let list_sn = mock!(Client::list_service_networks).then_output(|| sn_list(vec![our_sn()]));
        let tags = mock!(Client::list_tags_for_resource).then_output(|| tags("someone-else"));
        let list_assoc =
            mock!(Client::list_service_network_vpc_associations).then_output(|| assoc_list(vec![]));
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list_sn, &tags, &list_assoc]
        );
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
        assert!(e.to_string().contains("orders-sn"));
        assert_eq!(list_assoc.num_calls(), 0);
    }

    #[tokio::test]
    async fn losing_the_network_create_race_adopts_the_winner() {
        let list_sn = mock!(Client::list_service_networks)
            .sequence()
            .output(|| sn_list(vec![]))
            .output(|| sn_list(vec![our_sn()]))
            .build();
        let create_sn = mock!(Client::create_service_network)
            .then_http_response(|| testing::lattice_error(409, "ConflictException", "name exists"));
        let tags = mock!(Client::list_tags_for_resource).then_output(|| tags("orders"));
        let list_assoc =
            mock!(Client::list_service_network_vpc_associations).then_output(|| assoc_list(vec![]));
        let create_assoc = mock!(Client::create_service_network_vpc_association)
            .match_requests(|r| r.service_network_identifier() == Some(SN_ID))
            .then_output(|| {
                CreateServiceNetworkVpcAssociationOutput::builder()
                    .id(SNVA_A)
                    .arn(snva_arn(SNVA_A))
                    .build()
            });
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list_sn, &create_sn, &tags, &list_assoc, &create_assoc]
        );
        let out = handle(&client, testing::ctx_full()).await.unwrap();
        assert_eq!(out.id, SN_ID);
        assert_eq!(create_sn.num_calls(), 1);
        assert_eq!(list_sn.num_calls(), 2);
    }

    #[tokio::test]
    async fn throttling_maps_to_the_stable_name() {
        let list_sn = mock!(Client::list_service_networks).then_http_response(|| {
            testing::lattice_error(429, "ThrottlingException", "Rate exceeded")
        });
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list_sn]);
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Aws.Throttled");
        assert!(e.to_string().contains("ListServiceNetworks"));
    }

    #[tokio::test]
    async fn a_missing_association_sg_fails_before_creating_anything() {
        let mut ctx = testing::ctx_full();
        ctx.access_controls.as_mut().unwrap().associations.clear();
        let list_sn = mock!(Client::list_service_networks).then_output(|| sn_list(vec![]));
        let create_sn = mock!(Client::create_service_network)
            .then_output(|| CreateServiceNetworkOutput::builder().build());
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list_sn, &create_sn]
        );
        let e = handle(&client, ctx).await.unwrap_err();
        assert_eq!(e.name(), "Internal");
        assert!(e.to_string().contains(VPC_A));
        assert_eq!(list_sn.num_calls() + create_sn.num_calls(), 0);
    }

    #[tokio::test]
    async fn pages_through_the_network_list() {
        let list_sn = mock!(Client::list_service_networks)
            .sequence()
            .output(|| {
                ListServiceNetworksOutput::builder()
                    .set_items(Some(vec![ServiceNetworkSummary::builder()
                        .id("sn-0eeeeeeeeeeeeeeee")
                        .name("billing-sn")
                        .build()]))
                    .next_token("p2")
                    .build()
                    .unwrap()
            })
            .output(|| sn_list(vec![our_sn()]))
            .build();
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list_sn]);
        let found = find(&client, "orders-sn").await.unwrap().unwrap();
        assert_eq!(found.id(), Some(SN_ID));
        assert_eq!(list_sn.num_calls(), 2);
    }

    #[tokio::test]
    async fn the_database_vpc_is_never_associated() {
        let mut ctx = testing::ctx_full();
        ctx.plan.as_mut().unwrap().client_vpcs[0].vpc_id = DB_VPC.into();
        ctx.access_controls.as_mut().unwrap().associations[0].vpc_id = DB_VPC.into();
        let list_sn = mock!(Client::list_service_networks).then_output(|| sn_list(vec![]));
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list_sn]);
        let e = handle(&client, ctx).await.unwrap_err();
        assert!(
            matches!(&e, StepError::InvalidInput { field, .. } if field == "clientVpcs[0]"),
            "{e:?}"
        );
        assert_eq!(list_sn.num_calls(), 0);
    }
}
