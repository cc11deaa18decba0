//! Stored Lattice resources and how each renders in responses and the state dump.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{ApiError, Kind, Req, Tokens};
use crate::ids;
use crate::life::{Life, Seen};

#[derive(Clone, Debug)]
pub struct Meta {
    /// Creation order, for pagination.
    pub seq: u64,
    pub id: String,
    pub arn: String,
    pub region: String,
    pub created: u64,
    pub updated: u64,
    pub tags: BTreeMap<String, String>,
}

impl Meta {
    pub fn created_at(&self) -> String {
        ids::rfc3339(self.created)
    }
    pub fn updated_at(&self) -> String {
        ids::rfc3339(self.updated)
    }
    pub fn touch(&mut self) {
        self.updated = ids::now_millis();
    }
}

pub struct ServiceNetwork {
    pub meta: Meta,
    pub name: String,
    pub auth_type: String,
    pub sharing_config: Option<Value>,
}

pub struct VpcAssociation {
    pub meta: Meta,
    pub life: Life,
    pub sn_id: String,
    pub vpc_id: String,
    pub security_group_ids: Option<Vec<String>>,
    pub private_dns_enabled: Option<bool>,
    pub dns_options: Option<Value>,
}

pub struct Gateway {
    pub meta: Meta,
    pub life: Life,
    pub name: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Option<Vec<String>>,
    pub ip_address_type: String,
    pub ipv4_addresses_per_eni: Option<i64>,
    pub dns_resolution: String,
}

pub struct ResourceConfig {
    pub meta: Meta,
    pub life: Life,
    pub name: String,
    pub kind: String,
    pub gateway_id: Option<String>,
    pub group_id: Option<String>,
    pub port_ranges: Option<Vec<String>>,
    pub protocol: Option<String>,
    pub definition: Option<Value>,
    pub allow_shareable: bool,
    pub custom_domain_name: Option<String>,
    pub group_domain: Option<String>,
}

pub struct ResourceAssociation {
    pub meta: Meta,
    pub life: Life,
    pub sn_id: String,
    pub rcfg_id: String,
    pub private_dns_enabled: Option<bool>,
    /// The `<8hex>` label and hosted zone of the dnsEntry, fixed at creation.
    pub dns_label: String,
    pub hosted_zone_id: String,
}

pub struct LogSubscription {
    pub meta: Meta,
    pub resource_id: String,
    pub resource_arn: String,
    pub destination_arn: String,
    pub log_type: Option<String>,
}

/// Access to the shared parts of every stored resource.
pub trait Resource {
    fn meta(&self) -> &Meta;
    fn life(&self) -> Option<&Life> {
        None
    }
    fn life_mut(&mut self) -> Option<&mut Life> {
        None
    }
}

macro_rules! resource {
    ($t:ty) => {
        impl Resource for $t {
            fn meta(&self) -> &Meta {
                &self.meta
            }
        }
    };
    ($t:ty, life) => {
        impl Resource for $t {
            fn meta(&self) -> &Meta {
                &self.meta
            }
            fn life(&self) -> Option<&Life> {
                Some(&self.life)
            }
            fn life_mut(&mut self) -> Option<&mut Life> {
                Some(&mut self.life)
            }
        }
    };
}
resource!(ServiceNetwork);
resource!(LogSubscription);
resource!(VpcAssociation, life);
resource!(Gateway, life);
resource!(ResourceConfig, life);
resource!(ResourceAssociation, life);

#[derive(Default)]
pub struct Store {
    next_seq: u64,
    pub sns: Vec<ServiceNetwork>,
    pub snvas: Vec<VpcAssociation>,
    pub rgws: Vec<Gateway>,
    pub rcfgs: Vec<ResourceConfig>,
    pub snras: Vec<ResourceAssociation>,
    pub als: Vec<LogSubscription>,
    pub tokens: Tokens,
}

pub fn find<T: Resource>(v: &[T], region: &str, id: &str) -> Option<usize> {
    v.iter()
        .position(|r| r.meta().id == id && r.meta().region == region)
}

/// Applies one observation; removes the resource if its deletion completed.
fn observe_in<T: Resource>(v: &mut Vec<T>, idx: usize) -> bool {
    let gone = v[idx].life_mut().is_some_and(|l| l.observe() == Seen::Gone);
    if gone {
        v.remove(idx);
    }
    !gone
}

impl Store {
    pub fn new_meta(
        &mut self,
        region: &str,
        prefix: &str,
        tags: Option<Vec<(String, String)>>,
    ) -> Meta {
        self.next_seq += 1;
        let id = ids::new_id(prefix);
        let now = ids::now_millis();
        Meta {
            seq: self.next_seq,
            arn: ids::lattice_arn(region, &id),
            id,
            region: region.to_string(),
            created: now,
            updated: now,
            tags: tags.unwrap_or_default().into_iter().collect(),
        }
    }

    /// Index of a resource by id, or 404.
    pub fn index(&self, kind: Kind, region: &str, id: &str) -> Result<usize, ApiError> {
        let found = match kind {
            Kind::Sn => find(&self.sns, region, id),
            Kind::Snva => find(&self.snvas, region, id),
            Kind::Rgw => find(&self.rgws, region, id),
            Kind::Rcfg => find(&self.rcfgs, region, id),
            Kind::Snra => find(&self.snras, region, id),
            Kind::Als => find(&self.als, region, id),
        };
        found.ok_or_else(|| ApiError::not_found(kind.resource_type(), id))
    }

    /// A Get/List saw `id`; false if that observation completed its deletion.
    pub fn observe(&mut self, kind: Kind, region: &str, id: &str) -> bool {
        let Ok(idx) = self.index(kind, region, id) else {
            return false;
        };
        match kind {
            Kind::Snva => observe_in(&mut self.snvas, idx),
            Kind::Rgw => observe_in(&mut self.rgws, idx),
            Kind::Rcfg => observe_in(&mut self.rcfgs, idx),
            Kind::Snra => observe_in(&mut self.snras, idx),
            Kind::Sn | Kind::Als => true,
        }
    }

    /// Get: observe, then 404 if that completed a deletion.
    pub fn get_observed(&mut self, kind: Kind, req: &Req, id: &str) -> Result<usize, ApiError> {
        self.index(kind, &req.region, id)?;
        if !self.observe(kind, &req.region, id) {
            return Err(ApiError::not_found(kind.resource_type(), id));
        }
        self.index(kind, &req.region, id)
    }

    /// Removes a resource (a delete whose lifecycle is instant).
    pub fn remove(&mut self, kind: Kind, region: &str, id: &str) {
        if let Ok(idx) = self.index(kind, region, id) {
            match kind {
                Kind::Sn => drop(self.sns.remove(idx)),
                Kind::Snva => drop(self.snvas.remove(idx)),
                Kind::Rgw => drop(self.rgws.remove(idx)),
                Kind::Rcfg => drop(self.rcfgs.remove(idx)),
                Kind::Snra => drop(self.snras.remove(idx)),
                Kind::Als => drop(self.als.remove(idx)),
            }
        }
    }

    /// One page of `candidates` (seq, id) in creation order, observing each returned item.
    pub fn page(
        &mut self,
        kind: Kind,
        region: &str,
        mut candidates: Vec<(u64, String)>,
        (max, start): (usize, u64),
    ) -> (Vec<String>, Option<String>) {
        candidates.sort_by_key(|(seq, _)| *seq);
        let mut out = Vec::new();
        let mut next = None;
        for (seq, id) in candidates.into_iter().filter(|(seq, _)| *seq >= start) {
            if out.len() == max {
                next = Some(super::next_token(seq));
                break;
            }
            if self.observe(kind, region, &id) {
                out.push(id);
            }
        }
        (out, next)
    }

    pub fn sn(&self, region: &str, id: &str) -> Option<&ServiceNetwork> {
        find(&self.sns, region, id).map(|i| &self.sns[i])
    }

    pub fn rgw(&self, region: &str, id: &str) -> Option<&Gateway> {
        find(&self.rgws, region, id).map(|i| &self.rgws[i])
    }

    pub fn rcfg(&self, region: &str, id: &str) -> Option<&ResourceConfig> {
        find(&self.rcfgs, region, id).map(|i| &self.rcfgs[i])
    }

    /// Every resource with this ARN, as (kind, index).
    pub fn by_arn(&self, arn: &str) -> Option<(Kind, usize)> {
        fn pos<T: Resource>(v: &[T], arn: &str) -> Option<usize> {
            v.iter().position(|r| r.meta().arn == arn)
        }
        pos(&self.sns, arn)
            .map(|i| (Kind::Sn, i))
            .or_else(|| pos(&self.snvas, arn).map(|i| (Kind::Snva, i)))
            .or_else(|| pos(&self.rgws, arn).map(|i| (Kind::Rgw, i)))
            .or_else(|| pos(&self.rcfgs, arn).map(|i| (Kind::Rcfg, i)))
            .or_else(|| pos(&self.snras, arn).map(|i| (Kind::Snra, i)))
            .or_else(|| pos(&self.als, arn).map(|i| (Kind::Als, i)))
    }

    pub fn meta_mut(&mut self, kind: Kind, idx: usize) -> &mut Meta {
        match kind {
            Kind::Sn => &mut self.sns[idx].meta,
            Kind::Snva => &mut self.snvas[idx].meta,
            Kind::Rgw => &mut self.rgws[idx].meta,
            Kind::Rcfg => &mut self.rcfgs[idx].meta,
            Kind::Snra => &mut self.snras[idx].meta,
            Kind::Als => &mut self.als[idx].meta,
        }
    }

    /// A resource with a status, found by id or ARN in any region (for `/_emu/force-status`).
    pub fn life_by_any(&mut self, id_or_arn: &str) -> Option<&mut Life> {
        fn pos<'a, T: Resource>(v: &'a mut [T], key: &str) -> Option<&'a mut Life> {
            v.iter_mut()
                .find(|r| r.meta().id == key || r.meta().arn == key)
                .and_then(|r| r.life_mut())
        }
        let key = id_or_arn;
        if let Some(l) = pos(&mut self.snvas, key) {
            return Some(l);
        }
        if let Some(l) = pos(&mut self.rgws, key) {
            return Some(l);
        }
        if let Some(l) = pos(&mut self.rcfgs, key) {
            return Some(l);
        }
        pos(&mut self.snras, key)
    }

    /// Everything, for `/_emu/state` (read-only: no lifecycle advance).
    pub fn dump(&self) -> Value {
        fn with_extra<T: Resource>(r: &T, mut v: Value) -> Value {
            if let Value::Object(m) = &mut v {
                m.insert("region".into(), r.meta().region.clone().into());
                m.insert("tags".into(), json!(r.meta().tags));
                if let Some(l) = r.life() {
                    if let Value::Object(lm) = l.state_json() {
                        for (k, v) in lm {
                            m.insert(k, v);
                        }
                    }
                }
            }
            v
        }
        json!({
            "serviceNetworks": self.sns.iter().map(|r| with_extra(r, self.render_sn(r))).collect::<Vec<_>>(),
            "serviceNetworkVpcAssociations": self.snvas.iter().map(|r| with_extra(r, self.render_snva(r))).collect::<Vec<_>>(),
            "resourceGateways": self.rgws.iter().map(|r| with_extra(r, render_rgw(r, "vpcId"))).collect::<Vec<_>>(),
            "resourceConfigurations": self.rcfgs.iter().map(|r| with_extra(r, render_rcfg(r))).collect::<Vec<_>>(),
            "serviceNetworkResourceAssociations": self.snras.iter().map(|r| with_extra(r, self.render_snra(r))).collect::<Vec<_>>(),
            "accessLogSubscriptions": self.als.iter().map(|r| with_extra(r, render_als(r))).collect::<Vec<_>>(),
        })
    }

    // ---- renderers (full Get shapes; callers pick the members each operation returns) ----

    pub fn render_sn(&self, r: &ServiceNetwork) -> Value {
        let region = &r.meta.region;
        let vpcs = self
            .snvas
            .iter()
            .filter(|a| a.sn_id == r.meta.id && &a.meta.region == region)
            .count();
        let rcfgs = self
            .snras
            .iter()
            .filter(|a| a.sn_id == r.meta.id && &a.meta.region == region)
            .count();
        let mut m = obj(&[
            ("id", r.meta.id.clone().into()),
            ("name", r.name.clone().into()),
            ("arn", r.meta.arn.clone().into()),
            ("authType", r.auth_type.clone().into()),
            ("createdAt", r.meta.created_at().into()),
            ("lastUpdatedAt", r.meta.updated_at().into()),
            ("numberOfAssociatedVPCs", vpcs.into()),
            ("numberOfAssociatedServices", 0.into()),
            ("numberOfAssociatedResourceConfigurations", rcfgs.into()),
        ]);
        opt(&mut m, "sharingConfig", r.sharing_config.clone());
        Value::Object(m)
    }

    pub fn render_snva(&self, r: &VpcAssociation) -> Value {
        let sn = self.sn(&r.meta.region, &r.sn_id);
        let mut m = obj(&[
            ("id", r.meta.id.clone().into()),
            ("arn", r.meta.arn.clone().into()),
            ("status", r.life.status.clone().into()),
            ("createdBy", ids::ACCOUNT.into()),
            ("createdAt", r.meta.created_at().into()),
            ("lastUpdatedAt", r.meta.updated_at().into()),
            ("serviceNetworkId", r.sn_id.clone().into()),
            (
                "serviceNetworkArn",
                ids::lattice_arn(&r.meta.region, &r.sn_id).into(),
            ),
            ("vpcId", r.vpc_id.clone().into()),
        ]);
        opt(
            &mut m,
            "serviceNetworkName",
            sn.map(|s| s.name.clone().into()),
        );
        opt(
            &mut m,
            "securityGroupIds",
            r.security_group_ids.clone().map(Value::from),
        );
        opt(
            &mut m,
            "privateDnsEnabled",
            r.private_dns_enabled.map(Value::from),
        );
        opt(&mut m, "dnsOptions", r.dns_options.clone());
        opt(
            &mut m,
            "failureMessage",
            r.life.failure_reason.clone().map(Value::from),
        );
        opt(
            &mut m,
            "failureCode",
            r.life.failure_code.clone().map(Value::from),
        );
        Value::Object(m)
    }

    /// The association's `dnsEntry.domainName` (clients connect by it).
    pub fn snra_dns_name(&self, r: &ResourceAssociation) -> String {
        format!(
            "{}.{}.{}.vpc-lattice-rsc.{}.on.aws",
            r.meta.id, r.rcfg_id, r.dns_label, r.meta.region
        )
    }

    pub fn render_snra(&self, r: &ResourceAssociation) -> Value {
        let region = &r.meta.region;
        let rcfg = self.rcfg(region, &r.rcfg_id);
        let sn = self.sn(region, &r.sn_id);
        let mut m = obj(&[
            ("id", r.meta.id.clone().into()),
            ("arn", r.meta.arn.clone().into()),
            ("status", r.life.status.clone().into()),
            ("createdBy", ids::ACCOUNT.into()),
            ("createdAt", r.meta.created_at().into()),
            ("lastUpdatedAt", r.meta.updated_at().into()),
            ("resourceConfigurationId", r.rcfg_id.clone().into()),
            (
                "resourceConfigurationArn",
                ids::lattice_arn(region, &r.rcfg_id).into(),
            ),
            ("serviceNetworkId", r.sn_id.clone().into()),
            (
                "serviceNetworkArn",
                ids::lattice_arn(region, &r.sn_id).into(),
            ),
            ("isManagedAssociation", false.into()),
        ]);
        opt(
            &mut m,
            "resourceConfigurationName",
            rcfg.map(|c| c.name.clone().into()),
        );
        opt(
            &mut m,
            "serviceNetworkName",
            sn.map(|s| s.name.clone().into()),
        );
        opt(
            &mut m,
            "privateDnsEnabled",
            r.private_dns_enabled.map(Value::from),
        );
        if r.life.reached_active {
            m.insert(
                "dnsEntry".into(),
                json!({
                    "domainName": self.snra_dns_name(r),
                    "hostedZoneId": r.hosted_zone_id,
                }),
            );
            let custom = rcfg.and_then(|c| c.custom_domain_name.clone());
            if let (Some(true), Some(domain)) = (r.private_dns_enabled, custom) {
                m.insert(
                    "privateDnsEntry".into(),
                    json!({"domainName": domain, "hostedZoneId": r.hosted_zone_id}),
                );
            }
        }
        opt(
            &mut m,
            "failureReason",
            r.life.failure_reason.clone().map(Value::from),
        );
        opt(
            &mut m,
            "failureCode",
            r.life.failure_code.clone().map(Value::from),
        );
        Value::Object(m)
    }
}

/// `vpc_key` is `vpcIdentifier` for Create/List and `vpcId` for Get/Update (a model asymmetry).
pub fn render_rgw(r: &Gateway, vpc_key: &str) -> Value {
    let mut m = obj(&[
        ("name", r.name.clone().into()),
        ("id", r.meta.id.clone().into()),
        ("arn", r.meta.arn.clone().into()),
        ("status", r.life.status.clone().into()),
        (vpc_key, r.vpc_id.clone().into()),
        ("subnetIds", r.subnet_ids.clone().into()),
        ("ipAddressType", r.ip_address_type.clone().into()),
        (
            "resourceConfigDnsResolution",
            r.dns_resolution.clone().into(),
        ),
        ("serviceManaged", false.into()),
        ("createdAt", r.meta.created_at().into()),
        ("lastUpdatedAt", r.meta.updated_at().into()),
    ]);
    opt(
        &mut m,
        "securityGroupIds",
        r.security_group_ids.clone().map(Value::from),
    );
    opt(
        &mut m,
        "ipv4AddressesPerEni",
        r.ipv4_addresses_per_eni.map(Value::from),
    );
    Value::Object(m)
}

pub fn render_rcfg(r: &ResourceConfig) -> Value {
    let mut m = obj(&[
        ("id", r.meta.id.clone().into()),
        ("name", r.name.clone().into()),
        ("arn", r.meta.arn.clone().into()),
        ("type", r.kind.clone().into()),
        ("status", r.life.status.clone().into()),
        (
            "allowAssociationToShareableServiceNetwork",
            r.allow_shareable.into(),
        ),
        ("amazonManaged", false.into()),
        ("createdAt", r.meta.created_at().into()),
        ("lastUpdatedAt", r.meta.updated_at().into()),
    ]);
    opt(
        &mut m,
        "resourceGatewayId",
        r.gateway_id.clone().map(Value::from),
    );
    opt(
        &mut m,
        "resourceConfigurationGroupId",
        r.group_id.clone().map(Value::from),
    );
    opt(&mut m, "portRanges", r.port_ranges.clone().map(Value::from));
    opt(&mut m, "protocol", r.protocol.clone().map(Value::from));
    opt(
        &mut m,
        "resourceConfigurationDefinition",
        r.definition.clone(),
    );
    opt(
        &mut m,
        "customDomainName",
        r.custom_domain_name.clone().map(Value::from),
    );
    opt(
        &mut m,
        "groupDomain",
        r.group_domain.clone().map(Value::from),
    );
    opt(
        &mut m,
        "failureReason",
        r.life.failure_reason.clone().map(Value::from),
    );
    Value::Object(m)
}

pub fn render_als(r: &LogSubscription) -> Value {
    let mut m = obj(&[
        ("id", r.meta.id.clone().into()),
        ("arn", r.meta.arn.clone().into()),
        ("resourceId", r.resource_id.clone().into()),
        ("resourceArn", r.resource_arn.clone().into()),
        ("destinationArn", r.destination_arn.clone().into()),
        ("createdAt", r.meta.created_at().into()),
        ("lastUpdatedAt", r.meta.updated_at().into()),
    ]);
    opt(
        &mut m,
        "serviceNetworkLogType",
        r.log_type.clone().map(Value::from),
    );
    Value::Object(m)
}

pub fn obj(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Absent members are omitted, never sent as null.
pub fn opt(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(key.into(), v);
    }
}

/// Keeps only the listed members of a rendered shape (each operation's output subset).
pub fn pick(v: Value, keys: &[&str]) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| keys.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

impl Store {
    /// clientToken idempotency: the same token and parameters return the original resource;
    /// the same token with other parameters is a ConflictException.
    pub fn replay(&mut self, req: &Req, op: &str, kind: Kind) -> Result<Option<usize>, ApiError> {
        let Some(token) = req.body.get("clientToken").and_then(Value::as_str) else {
            return Ok(None);
        };
        let key = (req.region.clone(), op.to_string(), token.to_string());
        let Some((params, id)) = self.tokens.get(&key).cloned() else {
            return Ok(None);
        };
        let Ok(idx) = self.index(kind, &req.region, &id) else {
            // The original is gone: the token is free again.
            self.tokens.remove(&key);
            return Ok(None);
        };
        if params == token_params(req) {
            Ok(Some(idx))
        } else {
            Err(ApiError::conflict(
                kind.resource_type(),
                &id,
                format!("clientToken {token} was already used with different parameters"),
            ))
        }
    }

    pub fn remember(&mut self, req: &Req, op: &str, id: &str) {
        if let Some(token) = req.body.get("clientToken").and_then(Value::as_str) {
            let key = (req.region.clone(), op.to_string(), token.to_string());
            self.tokens.insert(key, (token_params(req), id.to_string()));
        }
    }
}

fn token_params(req: &Req) -> Map<String, Value> {
    let mut m = req.body.clone();
    m.remove("clientToken");
    m
}
