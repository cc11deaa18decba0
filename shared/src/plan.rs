//! The execution state the provisioning state machine carries from step to
//! step. `validate-input` produces the [`Plan`]; each later step reads the
//! sections it needs and adds its own (at the `ResultPath` named in the ASL).
//! Fields are always serialized (absent = `null`) so ASL paths never break.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::input::{Engine, Mode};

/// Names derived from the deployment name, within every AWS limit
/// (the deployment name is at most 30 characters; see `input::MAX_NAME_LEN`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Names {
    pub service_network: String,
    pub resource_gateway: String,
    pub resource_configuration: String,
    pub db_identifier: String,
    pub db_subnet_group: String,
    pub gateway_security_group: String,
    pub db_security_group: String,
    pub client_security_group: String,
    pub association_security_group: String,
    pub log_group: String,
    pub dashboard: String,
    pub alarm_prefix: String,
}

/// The resource gateway's name is the deployment's name and this.
const GATEWAY_SUFFIX: &str = "-rgw";

impl Names {
    /// The deployment a resource gateway of this name would belong to (the inverse of
    /// [`Names::for_deployment`]): lets the failover narrow an account's gateways by name
    /// before it reads any tag. Only a candidate: the tags decide.
    pub fn deployment_of_gateway(gateway_name: &str) -> Option<&str> {
        let name = gateway_name.strip_suffix(GATEWAY_SUFFIX)?;
        crate::input::validate_name(name).ok()?;
        Some(name)
    }

    /// The names a deployment's resource configuration may have: its type (SINGLE or ARN)
    /// cannot be updated, so a `mode` change that needs the other type creates the replacement
    /// under the name not in use, and the old one is removed once clients have the new one.
    pub fn resource_configuration_names(&self) -> [String; 2] {
        [
            self.resource_configuration.clone(),
            format!("{}-2", self.resource_configuration),
        ]
    }

    pub fn for_deployment(name: &str) -> Self {
        Self {
            service_network: format!("{name}-sn"),
            resource_gateway: format!("{name}{GATEWAY_SUFFIX}"),
            resource_configuration: format!("{name}-rcfg"),
            db_identifier: format!("{name}-db"),
            db_subnet_group: format!("{name}-db-subnets"),
            gateway_security_group: format!("{name}-resource-gateway"),
            db_security_group: format!("{name}-database"),
            client_security_group: format!("{name}-db-client"),
            association_security_group: format!("{name}-lattice-association"),
            log_group: format!("/aws/vpclattice/lattice-db-access/{name}"),
            dashboard: format!("lattice-db-access-{name}"),
            alarm_prefix: format!("lattice-db-access-{name}"),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Instance,
    Cluster,
}

impl DbKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instance => "instance",
            Self::Cluster => "cluster",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedCreate {
    pub instance_class: String,
    pub allocated_storage: Option<i64>,
    pub multi_az: bool,
    pub engine_version: Option<String>,
    pub master_username: String,
    pub backup_retention_days: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedDatabase {
    /// True when the workflow creates the database; false when it adopts one.
    pub create: bool,
    pub kind: DbKind,
    pub identifier: String,
    pub engine: Engine,
    /// Present when `create` is true.
    pub settings: Option<PlannedCreate>,
    /// For an adopted database: add our DB security group to it.
    pub attach_security_group: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedClientVpc {
    pub vpc_id: String,
    pub allowed_security_group_ids: Vec<String>,
    pub allowed_cidrs: Vec<String>,
}

/// Everything later steps need, resolved and validated.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub name: String,
    pub region: String,
    pub names: Names,
    pub database_vpc_id: String,
    pub database_vpc_cidrs: Vec<String>,
    /// Every tagged private subnet of the DB VPC (for the DB subnet group).
    pub db_subnet_ids: Vec<String>,
    /// One tagged private subnet per AZ (at least two) for the resource gateway.
    pub gateway_subnet_ids: Vec<String>,
    pub client_vpcs: Vec<PlannedClientVpc>,
    pub database: PlannedDatabase,
    pub mode: Mode,
    pub ip_address: Option<String>,
    pub port: u16,
    /// The user's tags (ours are added per resource).
    pub tags: BTreeMap<String, String>,
    /// The standby the failover Lambda may switch to.
    #[serde(default)]
    pub standby: Option<DbRef>,
}

/// An RDS instance or cluster.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DbRef {
    pub kind: DbKind,
    pub identifier: String,
}

impl DbRef {
    /// The primary a configuration's tags record (`db-kind` + `db-identifier`): the truth the
    /// failover keeps when it swaps primary and standby.
    pub fn tagged_primary(tags: &HashMap<String, String>) -> Option<Self> {
        Self::from_tag_pair(tags, crate::tags::DB_KIND, crate::tags::DB_IDENTIFIER)
    }

    /// The standby a configuration's tags record (`standby-kind` + `standby-identifier`).
    pub fn tagged_standby(tags: &HashMap<String, String>) -> Option<Self> {
        Self::from_tag_pair(
            tags,
            crate::tags::STANDBY_KIND,
            crate::tags::STANDBY_IDENTIFIER,
        )
    }

    fn from_tag_pair(tags: &HashMap<String, String>, kind_key: &str, id_key: &str) -> Option<Self> {
        let kind = match tags.get(kind_key).map(String::as_str) {
            Some("instance") => DbKind::Instance,
            Some("cluster") => DbKind::Cluster,
            _ => return None,
        };
        let identifier = tags.get(id_key).filter(|i| !i.is_empty())?.clone();
        Some(Self { kind, identifier })
    }

    /// The same database: RDS identifiers are case-insensitive (stored lowercase).
    pub fn is(&self, other: &DbRef) -> bool {
        self.kind == other.kind && self.identifier.eq_ignore_ascii_case(&other.identifier)
    }

    pub fn from_input(s: &crate::input::StandbyRef) -> Option<Self> {
        match (&s.instance_identifier, &s.cluster_identifier) {
            (Some(id), None) => Some(Self {
                kind: DbKind::Instance,
                identifier: id.to_ascii_lowercase(),
            }),
            (None, Some(id)) => Some(Self {
                kind: DbKind::Cluster,
                identifier: id.to_ascii_lowercase(),
            }),
            _ => None,
        }
    }
}

// ---- step outputs ----

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DbNetworkOut {
    pub gateway_security_group_id: String,
    pub db_security_group_id: String,
    /// `None` for an adopted database (it already has one).
    pub db_subnet_group_name: Option<String>,
    /// What this run changed on existing rules (`<group>: added|revoked <direction> …`).
    #[serde(default)]
    pub rule_changes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseOut {
    pub kind: DbKind,
    pub identifier: String,
    /// Whether this execution (or an earlier run of this deployment) created it.
    pub created: bool,
    /// Instances created for an Aurora cluster.
    pub instance_identifiers: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IdArn {
    pub id: String,
    pub arn: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VpcSecurityGroup {
    pub vpc_id: String,
    pub security_group_id: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClientAccessOut {
    /// The client SG per client VPC (egress on the DB port to the Lattice prefix list).
    pub clients: Vec<VpcSecurityGroup>,
    pub prefix_list_id: String,
    /// What this run changed on existing rules (`<group>: added|revoked <direction> …`).
    #[serde(default)]
    pub rule_changes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AccessControlsOut {
    /// The SG attached to each client VPC's service-network association.
    pub associations: Vec<VpcSecurityGroup>,
    /// What this run changed on existing rules (`<group>: added|revoked <direction> …`).
    #[serde(default)]
    pub rule_changes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VpcAssociation {
    pub vpc_id: String,
    pub id: String,
    pub arn: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceNetworkOut {
    pub id: String,
    pub arn: String,
    pub vpc_associations: Vec<VpcAssociation>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringOut {
    pub log_group_name: String,
    pub log_group_arn: String,
    pub access_log_subscription_id: String,
    pub dashboard_name: String,
    pub alarm_names: Vec<String>,
}

/// What a polling step reports; the ASL's Choice reads `state`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PollState {
    Pending,
    Ready,
    Failed,
    TimedOut,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PollOut {
    pub state: PollState,
    /// The raw AWS status (e.g. `CREATE_IN_PROGRESS`, `backing-up`).
    pub status: String,
    /// Attempts made so far, including this one.
    pub attempt: u32,
    pub max_attempts: u32,
    /// How long the ASL Wait state sleeps before the next attempt.
    pub wait_seconds: u32,
    /// Why it failed or timed out; used as the Fail state's cause.
    pub reason: Option<String>,
    /// Database: writer endpoint address.
    pub endpoint: Option<String>,
    pub port: Option<u16>,
    /// Database: the instance/cluster ARN.
    pub arn: Option<String>,
    /// Database: the Secrets Manager secret holding the master password.
    pub secret_arn: Option<String>,
    /// Resource association: the name clients connect to.
    pub dns_name: Option<String>,
    pub hosted_zone_id: Option<String>,
    /// Resource association: where `dns_name` comes from.
    pub dns_name_from: Option<DnsNameFrom>,
    /// What was polled, as people read it (`resource gateway rgw-…`): the CLI's progress line.
    #[serde(default)]
    pub subject: Option<String>,
}

impl PollOut {
    /// A poll result with its state and status and nothing else (the rest set after).
    pub fn new(state: PollState, status: impl Into<String>) -> Self {
        PollOut {
            state,
            status: status.into(),
            attempt: 0,
            max_attempts: 0,
            wait_seconds: 0,
            reason: None,
            endpoint: None,
            port: None,
            arn: None,
            secret_arn: None,
            dns_name: None,
            hosted_zone_id: None,
            dns_name_from: None,
            subject: None,
        }
    }
}

/// Where the name clients connect to comes from.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DnsNameFrom {
    /// The service-network resource association's `dnsEntry.domainName`.
    Association,
    /// `arn` mode when the association has no `dnsEntry`: the database's own endpoint, which
    /// resolves through VPC Lattice in the client VPCs (private DNS is always on for ARN
    /// resource configurations).
    DatabaseEndpoint,
}

/// A client token for an idempotent create: stable for the same deployment,
/// resource and parameters, different when the parameters change (so AWS
/// never sees one token reused with other parameters). At most 64 characters.
pub fn client_token(deployment: &str, resource: &str, params: &str) -> String {
    // FNV-1a: stable across processes and Rust versions, unlike DefaultHasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in params.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut t = format!("{deployment}-{resource}-{h:016x}");
    t.truncate(64);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_fit_aws_limits_at_max_length() {
        let name = "a".repeat(crate::input::MAX_NAME_LEN);
        let n = Names::for_deployment(&name);
        assert!(n.service_network.len() <= 63);
        assert!(n.resource_gateway.len() <= 40);
        assert!(n.resource_configuration.len() <= 40);
        assert!(n.db_identifier.len() <= 63);
        assert!(n.dashboard.len() <= 255);
        for s in [
            &n.service_network,
            &n.resource_gateway,
            &n.resource_configuration,
            &n.db_identifier,
        ] {
            assert!(crate::input::is_dns_label_name(s), "{s}");
        }
    }

    #[test]
    fn a_gateway_name_maps_back_to_its_deployment_only_when_we_could_have_made_it() {
        let n = Names::for_deployment("orders");
        assert_eq!(
            Names::deployment_of_gateway(&n.resource_gateway),
            Some("orders")
        );
        for other in [
            "orders",
            "orders-gw",
            "-rgw",
            "ab-rgw",
            "Orders-rgw",
            "rgw-x-rgw",
            "orders--rgw",
        ] {
            assert_eq!(Names::deployment_of_gateway(other), None, "{other}");
        }
        let longest = "a".repeat(crate::input::MAX_NAME_LEN);
        assert_eq!(
            Names::deployment_of_gateway(&format!("{longest}-rgw")),
            Some(longest.as_str())
        );
        assert_eq!(
            Names::deployment_of_gateway(&format!("{longest}a-rgw")),
            None
        );
    }

    #[test]
    fn the_tags_name_the_primary_and_the_standby_only_when_whole() {
        let tags: HashMap<String, String> = [
            (crate::tags::DB_KIND, "instance"),
            (crate::tags::DB_IDENTIFIER, "orders-replica"),
            (crate::tags::STANDBY_KIND, "cluster"),
            (crate::tags::STANDBY_IDENTIFIER, ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let primary = DbRef::tagged_primary(&tags).unwrap();
        assert!(primary.is(&DbRef {
            kind: DbKind::Instance,
            identifier: "Orders-Replica".into()
        }));
        assert!(!primary.is(&DbRef {
            kind: DbKind::Cluster,
            identifier: "orders-replica".into()
        }));
        assert_eq!(DbRef::tagged_standby(&tags), None, "an empty identifier");
        assert_eq!(DbRef::tagged_primary(&HashMap::new()), None);
    }

    #[test]
    fn client_tokens_are_stable_bounded_and_parameter_sensitive() {
        let a = client_token("orders", "rgw", "vpc-1,subnet-a,subnet-b");
        assert_eq!(a, client_token("orders", "rgw", "vpc-1,subnet-a,subnet-b"));
        assert_ne!(a, client_token("orders", "rgw", "vpc-1,subnet-a"));
        assert!(client_token(&"x".repeat(60), "resource-configuration", "p").len() <= 64);
    }

    #[test]
    fn poll_fields_serialize_as_null_not_absent() {
        let p = PollOut::new(PollState::Pending, "CREATE_IN_PROGRESS");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["state"], "PENDING");
        assert!(v.as_object().unwrap().contains_key("dnsName"));
        assert!(v["dnsName"].is_null());
    }
}
