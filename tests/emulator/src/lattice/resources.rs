//! Resource gateways and resource configurations.

use std::net::IpAddr;

use serde_json::Value;

use super::model::{pick, render_rcfg, render_rgw, Gateway, ResourceConfig, Store};
use super::{check, label_id, list_body, not_busy, page_params, ApiError, Kind, OpResult, Req};
use crate::life::Life;
use crate::validate::{self, Body, Fields};

const RGW_CREATE: &[&str] = &[
    "name",
    "id",
    "arn",
    "status",
    "vpcIdentifier",
    "subnetIds",
    "securityGroupIds",
    "ipAddressType",
    "ipv4AddressesPerEni",
    "resourceConfigDnsResolution",
];
const RGW_GET: &[&str] = &[
    "name",
    "id",
    "arn",
    "status",
    "vpcId",
    "subnetIds",
    "serviceManaged",
    "securityGroupIds",
    "ipAddressType",
    "ipv4AddressesPerEni",
    "resourceConfigDnsResolution",
    "createdAt",
    "lastUpdatedAt",
];
const RGW_SUMMARY: &[&str] = &[
    "name",
    "id",
    "arn",
    "status",
    "vpcIdentifier",
    "subnetIds",
    "securityGroupIds",
    "ipAddressType",
    "ipv4AddressesPerEni",
    "resourceConfigDnsResolution",
    "createdAt",
    "lastUpdatedAt",
];
const RGW_UPDATE: &[&str] = &[
    "name",
    "id",
    "arn",
    "status",
    "vpcId",
    "subnetIds",
    "securityGroupIds",
    "ipAddressType",
    "resourceConfigDnsResolution",
];
const RCFG_CREATE: &[&str] = &[
    "id",
    "name",
    "arn",
    "resourceGatewayId",
    "resourceConfigurationGroupId",
    "type",
    "portRanges",
    "protocol",
    "status",
    "resourceConfigurationDefinition",
    "allowAssociationToShareableServiceNetwork",
    "createdAt",
    "failureReason",
    "customDomainName",
    "groupDomain",
];
/// GetResourceConfiguration has no dnsEntry in the model: the DNS name lives on the SNRA.
const RCFG_GET: &[&str] = &[
    "id",
    "name",
    "arn",
    "resourceGatewayId",
    "resourceConfigurationGroupId",
    "type",
    "allowAssociationToShareableServiceNetwork",
    "portRanges",
    "protocol",
    "customDomainName",
    "status",
    "resourceConfigurationDefinition",
    "createdAt",
    "amazonManaged",
    "failureReason",
    "lastUpdatedAt",
    "groupDomain",
];
const RCFG_SUMMARY: &[&str] = &[
    "id",
    "name",
    "arn",
    "resourceGatewayId",
    "resourceConfigurationGroupId",
    "type",
    "status",
    "amazonManaged",
    "createdAt",
    "lastUpdatedAt",
    "customDomainName",
    "groupDomain",
];
const RCFG_UPDATE: &[&str] = &[
    "id",
    "name",
    "arn",
    "resourceGatewayId",
    "resourceConfigurationGroupId",
    "type",
    "portRanges",
    "allowAssociationToShareableServiceNetwork",
    "protocol",
    "status",
    "resourceConfigurationDefinition",
];

// ---- resource gateways ----

pub fn create_rgw(s: &mut Store, req: &Req, polls: u32) -> OpResult {
    const OP: &str = "CreateResourceGateway";
    if let Some(i) = s.replay(req, OP, Kind::Rgw)? {
        return Ok((
            201,
            Some(pick(render_rgw(&s.rgws[i], "vpcIdentifier"), RGW_CREATE)),
        ));
    }
    let b = Body { map: &req.body };
    let mut f = Fields::default();
    let name = b.required_str(&mut f, "name").unwrap_or_default();
    // The model marks only `name` required, but a customer-managed gateway needs its VPC and subnets.
    let vpc = b.required_str(&mut f, "vpcIdentifier").unwrap_or_default();
    let subnets = b.str_list(&mut f, "subnetIds").unwrap_or_default();
    if subnets.is_empty() {
        f.add("subnetIds", "Member must have at least 1 item");
    }
    for sn in &subnets {
        if !sn.starts_with("subnet-") || sn.len() < 15 {
            f.add("subnetIds", format!("'{sn}' is not a subnet id"));
        }
    }
    let sgs = b.str_list(&mut f, "securityGroupIds");
    let ip_type = b.str(&mut f, "ipAddressType").unwrap_or("IPV4");
    let per_eni = b.int(&mut f, "ipv4AddressesPerEni");
    // Not in the pinned model (newer than it): its enum is checked by hand.
    let dns_resolution = b
        .str(&mut f, "resourceConfigDnsResolution")
        .unwrap_or("PUBLIC");
    validate::one_of(
        &mut f,
        "resourceConfigDnsResolution",
        dns_resolution,
        &["IN_VPC", "PUBLIC"],
    );
    let tags = b.tags(&mut f);
    check(f)?;
    if let Some(other) = s
        .rgws
        .iter()
        .find(|g| g.meta.region == req.region && g.name == name)
    {
        return Err(ApiError::conflict(
            Kind::Rgw.resource_type(),
            &other.meta.id,
            format!("A resource gateway named {name} already exists"),
        ));
    }
    let meta = s.new_meta(&req.region, "rgw", tags);
    s.remember(req, OP, &meta.id);
    let g = Gateway {
        meta,
        life: Life::new("CREATE_IN_PROGRESS", polls),
        name: name.to_string(),
        vpc_id: vpc.to_string(),
        subnet_ids: subnets,
        security_group_ids: sgs,
        ip_address_type: ip_type.to_string(),
        // AWS's default; IPv6-only gateways have no IPv4 addresses.
        ipv4_addresses_per_eni: per_eni.or((ip_type != "IPV6").then_some(16)),
        dns_resolution: dns_resolution.to_string(),
    };
    let out = pick(render_rgw(&g, "vpcIdentifier"), RGW_CREATE);
    s.rgws.push(g);
    Ok((201, Some(out)))
}

pub fn get_rgw(s: &mut Store, req: &Req) -> OpResult {
    let id = label_id(req, Kind::Rgw)?;
    let i = s.get_observed(Kind::Rgw, req, &id)?;
    Ok((200, Some(pick(render_rgw(&s.rgws[i], "vpcId"), RGW_GET))))
}

pub fn list_rgw(s: &mut Store, req: &Req) -> OpResult {
    let params = page_params(req)?;
    let candidates = s
        .rgws
        .iter()
        .filter(|g| g.meta.region == req.region)
        .map(|g| (g.meta.seq, g.meta.id.clone()))
        .collect();
    let (ids, next) = s.page(Kind::Rgw, &req.region, candidates, params);
    let items = ids
        .iter()
        .filter_map(|id| s.index(Kind::Rgw, &req.region, id).ok())
        .map(|i| pick(render_rgw(&s.rgws[i], "vpcIdentifier"), RGW_SUMMARY))
        .collect();
    Ok((200, list_body(items, next)))
}

pub fn update_rgw(s: &mut Store, req: &Req, polls: u32) -> OpResult {
    let id = label_id(req, Kind::Rgw)?;
    let b = Body { map: &req.body };
    let mut f = Fields::default();
    let sgs = b.str_list(&mut f, "securityGroupIds");
    let dns_resolution = b.str(&mut f, "resourceConfigDnsResolution");
    if let Some(d) = dns_resolution {
        validate::one_of(
            &mut f,
            "resourceConfigDnsResolution",
            d,
            &["IN_VPC", "PUBLIC"],
        );
    }
    check(f)?;
    let i = s.index(Kind::Rgw, &req.region, &id)?;
    let g = &mut s.rgws[i];
    not_busy(Kind::Rgw, &id, &g.life, "update")?;
    if sgs.is_some() {
        g.security_group_ids = sgs;
    }
    if let Some(d) = dns_resolution {
        g.dns_resolution = d.to_string();
    }
    g.life.set("UPDATE_IN_PROGRESS", polls);
    g.meta.touch();
    Ok((200, Some(pick(render_rgw(g, "vpcId"), RGW_UPDATE))))
}

pub fn delete_rgw(s: &mut Store, req: &Req, polls: u32) -> OpResult {
    let id = label_id(req, Kind::Rgw)?;
    let i = s.index(Kind::Rgw, &req.region, &id)?;
    let children = s
        .rcfgs
        .iter()
        .filter(|c| c.meta.region == req.region && c.gateway_id.as_deref() == Some(id.as_str()))
        .count();
    let g = &mut s.rgws[i];
    if !g.life.deleting() {
        not_busy(Kind::Rgw, &id, &g.life, "delete")?;
        if children > 0 {
            return Err(ApiError::conflict(
                Kind::Rgw.resource_type(),
                &id,
                format!("Resource gateway {id} still has {children} resource configuration(s)"),
            ));
        }
        g.life.set("DELETE_IN_PROGRESS", polls);
        g.meta.touch();
    }
    let out = pick(render_rgw(g, "vpcId"), &["id", "arn", "name", "status"]);
    if polls == 0 {
        s.remove(Kind::Rgw, &req.region, &id);
    }
    Ok((200, Some(out)))
}

// ---- resource configurations ----

const DEFINITION: &str = "resourceConfigurationDefinition";

/// The definition union (its shape is the model's, already checked); returns it with the name of
/// its single member, after the rules the model cannot express: an `ipResource` is an IP
/// address, a `dnsResource` is a name and not an IP literal.
fn definition(b: &Body, f: &mut Fields) -> Option<(Value, String)> {
    let o = b.object(f, DEFINITION)?;
    let (member, inner) = o.iter().find(|(_, v)| !v.is_null())?;
    let field = |k: &str| format!("{DEFINITION}.{member}.{k}");
    let s = |k: &str| inner.get(k).and_then(Value::as_str).unwrap_or_default();
    match member.as_str() {
        "dnsResource" => {
            let domain = s("domainName");
            if is_ip_literal(domain) {
                f.add(
                    &field("domainName"),
                    format!("'{domain}' is an IP address, not a domain name: use ipResource"),
                );
            }
        }
        "ipResource" => {
            let ip = s("ipAddress");
            if ip.parse::<IpAddr>().is_err() {
                f.add(
                    &field("ipAddress"),
                    format!("'{ip}' is not an IPv4 or IPv6 address"),
                );
            }
        }
        _ => {}
    }
    Some((Value::Object(o.clone()), member.clone()))
}

/// `10.0.0.1`, `::1` or `[::1]`.
fn is_ip_literal(s: &str) -> bool {
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse::<IpAddr>().is_ok()
}

pub fn create_rcfg(s: &mut Store, req: &Req, polls: u32) -> OpResult {
    const OP: &str = "CreateResourceConfiguration";
    if let Some(i) = s.replay(req, OP, Kind::Rcfg)? {
        return Ok((201, Some(pick(render_rcfg(&s.rcfgs[i]), RCFG_CREATE))));
    }
    let b = Body { map: &req.body };
    let mut f = Fields::default();
    let name = b.required_str(&mut f, "name").unwrap_or_default();
    let kind = b.required_str(&mut f, "type").unwrap_or_default();
    let gateway = b
        .str(&mut f, "resourceGatewayIdentifier")
        .and_then(|v| validate::identifier(&mut f, "resourceGatewayIdentifier", v, "rgw"));
    let group = b
        .str(&mut f, "resourceConfigurationGroupIdentifier")
        .and_then(|v| {
            validate::identifier(&mut f, "resourceConfigurationGroupIdentifier", v, "rcfg")
        });
    let ports = b.str_list(&mut f, "portRanges");
    if let Some(p) = &ports {
        validate::port_ranges(&mut f, p);
    }
    let protocol = b.str(&mut f, "protocol");
    let def = definition(&b, &mut f);
    let member = def.as_ref().map(|(_, m)| m.as_str());
    let allow_shareable = b.bool(&mut f, "allowAssociationToShareableServiceNetwork");
    let custom_domain = b.str(&mut f, "customDomainName");
    let group_domain = b.str(&mut f, "groupDomain");
    let tags = b.tags(&mut f);
    // Per-type rules.
    let has_def = b.map.get(DEFINITION).is_some_and(|v| !v.is_null());
    let member_ok = |allowed: &[&str], f: &mut Fields| {
        if let Some(m) = member.filter(|m| !allowed.contains(m)) {
            f.add(DEFINITION, format!("{m} is not valid for type {kind}"));
        }
    };
    match kind {
        "SINGLE" => {
            if gateway.is_none() && !b.map.contains_key("resourceGatewayIdentifier") {
                f.add("resourceGatewayIdentifier", "Required for type SINGLE");
            }
            if ports.is_none() {
                f.add("portRanges", "Required for type SINGLE");
            }
            if !has_def {
                f.add(DEFINITION, "Required for type SINGLE");
            }
            member_ok(&["dnsResource", "ipResource"], &mut f);
        }
        "ARN" => {
            if ports.is_some() {
                f.add("portRanges", "Not allowed for type ARN");
            }
            if protocol.is_some() {
                f.add("protocol", "Not allowed for type ARN");
            }
            if gateway.is_none() && !b.map.contains_key("resourceGatewayIdentifier") {
                f.add("resourceGatewayIdentifier", "Required for type ARN");
            }
            if !has_def {
                f.add(DEFINITION, "Required for type ARN");
            }
            member_ok(&["arnResource"], &mut f);
        }
        "CHILD" => {
            if group.is_none() && !b.map.contains_key("resourceConfigurationGroupIdentifier") {
                f.add(
                    "resourceConfigurationGroupIdentifier",
                    "Required for type CHILD",
                );
            }
            if gateway.is_some() {
                f.add(
                    "resourceGatewayIdentifier",
                    "Not allowed for type CHILD (it inherits the group's)",
                );
            }
        }
        _ => {}
    }
    if group.is_some() && kind != "CHILD" {
        f.add(
            "resourceConfigurationGroupIdentifier",
            "Only allowed for type CHILD",
        );
    }
    check(f)?;
    if let Some(g) = &gateway {
        let gi = s.index(Kind::Rgw, &req.region, g)?;
        if s.rgws[gi].life.deleting() {
            return Err(ApiError::conflict(
                Kind::Rgw.resource_type(),
                g,
                format!("Resource gateway {g} is being deleted"),
            ));
        }
    }
    let mut inherited_gateway = None;
    if let Some(gid) = &group {
        let gi = s.index(Kind::Rcfg, &req.region, gid)?;
        if s.rcfgs[gi].kind != "GROUP" {
            return Err(ApiError::field(
                "resourceConfigurationGroupIdentifier",
                format!("{gid} is not a GROUP"),
            ));
        }
        inherited_gateway = s.rcfgs[gi].gateway_id.clone();
    }
    if let Some(other) = s
        .rcfgs
        .iter()
        .find(|c| c.meta.region == req.region && c.name == name)
    {
        return Err(ApiError::conflict(
            Kind::Rcfg.resource_type(),
            &other.meta.id,
            format!("A resource configuration named {name} already exists"),
        ));
    }
    let meta = s.new_meta(&req.region, "rcfg", tags);
    s.remember(req, OP, &meta.id);
    let default_protocol = !matches!(kind, "ARN" | "CHILD");
    let c = ResourceConfig {
        meta,
        life: Life::new("CREATE_IN_PROGRESS", polls),
        name: name.to_string(),
        kind: kind.to_string(),
        gateway_id: gateway.or(inherited_gateway),
        group_id: group,
        port_ranges: ports,
        protocol: protocol
            .map(str::to_string)
            .or(default_protocol.then(|| "TCP".to_string())),
        definition: def.map(|(d, _)| d),
        allow_shareable: allow_shareable.unwrap_or(false),
        custom_domain_name: custom_domain.map(str::to_string),
        group_domain: group_domain.map(str::to_string),
    };
    let out = pick(render_rcfg(&c), RCFG_CREATE);
    s.rcfgs.push(c);
    Ok((201, Some(out)))
}

pub fn get_rcfg(s: &mut Store, req: &Req) -> OpResult {
    let id = label_id(req, Kind::Rcfg)?;
    let i = s.get_observed(Kind::Rcfg, req, &id)?;
    Ok((200, Some(pick(render_rcfg(&s.rcfgs[i]), RCFG_GET))))
}

pub fn list_rcfg(s: &mut Store, req: &Req) -> OpResult {
    let params = page_params(req)?;
    let mut f = Fields::default();
    let gateway = req
        .q("resourceGatewayIdentifier")
        .and_then(|v| validate::identifier(&mut f, "resourceGatewayIdentifier", v, "rgw"));
    let group = req.q("resourceConfigurationGroupIdentifier").and_then(|v| {
        validate::identifier(&mut f, "resourceConfigurationGroupIdentifier", v, "rcfg")
    });
    check(f)?;
    let candidates = s
        .rcfgs
        .iter()
        .filter(|c| c.meta.region == req.region)
        .filter(|c| gateway.is_none() || c.gateway_id == gateway)
        .filter(|c| group.is_none() || c.group_id == group)
        .map(|c| (c.meta.seq, c.meta.id.clone()))
        .collect();
    let (ids, next) = s.page(Kind::Rcfg, &req.region, candidates, params);
    let items = ids
        .iter()
        .filter_map(|id| s.index(Kind::Rcfg, &req.region, id).ok())
        .map(|i| pick(render_rcfg(&s.rcfgs[i]), RCFG_SUMMARY))
        .collect();
    Ok((200, list_body(items, next)))
}

pub fn update_rcfg(s: &mut Store, req: &Req, polls: u32) -> OpResult {
    let id = label_id(req, Kind::Rcfg)?;
    let b = Body { map: &req.body };
    let mut f = Fields::default();
    let def = definition(&b, &mut f);
    let ports = b.str_list(&mut f, "portRanges");
    if let Some(p) = &ports {
        validate::port_ranges(&mut f, p);
    }
    let allow_shareable = b.bool(&mut f, "allowAssociationToShareableServiceNetwork");
    check(f)?;
    let i = s.index(Kind::Rcfg, &req.region, &id)?;
    let c = &mut s.rcfgs[i];
    let mut f = Fields::default();
    if let Some((_, member)) = &def {
        let current_is_arn = c
            .definition
            .as_ref()
            .is_some_and(|d| d.get("arnResource").is_some());
        // arnResource cannot be changed by an update (CloudFormation: "Updates are not supported").
        if member == "arnResource" || current_is_arn {
            f.add(DEFINITION, "arnResource cannot be updated");
        } else if c.kind == "SINGLE" && !matches!(member.as_str(), "dnsResource" | "ipResource") {
            f.add(DEFINITION, format!("{member} is not valid for type SINGLE"));
        }
    }
    if ports.is_some() && c.kind == "ARN" {
        f.add("portRanges", "Not allowed for type ARN");
    }
    check(f)?;
    not_busy(Kind::Rcfg, &id, &c.life, "update")?;
    if let Some((d, _)) = def {
        c.definition = Some(d);
    }
    if ports.is_some() {
        c.port_ranges = ports;
    }
    if let Some(a) = allow_shareable {
        c.allow_shareable = a;
    }
    c.life.set("UPDATE_IN_PROGRESS", polls);
    c.meta.touch();
    Ok((200, Some(pick(render_rcfg(c), RCFG_UPDATE))))
}

pub fn delete_rcfg(s: &mut Store, req: &Req, polls: u32) -> OpResult {
    let id = label_id(req, Kind::Rcfg)?;
    let i = s.index(Kind::Rcfg, &req.region, &id)?;
    let region = &req.region;
    let assocs = s
        .snras
        .iter()
        .filter(|a| &a.meta.region == region && a.rcfg_id == id)
        .count();
    let children = s
        .rcfgs
        .iter()
        .filter(|c| &c.meta.region == region && c.group_id.as_deref() == Some(id.as_str()))
        .count();
    let subs = s
        .als
        .iter()
        .filter(|a| &a.meta.region == region && a.resource_id == id)
        .count();
    let c = &mut s.rcfgs[i];
    if !c.life.deleting() {
        not_busy(Kind::Rcfg, &id, &c.life, "delete")?;
        if assocs + children + subs > 0 {
            return Err(ApiError::conflict(
                Kind::Rcfg.resource_type(),
                &id,
                format!(
                    "Resource configuration {id} still has {assocs} service network association(s), {children} child configuration(s) and {subs} access log subscription(s)"
                ),
            ));
        }
        c.life.set("DELETE_IN_PROGRESS", polls);
        c.meta.touch();
    }
    if polls == 0 {
        s.remove(Kind::Rcfg, region, &id);
    }
    Ok((204, None))
}
