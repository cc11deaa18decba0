//! RDS lookups shared by the steps that create, poll and delete databases and subnet groups:
//! "not found" is an answer (`None`), not an error.

use std::collections::BTreeMap;

use aws_sdk_rds::types::{DbCluster, DbInstance, DbSubnetGroup, Tag};
use aws_sdk_rds::Client;

use crate::error::{error_code, SdkResultExt, StepError};

/// Bring the user tags of our RDS resource `arn` (now `current`) to `desired`
/// ([`crate::tags::tag_diff`]): AddTagsToResource sets, RemoveTagsFromResource removes.
pub async fn converge_tags(
    rds: &Client,
    arn: &str,
    current: &[Tag],
    desired: &BTreeMap<String, String>,
) -> Result<(), StepError> {
    let diff = crate::tags::tag_diff(
        current
            .iter()
            .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
        desired,
    );
    if !diff.set.is_empty() {
        rds.add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(
                diff.set
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .aws("rds:AddTagsToResource")?;
    }
    if !diff.remove.is_empty() {
        rds.remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(diff.remove.clone()))
            .send()
            .await
            .aws("rds:RemoveTagsFromResource")?;
    }
    diff.log(arn);
    Ok(())
}

/// The instance named `id`, or `None` when RDS says it does not exist.
pub async fn describe_instance(rds: &Client, id: &str) -> Result<Option<DbInstance>, StepError> {
    match rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e) if error_code(&e) == Some("DBInstanceNotFound") => Ok(None),
        Err(e) => Err(StepError::from_sdk("rds:DescribeDBInstances", &e)),
    }
}

/// The cluster named `id`, or `None` when RDS says it does not exist.
pub async fn describe_cluster(rds: &Client, id: &str) -> Result<Option<DbCluster>, StepError> {
    match rds
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_clusters().first().cloned()),
        Err(e) if error_code(&e) == Some("DBClusterNotFoundFault") => Ok(None),
        Err(e) => Err(StepError::from_sdk("rds:DescribeDBClusters", &e)),
    }
}

/// The DB subnet group named `name`, or `None` when RDS says it does not exist.
pub async fn describe_subnet_group(
    rds: &Client,
    name: &str,
) -> Result<Option<DbSubnetGroup>, StepError> {
    match rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_subnet_groups().first().cloned()),
        Err(e) if error_code(&e) == Some("DBSubnetGroupNotFoundFault") => Ok(None),
        Err(e) => Err(StepError::from_sdk("rds:DescribeDBSubnetGroups", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    #[tokio::test]
    async fn not_found_is_none_and_other_errors_keep_their_name() {
        let gone = mock!(Client::describe_db_instances)
            .then_http_response(|| crate::testing::rds_error(404, "DBInstanceNotFound", "gone"));
        let throttled = mock!(Client::describe_db_clusters)
            .then_http_response(|| crate::testing::rds_error(400, "Throttling", "slow down"));
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&gone, &throttled], |c| c
            .retry_config(aws_sdk_rds::config::retry::RetryConfig::disabled()));
        assert_eq!(describe_instance(&rds, "orders-db").await.unwrap(), None);
        assert_eq!(
            describe_cluster(&rds, "orders-db")
                .await
                .unwrap_err()
                .name(),
            "Aws.Throttled"
        );
    }
}
