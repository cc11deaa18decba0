//! VPC Lattice helpers: our tags as the SDK wants them, and the ownership
//! check that decides between adopting a same-named resource and refusing it.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_vpclattice::Client;

use crate::error::{SdkResultExt, StepError};
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
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .aws("vpc-lattice:ListTagsForResource")?;
    Ok(out.tags().is_some_and(|t| {
        tags::is_ours(t.iter().map(|(k, v)| (k.as_str(), v.as_str())), deployment)
    }))
}

/// Where the resource at `arn` stands for `owner` (teardowns).
pub async fn ownership(
    client: &Client,
    arn: &str,
    owner: &tags::Owner,
) -> Result<tags::Ownership, StepError> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .aws("vpc-lattice:ListTagsForResource")?;
    Ok(owner.ownership(
        out.tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

/// Is the resource at `arn` ours to delete (deployment tag, and the execution
/// tag when `owner` names an execution)?
pub async fn owned_by(client: &Client, arn: &str, owner: &tags::Owner) -> Result<bool, StepError> {
    Ok(ownership(client, arn, owner).await? == tags::Ownership::Owned)
}

/// Adopt `arn` if it is ours, else explain the name clash.
pub async fn adopt(
    client: &Client,
    kind: &str,
    name: &str,
    arn: &str,
    deployment: &str,
) -> Result<(), StepError> {
    if is_ours(client, arn, deployment).await? {
        tracing::info!(kind, name, arn, "adopted existing resource");
        Ok(())
    } else {
        Err(StepError::NameTaken(format!(
            "{kind} `{name}` ({arn}) exists but was not created by deployment `{deployment}`; \
             delete it or choose another deployment name"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_vpclattice::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    const ARN: &str =
        "arn:aws:vpc-lattice:us-east-1:123456789012:resourcegateway/rgw-0123456789abcdefg";

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
