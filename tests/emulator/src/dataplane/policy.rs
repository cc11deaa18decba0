//! Security-group evaluation for one TCP connection, as AWS does it on each hop: pure functions
//! over a [`View`], so each rule's effect is unit tested.

use std::net::Ipv4Addr;

use super::view::{Cidr, Rule, View};

/// The other end of a hop, as a rule can name it.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Its addresses (a host is a /32; a resource gateway is its subnets).
    pub cidrs: Vec<Cidr>,
    /// The security groups it carries.
    pub groups: Vec<String>,
    /// Reached through VPC Lattice, so a rule may name the Lattice prefix list.
    pub lattice: bool,
}

impl Peer {
    pub fn host(ip: Ipv4Addr, groups: &[String]) -> Peer {
        Peer {
            cidrs: vec![Cidr { base: ip, len: 32 }],
            groups: groups.to_vec(),
            lattice: false,
        }
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.groups.is_empty() {
            parts.push(format!("security group(s) {}", self.groups.join(", ")));
        }
        let cidrs: Vec<String> = self.cidrs.iter().map(Cidr::to_string).collect();
        if self.lattice {
            parts.push(format!(
                "the VPC Lattice prefix list ({})",
                cidrs.join(", ")
            ));
        } else if !cidrs.is_empty() {
            parts.push(format!("a CIDR covering {}", cidrs.join(", ")));
        }
        parts.join(" or ")
    }
}

/// Whether one rule lets TCP `port` to/from `peer`.
pub fn rule_admits(rule: &Rule, port: u16, peer: &Peer, lattice_prefix_list: Option<&str>) -> bool {
    if !rule.allows_tcp_port(port) {
        return false;
    }
    let by_group = rule.groups.iter().any(|g| peer.groups.contains(g));
    let by_cidr = !peer.cidrs.is_empty()
        && peer
            .cidrs
            .iter()
            .all(|p| rule.cidrs.iter().any(|c| c.covers(*p)));
    let by_prefix_list = peer.lattice
        && lattice_prefix_list.is_some_and(|pl| rule.prefix_lists.iter().any(|r| r == pl));
    by_group || by_cidr || by_prefix_list
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

/// Some rule of `groups` (in `direction`) admits TCP `port` with `peer`; otherwise the reason,
/// naming the rule that is missing.
pub fn check(
    view: &View,
    what: &str,
    groups: &[String],
    direction: Direction,
    port: u16,
    peer: &Peer,
) -> Result<(), String> {
    let missing: Vec<&String> = groups.iter().filter(|g| view.group(g).is_none()).collect();
    if groups.is_empty() || missing.len() == groups.len() {
        return Err(format!(
            "{what} has no security group (none of [{}] exists), so nothing is allowed",
            groups.join(", ")
        ));
    }
    let pl = view.lattice_prefix_list.as_deref();
    let admitted = groups.iter().filter_map(|g| view.group(g)).any(|g| {
        let rules = match direction {
            Direction::Ingress => &g.ingress,
            Direction::Egress => &g.egress,
        };
        rules.iter().any(|r| rule_admits(r, port, peer, pl))
    });
    if admitted {
        return Ok(());
    }
    let (dir, prep) = match direction {
        Direction::Ingress => ("ingress", "from"),
        Direction::Egress => ("egress", "to"),
    };
    Err(format!(
        "missing rule: {what}'s security group(s) {} allow no {dir} on tcp/{port} {prep} {}",
        groups.join(", "),
        peer.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::view::Group;

    fn cidr(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    fn tcp(port: i32) -> Rule {
        Rule {
            protocol: "tcp".into(),
            from_port: Some(port),
            to_port: Some(port),
            ..Rule::default()
        }
    }

    fn view(groups: Vec<Group>) -> View {
        let mut v = View {
            lattice_prefix_list: Some("pl-lattice".into()),
            ..View::default()
        };
        for g in groups {
            v.groups.insert(g.id.clone(), g);
        }
        v
    }

    fn group(id: &str, ingress: Vec<Rule>, egress: Vec<Rule>) -> Group {
        Group {
            id: id.into(),
            name: id.into(),
            vpc_id: "vpc-1".into(),
            ingress,
            egress,
        }
    }

    #[test]
    fn cidrs_cover_what_they_contain_and_nothing_else() {
        assert!(cidr("10.0.0.0/16").covers(cidr("10.0.1.0/24")));
        assert!(!cidr("10.0.1.0/24").covers(cidr("10.0.0.0/16")));
        assert!(cidr("0.0.0.0/0").covers(cidr("129.224.0.5/32")));
        assert!(!cidr("10.0.1.0/24").covers(cidr("10.0.2.1/32")));
        assert!(cidr("10.0.1.7/32").contains("10.0.1.7".parse().unwrap()));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
    }

    #[test]
    fn the_recipes_self_referencing_db_rule_does_not_admit_the_gateway() {
        // Recipe defect 1: DB SG ingress from itself; the gateway carries its own SG.
        let mut from_self = tcp(3306);
        from_self.groups = vec!["sg-db".into()];
        let v = view(vec![group("sg-db", vec![from_self.clone()], vec![])]);
        let gateway = Peer {
            cidrs: vec![cidr("10.0.1.0/24"), cidr("10.0.2.0/24")],
            groups: vec!["sg-gw".into()],
            lattice: false,
        };
        let err = check(
            &v,
            "the database",
            &["sg-db".into()],
            Direction::Ingress,
            3306,
            &gateway,
        )
        .unwrap_err();
        assert!(
            err.contains("sg-db allow no ingress on tcp/3306 from security group(s) sg-gw"),
            "{err}"
        );
        // The fix: from the gateway's SG.
        let mut from_gw = tcp(3306);
        from_gw.groups = vec!["sg-gw".into()];
        let v = view(vec![group("sg-db", vec![from_self, from_gw], vec![])]);
        assert_eq!(
            check(
                &v,
                "db",
                &["sg-db".into()],
                Direction::Ingress,
                3306,
                &gateway
            ),
            Ok(())
        );
    }

    #[test]
    fn a_cidr_rule_must_cover_every_subnet_of_the_gateway_and_the_port_must_match() {
        let gateway = Peer {
            cidrs: vec![cidr("10.0.1.0/24"), cidr("10.0.2.0/24")],
            groups: vec!["sg-gw".into()],
            lattice: false,
        };
        let mut one_subnet = tcp(3306);
        one_subnet.cidrs = vec![cidr("10.0.1.0/24")];
        assert!(!rule_admits(&one_subnet, 3306, &gateway, None));
        let mut vpc = tcp(3306);
        vpc.cidrs = vec![cidr("10.0.0.0/16")];
        assert!(rule_admits(&vpc, 3306, &gateway, None));
        assert!(!rule_admits(&vpc, 5432, &gateway, None), "another port");
        let mut all = vpc.clone();
        all.protocol = "-1".into();
        all.from_port = None;
        all.to_port = None;
        assert!(rule_admits(&all, 5432, &gateway, None), "all traffic");
        let mut udp = vpc;
        udp.protocol = "udp".into();
        assert!(!rule_admits(&udp, 3306, &gateway, None), "UDP is not TCP");
    }

    #[test]
    fn client_egress_to_the_lattice_prefix_list_or_a_covering_cidr() {
        let endpoint = Peer {
            cidrs: vec![cidr("129.224.0.1/32")],
            groups: vec![],
            lattice: true,
        };
        let mut to_pl = tcp(5432);
        to_pl.prefix_lists = vec!["pl-lattice".into()];
        assert!(rule_admits(&to_pl, 5432, &endpoint, Some("pl-lattice")));
        assert!(
            !rule_admits(&to_pl, 5432, &endpoint, Some("pl-other")),
            "another prefix list"
        );
        let mut anywhere = tcp(5432);
        anywhere.cidrs = vec![cidr("0.0.0.0/0")];
        assert!(rule_admits(&anywhere, 5432, &endpoint, None));
        let mut vpc_only = tcp(5432);
        vpc_only.cidrs = vec![cidr("10.1.0.0/16")];
        assert!(!rule_admits(&vpc_only, 5432, &endpoint, None));
    }

    #[test]
    fn no_existing_group_admits_nothing() {
        let v = view(vec![]);
        let peer = Peer::host("10.1.1.5".parse().unwrap(), &[]);
        let err = check(
            &v,
            "the client",
            &["sg-gone".into()],
            Direction::Egress,
            5432,
            &peer,
        )
        .unwrap_err();
        assert!(err.contains("no security group"), "{err}");
    }
}
