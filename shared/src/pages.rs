//! The one paging loop: every "list, page through, find by name" of the steps is an SDK
//! paginator (`.into_paginator().items().send()`) read here, so the token handling and the
//! error naming live in one place.

use aws_smithy_async::future::pagination_stream::PaginationStream;

use crate::error::SdkResultExt;
use crate::StepError;

/// Every item of a paginated list (`operation` names it in errors, e.g. `vpc-lattice:ListX`).
pub async fn all<T, E>(
    mut items: PaginationStream<Result<T, E>>,
    operation: &str,
) -> Result<Vec<T>, StepError>
where
    Result<T, E>: SdkResultExt<T>,
{
    let mut out = Vec::new();
    while let Some(item) = items.next().await {
        out.push(item.aws(operation)?);
    }
    Ok(out)
}

/// The first item `wanted` accepts; pages after it are not read.
pub async fn first<T, E>(
    mut items: PaginationStream<Result<T, E>>,
    operation: &str,
    wanted: impl Fn(&T) -> bool,
) -> Result<Option<T>, StepError>
where
    Result<T, E>: SdkResultExt<T>,
{
    while let Some(item) = items.next().await {
        let item = item.aws(operation)?;
        if wanted(&item) {
            return Ok(Some(item));
        }
    }
    Ok(None)
}
