//! Step 2: the database. Creates an RDS instance (MySQL, PostgreSQL, MariaDB)
//! or an Aurora cluster with a writer and, for Multi-AZ, a reader in another AZ
//! (the failover target); or, for an existing database, attaches our DB
//! security group to it. The status Lambda then waits for it to be available.
//! Recipe differences: the master password is managed by RDS in Secrets Manager
//! (never sent or logged), storage is encrypted, Multi-AZ by default, deletion
//! protection on, not publicly accessible (aws-facts §2 #2, #3).

use aws_sdk_rds::types::{DbCluster, DbInstance, Tag, VpcSecurityGroupMembership};
use aws_sdk_rds::Client;
use shared::plan::{DatabaseOut, DbKind, DbNetworkOut, Plan, PlannedCreate};
use shared::rds::{describe_cluster, describe_instance};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "database";

/// What this step reads from the execution state; a section missing there fails at the
/// state boundary, naming it ([`shared::runtime::invoke_step`]).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The validated plan (ValidateInput).
    pub plan: shared::plan::Plan,
    /// The security groups and subnet group (step 1).
    pub db_network: shared::plan::DbNetworkOut,
}

/// RDS allows at most five VPC security groups per instance or cluster.
const MAX_SECURITY_GROUPS: usize = 5;

pub async fn handle(rds: &Client, input: Input) -> Result<DatabaseOut, StepError> {
    let plan = &input.plan;
    let net = &input.db_network;
    let out = match (plan.database.create, plan.database.kind) {
        (true, DbKind::Instance) => create_instance(rds, plan, net).await,
        (true, DbKind::Cluster) => create_cluster(rds, plan, net).await,
        (false, kind) => existing(rds, plan, net, kind).await,
    }?;
    if let Some(standby) = &plan.standby {
        standby_group(rds, standby, &net.db_security_group_id).await?;
    }
    Ok(out)
}

/// The standby must be reachable the moment the failover repoints to it: the gateway's egress
/// goes only to our DB security group, so the standby gets that group too (its own groups are
/// kept). A standby that does not exist yet (a replica made later) gets it on the next run.
async fn standby_group(
    rds: &Client,
    standby: &shared::plan::DbRef,
    ours_sg: &str,
) -> Result<(), StepError> {
    let id = standby.identifier.as_str();
    let groups = match standby.kind {
        DbKind::Instance => describe_instance(rds, id)
            .await?
            .map(|i| i.vpc_security_groups().to_vec()),
        DbKind::Cluster => describe_cluster(rds, id)
            .await?
            .map(|c| c.vpc_security_groups().to_vec()),
    };
    let Some(groups) = groups else {
        tracing::warn!(
            standby = id,
            "the standby does not exist yet: a re-run gives it the database security group"
        );
        return Ok(());
    };
    attach(rds, standby.kind, id, &groups, ours_sg).await
}

/// Add `ours_sg` to the database's groups (theirs kept); nothing when it is there.
async fn attach(
    rds: &Client,
    kind: DbKind,
    id: &str,
    current: &[VpcSecurityGroupMembership],
    ours_sg: &str,
) -> Result<(), StepError> {
    let Some(groups) = with_our_group(current, ours_sg, id)? else {
        return Ok(());
    };
    match kind {
        DbKind::Instance => {
            rds.modify_db_instance()
                .db_instance_identifier(id)
                .set_vpc_security_group_ids(Some(groups))
                .apply_immediately(true)
                .send()
                .await
                .aws("rds:ModifyDBInstance")?;
        }
        DbKind::Cluster => {
            rds.modify_db_cluster()
                .db_cluster_identifier(id)
                .set_vpc_security_group_ids(Some(groups))
                .apply_immediately(true)
                .send()
                .await
                .aws("rds:ModifyDBCluster")?;
        }
    }
    tracing::info!(
        database = id,
        kind = kind.as_str(),
        security_group = ours_sg,
        "attached our security group"
    );
    Ok(())
}

// ---- a new RDS instance ----

async fn create_instance(
    rds: &Client,
    plan: &Plan,
    net: &DbNetworkOut,
) -> Result<DatabaseOut, StepError> {
    let db = &plan.database;
    let id = db.identifier.as_str();
    let s = settings(plan)?;
    let subnet_group = subnet_group(net)?;
    let adopt = async |found: DbInstance| {
        let out = adopt_instance(plan, &found)?;
        retag(rds, found.db_instance_arn(), found.tag_list(), plan).await?;
        Ok(out)
    };
    let create = async || {
        let out = rds
            .create_db_instance()
            .db_instance_identifier(id)
            .db_instance_class(&s.instance_class)
            .engine(db.engine.as_str())
            .set_engine_version(s.engine_version.clone())
            .master_username(&s.master_username)
            // RDS generates the password and keeps it in Secrets Manager: we never see it.
            .manage_master_user_password(true)
            .set_allocated_storage(
                s.allocated_storage
                    .map(|v| int(v, "database.allocatedStorage"))
                    .transpose()?,
            )
            .storage_type("gp3")
            .storage_encrypted(true)
            .deletion_protection(true)
            .multi_az(s.multi_az)
            .publicly_accessible(false)
            .vpc_security_group_ids(&net.db_security_group_id)
            .db_subnet_group_name(subnet_group)
            .backup_retention_period(int(
                s.backup_retention_days,
                "database.backupRetentionDays",
            )?)
            .port(i32::from(plan.port))
            .copy_tags_to_snapshot(true)
            .set_tags(Some(tags(plan)))
            .send()
            .await
            .aws("rds:CreateDBInstance")?;
        tracing::info!(
            db_instance = id,
            engine = db.engine.as_str(),
            multi_az = s.multi_az,
            status = ?out.db_instance().and_then(|i| i.db_instance_status()),
            "created DB instance"
        );
        Ok(instance_out(id, true))
    };
    let found = describe_instance(rds, id).await?;
    shared::reconcile::ensure(
        COMPONENT,
        found,
        async || describe_instance(rds, id).await,
        adopt,
        create,
    )
    .await
}

fn adopt_instance(plan: &Plan, found: &DbInstance) -> Result<DatabaseOut, StepError> {
    let id = plan.database.identifier.as_str();
    adoptable(plan, "DB instance", found.tag_list(), found.engine())?;
    tracing::info!(db_instance = id, status = ?found.db_instance_status(), "adopted DB instance");
    Ok(instance_out(id, true))
}

/// A database found under our identifier is adopted only if this deployment made it (its tag)
/// with the engine the input names; another engine needs a teardown first.
fn adoptable(plan: &Plan, what: &str, tags: &[Tag], engine: Option<&str>) -> Result<(), StepError> {
    let id = plan.database.identifier.as_str();
    if !ours(tags, &plan.name) {
        return Err(name_taken(what, id, &plan.name));
    }
    let want = plan.database.engine.as_str();
    if engine != Some(want) {
        let operation = if what == "DB cluster" {
            "rds:CreateDBCluster"
        } else {
            "rds:CreateDBInstance"
        };
        return Err(StepError::Conflict {
            operation: operation.into(),
            message: format!(
                "{what} {id} of this deployment runs {engine:?}, not {want}; run the teardown first"
            ),
        });
    }
    Ok(())
}

fn instance_out(id: &str, created: bool) -> DatabaseOut {
    DatabaseOut {
        kind: DbKind::Instance,
        identifier: id.into(),
        created,
        instance_identifiers: vec![],
    }
}

// ---- a new Aurora cluster ----

async fn create_cluster(
    rds: &Client,
    plan: &Plan,
    net: &DbNetworkOut,
) -> Result<DatabaseOut, StepError> {
    let db = &plan.database;
    let id = db.identifier.as_str();
    let s = settings(plan)?;
    let cluster = shared::reconcile::ensure(
        COMPONENT,
        describe_cluster(rds, id).await?,
        async || describe_cluster(rds, id).await,
        async |found| {
            let c = adopt_cluster(plan, found)?;
            retag(rds, c.db_cluster_arn(), c.tag_list(), plan).await?;
            Ok(c)
        },
        async || new_cluster(rds, plan, net, s).await,
    )
    .await?;

    // The cluster's AZs come from its subnet group; pinning the reader to a
    // different AZ than the writer is what makes it a useful failover target.
    let mut azs: Vec<String> = cluster.availability_zones().to_vec();
    azs.sort();
    let count = if s.multi_az { 2 } else { 1 };
    let mut instance_ids = Vec::with_capacity(count);
    for n in 1..=count {
        let instance_id = format!("{id}-{n}");
        let az = if azs.len() >= 2 {
            azs.get(n - 1).map(String::as_str)
        } else {
            None
        };
        ensure_cluster_instance(rds, plan, s, &instance_id, az).await?;
        instance_ids.push(instance_id);
    }
    Ok(DatabaseOut {
        kind: DbKind::Cluster,
        identifier: id.into(),
        created: true,
        instance_identifiers: instance_ids,
    })
}

async fn new_cluster(
    rds: &Client,
    plan: &Plan,
    net: &DbNetworkOut,
    s: &PlannedCreate,
) -> Result<DbCluster, StepError> {
    let db = &plan.database;
    let id = db.identifier.as_str();
    let created = rds
        .create_db_cluster()
        .db_cluster_identifier(id)
        .engine(db.engine.as_str())
        .set_engine_version(s.engine_version.clone())
        .master_username(&s.master_username)
        .manage_master_user_password(true)
        .storage_encrypted(true)
        .deletion_protection(true)
        .backup_retention_period(int(
            s.backup_retention_days,
            "database.backupRetentionDays",
        )?)
        .vpc_security_group_ids(&net.db_security_group_id)
        .db_subnet_group_name(subnet_group(net)?)
        .port(i32::from(plan.port))
        .copy_tags_to_snapshot(true)
        .set_tags(Some(tags(plan)))
        .send()
        .await
        .aws("rds:CreateDBCluster")?;
    let cluster = created
        .db_cluster()
        .cloned()
        .ok_or_else(|| StepError::internal("CreateDBCluster returned no cluster"))?;
    tracing::info!(
        db_cluster = id,
        engine = db.engine.as_str(),
        "created DB cluster"
    );
    Ok(cluster)
}

fn adopt_cluster(plan: &Plan, found: DbCluster) -> Result<DbCluster, StepError> {
    adoptable(plan, "DB cluster", found.tag_list(), found.engine())?;
    let id = plan.database.identifier.as_str();
    tracing::info!(db_cluster = id, status = ?found.status(), "adopted DB cluster");
    Ok(found)
}

async fn ensure_cluster_instance(
    rds: &Client,
    plan: &Plan,
    s: &PlannedCreate,
    instance_id: &str,
    az: Option<&str>,
) -> Result<(), StepError> {
    let cluster_id = plan.database.identifier.as_str();
    shared::reconcile::ensure(
        COMPONENT,
        describe_instance(rds, instance_id).await?,
        async || describe_instance(rds, instance_id).await,
        async |found| adopt_cluster_instance(plan, instance_id, &found),
        async || {
            rds.create_db_instance()
                .db_instance_identifier(instance_id)
                .db_cluster_identifier(cluster_id)
                .engine(plan.database.engine.as_str())
                .db_instance_class(&s.instance_class)
                .set_availability_zone(az.map(String::from))
                .publicly_accessible(false)
                .set_tags(Some(tags(plan)))
                .send()
                .await
                .aws("rds:CreateDBInstance")?;
            tracing::info!(
                db_instance = instance_id,
                db_cluster = cluster_id,
                availability_zone = az,
                "created DB cluster instance"
            );
            Ok(())
        },
    )
    .await
}

fn adopt_cluster_instance(
    plan: &Plan,
    instance_id: &str,
    found: &DbInstance,
) -> Result<(), StepError> {
    if !ours(found.tag_list(), &plan.name) {
        return Err(name_taken("DB instance", instance_id, &plan.name));
    }
    let cluster_id = plan.database.identifier.as_str();
    // RDS stores identifiers in lowercase.
    if !found
        .db_cluster_identifier()
        .is_some_and(|c| c.eq_ignore_ascii_case(cluster_id))
    {
        return Err(StepError::Conflict {
            operation: "rds:CreateDBInstance".into(),
            message: format!(
                "DB instance {instance_id} of this deployment belongs to cluster {:?}, not {cluster_id}; run the teardown first",
                found.db_cluster_identifier()
            ),
        });
    }
    tracing::info!(db_instance = instance_id, status = ?found.db_instance_status(), "adopted DB cluster instance");
    Ok(())
}

// ---- an existing database ----

async fn existing(
    rds: &Client,
    plan: &Plan,
    net: &DbNetworkOut,
    kind: DbKind,
) -> Result<DatabaseOut, StepError> {
    let db = &plan.database;
    let id = db.identifier.as_str();
    let ours_sg = net.db_security_group_id.as_str();
    let current = match kind {
        DbKind::Instance => describe_instance(rds, id)
            .await?
            .ok_or_else(|| not_found("rds:DescribeDBInstances", "DB instance", id, plan))?
            .vpc_security_groups()
            .to_vec(),
        DbKind::Cluster => describe_cluster(rds, id)
            .await?
            .ok_or_else(|| not_found("rds:DescribeDBClusters", "DB cluster", id, plan))?
            .vpc_security_groups()
            .to_vec(),
    };
    if db.attach_security_group {
        attach(rds, kind, id, &current, ours_sg).await?;
    }
    Ok(DatabaseOut {
        kind,
        identifier: id.into(),
        created: false,
        instance_identifiers: vec![],
    })
}

/// The database's current groups plus ours, or `None` when ours is already
/// attached. Theirs are always kept: removing one could cut off their clients.
fn with_our_group(
    current: &[VpcSecurityGroupMembership],
    ours: &str,
    id: &str,
) -> Result<Option<Vec<String>>, StepError> {
    let mut groups: Vec<String> = current
        .iter()
        .filter_map(|m| m.vpc_security_group_id())
        .map(String::from)
        .collect();
    if groups.iter().any(|g| g == ours) {
        return Ok(None);
    }
    if groups.len() >= MAX_SECURITY_GROUPS {
        return Err(StepError::QuotaExceeded {
            operation: "rds:ModifyDBInstance".into(),
            message: format!(
                "database {id} already has {} VPC security groups (the RDS maximum is {MAX_SECURITY_GROUPS}); free one so {ours} can be attached",
                groups.len()
            ),
        });
    }
    groups.push(ours.to_string());
    Ok(Some(groups))
}

// ---- helpers ----

fn ours(tags: &[Tag], name: &str) -> bool {
    shared::tags::is_ours(
        tags.iter().filter_map(|t| Some((t.key()?, t.value()?))),
        name,
    )
}

/// An adopted database of ours takes the input's tags now ([`shared::tags::tag_diff`]).
async fn retag(
    rds: &Client,
    arn: Option<&str>,
    current: &[Tag],
    plan: &Plan,
) -> Result<(), StepError> {
    let Some(arn) = arn else {
        return Ok(());
    };
    let desired = shared::tags::resource_tags(&plan.tags, &plan.name, COMPONENT);
    shared::rds::converge_tags(rds, arn, current, &desired).await
}

fn tags(plan: &Plan) -> Vec<Tag> {
    shared::tags::resource_tags(&plan.tags, &plan.name, COMPONENT)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn settings(plan: &Plan) -> Result<&PlannedCreate, StepError> {
    plan.database
        .settings
        .as_ref()
        .ok_or_else(|| StepError::internal("the plan creates the database but has no settings"))
}

fn subnet_group(net: &DbNetworkOut) -> Result<&str, StepError> {
    net.db_subnet_group_name.as_deref().ok_or_else(|| {
        StepError::internal("the database network step made no DB subnet group for a new database")
    })
}

fn int(v: i64, field: &str) -> Result<i32, StepError> {
    i32::try_from(v).map_err(|_| StepError::invalid(field, format!("{v} is out of range")))
}

fn name_taken(what: &str, id: &str, deployment: &str) -> StepError {
    StepError::NameTaken(format!(
        "an RDS {what} named {id} already exists and was not created by deployment {deployment}; \
         use another deployment name, or pass it as an existing database"
    ))
}

fn not_found(operation: &str, what: &str, id: &str, plan: &Plan) -> StepError {
    StepError::NotFound {
        operation: operation.into(),
        message: format!("the existing {what} {id} does not exist in {}", plan.region),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::operation::create_db_cluster::CreateDbClusterOutput;
    use aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput;
    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput;
    use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use shared::input::Engine;
    use shared::testing;

    /// The step as the state machine runs it: its typed input read from the execution state.
    async fn handle(
        rds: &Client,
        state: testing::State,
    ) -> Result<shared::plan::DatabaseOut, StepError> {
        super::handle(rds, testing::typed(&state)).await
    }

    const DB_SG: &str = "sg-0a1b2c3d4e5f60002";

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

    fn tag(k: &str, v: &str) -> Tag {
        Tag::builder().key(k).value(v).build()
    }

    fn instance(id: &str, deployment: &str) -> DbInstance {
        DbInstance::builder()
            .db_instance_identifier(id)
            .engine("mysql")
            .db_instance_status("creating")
            .tag_list(tag(shared::tags::DEPLOYMENT, deployment))
            .build()
    }

    fn described(i: DbInstance) -> DescribeDbInstancesOutput {
        DescribeDbInstancesOutput::builder().db_instances(i).build()
    }

    fn aurora_ctx(multi_az: bool) -> testing::State {
        let mut ctx = testing::ctx_full();
        let db = &mut ctx.plan.as_mut().unwrap().database;
        db.kind = DbKind::Cluster;
        db.engine = Engine::AuroraMysql;
        let s = db.settings.as_mut().unwrap();
        s.instance_class = "db.r6g.large".into();
        s.allocated_storage = None;
        s.multi_az = multi_az;
        ctx
    }

    fn existing_ctx(kind: DbKind, attach: bool) -> testing::State {
        let mut ctx = testing::ctx_full();
        let plan = ctx.plan.as_mut().unwrap();
        plan.database.create = false;
        plan.database.kind = kind;
        plan.database.identifier = "legacy-db".into();
        plan.database.settings = None;
        plan.database.attach_security_group = attach;
        ctx.db_network.as_mut().unwrap().db_subnet_group_name = None;
        ctx
    }

    fn cluster(deployment: &str) -> DbCluster {
        DbCluster::builder()
            .db_cluster_identifier("orders-db")
            .engine("aurora-mysql")
            .status("creating")
            .availability_zones("us-east-1b")
            .availability_zones("us-east-1a")
            .availability_zones("us-east-1c")
            .tag_list(tag(shared::tags::DEPLOYMENT, deployment))
            .build()
    }

    fn sg(id: &str) -> VpcSecurityGroupMembership {
        VpcSecurityGroupMembership::builder()
            .vpc_security_group_id(id)
            .status("active")
            .build()
    }

    #[tokio::test]
    async fn creates_an_encrypted_private_multi_az_instance_with_a_managed_password() {
        let describe = mock!(Client::describe_db_instances).then_http_response(not_found_instance);
        let create = mock!(Client::create_db_instance)
            .match_requests(|r| {
                let tags = r.tags();
                let has = |k: &str, v: &str| {
                    tags.iter()
                        .any(|t| t.key() == Some(k) && t.value() == Some(v))
                };
                r.db_instance_identifier() == Some("orders-db")
                    && r.db_instance_class() == Some("db.t3.micro")
                    && r.engine() == Some("mysql")
                    && r.engine_version().is_none()
                    && r.master_username() == Some("dbadmin")
                    && r.manage_master_user_password() == Some(true)
                    && r.master_user_password().is_none()
                    && r.allocated_storage() == Some(20)
                    && r.storage_type() == Some("gp3")
                    && r.storage_encrypted() == Some(true)
                    && r.deletion_protection() == Some(true)
                    && r.multi_az() == Some(true)
                    && r.publicly_accessible() == Some(false)
                    && r.vpc_security_group_ids() == [DB_SG]
                    && r.db_subnet_group_name() == Some("orders-db-subnets")
                    && r.backup_retention_period() == Some(7)
                    && r.port() == Some(3306)
                    && r.copy_tags_to_snapshot() == Some(true)
                    && r.db_cluster_identifier().is_none()
                    && has(shared::tags::DEPLOYMENT, "orders")
                    && has(shared::tags::COMPONENT, "database")
                    && has("team", "payments")
            })
            .then_output(|| {
                CreateDbInstanceOutput::builder()
                    .db_instance(instance("orders-db", "orders"))
                    .build()
            });
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe, &create]);
        let out = handle(&client, testing::ctx_full()).await.unwrap();
        assert_eq!(create.num_calls(), 1);
        assert_eq!(
            out,
            DatabaseOut {
                kind: DbKind::Instance,
                identifier: "orders-db".into(),
                created: true,
                instance_identifiers: vec![],
            }
        );
    }

    #[tokio::test]
    async fn passes_the_engine_version_and_single_az_when_asked() {
        let mut ctx = testing::ctx_full();
        let plan = ctx.plan.as_mut().unwrap();
        plan.database.engine = Engine::Postgres;
        plan.port = 5432;
        let s = plan.database.settings.as_mut().unwrap();
        s.multi_az = false;
        s.engine_version = Some("16.4".into());
        let describe = mock!(Client::describe_db_instances).then_http_response(not_found_instance);
        let create = mock!(Client::create_db_instance)
            .match_requests(|r| {
                r.engine() == Some("postgres")
                    && r.engine_version() == Some("16.4")
                    && r.multi_az() == Some(false)
                    && r.port() == Some(5432)
            })
            .then_output(|| CreateDbInstanceOutput::builder().build());
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe, &create]);
        handle(&client, ctx).await.unwrap();
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_retry_adopts_the_instance_it_already_created() {
        let describe = mock!(Client::describe_db_instances)
            .then_output(|| described(instance("orders-db", "orders")));
        let create = mock!(Client::create_db_instance)
            .then_output(|| CreateDbInstanceOutput::builder().build());
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe, &create]);
        let out = handle(&client, testing::ctx_full()).await.unwrap();
        assert!(out.created);
        assert_eq!(out.identifier, "orders-db");
        assert_eq!(create.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_same_named_instance_of_someone_else_is_refused() {
        let describe = mock!(Client::describe_db_instances)
            .then_output(|| described(instance("orders-db", "someone-else")));
        let create = mock!(Client::create_db_instance)
            .then_output(|| CreateDbInstanceOutput::builder().build());
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe, &create]);
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
        assert!(e.to_string().contains("orders-db"), "{e}");
        assert_eq!(create.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_untagged_same_named_instance_is_refused() {
        let describe = mock!(Client::describe_db_instances).then_output(|| {
            described(
                DbInstance::builder()
                    .db_instance_identifier("orders-db")
                    .engine("mysql")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe]);
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
    }

    #[tokio::test]
    async fn losing_a_create_race_adopts_the_winner() {
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .http_response(not_found_instance)
            .output(|| described(instance("orders-db", "orders")))
            .build();
        let create = mock!(Client::create_db_instance).then_http_response(|| {
            testing::rds_error(400, "DBInstanceAlreadyExists", "DB instance already exists")
        });
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe, &create]);
        let out = handle(&client, testing::ctx_full()).await.unwrap();
        assert_eq!(out.identifier, "orders-db");
        assert_eq!(describe.num_calls(), 2);
    }

    #[tokio::test]
    async fn throttling_is_reported_as_aws_throttled() {
        let describe = mock!(Client::describe_db_instances)
            .then_http_response(|| testing::rds_error(400, "Throttling", "Rate exceeded"));
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe]);
        let e = handle(&client, testing::ctx_full()).await.unwrap_err();
        assert_eq!(e.name(), "Aws.Throttled");
        assert!(e.to_string().contains("rds:DescribeDBInstances"), "{e}");
    }

    #[tokio::test]
    async fn aurora_creates_a_cluster_a_writer_and_a_reader_in_another_az() {
        let describe_cluster =
            mock!(Client::describe_db_clusters).then_http_response(not_found_cluster);
        let create_cluster = mock!(Client::create_db_cluster)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("orders-db")
                    && r.engine() == Some("aurora-mysql")
                    && r.master_username() == Some("dbadmin")
                    && r.manage_master_user_password() == Some(true)
                    && r.master_user_password().is_none()
                    && r.storage_encrypted() == Some(true)
                    && r.deletion_protection() == Some(true)
                    && r.backup_retention_period() == Some(7)
                    && r.vpc_security_group_ids() == [DB_SG]
                    && r.db_subnet_group_name() == Some("orders-db-subnets")
                    && r.port() == Some(3306)
                    && r.copy_tags_to_snapshot() == Some(true)
                    && r.tags().iter().any(|t| {
                        t.key() == Some(shared::tags::DEPLOYMENT) && t.value() == Some("orders")
                    })
            })
            .then_output(|| {
                CreateDbClusterOutput::builder()
                    .db_cluster(cluster("orders"))
                    .build()
            });
        let describe_instances =
            mock!(Client::describe_db_instances).then_http_response(not_found_instance);
        let instance_request =
            |r: &aws_sdk_rds::operation::create_db_instance::CreateDbInstanceInput,
             id: &str,
             az: &str| {
                r.db_instance_identifier() == Some(id)
                    && r.db_cluster_identifier() == Some("orders-db")
                    && r.engine() == Some("aurora-mysql")
                    && r.db_instance_class() == Some("db.r6g.large")
                    && r.publicly_accessible() == Some(false)
                    && r.availability_zone() == Some(az)
                    && r.master_user_password().is_none()
                    && r.tags().iter().any(|t| {
                        t.key() == Some(shared::tags::DEPLOYMENT) && t.value() == Some("orders")
                    })
            };
        let writer = mock!(Client::create_db_instance)
            .match_requests(move |r| instance_request(r, "orders-db-1", "us-east-1a"))
            .then_output(|| CreateDbInstanceOutput::builder().build());
        let reader = mock!(Client::create_db_instance)
            .match_requests(move |r| instance_request(r, "orders-db-2", "us-east-1b"))
            .then_output(|| CreateDbInstanceOutput::builder().build());
        let client = mock_client!(
            aws_sdk_rds,
            RuleMode::MatchAny,
            [
                &describe_cluster,
                &create_cluster,
                &describe_instances,
                &writer,
                &reader
            ]
        );
        let out = handle(&client, aurora_ctx(true)).await.unwrap();
        assert_eq!(create_cluster.num_calls(), 1);
        assert_eq!((writer.num_calls(), reader.num_calls()), (1, 1));
        assert_eq!(out.kind, DbKind::Cluster);
        assert_eq!(out.instance_identifiers, ["orders-db-1", "orders-db-2"]);
    }

    #[tokio::test]
    async fn single_az_aurora_gets_only_a_writer() {
        let describe_cluster =
            mock!(Client::describe_db_clusters).then_http_response(not_found_cluster);
        let create_cluster = mock!(Client::create_db_cluster).then_output(|| {
            CreateDbClusterOutput::builder()
                .db_cluster(cluster("orders"))
                .build()
        });
        let describe_instances =
            mock!(Client::describe_db_instances).then_http_response(not_found_instance);
        let create = mock!(Client::create_db_instance)
            .then_output(|| CreateDbInstanceOutput::builder().build());
        let client = mock_client!(
            aws_sdk_rds,
            RuleMode::MatchAny,
            [
                &describe_cluster,
                &create_cluster,
                &describe_instances,
                &create
            ]
        );
        let out = handle(&client, aurora_ctx(false)).await.unwrap();
        assert_eq!(out.instance_identifiers, ["orders-db-1"]);
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_aurora_retry_adopts_the_cluster_and_creates_only_the_missing_reader() {
        let describe_cluster = mock!(Client::describe_db_clusters).then_output(|| {
            DescribeDbClustersOutput::builder()
                .db_clusters(cluster("orders"))
                .build()
        });
        let create_cluster = mock!(Client::create_db_cluster)
            .then_output(|| CreateDbClusterOutput::builder().build());
        let writer_exists = mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("orders-db-1"))
            .then_output(|| {
                described(
                    DbInstance::builder()
                        .db_instance_identifier("orders-db-1")
                        .db_cluster_identifier("orders-db")
                        .tag_list(tag(shared::tags::DEPLOYMENT, "orders"))
                        .build(),
                )
            });
        let reader_missing = mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("orders-db-2"))
            .then_http_response(not_found_instance);
        let create = mock!(Client::create_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some("orders-db-2"))
            .then_output(|| CreateDbInstanceOutput::builder().build());
        let client = mock_client!(
            aws_sdk_rds,
            RuleMode::MatchAny,
            [
                &describe_cluster,
                &create_cluster,
                &writer_exists,
                &reader_missing,
                &create
            ]
        );
        let out = handle(&client, aurora_ctx(true)).await.unwrap();
        assert_eq!(create_cluster.num_calls(), 0);
        assert_eq!(create.num_calls(), 1);
        assert_eq!(out.instance_identifiers, ["orders-db-1", "orders-db-2"]);
    }

    #[tokio::test]
    async fn a_same_named_cluster_of_someone_else_is_refused() {
        let describe_cluster = mock!(Client::describe_db_clusters).then_output(|| {
            DescribeDbClustersOutput::builder()
                .db_clusters(cluster("billing"))
                .build()
        });
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe_cluster]);
        let e = handle(&client, aurora_ctx(true)).await.unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
    }

    #[tokio::test]
    async fn losing_a_cluster_create_race_adopts_the_winner() {
        let describe_cluster = mock!(Client::describe_db_clusters)
            .sequence()
            .http_response(not_found_cluster)
            .output(|| {
                DescribeDbClustersOutput::builder()
                    .db_clusters(cluster("orders"))
                    .build()
            })
            .build();
        let create_cluster = mock!(Client::create_db_cluster).then_http_response(|| {
            testing::rds_error(
                400,
                "DBClusterAlreadyExistsFault",
                "DB cluster already exists",
            )
        });
        let describe_instances =
            mock!(Client::describe_db_instances).then_http_response(not_found_instance);
        let create = mock!(Client::create_db_instance)
            .then_output(|| CreateDbInstanceOutput::builder().build());
        let client = mock_client!(
            aws_sdk_rds,
            RuleMode::MatchAny,
            [
                &describe_cluster,
                &create_cluster,
                &describe_instances,
                &create
            ]
        );
        let out = handle(&client, aurora_ctx(true)).await.unwrap();
        assert_eq!(out.identifier, "orders-db");
        assert_eq!(describe_cluster.num_calls(), 2);
        assert_eq!(create.num_calls(), 2);
    }

    #[tokio::test]
    async fn an_existing_instance_gets_our_group_appended_to_its_own() {
        let describe = mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("legacy-db"))
            .then_output(|| {
                described(
                    DbInstance::builder()
                        .db_instance_identifier("legacy-db")
                        .engine("mysql")
                        .vpc_security_groups(sg("sg-0000000000000aaa1"))
                        .vpc_security_groups(sg("sg-0000000000000aaa2"))
                        .build(),
                )
            });
        let modify = mock!(Client::modify_db_instance)
            .match_requests(|r| {
                r.db_instance_identifier() == Some("legacy-db")
                    && r.vpc_security_group_ids()
                        == ["sg-0000000000000aaa1", "sg-0000000000000aaa2", DB_SG]
                    && r.apply_immediately() == Some(true)
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let create = mock!(Client::create_db_instance)
            .then_output(|| CreateDbInstanceOutput::builder().build());
        let client = mock_client!(
            aws_sdk_rds,
            RuleMode::MatchAny,
            [&describe, &modify, &create]
        );
        let out = handle(&client, existing_ctx(DbKind::Instance, true))
            .await
            .unwrap();
        assert_eq!(modify.num_calls(), 1);
        assert_eq!(create.num_calls(), 0);
        assert_eq!(
            out,
            DatabaseOut {
                kind: DbKind::Instance,
                identifier: "legacy-db".into(),
                created: false,
                instance_identifiers: vec![],
            }
        );
    }

    #[tokio::test]
    async fn the_standby_gets_our_group_beside_its_own_and_a_missing_one_waits_for_a_rerun() {
        let mut ctx = existing_ctx(DbKind::Instance, false);
        ctx.plan.as_mut().unwrap().standby = Some(shared::plan::DbRef {
            kind: DbKind::Instance,
            identifier: "legacy-replica".into(),
        });
        let primary = mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("legacy-db"))
            .then_output(|| {
                described(
                    DbInstance::builder()
                        .db_instance_identifier("legacy-db")
                        .vpc_security_groups(sg("sg-0000000000000aaa1"))
                        .build(),
                )
            });
        let standby = mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("legacy-replica"))
            .then_output(|| {
                described(
                    DbInstance::builder()
                        .db_instance_identifier("legacy-replica")
                        .vpc_security_groups(sg("sg-0000000000000bbb1"))
                        .build(),
                )
            });
        let modify = mock!(Client::modify_db_instance)
            .match_requests(|r| {
                r.db_instance_identifier() == Some("legacy-replica")
                    && r.vpc_security_group_ids() == ["sg-0000000000000bbb1", DB_SG]
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let client = mock_client!(
            aws_sdk_rds,
            RuleMode::MatchAny,
            [&primary, &standby, &modify]
        );
        handle(&client, ctx.clone()).await.unwrap();
        assert_eq!(
            modify.num_calls(),
            1,
            "only the standby: attach is off for the primary"
        );

        // Not created yet: nothing to modify, and the step still succeeds.
        let gone = mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("legacy-replica"))
            .then_http_response(not_found_instance);
        let modify = mock!(Client::modify_db_instance)
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&primary, &gone, &modify]);
        handle(&client, ctx).await.unwrap();
        assert_eq!(modify.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_existing_instance_that_already_has_our_group_is_not_modified() {
        let describe = mock!(Client::describe_db_instances).then_output(|| {
            described(
                DbInstance::builder()
                    .db_instance_identifier("legacy-db")
                    .vpc_security_groups(sg("sg-0000000000000aaa1"))
                    .vpc_security_groups(sg(DB_SG))
                    .build(),
            )
        });
        let modify = mock!(Client::modify_db_instance)
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe, &modify]);
        let out = handle(&client, existing_ctx(DbKind::Instance, true))
            .await
            .unwrap();
        assert!(!out.created);
        assert_eq!(modify.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_existing_instance_is_left_alone_without_attach_security_group() {
        let describe = mock!(Client::describe_db_instances).then_output(|| {
            described(
                DbInstance::builder()
                    .db_instance_identifier("legacy-db")
                    .vpc_security_groups(sg("sg-0000000000000aaa1"))
                    .build(),
            )
        });
        let modify = mock!(Client::modify_db_instance)
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe, &modify]);
        handle(&client, existing_ctx(DbKind::Instance, false))
            .await
            .unwrap();
        assert_eq!(modify.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_missing_existing_instance_is_not_found() {
        let describe = mock!(Client::describe_db_instances).then_http_response(not_found_instance);
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe]);
        let e = handle(&client, existing_ctx(DbKind::Instance, true))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Resource.NotFound");
        assert!(e.to_string().contains("legacy-db"), "{e}");
    }

    #[tokio::test]
    async fn an_existing_instance_with_five_groups_is_a_quota_error_not_a_silent_swap() {
        let describe = mock!(Client::describe_db_instances).then_output(|| {
            let mut b = DbInstance::builder().db_instance_identifier("legacy-db");
            for n in 1..=5 {
                b = b.vpc_security_groups(sg(&format!("sg-000000000000000{n}")));
            }
            described(b.build())
        });
        let modify = mock!(Client::modify_db_instance)
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe, &modify]);
        let e = handle(&client, existing_ctx(DbKind::Instance, true))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Aws.QuotaExceeded");
        assert_eq!(modify.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_existing_cluster_gets_our_group_appended() {
        let describe = mock!(Client::describe_db_clusters)
            .match_requests(|r| r.db_cluster_identifier() == Some("legacy-db"))
            .then_output(|| {
                DescribeDbClustersOutput::builder()
                    .db_clusters(
                        DbCluster::builder()
                            .db_cluster_identifier("legacy-db")
                            .vpc_security_groups(sg("sg-0000000000000aaa1"))
                            .build(),
                    )
                    .build()
            });
        let modify = mock!(Client::modify_db_cluster)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("legacy-db")
                    && r.vpc_security_group_ids() == ["sg-0000000000000aaa1", DB_SG]
                    && r.apply_immediately() == Some(true)
            })
            .then_output(|| ModifyDbClusterOutput::builder().build());
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe, &modify]);
        let out = handle(&client, existing_ctx(DbKind::Cluster, true))
            .await
            .unwrap();
        assert_eq!(modify.num_calls(), 1);
        assert_eq!((out.kind, out.created), (DbKind::Cluster, false));
        assert!(out.instance_identifiers.is_empty());
    }

    #[tokio::test]
    async fn a_missing_existing_cluster_is_not_found() {
        let describe = mock!(Client::describe_db_clusters).then_http_response(not_found_cluster);
        let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&describe]);
        let e = handle(&client, existing_ctx(DbKind::Cluster, true))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Resource.NotFound");
    }
}
