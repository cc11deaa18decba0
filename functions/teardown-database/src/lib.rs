//! Teardown of a deployment's database side (aws-facts §2 #4, #19, §3):
//! - a database WE created (`<name>-db`, carrying our deployment tag): an RDS
//!   instance has its deletion protection turned off, then is deleted with a
//!   final snapshot `<id>-final-<yyyymmddhhmm>` (unless `skipFinalSnapshot`),
//!   keeping its automated backups; an Aurora cluster first loses its
//!   instances, then is unprotected and deleted the same way;
//! - then its DB subnet group `<name>-db-subnets` (ours only);
//! - an ADOPTED database (no deployment tag) is never deleted: if our DB
//!   security group is attached to it, ours is removed and its own are kept.
//!
//! `keepDatabase` keeps all of this as it is. Each call starts what is allowed
//! now and reports what remains (RDS deletes take minutes).
//!
//! With `onlyExecution`, only what that execution created (its execution tag)
//! is deleted: a database of the deployment made by another execution stays
//! (with its subnet group), though the Aurora instances that execution added
//! to it go; our security group leaves an adopted database only when that
//! execution created the group.

use shared::rds::{describe_cluster, describe_instance, describe_subnet_group};
pub use shared::teardown::{Previous, TeardownInput, TeardownOut};

use std::time::SystemTime;

use aws_sdk_ec2::Client as Ec2;
use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::{DbCluster, DbInstance, Filter, Tag, VpcSecurityGroupMembership};
use aws_sdk_rds::Client as Rds;
use shared::error::error_code;
use shared::plan::Names;
use shared::poll::Policy;
use shared::tags::{Owner, Ownership};
use shared::teardown::{settle, Outcome, Progress};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "teardown-database";

const INSTANCE: &str = "DB instance";
const CLUSTER: &str = "DB cluster";
const SUBNET_GROUP: &str = "DB subnet group";

/// States a database stays in until someone acts: a refused request will not
/// succeed by waiting. (Anything not listed here or as deletable is a
/// transition, during which RDS refuses deletes and modifications.)
const STUCK: &[&str] = &[
    "stopped",
    "failed",
    "storage-full",
    "incompatible-network",
    "incompatible-option-group",
    "incompatible-parameters",
    "incompatible-restore",
    "incompatible-credentials",
    "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable",
    "restore-error",
    "cloning-failed",
    "migration-failed",
];

/// RDS takes no final snapshot of an instance in these states (DeleteDBInstance API).
const NO_SNAPSHOT: &[&str] = &["failed", "incompatible-network", "incompatible-restore"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `available`: requests are accepted (a refusal may be a stale status).
    Ready,
    /// Won't change on its own; requests may still be accepted.
    Stuck,
    /// Changing: wait.
    Busy,
}

/// What is left of a resource after one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    Gone,
    /// Still there, on its way or waiting: reported.
    Waiting,
    /// Another execution's (or held by one): left as it is, not reported.
    Kept,
}

fn state(status: &str) -> State {
    if status == "available" {
        State::Ready
    } else if STUCK.contains(&status) {
        State::Stuck
    } else {
        State::Busy
    }
}

pub async fn handle(rds: &Rds, ec2: &Ec2, input: TeardownInput) -> Result<TeardownOut, StepError> {
    handle_at(rds, ec2, input, SystemTime::now()).await
}

/// [`handle`] at a given time (the final snapshot's name carries it).
async fn handle_at(
    rds: &Rds,
    ec2: &Ec2,
    input: TeardownInput,
    now: SystemTime,
) -> Result<TeardownOut, StepError> {
    let names = input.names()?;
    let mut p = Progress::default();
    if input.keep_database {
        tracing::info!(
            deployment = %input.name,
            "keepDatabase: the database, its subnet group and its security group attachment stay as they are"
        );
        return Ok(p.finish(COMPONENT, Policy::DATABASE, input.attempt()));
    }
    let stamp = stamp(now)?;
    let id = names.db_identifier.as_str();
    let owner = input.owner();

    // What is left of the deployment's database: ours (waited for) or another execution's.
    let mut left = Vec::new();
    if let Some(i) = describe_instance(rds, id).await? {
        if i.db_cluster_identifier().is_none() {
            match ownership(i.tag_list(), &owner) {
                Ownership::Owned => {
                    left.push(delete_instance(rds, &input, &mut p, &i, &stamp).await?)
                }
                Ownership::OtherExecution => {
                    tracing::info!(db_instance = id, "created by another execution: left alone");
                    left.push(Left::Kept);
                }
                Ownership::Foreign => {}
            }
        }
    }
    if let Some(c) = describe_cluster(rds, id).await? {
        match ownership(c.tag_list(), &owner) {
            Ownership::Owned => left.push(delete_cluster(rds, &input, &mut p, &c, &stamp).await?),
            Ownership::OtherExecution => {
                // The instances this execution added to it still go.
                members(rds, &input, &mut p, id, false).await?;
                tracing::info!(db_cluster = id, "created by another execution: left alone");
                left.push(Left::Kept);
            }
            Ownership::Foreign => {}
        }
    }
    detach_from_adopted(rds, ec2, &input, &names, &mut p).await?;
    delete_subnet_group(rds, &input, &names, &left, &mut p).await?;
    Ok(p.finish(COMPONENT, Policy::DATABASE, input.attempt()))
}

/// `yyyymmddhhmm` (UTC) for the final snapshot's name.
fn stamp(now: SystemTime) -> Result<String, StepError> {
    let text = aws_smithy_types::DateTime::from(now)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .map_err(|e| StepError::internal(format!("formatting the time: {e}")))?;
    Ok(text.chars().filter(char::is_ascii_digit).take(12).collect())
}

fn snapshot_id(id: &str, stamp: &str) -> String {
    format!("{id}-final-{stamp}")
}

fn ownership(tags: &[Tag], owner: &Owner) -> Ownership {
    owner.ownership(tags.iter().filter_map(|t| Some((t.key()?, t.value()?))))
}

/// A refusal: in a stuck state it needs a human, otherwise it is a wait.
fn refused(p: &mut Progress, what: &str, id: &str, status: &str, operation: &str, message: &str) {
    if state(status) == State::Stuck {
        p.fail(format!(
            "{what} {id} is {status} and RDS refused {operation}: {message}; \
             fix that, then run the teardown again"
        ));
    }
    p.wait(
        what,
        id,
        format!("{status} ({operation} refused: {message})"),
    );
}

/// DeleteDBInstance / DeleteDBCluster refusals that waiting can resolve.
fn delete_result<T, E, R>(
    operation: &str,
    result: Result<T, aws_sdk_rds::error::SdkError<E, R>>,
) -> Result<Outcome<()>, StepError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let result = match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = StepError::from_sdk(operation, &e);
            let message = match &e {
                aws_sdk_rds::error::SdkError::ServiceError(se) => {
                    se.err().message().unwrap_or_default().to_string()
                }
                _ => String::new(),
            };
            match error_code(&e) {
                // The snapshot name is per minute: the next attempt uses another.
                Some("DBSnapshotAlreadyExists" | "DBClusterSnapshotAlreadyExistsFault") => {
                    Err(conflict(operation, message))
                }
                // Deletion protection was just turned off and RDS does not see it yet.
                Some("InvalidParameterCombination") if message.contains("protect") => {
                    Err(conflict(operation, message))
                }
                _ => Err(err),
            }
        }
    };
    settle(result)
}

fn conflict(operation: &str, message: String) -> StepError {
    StepError::Conflict {
        operation: operation.into(),
        message,
    }
}

// ---- an instance we created ----

/// What is left of the instance.
async fn delete_instance(
    rds: &Rds,
    input: &TeardownInput,
    p: &mut Progress,
    i: &DbInstance,
    stamp: &str,
) -> Result<Left, StepError> {
    let id = i.db_instance_identifier().unwrap_or_default();
    let status = i.db_instance_status().unwrap_or("unknown");
    if state(status) == State::Busy {
        p.wait(INSTANCE, id, status);
        return Ok(Left::Waiting);
    }
    if !input.skip_final_snapshot && NO_SNAPSHOT.contains(&status) {
        p.fail(format!(
            "DB instance {id} is {status}: RDS can take no final snapshot of it. Repair it, or run \
             the teardown again with \"skipFinalSnapshot\": true to delete it without one"
        ));
        p.wait(INSTANCE, id, status);
        return Ok(Left::Waiting);
    }
    if i.deletion_protection() == Some(true) {
        let modified = settle(
            rds.modify_db_instance()
                .db_instance_identifier(id)
                .deletion_protection(false)
                .apply_immediately(true)
                .send()
                .await
                .map(|_| ())
                .aws("rds:ModifyDBInstance"),
        )?;
        match modified {
            Outcome::Done(()) => {
                tracing::info!(db_instance = id, "turned deletion protection off")
            }
            Outcome::Gone => return Ok(Left::Gone),
            Outcome::Refused(m) => {
                refused(p, INSTANCE, id, status, "ModifyDBInstance", &m);
                return Ok(Left::Waiting);
            }
        }
    }
    let snapshot = (!input.skip_final_snapshot).then(|| snapshot_id(id, stamp));
    let deleted = rds
        .delete_db_instance()
        .db_instance_identifier(id)
        .skip_final_snapshot(input.skip_final_snapshot)
        .set_final_db_snapshot_identifier(snapshot.clone())
        .delete_automated_backups(false)
        .send()
        .await;
    match delete_result("rds:DeleteDBInstance", deleted)? {
        Outcome::Done(()) => {
            tracing::info!(db_instance = id, final_snapshot = ?snapshot, "deleting DB instance");
            p.deleted(id);
            p.wait(INSTANCE, id, "deleting");
            Ok(Left::Waiting)
        }
        Outcome::Gone => Ok(Left::Gone),
        Outcome::Refused(m) => {
            refused(p, INSTANCE, id, status, "DeleteDBInstance", &m);
            Ok(Left::Waiting)
        }
    }
}

// ---- an Aurora cluster we created ----

/// What is left of the cluster.
async fn delete_cluster(
    rds: &Rds,
    input: &TeardownInput,
    p: &mut Progress,
    c: &DbCluster,
    stamp: &str,
) -> Result<Left, StepError> {
    let id = c.db_cluster_identifier().unwrap_or_default();
    let status = c.status().unwrap_or("unknown");

    let (waiting, kept) = members(rds, input, p, id, true).await?;
    if kept > 0 {
        tracing::info!(
            db_cluster = id,
            kept,
            "instances of another execution keep the cluster: left alone"
        );
        return Ok(Left::Kept);
    }
    if waiting > 0 {
        p.wait(
            CLUSTER,
            id,
            format!("{status} (waits for {waiting} instance(s) to go)"),
        );
        return Ok(Left::Waiting);
    }
    if state(status) == State::Busy {
        p.wait(CLUSTER, id, status);
        return Ok(Left::Waiting);
    }
    if c.deletion_protection() == Some(true) {
        let modified = settle(
            rds.modify_db_cluster()
                .db_cluster_identifier(id)
                .deletion_protection(false)
                .apply_immediately(true)
                .send()
                .await
                .map(|_| ())
                .aws("rds:ModifyDBCluster"),
        )?;
        match modified {
            Outcome::Done(()) => tracing::info!(db_cluster = id, "turned deletion protection off"),
            Outcome::Gone => return Ok(Left::Gone),
            Outcome::Refused(m) => {
                refused(p, CLUSTER, id, status, "ModifyDBCluster", &m);
                return Ok(Left::Waiting);
            }
        }
    }
    let snapshot = (!input.skip_final_snapshot).then(|| snapshot_id(id, stamp));
    let deleted = rds
        .delete_db_cluster()
        .db_cluster_identifier(id)
        .skip_final_snapshot(input.skip_final_snapshot)
        .set_final_db_snapshot_identifier(snapshot.clone())
        .delete_automated_backups(false)
        .send()
        .await;
    match delete_result("rds:DeleteDBCluster", deleted)? {
        Outcome::Done(()) => {
            tracing::info!(db_cluster = id, final_snapshot = ?snapshot, "deleting DB cluster");
            p.deleted(id);
            p.wait(CLUSTER, id, "deleting");
            Ok(Left::Waiting)
        }
        Outcome::Gone => Ok(Left::Gone),
        Outcome::Refused(m) => {
            refused(p, CLUSTER, id, status, "DeleteDBCluster", &m);
            Ok(Left::Waiting)
        }
    }
}

/// The instances of the deployment's cluster `cluster`: ours go. Counts those
/// still there, as (waited for, kept). `deleting`: the cluster goes too, so
/// an instance that is not the deployment's blocks it.
async fn members(
    rds: &Rds,
    input: &TeardownInput,
    p: &mut Progress,
    cluster: &str,
    deleting: bool,
) -> Result<(usize, usize), StepError> {
    let (mut waiting, mut kept) = (0, 0);
    for i in cluster_instances(rds, cluster).await? {
        match delete_cluster_instance(rds, input, p, &i, deleting).await? {
            Left::Gone => {}
            Left::Waiting => waiting += 1,
            Left::Kept => kept += 1,
        }
    }
    Ok((waiting, kept))
}

/// One instance of the deployment's cluster (snapshots are the cluster's).
async fn delete_cluster_instance(
    rds: &Rds,
    input: &TeardownInput,
    p: &mut Progress,
    i: &DbInstance,
    cluster_deleting: bool,
) -> Result<Left, StepError> {
    let id = i.db_instance_identifier().unwrap_or_default();
    let status = i.db_instance_status().unwrap_or("unknown");
    match ownership(i.tag_list(), &input.owner()) {
        Ownership::Owned => {}
        Ownership::Foreign if cluster_deleting => {
            p.fail(format!(
                "DB instance {id} in the deployment's cluster was not created by deployment `{}`, \
                 so it is never deleted here; delete it yourself, then run the teardown again",
                input.name
            ));
            p.wait(INSTANCE, id, status);
            return Ok(Left::Waiting);
        }
        Ownership::Foreign | Ownership::OtherExecution => {
            tracing::info!(db_instance = id, "not this execution's: left alone");
            return Ok(Left::Kept);
        }
    }
    if state(status) == State::Busy {
        p.wait(INSTANCE, id, status);
        return Ok(Left::Waiting);
    }
    let deleted = rds
        .delete_db_instance()
        .db_instance_identifier(id)
        .send()
        .await;
    match delete_result("rds:DeleteDBInstance", deleted)? {
        Outcome::Done(()) => {
            tracing::info!(db_instance = id, "deleting DB cluster instance");
            p.deleted(id);
            p.wait(INSTANCE, id, "deleting");
            Ok(Left::Waiting)
        }
        Outcome::Gone => Ok(Left::Gone),
        Outcome::Refused(m) => {
            refused(p, INSTANCE, id, status, "DeleteDBInstance", &m);
            Ok(Left::Waiting)
        }
    }
}

// ---- adopted databases: take our security group back ----

async fn detach_from_adopted(
    rds: &Rds,
    ec2: &Ec2,
    input: &TeardownInput,
    names: &Names,
    p: &mut Progress,
) -> Result<(), StepError> {
    let owner = input.owner();
    // With onlyExecution: only when that execution created the group.
    let groups = our_db_security_groups(ec2, &names.db_security_group, &owner).await?;
    if groups.is_empty() {
        return Ok(());
    }
    // Adopted = not the deployment's (whichever execution made it).
    let adopted = |tags: &[Tag]| ownership(tags, &owner) == Ownership::Foreign;
    for i in all_instances(rds).await? {
        // A cluster's instances show the cluster's groups: handled with the cluster.
        if i.db_cluster_identifier().is_some() || !adopted(i.tag_list()) {
            continue;
        }
        let id = i.db_instance_identifier().unwrap_or_default();
        let status = i.db_instance_status().unwrap_or("unknown");
        let Some(keep) = without_ours(p, INSTANCE, id, status, i.vpc_security_groups(), &groups)
        else {
            continue;
        };
        let result = settle(
            rds.modify_db_instance()
                .db_instance_identifier(id)
                .set_vpc_security_group_ids(Some(keep))
                .apply_immediately(true)
                .send()
                .await
                .map(|_| ())
                .aws("rds:ModifyDBInstance"),
        )?;
        detached(p, INSTANCE, id, status, "ModifyDBInstance", result);
    }
    for c in all_clusters(rds).await? {
        if !adopted(c.tag_list()) {
            continue;
        }
        let id = c.db_cluster_identifier().unwrap_or_default();
        let status = c.status().unwrap_or("unknown");
        let Some(keep) = without_ours(p, CLUSTER, id, status, c.vpc_security_groups(), &groups)
        else {
            continue;
        };
        let result = settle(
            rds.modify_db_cluster()
                .db_cluster_identifier(id)
                .set_vpc_security_group_ids(Some(keep))
                .apply_immediately(true)
                .send()
                .await
                .map(|_| ())
                .aws("rds:ModifyDBCluster"),
        )?;
        detached(p, CLUSTER, id, status, "ModifyDBCluster", result);
    }
    Ok(())
}

/// The groups to leave on an adopted database, when ours is attached and can
/// be removed now; records why not otherwise.
fn without_ours(
    p: &mut Progress,
    what: &str,
    id: &str,
    status: &str,
    current: &[VpcSecurityGroupMembership],
    ours: &[String],
) -> Option<Vec<String>> {
    let is_ours = |m: &VpcSecurityGroupMembership| {
        m.vpc_security_group_id()
            .is_some_and(|g| ours.iter().any(|o| o == g))
    };
    let attached: Vec<&str> = current
        .iter()
        .filter(|m| is_ours(m))
        .filter_map(|m| m.vpc_security_group_id())
        .collect();
    if attached.is_empty() {
        return None;
    }
    let shown = attached.join(", ");
    let keep: Vec<String> = current
        .iter()
        .filter(|m| !is_ours(m))
        .filter_map(|m| m.vpc_security_group_id())
        .map(str::to_string)
        .collect();
    if keep.is_empty() {
        // RDS keeps at least one group; removing ours would need a replacement.
        p.fail(format!(
            "{what} {id} (not created by this deployment) has only our security group {shown}; \
             attach one of its own, then run the teardown again"
        ));
        p.wait(what, id, format!("{status} (still has {shown})"));
        return None;
    }
    if state(status) == State::Busy
        || current
            .iter()
            .any(|m| is_ours(m) && m.status() != Some("active"))
    {
        p.wait(what, id, format!("{status} (still has {shown})"));
        return None;
    }
    Some(keep)
}

fn detached(
    p: &mut Progress,
    what: &str,
    id: &str,
    status: &str,
    operation: &str,
    result: Outcome<()>,
) {
    match result {
        Outcome::Done(()) => {
            tracing::info!(
                kind = what,
                id,
                "removed our security group from an adopted database"
            );
            p.wait(what, id, "modifying (removing our security group)");
        }
        Outcome::Gone => {}
        Outcome::Refused(m) => refused(p, what, id, status, operation, &m),
    }
}

/// Our DB security groups (any VPC), by name and deployment tag (and
/// execution tag, with onlyExecution).
async fn our_db_security_groups(
    ec2: &Ec2,
    group_name: &str,
    owner: &Owner,
) -> Result<Vec<String>, StepError> {
    use aws_sdk_ec2::types::Filter as Ec2Filter;
    let filter = |name: String, value: &str| Ec2Filter::builder().name(name).values(value).build();
    let mut filters = vec![
        filter("group-name".into(), group_name),
        filter(
            format!("tag:{}", shared::tags::DEPLOYMENT),
            &owner.deployment,
        ),
    ];
    if let Some(e) = &owner.execution {
        filters.push(filter(format!("tag:{}", shared::tags::EXECUTION), e));
    }
    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let page = ec2
            .describe_security_groups()
            .set_filters(Some(filters.clone()))
            .set_next_token(token)
            .send()
            .await
            .aws("ec2:DescribeSecurityGroups")?;
        for g in page.security_groups() {
            let tagged = owner.owns(g.tags().iter().filter_map(|t| Some((t.key()?, t.value()?))));
            if let (true, Some(id)) = (tagged, g.group_id()) {
                ids.push(id.to_string());
            }
        }
        match page.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(ids),
        }
    }
}

// ---- the subnet group ----

async fn delete_subnet_group(
    rds: &Rds,
    input: &TeardownInput,
    names: &Names,
    database: &[Left],
    p: &mut Progress,
) -> Result<(), StepError> {
    let name = names.db_subnet_group.as_str();
    let found = describe_subnet_group(rds, name).await?;
    let Some(arn) = found.as_ref().and_then(|g| g.db_subnet_group_arn()) else {
        return Ok(());
    };
    let tags = match rds
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .aws("rds:ListTagsForResource")
    {
        Ok(t) => t,
        Err(StepError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    if ownership(tags.tag_list(), &input.owner()) != Ownership::Owned {
        tracing::warn!(
            db_subnet_group = name,
            "DB subnet group with our name was not created by this deployment (or execution): left alone"
        );
        return Ok(());
    }
    if database.contains(&Left::Waiting) {
        p.wait(SUBNET_GROUP, name, "in use (waits for the database to go)");
        return Ok(());
    }
    if database.contains(&Left::Kept) {
        tracing::info!(
            db_subnet_group = name,
            "the database of another execution uses it: left alone"
        );
        return Ok(());
    }
    let result = match rds
        .delete_db_subnet_group()
        .db_subnet_group_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Still used by a database (e.g. one being deleted).
        Err(e) if error_code(&e) == Some("InvalidDBSubnetGroupStateFault") => Err(conflict(
            "rds:DeleteDBSubnetGroup",
            StepError::from_sdk("rds:DeleteDBSubnetGroup", &e).to_string(),
        )),
        Err(e) => Err(StepError::from_sdk("rds:DeleteDBSubnetGroup", &e)),
    };
    match settle(result)? {
        Outcome::Done(()) => {
            tracing::info!(db_subnet_group = name, "deleted DB subnet group");
            p.deleted(name);
        }
        Outcome::Gone => {}
        Outcome::Refused(m) => p.wait(SUBNET_GROUP, name, format!("in use ({m})")),
    }
    Ok(())
}

// ---- describing ----

async fn cluster_instances(rds: &Rds, cluster: &str) -> Result<Vec<DbInstance>, StepError> {
    instances(
        rds,
        Some(
            Filter::builder()
                .name("db-cluster-id")
                .values(cluster)
                .build(),
        ),
    )
    .await
}

async fn all_instances(rds: &Rds) -> Result<Vec<DbInstance>, StepError> {
    instances(rds, None).await
}

async fn instances(rds: &Rds, filter: Option<Filter>) -> Result<Vec<DbInstance>, StepError> {
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        let page = rds
            .describe_db_instances()
            .set_filters(filter.clone().map(|f| vec![f]))
            .set_marker(marker)
            .send()
            .await
            .aws("rds:DescribeDBInstances")?;
        all.extend_from_slice(page.db_instances());
        match page.marker() {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(all),
        }
    }
}

async fn all_clusters(rds: &Rds) -> Result<Vec<DbCluster>, StepError> {
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        let page = rds
            .describe_db_clusters()
            .set_marker(marker)
            .send()
            .await
            .aws("rds:DescribeDBClusters")?;
        all.extend_from_slice(page.db_clusters());
        match page.marker() {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(all),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, UNIX_EPOCH};

    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::types::SecurityGroup;
    use aws_sdk_rds::operation::delete_db_cluster::DeleteDbClusterOutput;
    use aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput;
    use aws_sdk_rds::operation::delete_db_subnet_group::DeleteDbSubnetGroupOutput;
    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::operation::describe_db_subnet_groups::DescribeDbSubnetGroupsOutput;
    use aws_sdk_rds::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput;
    use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
    use aws_sdk_rds::types::DbSubnetGroup;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use shared::plan::PollState;
    use shared::testing;

    const DB_SG: &str = "sg-0a1b2c3d4e5f60002";
    const THEIR_SG: &str = "sg-0000000000000aaa1";
    const GROUP_ARN: &str = "arn:aws:rds:us-east-1:123456789012:subgrp:orders-db-subnets";
    /// 2024-02-29T13:05:42Z
    const NOW_SECS: u64 = 1_709_211_942;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW_SECS)
    }

    fn input() -> TeardownInput {
        TeardownInput {
            name: "orders".into(),
            ..TeardownInput::default()
        }
    }

    fn tag(deployment: &str) -> Tag {
        Tag::builder()
            .key(shared::tags::DEPLOYMENT)
            .value(deployment)
            .build()
    }

    fn sg(id: &str) -> VpcSecurityGroupMembership {
        VpcSecurityGroupMembership::builder()
            .vpc_security_group_id(id)
            .status("active")
            .build()
    }

    fn instance(id: &str, status: &str, owner: Option<&str>, protected: bool) -> DbInstance {
        let mut b = DbInstance::builder()
            .db_instance_identifier(id)
            .db_instance_status(status)
            .deletion_protection(protected)
            .vpc_security_groups(sg(DB_SG));
        if let Some(o) = owner {
            b = b.tag_list(tag(o));
        }
        b.build()
    }

    fn not_found_instance() -> testing::HttpResponse {
        testing::rds_error(404, "DBInstanceNotFound", "DBInstance orders-db not found.")
    }

    fn not_found_cluster() -> testing::HttpResponse {
        testing::rds_error(
            404,
            "DBClusterNotFoundFault",
            "DBCluster orders-db not found.",
        )
    }

    type Log = Arc<Mutex<Vec<String>>>;

    /// The rules of one call; the world is what each describe returns.
    struct Mocks {
        log: Log,
        instance: Rule,
        cluster: Rule,
        members: Rule,
        scan_instances: Rule,
        scan_clusters: Rule,
        groups: Rule,
        subnet_group: Rule,
        subnet_tags: Rule,
        modify_instance: Rule,
        delete_instance: Rule,
        modify_cluster: Rule,
        delete_cluster: Rule,
        delete_subnet_group: Rule,
    }

    impl Mocks {
        fn new() -> Self {
            let log: Log = Arc::default();
            let (l1, l2, l3, l4, l5) = (
                log.clone(),
                log.clone(),
                log.clone(),
                log.clone(),
                log.clone(),
            );
            Self {
                instance: mock!(Rds::describe_db_instances)
                    .match_requests(|r| r.db_instance_identifier() == Some("orders-db"))
                    .then_http_response(not_found_instance),
                cluster: mock!(Rds::describe_db_clusters)
                    .match_requests(|r| r.db_cluster_identifier() == Some("orders-db"))
                    .then_http_response(not_found_cluster),
                members: mock!(Rds::describe_db_instances)
                    .match_requests(|r| !r.filters().is_empty())
                    .then_output(|| DescribeDbInstancesOutput::builder().build()),
                scan_instances: mock!(Rds::describe_db_instances)
                    .then_output(|| DescribeDbInstancesOutput::builder().build()),
                scan_clusters: mock!(Rds::describe_db_clusters)
                    .then_output(|| DescribeDbClustersOutput::builder().build()),
                groups: mock!(Ec2::describe_security_groups)
                    .then_output(|| DescribeSecurityGroupsOutput::builder().build()),
                subnet_group: mock!(Rds::describe_db_subnet_groups).then_http_response(|| {
                    testing::rds_error(404, "DBSubnetGroupNotFoundFault", "not found")
                }),
                subnet_tags: mock!(Rds::list_tags_for_resource)
                    .match_requests(|r| r.resource_name() == Some(GROUP_ARN))
                    .then_output(|| {
                        ListTagsForResourceOutput::builder()
                            .tag_list(tag("orders"))
                            .build()
                    }),
                modify_instance: mock!(Rds::modify_db_instance).then_compute_output(move |r| {
                    l1.lock()
                        .unwrap()
                        .push(format!("modify {}", r.db_instance_identifier().unwrap()));
                    ModifyDbInstanceOutput::builder().build()
                }),
                delete_instance: mock!(Rds::delete_db_instance).then_compute_output(move |r| {
                    l2.lock()
                        .unwrap()
                        .push(format!("delete {}", r.db_instance_identifier().unwrap()));
                    DeleteDbInstanceOutput::builder().build()
                }),
                modify_cluster: mock!(Rds::modify_db_cluster).then_compute_output(move |r| {
                    l3.lock()
                        .unwrap()
                        .push(format!("modify {}", r.db_cluster_identifier().unwrap()));
                    ModifyDbClusterOutput::builder().build()
                }),
                delete_cluster: mock!(Rds::delete_db_cluster).then_compute_output(move |r| {
                    l4.lock()
                        .unwrap()
                        .push(format!("delete {}", r.db_cluster_identifier().unwrap()));
                    DeleteDbClusterOutput::builder().build()
                }),
                delete_subnet_group: mock!(Rds::delete_db_subnet_group).then_compute_output(
                    move |r| {
                        l5.lock()
                            .unwrap()
                            .push(format!("delete {}", r.db_subnet_group_name().unwrap()));
                        DeleteDbSubnetGroupOutput::builder().build()
                    },
                ),
                log,
            }
        }

        fn with_instance(mut self, i: DbInstance) -> Self {
            self.instance = mock!(Rds::describe_db_instances)
                .match_requests(|r| r.db_instance_identifier() == Some("orders-db"))
                .then_output(move || {
                    DescribeDbInstancesOutput::builder()
                        .db_instances(i.clone())
                        .build()
                });
            self
        }

        fn with_subnet_group(mut self) -> Self {
            self.subnet_group = mock!(Rds::describe_db_subnet_groups)
                .match_requests(|r| r.db_subnet_group_name() == Some("orders-db-subnets"))
                .then_output(|| {
                    DescribeDbSubnetGroupsOutput::builder()
                        .db_subnet_groups(
                            DbSubnetGroup::builder()
                                .db_subnet_group_name("orders-db-subnets")
                                .db_subnet_group_arn(GROUP_ARN)
                                .build(),
                        )
                        .build()
                });
            self
        }

        /// Our DB security group exists (an adopted database may carry it).
        fn with_our_group(mut self) -> Self {
            self.groups = mock!(Ec2::describe_security_groups)
                .match_requests(|r| {
                    let has = |n: &str, v: &str| {
                        r.filters()
                            .iter()
                            .any(|f| f.name() == Some(n) && f.values() == [v])
                    };
                    has("group-name", "orders-database")
                        && has("tag:lattice-db-access:deployment", "orders")
                })
                .then_output(|| {
                    DescribeSecurityGroupsOutput::builder()
                        .security_groups(
                            SecurityGroup::builder()
                                .group_id(DB_SG)
                                .group_name("orders-database")
                                .tags(
                                    aws_sdk_ec2::types::Tag::builder()
                                        .key(shared::tags::DEPLOYMENT)
                                        .value("orders")
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                });
            self
        }

        fn clients(&self) -> (Rds, Ec2) {
            let rds = mock_client!(
                aws_sdk_rds,
                RuleMode::MatchAny,
                [
                    &self.instance,
                    &self.cluster,
                    &self.members,
                    &self.scan_instances,
                    &self.scan_clusters,
                    &self.subnet_group,
                    &self.subnet_tags,
                    &self.modify_instance,
                    &self.delete_instance,
                    &self.modify_cluster,
                    &self.delete_cluster,
                    &self.delete_subnet_group
                ]
            );
            let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&self.groups]);
            (rds, ec2)
        }

        fn calls(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }
    }

    #[test]
    fn the_final_snapshot_is_stamped_to_the_minute_in_utc() {
        assert_eq!(stamp(now()).unwrap(), "202402291305");
        assert_eq!(
            snapshot_id("orders-db", &stamp(now()).unwrap()),
            "orders-db-final-202402291305"
        );
    }

    #[tokio::test]
    async fn deletion_protection_goes_off_before_the_delete_with_a_final_snapshot() {
        let mut m = Mocks::new()
            .with_instance(instance("orders-db", "available", Some("orders"), true))
            .with_subnet_group();
        let log = m.log.clone();
        m.modify_instance = mock!(Rds::modify_db_instance)
            .match_requests(|r| {
                r.db_instance_identifier() == Some("orders-db")
                    && r.deletion_protection() == Some(false)
                    && r.apply_immediately() == Some(true)
                    && r.vpc_security_group_ids().is_empty()
            })
            .then_compute_output(move |_| {
                log.lock().unwrap().push("modify orders-db".into());
                ModifyDbInstanceOutput::builder().build()
            });
        let log = m.log.clone();
        m.delete_instance = mock!(Rds::delete_db_instance)
            .match_requests(|r| {
                r.db_instance_identifier() == Some("orders-db")
                    && r.skip_final_snapshot() == Some(false)
                    && r.final_db_snapshot_identifier() == Some("orders-db-final-202402291305")
                    && r.delete_automated_backups() == Some(false)
            })
            .then_compute_output(move |_| {
                log.lock().unwrap().push("delete orders-db".into());
                DeleteDbInstanceOutput::builder().build()
            });
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, input(), now()).await.unwrap();
        assert_eq!(m.calls(), ["modify orders-db", "delete orders-db"]);
        assert_eq!(out.state, PollState::Pending);
        assert_eq!(out.deleted, ["orders-db"]);
        assert_eq!(
            out.waiting,
            [
                "DB instance orders-db is deleting",
                "DB subnet group orders-db-subnets is in use (waits for the database to go)"
            ]
        );
        assert_eq!(out.wait_seconds, Policy::DATABASE.wait_after(1));
    }

    #[tokio::test]
    async fn skip_final_snapshot_deletes_without_one() {
        let mut m =
            Mocks::new().with_instance(instance("orders-db", "available", Some("orders"), false));
        m.delete_instance = mock!(Rds::delete_db_instance)
            .match_requests(|r| {
                r.skip_final_snapshot() == Some(true) && r.final_db_snapshot_identifier().is_none()
            })
            .then_output(|| DeleteDbInstanceOutput::builder().build());
        let (rds, ec2) = m.clients();
        let out = handle_at(
            &rds,
            &ec2,
            TeardownInput {
                skip_final_snapshot: true,
                ..input()
            },
            now(),
        )
        .await
        .unwrap();
        assert_eq!(m.delete_instance.num_calls(), 1);
        assert_eq!(
            m.modify_instance.num_calls(),
            0,
            "not protected: nothing to turn off"
        );
        assert_eq!(out.deleted, ["orders-db"]);
    }

    #[tokio::test]
    async fn a_deleting_instance_is_waited_for_and_keeps_its_subnet_group() {
        let m = Mocks::new()
            .with_instance(instance("orders-db", "deleting", Some("orders"), false))
            .with_subnet_group();
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, input(), now()).await.unwrap();
        assert!(m.calls().is_empty(), "{:?}", m.calls());
        assert_eq!(out.state, PollState::Pending);
        assert_eq!(out.waiting[0], "DB instance orders-db is deleting");
    }

    #[tokio::test]
    async fn once_the_database_is_gone_the_subnet_group_goes() {
        let m = Mocks::new().with_subnet_group();
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, input(), now()).await.unwrap();
        assert_eq!(m.calls(), ["delete orders-db-subnets"]);
        assert_eq!(
            (out.state, out.deleted.as_slice()),
            (PollState::Ready, &["orders-db-subnets".to_string()][..])
        );
    }

    #[tokio::test]
    async fn nothing_left_is_ready_without_any_delete() {
        let m = Mocks::new();
        let (rds, ec2) = m.clients();
        let out = handle_at(
            &rds,
            &ec2,
            TeardownInput {
                previous: Some(Previous {
                    attempt: 4,
                    waiting: vec![],
                }),
                ..input()
            },
            now(),
        )
        .await
        .unwrap();
        assert!(m.calls().is_empty());
        assert_eq!((out.state, out.attempt), (PollState::Ready, 5));
        assert_eq!(m.groups.num_calls(), 1);
        assert_eq!(
            m.scan_instances.num_calls(),
            0,
            "no DB security group of ours: nothing to scan"
        );
    }

    #[tokio::test]
    async fn an_adopted_database_is_never_deleted_but_gets_our_group_removed() {
        // Someone else's instance under our very name, and an adopted one elsewhere.
        let same_name = DbInstance::builder()
            .db_instance_identifier("orders-db")
            .db_instance_status("available")
            .vpc_security_groups(sg(THEIR_SG))
            .build();
        let adopted = DbInstance::builder()
            .db_instance_identifier("legacy-db")
            .db_instance_status("available")
            .vpc_security_groups(sg(THEIR_SG))
            .vpc_security_groups(sg(DB_SG))
            .build();
        let mut m = Mocks::new()
            .with_instance(same_name.clone())
            .with_our_group()
            .with_subnet_group();
        m.scan_instances = mock!(Rds::describe_db_instances).then_output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(same_name.clone())
                .db_instances(adopted.clone())
                .build()
        });
        m.modify_instance = mock!(Rds::modify_db_instance)
            .match_requests(|r| {
                r.db_instance_identifier() == Some("legacy-db")
                    && r.vpc_security_group_ids() == [THEIR_SG]
                    && r.apply_immediately() == Some(true)
                    && r.deletion_protection().is_none()
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, input(), now()).await.unwrap();
        assert_eq!(m.delete_instance.num_calls(), 0);
        assert_eq!(m.modify_instance.num_calls(), 1);
        // Our subnet group goes: no database of ours uses it.
        assert_eq!(m.delete_subnet_group.num_calls(), 1);
        assert_eq!(out.state, PollState::Pending);
        assert!(out.waiting.contains(
            &"DB instance legacy-db is modifying (removing our security group)".to_string()
        ));

        // Next call: RDS is applying it; nothing is sent again.
        let modifying = DbInstance::builder()
            .db_instance_identifier("legacy-db")
            .db_instance_status("modifying")
            .vpc_security_groups(sg(THEIR_SG))
            .vpc_security_groups(sg(DB_SG))
            .build();
        let mut m = Mocks::new().with_our_group();
        m.scan_instances = mock!(Rds::describe_db_instances).then_output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(modifying.clone())
                .build()
        });
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, input(), now()).await.unwrap();
        assert!(m.calls().is_empty());
        assert_eq!(out.state, PollState::Pending);

        // Then ours is off: done.
        let done = DbInstance::builder()
            .db_instance_identifier("legacy-db")
            .db_instance_status("available")
            .vpc_security_groups(sg(THEIR_SG))
            .build();
        let mut m = Mocks::new().with_our_group();
        m.scan_instances = mock!(Rds::describe_db_instances).then_output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(done.clone())
                .build()
        });
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, input(), now()).await.unwrap();
        assert!(m.calls().is_empty());
        assert_eq!(out.state, PollState::Ready);
    }

    #[tokio::test]
    async fn an_adopted_cluster_gets_our_group_removed_and_keeps_its_own() {
        let adopted = DbCluster::builder()
            .db_cluster_identifier("legacy-aurora")
            .status("available")
            .vpc_security_groups(sg(DB_SG))
            .vpc_security_groups(sg(THEIR_SG))
            .build();
        let mut m = Mocks::new().with_our_group();
        m.scan_clusters = mock!(Rds::describe_db_clusters).then_output(move || {
            DescribeDbClustersOutput::builder()
                .db_clusters(adopted.clone())
                .build()
        });
        m.modify_cluster = mock!(Rds::modify_db_cluster)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("legacy-aurora")
                    && r.vpc_security_group_ids() == [THEIR_SG]
                    && r.deletion_protection().is_none()
            })
            .then_output(|| ModifyDbClusterOutput::builder().build());
        let (rds, ec2) = m.clients();
        handle_at(&rds, &ec2, input(), now()).await.unwrap();
        assert_eq!(m.modify_cluster.num_calls(), 1);
        assert_eq!(m.delete_cluster.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_adopted_database_with_only_our_group_fails_instead_of_losing_it() {
        let adopted = DbInstance::builder()
            .db_instance_identifier("legacy-db")
            .db_instance_status("available")
            .vpc_security_groups(sg(DB_SG))
            .build();
        let mut m = Mocks::new().with_our_group();
        m.scan_instances = mock!(Rds::describe_db_instances).then_output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(adopted.clone())
                .build()
        });
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, input(), now()).await.unwrap();
        assert!(m.calls().is_empty());
        assert_eq!(out.state, PollState::Failed);
        assert!(out.reason.unwrap().contains("legacy-db"));
    }

    #[tokio::test]
    async fn keep_database_touches_nothing() {
        let (rds, ec2) = (
            mock_client!(aws_sdk_rds, RuleMode::MatchAny, Vec::<&Rule>::new()),
            mock_client!(aws_sdk_ec2, RuleMode::MatchAny, Vec::<&Rule>::new()),
        );
        // Any AWS call would panic: no rule matches it.
        let out = handle_at(
            &rds,
            &ec2,
            TeardownInput {
                keep_database: true,
                ..input()
            },
            now(),
        )
        .await
        .unwrap();
        assert_eq!(out.state, PollState::Ready);
        assert!(out.deleted.is_empty());
    }

    fn our_cluster(protected: bool) -> DbCluster {
        DbCluster::builder()
            .db_cluster_identifier("orders-db")
            .status("available")
            .deletion_protection(protected)
            .tag_list(tag("orders"))
            .build()
    }

    #[tokio::test]
    async fn aurora_instances_go_first_then_the_unprotected_cluster() {
        let mut m = Mocks::new();
        m.cluster = mock!(Rds::describe_db_clusters)
            .match_requests(|r| r.db_cluster_identifier() == Some("orders-db"))
            .then_output(|| {
                DescribeDbClustersOutput::builder()
                    .db_clusters(our_cluster(true))
                    .build()
            });
        m.members = mock!(Rds::describe_db_instances)
            .match_requests(|r| {
                r.filters().len() == 1
                    && r.filters()[0].name() == Some("db-cluster-id")
                    && r.filters()[0].values() == ["orders-db"]
            })
            .then_output(|| {
                DescribeDbInstancesOutput::builder()
                    .db_instances(instance("orders-db-1", "available", Some("orders"), false))
                    .db_instances(instance("orders-db-2", "available", Some("orders"), false))
                    .build()
            });
        let log = m.log.clone();
        m.delete_instance = mock!(Rds::delete_db_instance)
            .match_requests(|r| {
                // Cluster instances take no snapshot options (RDS rejects them).
                r.skip_final_snapshot().is_none() && r.final_db_snapshot_identifier().is_none()
            })
            .then_compute_output(move |r| {
                log.lock()
                    .unwrap()
                    .push(format!("delete {}", r.db_instance_identifier().unwrap()));
                DeleteDbInstanceOutput::builder().build()
            });
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, input(), now()).await.unwrap();
        assert_eq!(m.calls(), ["delete orders-db-1", "delete orders-db-2"]);
        assert_eq!(out.deleted, ["orders-db-1", "orders-db-2"]);
        assert!(out.waiting.contains(
            &"DB cluster orders-db is available (waits for 2 instance(s) to go)".to_string()
        ));

        // The instances are gone: the cluster is unprotected, then deleted with its snapshot.
        let mut m = Mocks::new();
        m.cluster = mock!(Rds::describe_db_clusters)
            .match_requests(|r| r.db_cluster_identifier() == Some("orders-db"))
            .then_output(|| {
                DescribeDbClustersOutput::builder()
                    .db_clusters(our_cluster(true))
                    .build()
            });
        let log = m.log.clone();
        m.modify_cluster = mock!(Rds::modify_db_cluster)
            .match_requests(|r| {
                r.deletion_protection() == Some(false) && r.apply_immediately() == Some(true)
            })
            .then_compute_output(move |_| {
                log.lock().unwrap().push("modify orders-db".into());
                ModifyDbClusterOutput::builder().build()
            });
        let log = m.log.clone();
        m.delete_cluster = mock!(Rds::delete_db_cluster)
            .match_requests(|r| {
                r.skip_final_snapshot() == Some(false)
                    && r.final_db_snapshot_identifier() == Some("orders-db-final-202402291305")
                    && r.delete_automated_backups() == Some(false)
            })
            .then_compute_output(move |_| {
                log.lock().unwrap().push("delete orders-db".into());
                DeleteDbClusterOutput::builder().build()
            });
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, input(), now()).await.unwrap();
        assert_eq!(m.calls(), ["modify orders-db", "delete orders-db"]);
        assert_eq!(out.waiting, ["DB cluster orders-db is deleting"]);
    }

    #[tokio::test]
    async fn a_failed_instance_needs_skip_final_snapshot() {
        let m = Mocks::new().with_instance(instance("orders-db", "failed", Some("orders"), false));
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, input(), now()).await.unwrap();
        assert!(m.calls().is_empty());
        assert_eq!(out.state, PollState::Failed);
        assert!(out.reason.unwrap().contains("skipFinalSnapshot"));

        let m = Mocks::new().with_instance(instance("orders-db", "failed", Some("orders"), false));
        let (rds, ec2) = m.clients();
        let out = handle_at(
            &rds,
            &ec2,
            TeardownInput {
                skip_final_snapshot: true,
                ..input()
            },
            now(),
        )
        .await
        .unwrap();
        assert_eq!(m.calls(), ["delete orders-db"]);
        assert_eq!(out.state, PollState::Pending);
    }

    #[tokio::test]
    async fn a_refused_modification_waits_and_the_loop_times_out_at_the_bound() {
        let mut m =
            Mocks::new().with_instance(instance("orders-db", "available", Some("orders"), true));
        m.modify_instance = mock!(Rds::modify_db_instance).then_http_response(|| {
            testing::rds_error(400, "InvalidDBInstanceState", "Instance is not available")
        });
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, input(), now()).await.unwrap();
        assert_eq!(
            m.delete_instance.num_calls(),
            0,
            "never deleted while still protected"
        );
        assert_eq!(out.state, PollState::Pending);
        assert_eq!(
            out.waiting,
            ["DB instance orders-db is available (ModifyDBInstance refused: Instance is not available)"]
        );
        let max = Policy::DATABASE.max_attempts;
        let out = handle_at(
            &rds,
            &ec2,
            TeardownInput {
                previous: Some(Previous {
                    attempt: max - 1,
                    waiting: vec![],
                }),
                ..input()
            },
            now(),
        )
        .await
        .unwrap();
        assert_eq!((out.state, out.attempt), (PollState::TimedOut, max));
    }

    // ---- onlyExecution ----

    fn execution_tag(execution: &str) -> Tag {
        Tag::builder()
            .key(shared::tags::EXECUTION)
            .value(execution)
            .build()
    }

    /// An instance of the deployment created by `execution`.
    fn instance_by(id: &str, execution: &str) -> DbInstance {
        DbInstance::builder()
            .db_instance_identifier(id)
            .db_instance_status("available")
            .deletion_protection(false)
            .vpc_security_groups(sg(DB_SG))
            .tag_list(tag("orders"))
            .tag_list(execution_tag(execution))
            .build()
    }

    fn rollback_of(execution: &str) -> TeardownInput {
        TeardownInput {
            only_execution: Some(execution.into()),
            skip_final_snapshot: true,
            ..input()
        }
    }

    /// The subnet group was created by `execution`.
    fn subnet_group_by(m: Mocks, execution: &'static str) -> Mocks {
        let mut m = m.with_subnet_group();
        m.subnet_tags = mock!(Rds::list_tags_for_resource)
            .match_requests(|r| r.resource_name() == Some(GROUP_ARN))
            .then_output(move || {
                ListTagsForResourceOutput::builder()
                    .tag_list(tag("orders"))
                    .tag_list(execution_tag(execution))
                    .build()
            });
        m
    }

    #[tokio::test]
    async fn only_execution_leaves_a_database_another_execution_created() {
        let m = subnet_group_by(
            Mocks::new().with_instance(instance_by("orders-db", "run-1")),
            "run-1",
        );
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, rollback_of("run-2"), now())
            .await
            .unwrap();
        // Neither the database nor its subnet group, and nothing is waited for.
        assert!(m.calls().is_empty(), "{:?}", m.calls());
        assert_eq!(m.subnet_tags.num_calls(), 1, "ownership was checked");
        assert_eq!(out.state, PollState::Ready);
        assert!(out.waiting.is_empty() && out.deleted.is_empty());

        // A subnet group of run-2 under run-1's database stays too (the database uses it).
        let m = subnet_group_by(
            Mocks::new().with_instance(instance_by("orders-db", "run-1")),
            "run-2",
        );
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, rollback_of("run-2"), now())
            .await
            .unwrap();
        assert!(m.calls().is_empty(), "{:?}", m.calls());
        assert_eq!(out.state, PollState::Ready);
    }

    #[tokio::test]
    async fn only_execution_deletes_the_database_that_execution_created() {
        let m = subnet_group_by(
            Mocks::new().with_instance(instance_by("orders-db", "run-2")),
            "run-2",
        );
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, rollback_of("run-2"), now())
            .await
            .unwrap();
        assert_eq!(m.calls(), ["delete orders-db"]);
        assert_eq!(
            out.waiting,
            [
                "DB instance orders-db is deleting",
                "DB subnet group orders-db-subnets is in use (waits for the database to go)"
            ]
        );

        // Once it is gone, its subnet group goes.
        let m = subnet_group_by(Mocks::new(), "run-2");
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, rollback_of("run-2"), now())
            .await
            .unwrap();
        assert_eq!(m.calls(), ["delete orders-db-subnets"]);
        assert_eq!(out.state, PollState::Ready);
    }

    #[tokio::test]
    async fn only_execution_deletes_the_aurora_instances_it_added_to_an_older_cluster() {
        let mut m = Mocks::new();
        m.cluster = mock!(Rds::describe_db_clusters)
            .match_requests(|r| r.db_cluster_identifier() == Some("orders-db"))
            .then_output(|| {
                DescribeDbClustersOutput::builder()
                    .db_clusters(
                        DbCluster::builder()
                            .db_cluster_identifier("orders-db")
                            .status("available")
                            .tag_list(tag("orders"))
                            .tag_list(execution_tag("run-1"))
                            .build(),
                    )
                    .build()
            });
        m.members = mock!(Rds::describe_db_instances)
            .match_requests(|r| !r.filters().is_empty())
            .then_output(|| {
                DescribeDbInstancesOutput::builder()
                    .db_instances(instance_by("orders-db-1", "run-1"))
                    .db_instances(instance_by("orders-db-2", "run-2"))
                    .build()
            });
        let m = subnet_group_by(m, "run-1");
        let (rds, ec2) = m.clients();
        let out = handle_at(&rds, &ec2, rollback_of("run-2"), now())
            .await
            .unwrap();
        assert_eq!(m.calls(), ["delete orders-db-2"]);
        assert_eq!(m.delete_cluster.num_calls(), 0);
        assert_eq!(out.deleted, ["orders-db-2"]);
        // run-1's cluster and instance are not waited for.
        assert_eq!(out.waiting, ["DB instance orders-db-2 is deleting"]);
    }

    #[tokio::test]
    async fn only_execution_detaches_our_group_from_an_adopted_database_only_if_it_made_the_group()
    {
        let adopted = DbInstance::builder()
            .db_instance_identifier("legacy-db")
            .db_instance_status("available")
            .vpc_security_groups(sg(THEIR_SG))
            .vpc_security_groups(sg(DB_SG))
            .build();
        for (execution, detached) in [("run-1", 1), ("run-2", 0)] {
            let mut m = Mocks::new();
            // As if EC2 ignored the execution filter: the tags are checked here too.
            m.groups = mock!(Ec2::describe_security_groups)
                .match_requests(move |r| {
                    r.filters().iter().any(|f| {
                        f.name() == Some("tag:lattice-db-access:execution")
                            && f.values() == [execution]
                    }) && r.filters().iter().any(|f| {
                        f.name() == Some("tag:lattice-db-access:deployment")
                            && f.values() == ["orders"]
                    })
                })
                .then_output(|| {
                    let tag = |k: &str, v: &str| {
                        aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()
                    };
                    DescribeSecurityGroupsOutput::builder()
                        .security_groups(
                            SecurityGroup::builder()
                                .group_id(DB_SG)
                                .group_name("orders-database")
                                .tags(tag(shared::tags::DEPLOYMENT, "orders"))
                                .tags(tag(shared::tags::EXECUTION, "run-1"))
                                .build(),
                        )
                        .build()
                });
            let adopted = adopted.clone();
            m.scan_instances = mock!(Rds::describe_db_instances).then_output(move || {
                DescribeDbInstancesOutput::builder()
                    .db_instances(adopted.clone())
                    .build()
            });
            let (rds, ec2) = m.clients();
            let out = handle_at(&rds, &ec2, rollback_of(execution), now())
                .await
                .unwrap();
            assert_eq!(m.groups.num_calls(), 1, "{execution}");
            assert_eq!(m.modify_instance.num_calls(), detached, "{execution}");
            assert_eq!(out.state, [PollState::Ready, PollState::Pending][detached]);
        }
    }

    #[tokio::test]
    async fn aws_errors_keep_their_stable_names() {
        let throttled = mock!(Rds::describe_db_instances)
            .then_http_response(|| testing::rds_error(400, "Throttling", "Rate exceeded"));
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&throttled]);
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, Vec::<&Rule>::new());
        let e = handle_at(&rds, &ec2, input(), now()).await.unwrap_err();
        assert_eq!(e.name(), "Aws.Throttled");
        assert!(e.to_string().contains("rds:DescribeDBInstances"), "{e}");
    }
}
