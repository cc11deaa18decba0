//! Access-log subscriptions and tagging.

use serde_json::json;

use super::model::{pick, render_als, LogSubscription, Store};
use super::{check, label_id, list_body, page_params, ApiError, Kind, OpResult, Req};
use crate::ids;
use crate::validate::{Body, Fields};

const ALS_CREATE: &[&str] = &[
    "id",
    "arn",
    "resourceId",
    "resourceArn",
    "serviceNetworkLogType",
    "destinationArn",
];
const ALS_UPDATE: &[&str] = &["id", "arn", "resourceId", "resourceArn", "destinationArn"];

/// `resourceIdentifier`: an sn-/svc-/rcfg- id or ARN. Returns the bare id.
fn subscribed_resource(f: &mut Fields, v: &str) -> Option<String> {
    let id = ["sn", "rcfg", "svc"]
        .iter()
        .find_map(|p| ids::parse_identifier(p, v));
    if id.is_none() {
        f.add(
            "resourceIdentifier",
            "Member must be a sn-, svc- or rcfg- id or a VPC Lattice ARN of one",
        );
    }
    id
}

/// The subscribed resource must exist (services are not emulated, so svc- is always 404).
fn resolve(s: &Store, region: &str, id: &str) -> Result<(), ApiError> {
    let found = match id.split('-').next() {
        Some("sn") => s.sn(region, id).is_some(),
        Some("rcfg") => s.rcfg(region, id).is_some(),
        _ => false,
    };
    if found {
        Ok(())
    } else {
        let ty = if id.starts_with("sn-") {
            Kind::Sn.resource_type()
        } else if id.starts_with("rcfg-") {
            Kind::Rcfg.resource_type()
        } else {
            "SERVICE"
        };
        Err(ApiError::not_found(ty, id))
    }
}

pub fn create_als(s: &mut Store, req: &Req) -> OpResult {
    const OP: &str = "CreateAccessLogSubscription";
    if let Some(i) = s.replay(req, OP, Kind::Als)? {
        return Ok((201, Some(pick(render_als(&s.als[i]), ALS_CREATE))));
    }
    let b = Body { map: &req.body };
    let mut f = Fields::default();
    let resource = b
        .required_str(&mut f, "resourceIdentifier")
        .and_then(|v| subscribed_resource(&mut f, v));
    let dest = b.required_str(&mut f, "destinationArn").unwrap_or_default();
    let log_type = b.str(&mut f, "serviceNetworkLogType");
    let tags = b.tags(&mut f);
    check(f)?;
    let resource = resource.unwrap_or_default();
    resolve(s, &req.region, &resource)?;
    let meta = s.new_meta(&req.region, "als", tags);
    s.remember(req, OP, &meta.id);
    let a = LogSubscription {
        meta,
        resource_arn: ids::lattice_arn(&req.region, &resource),
        resource_id: resource,
        destination_arn: dest.to_string(),
        log_type: log_type.map(str::to_string),
    };
    let out = pick(render_als(&a), ALS_CREATE);
    s.als.push(a);
    Ok((201, Some(out)))
}

pub fn get_als(s: &mut Store, req: &Req) -> OpResult {
    let id = label_id(req, Kind::Als)?;
    let i = s.index(Kind::Als, &req.region, &id)?;
    Ok((200, Some(render_als(&s.als[i]))))
}

pub fn list_als(s: &mut Store, req: &Req) -> OpResult {
    let params = page_params(req)?;
    let mut f = Fields::default();
    let resource = match req.q("resourceIdentifier") {
        Some(v) => subscribed_resource(&mut f, v),
        None => {
            f.add("resourceIdentifier", "Member must not be null");
            None
        }
    };
    check(f)?;
    let resource = resource.unwrap_or_default();
    resolve(s, &req.region, &resource)?;
    let candidates = s
        .als
        .iter()
        .filter(|a| a.meta.region == req.region && a.resource_id == resource)
        .map(|a| (a.meta.seq, a.meta.id.clone()))
        .collect();
    let (ids, next) = s.page(Kind::Als, &req.region, candidates, params);
    let items = ids
        .iter()
        .filter_map(|id| s.index(Kind::Als, &req.region, id).ok())
        .map(|i| render_als(&s.als[i]))
        .collect();
    Ok((200, list_body(items, next)))
}

pub fn update_als(s: &mut Store, req: &Req) -> OpResult {
    let id = label_id(req, Kind::Als)?;
    let b = Body { map: &req.body };
    let mut f = Fields::default();
    let dest = b.required_str(&mut f, "destinationArn").unwrap_or_default();
    check(f)?;
    let i = s.index(Kind::Als, &req.region, &id)?;
    let a = &mut s.als[i];
    a.destination_arn = dest.to_string();
    a.meta.touch();
    Ok((200, Some(pick(render_als(a), ALS_UPDATE))))
}

pub fn delete_als(s: &mut Store, req: &Req) -> OpResult {
    let id = label_id(req, Kind::Als)?;
    s.index(Kind::Als, &req.region, &id)?;
    s.remove(Kind::Als, &req.region, &id);
    Ok((204, None))
}

// ---- tags ----

/// The `{resourceArn}` label must be a Lattice ARN of a stored resource.
fn tagged(s: &Store, req: &Req) -> Result<(Kind, usize), ApiError> {
    let arn = req.label();
    let lattice_arn = arn.starts_with("arn:")
        && arn.split(':').nth(2) == Some("vpc-lattice")
        && arn.split(':').count() == 6;
    if !lattice_arn {
        return Err(ApiError::field(
            "resourceArn",
            "Member must be a VPC Lattice ARN",
        ));
    }
    s.by_arn(arn)
        .ok_or_else(|| ApiError::not_found("RESOURCE", arn))
}

pub fn tag(s: &mut Store, req: &Req) -> OpResult {
    let b = Body { map: &req.body };
    let mut f = Fields::default();
    let tags = b.tags(&mut f);
    if tags.is_none() && f.is_empty() {
        f.add("tags", "Member must not be null");
    }
    check(f)?;
    let (kind, i) = tagged(s, req)?;
    s.meta_mut(kind, i).tags.extend(tags.unwrap_or_default());
    Ok((200, Some(json!({}))))
}

pub fn untag(s: &mut Store, req: &Req) -> OpResult {
    let keys = req.q_all("tagKeys");
    if keys.is_empty() {
        return Err(ApiError::field("tagKeys", "Member must not be null"));
    }
    let (kind, i) = tagged(s, req)?;
    let meta = s.meta_mut(kind, i);
    for k in keys {
        meta.tags.remove(&k);
    }
    Ok((200, Some(json!({}))))
}

pub fn list_tags(s: &mut Store, req: &Req) -> OpResult {
    let (kind, i) = tagged(s, req)?;
    let tags = s.meta_mut(kind, i).tags.clone();
    Ok((200, Some(json!({ "tags": tags }))))
}
