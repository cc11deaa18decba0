//! VPC Lattice emulation driven through the real `aws-sdk-vpclattice` client.

mod common;

use aws_sdk_vpclattice::error::ProvideErrorMetadata;
use aws_sdk_vpclattice::operation::create_access_log_subscription::CreateAccessLogSubscriptionError;
use aws_sdk_vpclattice::operation::create_resource_configuration::CreateResourceConfigurationError;
use aws_sdk_vpclattice::operation::create_resource_gateway::CreateResourceGatewayError;
use aws_sdk_vpclattice::operation::create_service_network::CreateServiceNetworkError;
use aws_sdk_vpclattice::operation::create_service_network_vpc_association::CreateServiceNetworkVpcAssociationError;
use aws_sdk_vpclattice::operation::get_resource_gateway::GetResourceGatewayError;
use aws_sdk_vpclattice::operation::list_service_networks::ListServiceNetworksError;
use aws_sdk_vpclattice::operation::update_resource_configuration::UpdateResourceConfigurationError;
use aws_sdk_vpclattice::types::{
    ArnResource, IpResource, ProtocolType, ResourceConfigurationDefinition,
    ResourceConfigurationType, ServiceNetworkLogType,
};
use common::*;
use serde_json::json;

/// Awaits a call that must fail with ValidationException(fieldValidationFailed); yields the field names.
macro_rules! invalid_fields {
    ($call:expr, $variant:path) => {{
        match $call
            .await
            .expect_err("expected a ValidationException")
            .into_service_error()
        {
            $variant(v) => {
                assert_eq!(v.reason().as_str(), "fieldValidationFailed");
                v.field_list()
                    .iter()
                    .map(|f| f.name().to_string())
                    .collect::<Vec<String>>()
            }
            other => panic!("expected ValidationException, got {other:?}"),
        }
    }};
}

fn assert_id(prefix: &str, id: &str) {
    let rest = id
        .strip_prefix(&format!("{prefix}-"))
        .unwrap_or_else(|| panic!("{id} lacks {prefix}-"));
    assert_eq!(rest.len(), 17, "{id}");
    let ok = if prefix == "snra" {
        rest.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    } else {
        rest.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    assert!(ok, "{id}");
}

/// Builds SN + client VPC association + RGW + RCFG + SNRA and settles them (2 Gets each).
struct Chain {
    sn: String,
    sn_arn: String,
    snva: String,
    rgw: String,
    rcfg: String,
    rcfg_arn: String,
    snra: String,
}

async fn chain(e: &Emu) -> Chain {
    let c = &e.lattice;
    let (sn, sn_arn) = service_network(c, "orders-sn").await;
    let snva = c
        .create_service_network_vpc_association()
        .service_network_identifier(&sn)
        .vpc_identifier(CLIENT_VPC)
        .security_group_ids(SG)
        .send()
        .await
        .unwrap();
    let (rgw, _) = gateway(c, "orders-gw").await;
    let (rcfg, rcfg_arn) = config(c, "orders-db", &rgw).await;
    let snra = c
        .create_service_network_resource_association()
        .service_network_identifier(&sn)
        .resource_configuration_identifier(&rcfg)
        .send()
        .await
        .unwrap();
    let ch = Chain {
        sn,
        sn_arn,
        snva: snva.id().unwrap().to_string(),
        rgw,
        rcfg,
        rcfg_arn,
        snra: snra.id().unwrap().to_string(),
    };
    for _ in 0..2 {
        c.get_service_network_vpc_association()
            .service_network_vpc_association_identifier(&ch.snva)
            .send()
            .await
            .unwrap();
        c.get_resource_gateway()
            .resource_gateway_identifier(&ch.rgw)
            .send()
            .await
            .unwrap();
        c.get_resource_configuration()
            .resource_configuration_identifier(&ch.rcfg)
            .send()
            .await
            .unwrap();
        c.get_service_network_resource_association()
            .service_network_resource_association_identifier(&ch.snra)
            .send()
            .await
            .unwrap();
    }
    ch
}

#[tokio::test]
async fn ids_and_arns_are_aws_shaped_and_regional() {
    let e = start().await;
    let ch = chain(&e).await;
    for (prefix, id) in [
        ("sn", &ch.sn),
        ("snva", &ch.snva),
        ("rgw", &ch.rgw),
        ("rcfg", &ch.rcfg),
        ("snra", &ch.snra),
    ] {
        assert_id(prefix, id);
    }
    assert_eq!(
        ch.sn_arn,
        format!(
            "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetwork/{}",
            ch.sn
        )
    );
    assert_eq!(
        ch.rcfg_arn,
        format!(
            "arn:aws:vpc-lattice:us-east-1:123456789012:resourceconfiguration/{}",
            ch.rcfg
        )
    );
    let als = e
        .lattice
        .create_access_log_subscription()
        .resource_identifier(&ch.sn)
        .destination_arn("arn:aws:logs:us-east-1:123456789012:log-group:/lattice/orders")
        .send()
        .await
        .unwrap();
    assert_id("als", als.id());
    assert!(als
        .arn()
        .ends_with(&format!(":accesslogsubscription/{}", als.id())));

    // The region comes from the SigV4 credential scope; regions do not see each other.
    let west = lattice_client(&e.server.url(), "eu-west-1", true);
    let (west_sn, west_arn) = service_network(&west, "orders-sn").await;
    assert!(west_arn.starts_with("arn:aws:vpc-lattice:eu-west-1:123456789012:servicenetwork/"));
    let err = e
        .lattice
        .get_service_network()
        .service_network_identifier(&west_sn)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn creates_answer_201_and_settle_on_the_nth_get() {
    let e = start().await;
    let c = &e.lattice;
    let (rgw, _) = gateway(c, "orders-gw").await;
    let statuses: Vec<Option<String>> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let g = c
                .get_resource_gateway()
                .resource_gateway_identifier(&rgw)
                .send()
                .await
                .unwrap();
            v.push(g.status().map(|s| s.as_str().to_string()));
        }
        v
    };
    assert_eq!(
        statuses,
        [
            Some("CREATE_IN_PROGRESS".into()),
            Some("ACTIVE".into()),
            Some("ACTIVE".into())
        ]
    );

    // The same for a configuration, with List counting as an observation.
    let created = c
        .create_resource_configuration()
        .name("orders-db")
        .r#type(ResourceConfigurationType::Single)
        .resource_gateway_identifier(&rgw)
        .port_ranges("3306")
        .resource_configuration_definition(dns_definition("orders-db.example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().unwrap().as_str(), "CREATE_IN_PROGRESS");
    assert_eq!(
        created.protocol().unwrap().as_str(),
        "TCP",
        "TCP is the default protocol"
    );
    let listed = c
        .list_resource_configurations()
        .resource_gateway_identifier(&rgw)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.items()[0].status().unwrap().as_str(),
        "CREATE_IN_PROGRESS"
    );
    let got = c
        .get_resource_configuration()
        .resource_configuration_identifier(created.id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(got.status().unwrap().as_str(), "ACTIVE");

    // Modelled success codes, as recorded by the emulator and seen on the wire.
    let calls = e.calls().await;
    let status_of = |op: &str| {
        calls
            .iter()
            .find(|c| c["op"] == op)
            .map(|c| c["status"].clone())
    };
    assert_eq!(status_of("CreateResourceGateway"), Some(json!(201)));
    assert_eq!(status_of("CreateResourceConfiguration"), Some(json!(201)));
    let raw = e
        .raw("POST", "/servicenetworks", Some(r#"{"name":"raw-sn"}"#))
        .await;
    assert_eq!(raw.status, 201);
    assert_eq!(raw.header("content-type"), Some("application/json"));
    assert!(raw.header("x-amzn-RequestId").is_some());
    let snva = e
        .raw(
            "POST",
            "/servicenetworkvpcassociations",
            Some(
                &json!({"serviceNetworkIdentifier": raw.json()["id"], "vpcIdentifier": VPC})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(
        snva.status, 200,
        "CreateServiceNetworkVpcAssociation is modelled as 200"
    );
    assert_eq!(snva.json()["status"], "CREATE_IN_PROGRESS");
    assert_eq!(snva.json()["createdBy"], "123456789012");
}

#[tokio::test]
async fn updates_go_through_update_in_progress() {
    let e = start().await;
    let c = &e.lattice;
    let ch = chain(&e).await;
    let up = c
        .update_resource_configuration()
        .resource_configuration_identifier(&ch.rcfg)
        .resource_configuration_definition(dns_definition("orders-db-replica.example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(up.status().unwrap().as_str(), "UPDATE_IN_PROGRESS");
    let get = || {
        c.get_resource_configuration()
            .resource_configuration_identifier(&ch.rcfg)
            .send()
    };
    assert_eq!(
        get().await.unwrap().status().unwrap().as_str(),
        "UPDATE_IN_PROGRESS"
    );
    let settled = get().await.unwrap();
    assert_eq!(settled.status().unwrap().as_str(), "ACTIVE");
    match settled.resource_configuration_definition().unwrap() {
        ResourceConfigurationDefinition::DnsResource(d) => {
            assert_eq!(d.domain_name(), Some("orders-db-replica.example.com"))
        }
        other => panic!("{other:?}"),
    }

    let up = c
        .update_service_network_vpc_association()
        .service_network_vpc_association_identifier(&ch.snva)
        .security_group_ids("sg-0a1b2c3d4e5f60002")
        .send()
        .await
        .unwrap();
    assert_eq!(up.status().unwrap().as_str(), "UPDATE_IN_PROGRESS");
    let get = || {
        c.get_service_network_vpc_association()
            .service_network_vpc_association_identifier(&ch.snva)
            .send()
    };
    assert_eq!(
        get().await.unwrap().status().unwrap().as_str(),
        "UPDATE_IN_PROGRESS"
    );
    let settled = get().await.unwrap();
    assert_eq!(settled.status().unwrap().as_str(), "ACTIVE");
    assert_eq!(settled.security_group_ids(), ["sg-0a1b2c3d4e5f60002"]);

    let up = c
        .update_resource_gateway()
        .resource_gateway_identifier(&ch.rgw)
        .security_group_ids(SG)
        .send()
        .await
        .unwrap();
    assert_eq!(up.status().unwrap().as_str(), "UPDATE_IN_PROGRESS");
    assert_eq!(up.vpc_id(), Some(VPC));
}

#[tokio::test]
async fn deletes_go_through_delete_in_progress_then_not_found() {
    let e = start().await;
    let c = &e.lattice;
    let ch = chain(&e).await;

    let d = c
        .delete_service_network_resource_association()
        .service_network_resource_association_identifier(&ch.snra)
        .send()
        .await
        .unwrap();
    assert_eq!(d.status().unwrap().as_str(), "DELETE_IN_PROGRESS");
    let get = || {
        c.get_service_network_resource_association()
            .service_network_resource_association_identifier(&ch.snra)
            .send()
    };
    assert_eq!(
        get().await.unwrap().status().unwrap().as_str(),
        "DELETE_IN_PROGRESS"
    );
    assert!(get()
        .await
        .unwrap_err()
        .into_service_error()
        .is_resource_not_found_exception());

    // 204 for configurations; it is then gone after the same number of observations.
    c.delete_resource_configuration()
        .resource_configuration_identifier(&ch.rcfg)
        .send()
        .await
        .unwrap();
    let get = || {
        c.get_resource_configuration()
            .resource_configuration_identifier(&ch.rcfg)
            .send()
    };
    assert_eq!(
        get().await.unwrap().status().unwrap().as_str(),
        "DELETE_IN_PROGRESS"
    );
    assert!(get()
        .await
        .unwrap_err()
        .into_service_error()
        .is_resource_not_found_exception());

    let d = c
        .delete_resource_gateway()
        .resource_gateway_identifier(&ch.rgw)
        .send()
        .await
        .unwrap();
    assert_eq!(d.status().unwrap().as_str(), "DELETE_IN_PROGRESS");
    assert_eq!(d.name(), Some("orders-gw"));
    // A List observation counts too: the deleted gateway drops out of the list.
    assert_eq!(
        c.list_resource_gateways()
            .send()
            .await
            .unwrap()
            .items()
            .len(),
        1
    );
    assert_eq!(
        c.list_resource_gateways()
            .send()
            .await
            .unwrap()
            .items()
            .len(),
        0
    );
    let err = c
        .get_resource_gateway()
        .resource_gateway_identifier(&ch.rgw)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());

    let d = c
        .delete_service_network_vpc_association()
        .service_network_vpc_association_identifier(&ch.snva)
        .send()
        .await
        .unwrap();
    assert_eq!(d.status().unwrap().as_str(), "DELETE_IN_PROGRESS");
    let get = || {
        c.get_service_network_vpc_association()
            .service_network_vpc_association_identifier(&ch.snva)
            .send()
    };
    get().await.unwrap();
    assert!(get()
        .await
        .unwrap_err()
        .into_service_error()
        .is_resource_not_found_exception());

    // Service networks have no status: deleted at once (204).
    c.delete_service_network()
        .service_network_identifier(&ch.sn)
        .send()
        .await
        .unwrap();
    let err = c
        .get_service_network()
        .service_network_identifier(&ch.sn)
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert!(err.is_resource_not_found_exception());
    assert_eq!(err.meta().code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn zero_polls_means_instant() {
    let e = start_with(0).await;
    let c = &e.lattice;
    let (rgw, _) = gateway(c, "orders-gw").await;
    let g = c
        .get_resource_gateway()
        .resource_gateway_identifier(&rgw)
        .send()
        .await
        .unwrap();
    assert_eq!(g.status().unwrap().as_str(), "ACTIVE");
    let d = c
        .delete_resource_gateway()
        .resource_gateway_identifier(&rgw)
        .send()
        .await
        .unwrap();
    assert_eq!(d.status().unwrap().as_str(), "DELETE_IN_PROGRESS");
    let err = c
        .get_resource_gateway()
        .resource_gateway_identifier(&rgw)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn resource_association_carries_a_dns_entry_once_active() {
    let e = start().await;
    let c = &e.lattice;
    let (sn, _) = service_network(c, "orders-sn").await;
    let (rgw, _) = gateway(c, "orders-gw").await;
    let (rcfg, rcfg_arn) = config(c, "orders-db", &rgw).await;
    let created = c
        .create_service_network_resource_association()
        .service_network_identifier(&sn)
        .resource_configuration_identifier(&rcfg_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().unwrap().as_str(), "CREATE_IN_PROGRESS");
    let snra = created.id().unwrap().to_string();
    let get = || {
        c.get_service_network_resource_association()
            .service_network_resource_association_identifier(&snra)
            .send()
    };
    let pending = get().await.unwrap();
    assert!(pending.dns_entry().is_none(), "no DNS name before ACTIVE");
    let active = get().await.unwrap();
    assert_eq!(active.status().unwrap().as_str(), "ACTIVE");
    let dns = active.dns_entry().expect("dnsEntry");
    let domain = dns.domain_name().unwrap();
    let labels: Vec<&str> = domain.split('.').collect();
    assert_eq!(labels[0], snra);
    assert_eq!(labels[1], rcfg);
    assert_eq!(labels[2].len(), 8);
    assert!(labels[2].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(&labels[3..], ["vpc-lattice-rsc", "us-east-1", "on", "aws"]);
    assert!(dns.hosted_zone_id().unwrap().starts_with('Z'));
    assert_eq!(active.resource_configuration_id(), Some(rcfg.as_str()));
    assert_eq!(active.resource_configuration_arn(), Some(rcfg_arn.as_str()));
    assert_eq!(active.resource_configuration_name(), Some("orders-db"));
    assert_eq!(active.service_network_id(), Some(sn.as_str()));
    assert_eq!(active.service_network_name(), Some("orders-sn"));
    assert!(active.service_network_arn().unwrap().ends_with(&sn));

    let listed = c
        .list_service_network_resource_associations()
        .service_network_identifier(&sn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.items()[0].dns_entry().and_then(|d| d.domain_name()),
        Some(domain)
    );
}

#[tokio::test]
async fn model_asymmetries_are_kept() {
    let e = start().await;
    let c = &e.lattice;
    let created = e
        .raw(
            "POST",
            "/resourcegateways",
            Some(
                &json!({"name": "orders-gw", "vpcIdentifier": VPC, "subnetIds": SUBNETS})
                    .to_string(),
            ),
        )
        .await
        .json();
    assert_eq!(created["vpcIdentifier"], VPC);
    assert!(created.get("vpcId").is_none());
    let rgw = created["id"].as_str().unwrap().to_string();
    let got = e
        .raw("GET", &format!("/resourcegateways/{rgw}"), None)
        .await
        .json();
    assert_eq!(got["vpcId"], VPC, "GetResourceGateway says vpcId");
    assert!(got.get("vpcIdentifier").is_none());
    assert!(got
        .get("createdAt")
        .unwrap()
        .as_str()
        .unwrap()
        .ends_with('Z'));
    let sdk = c
        .get_resource_gateway()
        .resource_gateway_identifier(&rgw)
        .send()
        .await
        .unwrap();
    assert_eq!(sdk.vpc_id(), Some(VPC));
    assert!(sdk.created_at().is_some());

    let (rcfg, _) = config(c, "orders-db", &rgw).await;
    for _ in 0..3 {
        let got = e
            .raw("GET", &format!("/resourceconfigurations/{rcfg}"), None)
            .await
            .json();
        assert!(
            got.get("dnsEntry").is_none(),
            "GetResourceConfiguration has no dnsEntry"
        );
        assert!(
            got.as_object().unwrap().values().all(|v| !v.is_null()),
            "absent fields are omitted"
        );
    }
    let ts = got["lastUpdatedAt"].as_str().unwrap();
    assert_eq!(ts.len(), "2026-01-01T00:00:00.000Z".len(), "{ts}");
}

#[tokio::test]
async fn identifiers_may_be_percent_encoded_arns() {
    let e = start().await;
    let c = &e.lattice;
    let (rgw, _) = gateway(c, "orders-gw").await;
    let (rcfg, rcfg_arn) = config(c, "orders-db", &rgw).await;
    let by_arn = c
        .get_resource_configuration()
        .resource_configuration_identifier(&rcfg_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(by_arn.id(), Some(rcfg.as_str()));
    let encoded = rcfg_arn.replace(':', "%3A").replace('/', "%2F");
    let raw = e
        .raw("GET", &format!("/resourceconfigurations/{encoded}"), None)
        .await;
    assert_eq!(raw.status, 200);
    let calls = e.calls().await;
    let last = calls.last().unwrap();
    assert_eq!(
        last["input"]["resourceConfigurationIdentifier"],
        rcfg_arn.as_str()
    );
}

#[tokio::test]
async fn duplicate_names_conflict() {
    let e = start().await;
    let c = &e.lattice;
    service_network(c, "orders-sn").await;
    let err = c
        .create_service_network()
        .name("orders-sn")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_conflict_exception(), "{err:?}");
    let (rgw, _) = gateway(c, "orders-gw").await;
    let err = c
        .create_resource_gateway()
        .name("orders-gw")
        .vpc_identifier(VPC)
        .subnet_ids(SUBNETS[0])
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_conflict_exception(), "{err:?}");
    config(c, "orders-db", &rgw).await;
    let err = c
        .create_resource_configuration()
        .name("orders-db")
        .r#type(ResourceConfigurationType::Single)
        .resource_gateway_identifier(&rgw)
        .port_ranges("5432")
        .resource_configuration_definition(dns_definition("other.example.com"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match err {
        CreateResourceConfigurationError::ConflictException(c) => {
            assert_eq!(c.resource_type(), "RESOURCE_CONFIGURATION");
            assert!(c.resource_id().starts_with("rcfg-"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn duplicate_associations_conflict() {
    let e = start().await;
    let c = &e.lattice;
    let ch = chain(&e).await;
    let snva = |sn: String| {
        c.create_service_network_vpc_association()
            .service_network_identifier(sn)
            .vpc_identifier(CLIENT_VPC)
            .send()
    };
    let err = snva(ch.sn.clone()).await.unwrap_err().into_service_error();
    assert!(err.is_conflict_exception(), "same (SN, VPC): {err:?}");
    let (other_sn, _) = service_network(c, "other-sn").await;
    let err = snva(other_sn).await.unwrap_err().into_service_error();
    assert!(
        err.is_conflict_exception(),
        "VPC already in another SN: {err:?}"
    );
    let err = c
        .create_service_network_resource_association()
        .service_network_identifier(&ch.sn_arn)
        .resource_configuration_identifier(&ch.rcfg)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_conflict_exception(), "same (SN, rcfg): {err:?}");
}

#[tokio::test]
async fn deleting_parents_with_children_conflicts() {
    let e = start().await;
    let c = &e.lattice;
    let ch = chain(&e).await;
    let del_sn = || {
        c.delete_service_network()
            .service_network_identifier(&ch.sn)
            .send()
    };
    assert!(
        del_sn()
            .await
            .unwrap_err()
            .into_service_error()
            .is_conflict_exception(),
        "SN with associations"
    );
    let err = c
        .delete_resource_gateway()
        .resource_gateway_identifier(&ch.rgw)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_conflict_exception(),
        "RGW with configurations"
    );
    let err = c
        .delete_resource_configuration()
        .resource_configuration_identifier(&ch.rcfg)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_conflict_exception(),
        "rcfg with associations"
    );

    // Remove the associations; an access-log subscription alone still blocks the SN.
    let (sn2, _) = service_network(c, "logs-sn").await;
    c.create_access_log_subscription()
        .resource_identifier(&sn2)
        .destination_arn("arn:aws:logs:us-east-1:123456789012:log-group:/x")
        .send()
        .await
        .unwrap();
    let err = c
        .delete_service_network()
        .service_network_identifier(&sn2)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_conflict_exception(),
        "SN with a subscription"
    );
}

#[tokio::test]
async fn changes_while_in_progress_conflict() {
    let e = start().await;
    let c = &e.lattice;
    let (rgw, _) = gateway(c, "orders-gw").await;
    let err = c
        .delete_resource_gateway()
        .resource_gateway_identifier(&rgw)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_conflict_exception(),
        "delete while CREATE_IN_PROGRESS"
    );
    let err = c
        .update_resource_gateway()
        .resource_gateway_identifier(&rgw)
        .security_group_ids(SG)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_conflict_exception(),
        "update while CREATE_IN_PROGRESS"
    );

    let (rcfg, _) = config(c, "orders-db", &rgw).await;
    let err = c
        .update_resource_configuration()
        .resource_configuration_identifier(&rcfg)
        .port_ranges("3307")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    // UpdateResourceConfiguration does not model ConflictException, so it arrives unmodelled.
    assert_eq!(err.code(), Some("ConflictException"), "{err:?}");

    // A repeated delete while DELETE_IN_PROGRESS is idempotent, not a conflict.
    for _ in 0..2 {
        c.get_resource_configuration()
            .resource_configuration_identifier(&rcfg)
            .send()
            .await
            .unwrap();
    }
    c.delete_resource_configuration()
        .resource_configuration_identifier(&rcfg)
        .send()
        .await
        .unwrap();
    c.delete_resource_configuration()
        .resource_configuration_identifier(&rcfg)
        .send()
        .await
        .unwrap();
    let st = e.state().await;
    assert_eq!(
        st["resourceConfigurations"][0]["status"],
        "DELETE_IN_PROGRESS"
    );
}

#[tokio::test]
async fn client_token_replays_or_conflicts() {
    let e = start().await;
    let c = &e.lattice;
    let create = |name: &str| {
        c.create_resource_gateway()
            .client_token("tok-1")
            .name(name)
            .vpc_identifier(VPC)
            .subnet_ids(SUBNETS[0])
            .send()
    };
    let first = create("orders-gw").await.unwrap();
    let again = create("orders-gw").await.unwrap();
    assert_eq!(
        first.id(),
        again.id(),
        "same token + same parameters = the original resource"
    );
    assert_eq!(
        c.list_resource_gateways()
            .send()
            .await
            .unwrap()
            .items()
            .len(),
        1
    );
    let err = create("other-gw").await.unwrap_err().into_service_error();
    match err {
        CreateResourceGatewayError::ConflictException(c) => {
            assert_eq!(c.resource_id(), first.id().unwrap())
        }
        other => panic!("{other:?}"),
    }
    // The SDK fills a fresh token when none is given, so a plain retry is a duplicate name.
    let err = c
        .create_resource_gateway()
        .name("orders-gw")
        .vpc_identifier(VPC)
        .subnet_ids(SUBNETS[0])
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_conflict_exception());
}

#[tokio::test]
async fn unknown_identifiers_are_not_found() {
    let e = start().await;
    let c = &e.lattice;
    let missing_rgw = "rgw-0123456789abcdefg";
    let err = c
        .get_resource_gateway()
        .resource_gateway_identifier(missing_rgw)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match err {
        GetResourceGatewayError::ResourceNotFoundException(n) => {
            assert_eq!(n.resource_id(), missing_rgw);
            assert_eq!(n.resource_type(), "RESOURCE_GATEWAY");
        }
        other => panic!("{other:?}"),
    }
    let err = c
        .create_service_network_vpc_association()
        .service_network_identifier("sn-0123456789abcdefg")
        .vpc_identifier(VPC)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_resource_not_found_exception(),
        "unknown parent SN"
    );
    let err = c
        .create_resource_configuration()
        .name("orders-db")
        .r#type(ResourceConfigurationType::Single)
        .resource_gateway_identifier(missing_rgw)
        .port_ranges("3306")
        .resource_configuration_definition(dns_definition("db.example.com"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_resource_not_found_exception(),
        "unknown parent RGW"
    );
    let (sn, _) = service_network(c, "orders-sn").await;
    let err = c
        .create_service_network_resource_association()
        .service_network_identifier(&sn)
        .resource_configuration_identifier("rcfg-0123456789abcdefg")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_resource_not_found_exception(),
        "unknown rcfg"
    );
    let err = c
        .create_access_log_subscription()
        .resource_identifier("sn-0123456789abcdefg")
        .destination_arn("arn:aws:logs:us-east-1:123456789012:log-group:/x")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = c
        .list_tags_for_resource()
        .resource_arn(
            "arn:aws:vpc-lattice:us-east-1:123456789012:resourcegateway/rgw-0123456789abcdefg",
        )
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn names_are_validated() {
    let e = start().await;
    let c = &e.lattice;
    for bad in [
        "Bad_Name",
        "ab",
        "-orders",
        "orders-",
        "a--b",
        &"a".repeat(64),
    ] {
        let f = invalid_fields!(
            c.create_service_network().name(bad).send(),
            CreateServiceNetworkError::ValidationException
        );
        assert_eq!(f, ["name"], "{bad}");
    }
    c.create_service_network()
        .name("a".repeat(63))
        .send()
        .await
        .unwrap();
    for bad in ["rgw-orders", &"g".repeat(41)] {
        let f = invalid_fields!(
            c.create_resource_gateway()
                .name(bad)
                .vpc_identifier(VPC)
                .subnet_ids(SUBNETS[0])
                .send(),
            CreateResourceGatewayError::ValidationException
        );
        assert_eq!(f, ["name"], "{bad}");
    }
    let (rgw, _) = gateway(c, "orders-gw").await;
    let f = invalid_fields!(
        c.create_resource_configuration()
            .name("rcfg-orders")
            .r#type(ResourceConfigurationType::Single)
            .resource_gateway_identifier(&rgw)
            .port_ranges("3306")
            .resource_configuration_definition(dns_definition("db.example.com"))
            .send(),
        CreateResourceConfigurationError::ValidationException
    );
    assert_eq!(f, ["name"]);
}

#[tokio::test]
async fn identifier_patterns_are_validated() {
    let e = start().await;
    let c = &e.lattice;
    let err = c
        .get_resource_gateway()
        .resource_gateway_identifier("gw-123")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match err {
        GetResourceGatewayError::ValidationException(v) => {
            assert_eq!(v.field_list()[0].name(), "resourceGatewayIdentifier")
        }
        other => panic!("{other:?}"),
    }
    // moto-style ids do not match the AWS pattern.
    let f = invalid_fields!(
        c.create_service_network_vpc_association()
            .service_network_identifier("sn-b1bdff63-064a-4ae")
            .vpc_identifier("vpc-bad")
            .send(),
        CreateServiceNetworkVpcAssociationError::ValidationException
    );
    assert_eq!(f, ["serviceNetworkIdentifier", "vpcIdentifier"]);
    let err = c
        .get_resource_configuration()
        .resource_configuration_identifier(
            "arn:aws:vpc-lattice:us-east-1:123456789012:resourcegateway/rgw-0123456789abcdefg",
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error().is_validation_exception(),
        "an ARN of the wrong type"
    );
}

#[tokio::test]
async fn port_ranges_are_validated() {
    let e = start().await;
    let c = &e.lattice;
    let (rgw, _) = gateway(c, "orders-gw").await;
    for bad in ["0", "65536", "80-70", "abc", "1-99999"] {
        let f = invalid_fields!(
            c.create_resource_configuration()
                .name("orders-db")
                .r#type(ResourceConfigurationType::Single)
                .resource_gateway_identifier(&rgw)
                .port_ranges(bad)
                .resource_configuration_definition(dns_definition("db.example.com"))
                .send(),
            CreateResourceConfigurationError::ValidationException
        );
        assert_eq!(f, ["portRanges"], "{bad}");
    }
    config(c, "orders-db", &rgw).await;
}

#[tokio::test]
async fn ip_resource_must_be_an_ip() {
    let e = start().await;
    let c = &e.lattice;
    let (rgw, _) = gateway(c, "orders-gw").await;
    let single = |ip: &str| {
        c.create_resource_configuration()
            .name("orders-ip")
            .r#type(ResourceConfigurationType::Single)
            .resource_gateway_identifier(&rgw)
            .port_ranges("3306")
            .resource_configuration_definition(ResourceConfigurationDefinition::IpResource(
                IpResource::builder().ip_address(ip).build(),
            ))
            .send()
    };
    let f = invalid_fields!(
        single("orders-db.example.com"),
        CreateResourceConfigurationError::ValidationException
    );
    assert_eq!(f, ["resourceConfigurationDefinition.ipResource.ipAddress"]);
    single("10.0.1.25").await.unwrap();
}

#[tokio::test]
async fn definition_union_needs_exactly_one_member() {
    let e = start().await;
    let (rgw, _) = gateway(&e.lattice, "orders-gw").await;
    // The SDK cannot send an empty or double union, so this goes over raw HTTP.
    for def in [
        json!({}),
        json!({"dnsResource": {"domainName": "db.example.com"}, "ipResource": {"ipAddress": "10.0.0.1"}}),
    ] {
        let body = json!({"name": "orders-db", "type": "SINGLE", "resourceGatewayIdentifier": rgw, "portRanges": ["3306"], "resourceConfigurationDefinition": def});
        let r = e
            .raw("POST", "/resourceconfigurations", Some(&body.to_string()))
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.header("x-amzn-ErrorType"), Some("ValidationException"));
        let j = r.json();
        assert_eq!(j["reason"], "fieldValidationFailed");
        assert_eq!(
            j["fieldList"][0]["name"], "resourceConfigurationDefinition",
            "{def}"
        );
    }
}

#[tokio::test]
async fn type_rules_are_validated() {
    let e = start().await;
    let c = &e.lattice;
    let (rgw, _) = gateway(c, "orders-gw").await;
    let arn_def = ResourceConfigurationDefinition::ArnResource(
        ArnResource::builder()
            .arn("arn:aws:rds:us-east-1:123456789012:db:orders-db")
            .build(),
    );
    let f = invalid_fields!(
        c.create_resource_configuration()
            .name("orders-arn")
            .r#type(ResourceConfigurationType::Arn)
            .resource_gateway_identifier(&rgw)
            .port_ranges("3306")
            .protocol(ProtocolType::Tcp)
            .resource_configuration_definition(arn_def.clone())
            .send(),
        CreateResourceConfigurationError::ValidationException
    );
    assert_eq!(
        f,
        ["portRanges", "protocol"],
        "ARN type takes no ports or protocol"
    );
    let arn_cfg = c
        .create_resource_configuration()
        .name("orders-arn")
        .r#type(ResourceConfigurationType::Arn)
        .resource_gateway_identifier(&rgw)
        .resource_configuration_definition(arn_def)
        .send()
        .await
        .unwrap();
    assert!(arn_cfg.protocol().is_none() && arn_cfg.port_ranges().is_empty());

    let f = invalid_fields!(
        c.create_resource_configuration()
            .name("orders-single")
            .r#type(ResourceConfigurationType::Single)
            .send(),
        CreateResourceConfigurationError::ValidationException
    );
    assert_eq!(
        f,
        [
            "resourceGatewayIdentifier",
            "portRanges",
            "resourceConfigurationDefinition"
        ]
    );

    // arnResource cannot be changed by an update.
    for _ in 0..2 {
        c.get_resource_configuration()
            .resource_configuration_identifier(arn_cfg.id().unwrap())
            .send()
            .await
            .unwrap();
    }
    let err = c
        .update_resource_configuration()
        .resource_configuration_identifier(arn_cfg.id().unwrap())
        .resource_configuration_definition(ResourceConfigurationDefinition::ArnResource(
            ArnResource::builder()
                .arn("arn:aws:rds:us-east-1:123456789012:db:other")
                .build(),
        ))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match err {
        UpdateResourceConfigurationError::ValidationException(v) => {
            assert_eq!(v.field_list()[0].name(), "resourceConfigurationDefinition")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn log_type_and_security_group_limits_are_validated() {
    let e = start().await;
    let c = &e.lattice;
    let (sn, _) = service_network(c, "orders-sn").await;
    let f = invalid_fields!(
        c.create_access_log_subscription()
            .resource_identifier(&sn)
            .destination_arn("arn:aws:logs:us-east-1:123456789012:log-group:/x")
            .service_network_log_type(ServiceNetworkLogType::from("BOGUS"))
            .send(),
        CreateAccessLogSubscriptionError::ValidationException
    );
    assert_eq!(f, ["serviceNetworkLogType"]);
    let six: Vec<String> = (1..=6).map(|i| format!("sg-0a1b2c3d4e5f6000{i}")).collect();
    let f = invalid_fields!(
        c.create_resource_gateway()
            .name("orders-gw")
            .vpc_identifier(VPC)
            .subnet_ids(SUBNETS[0])
            .set_security_group_ids(Some(six.clone()))
            .send(),
        CreateResourceGatewayError::ValidationException
    );
    assert_eq!(f, ["securityGroupIds"]);
    let f = invalid_fields!(
        c.create_service_network_vpc_association()
            .service_network_identifier(&sn)
            .vpc_identifier(VPC)
            .set_security_group_ids(Some(six))
            .send(),
        CreateServiceNetworkVpcAssociationError::ValidationException
    );
    assert_eq!(f, ["securityGroupIds"]);
    let f = invalid_fields!(
        c.list_service_networks().max_results(0).send(),
        ListServiceNetworksError::ValidationException
    );
    assert_eq!(f, ["maxResults"]);
}

#[tokio::test]
async fn unknown_routes_are_unknown_operations() {
    let e = start().await;
    let r = e.raw("GET", "/services", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-amzn-ErrorType"), Some("ValidationException"));
    assert_eq!(r.json()["reason"], "unknownOperation");
    let r = e.raw("PUT", "/servicenetworks", None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["reason"], "unknownOperation");
    let r = e.raw("POST", "/servicenetworks", Some("{not json")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["reason"], "cannotParse");
    let r = e.raw("GET", "/accesslogsubscriptions", None).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["fieldList"][0]["name"],
        "resourceIdentifier",
        "resourceIdentifier is required"
    );
}

#[tokio::test]
async fn lists_filter_and_paginate() {
    let e = start().await;
    let c = &e.lattice;
    let (sn1, _) = service_network(c, "sn-one").await;
    let (sn2, _) = service_network(c, "sn-two").await;
    for (sn, vpc) in [
        (&sn1, "vpc-00000000000000001"),
        (&sn1, "vpc-00000000000000002"),
        (&sn2, "vpc-00000000000000003"),
    ] {
        c.create_service_network_vpc_association()
            .service_network_identifier(sn)
            .vpc_identifier(vpc)
            .send()
            .await
            .unwrap();
    }
    let by_sn = c
        .list_service_network_vpc_associations()
        .service_network_identifier(&sn1)
        .send()
        .await
        .unwrap();
    assert_eq!(by_sn.items().len(), 2);
    assert!(by_sn
        .items()
        .iter()
        .all(|a| a.service_network_id() == Some(sn1.as_str())));
    assert_eq!(by_sn.items()[0].service_network_name(), Some("sn-one"));
    let by_vpc = c
        .list_service_network_vpc_associations()
        .vpc_identifier("vpc-00000000000000003")
        .send()
        .await
        .unwrap();
    assert_eq!(by_vpc.items().len(), 1);
    assert_eq!(by_vpc.items()[0].service_network_id(), Some(sn2.as_str()));
    let both = c
        .list_service_network_vpc_associations()
        .service_network_identifier(&sn2)
        .vpc_identifier("vpc-00000000000000001")
        .send()
        .await
        .unwrap();
    assert!(both.items().is_empty());

    let (gw1, _) = gateway(c, "gw-one").await;
    let (gw2, _) = gateway(c, "gw-two").await;
    let (cfg1, _) = config(c, "cfg-one", &gw1).await;
    config(c, "cfg-two", &gw2).await;
    let by_gw = c
        .list_resource_configurations()
        .resource_gateway_identifier(&gw1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_gw
            .items()
            .iter()
            .map(|i| i.id().unwrap())
            .collect::<Vec<_>>(),
        [cfg1.as_str()]
    );
    c.create_service_network_resource_association()
        .service_network_identifier(&sn1)
        .resource_configuration_identifier(&cfg1)
        .send()
        .await
        .unwrap();
    c.create_service_network_resource_association()
        .service_network_identifier(&sn2)
        .resource_configuration_identifier(&cfg1)
        .send()
        .await
        .unwrap();
    let by_rcfg = c
        .list_service_network_resource_associations()
        .resource_configuration_identifier(&cfg1)
        .send()
        .await
        .unwrap();
    assert_eq!(by_rcfg.items().len(), 2);
    let by_both = c
        .list_service_network_resource_associations()
        .resource_configuration_identifier(&cfg1)
        .service_network_identifier(&sn2)
        .send()
        .await
        .unwrap();
    assert_eq!(by_both.items().len(), 1);
    assert_eq!(by_both.items()[0].service_network_name(), Some("sn-two"));

    for i in 3..=5 {
        service_network(c, &format!("sn-{i}")).await;
    }
    let mut names = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = c
            .list_service_networks()
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(page.items().len() <= 2);
        names.extend(page.items().iter().map(|i| i.name().unwrap().to_string()));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        ["sn-one", "sn-two", "sn-3", "sn-4", "sn-5"],
        "creation order"
    );
    let all: Vec<_> = c
        .list_service_networks()
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
}

#[tokio::test]
async fn tags_round_trip() {
    let e = start().await;
    let c = &e.lattice;
    let created = c
        .create_resource_gateway()
        .name("orders-gw")
        .vpc_identifier(VPC)
        .subnet_ids(SUBNETS[0])
        .tags("lattice-db-access:deployment", "orders")
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap();
    let tags = c
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags()
            .unwrap()
            .get("lattice-db-access:deployment")
            .map(String::as_str),
        Some("orders")
    );
    c.tag_resource()
        .resource_arn(arn)
        .tags("team", "db")
        .tags("env", "test")
        .send()
        .await
        .unwrap();
    c.untag_resource()
        .resource_arn(arn)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let tags = c
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    let mut keys: Vec<_> = tags.tags().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["lattice-db-access:deployment", "team"]);
    let st = e.state().await;
    assert_eq!(st["resourceGateways"][0]["tags"]["team"], "db");
}

#[tokio::test]
async fn access_log_subscriptions_round_trip() {
    let e = start().await;
    let c = &e.lattice;
    let (sn, sn_arn) = service_network(c, "orders-sn").await;
    let dest = "arn:aws:logs:us-east-1:123456789012:log-group:/lattice/orders";
    let created = c
        .create_access_log_subscription()
        .resource_identifier(&sn_arn)
        .destination_arn(dest)
        .service_network_log_type(ServiceNetworkLogType::Resource)
        .send()
        .await
        .unwrap();
    assert_eq!(created.resource_id(), sn);
    assert_eq!(created.resource_arn(), sn_arn);
    assert_eq!(
        created.service_network_log_type().map(|t| t.as_str()),
        Some("RESOURCE")
    );
    let listed = c
        .list_access_log_subscriptions()
        .resource_identifier(&sn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.items().len(), 1);
    let dest2 = "arn:aws:logs:us-east-1:123456789012:log-group:/lattice/orders-2";
    let up = c
        .update_access_log_subscription()
        .access_log_subscription_identifier(created.id())
        .destination_arn(dest2)
        .send()
        .await
        .unwrap();
    assert_eq!(up.destination_arn(), dest2);
    let got = c
        .get_access_log_subscription()
        .access_log_subscription_identifier(created.arn())
        .send()
        .await
        .unwrap();
    assert_eq!(got.destination_arn(), dest2);
    c.delete_access_log_subscription()
        .access_log_subscription_identifier(created.id())
        .send()
        .await
        .unwrap();
    let err = c
        .get_access_log_subscription()
        .access_log_subscription_identifier(created.id())
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    c.delete_service_network()
        .service_network_identifier(&sn)
        .send()
        .await
        .unwrap();
}
