//! What the data plane needs from EC2 and RDS, read from moto: security groups and their rules,
//! the clients' network interfaces, subnets, and the databases' security groups and endpoints.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use aws_sdk_ec2::types::IpPermission;

/// An IPv4 CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub base: Ipv4Addr,
    pub len: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = s.split_once('/')?;
        let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
        Some(Cidr {
            base: ip.parse().ok()?,
            len,
        })
    }

    fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len)
        }
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) & self.mask()) == (u32::from(self.base) & self.mask())
    }

    /// Every address of `other` is in `self`.
    pub fn covers(self, other: Cidr) -> bool {
        self.len <= other.len && self.contains(other.base) && {
            let last = u32::from(other.base) | !other.mask();
            self.contains(Ipv4Addr::from(last))
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.len)
    }
}

/// One security group rule (an `IpPermission`), for TCP reachability.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rule {
    /// `-1` (all), `tcp` or `6`, or another protocol (never matches TCP).
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidrs: Vec<Cidr>,
    pub groups: Vec<String>,
    pub prefix_lists: Vec<String>,
}

impl Rule {
    pub fn allows_tcp_port(&self, port: u16) -> bool {
        match self.protocol.as_str() {
            "-1" | "all" => true,
            "tcp" | "6" => {
                let p = i32::from(port);
                self.from_port.is_some_and(|f| f <= p) && self.to_port.is_some_and(|t| p <= t)
            }
            _ => false,
        }
    }

    fn from_sdk(p: &IpPermission) -> Rule {
        Rule {
            protocol: p.ip_protocol().unwrap_or_default().to_ascii_lowercase(),
            from_port: p.from_port(),
            to_port: p.to_port(),
            cidrs: p
                .ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip().and_then(Cidr::parse))
                .collect(),
            groups: p
                .user_id_group_pairs()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_string))
                .collect(),
            prefix_lists: p
                .prefix_list_ids()
                .iter()
                .filter_map(|l| l.prefix_list_id().map(str::to_string))
                .collect(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

#[derive(Clone, Debug)]
pub struct Interface {
    pub id: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub ip: Ipv4Addr,
    pub groups: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Database {
    pub identifier: String,
    pub arn: String,
    pub endpoint: Option<String>,
    pub port: Option<u16>,
    pub groups: Vec<String>,
    pub status: String,
}

/// The EC2 and RDS state at one moment.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub groups: HashMap<String, Group>,
    pub interfaces: HashMap<String, Interface>,
    pub subnets: HashMap<String, Cidr>,
    /// By identifier.
    pub databases: HashMap<String, Database>,
    /// Cluster ARN → writer endpoint (an `arn` configuration may name a cluster).
    pub clusters: HashMap<String, (String, Option<u16>)>,
    /// The id of the managed prefix list `com.amazonaws.<region>.vpc-lattice`.
    pub lattice_prefix_list: Option<String>,
    /// When it was read (milliseconds since the epoch).
    pub read_at: u64,
}

impl View {
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    /// The `default` group of a VPC (what an ENI created without groups gets).
    pub fn default_group(&self, vpc_id: &str) -> Option<&Group> {
        self.groups
            .values()
            .find(|g| g.vpc_id == vpc_id && g.name == "default")
    }

    pub fn database_by_arn(&self, arn: &str) -> Option<&Database> {
        self.databases.values().find(|d| d.arn == arn)
    }
}

/// EC2 and RDS clients pointed at moto.
pub struct Moto {
    ec2: aws_sdk_ec2::Client,
    rds: aws_sdk_rds::Client,
    region: String,
}

impl Moto {
    pub async fn new(url: &str, region: &str) -> Moto {
        // The data plane is AWS itself, not a function: it reads moto directly, not through the
        // IAM gate.
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .endpoint_url(url)
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "dataplane",
                "dataplane",
                None,
                None,
                "lattice-emulator",
            ))
            .load()
            .await;
        Moto {
            ec2: aws_sdk_ec2::Client::new(&config),
            rds: aws_sdk_rds::Client::new(&config),
            region: region.to_string(),
        }
    }

    /// Reads the view; `interfaces` are the registered clients' ENIs.
    pub async fn read(&self, interfaces: &[String]) -> Result<View, String> {
        let err = |what: &str, e: &dyn std::fmt::Debug| format!("reading {what} from moto: {e:?}");
        let mut view = View {
            read_at: crate::ids::now_millis(),
            ..View::default()
        };
        let groups = self
            .ec2
            .describe_security_groups()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("security groups", &e))?;
        for g in groups {
            let id = g.group_id().unwrap_or_default().to_string();
            view.groups.insert(
                id.clone(),
                Group {
                    id,
                    name: g.group_name().unwrap_or_default().to_string(),
                    vpc_id: g.vpc_id().unwrap_or_default().to_string(),
                    ingress: g.ip_permissions().iter().map(Rule::from_sdk).collect(),
                    egress: g
                        .ip_permissions_egress()
                        .iter()
                        .map(Rule::from_sdk)
                        .collect(),
                },
            );
        }
        let subnets = self
            .ec2
            .describe_subnets()
            .send()
            .await
            .map_err(|e| err("subnets", &e))?;
        for s in subnets.subnets() {
            if let (Some(id), Some(cidr)) = (s.subnet_id(), s.cidr_block().and_then(Cidr::parse)) {
                view.subnets.insert(id.to_string(), cidr);
            }
        }
        if !interfaces.is_empty() {
            // All of them, filtered here: asking for ids fails the whole call when one is gone,
            // and a deleted client must only lose its own connections.
            let enis = self
                .ec2
                .describe_network_interfaces()
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| err("network interfaces", &e))?;
            for n in enis {
                let ip = n.private_ip_address().and_then(|a| a.parse().ok());
                let Some(id) = n
                    .network_interface_id()
                    .filter(|id| interfaces.iter().any(|c| c == id))
                else {
                    continue;
                };
                if let Some(ip) = ip {
                    view.interfaces.insert(
                        id.to_string(),
                        Interface {
                            id: id.to_string(),
                            vpc_id: n.vpc_id().unwrap_or_default().to_string(),
                            subnet_id: n.subnet_id().unwrap_or_default().to_string(),
                            ip,
                            groups: n
                                .groups()
                                .iter()
                                .filter_map(|g| g.group_id().map(str::to_string))
                                .collect(),
                        },
                    );
                }
            }
        }
        let dbs = self
            .rds
            .describe_db_instances()
            .send()
            .await
            .map_err(|e| err("DB instances", &e))?;
        for d in dbs.db_instances() {
            let identifier = d.db_instance_identifier().unwrap_or_default().to_string();
            view.databases.insert(
                identifier.clone(),
                Database {
                    identifier,
                    arn: d.db_instance_arn().unwrap_or_default().to_string(),
                    endpoint: d.endpoint().and_then(|e| e.address()).map(str::to_string),
                    port: d
                        .endpoint()
                        .and_then(|e| e.port())
                        .and_then(|p| u16::try_from(p).ok()),
                    groups: d
                        .vpc_security_groups()
                        .iter()
                        .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                        .collect(),
                    status: d.db_instance_status().unwrap_or_default().to_string(),
                },
            );
        }
        let clusters = self
            .rds
            .describe_db_clusters()
            .send()
            .await
            .map_err(|e| err("DB clusters", &e))?;
        for c in clusters.db_clusters() {
            if let (Some(arn), Some(endpoint)) = (c.db_cluster_arn(), c.endpoint()) {
                let port = c.port().and_then(|p| u16::try_from(p).ok());
                view.clusters
                    .insert(arn.to_string(), (endpoint.to_string(), port));
            }
        }
        // Read each time: its id is moto's, and a moto reset gives it a new one.
        view.lattice_prefix_list = self.lattice_prefix_list().await?;
        Ok(view)
    }

    async fn lattice_prefix_list(&self) -> Result<Option<String>, String> {
        let name = format!("com.amazonaws.{}.vpc-lattice", self.region);
        let out = self
            .ec2
            .describe_managed_prefix_lists()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("prefix-list-name")
                    .values(&name)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| format!("reading the prefix list {name} from moto: {e:?}"))?;
        Ok(out
            .prefix_lists()
            .first()
            .and_then(|p| p.prefix_list_id())
            .map(str::to_string))
    }
}
