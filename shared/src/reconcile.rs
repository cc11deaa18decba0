//! The one reconcile core for what a step makes exist, and its teardown twin.
//!
//! Provisioning: observe (a lookup by deterministic name or key) → decide → create or adopt; a
//! create that loses a race with a concurrent attempt (`Resource.Conflict`) observes again and
//! adopts what the other attempt made. Adoption is only of what carries our deployment tag.
//! Teardown: observe (status, ownership, children) → decide → delete, wait or fail.
//!
//! The decisions are pure functions ([`lost_race`], [`after_create_failed`], [`adoption`],
//! [`delete_next`]) tested without mocks; [`ensure`] drives them over the SDK calls a step passes
//! in, so each step writes only its lookup, its adopt (what "the same resource" means for it)
//! and its create call.

use std::collections::BTreeMap;

use crate::error::StepError;
use crate::plan::IdArn;
use crate::tags::{self, TagDiff};

/// Is a failed create worth a second lookup? Only when AWS says the name is taken: a concurrent
/// attempt (an earlier try of this step, a second execution) may have made it between our lookup
/// and our create. VPC Lattice says so with a conflict; RDS, Logs and EC2 with their own codes.
pub fn lost_race(err: &StepError) -> bool {
    match err {
        StepError::Conflict { .. } => true,
        StepError::Aws { code, .. } => {
            code.ends_with("AlreadyExists")
                || code.ends_with("AlreadyExistsFault")
                || code.ends_with("AlreadyExistsException")
                || code == "InvalidGroup.Duplicate"
        }
        _ => false,
    }
}

/// After a create failed with `err`, given what the second lookup found (`None` when there was
/// none, see [`lost_race`]): what the winner made, to adopt, or the create's own error (a
/// conflict with nothing to adopt is a real conflict, e.g. a quota or a name in another state).
pub fn after_create_failed<F>(err: StepError, found: Option<F>) -> Result<F, StepError> {
    match found {
        Some(f) if lost_race(&err) => Ok(f),
        _ => Err(err),
    }
}

/// Whether a resource found under our name may be adopted: only when it carries `deployment`'s
/// tag (anything else with our name is someone else's, and the error says how to proceed).
/// Adopting brings its user tags to `desired`: the returned diff ([`tags::tag_diff`]).
pub fn adoption<'a>(
    current: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    deployment: &str,
    desired: &BTreeMap<String, String>,
    what: (&str, &str, &str),
) -> Result<TagDiff, StepError> {
    let (kind, name, arn) = what;
    if !tags::is_ours(current.clone().into_iter(), deployment) {
        return Err(StepError::NameTaken(format!(
            "{kind} `{name}` ({arn}) exists but was not created by deployment `{deployment}`; \
             delete it or choose another deployment name"
        )));
    }
    Ok(tags::tag_diff(current, desired))
}

/// Create-or-adopt, driven by the decisions above. `found` is the first lookup's result,
/// `refind` the lookup after a lost race, `adopt` and `create` the step's calls. A create that
/// succeeds is counted (`ResourcesCreated`, by `component`).
pub async fn ensure<F, O>(
    component: &str,
    found: Option<F>,
    refind: impl AsyncFnOnce() -> Result<Option<F>, StepError>,
    adopt: impl AsyncFn(F) -> Result<O, StepError>,
    create: impl AsyncFnOnce() -> Result<O, StepError>,
) -> Result<O, StepError> {
    // Found: adopt it (the adopt step checks it is ours); else create.
    if let Some(f) = found {
        return adopt(f).await;
    }
    let err = match create().await {
        Ok(created) => {
            crate::emf::emit(
                &[("Function", component)],
                &[("ResourcesCreated", 1.0, "Count")],
            );
            return Ok(created);
        }
        Err(err) => err,
    };
    let found = if lost_race(&err) {
        refind().await?
    } else {
        None
    };
    let winner = after_create_failed(err, found)?;
    tracing::info!(
        component,
        "lost a create race: adopting what the other attempt made"
    );
    adopt(winner).await
}

/// The id and ARN a create returned; `operation` names the call when either is missing.
pub fn created(operation: &str, id: Option<&str>, arn: Option<&str>) -> Result<IdArn, StepError> {
    match (id, arn) {
        (Some(id), Some(arn)) => Ok(IdArn {
            id: id.into(),
            arn: arn.into(),
        }),
        _ => Err(StepError::internal(format!(
            "{operation} returned no id or arn"
        ))),
    }
}

// ---- the teardown twin ----

/// What a teardown does next with one of its own resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delete {
    /// Not now: still there, for this reason (reported as waiting).
    Wait(String),
    /// A retry cannot fix it: the loop stops with this reason.
    Fail(String),
    /// Call the delete; `retry` when it failed to delete before.
    Start { retry: bool },
}

/// The delete decision for a resource of ours in `status`, whose children still hold it when
/// `blocked` says so, and whose previous delete already failed once when `failed_before`.
/// AWS refuses deletes while a create, update or delete is under way (`*_IN_PROGRESS`); a
/// `DELETE_FAILED` resource gets one more delete, then needs a human.
pub fn delete_next(
    what: &str,
    id: &str,
    status: &str,
    blocked: Option<&str>,
    failed_before: bool,
) -> Delete {
    if let Some(why) = blocked {
        return Delete::Wait(format!("{status} ({why})"));
    }
    if status.ends_with("_IN_PROGRESS") {
        return Delete::Wait(status.to_string());
    }
    let retry = status == "DELETE_FAILED";
    if retry && failed_before {
        return Delete::Fail(format!(
            "{what} {id} is still DELETE_FAILED after the delete was retried; look at its \
             failure reason, fix the cause, then run the teardown again"
        ));
    }
    Delete::Start { retry }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::names;
    use std::cell::Cell;

    fn conflict() -> StepError {
        StepError::Conflict {
            operation: "vpc-lattice:CreateResourceGateway".into(),
            message: "name taken".into(),
        }
    }

    #[test]
    fn only_a_conflict_with_something_found_is_adopted_after_a_failed_create() {
        assert_eq!(after_create_failed(conflict(), Some(7)).unwrap(), 7);
        let e = after_create_failed::<u8>(conflict(), None)
            .expect_err("a conflict with nothing to adopt must fail");
        assert_eq!(e.name(), names::RESOURCE_CONFLICT);
        let throttled = StepError::internal("boom");
        assert!(after_create_failed(throttled, Some(7)).is_err());
        assert!(lost_race(&conflict()));
        assert!(!lost_race(&StepError::internal("x")));
        let aws = |code: &str| StepError::Aws {
            operation: "op".into(),
            code: code.into(),
            message: String::new(),
        };
        for code in [
            "DBInstanceAlreadyExists",
            "DBClusterAlreadyExistsFault",
            "DBSubnetGroupAlreadyExists",
            "ResourceAlreadyExistsException",
            "InvalidGroup.Duplicate",
        ] {
            assert!(lost_race(&aws(code)), "{code}");
        }
        for code in ["InvalidPermission.Duplicate", "InvalidParameterValue"] {
            assert!(!lost_race(&aws(code)), "{code}");
        }
    }

    fn desired() -> BTreeMap<String, String> {
        [("team".to_string(), "payments".to_string())].into()
    }

    #[test]
    fn adoption_needs_our_deployment_tag_and_converges_the_user_tags() {
        let ours = [(tags::DEPLOYMENT, "orders"), ("team", "billing")];
        let diff = adoption(
            ours,
            "orders",
            &desired(),
            ("gateway", "orders-rgw", "arn:g"),
        )
        .unwrap();
        assert_eq!(diff.set.get("team").map(String::as_str), Some("payments"));

        let theirs = [(tags::DEPLOYMENT, "other"), ("team", "payments")];
        let e = adoption(
            theirs,
            "orders",
            &desired(),
            ("gateway", "orders-rgw", "arn:g"),
        )
        .unwrap_err();
        assert_eq!(e.name(), names::RESOURCE_NAME_TAKEN);
        assert!(
            e.to_string().contains("gateway `orders-rgw` (arn:g)"),
            "{e}"
        );
        let untagged: [(&str, &str); 0] = [];
        assert!(adoption(untagged, "orders", &desired(), ("g", "n", "a")).is_err());
    }

    #[test]
    fn deletes_wait_for_children_and_in_progress_states_and_retry_a_failure_once() {
        let d = |status, blocked, failed| delete_next("gateway", "rgw-1", status, blocked, failed);
        assert_eq!(
            d("ACTIVE", Some("waits for 1 configuration"), false),
            Delete::Wait("ACTIVE (waits for 1 configuration)".into())
        );
        assert_eq!(
            d("UPDATE_IN_PROGRESS", None, false),
            Delete::Wait("UPDATE_IN_PROGRESS".into())
        );
        assert_eq!(d("ACTIVE", None, false), Delete::Start { retry: false });
        assert_eq!(
            d("DELETE_FAILED", None, false),
            Delete::Start { retry: true }
        );
        let Delete::Fail(reason) = d("DELETE_FAILED", None, true) else {
            panic!("a second DELETE_FAILED needs a human")
        };
        assert!(
            reason.contains("gateway rgw-1 is still DELETE_FAILED"),
            "{reason}"
        );
    }

    // ---- the driver, with counted fakes for the SDK calls ----

    #[tokio::test]
    async fn ensure_adopts_what_the_lookup_found_without_creating() {
        let created = Cell::new(0);
        let out = ensure(
            "t",
            Some("found"),
            async || Ok(None),
            async |f: &str| Ok(format!("adopted {f}")),
            async || {
                created.set(created.get() + 1);
                Ok("created".to_string())
            },
        )
        .await
        .unwrap();
        assert_eq!((out.as_str(), created.get()), ("adopted found", 0));
    }

    #[tokio::test]
    async fn ensure_creates_when_nothing_is_found_and_does_not_look_again() {
        let looked = Cell::new(0);
        let out = ensure(
            "t",
            None,
            async || {
                looked.set(looked.get() + 1);
                Ok(None)
            },
            async |f: &str| Ok(format!("adopted {f}")),
            async || Ok("created".to_string()),
        )
        .await
        .unwrap();
        assert_eq!((out.as_str(), looked.get()), ("created", 0));
    }

    #[tokio::test]
    async fn ensure_adopts_the_winner_of_a_lost_race() {
        let out = ensure(
            "t",
            None,
            async || Ok(Some("winner")),
            async |f: &str| Ok(format!("adopted {f}")),
            async || Err::<String, _>(conflict()),
        )
        .await
        .unwrap();
        assert_eq!(out, "adopted winner");
    }

    #[tokio::test]
    async fn ensure_keeps_the_create_error_when_there_is_nothing_to_adopt() {
        let looked = Cell::new(0);
        let e = ensure(
            "t",
            None,
            async || {
                looked.set(looked.get() + 1);
                Ok(None::<&str>)
            },
            async |f: &str| Ok(format!("adopted {f}")),
            async || Err::<String, _>(StepError::internal("quota")),
        )
        .await
        .unwrap_err();
        assert_eq!(e.name(), "Internal");
        assert_eq!(looked.get(), 0, "only a conflict is worth a second lookup");
    }

    #[test]
    fn a_create_without_id_or_arn_is_internal_naming_the_call() {
        let e = created("CreateServiceNetwork", Some("sn-1"), None).unwrap_err();
        assert!(e.to_string().contains("CreateServiceNetwork"), "{e}");
        assert_eq!(created("Op", Some("a"), Some("b")).unwrap().arn, "b");
    }
}
