//! Realistic execution states for the step crates' unit tests (ids shaped as
//! AWS shapes them). Tiny, so it is always compiled rather than feature-gated.

use std::collections::BTreeMap;

use crate::input::{Engine, Mode};
use crate::plan::*;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// The tags a step of [`plan`]'s deployment put on what it created (`component`), as AWS lists
/// them on a retry.
pub fn created_tags(
    deployment: &str,
    component: &str,
) -> std::collections::HashMap<String, String> {
    crate::tags::resource_tags(&plan().tags, deployment, component)
        .into_iter()
        .collect()
}

/// [`created_tags`] as EC2 lists them.
#[cfg(feature = "ec2")]
pub fn ec2_created_tags(deployment: &str, component: &str) -> Vec<aws_sdk_ec2::types::Tag> {
    created_tags(deployment, component)
        .into_iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn plan() -> Plan {
    let mut tags = BTreeMap::new();
    tags.insert("team".to_string(), "payments".to_string());
    Plan {
        name: "orders".into(),
        region: REGION.into(),
        names: Names::for_deployment("orders"),
        database_vpc_id: "vpc-0db0000000000000a".into(),
        database_vpc_cidrs: vec!["10.0.0.0/16".into()],
        db_subnet_ids: vec![
            "subnet-0a000000000000001".into(),
            "subnet-0b000000000000002".into(),
            "subnet-0a000000000000003".into(),
        ],
        gateway_subnet_ids: vec![
            "subnet-0a000000000000001".into(),
            "subnet-0b000000000000002".into(),
        ],
        client_vpcs: vec![PlannedClientVpc {
            vpc_id: "vpc-0c10000000000000b".into(),
            allowed_security_group_ids: vec!["sg-0abc0000000000001".into()],
            allowed_cidrs: vec!["10.1.0.0/16".into()],
        }],
        database: PlannedDatabase {
            create: true,
            kind: DbKind::Instance,
            identifier: "orders-db".into(),
            engine: Engine::Mysql,
            settings: Some(PlannedCreate {
                instance_class: "db.t3.micro".into(),
                allocated_storage: Some(20),
                multi_az: true,
                engine_version: None,
                master_username: "dbadmin".into(),
                backup_retention_days: 7,
            }),
            attach_security_group: false,
        },
        mode: Mode::Dns,
        ip_address: None,
        port: 3306,
        tags,
        standby: None,
    }
}

/// The execution state as the provisioning state machine accumulates it, one section per step.
/// Steps never take it whole: each deserializes its own typed input from it, as
/// [`typed`] does here.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub plan: Option<Plan>,
    pub db_network: Option<DbNetworkOut>,
    pub database: Option<DatabaseOut>,
    pub database_poll: Option<PollOut>,
    pub gateway: Option<IdArn>,
    pub gateway_poll: Option<PollOut>,
    pub client_access: Option<ClientAccessOut>,
    pub access_controls: Option<AccessControlsOut>,
    pub service_network: Option<ServiceNetworkOut>,
    pub vpc_associations_poll: Option<PollOut>,
    pub monitoring: Option<MonitoringOut>,
    pub resource_configuration: Option<IdArn>,
    pub resource_configuration_poll: Option<PollOut>,
    pub resource_association: Option<IdArn>,
    pub resource_association_poll: Option<PollOut>,
}

/// A step's typed input read from `state` the way the Lambda entry reads it (absent sections
/// left out, so a missing dependency fails as it would at the state boundary).
pub fn typed<I: serde::de::DeserializeOwned>(state: &State) -> I {
    crate::input::parse(state_json(state))
        .unwrap_or_else(|e| panic!("the state does not fit the step: {e}"))
}

/// `state` as the state machine passes it: sections not reached yet are absent, not null.
pub fn state_json(state: &State) -> serde_json::Value {
    let mut v = serde_json::to_value(state).expect("a state serializes");
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    v
}

pub fn ctx() -> State {
    State {
        plan: Some(plan()),
        ..State::default()
    }
}

pub fn poll(state: PollState, status: &str) -> PollOut {
    PollOut {
        attempt: 1,
        max_attempts: 10,
        wait_seconds: 5,
        ..PollOut::new(state, status)
    }
}

/// The state as it is after every step up to the resource association.
pub fn ctx_full() -> State {
    let mut c = ctx();
    c.db_network = Some(DbNetworkOut {
        gateway_security_group_id: "sg-0a1b2c3d4e5f60001".into(),
        db_security_group_id: "sg-0a1b2c3d4e5f60002".into(),
        db_subnet_group_name: Some("orders-db-subnets".into()),
        rule_changes: vec![],
    });
    c.database = Some(DatabaseOut {
        kind: DbKind::Instance,
        identifier: "orders-db".into(),
        created: true,
        instance_identifiers: vec![],
    });
    let mut db = poll(PollState::Ready, "available");
    db.endpoint = Some("orders-db.c9akciq32xyz.us-east-1.rds.amazonaws.com".into());
    db.port = Some(3306);
    db.arn = Some(format!("arn:aws:rds:{REGION}:{ACCOUNT}:db:orders-db"));
    db.secret_arn = Some(format!(
        "arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-3f1c2a7e-6f0b-4a51-9d55-1e2f3a4b5c6d-AbCdEf"
    ));
    c.database_poll = Some(db);
    c.gateway = Some(IdArn {
        id: "rgw-0123456789abcdefg".into(),
        arn: format!(
            "arn:aws:vpc-lattice:{REGION}:{ACCOUNT}:resourcegateway/rgw-0123456789abcdefg"
        ),
    });
    c.gateway_poll = Some(poll(PollState::Ready, "ACTIVE"));
    c.client_access = Some(ClientAccessOut {
        clients: vec![VpcSecurityGroup {
            vpc_id: "vpc-0c10000000000000b".into(),
            security_group_id: "sg-0c1c2c3d4e5f60003".into(),
        }],
        prefix_list_id: "pl-0123456789abcdef0".into(),
        rule_changes: vec![],
    });
    c.access_controls = Some(AccessControlsOut {
        associations: vec![VpcSecurityGroup {
            vpc_id: "vpc-0c10000000000000b".into(),
            security_group_id: "sg-0c1c2c3d4e5f60004".into(),
        }],
        rule_changes: vec![],
    });
    c.service_network = Some(ServiceNetworkOut {
        id: "sn-0123456789abcdefg".into(),
        arn: format!("arn:aws:vpc-lattice:{REGION}:{ACCOUNT}:servicenetwork/sn-0123456789abcdefg"),
        vpc_associations: vec![VpcAssociation {
            vpc_id: "vpc-0c10000000000000b".into(),
            id: "snva-0123456789abcdefg".into(),
            arn: format!(
                "arn:aws:vpc-lattice:{REGION}:{ACCOUNT}:servicenetworkvpcassociation/snva-0123456789abcdefg"
            ),
        }],
    });
    c.vpc_associations_poll = Some(poll(PollState::Ready, "ACTIVE"));
    c.resource_configuration = Some(IdArn {
        id: "rcfg-0123456789abcdefg".into(),
        arn: format!(
            "arn:aws:vpc-lattice:{REGION}:{ACCOUNT}:resourceconfiguration/rcfg-0123456789abcdefg"
        ),
    });
    c.resource_configuration_poll = Some(poll(PollState::Ready, "ACTIVE"));
    c
}

pub type HttpResponse = aws_smithy_runtime_api::http::Response;

fn response(status: u16, body: String, header: Option<(&'static str, String)>) -> HttpResponse {
    let mut r = HttpResponse::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(status).expect("valid status"),
        aws_smithy_types::body::SdkBody::from(body),
    );
    if let Some((k, v)) = header {
        r.headers_mut().insert(k, v);
    }
    r
}

/// A VPC Lattice (restJson1) error response as the service sends it.
pub fn lattice_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body =
        serde_json::json!({"message": message, "resourceId": "x", "resourceType": "x"}).to_string();
    response(status, body, Some(("x-amzn-errortype", code.to_string())))
}

/// An EC2 error response.
pub fn ec2_error(status: u16, code: &str, message: &str) -> HttpResponse {
    response(
        status,
        format!("<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>r</RequestID></Response>"),
        None,
    )
}

/// An RDS (awsQuery) error response.
pub fn rds_error(status: u16, code: &str, message: &str) -> HttpResponse {
    response(
        status,
        format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"),
        None,
    )
}
