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
