//! Tags that mark what a deployment created. Adoption checks them: a resource
//! with our deterministic name but without our deployment tag is not ours.

use std::collections::BTreeMap;

use crate::error::StepError;

pub const TAG_PREFIX: &str = "lattice-db-access:";
/// The deployment that created the resource.
pub const DEPLOYMENT: &str = "lattice-db-access:deployment";
/// The Step Functions execution that created it: a failed execution's rollback
/// deletes only what that execution created, never what an earlier run made.
pub const EXECUTION: &str = "lattice-db-access:execution";
/// Which workflow step created it (`database-network`, `resource-gateway`, ...).
pub const COMPONENT: &str = "lattice-db-access:component";
/// On the resource configuration: how it names the database (dns|arn|ip).
pub const MODE: &str = "lattice-db-access:mode";
/// On the resource configuration: `instance` or `cluster`.
pub const DB_KIND: &str = "lattice-db-access:db-kind";
/// On the resource configuration: the RDS identifier it fronts.
pub const DB_IDENTIFIER: &str = "lattice-db-access:db-identifier";
/// On the resource configuration: the standby's kind and identifier, when the input names one.
pub const STANDBY_KIND: &str = "lattice-db-access:standby-kind";
pub const STANDBY_IDENTIFIER: &str = "lattice-db-access:standby-identifier";

/// On every resource the deployment creates: the user tag keys it applied, comma-separated (a tag
/// key cannot contain a comma). A re-run removes only those the input dropped, never a tag
/// someone else added.
pub const USER_KEYS: &str = "lattice-db-access:user-tag-keys";
/// The longest tag value EC2, RDS and VPC Lattice all accept.
const MAX_TAG_VALUE: usize = 256;

/// AWS limits are 50 tags per resource; we keep room for our own.
pub const MAX_USER_TAGS: usize = 40;

pub fn validate_user_tags(tags: &BTreeMap<String, String>) -> Result<(), StepError> {
    if tags.len() > MAX_USER_TAGS {
        return Err(StepError::invalid(
            "tags",
            format!("at most {MAX_USER_TAGS} tags, got {}", tags.len()),
        ));
    }
    for (k, v) in tags {
        let f = format!("tags.{k}");
        if k.is_empty() || k.chars().count() > 128 {
            return Err(StepError::invalid(f, "tag keys are 1 to 128 characters"));
        }
        if v.chars().count() > 256 {
            return Err(StepError::invalid(
                f,
                "tag values are at most 256 characters",
            ));
        }
        if crate::input::is_reserved_tag_key(k) {
            return Err(StepError::invalid(
                f,
                format!("keys starting with `aws:` or `{TAG_PREFIX}` are reserved"),
            ));
        }
        // The character set common to EC2, RDS and VPC Lattice tags.
        let ok = |s: &str| {
            s.chars()
                .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
        };
        if !ok(k) || !ok(v) {
            return Err(StepError::invalid(
                f,
                "tags may use letters, digits, spaces and _ . : / = + - @",
            ));
        }
    }
    if let Some(keys) = user_keys(tags).filter(|k| k.chars().count() > MAX_TAG_VALUE) {
        return Err(StepError::invalid(
            "tags",
            format!(
                "the tag keys together are {} characters with a comma between each; at most \
                 {MAX_TAG_VALUE} (they are recorded in one tag, so that a re-run removes only \
                 the tags it applied)",
                keys.chars().count()
            ),
        ));
    }
    Ok(())
}

/// The user's tag keys as recorded in [`USER_KEYS`]; `None` without any.
fn user_keys(user: &BTreeMap<String, String>) -> Option<String> {
    let keys: Vec<&str> = user
        .keys()
        .map(String::as_str)
        .filter(|k| !crate::input::is_reserved_tag_key(k))
        .collect();
    (!keys.is_empty()).then(|| keys.join(","))
}

/// What makes a resource's user tags those `desired` holds (pure): user tags set or changed, and
/// the user tags the deployment applied before (its [`USER_KEYS`]) that the input dropped
/// removed. Our own tags (`lattice-db-access:*`: the deployment, the execution that created it,
/// what the failover reads) are never set or removed here, except the record of user keys; tags
/// someone else added stay.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TagDiff {
    pub set: BTreeMap<String, String>,
    pub remove: Vec<String>,
}

impl TagDiff {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    /// One log line when anything changed on `resource`.
    pub fn log(&self, resource: &str) {
        if !self.is_empty() {
            tracing::info!(
                resource,
                set = ?self.set.keys().collect::<Vec<_>>(),
                removed = ?self.remove,
                "tags converged"
            );
        }
    }
}

pub fn tag_diff<'a>(
    current: impl IntoIterator<Item = (&'a str, &'a str)>,
    desired: &BTreeMap<String, String>,
) -> TagDiff {
    let current: BTreeMap<&str, &str> = current.into_iter().collect();
    let managed = |k: &str| !crate::input::is_reserved_tag_key(k) || k == USER_KEYS;
    let mut diff = TagDiff::default();
    for (k, v) in desired.iter().filter(|(k, _)| managed(k)) {
        if current.get(k.as_str()) != Some(&v.as_str()) {
            diff.set.insert(k.clone(), v.clone());
        }
    }
    let applied = current.get(USER_KEYS).copied().unwrap_or_default();
    for k in applied.split(',').filter(|k| !k.is_empty()) {
        let dropped = !desired.contains_key(k) && current.contains_key(k);
        if dropped && !crate::input::is_reserved_tag_key(k) {
            diff.remove.push(k.to_string());
        }
    }
    if !desired.contains_key(USER_KEYS) && current.contains_key(USER_KEYS) {
        diff.remove.push(USER_KEYS.to_string());
    }
    diff
}

/// The tags for a resource created by `component` of deployment `name`.
pub fn resource_tags(
    user: &BTreeMap<String, String>,
    name: &str,
    component: &str,
) -> BTreeMap<String, String> {
    let mut t = user.clone();
    t.insert(DEPLOYMENT.into(), name.into());
    t.insert(COMPONENT.into(), component.into());
    if let Some(keys) = user_keys(user) {
        t.insert(USER_KEYS.into(), keys);
    }
    t
}

/// Was this resource created by deployment `name`?
pub fn is_ours<'a>(mut tags: impl Iterator<Item = (&'a str, &'a str)>, name: &str) -> bool {
    tags.any(|(k, v)| k == DEPLOYMENT && v == name)
}

/// Whose resources a teardown deletes: the deployment's, and with `execution`
/// only those that execution created (a failed execution's rollback).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub deployment: String,
    pub execution: Option<String>,
}

/// How a resource relates to an [`Owner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Ours to delete: the deployment's, and the execution's when one is named.
    Owned,
    /// The deployment's, created by another execution (or before executions
    /// were tagged): a rollback leaves it alone.
    OtherExecution,
    /// Not the deployment's at all.
    Foreign,
}

impl Owner {
    pub fn new(deployment: impl Into<String>, execution: Option<String>) -> Self {
        Self {
            deployment: deployment.into(),
            execution,
        }
    }

    /// Where a resource with `tags` stands.
    pub fn ownership<'a>(&self, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Ownership {
        let (mut deployment, mut execution) = (false, None);
        for (k, v) in tags {
            if k == DEPLOYMENT && v == self.deployment {
                deployment = true;
            } else if k == EXECUTION {
                execution = Some(v);
            }
        }
        match (&self.execution, deployment) {
            (_, false) => Ownership::Foreign,
            (None, true) => Ownership::Owned,
            (Some(wanted), true) if execution == Some(wanted.as_str()) => Ownership::Owned,
            (Some(_), true) => Ownership::OtherExecution,
        }
    }

    /// Is a resource with `tags` ours to delete?
    pub fn owns<'a>(&self, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        self.ownership(tags) == Ownership::Owned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_with_an_execution_owns_only_what_that_execution_created() {
        let tagged = |pairs: &[(&'static str, &'static str)]| pairs.to_vec();
        let run1 = tagged(&[(DEPLOYMENT, "orders"), (EXECUTION, "run-1"), ("team", "x")]);
        let run2 = tagged(&[(EXECUTION, "run-2"), (DEPLOYMENT, "orders")]);
        let untagged = tagged(&[(DEPLOYMENT, "orders")]);
        let billing = tagged(&[(DEPLOYMENT, "billing"), (EXECUTION, "run-1")]);

        let all = Owner::new("orders", None);
        assert!(all.owns(run1.iter().copied()));
        assert!(all.owns(run2.iter().copied()));
        assert!(all.owns(untagged.iter().copied()));
        assert_eq!(all.ownership(billing.iter().copied()), Ownership::Foreign);
        assert!(!all.owns(std::iter::empty()));

        let rollback = Owner::new("orders", Some("run-1".into()));
        assert_eq!(rollback.ownership(run1.iter().copied()), Ownership::Owned);
        assert_eq!(
            rollback.ownership(run2.iter().copied()),
            Ownership::OtherExecution
        );
        assert_eq!(
            rollback.ownership(untagged.iter().copied()),
            Ownership::OtherExecution
        );
        // Another deployment's resource of a same-named execution is still not ours.
        assert_eq!(
            rollback.ownership(billing.iter().copied()),
            Ownership::Foreign
        );
        assert!(!rollback.owns(run2.iter().copied()));
    }

    #[test]
    fn a_rerun_sets_changed_tags_and_removes_only_the_user_tags_it_applied() {
        let owned = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let first = resource_tags(
            &owned(&[("team", "payments"), ("env", "dev"), (EXECUTION, "run-1")]),
            "orders",
            "resource-gateway",
        );
        assert_eq!(first[USER_KEYS], "env,team");
        // As AWS has it: ours, plus a tag someone else added.
        let mut current = first.clone();
        current.insert("CostCenter".into(), "42".into());
        let now = resource_tags(
            &owned(&[("team", "payroll"), ("owner", "dba"), (EXECUTION, "run-2")]),
            "orders",
            "resource-gateway",
        );
        let d = tag_diff(current.iter().map(|(k, v)| (k.as_str(), v.as_str())), &now);
        assert_eq!(
            d.set,
            owned(&[
                ("team", "payroll"),
                ("owner", "dba"),
                (USER_KEYS, "owner,team")
            ]),
            "never the execution tag: a rollback of this run must not claim the resource"
        );
        assert_eq!(d.remove, ["env"], "not CostCenter, which is not ours");
        // Converged: nothing to do.
        let mut after = current.clone();
        after.extend(d.set.clone());
        after.remove("env");
        assert!(tag_diff(after.iter().map(|(k, v)| (k.as_str(), v.as_str())), &now).is_empty());
        // Every user tag dropped: they go, and so does the record.
        let none = resource_tags(&BTreeMap::new(), "orders", "resource-gateway");
        let d = tag_diff(after.iter().map(|(k, v)| (k.as_str(), v.as_str())), &none);
        assert!(d.set.is_empty());
        assert_eq!(d.remove, ["owner", "team", USER_KEYS]);
        // A resource from before the record: nothing is removed, the record is added.
        let old = owned(&[("team", "payments"), (DEPLOYMENT, "orders")]);
        let d = tag_diff(old.iter().map(|(k, v)| (k.as_str(), v.as_str())), &first);
        assert!(d.remove.is_empty());
        assert_eq!(d.set, owned(&[("env", "dev"), (USER_KEYS, "env,team")]));
    }

    #[test]
    fn the_recorded_keys_must_fit_one_tag_value() {
        let many: BTreeMap<String, String> = (0..30)
            .map(|i| (format!("cost-allocation-key-{i:02}"), "x".to_string()))
            .collect();
        assert!(matches!(
            validate_user_tags(&many),
            Err(StepError::InvalidInput { field, .. }) if field == "tags"
        ));
        let few: BTreeMap<String, String> = many.into_iter().take(10).collect();
        validate_user_tags(&few).unwrap();
    }

    #[test]
    fn ours_only_with_our_deployment_tag() {
        let t = resource_tags(&BTreeMap::new(), "orders", "resource-gateway");
        assert!(is_ours(
            t.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            "orders"
        ));
        assert!(!is_ours(
            t.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            "billing"
        ));
        assert!(!is_ours(std::iter::empty(), "orders"));
    }

    #[test]
    fn user_tags_are_kept_and_ours_win() {
        let mut user = BTreeMap::new();
        user.insert("team".to_string(), "payments".to_string());
        let t = resource_tags(&user, "orders", "database");
        assert_eq!(t["team"], "payments");
        assert_eq!(t[DEPLOYMENT], "orders");
        assert_eq!(t[COMPONENT], "database");
    }

    #[test]
    fn oversized_and_reserved_tags_are_rejected() {
        let mut big = BTreeMap::new();
        for i in 0..41 {
            big.insert(format!("k{i}"), "v".to_string());
        }
        assert!(validate_user_tags(&big).is_err());
        let mut long = BTreeMap::new();
        long.insert("k".to_string(), "v".repeat(257));
        assert!(
            matches!(validate_user_tags(&long), Err(StepError::InvalidInput { field, .. }) if field == "tags.k")
        );
        let mut ours = BTreeMap::new();
        ours.insert(DEPLOYMENT.to_string(), "x".to_string());
        assert!(validate_user_tags(&ours).is_err());
    }
}
