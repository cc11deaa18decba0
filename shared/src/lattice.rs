//! VPC Lattice helpers: our tags as the SDK wants them, and the ownership
//! check that decides between adopting a same-named resource and refusing it.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_vpclattice::types::{
    ResourceConfigurationType, ResourceGatewaySummary, ServiceNetworkSummary,
};
use aws_sdk_vpclattice::Client;
use aws_smithy_async::future::pagination_stream::PaginationStream;

use crate::error::{error_code, SdkResultExt, StepError};
use crate::plan::Names;
use crate::tags;

pub fn tag_map(
    user: &BTreeMap<String, String>,
    deployment: &str,
    component: &str,
) -> HashMap<String, String> {
    tags::resource_tags(user, deployment, component)
        .into_iter()
        .collect()
}

/// Was the resource at `arn` created by `deployment`?
pub async fn is_ours(client: &Client, arn: &str, deployment: &str) -> Result<bool, StepError> {
    let t = tags_of(client, arn).await?;
    Ok(tags::is_ours(
        t.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        deployment,
    ))
}

/// Where the resource at `arn` stands for `owner` (teardowns).
pub async fn ownership(
    client: &Client,
    arn: &str,
    owner: &tags::Owner,
) -> Result<tags::Ownership, StepError> {
    let t = tags_of(client, arn).await?;
    Ok(owner.ownership(t.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
}

/// Is the resource at `arn` ours to delete (deployment tag, and the execution
/// tag when `owner` names an execution)?
pub async fn owned_by(client: &Client, arn: &str, owner: &tags::Owner) -> Result<bool, StepError> {
    Ok(ownership(client, arn, owner).await? == tags::Ownership::Owned)
}

/// The tags on `arn`.
pub async fn tags_of(client: &Client, arn: &str) -> Result<HashMap<String, String>, StepError> {
    Ok(client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .aws("vpc-lattice:ListTagsForResource")?
        .tags()
        .cloned()
        .unwrap_or_default())
}

/// Apply `diff` to `arn` (TagResource sets, UntagResource removes) and log it.
async fn apply_tag_diff(client: &Client, arn: &str, diff: &tags::TagDiff) -> Result<(), StepError> {
    if !diff.set.is_empty() {
        client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(diff.set.clone().into_iter().collect()))
            .send()
            .await
            .aws("vpc-lattice:TagResource")?;
    }
    if !diff.remove.is_empty() {
        client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(diff.remove.clone()))
            .send()
            .await
            .aws("vpc-lattice:UntagResource")?;
    }
    diff.log(arn);
    Ok(())
}

/// Adopt `arn` if it is ours (and bring its user tags to `desired`, see
/// [`tags::tag_diff`]), else explain the name clash. Returns its tags as they were.
pub async fn adopt(
    client: &Client,
    kind: &str,
    name: &str,
    arn: &str,
    deployment: &str,
    desired: &HashMap<String, String>,
) -> Result<HashMap<String, String>, StepError> {
    let current = tags_of(client, arn).await?;
    let pairs = current.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let desired: BTreeMap<String, String> = desired.clone().into_iter().collect();
    let diff = crate::reconcile::adoption(pairs, deployment, &desired, (kind, name, arn))?;
    tracing::info!(kind, name, arn, "adopted existing resource");
    apply_tag_diff(client, arn, &diff).await?;
    Ok(current)
}

/// Bring the user tags of `arn` to `desired` when `deployment` made it. A resource it did not
/// make (e.g. an association someone added to our service network by hand) keeps its tags.
pub async fn converge_tags_if_ours(
    client: &Client,
    arn: &str,
    deployment: &str,
    desired: &HashMap<String, String>,
) -> Result<(), StepError> {
    let current = tags_of(client, arn).await?;
    let pairs = current.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if !tags::is_ours(pairs.clone(), deployment) {
        tracing::info!(
            arn,
            "not created by this deployment: its tags are left alone"
        );
        return Ok(());
    }
    let desired: BTreeMap<String, String> = desired.clone().into_iter().collect();
    apply_tag_diff(client, arn, &tags::tag_diff(pairs, &desired)).await
}

/// A Lattice list item found by name: the list operation (for errors) and the item's name.
pub trait Named {
    const LIST: &'static str;
    fn item_name(&self) -> Option<&str>;
}

impl Named for ServiceNetworkSummary {
    const LIST: &'static str = "vpc-lattice:ListServiceNetworks";
    fn item_name(&self) -> Option<&str> {
        self.name()
    }
}

impl Named for ResourceGatewaySummary {
    const LIST: &'static str = "vpc-lattice:ListResourceGateways";
    fn item_name(&self) -> Option<&str> {
        self.name()
    }
}

/// The one "find by name": Lattice lists have no name filter, so page through `items` (a list
/// paginator's items) until one is named `name`.
pub async fn named<T: Named, E>(
    items: PaginationStream<Result<T, E>>,
    name: &str,
) -> Result<Option<T>, StepError>
where
    Result<T, E>: SdkResultExt<T>,
{
    crate::pages::first(items, T::LIST, |t| t.item_name() == Some(name)).await
}

/// The service network named `name`, if any.
pub async fn service_network_named(
    client: &Client,
    name: &str,
) -> Result<Option<ServiceNetworkSummary>, StepError> {
    named(
        client
            .list_service_networks()
            .into_paginator()
            .items()
            .send(),
        name,
    )
    .await
}

/// The resource gateway named `name`, if any.
pub async fn gateway_named(
    client: &Client,
    name: &str,
) -> Result<Option<ResourceGatewaySummary>, StepError> {
    named(
        client
            .list_resource_gateways()
            .into_paginator()
            .items()
            .send(),
        name,
    )
    .await
}

/// The gateways named like ours (`<deployment>-rgw`): (gateway id, deployment). One
/// `ListResourceGateways` page per 100 gateways in the Region, whoever owns them: our names narrow
/// the candidates before any tag is read (the failover's cost must not grow with the account).
pub async fn gateways_named_like_ours(client: &Client) -> Result<Vec<(String, String)>, StepError> {
    let mut ours = vec![];
    let mut gateways = client
        .list_resource_gateways()
        .into_paginator()
        .items()
        .send();
    while let Some(gw) = gateways.next().await {
        let gw = gw.aws("vpc-lattice:ListResourceGateways")?;
        if let (Some(id), Some(deployment)) =
            (gw.id(), gw.name().and_then(Names::deployment_of_gateway))
        {
            ours.push((id.to_string(), deployment.to_string()));
        }
    }
    Ok(ours)
}

/// A deployment's resource configuration as it stands: found by name on the deployment's gateway,
/// with its tags (the truth the failover keeps: which database is primary now).
#[derive(Debug, Clone, PartialEq)]
pub struct FoundConfiguration {
    pub id: String,
    pub arn: String,
    pub tags: HashMap<String, String>,
}

/// The configurations named like the deployment's (`<deployment>-rcfg`, or `-rcfg-2` for a
/// replacement of the other type, see [`Names::resource_configuration_names`]) on the gateway
/// `gateway_id` that carry `deployment`'s tag, in the order of those names: two only while a
/// replacement is under way. Only their tags are read, never those of other configurations;
/// children and groups are managed by their parent, AWS-managed ones are not ours.
pub async fn deployment_configurations(
    client: &Client,
    gateway_id: &str,
    deployment: &str,
) -> Result<Vec<FoundConfiguration>, StepError> {
    let names = Names::for_deployment(deployment).resource_configuration_names();
    let mut found: Vec<(usize, FoundConfiguration)> = Vec::new();
    let mut items = client
        .list_resource_configurations()
        .resource_gateway_identifier(gateway_id)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = items.next().await {
        let item = match item {
            Ok(item) => item,
            // The gateway was deleted between the two lists.
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => return Ok(vec![]),
            Err(e) => {
                return Err(StepError::from_sdk(
                    "vpc-lattice:ListResourceConfigurations",
                    &e,
                ))
            }
        };
        let Some(rank) = names.iter().position(|n| item.name() == Some(n.as_str())) else {
            continue;
        };
        if matches!(
            item.r#type(),
            Some(ResourceConfigurationType::Child | ResourceConfigurationType::Group)
        ) || item.amazon_managed() == Some(true)
        {
            continue;
        }
        let (Some(id), Some(arn)) = (item.id(), item.arn()) else {
            continue;
        };
        let tags = match client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
        {
            Ok(out) => out.tags().cloned().unwrap_or_default(),
            // Deleted between the list and now.
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => continue,
            Err(e) => return Err(StepError::from_sdk("vpc-lattice:ListTagsForResource", &e)),
        };
        if tags.get(tags::DEPLOYMENT).map(String::as_str) == Some(deployment) {
            found.push((
                rank,
                FoundConfiguration {
                    id: id.to_string(),
                    arn: arn.to_string(),
                    tags,
                },
            ));
        }
    }
    found.sort_by_key(|(rank, _)| *rank);
    Ok(found.into_iter().map(|(_, c)| c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_vpclattice::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    const ARN: &str =
        "arn:aws:vpc-lattice:us-east-1:123456789012:resourcegateway/rgw-0123456789abcdefg";

    #[tokio::test]
    async fn adopting_sets_changed_user_tags_and_removes_dropped_ones_only() {
        use aws_sdk_vpclattice::operation::tag_resource::TagResourceOutput;
        use aws_sdk_vpclattice::operation::untag_resource::UntagResourceOutput;
        let current = mock!(Client::list_tags_for_resource).then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(tags::DEPLOYMENT, "orders")
                .tags(tags::EXECUTION, "run-1")
                .tags("team", "payments")
                .tags("env", "dev")
                .tags(tags::USER_KEYS, "env,team")
                .tags("CostCenter", "42")
                .build()
        });
        let tag = mock!(Client::tag_resource)
            .match_requests(|r| {
                let t = r.tags().unwrap();
                t.len() == 2 && t["team"] == "payroll" && t[tags::USER_KEYS] == "team"
            })
            .then_output(|| TagResourceOutput::builder().build());
        let untag = mock!(Client::untag_resource)
            .match_requests(|r| r.resource_arn() == Some(ARN) && r.tag_keys() == ["env"])
            .then_output(|| UntagResourceOutput::builder().build());
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&current, &tag, &untag]
        );
        let mut user = BTreeMap::new();
        user.insert("team".to_string(), "payroll".to_string());
        user.insert(tags::EXECUTION.to_string(), "run-2".to_string());
        let desired = tag_map(&user, "orders", "resource-gateway");
        adopt(
            &client,
            "resource gateway",
            "orders-rgw",
            ARN,
            "orders",
            &desired,
        )
        .await
        .unwrap();
        assert_eq!((tag.num_calls(), untag.num_calls()), (1, 1));

        // Someone else's: refused before any tag is touched.
        let e = adopt(
            &client,
            "resource gateway",
            "orders-rgw",
            ARN,
            "billing",
            &desired,
        )
        .await
        .unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
        assert_eq!((tag.num_calls(), untag.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn owned_by_reads_the_deployment_and_execution_tags() {
        let tags = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_arn() == Some(ARN))
            .then_output(|| {
                ListTagsForResourceOutput::builder()
                    .tags(tags::DEPLOYMENT, "orders")
                    .tags(tags::EXECUTION, "run-1")
                    .build()
            });
        let client = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&tags]);
        let owner = |e: Option<&str>| tags::Owner::new("orders", e.map(str::to_string));
        assert!(owned_by(&client, ARN, &owner(None)).await.unwrap());
        assert!(owned_by(&client, ARN, &owner(Some("run-1"))).await.unwrap());
        assert!(!owned_by(&client, ARN, &owner(Some("run-2"))).await.unwrap());
        assert_eq!(
            ownership(&client, ARN, &owner(Some("run-2")))
                .await
                .unwrap(),
            tags::Ownership::OtherExecution
        );
        assert_eq!(
            ownership(&client, ARN, &tags::Owner::new("billing", None))
                .await
                .unwrap(),
            tags::Ownership::Foreign
        );
        assert_eq!(tags.num_calls(), 5);
    }
}
