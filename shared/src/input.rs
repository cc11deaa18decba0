//! The execution input as users write it, and the checks that need no AWS call.
//! Every rejection names the field by its JSON path.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::StepError;
use crate::tags::{validate_user_tags, TAG_PREFIX};

/// Longest deployment name: keeps `<name>-rcfg` within the 40-character
/// resource-configuration limit and `<name>-db` within RDS's 63.
pub const MAX_NAME_LEN: usize = 30;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionInput {
    pub name: String,
    pub database_vpc: VpcRef,
    pub client_vpcs: Vec<ClientVpc>,
    #[serde(default)]
    pub subnet_tag: Option<TagFilter>,
    pub database: DatabaseSpec,
    #[serde(default)]
    pub mode: Mode,
    /// `ip` mode only: the in-VPC address to expose (default: resolve the DB endpoint).
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// A standby the failover Lambda may repoint to (a read replica or another
    /// cluster), recorded on the resource configuration's tags.
    #[serde(default)]
    pub standby: Option<StandbyRef>,
}

/// An RDS instance or cluster by identifier (exactly one).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StandbyRef {
    #[serde(default)]
    pub instance_identifier: Option<String>,
    #[serde(default)]
    pub cluster_identifier: Option<String>,
}

/// A VPC by id or by its `Name` tag (exactly one).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VpcRef {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientVpc {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Security groups (in this VPC) whose members may reach the database.
    #[serde(default)]
    pub allowed_security_group_ids: Vec<String>,
    /// CIDR ranges (in this VPC) that may reach the database.
    #[serde(default)]
    pub allowed_cidrs: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TagFilter {
    pub key: String,
    pub value: String,
}

impl Default for TagFilter {
    fn default() -> Self {
        Self {
            key: "Type".into(),
            value: "private".into(),
        }
    }
}

/// Exactly one of `create` or `existing`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseSpec {
    #[serde(default)]
    pub create: Option<CreateDatabase>,
    #[serde(default)]
    pub existing: Option<ExistingDatabase>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateDatabase {
    pub engine: Engine,
    pub instance_class: String,
    /// GiB; not used by Aurora.
    #[serde(default)]
    pub allocated_storage: Option<i64>,
    #[serde(default = "yes")]
    pub multi_az: bool,
    #[serde(default)]
    pub engine_version: Option<String>,
    #[serde(default = "default_master_username")]
    pub master_username: String,
    #[serde(default = "default_backup_days")]
    pub backup_retention_days: i64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExistingDatabase {
    #[serde(default)]
    pub instance_identifier: Option<String>,
    #[serde(default)]
    pub cluster_identifier: Option<String>,
    /// Add the workflow's DB security group (ingress from the resource gateway) to the database.
    #[serde(default = "yes")]
    pub attach_security_group: bool,
}

fn yes() -> bool {
    true
}
fn default_master_username() -> String {
    "dbadmin".into()
}
fn default_backup_days() -> i64 {
    7
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    Mysql,
    Postgres,
    Mariadb,
    AuroraMysql,
    AuroraPostgresql,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mysql => "mysql",
            Self::Postgres => "postgres",
            Self::Mariadb => "mariadb",
            Self::AuroraMysql => "aurora-mysql",
            Self::AuroraPostgresql => "aurora-postgresql",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Mysql,
            Self::Postgres,
            Self::Mariadb,
            Self::AuroraMysql,
            Self::AuroraPostgresql,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }

    pub fn is_aurora(self) -> bool {
        matches!(self, Self::AuroraMysql | Self::AuroraPostgresql)
    }

    /// RDS's default port for the engine (botocore `CreateDBInstanceMessage.Port`).
    pub fn default_port(self) -> u16 {
        match self {
            Self::Mysql | Self::Mariadb | Self::AuroraMysql => 3306,
            Self::Postgres | Self::AuroraPostgresql => 5432,
        }
    }
}

/// How the resource configuration names the database.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// SINGLE + `dnsResource` on the RDS endpoint: follows failover through DNS.
    #[default]
    Dns,
    /// ARN type on the instance/cluster ARN: AWS follows failover; no port ranges.
    Arn,
    /// SINGLE + `ipResource`: breaks on failover unless the failover Lambda repoints it.
    Ip,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Arn => "arn",
            Self::Ip => "ip",
        }
    }
}

/// Parse a JSON value into `T`, reporting the failing field's path.
pub fn parse<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, StepError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // serde reports a missing field at its parent's path; name the field itself.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let field = match (path.as_str(), missing) {
            (".", Some(m)) => m.to_string(),
            (_, Some(m)) => format!("{path}.{m}"),
            (".", None) => "(input)".to_string(),
            _ => path,
        };
        StepError::invalid(field, message)
    })
}

/// Is `s` a valid VPC Lattice / RDS style name: lowercase alphanumerics and
/// single hyphens, starting with a letter, not ending with a hyphen.
pub fn is_dns_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && !s.ends_with('-')
        && !s.contains("--")
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn is_aws_id(s: &str, prefix: &str) -> bool {
    // EC2 ids: prefix + 8 or 17 lowercase hex characters.
    s.strip_prefix(prefix).is_some_and(|rest| {
        (rest.len() == 8 || rest.len() == 17)
            && rest
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

pub fn is_vpc_id(s: &str) -> bool {
    is_aws_id(s, "vpc-")
}

pub fn is_sg_id(s: &str) -> bool {
    is_aws_id(s, "sg-")
}

/// RDS DB instance / cluster identifier: 1–63, letter first, letters, digits
/// and single hyphens, no trailing hyphen (RDS stores it lowercase).
pub fn is_rds_identifier(s: &str) -> bool {
    (1..=63).contains(&s.len()) && is_dns_label_name(&s.to_ascii_lowercase())
}

/// An IPv4 CIDR such as `10.0.0.0/16`, returned as (network, prefix length).
pub fn parse_ipv4_cidr(s: &str) -> Option<(u32, u8)> {
    let (addr, len) = s.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((u32::from(addr), len))
}

pub fn ipv4_in_cidr(ip: std::net::Ipv4Addr, cidr: &str) -> bool {
    match parse_ipv4_cidr(cidr) {
        Some((net, len)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            (u32::from(ip) & mask) == (net & mask)
        }
        None => false,
    }
}

/// The deployment name's rules (every resource name derives from it).
pub fn validate_name(n: &str) -> Result<(), StepError> {
    if n.len() < 3 || n.len() > MAX_NAME_LEN {
        return Err(StepError::invalid(
            "name",
            format!("must be 3 to {MAX_NAME_LEN} characters, got {}", n.len()),
        ));
    }
    if !is_dns_label_name(n) {
        return Err(StepError::invalid(
                "name",
                "must be lowercase letters, digits and single hyphens, start with a letter and not end with a hyphen",
            ));
    }
    if n.starts_with("rgw-") || n.starts_with("rcfg-") {
        return Err(StepError::invalid(
            "name",
            "must not start with `rgw-` or `rcfg-` (reserved by VPC Lattice)",
        ));
    }
    Ok(())
}

impl ProvisionInput {
    /// Checks that need no AWS call. VPC/subnet existence and the existing
    /// database are checked by the validate-input step against the APIs.
    pub fn validate(&self) -> Result<(), StepError> {
        validate_name(&self.name)?;
        validate_vpc_ref(
            "databaseVpc",
            self.database_vpc.id.as_deref(),
            self.database_vpc.name.as_deref(),
        )?;
        if self.client_vpcs.is_empty() {
            return Err(StepError::invalid(
                "clientVpcs",
                "needs at least one client VPC",
            ));
        }
        if self.client_vpcs.len() > 10 {
            return Err(StepError::invalid("clientVpcs", "at most 10 client VPCs"));
        }
        for (i, c) in self.client_vpcs.iter().enumerate() {
            let f = format!("clientVpcs[{i}]");
            validate_vpc_ref(&f, c.id.as_deref(), c.name.as_deref())?;
            if c.id.is_some() && c.id == self.database_vpc.id {
                return Err(StepError::invalid(
                    format!("{f}.id"),
                    "the database VPC is not a client VPC: it only hosts the resource gateway",
                ));
            }
            // One rule per source on the association SG; SGs allow 60 inbound rules.
            if c.allowed_security_group_ids.len() + c.allowed_cidrs.len() > 50 {
                return Err(StepError::invalid(
                    format!("{f}.allowedSecurityGroupIds"),
                    "at most 50 allowed sources per client VPC",
                ));
            }
            for (j, sg) in c.allowed_security_group_ids.iter().enumerate() {
                if !is_sg_id(sg) {
                    return Err(StepError::invalid(
                        format!("{f}.allowedSecurityGroupIds[{j}]"),
                        format!("`{sg}` is not a security group id (sg-xxxxxxxx)"),
                    ));
                }
            }
            for (j, cidr) in c.allowed_cidrs.iter().enumerate() {
                if parse_ipv4_cidr(cidr).is_none() {
                    return Err(StepError::invalid(
                        format!("{f}.allowedCidrs[{j}]"),
                        format!("`{cidr}` is not an IPv4 CIDR such as 10.0.0.0/16"),
                    ));
                }
            }
        }
        if let Some(t) = &self.subnet_tag {
            if t.key.is_empty() || t.key.len() > 128 {
                return Err(StepError::invalid(
                    "subnetTag.key",
                    "must be 1 to 128 characters",
                ));
            }
            if t.value.len() > 256 {
                return Err(StepError::invalid(
                    "subnetTag.value",
                    "must be at most 256 characters",
                ));
            }
        }
        self.validate_database()?;
        if let Some(p) = self.port {
            if !(1150..=65535).contains(&p) && self.database.create.is_some() {
                return Err(StepError::invalid(
                    "port",
                    format!("{p} is outside RDS's allowed range 1150-65535"),
                ));
            }
            if !(1..=65535).contains(&p) {
                return Err(StepError::invalid(
                    "port",
                    format!("{p} is outside 1-65535"),
                ));
            }
        }
        match (self.mode, &self.ip_address) {
            (Mode::Ip, Some(ip)) => match ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => {}
                _ => {
                    return Err(StepError::invalid(
                        "ipAddress",
                        format!(
                        "`{ip}` is not an IPv4 address (a hostname is not valid for ipResource)"
                    ),
                    ))
                }
            },
            (Mode::Ip, None) => {}
            (_, Some(_)) => {
                return Err(StepError::invalid(
                    "ipAddress",
                    "only valid with \"mode\": \"ip\"",
                ));
            }
            _ => {}
        }
        validate_user_tags(&self.tags)?;
        if let Some(s) = &self.standby {
            let id = match (&s.instance_identifier, &s.cluster_identifier) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(StepError::invalid(
                        "standby",
                        "give exactly one of `instanceIdentifier` or `clusterIdentifier`",
                    ))
                }
                (Some(id), None) => ("standby.instanceIdentifier", id),
                (None, Some(id)) => ("standby.clusterIdentifier", id),
            };
            if !is_rds_identifier(id.1) {
                return Err(StepError::invalid(
                    id.0,
                    format!("`{}` is not an RDS identifier", id.1),
                ));
            }
            if self.mode == Mode::Arn {
                return Err(StepError::invalid(
                    "standby",
                    "ARN resource configurations cannot be repointed; use mode dns or ip with a standby",
                ));
            }
        }
        Ok(())
    }

    fn validate_database(&self) -> Result<(), StepError> {
        match (&self.database.create, &self.database.existing) {
            (Some(_), Some(_)) | (None, None) => Err(StepError::invalid(
                "database",
                "give exactly one of `create` or `existing`",
            )),
            (Some(c), None) => {
                let f = "database.create";
                let class_ok = c.instance_class.starts_with("db.")
                    && c.instance_class.split('.').count() == 3
                    && c.instance_class.split('.').all(|p| {
                        !p.is_empty()
                            && p.bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    });
                if !class_ok {
                    return Err(StepError::invalid(
                        format!("{f}.instanceClass"),
                        format!(
                            "`{}` is not a DB instance class such as db.t3.micro",
                            c.instance_class
                        ),
                    ));
                }
                match (c.engine.is_aurora(), c.allocated_storage) {
                    (true, Some(_)) => {
                        return Err(StepError::invalid(
                            format!("{f}.allocatedStorage"),
                            "Aurora storage grows automatically; omit allocatedStorage",
                        ))
                    }
                    (false, Some(s)) if !(20..=65536).contains(&s) => {
                        return Err(StepError::invalid(
                            format!("{f}.allocatedStorage"),
                            format!("{s} GiB is outside 20-65536"),
                        ))
                    }
                    _ => {}
                }
                let u = &c.master_username;
                let user_ok = (1..=16).contains(&u.len())
                    && u.as_bytes()[0].is_ascii_alphabetic()
                    && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !user_ok {
                    return Err(StepError::invalid(
                        format!("{f}.masterUsername"),
                        "must be 1 to 16 letters, digits or underscores, starting with a letter",
                    ));
                }
                if u.eq_ignore_ascii_case("rdsadmin") {
                    return Err(StepError::invalid(
                        format!("{f}.masterUsername"),
                        "`rdsadmin` is reserved",
                    ));
                }
                if !(1..=35).contains(&c.backup_retention_days) {
                    return Err(StepError::invalid(
                        format!("{f}.backupRetentionDays"),
                        "must be 1 to 35 (backups are kept; 0 would disable them)",
                    ));
                }
                if let Some(v) = &c.engine_version {
                    if v.is_empty()
                        || v.len() > 32
                        || !v.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'
                        })
                    {
                        return Err(StepError::invalid(
                            format!("{f}.engineVersion"),
                            format!("`{v}` is not an engine version"),
                        ));
                    }
                }
                Ok(())
            }
            (None, Some(e)) => {
                let f = "database.existing";
                match (&e.instance_identifier, &e.cluster_identifier) {
                    (Some(_), Some(_)) | (None, None) => Err(StepError::invalid(
                        f,
                        "give exactly one of `instanceIdentifier` or `clusterIdentifier`",
                    )),
                    (Some(id), None) if !is_rds_identifier(id) => Err(StepError::invalid(
                        format!("{f}.instanceIdentifier"),
                        format!("`{id}` is not an RDS identifier"),
                    )),
                    (None, Some(id)) if !is_rds_identifier(id) => Err(StepError::invalid(
                        format!("{f}.clusterIdentifier"),
                        format!("`{id}` is not an RDS identifier"),
                    )),
                    _ => Ok(()),
                }
            }
        }
    }
}

fn validate_vpc_ref(field: &str, id: Option<&str>, name: Option<&str>) -> Result<(), StepError> {
    match (id, name) {
        (Some(_), Some(_)) | (None, None) => Err(StepError::invalid(
            field,
            "give exactly one of `id` or `name` (the VPC's Name tag)",
        )),
        (Some(id), None) if !is_vpc_id(id) => Err(StepError::invalid(
            format!("{field}.id"),
            format!("`{id}` is not a VPC id (vpc-xxxxxxxx)"),
        )),
        (None, Some(n)) if n.is_empty() || n.len() > 256 => Err(StepError::invalid(
            format!("{field}.name"),
            "must be 1 to 256 characters",
        )),
        _ => Ok(()),
    }
}

/// Our own tag keys start with this; users may not set them.
pub fn is_reserved_tag_key(k: &str) -> bool {
    k.starts_with(TAG_PREFIX) || k.to_ascii_lowercase().starts_with("aws:")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn example() -> serde_json::Value {
        json!({
            "name": "orders",
            "databaseVpc": {"name": "database-vpc"},
            "clientVpcs": [{"name": "client-vpc", "allowedCidrs": ["10.1.0.0/16"]}],
            "database": {"create": {"engine": "mysql", "instanceClass": "db.t3.micro", "allocatedStorage": 20}},
            "tags": {"team": "payments"}
        })
    }

    fn check(v: serde_json::Value) -> Result<ProvisionInput, StepError> {
        let i: ProvisionInput = parse(v)?;
        i.validate()?;
        Ok(i)
    }

    fn field_of(v: serde_json::Value) -> String {
        match check(v) {
            Err(StepError::InvalidInput { field, .. }) => field,
            other => panic!("expected Input.Invalid, got {other:?}"),
        }
    }

    #[test]
    fn example_is_valid_with_defaults() {
        let i = check(example()).unwrap();
        assert_eq!(i.mode, Mode::Dns);
        let c = i.database.create.unwrap();
        assert!(c.multi_az, "Multi-AZ is on by default");
        assert_eq!(c.backup_retention_days, 7);
        assert_eq!(c.engine.default_port(), 3306);
    }

    #[test]
    fn each_bad_field_is_named() {
        type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("name", Box::new(|v| v["name"] = json!("Orders"))),
            ("name", Box::new(|v| v["name"] = json!("ab"))),
            (
                "name",
                Box::new(|v| v["name"] = json!("a-very-long-deployment-name-over-30")),
            ),
            ("name", Box::new(|v| v["name"] = json!("bad--name"))),
            ("name", Box::new(|v| v["name"] = json!("rgw-thing"))),
            ("name", Box::new(|v| v["name"] = json!(42))),
            (
                "name",
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("name");
                }),
            ),
            ("databaseVpc", Box::new(|v| v["databaseVpc"] = json!({}))),
            (
                "databaseVpc.id",
                Box::new(|v| v["databaseVpc"] = json!({"id": "vpc-XYZ"})),
            ),
            ("clientVpcs", Box::new(|v| v["clientVpcs"] = json!([]))),
            (
                "clientVpcs[0]",
                Box::new(|v| v["clientVpcs"][0] = json!({"id": "vpc-12345678", "name": "x"})),
            ),
            (
                "clientVpcs[0].allowedCidrs[0]",
                Box::new(|v| v["clientVpcs"][0]["allowedCidrs"] = json!(["10.1.0.0/33"])),
            ),
            (
                "clientVpcs[0].allowedSecurityGroupIds[0]",
                Box::new(|v| v["clientVpcs"][0]["allowedSecurityGroupIds"] = json!(["group-1"])),
            ),
            ("database", Box::new(|v| v["database"] = json!({}))),
            (
                "database.create.engine",
                Box::new(|v| v["database"]["create"]["engine"] = json!("oracle")),
            ),
            (
                "database.create.instanceClass",
                Box::new(|v| v["database"]["create"]["instanceClass"] = json!("t3.micro")),
            ),
            (
                "database.create.allocatedStorage",
                Box::new(|v| v["database"]["create"]["allocatedStorage"] = json!(5)),
            ),
            (
                "database.create.allocatedStorage",
                Box::new(|v| v["database"]["create"]["allocatedStorage"] = json!("20")),
            ),
            (
                "database.create.masterUsername",
                Box::new(|v| v["database"]["create"]["masterUsername"] = json!("1admin")),
            ),
            (
                "database.create.backupRetentionDays",
                Box::new(|v| v["database"]["create"]["backupRetentionDays"] = json!(0)),
            ),
            (
                "database.create.password",
                Box::new(|v| v["database"]["create"]["password"] = json!("hunter2hunter2")),
            ),
            (
                "database.existing",
                Box::new(|v| v["database"] = json!({"existing": {}})),
            ),
            (
                "database.existing.instanceIdentifier",
                Box::new(|v| v["database"] = json!({"existing": {"instanceIdentifier": "1db"}})),
            ),
            ("mode", Box::new(|v| v["mode"] = json!("cname"))),
            (
                "ipAddress",
                Box::new(|v| {
                    v["mode"] = json!("ip");
                    v["ipAddress"] = json!("db.example.com");
                }),
            ),
            (
                "ipAddress",
                Box::new(|v| v["ipAddress"] = json!("10.0.0.5")),
            ),
            ("port", Box::new(|v| v["port"] = json!(70000))),
            ("port", Box::new(|v| v["port"] = json!(0))),
            (
                "tags.aws:foo",
                Box::new(|v| v["tags"] = json!({"aws:foo": "x"})),
            ),
            ("tags", Box::new(|v| v["tags"] = json!("team=payments"))),
            ("clientVpc", Box::new(|v| v["clientVpc"] = json!([]))),
            ("standby", Box::new(|v| v["standby"] = json!({}))),
            (
                "standby.instanceIdentifier",
                Box::new(|v| v["standby"] = json!({"instanceIdentifier": "bad_id"})),
            ),
            (
                "standby",
                Box::new(|v| {
                    v["mode"] = json!("arn");
                    v["standby"] = json!({"instanceIdentifier": "orders-replica"});
                }),
            ),
        ];
        for (want, mutate) in cases {
            let mut v = example();
            mutate(&mut v);
            let got = field_of(v.clone());
            assert!(
                got == want || (want == "clientVpc" && got == "(input)"),
                "input {v} should fail on {want}, failed on {got}"
            );
        }
    }

    #[test]
    fn aurora_rejects_allocated_storage_and_uses_engine_port() {
        let mut v = example();
        v["database"]["create"] =
            json!({"engine": "aurora-postgresql", "instanceClass": "db.r6g.large"});
        let i = check(v.clone()).unwrap();
        assert_eq!(i.database.create.unwrap().engine.default_port(), 5432);
        v["database"]["create"]["allocatedStorage"] = json!(20);
        assert_eq!(field_of(v), "database.create.allocatedStorage");
    }

    #[test]
    fn ip_mode_accepts_an_ipv4_address() {
        let mut v = example();
        v["mode"] = json!("ip");
        v["ipAddress"] = json!("10.0.1.25");
        assert!(check(v).is_ok());
    }

    #[test]
    fn cidr_membership() {
        let ip = "10.0.1.25".parse().unwrap();
        assert!(ipv4_in_cidr(ip, "10.0.0.0/16"));
        assert!(!ipv4_in_cidr(ip, "10.1.0.0/16"));
        assert!(ipv4_in_cidr(ip, "0.0.0.0/0"));
    }
}

#[cfg(test)]
mod example_files {
    use super::*;

    /// The README's example inputs must stay valid.
    #[test]
    fn the_shipped_example_inputs_are_valid() {
        for (file, text) in [
            (
                "events/provision.json",
                include_str!("../../events/provision.json"),
            ),
            (
                "events/provision-existing-aurora.json",
                include_str!("../../events/provision-existing-aurora.json"),
            ),
        ] {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            let i: ProvisionInput = parse(v).unwrap_or_else(|e| panic!("{file}: {e}"));
            i.validate().unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }
}
