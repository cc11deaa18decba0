//! Service networks and their VPC and resource associations.

use serde_json::Value;

use super::model::{pick, ResourceAssociation, ServiceNetwork, Store, VpcAssociation};
use super::{check, label_id, list_body, not_busy, page_params, ApiError, Kind, OpResult, Req};
use crate::ids;
use crate::life::Life;
use crate::validate::{self, Body, Fields};

const SN_CREATE: &[&str] = &["id", "name", "arn", "authType", "sharingConfig"];
const SN_GET: &[&str] = &[
    "id",
    "name",
    "arn",
    "authType",
    "sharingConfig",
    "createdAt",
    "lastUpdatedAt",
    "numberOfAssociatedVPCs",
    "numberOfAssociatedServices",
];
const SN_SUMMARY: &[&str] = &[
    "id",
    "name",
    "arn",
    "createdAt",
    "lastUpdatedAt",
    "numberOfAssociatedVPCs",
    "numberOfAssociatedServices",
    "numberOfAssociatedResourceConfigurations",
];
const SNVA_CREATE: &[&str] = &[
    "id",
    "status",
    "arn",
    "createdBy",
    "securityGroupIds",
    "privateDnsEnabled",
    "dnsOptions",
];
const SNVA_SUMMARY: &[&str] = &[
    "id",
    "arn",
    "status",
    "createdBy",
    "createdAt",
    "serviceNetworkId",
    "serviceNetworkName",
    "serviceNetworkArn",
    "privateDnsEnabled",
    "dnsOptions",
    "vpcId",
    "lastUpdatedAt",
];
const SNRA_CREATE: &[&str] = &["id", "arn", "status", "createdBy", "privateDnsEnabled"];
const SNRA_SUMMARY: &[&str] = &[
    "id",
    "arn",
    "status",
    "createdBy",
    "createdAt",
    "resourceConfigurationId",
    "resourceConfigurationArn",
    "resourceConfigurationName",
    "serviceNetworkId",
    "serviceNetworkArn",
    "serviceNetworkName",
    "dnsEntry",
    "privateDnsEntry",
    "isManagedAssociation",
    "failureCode",
    "privateDnsEnabled",
];
const ID_ARN_STATUS: &[&str] = &["id", "arn", "status"];

// ---- service networks ----

pub fn create_sn(s: &mut Store, req: &Req) -> OpResult {
    const OP: &str = "CreateServiceNetwork";
    if let Some(i) = s.replay(req, OP, Kind::Sn)? {
        return Ok((201, Some(pick(s.render_sn(&s.sns[i]), SN_CREATE))));
    }
    let b = Body { map: &req.body };
    let mut f = Fields::default();
    let name = b.required_str(&mut f, "name").unwrap_or_default();
    let auth = b.str(&mut f, "authType").unwrap_or("NONE");
    let sharing = b
        .object(&mut f, "sharingConfig")
        .cloned()
        .map(Value::Object);
    let tags = b.tags(&mut f);
    check(f)?;
    if let Some(other) = s
        .sns
        .iter()
        .find(|x| x.meta.region == req.region && x.name == name)
    {
        return Err(ApiError::conflict(
            Kind::Sn.resource_type(),
            &other.meta.id,
            format!("A service network named {name} already exists"),
        ));
    }
    let meta = s.new_meta(&req.region, "sn", tags);
    s.remember(req, OP, &meta.id);
    let sn = ServiceNetwork {
        meta,
        name: name.to_string(),
        auth_type: auth.to_string(),
        sharing_config: sharing,
    };
    let out = pick(s.render_sn(&sn), SN_CREATE);
    s.sns.push(sn);
    Ok((201, Some(out)))
}

pub fn get_sn(s: &mut Store, req: &Req) -> OpResult {
    let id = label_id(req, Kind::Sn)?;
    let i = s.get_observed(Kind::Sn, req, &id)?;
    Ok((200, Some(pick(s.render_sn(&s.sns[i]), SN_GET))))
}

pub fn list_sn(s: &mut Store, req: &Req) -> OpResult {
    let params = page_params(req)?;
    let candidates = s
        .sns
        .iter()
        .filter(|x| x.meta.region == req.region)
        .map(|x| (x.meta.seq, x.meta.id.clone()))
        .collect();
    let (ids, next) = s.page(Kind::Sn, &req.region, candidates, params);
    let items = ids
        .iter()
        .filter_map(|id| s.sn(&req.region, id))
        .map(|x| pick(s.render_sn(x), SN_SUMMARY))
        .collect();
    Ok((200, list_body(items, next)))
}

pub fn update_sn(s: &mut Store, req: &Req) -> OpResult {
    let id = label_id(req, Kind::Sn)?;
    let b = Body { map: &req.body };
    let mut f = Fields::default();
    let auth = b.required_str(&mut f, "authType").unwrap_or("NONE");
    check(f)?;
    let i = s.index(Kind::Sn, &req.region, &id)?;
    s.sns[i].auth_type = auth.to_string();
    s.sns[i].meta.touch();
    Ok((
        200,
        Some(pick(
            s.render_sn(&s.sns[i]),
            &["id", "name", "arn", "authType"],
        )),
    ))
}

pub fn delete_sn(s: &mut Store, req: &Req) -> OpResult {
    let id = label_id(req, Kind::Sn)?;
    s.index(Kind::Sn, &req.region, &id)?;
    let region = &req.region;
    let children = [
        s.snvas
            .iter()
            .filter(|a| &a.meta.region == region && a.sn_id == id)
            .count(),
        s.snras
            .iter()
            .filter(|a| &a.meta.region == region && a.sn_id == id)
            .count(),
        s.als
            .iter()
            .filter(|a| &a.meta.region == region && a.resource_id == id)
            .count(),
    ];
    if children.iter().any(|n| *n > 0) {
        return Err(ApiError::conflict(
            Kind::Sn.resource_type(),
            &id,
            format!(
                "Service network {id} still has {} VPC association(s), {} resource association(s) and {} access log subscription(s)",
                children[0], children[1], children[2]
            ),
        ));
    }
    s.remove(Kind::Sn, region, &id);
    Ok((204, None))
}

// ---- service network VPC associations ----

fn dns_options(b: &Body, f: &mut Fields) -> Option<Value> {
    b.object(f, "dnsOptions").cloned().map(Value::Object)
}

pub fn create_snva(s: &mut Store, req: &Req, polls: u32) -> OpResult {
    const OP: &str = "CreateServiceNetworkVpcAssociation";
    if let Some(i) = s.replay(req, OP, Kind::Snva)? {
        return Ok((200, Some(pick(s.render_snva(&s.snvas[i]), SNVA_CREATE))));
    }
    let b = Body { map: &req.body };
    let mut f = Fields::default();
    let sn_ref = b.required_str(&mut f, "serviceNetworkIdentifier");
    let sn_id =
        sn_ref.and_then(|v| validate::identifier(&mut f, "serviceNetworkIdentifier", v, "sn"));
    let vpc = b.required_str(&mut f, "vpcIdentifier").unwrap_or_default();
    let sgs = b.str_list(&mut f, "securityGroupIds");
    let private_dns = b.bool(&mut f, "privateDnsEnabled");
    let dns = dns_options(&b, &mut f);
    let tags = b.tags(&mut f);
    check(f)?;
    let sn_id = sn_id.unwrap_or_default();
    s.index(Kind::Sn, &req.region, &sn_id)?;
    if let Some(a) = s
        .snvas
        .iter()
        .find(|a| a.meta.region == req.region && a.vpc_id == vpc)
    {
        let msg = if a.sn_id == sn_id {
            format!(
                "VPC {vpc} is already associated with service network {sn_id} ({})",
                a.meta.id
            )
        } else {
            format!(
                "VPC {vpc} is already associated with another service network ({})",
                a.sn_id
            )
        };
        return Err(ApiError::conflict(
            Kind::Snva.resource_type(),
            &a.meta.id,
            msg,
        ));
    }
    let meta = s.new_meta(&req.region, "snva", tags);
    s.remember(req, OP, &meta.id);
    let a = VpcAssociation {
        meta,
        life: Life::new("CREATE_IN_PROGRESS", polls),
        sn_id,
        vpc_id: vpc.to_string(),
        security_group_ids: sgs,
        private_dns_enabled: private_dns,
        dns_options: dns,
    };
    let out = pick(s.render_snva(&a), SNVA_CREATE);
    s.snvas.push(a);
    Ok((200, Some(out)))
}

pub fn get_snva(s: &mut Store, req: &Req) -> OpResult {
    let id = label_id(req, Kind::Snva)?;
    let i = s.get_observed(Kind::Snva, req, &id)?;
    Ok((200, Some(s.render_snva(&s.snvas[i]))))
}

pub fn list_snva(s: &mut Store, req: &Req) -> OpResult {
    let params = page_params(req)?;
    let mut f = Fields::default();
    let sn = req
        .q("serviceNetworkIdentifier")
        .and_then(|v| validate::identifier(&mut f, "serviceNetworkIdentifier", v, "sn"));
    let vpc = req.q("vpcIdentifier");
    check(f)?;
    let candidates = s
        .snvas
        .iter()
        .filter(|a| a.meta.region == req.region)
        .filter(|a| sn.as_ref().is_none_or(|sn| &a.sn_id == sn))
        .filter(|a| vpc.is_none_or(|v| a.vpc_id == v))
        .map(|a| (a.meta.seq, a.meta.id.clone()))
        .collect();
    let (ids, next) = s.page(Kind::Snva, &req.region, candidates, params);
    let items = ids
        .iter()
        .filter_map(|id| s.index(Kind::Snva, &req.region, id).ok())
        .map(|i| pick(s.render_snva(&s.snvas[i]), SNVA_SUMMARY))
        .collect();
    Ok((200, list_body(items, next)))
}

pub fn update_snva(s: &mut Store, req: &Req, polls: u32) -> OpResult {
    let id = label_id(req, Kind::Snva)?;
    let b = Body { map: &req.body };
    let mut f = Fields::default();
    let sgs = b.str_list(&mut f, "securityGroupIds");
    let private_dns = b.bool(&mut f, "privateDnsEnabled");
    let dns = dns_options(&b, &mut f);
    check(f)?;
    let i = s.index(Kind::Snva, &req.region, &id)?;
    let a = &mut s.snvas[i];
    not_busy(Kind::Snva, &id, &a.life, "update")?;
    if sgs.is_some() {
        a.security_group_ids = sgs;
    }
    if private_dns.is_some() {
        a.private_dns_enabled = private_dns;
    }
    if dns.is_some() {
        a.dns_options = dns;
    }
    a.life.set("UPDATE_IN_PROGRESS", polls);
    a.meta.touch();
    Ok((200, Some(pick(s.render_snva(&s.snvas[i]), SNVA_CREATE))))
}

pub fn delete_snva(s: &mut Store, req: &Req, polls: u32) -> OpResult {
    let id = label_id(req, Kind::Snva)?;
    let i = s.index(Kind::Snva, &req.region, &id)?;
    let a = &mut s.snvas[i];
    // A repeated delete is idempotent: it reports the deletion already under way.
    if !a.life.deleting() {
        not_busy(Kind::Snva, &id, &a.life, "delete")?;
        a.life.set("DELETE_IN_PROGRESS", polls);
        a.meta.touch();
    }
    let out = pick(s.render_snva(&s.snvas[i]), ID_ARN_STATUS);
    if polls == 0 {
        s.remove(Kind::Snva, &req.region, &id);
    }
    Ok((200, Some(out)))
}

// ---- service network resource associations ----

pub fn create_snra(s: &mut Store, req: &Req, polls: u32) -> OpResult {
    const OP: &str = "CreateServiceNetworkResourceAssociation";
    if let Some(i) = s.replay(req, OP, Kind::Snra)? {
        return Ok((201, Some(pick(s.render_snra(&s.snras[i]), SNRA_CREATE))));
    }
    let b = Body { map: &req.body };
    let mut f = Fields::default();
    let rcfg_id = b
        .required_str(&mut f, "resourceConfigurationIdentifier")
        .and_then(|v| validate::identifier(&mut f, "resourceConfigurationIdentifier", v, "rcfg"));
    let sn_id = b
        .required_str(&mut f, "serviceNetworkIdentifier")
        .and_then(|v| validate::identifier(&mut f, "serviceNetworkIdentifier", v, "sn"));
    let private_dns = b.bool(&mut f, "privateDnsEnabled");
    let tags = b.tags(&mut f);
    check(f)?;
    let (rcfg_id, sn_id) = (rcfg_id.unwrap_or_default(), sn_id.unwrap_or_default());
    let ci = s.index(Kind::Rcfg, &req.region, &rcfg_id)?;
    s.index(Kind::Sn, &req.region, &sn_id)?;
    let rcfg = &s.rcfgs[ci];
    if rcfg.life.deleting() {
        return Err(ApiError::conflict(
            Kind::Rcfg.resource_type(),
            &rcfg_id,
            format!("Resource configuration {rcfg_id} is being deleted"),
        ));
    }
    if let Some(a) = s
        .snras
        .iter()
        .find(|a| a.meta.region == req.region && a.sn_id == sn_id && a.rcfg_id == rcfg_id)
    {
        return Err(ApiError::conflict(
            Kind::Snra.resource_type(),
            &a.meta.id,
            format!("Resource configuration {rcfg_id} is already associated with service network {sn_id}"),
        ));
    }
    let meta = s.new_meta(&req.region, "snra", tags);
    s.remember(req, OP, &meta.id);
    let a = ResourceAssociation {
        meta,
        life: Life::new("CREATE_IN_PROGRESS", polls),
        sn_id,
        rcfg_id,
        private_dns_enabled: private_dns,
        dns_label: ids::hex(8),
        hosted_zone_id: ids::hosted_zone_id(),
    };
    let out = pick(s.render_snra(&a), SNRA_CREATE);
    s.snras.push(a);
    Ok((201, Some(out)))
}

pub fn get_snra(s: &mut Store, req: &Req) -> OpResult {
    let id = label_id(req, Kind::Snra)?;
    let i = s.get_observed(Kind::Snra, req, &id)?;
    Ok((200, Some(s.render_snra(&s.snras[i]))))
}

pub fn list_snra(s: &mut Store, req: &Req) -> OpResult {
    let params = page_params(req)?;
    let mut f = Fields::default();
    let sn = req
        .q("serviceNetworkIdentifier")
        .and_then(|v| validate::identifier(&mut f, "serviceNetworkIdentifier", v, "sn"));
    let rcfg = req
        .q("resourceConfigurationIdentifier")
        .and_then(|v| validate::identifier(&mut f, "resourceConfigurationIdentifier", v, "rcfg"));
    check(f)?;
    let candidates = s
        .snras
        .iter()
        .filter(|a| a.meta.region == req.region)
        .filter(|a| sn.as_ref().is_none_or(|sn| &a.sn_id == sn))
        .filter(|a| rcfg.as_ref().is_none_or(|c| &a.rcfg_id == c))
        .map(|a| (a.meta.seq, a.meta.id.clone()))
        .collect();
    let (ids, next) = s.page(Kind::Snra, &req.region, candidates, params);
    let items = ids
        .iter()
        .filter_map(|id| s.index(Kind::Snra, &req.region, id).ok())
        .map(|i| pick(s.render_snra(&s.snras[i]), SNRA_SUMMARY))
        .collect();
    Ok((200, list_body(items, next)))
}

pub fn delete_snra(s: &mut Store, req: &Req, polls: u32) -> OpResult {
    let id = label_id(req, Kind::Snra)?;
    let i = s.index(Kind::Snra, &req.region, &id)?;
    let a = &mut s.snras[i];
    if !a.life.deleting() {
        not_busy(Kind::Snra, &id, &a.life, "delete")?;
        a.life.set("DELETE_IN_PROGRESS", polls);
        a.meta.touch();
    }
    let out = pick(s.render_snra(&s.snras[i]), ID_ARN_STATUS);
    if polls == 0 {
        s.remove(Kind::Snra, &req.region, &id);
    }
    Ok((200, Some(out)))
}
