//! First state: check the execution input against the account and resolve it
//! into the [`Plan`] every later step reads (VPC ids, CIDRs, subnets, the
//! database and its port). Read-only: it never creates anything, so a bad
//! input fails before any resource exists.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use aws_sdk_ec2::types::{Filter, Vpc, VpcCidrBlockStateCode};
use shared::error::error_code;
use shared::input::{Engine, Mode, ProvisionInput, TagFilter};
use shared::plan::{DbKind, DbRef, Names, Plan, PlannedClientVpc, PlannedCreate, PlannedDatabase};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "validate-input";

pub async fn handle(
    ec2: &aws_sdk_ec2::Client,
    rds: &aws_sdk_rds::Client,
    region: &str,
    input: ProvisionInput,
) -> Result<Plan, StepError> {
    input.validate()?;

    let db_vpc = resolve_vpc(
        ec2,
        region,
        "databaseVpc",
        input.database_vpc.id.as_deref(),
        input.database_vpc.name.as_deref(),
    )
    .await?;
    let subnet_tag = input.subnet_tag.clone().unwrap_or_default();
    let subnets = private_subnets(ec2, &db_vpc.id, &subnet_tag).await?;
    let client_vpcs = resolve_client_vpcs(ec2, region, &input, &db_vpc.id).await?;
    let (database, db_port) = plan_database(rds, region, &input, &db_vpc.id).await?;

    let port = match input.port {
        Some(p) => {
            let p = u16::try_from(p)
                .map_err(|_| StepError::internal(format!("port {p} passed validation")))?;
            // An adopted database listens where it listens: SG rules and the
            // resource configuration on another port would never connect.
            if let Some(actual) = db_port.filter(|a| *a != p) {
                return Err(StepError::invalid(
                    "port",
                    format!(
                        "the database `{}` listens on {actual}; omit `port` or set it to {actual}",
                        database.identifier
                    ),
                ));
            }
            p
        }
        None => match db_port {
            Some(p) => p,
            None => {
                return Err(StepError::internal(
                    "no port for the database: neither given nor known",
                ))
            }
        },
    };

    if let (Mode::Ip, Some(ip)) = (input.mode, &input.ip_address) {
        let addr: Ipv4Addr = ip
            .parse()
            .map_err(|_| StepError::internal(format!("ipAddress `{ip}` passed validation")))?;
        if !db_vpc
            .cidrs
            .iter()
            .any(|c| shared::input::ipv4_in_cidr(addr, c))
        {
            return Err(StepError::invalid(
                "ipAddress",
                format!(
                    "{ip} is not inside the database VPC {} ({}); ipResource only takes addresses in that VPC",
                    db_vpc.id,
                    db_vpc.cidrs.join(", ")
                ),
            ));
        }
    }

    let standby = input.standby.as_ref().and_then(DbRef::from_input);
    if let Some(s) = &standby {
        // Checked when it exists; a standby that is a replica of a database this run creates
        // cannot exist yet (the failover checks it again before it takes writes).
        if let Some(observed) = observe(rds, s).await? {
            let field = match s.kind {
                DbKind::Instance => "standby.instanceIdentifier",
                DbKind::Cluster => "standby.clusterIdentifier",
            };
            check_standby(
                field,
                &s.identifier,
                &observed,
                database.engine,
                &db_vpc.id,
                port,
            )?;
        }
    }

    tracing::info!(
        database_vpc = %db_vpc.id,
        db_subnets = subnets.db.len(),
        gateway_subnets = ?subnets.gateway,
        client_vpcs = client_vpcs.len(),
        database = %database.identifier,
        create_database = database.create,
        port,
        "input validated"
    );

    Ok(Plan {
        names: Names::for_deployment(&input.name),
        name: input.name,
        region: region.to_string(),
        database_vpc_id: db_vpc.id,
        database_vpc_cidrs: db_vpc.cidrs,
        db_subnet_ids: subnets.db,
        gateway_subnet_ids: subnets.gateway,
        client_vpcs,
        database,
        mode: input.mode,
        ip_address: input.ip_address,
        port,
        tags: input.tags,
        standby,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedVpc {
    pub id: String,
    pub cidrs: Vec<String>,
}

/// The VPC's associated IPv4 CIDRs (primary and secondary).
fn ipv4_cidrs(vpc: &Vpc) -> Vec<String> {
    let assoc: Vec<String> = vpc
        .cidr_block_association_set()
        .iter()
        .filter(|a| {
            a.cidr_block_state()
                .and_then(|s| s.state())
                .is_none_or(|s| *s == VpcCidrBlockStateCode::Associated)
        })
        .filter_map(|a| a.cidr_block().map(str::to_string))
        .collect();
    if assoc.is_empty() {
        vpc.cidr_block().map(str::to_string).into_iter().collect()
    } else {
        assoc
    }
}

/// A VPC by id or by its `Name` tag; `field` is the JSON path of the reference.
pub async fn resolve_vpc(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    field: &str,
    id: Option<&str>,
    name: Option<&str>,
) -> Result<ResolvedVpc, StepError> {
    let (found, f) = match (id, name) {
        (Some(id), _) => {
            let f = format!("{field}.id");
            let out = ec2.describe_vpcs().vpc_ids(id).send().await;
            let vpcs = match out {
                Ok(o) => o.vpcs().to_vec(),
                Err(e) if error_code(&e) == Some("InvalidVpcID.NotFound") => vec![],
                Err(e) => return Err(StepError::from_sdk("ec2:DescribeVpcs", &e)),
            };
            if vpcs.is_empty() {
                return Err(StepError::invalid(
                    f,
                    format!(
                        "VPC `{id}` does not exist in {region} (or is not visible to this account)"
                    ),
                ));
            }
            (vpcs, f)
        }
        (None, Some(name)) => {
            let f = format!("{field}.name");
            let items = ec2
                .describe_vpcs()
                .filters(Filter::builder().name("tag:Name").values(name).build())
                .into_paginator()
                .items()
                .send();
            let vpcs = shared::pages::all(items, "ec2:DescribeVpcs").await?;
            match vpcs.len() {
                0 => {
                    return Err(StepError::invalid(
                        f,
                        format!("no VPC in {region} has the Name tag `{name}`"),
                    ))
                }
                1 => {}
                _ => {
                    let ids: Vec<&str> = vpcs.iter().filter_map(|v| v.vpc_id()).collect();
                    return Err(StepError::invalid(
                        f,
                        format!(
                            "the Name tag `{name}` is ambiguous: VPCs {} carry it; give `id` instead",
                            ids.join(", ")
                        ),
                    ));
                }
            }
            (vpcs, f)
        }
        (None, None) => {
            return Err(StepError::internal(format!(
                "{field} has neither id nor name after validation"
            )))
        }
    };
    let vpc = &found[0];
    let id = vpc
        .vpc_id()
        .ok_or_else(|| StepError::internal("ec2:DescribeVpcs returned a VPC without VpcId"))?
        .to_string();
    let cidrs = ipv4_cidrs(vpc);
    if cidrs.is_empty() {
        return Err(StepError::invalid(
            f,
            format!("VPC {id} has no IPv4 CIDR block"),
        ));
    }
    Ok(ResolvedVpc { id, cidrs })
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subnets {
    /// Every tagged subnet, sorted.
    pub db: Vec<String>,
    /// The lowest subnet id per AZ, in AZ-name order.
    pub gateway: Vec<String>,
}

/// The DB VPC's subnets carrying `tag`; they must span at least two AZs
/// (the resource gateway and a Multi-AZ database both need two).
pub async fn private_subnets(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
    tag: &TagFilter,
) -> Result<Subnets, StepError> {
    let mut by_az: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let items = ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .filters(
            Filter::builder()
                .name(format!("tag:{}", tag.key))
                .values(&tag.value)
                .build(),
        )
        .into_paginator()
        .items()
        .send();
    for s in shared::pages::all(items, "ec2:DescribeSubnets").await? {
        if let (Some(id), Some(az)) = (s.subnet_id(), s.availability_zone()) {
            by_az
                .entry(az.to_string())
                .or_default()
                .insert(id.to_string());
        }
    }
    if by_az.len() < 2 {
        let found = if by_az.is_empty() {
            "none".to_string()
        } else {
            by_az
                .iter()
                .map(|(az, ids)| {
                    format!(
                        "{az}: {}",
                        ids.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Err(StepError::invalid(
            "subnetTag",
            format!(
                "the database VPC {vpc_id} needs subnets tagged {}={} in at least two Availability Zones; found: {found}",
                tag.key, tag.value
            ),
        ));
    }
    let mut db: Vec<String> = by_az.values().flatten().cloned().collect();
    db.sort();
    let gateway = by_az
        .values()
        .filter_map(|ids| ids.iter().next().cloned())
        .collect();
    Ok(Subnets { db, gateway })
}

async fn resolve_client_vpcs(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    input: &ProvisionInput,
    db_vpc_id: &str,
) -> Result<Vec<PlannedClientVpc>, StepError> {
    let mut out: Vec<PlannedClientVpc> = Vec::new();
    for (i, c) in input.client_vpcs.iter().enumerate() {
        let field = format!("clientVpcs[{i}]");
        let ref_field = if c.id.is_some() {
            format!("{field}.id")
        } else {
            format!("{field}.name")
        };
        let vpc = resolve_vpc(ec2, region, &field, c.id.as_deref(), c.name.as_deref()).await?;
        if vpc.id == db_vpc_id {
            return Err(StepError::invalid(
                ref_field,
                format!(
                    "{} is the database VPC, which is not a client VPC: it only hosts the resource gateway",
                    vpc.id
                ),
            ));
        }
        if let Some(k) = out.iter().position(|p| p.vpc_id == vpc.id) {
            return Err(StepError::invalid(
                ref_field,
                format!("{} is already listed as clientVpcs[{k}]", vpc.id),
            ));
        }
        check_security_groups(ec2, &field, &vpc.id, &c.allowed_security_group_ids).await?;
        out.push(PlannedClientVpc {
            vpc_id: vpc.id,
            allowed_security_group_ids: c.allowed_security_group_ids.clone(),
            allowed_cidrs: c.allowed_cidrs.clone(),
        });
    }
    Ok(out)
}

/// Each group must exist and be in `vpc_id`. A `group-id` filter (rather than
/// `GroupIds`) returns what exists instead of failing on the first missing id,
/// so the error names the exact entry.
async fn check_security_groups(
    ec2: &aws_sdk_ec2::Client,
    field: &str,
    vpc_id: &str,
    ids: &[String],
) -> Result<(), StepError> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    let mut token = None;
    loop {
        let page = ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("group-id")
                    .set_values(Some(ids.to_vec()))
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) if error_code(&e) == Some("InvalidGroup.NotFound") => {
                return Err(StepError::invalid(
                    format!("{field}.allowedSecurityGroupIds"),
                    format!(
                        "a security group does not exist: {}",
                        StepError::from_sdk("ec2:DescribeSecurityGroups", &e)
                    ),
                ))
            }
            Err(e) => return Err(StepError::from_sdk("ec2:DescribeSecurityGroups", &e)),
        };
        for g in page.security_groups() {
            if let Some(id) = g.group_id() {
                found.insert(id.to_string(), g.vpc_id().unwrap_or_default().to_string());
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    for (j, sg) in ids.iter().enumerate() {
        let f = format!("{field}.allowedSecurityGroupIds[{j}]");
        match found.get(sg) {
            None => {
                return Err(StepError::invalid(
                    f,
                    format!("security group `{sg}` does not exist"),
                ))
            }
            Some(v) if v != vpc_id => {
                return Err(StepError::invalid(
                    f,
                    format!(
                        "security group `{sg}` is in {v}, not in the client VPC {vpc_id}; \
                         only groups of the client VPC can be allowed"
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn unsupported_engine(field: &str, id: &str, engine: &str) -> StepError {
    StepError::invalid(
        field,
        format!(
            "`{id}` runs engine `{engine}`, which is not supported (supported: mysql, postgres, mariadb, aurora-mysql, aurora-postgresql)"
        ),
    )
}

fn wrong_vpc(field: &str, what: &str, id: &str, vpc: Option<&str>, db_vpc_id: &str) -> StepError {
    StepError::invalid(
        field,
        format!(
            "{what} `{id}` is in {}, not in the database VPC {db_vpc_id}",
            vpc.unwrap_or("no VPC")
        ),
    )
}

/// The planned database and, for an adopted one, the port it listens on.
async fn plan_database(
    rds: &aws_sdk_rds::Client,
    region: &str,
    input: &ProvisionInput,
    db_vpc_id: &str,
) -> Result<(PlannedDatabase, Option<u16>), StepError> {
    if let Some(c) = &input.database.create {
        let db = PlannedDatabase {
            create: true,
            kind: if c.engine.is_aurora() {
                DbKind::Cluster
            } else {
                DbKind::Instance
            },
            identifier: Names::for_deployment(&input.name).db_identifier,
            engine: c.engine,
            settings: Some(PlannedCreate {
                instance_class: c.instance_class.clone(),
                allocated_storage: c.allocated_storage,
                multi_az: c.multi_az,
                engine_version: c.engine_version.clone(),
                master_username: c.master_username.clone(),
                backup_retention_days: c.backup_retention_days,
            }),
            attach_security_group: false,
        };
        return Ok((db, Some(c.engine.default_port())));
    }
    let Some(e) = &input.database.existing else {
        return Err(StepError::internal(
            "database has neither create nor existing after validation",
        ));
    };
    let adopted = |kind, identifier: String, engine| PlannedDatabase {
        create: false,
        kind,
        identifier,
        engine,
        settings: None,
        attach_security_group: e.attach_security_group,
    };

    if let Some(id) = &e.instance_identifier {
        let f = "database.existing.instanceIdentifier";
        let out = rds
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await;
        let found = match out {
            Ok(o) => o.db_instances().first().cloned(),
            Err(err) if error_code(&err) == Some("DBInstanceNotFound") => None,
            Err(err) => return Err(StepError::from_sdk("rds:DescribeDBInstances", &err)),
        };
        let Some(db) = found else {
            return Err(StepError::invalid(
                f,
                format!("no DB instance `{id}` in {region}"),
            ));
        };
        let engine_name = db.engine().unwrap_or_default();
        let engine =
            Engine::parse(engine_name).ok_or_else(|| unsupported_engine(f, id, engine_name))?;
        // A cluster member can stop being the writer on failover; the
        // cluster endpoint follows it, the instance does not.
        if let Some(cluster) = db.db_cluster_identifier() {
            return Err(StepError::invalid(
                f,
                format!(
                    "`{id}` is a member of DB cluster `{cluster}`; give database.existing.clusterIdentifier instead"
                ),
            ));
        }
        let vpc = db.db_subnet_group().and_then(|g| g.vpc_id());
        if vpc != Some(db_vpc_id) {
            return Err(wrong_vpc(f, "DB instance", id, vpc, db_vpc_id));
        }
        let port = db
            .endpoint()
            .and_then(|ep| ep.port())
            .and_then(|p| u16::try_from(p).ok());
        if port.is_none() && input.port.is_none() {
            return Err(StepError::invalid(
                f,
                format!(
                    "`{id}` has no endpoint yet (status {}); wait until it is available or give `port`",
                    db.db_instance_status().unwrap_or("unknown")
                ),
            ));
        }
        let ident = db.db_instance_identifier().unwrap_or(id).to_string();
        return Ok((adopted(DbKind::Instance, ident, engine), port));
    }

    let Some(id) = &e.cluster_identifier else {
        return Err(StepError::internal(
            "database.existing has no identifier after validation",
        ));
    };
    let f = "database.existing.clusterIdentifier";
    let out = rds
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await;
    let found = match out {
        Ok(o) => o.db_clusters().first().cloned(),
        Err(err) if error_code(&err) == Some("DBClusterNotFoundFault") => None,
        Err(err) => return Err(StepError::from_sdk("rds:DescribeDBClusters", &err)),
    };
    let Some(cluster) = found else {
        return Err(StepError::invalid(
            f,
            format!("no DB cluster `{id}` in {region}"),
        ));
    };
    let engine_name = cluster.engine().unwrap_or_default();
    let engine =
        Engine::parse(engine_name).ok_or_else(|| unsupported_engine(f, id, engine_name))?;
    let vpc = cluster_vpc(rds, &cluster).await?;
    if vpc.as_deref() != Some(db_vpc_id) {
        return Err(wrong_vpc(f, "DB cluster", id, vpc.as_deref(), db_vpc_id));
    }
    let port = cluster.port().and_then(|p| u16::try_from(p).ok());
    if port.is_none() && input.port.is_none() {
        return Err(StepError::invalid(
            f,
            format!("`{id}` reports no port yet; wait until it is available or give `port`"),
        ));
    }
    let ident = cluster.db_cluster_identifier().unwrap_or(id).to_string();
    Ok((adopted(DbKind::Cluster, ident, engine), port))
}

/// The VPC of a cluster's DB subnet group.
async fn cluster_vpc(
    rds: &aws_sdk_rds::Client,
    cluster: &aws_sdk_rds::types::DbCluster,
) -> Result<Option<String>, StepError> {
    let Some(group) = cluster.db_subnet_group() else {
        return Ok(None);
    };
    Ok(rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(group)
        .send()
        .await
        .aws("rds:DescribeDBSubnetGroups")?
        .db_subnet_groups()
        .first()
        .and_then(|g| g.vpc_id())
        .map(str::to_string))
}

// ---- the primary is a fact read from AWS ----

/// What RDS says about the database the deployment's configuration points at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub engine: Option<String>,
    pub vpc: Option<String>,
    pub port: Option<u16>,
    pub publicly_accessible: bool,
    /// A read replica (instance) or replica cluster: not writable.
    pub replica_of: Option<String>,
}

/// The id of the deployment's resource gateway, if one has its name: looked up once, for
/// [`follow_failover`] and [`check_unchangeable`] (ownership is checked where it matters).
pub async fn deployment_gateway(
    lattice: &aws_sdk_vpclattice::Client,
    plan: &Plan,
) -> Result<Option<String>, StepError> {
    Ok(
        shared::lattice::gateway_named(lattice, &plan.names.resource_gateway)
            .await?
            .and_then(|g| g.id().map(str::to_string)),
    )
}

/// A re-run after a failover: the failover Lambda moved the deployment's configuration to the
/// standby and swapped the primary/standby tags on it. Those tags, re-checked against RDS, are
/// the truth; the input still names the old primary. Following the input would create a new,
/// empty database under the old name (or repoint to a dead one) and move clients backwards, so
/// the plan follows the tags: the promoted database is adopted (and gets the database security
/// group), the old primary becomes the standby (unless the input now names another standby, or
/// none), nothing is created for it.
///
/// Unchanged when there is no configuration yet, or its tags name the input's database, or the
/// tagged primary is gone (then the input is all there is). A tagged primary that cannot serve
/// (a replica still replicating, another engine, VPC or port, publicly accessible) is refused
/// with `Input.Invalid` rather than silently moved away from.
pub async fn follow_failover(
    lattice: &aws_sdk_vpclattice::Client,
    rds: &aws_sdk_rds::Client,
    mut plan: Plan,
    gateway: Option<&str>,
) -> Result<Plan, StepError> {
    let Some(gateway_id) = gateway else {
        return Ok(plan);
    };
    // The first by name: while a replacement is under way both front the same database.
    let Some(cfg) = shared::lattice::deployment_configurations(lattice, gateway_id, &plan.name)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(plan);
    };
    let Some(primary) = DbRef::tagged_primary(&cfg.tags) else {
        return Ok(plan);
    };
    let planned = DbRef {
        kind: plan.database.kind,
        identifier: plan.database.identifier.clone(),
    };
    if primary.is(&planned) {
        return Ok(plan);
    }
    let observed = observe(rds, &primary).await?;
    let Some(observed) = observed else {
        tracing::warn!(
            tagged_primary = %primary.identifier,
            input_database = %plan.database.identifier,
            "the configuration's tagged primary is gone: following the input"
        );
        return Ok(plan);
    };
    // The failover swaps the tags: the input's database is now the tagged standby. Anything
    // else is the input naming another database than the one clients use.
    let taken_over = DbRef::tagged_standby(&cfg.tags).is_some_and(|s| s.is(&planned));
    if !taken_over {
        return Err(StepError::invalid(
            database_field(&plan),
            format!(
                "deployment `{}` fronts `{}`, not `{}`: a deployment's database cannot be changed \
                 in place (clients would silently reach another database's data); keep `{}`, or \
                 run the teardown and provision again with the new database",
                plan.name, primary.identifier, planned.identifier, primary.identifier
            ),
        ));
    }
    check_takeover(&plan, &primary.identifier, &observed)?;
    // The unchanged input names the promoted database as the standby: the tags know better (the
    // old primary). An input that names another standby, or none, is the user's change and the
    // plan carries it (the resource-configuration step brings the configuration's tags to it).
    let standby = match plan.standby.take() {
        Some(s) if s.is(&primary) => DbRef::tagged_standby(&cfg.tags),
        from_input => from_input,
    };
    tracing::info!(
        primary = %primary.identifier,
        input_database = %plan.database.identifier,
        standby = standby.as_ref().map_or("-", |s| s.identifier.as_str()),
        rcfg_id = %cfg.id,
        "following the failover: the configuration's primary is the promoted database, not the input's"
    );
    plan.database = PlannedDatabase {
        create: false,
        kind: primary.kind,
        identifier: primary.identifier,
        engine: plan.database.engine,
        settings: None,
        attach_security_group: true,
    };
    plan.standby = standby;
    Ok(plan)
}

/// The input field that names the deployment's database.
fn database_field(plan: &Plan) -> &'static str {
    match (plan.database.create, plan.database.kind) {
        (true, _) => "database.create",
        (false, DbKind::Instance) => "database.existing.instanceIdentifier",
        (false, DbKind::Cluster) => "database.existing.clusterIdentifier",
    }
}

/// What an existing deployment cannot change in place, refused before anything changes: the
/// engine of the database it created (RDS would need a new database and a data migration), and
/// the VPC and subnets of its resource gateway (neither can be updated). A gateway whose subnets
/// are all still tagged private subnets of the database VPC keeps them, so tagging one more subnet
/// changes nothing.
pub async fn check_unchangeable(
    lattice: &aws_sdk_vpclattice::Client,
    rds: &aws_sdk_rds::Client,
    mut plan: Plan,
    gateway: Option<&str>,
) -> Result<Plan, StepError> {
    if plan.database.create {
        let id = &plan.database.identifier;
        for kind in [DbKind::Instance, DbKind::Cluster] {
            let db = DbRef {
                kind,
                identifier: id.clone(),
            };
            if let Some(found) = observe(rds, &db).await? {
                check_engine(&plan, kind, &found)?;
            }
        }
    }
    if let Some(gateway_id) = gateway {
        let gw = lattice
            .get_resource_gateway()
            .resource_gateway_identifier(gateway_id)
            .send()
            .await
            .aws("vpc-lattice:GetResourceGateway")?;
        let ours = match gw.arn() {
            Some(arn) => shared::lattice::is_ours(lattice, arn, &plan.name).await?,
            None => false,
        };
        if ours {
            let subnets = kept_gateway_subnets(&plan, gw.vpc_id(), gw.subnet_ids())?;
            plan.gateway_subnet_ids = subnets;
        }
    }
    Ok(plan)
}

/// The engine a created database has is the one the input names (pure).
fn check_engine(plan: &Plan, kind: DbKind, found: &Observed) -> Result<(), StepError> {
    let engine = found.engine.as_deref().unwrap_or("an unknown engine");
    let same = kind == plan.database.kind && Engine::parse(engine) == Some(plan.database.engine);
    if same {
        return Ok(());
    }
    Err(StepError::invalid(
        "database.create.engine",
        format!(
            "the deployment's database `{}` exists and runs {engine}; the engine of a database \
             cannot be changed in place (that needs a new database and a data migration): keep \
             `{engine}`, or run the teardown and provision again",
            plan.database.identifier
        ),
    ))
}

/// The subnets the deployment's existing gateway keeps (pure): its own, while they are still
/// tagged private subnets of the database VPC.
fn kept_gateway_subnets(
    plan: &Plan,
    vpc: Option<&str>,
    subnets: &[String],
) -> Result<Vec<String>, StepError> {
    let gateway = &plan.names.resource_gateway;
    if vpc.is_some_and(|v| v != plan.database_vpc_id) {
        return Err(StepError::invalid(
            "databaseVpc",
            format!(
                "the deployment's resource gateway `{gateway}` is in {}, not in {}: a gateway \
                 cannot move to another VPC; run the teardown and provision again",
                vpc.unwrap_or_default(),
                plan.database_vpc_id
            ),
        ));
    }
    let untagged: Vec<&str> = subnets
        .iter()
        .filter(|s| !plan.db_subnet_ids.contains(s))
        .map(String::as_str)
        .collect();
    if !untagged.is_empty() {
        return Err(StepError::invalid(
            "subnetTag",
            format!(
                "the deployment's resource gateway `{gateway}` uses {}, of which {} no longer \
                 match the subnet tag; a gateway's subnets cannot be updated: tag them again, or \
                 run the teardown and provision again",
                subnets.join(", "),
                untagged.join(", ")
            ),
        ));
    }
    Ok(subnets.to_vec())
}

/// Whether the database the failover moved the deployment to can carry it (pure).
pub fn check_takeover(plan: &Plan, id: &str, db: &Observed) -> Result<(), StepError> {
    let why = match &db.replica_of {
        Some(source) => Some(format!(
            "is still a read replica of `{source}` (not promoted)"
        )),
        None => unlike_primary(db, plan.database.engine, &plan.database_vpc_id, plan.port),
    };
    match why {
        None => Ok(()),
        Some(why) => Err(StepError::invalid(
            "database",
            format!(
                "deployment `{}` was failed over to `{id}` (its configuration's tags), which {why}; \
                 fix that database or run the teardown, rather than moving clients back to `{}`",
                plan.name, plan.database.identifier
            ),
        )),
    }
}

/// A standby the input names must be able to take the deployment over: same engine, in the
/// database VPC, on the same port, not publicly accessible (pure). Being a read replica is what a
/// standby usually is: the failover waits for its promotion before it sends writes there.
pub fn check_standby(
    field: &str,
    id: &str,
    db: &Observed,
    engine: Engine,
    vpc: &str,
    port: u16,
) -> Result<(), StepError> {
    match unlike_primary(db, engine, vpc, port) {
        None => Ok(()),
        Some(why) => Err(StepError::invalid(
            field,
            format!("`{id}` {why}: it could not take the deployment over"),
        )),
    }
}

/// Why a database could not stand in for the primary, if it could not.
fn unlike_primary(db: &Observed, engine: Engine, vpc: &str, port: u16) -> Option<String> {
    if db.engine.as_deref().and_then(Engine::parse) != Some(engine) {
        return Some(format!(
            "runs {}, not {}",
            db.engine.as_deref().unwrap_or("an unknown engine"),
            engine.as_str()
        ));
    }
    if db.vpc.as_deref() != Some(vpc) {
        return Some(format!(
            "is in {}, not in the database VPC {vpc}",
            db.vpc.as_deref().unwrap_or("no VPC")
        ));
    }
    if let Some(p) = db.port.filter(|p| *p != port) {
        return Some(format!("listens on {p}, not {port}"));
    }
    if db.publicly_accessible {
        return Some("is publicly accessible".into());
    }
    None
}

/// What RDS says about `db`, `None` when it does not exist.
async fn observe(rds: &aws_sdk_rds::Client, db: &DbRef) -> Result<Option<Observed>, StepError> {
    Ok(match db.kind {
        DbKind::Instance => shared::rds::describe_instance(rds, &db.identifier)
            .await?
            .map(|i| Observed {
                engine: i.engine().map(str::to_string),
                vpc: i
                    .db_subnet_group()
                    .and_then(|g| g.vpc_id())
                    .map(str::to_string),
                port: i
                    .endpoint()
                    .and_then(|e| e.port())
                    .and_then(|p| u16::try_from(p).ok()),
                publicly_accessible: i.publicly_accessible() == Some(true),
                replica_of: i
                    .read_replica_source_db_instance_identifier()
                    .map(str::to_string),
            }),
        DbKind::Cluster => match shared::rds::describe_cluster(rds, &db.identifier).await? {
            Some(c) => Some(Observed {
                engine: c.engine().map(str::to_string),
                vpc: cluster_vpc(rds, &c).await?,
                port: c.port().and_then(|p| u16::try_from(p).ok()),
                publicly_accessible: c.publicly_accessible() == Some(true),
                replica_of: c.replication_source_identifier().map(str::to_string),
            }),
            None => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
    use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
    use aws_sdk_ec2::types::{SecurityGroup, Subnet, VpcCidrBlockAssociation, VpcCidrBlockState};
    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::operation::describe_db_subnet_groups::DescribeDbSubnetGroupsOutput;
    use aws_sdk_rds::types::{DbCluster, DbInstance, DbSubnetGroup, Endpoint};
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use serde_json::json;
    use shared::testing;

    type Ec2 = aws_sdk_ec2::Client;
    type Rds = aws_sdk_rds::Client;

    const DB_VPC: &str = "vpc-0db0000000000000a";
    const CLIENT_VPC: &str = "vpc-0c10000000000000b";
    const OTHER_VPC: &str = "vpc-0ffff00000000000f";
    const SG: &str = "sg-0abc0000000000001";

    fn input(v: serde_json::Value) -> ProvisionInput {
        shared::input::parse(v).unwrap()
    }

    fn base() -> serde_json::Value {
        json!({
            "name": "orders",
            "databaseVpc": {"name": "database-vpc"},
            "clientVpcs": [{"name": "client-vpc", "allowedSecurityGroupIds": [SG], "allowedCidrs": ["10.1.0.0/16"]}],
            "database": {"create": {"engine": "mysql", "instanceClass": "db.t3.micro", "allocatedStorage": 20}},
            "tags": {"team": "payments"}
        })
    }

    fn has(filters: &[Filter], name: &str, value: &str) -> bool {
        filters
            .iter()
            .any(|f| f.name() == Some(name) && f.values().iter().any(|v| v == value))
    }

    fn vpc(id: &str, cidr: &str) -> Vpc {
        Vpc::builder()
            .vpc_id(id)
            .cidr_block(cidr)
            .cidr_block_association_set(
                VpcCidrBlockAssociation::builder()
                    .cidr_block(cidr)
                    .cidr_block_state(
                        VpcCidrBlockState::builder()
                            .state(VpcCidrBlockStateCode::Associated)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    fn vpc_by_name(name: &'static str, vpcs: Vec<Vpc>) -> Rule {
        mock!(Ec2::describe_vpcs)
            .match_requests(move |r| has(r.filters(), "tag:Name", name))
            .then_output(move || {
                DescribeVpcsOutput::builder()
                    .set_vpcs(Some(vpcs.clone()))
                    .build()
            })
    }

    fn subnet(id: &str, az: &str) -> Subnet {
        Subnet::builder()
            .subnet_id(id)
            .availability_zone(az)
            .vpc_id(DB_VPC)
            .build()
    }

    fn subnets(list: Vec<Subnet>) -> Rule {
        mock!(Ec2::describe_subnets)
            .match_requests(|r| {
                has(r.filters(), "vpc-id", DB_VPC) && has(r.filters(), "tag:Type", "private")
            })
            .then_output(move || {
                DescribeSubnetsOutput::builder()
                    .set_subnets(Some(list.clone()))
                    .build()
            })
    }

    fn three_subnets_two_azs() -> Rule {
        subnets(vec![
            subnet("subnet-0a000000000000003", "us-east-1a"),
            subnet("subnet-0b000000000000002", "us-east-1b"),
            subnet("subnet-0a000000000000001", "us-east-1a"),
        ])
    }

    fn sgs(groups: Vec<(&'static str, &'static str)>) -> Rule {
        mock!(Ec2::describe_security_groups)
            .match_requests(|r| has(r.filters(), "group-id", SG))
            .then_output(move || {
                let mut b = DescribeSecurityGroupsOutput::builder();
                for (id, vpc) in &groups {
                    b = b.security_groups(
                        SecurityGroup::builder().group_id(*id).vpc_id(*vpc).build(),
                    );
                }
                b.build()
            })
    }

    /// DB VPC, client VPC, three subnets in two AZs, the allowed SG in the client VPC.
    fn network() -> Vec<Rule> {
        vec![
            vpc_by_name("database-vpc", vec![vpc(DB_VPC, "10.0.0.0/16")]),
            vpc_by_name("client-vpc", vec![vpc(CLIENT_VPC, "10.1.0.0/16")]),
            three_subnets_two_azs(),
            sgs(vec![(SG, CLIENT_VPC)]),
        ]
    }

    fn no_rds() -> Rds {
        let none: [&Rule; 0] = [];
        mock_client!(aws_sdk_rds, RuleMode::MatchAny, none)
    }

    fn field(r: Result<Plan, StepError>) -> (String, String) {
        match r {
            Err(StepError::InvalidInput { field, message }) => (field, message),
            other => panic!("expected Input.Invalid, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn resolves_names_picks_one_gateway_subnet_per_az_and_plans_the_database() {
        let rules = network();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let plan = handle(&ec2, &no_rds(), "us-east-1", input(base()))
            .await
            .unwrap();

        assert_eq!(plan.database_vpc_id, DB_VPC);
        assert_eq!(plan.database_vpc_cidrs, ["10.0.0.0/16"]);
        assert_eq!(
            plan.db_subnet_ids,
            [
                "subnet-0a000000000000001",
                "subnet-0a000000000000003",
                "subnet-0b000000000000002"
            ]
        );
        assert_eq!(
            plan.gateway_subnet_ids,
            ["subnet-0a000000000000001", "subnet-0b000000000000002"]
        );
        assert_eq!(plan.client_vpcs.len(), 1);
        assert_eq!(plan.client_vpcs[0].vpc_id, CLIENT_VPC);
        assert_eq!(plan.client_vpcs[0].allowed_security_group_ids, [SG]);
        assert_eq!(plan.client_vpcs[0].allowed_cidrs, ["10.1.0.0/16"]);
        assert_eq!(plan.port, 3306);
        assert_eq!(plan.region, "us-east-1");
        assert_eq!(plan.names, Names::for_deployment("orders"));
        assert_eq!(plan.tags["team"], "payments");
        let db = &plan.database;
        assert!(db.create && !db.attach_security_group);
        assert_eq!(
            (db.kind, db.identifier.as_str(), db.engine),
            (DbKind::Instance, "orders-db", Engine::Mysql)
        );
        let s = db.settings.as_ref().unwrap();
        assert_eq!(
            (s.instance_class.as_str(), s.allocated_storage, s.multi_az),
            ("db.t3.micro", Some(20), true)
        );
        // The fixture the later steps' tests use is what this step really outputs
        // (up to the order of the DB subnets, which this step sorts).
        let mut fixture = testing::plan();
        fixture.db_subnet_ids.sort();
        assert_eq!(plan, fixture);
    }

    #[tokio::test]
    async fn aurora_is_planned_as_a_cluster_on_its_default_port() {
        let mut v = base();
        v["database"]["create"] =
            json!({"engine": "aurora-postgresql", "instanceClass": "db.r6g.large"});
        let rules = network();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let plan = handle(&ec2, &no_rds(), "us-east-1", input(v))
            .await
            .unwrap();
        assert_eq!(plan.database.kind, DbKind::Cluster);
        assert_eq!(plan.port, 5432);
    }

    #[tokio::test]
    async fn pages_through_subnets() {
        let pages = mock!(Ec2::describe_subnets)
            .sequence()
            .output(|| {
                DescribeSubnetsOutput::builder()
                    .subnets(subnet("subnet-0a000000000000001", "us-east-1a"))
                    .next_token("p2")
                    .build()
            })
            .output(|| {
                DescribeSubnetsOutput::builder()
                    .subnets(subnet("subnet-0b000000000000002", "us-east-1b"))
                    .build()
            })
            .build();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&pages]);
        let s = private_subnets(&ec2, DB_VPC, &TagFilter::default())
            .await
            .unwrap();
        assert_eq!(s.gateway.len(), 2);
        assert_eq!(pages.num_calls(), 2);
    }

    #[tokio::test]
    async fn an_unknown_vpc_id_names_databasevpc_id() {
        let mut v = base();
        v["databaseVpc"] = json!({"id": "vpc-0123456789abcdef0"});
        let by_id = mock!(Ec2::describe_vpcs)
            .match_requests(|r| r.vpc_ids() == ["vpc-0123456789abcdef0"])
            .then_http_response(|| {
                testing::ec2_error(
                    400,
                    "InvalidVpcID.NotFound",
                    "The vpc ID 'vpc-0123456789abcdef0' does not exist",
                )
            });
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&by_id]);
        let r = handle(&ec2, &no_rds(), "us-east-1", input(v)).await;
        let (f, m) = field(r);
        assert_eq!(f, "databaseVpc.id");
        assert!(m.contains("vpc-0123456789abcdef0"), "{m}");
        assert_eq!(by_id.num_calls(), 1);
    }

    #[tokio::test]
    async fn other_describe_errors_keep_their_aws_name() {
        let mut v = base();
        v["databaseVpc"] = json!({"id": "vpc-0123456789abcdef0"});
        let denied = mock!(Ec2::describe_vpcs)
            .then_http_response(|| testing::ec2_error(403, "UnauthorizedOperation", "no"));
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&denied]);
        let e = handle(&ec2, &no_rds(), "us-east-1", input(v))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Aws.AccessDenied");
    }

    #[tokio::test]
    async fn no_vpc_with_that_name_names_databasevpc_name() {
        let none = vpc_by_name("database-vpc", vec![]);
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&none]);
        let (f, m) = field(handle(&ec2, &no_rds(), "us-east-1", input(base())).await);
        assert_eq!(f, "databaseVpc.name");
        assert!(m.contains("database-vpc"), "{m}");
    }

    #[tokio::test]
    async fn an_ambiguous_name_lists_the_vpcs() {
        let two = vpc_by_name(
            "database-vpc",
            vec![vpc(DB_VPC, "10.0.0.0/16"), vpc(OTHER_VPC, "10.9.0.0/16")],
        );
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&two]);
        let (f, m) = field(handle(&ec2, &no_rds(), "us-east-1", input(base())).await);
        assert_eq!(f, "databaseVpc.name");
        assert!(m.contains(DB_VPC) && m.contains(OTHER_VPC), "{m}");
    }

    #[tokio::test]
    async fn subnets_in_one_az_are_rejected_naming_the_tag_and_azs() {
        let db = vpc_by_name("database-vpc", vec![vpc(DB_VPC, "10.0.0.0/16")]);
        let one_az = subnets(vec![
            subnet("subnet-0a000000000000001", "us-east-1a"),
            subnet("subnet-0a000000000000003", "us-east-1a"),
        ]);
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&db, &one_az]);
        let (f, m) = field(handle(&ec2, &no_rds(), "us-east-1", input(base())).await);
        assert_eq!(f, "subnetTag");
        assert!(
            m.contains(DB_VPC) && m.contains("Type=private") && m.contains("us-east-1a"),
            "{m}"
        );
    }

    #[tokio::test]
    async fn a_custom_subnet_tag_is_used_in_the_filter() {
        let mut v = base();
        v["subnetTag"] = json!({"key": "tier", "value": "db"});
        let db = vpc_by_name("database-vpc", vec![vpc(DB_VPC, "10.0.0.0/16")]);
        let tagged = mock!(Ec2::describe_subnets)
            .match_requests(|r| has(r.filters(), "tag:tier", "db"))
            .then_output(|| DescribeSubnetsOutput::builder().build());
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&db, &tagged]);
        let (f, m) = field(handle(&ec2, &no_rds(), "us-east-1", input(v)).await);
        assert_eq!((f.as_str(), tagged.num_calls()), ("subnetTag", 1));
        assert!(m.contains("tier=db") && m.contains("none"), "{m}");
    }

    #[tokio::test]
    async fn a_client_vpc_that_is_the_database_vpc_is_rejected() {
        let mut v = base();
        v["clientVpcs"][0]["name"] = json!("database-vpc");
        let rules = network();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let (f, m) = field(handle(&ec2, &no_rds(), "us-east-1", input(v)).await);
        assert_eq!(f, "clientVpcs[0].name");
        assert!(m.contains("only hosts the resource gateway"), "{m}");
    }

    #[tokio::test]
    async fn a_repeated_client_vpc_is_rejected() {
        let mut v = base();
        v["clientVpcs"] = json!([{"name": "client-vpc"}, {"id": CLIENT_VPC}]);
        let mut rules = network();
        rules.push(
            mock!(Ec2::describe_vpcs)
                .match_requests(|r| r.vpc_ids() == [CLIENT_VPC])
                .then_output(|| {
                    DescribeVpcsOutput::builder()
                        .vpcs(vpc(CLIENT_VPC, "10.1.0.0/16"))
                        .build()
                }),
        );
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let (f, m) = field(handle(&ec2, &no_rds(), "us-east-1", input(v)).await);
        assert_eq!(f, "clientVpcs[1].id");
        assert!(m.contains("clientVpcs[0]"), "{m}");
    }

    #[tokio::test]
    async fn an_allowed_group_in_another_vpc_names_its_field() {
        let mut rules = network();
        rules[3] = sgs(vec![(SG, OTHER_VPC)]);
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let (f, m) = field(handle(&ec2, &no_rds(), "us-east-1", input(base())).await);
        assert_eq!(f, "clientVpcs[0].allowedSecurityGroupIds[0]");
        assert!(m.contains(OTHER_VPC) && m.contains(CLIENT_VPC), "{m}");
    }

    #[tokio::test]
    async fn a_missing_allowed_group_names_its_field() {
        let mut rules = network();
        rules[3] = sgs(vec![]);
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let (f, m) = field(handle(&ec2, &no_rds(), "us-east-1", input(base())).await);
        assert_eq!(f, "clientVpcs[0].allowedSecurityGroupIds[0]");
        assert!(m.contains("does not exist"), "{m}");
    }

    fn existing_instance(v: &mut serde_json::Value) {
        v["database"] = json!({"existing": {"instanceIdentifier": "legacy-db"}});
    }

    fn instance(vpc: &str, engine: &str, port: i32) -> DbInstance {
        DbInstance::builder()
            .db_instance_identifier("legacy-db")
            .engine(engine)
            .db_instance_status("available")
            .endpoint(
                Endpoint::builder()
                    .address("legacy-db.c9akciq32xyz.us-east-1.rds.amazonaws.com")
                    .port(port)
                    .build(),
            )
            .db_subnet_group(DbSubnetGroup::builder().vpc_id(vpc).build())
            .build()
    }

    fn describe_instance(db: DbInstance) -> Rule {
        mock!(Rds::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("legacy-db"))
            .then_output(move || {
                DescribeDbInstancesOutput::builder()
                    .db_instances(db.clone())
                    .build()
            })
    }

    #[tokio::test]
    async fn an_existing_instance_adopts_its_port_and_engine() {
        let mut v = base();
        existing_instance(&mut v);
        let rules = network();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let found = describe_instance(instance(DB_VPC, "postgres", 6543));
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&found]);
        let plan = handle(&ec2, &rds, "us-east-1", input(v)).await.unwrap();
        let db = &plan.database;
        assert!(!db.create && db.attach_security_group && db.settings.is_none());
        assert_eq!(
            (db.kind, db.identifier.as_str(), db.engine),
            (DbKind::Instance, "legacy-db", Engine::Postgres)
        );
        assert_eq!(plan.port, 6543);
    }

    #[tokio::test]
    async fn a_port_that_differs_from_the_existing_databases_is_rejected() {
        let mut v = base();
        existing_instance(&mut v);
        v["port"] = json!(5432);
        let rules = network();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let found = describe_instance(instance(DB_VPC, "postgres", 6543));
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&found]);
        let (f, m) = field(handle(&ec2, &rds, "us-east-1", input(v)).await);
        assert_eq!(f, "port");
        assert!(m.contains("6543"), "{m}");
    }

    #[tokio::test]
    async fn a_missing_existing_instance_names_its_field() {
        let mut v = base();
        existing_instance(&mut v);
        let rules = network();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let gone = mock!(Rds::describe_db_instances).then_http_response(|| {
            testing::rds_error(404, "DBInstanceNotFound", "DBInstance legacy-db not found.")
        });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&gone]);
        let (f, m) = field(handle(&ec2, &rds, "us-east-1", input(v)).await);
        assert_eq!(f, "database.existing.instanceIdentifier");
        assert!(m.contains("legacy-db"), "{m}");
    }

    #[tokio::test]
    async fn an_existing_instance_in_another_vpc_is_rejected() {
        let mut v = base();
        existing_instance(&mut v);
        let rules = network();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let found = describe_instance(instance(OTHER_VPC, "mysql", 3306));
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&found]);
        let (f, m) = field(handle(&ec2, &rds, "us-east-1", input(v)).await);
        assert_eq!(f, "database.existing.instanceIdentifier");
        assert!(m.contains(OTHER_VPC) && m.contains(DB_VPC), "{m}");
    }

    #[tokio::test]
    async fn an_unsupported_engine_is_named() {
        let mut v = base();
        existing_instance(&mut v);
        let rules = network();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let found = describe_instance(instance(DB_VPC, "oracle-ee", 1521));
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&found]);
        let (f, m) = field(handle(&ec2, &rds, "us-east-1", input(v)).await);
        assert_eq!(f, "database.existing.instanceIdentifier");
        assert!(m.contains("oracle-ee"), "{m}");
    }

    #[tokio::test]
    async fn an_aurora_member_instance_must_be_given_as_its_cluster() {
        let mut v = base();
        existing_instance(&mut v);
        let rules = network();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let mut db = instance(DB_VPC, "aurora-mysql", 3306);
        db.db_cluster_identifier = Some("legacy-cluster".into());
        let found = describe_instance(db);
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&found]);
        let (f, m) = field(handle(&ec2, &rds, "us-east-1", input(v)).await);
        assert_eq!(f, "database.existing.instanceIdentifier");
        assert!(m.contains("clusterIdentifier"), "{m}");
    }

    #[tokio::test]
    async fn an_existing_cluster_is_checked_through_its_subnet_group() {
        let mut v = base();
        v["database"] = json!({"existing": {"clusterIdentifier": "legacy-cluster", "attachSecurityGroup": false}});
        let rules = network();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let cluster = mock!(Rds::describe_db_clusters)
            .match_requests(|r| r.db_cluster_identifier() == Some("legacy-cluster"))
            .then_output(|| {
                DescribeDbClustersOutput::builder()
                    .db_clusters(
                        DbCluster::builder()
                            .db_cluster_identifier("legacy-cluster")
                            .engine("aurora-mysql")
                            .port(3307)
                            .db_subnet_group("legacy-subnets")
                            .build(),
                    )
                    .build()
            });
        let group = mock!(Rds::describe_db_subnet_groups)
            .match_requests(|r| r.db_subnet_group_name() == Some("legacy-subnets"))
            .then_output(|| {
                DescribeDbSubnetGroupsOutput::builder()
                    .db_subnet_groups(DbSubnetGroup::builder().vpc_id(DB_VPC).build())
                    .build()
            });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&cluster, &group]);
        let plan = handle(&ec2, &rds, "us-east-1", input(v)).await.unwrap();
        let db = &plan.database;
        assert_eq!(
            (db.kind, db.engine, db.attach_security_group, plan.port),
            (DbKind::Cluster, Engine::AuroraMysql, false, 3307)
        );
        assert_eq!(group.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_missing_existing_cluster_names_its_field() {
        let mut v = base();
        v["database"] = json!({"existing": {"clusterIdentifier": "legacy-cluster"}});
        let rules = network();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let gone = mock!(Rds::describe_db_clusters).then_http_response(|| {
            testing::rds_error(
                404,
                "DBClusterNotFoundFault",
                "DBCluster legacy-cluster not found.",
            )
        });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&gone]);
        let (f, _) = field(handle(&ec2, &rds, "us-east-1", input(v)).await);
        assert_eq!(f, "database.existing.clusterIdentifier");
    }

    #[tokio::test]
    async fn an_ip_outside_the_database_vpc_is_rejected() {
        let mut v = base();
        v["mode"] = json!("ip");
        v["ipAddress"] = json!("10.1.2.3");
        let rules = network();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &rules);
        let (f, m) = field(handle(&ec2, &no_rds(), "us-east-1", input(v.clone())).await);
        assert_eq!(f, "ipAddress");
        assert!(m.contains("10.0.0.0/16"), "{m}");

        v["ipAddress"] = json!("10.0.2.3");
        let plan = handle(&ec2, &no_rds(), "us-east-1", input(v))
            .await
            .unwrap();
        assert_eq!(plan.ip_address.as_deref(), Some("10.0.2.3"));
        assert_eq!(plan.mode, Mode::Ip);
    }

    #[test]
    fn secondary_cidrs_count_and_disassociated_ones_do_not() {
        let mut v = vpc(DB_VPC, "10.0.0.0/16");
        v.cidr_block_association_set.as_mut().unwrap().extend([
            VpcCidrBlockAssociation::builder()
                .cidr_block("100.64.0.0/16")
                .cidr_block_state(
                    VpcCidrBlockState::builder()
                        .state(VpcCidrBlockStateCode::Associated)
                        .build(),
                )
                .build(),
            VpcCidrBlockAssociation::builder()
                .cidr_block("172.16.0.0/16")
                .cidr_block_state(
                    VpcCidrBlockState::builder()
                        .state(VpcCidrBlockStateCode::Disassociated)
                        .build(),
                )
                .build(),
        ]);
        assert_eq!(ipv4_cidrs(&v), ["10.0.0.0/16", "100.64.0.0/16"]);
    }

    #[tokio::test]
    async fn pure_checks_run_before_any_aws_call() {
        let mut v = base();
        v["name"] = json!("Orders");
        // No rules: any AWS call would panic the test.
        let none: [&Rule; 0] = [];
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, none);
        let (f, _) = field(handle(&ec2, &no_rds(), "us-east-1", input(v)).await);
        assert_eq!(f, "name");
    }
}

/// The state machine passes `{"input": <the execution input>, "execution": <execution name>}`;
/// a bare input (e.g. invoking the function by hand) is accepted too. Errors in the input
/// keep their paths relative to the user's document.
pub fn split_request(
    request: serde_json::Value,
) -> Result<(serde_json::Value, Option<String>), StepError> {
    match request {
        serde_json::Value::Object(mut m)
            if m.contains_key("input") && m.contains_key("execution") =>
        {
            let execution = match m.remove("execution") {
                Some(serde_json::Value::String(s)) if !s.is_empty() && s.len() <= 256 => Some(s),
                _ => {
                    return Err(StepError::internal(
                        "`execution` must be the execution name",
                    ))
                }
            };
            Ok((m.remove("input").unwrap_or_default(), execution))
        }
        other => Ok((other, None)),
    }
}

#[cfg(test)]
mod request_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_state_machine_wrapper_is_unwrapped_and_a_bare_input_is_kept() {
        let (input, exec) =
            split_request(json!({"input": {"name": "orders"}, "execution": "run-1"})).unwrap();
        assert_eq!(
            (input, exec.as_deref()),
            (json!({"name": "orders"}), Some("run-1"))
        );
        let (input, exec) = split_request(json!({"name": "orders"})).unwrap();
        assert_eq!((input, exec), (json!({"name": "orders"}), None));
        assert!(split_request(json!({"input": {}, "execution": 5})).is_err());
    }
}

// ---- following a failover

#[cfg(test)]
mod takeover_tests {
    use super::*;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::types::{DbInstance, DbSubnetGroup, Endpoint};
    use aws_sdk_vpclattice::operation::list_resource_configurations::ListResourceConfigurationsOutput;
    use aws_sdk_vpclattice::operation::list_resource_gateways::ListResourceGatewaysOutput;
    use aws_sdk_vpclattice::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_vpclattice::types::{ResourceConfigurationSummary, ResourceGatewaySummary};
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use shared::testing;

    type Rds = aws_sdk_rds::Client;
    const DB_VPC: &str = "vpc-0db0000000000000a";
    const OTHER_VPC: &str = "vpc-0ffff00000000000f";

    type Lattice = aws_sdk_vpclattice::Client;
    const RCFG_ARN: &str =
        "arn:aws:vpc-lattice:us-east-1:123456789012:resourceconfiguration/rcfg-0123456789abcdefa";

    fn promoted() -> Observed {
        Observed {
            engine: Some("mysql".into()),
            vpc: Some(DB_VPC.into()),
            port: Some(3306),
            publicly_accessible: false,
            replica_of: None,
        }
    }

    #[test]
    fn a_promoted_database_like_the_primary_can_take_over_and_nothing_else_can() {
        let plan = testing::plan();
        assert_eq!(check_takeover(&plan, "orders-replica", &promoted()), Ok(()));
        let cases: [(Observed, &str); 5] = [
            (
                Observed {
                    replica_of: Some("orders-db".into()),
                    ..promoted()
                },
                "still a read replica of `orders-db`",
            ),
            (
                Observed {
                    engine: Some("postgres".into()),
                    ..promoted()
                },
                "runs postgres, not mysql",
            ),
            (
                Observed {
                    vpc: Some(OTHER_VPC.into()),
                    ..promoted()
                },
                "not in the database VPC",
            ),
            (
                Observed {
                    port: Some(3307),
                    ..promoted()
                },
                "listens on 3307, not 3306",
            ),
            (
                Observed {
                    publicly_accessible: true,
                    ..promoted()
                },
                "publicly accessible",
            ),
        ];
        for (observed, why) in cases {
            let e = check_takeover(&plan, "orders-replica", &observed).unwrap_err();
            assert_eq!(e.name(), "Input.Invalid");
            let m = e.to_string();
            assert!(
                m.starts_with("database: deployment `orders` was failed over to `orders-replica`"),
                "{m}"
            );
            assert!(m.contains(why), "{why}: {m}");
        }
    }

    #[test]
    fn a_standby_must_be_able_to_take_over_but_may_still_replicate() {
        let replica = Observed {
            replica_of: Some("orders-db".into()),
            ..promoted()
        };
        let f = "standby.instanceIdentifier";
        assert_eq!(
            check_standby(f, "orders-replica", &replica, Engine::Mysql, DB_VPC, 3306),
            Ok(())
        );
        let public = Observed {
            publicly_accessible: true,
            ..replica.clone()
        };
        let e =
            check_standby(f, "orders-replica", &public, Engine::Mysql, DB_VPC, 3306).unwrap_err();
        assert_eq!(
                e.to_string(),
                "standby.instanceIdentifier: `orders-replica` is publicly accessible: it could not take the deployment over"
            );
        let e = check_standby(
            f,
            "orders-replica",
            &replica,
            Engine::Postgres,
            DB_VPC,
            5432,
        )
        .unwrap_err();
        assert!(e.to_string().contains("runs mysql, not postgres"), "{e}");
        let e = check_standby(
            f,
            "orders-replica",
            &replica,
            Engine::Mysql,
            OTHER_VPC,
            3306,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not in the database VPC"), "{e}");
    }

    /// Our gateway (`orders-rgw`), as `deployment_gateway` finds it in `lattice`.
    const GATEWAY: &str = "rgw-0123456789abcdefa";

    /// Our gateway and configuration, tagged as the failover left them.
    fn lattice(tags: &'static [(&'static str, &'static str)]) -> (Lattice, [Rule; 3]) {
        let gateways = mock!(Lattice::list_resource_gateways).then_output(|| {
            ListResourceGatewaysOutput::builder()
                .items(
                    ResourceGatewaySummary::builder()
                        .id("rgw-0team00000000000a")
                        .name("team-gateway")
                        .build(),
                )
                .items(
                    ResourceGatewaySummary::builder()
                        .id("rgw-0123456789abcdefa")
                        .name("orders-rgw")
                        .build(),
                )
                .build()
        });
        let cfgs = mock!(Lattice::list_resource_configurations)
            .match_requests(|r| r.resource_gateway_identifier() == Some("rgw-0123456789abcdefa"))
            .then_output(|| {
                ListResourceConfigurationsOutput::builder()
                    .items(
                        ResourceConfigurationSummary::builder()
                            .id("rcfg-0123456789abcdefa")
                            .arn(RCFG_ARN)
                            .name("orders-rcfg")
                            .build(),
                    )
                    .build()
            });
        let read = mock!(Lattice::list_tags_for_resource)
            .match_requests(|r| r.resource_arn() == Some(RCFG_ARN))
            .then_output(move || {
                let mut out =
                    ListTagsForResourceOutput::builder().tags(shared::tags::DEPLOYMENT, "orders");
                for (k, v) in tags {
                    out = out.tags(*k, *v);
                }
                out.build()
            });
        let client = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&gateways, &cfgs, &read]
        );
        (client, [gateways, cfgs, read])
    }

    const SWAPPED: &[(&str, &str)] = &[
        ("lattice-db-access:db-kind", "instance"),
        ("lattice-db-access:db-identifier", "orders-replica"),
        ("lattice-db-access:standby-kind", "instance"),
        ("lattice-db-access:standby-identifier", "orders-db"),
    ];

    fn replica(replica_of: Option<&'static str>) -> Rule {
        mock!(Rds::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("orders-replica"))
            .then_output(move || {
                DescribeDbInstancesOutput::builder()
                    .db_instances(
                        DbInstance::builder()
                            .db_instance_identifier("orders-replica")
                            .engine("mysql")
                            .db_subnet_group(DbSubnetGroup::builder().vpc_id(DB_VPC).build())
                            .endpoint(
                                Endpoint::builder()
                                    .address("orders-replica.x.rds.amazonaws.com")
                                    .port(3306)
                                    .build(),
                            )
                            .publicly_accessible(false)
                            .set_read_replica_source_db_instance_identifier(
                                replica_of.map(String::from),
                            )
                            .build(),
                    )
                    .build()
            })
    }

    #[tokio::test]
    async fn a_rerun_after_a_takeover_keeps_the_promoted_database_and_creates_nothing() {
        let (lattice, _rules) = lattice(SWAPPED);
        let rds_rule = replica(None);
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rds_rule]);
        // Found by its name among other gateways (`team-gateway`).
        assert_eq!(
            deployment_gateway(&lattice, &testing::plan())
                .await
                .unwrap()
                .as_deref(),
            Some(GATEWAY)
        );
        // The unchanged input: it still names the replica (promoted since) as the standby.
        let plan = follow_failover(
            &lattice,
            &rds,
            with_standby("orders-replica"),
            Some(GATEWAY),
        )
        .await
        .unwrap();
        assert_eq!(
            plan.database,
            PlannedDatabase {
                create: false,
                kind: DbKind::Instance,
                identifier: "orders-replica".into(),
                engine: Engine::Mysql,
                settings: None,
                attach_security_group: true,
            }
        );
        assert_eq!(
            plan.standby,
            Some(shared::plan::DbRef {
                kind: DbKind::Instance,
                identifier: "orders-db".into()
            })
        );
    }

    fn with_standby(id: &str) -> Plan {
        let mut plan = testing::plan();
        plan.standby = Some(DbRef {
            kind: DbKind::Instance,
            identifier: id.into(),
        });
        plan
    }

    #[tokio::test]
    async fn after_a_takeover_a_changed_standby_in_the_input_converges() {
        let (lattice, _rules) = lattice(SWAPPED);
        let rds_rule = replica(None);
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rds_rule]);
        // A new replica of the promoted database named as the standby: recorded.
        let plan = follow_failover(
            &lattice,
            &rds,
            with_standby("orders-replica-2"),
            Some(GATEWAY),
        )
        .await
        .unwrap();
        assert_eq!(plan.database.identifier, "orders-replica");
        assert_eq!(plan.standby, with_standby("orders-replica-2").standby);
        // No standby any more: none is recorded (not the tags' old one).
        let plan = follow_failover(&lattice, &rds, testing::plan(), Some(GATEWAY))
            .await
            .unwrap();
        assert_eq!(plan.database.identifier, "orders-replica");
        assert_eq!(plan.standby, None);
    }

    #[tokio::test]
    async fn an_unpromoted_replica_in_the_tags_is_refused_and_the_input_db_untouched() {
        let (lattice, _rules) = lattice(SWAPPED);
        let rds_rule = replica(Some("orders-db"));
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rds_rule]);
        let e = follow_failover(&lattice, &rds, testing::plan(), Some(GATEWAY))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Input.Invalid");
        assert!(e.to_string().contains("not promoted"), "{e}");
    }

    #[tokio::test]
    async fn tags_that_name_the_input_database_or_no_configuration_leave_the_plan_alone() {
        let (lattice, rules) = lattice(&[
            ("lattice-db-access:db-kind", "instance"),
            ("lattice-db-access:db-identifier", "orders-db"),
        ]);
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&replica(None)]);
        let plan = follow_failover(&lattice, &rds, testing::plan(), Some(GATEWAY))
            .await
            .unwrap();
        assert_eq!(plan, testing::plan());
        assert_eq!(
            rules[2].num_calls(),
            1,
            "our configuration's tags, and only those"
        );

        // A first run: no gateway of ours yet, so no configuration is listed.
        let none = mock!(Lattice::list_resource_gateways)
            .then_output(|| ListResourceGatewaysOutput::builder().build());
        let cfgs = mock!(Lattice::list_resource_configurations)
            .then_output(|| ListResourceConfigurationsOutput::builder().build());
        let empty = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&none, &cfgs]);
        let gateway = deployment_gateway(&empty, &testing::plan()).await.unwrap();
        assert_eq!(gateway, None);
        let plan = follow_failover(&empty, &rds, testing::plan(), gateway.as_deref())
            .await
            .unwrap();
        assert_eq!(plan, testing::plan());
        assert_eq!(cfgs.num_calls(), 0);
    }

    #[tokio::test]
    async fn another_database_than_the_one_clients_use_is_refused_naming_the_field() {
        // The configuration fronts `orders-replica` and no failover put it there (the input's
        // database is not the tagged standby): the input asks to switch databases.
        let (lattice, _rules) = lattice(&[
            ("lattice-db-access:db-kind", "instance"),
            ("lattice-db-access:db-identifier", "orders-replica"),
        ]);
        let rds_rule = replica(None);
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rds_rule]);
        let e = follow_failover(&lattice, &rds, testing::plan(), Some(GATEWAY))
            .await
            .unwrap_err();
        let StepError::InvalidInput { field, message } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(field, "database.create");
        assert!(
            message.contains("fronts `orders-replica`, not `orders-db`"),
            "{message}"
        );
    }

    #[test]
    fn an_engine_change_of_the_created_database_is_refused() {
        let plan = testing::plan();
        let mysql = Observed {
            engine: Some("mysql".into()),
            ..Observed::default()
        };
        check_engine(&plan, DbKind::Instance, &mysql).unwrap();
        let postgres = Observed {
            engine: Some("postgres".into()),
            ..Observed::default()
        };
        let e = check_engine(&plan, DbKind::Instance, &postgres).unwrap_err();
        assert!(
            matches!(&e, StepError::InvalidInput { field, message }
                if field == "database.create.engine" && message.contains("runs postgres")),
            "{e:?}"
        );
        // mysql -> aurora-mysql: an instance where a cluster is planned is another database too.
        let mut aurora = testing::plan();
        aurora.database.kind = DbKind::Cluster;
        aurora.database.engine = Engine::AuroraMysql;
        assert!(check_engine(&aurora, DbKind::Instance, &mysql).is_err());
    }

    #[test]
    fn an_existing_gateway_keeps_its_subnets_while_they_are_tagged() {
        let plan = testing::plan();
        let mut tagged = plan.db_subnet_ids.clone();
        // The gateway keeps its own subnets (in its order), whatever one-per-AZ selection the
        // tags would make now.
        tagged.reverse();
        let kept = kept_gateway_subnets(&plan, Some(&plan.database_vpc_id), &tagged).unwrap();
        assert_eq!(kept, tagged);
        let untagged = vec![
            plan.db_subnet_ids[0].clone(),
            "subnet-0ffffffffffffffff".into(),
        ];
        let e = kept_gateway_subnets(&plan, Some(&plan.database_vpc_id), &untagged).unwrap_err();
        assert!(
            matches!(&e, StepError::InvalidInput { field, message }
                if field == "subnetTag" && message.contains("subnet-0ffffffffffffffff")),
            "{e:?}"
        );
        let e = kept_gateway_subnets(&plan, Some("vpc-0other000000000000"), &tagged).unwrap_err();
        assert!(
            matches!(&e, StepError::InvalidInput { field, .. } if field == "databaseVpc"),
            "{e:?}"
        );
    }
}
