//! The `/_emu/*` control API and the CLI binary.

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_vpclattice::operation::create_resource_gateway::CreateResourceGatewayError;
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn fail_next_throttling_surfaces_through_the_sdk() {
    let e = start().await;
    let no_retry = lattice_client(&e.server.url(), "us-east-1", false);
    e.control(
        "POST",
        "/_emu/fail-next",
        json!({"op": "CreateResourceGateway", "error": "ThrottlingException", "count": 1}),
    )
    .await;
    let err = no_retry
        .create_resource_gateway()
        .name("orders-gw")
        .vpc_identifier(VPC)
        .subnet_ids(SUBNETS[0])
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match &err {
        CreateResourceGatewayError::ThrottlingException(t) => {
            assert_eq!(t.retry_after_seconds(), Some(1))
        }
        other => panic!("{other:?}"),
    }
    // Only the next `count` calls fail.
    gateway(&no_retry, "orders-gw").await;
    let calls = e.calls().await;
    let statuses: Vec<_> = calls
        .iter()
        .map(|c| (c["op"].clone(), c["status"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (json!("CreateResourceGateway"), json!(429)),
            (json!("CreateResourceGateway"), json!(201))
        ]
    );

    let r = {
        e.control(
            "POST",
            "/_emu/fail-next",
            json!({"op": "ListResourceGateways", "error": "ThrottlingException"}),
        )
        .await;
        e.raw("GET", "/resourcegateways", None).await
    };
    assert_eq!(r.status, 429);
    assert_eq!(r.header("Retry-After"), Some("1"));
    assert_eq!(r.header("x-amzn-ErrorType"), Some("ThrottlingException"));
}

#[tokio::test]
async fn fail_next_internal_and_conflict() {
    let e = start().await;
    // With SDK retries on, an injected 500 is retried transparently.
    e.control(
        "POST",
        "/_emu/fail-next",
        json!({"op": "CreateServiceNetwork", "error": "InternalServerException"}),
    )
    .await;
    service_network(&e.lattice, "orders-sn").await;
    let calls = e.calls().await;
    assert_eq!(
        calls
            .iter()
            .map(|c| c["status"].clone())
            .collect::<Vec<_>>(),
        [json!(500), json!(201)]
    );

    e.control(
        "POST",
        "/_emu/fail-next",
        json!({"op": "CreateServiceNetwork", "error": "ConflictException", "count": 2}),
    )
    .await;
    for _ in 0..2 {
        let err = e
            .lattice
            .create_service_network()
            .name("other-sn")
            .send()
            .await
            .unwrap_err();
        assert!(err.into_service_error().is_conflict_exception());
    }
    service_network(&e.lattice, "other-sn").await;

    // CloudWatch ops take injections too, in CloudWatch's own error codes.
    let cw = cloudwatch_client(&e.server.url(), false);
    e.control(
        "POST",
        "/_emu/fail-next",
        json!({"op": "PutDashboard", "error": "ThrottlingException"}),
    )
    .await;
    let err = cw
        .put_dashboard()
        .dashboard_name("d")
        .dashboard_body(r#"{"widgets":[]}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("Throttling"));
    cw.put_dashboard()
        .dashboard_name("d")
        .dashboard_body(r#"{"widgets":[]}"#)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn force_status_drives_failures_and_restarts() {
    let e = start().await;
    let c = &e.lattice;
    let (rgw, _) = gateway(c, "orders-gw").await;
    let (rcfg, rcfg_arn) = config(c, "orders-db", &rgw).await;
    e.control(
        "POST",
        "/_emu/force-status",
        json!({"id": rcfg_arn, "status": "CREATE_FAILED", "failureReason": "DNS name does not resolve"}),
    )
    .await;
    for _ in 0..3 {
        let got = c
            .get_resource_configuration()
            .resource_configuration_identifier(&rcfg)
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.status().unwrap().as_str(),
            "CREATE_FAILED",
            "a forced terminal status sticks"
        );
        assert_eq!(got.failure_reason(), Some("DNS name does not resolve"));
    }
    // A failed resource can be deleted (it is not in progress).
    e.control(
        "POST",
        "/_emu/force-status",
        json!({"id": rgw, "status": "UPDATE_IN_PROGRESS"}),
    )
    .await;
    let get = || {
        c.get_resource_gateway()
            .resource_gateway_identifier(&rgw)
            .send()
    };
    assert_eq!(
        get().await.unwrap().status().unwrap().as_str(),
        "UPDATE_IN_PROGRESS"
    );
    assert_eq!(
        get().await.unwrap().status().unwrap().as_str(),
        "ACTIVE",
        "a forced in-progress status settles"
    );

    let bad = e
        .raw(
            "POST",
            "/_emu/force-status",
            Some(&json!({"id": rgw, "status": "PARTIAL"}).to_string()),
        )
        .await;
    assert_eq!(bad.status, 400);
    let (sn, _) = service_network(c, "orders-sn").await;
    let bad = e
        .raw(
            "POST",
            "/_emu/force-status",
            Some(&json!({"id": sn, "status": "ACTIVE"}).to_string()),
        )
        .await;
    assert_eq!(bad.status, 400, "service networks have no status");
    let missing = e
        .raw(
            "POST",
            "/_emu/force-status",
            Some(&json!({"id": "rgw-0123456789abcdefg", "status": "ACTIVE"}).to_string()),
        )
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn config_changes_polls_to_active_at_runtime() {
    let e = start().await;
    let c = &e.lattice;
    assert_eq!(
        e.control("GET", "/_emu/config", Value::Null).await["pollsToActive"],
        2
    );
    e.control("POST", "/_emu/config", json!({"pollsToActive": 0}))
        .await;
    let created = c
        .create_resource_gateway()
        .name("instant-gw")
        .vpc_identifier(VPC)
        .subnet_ids(SUBNETS[0])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().unwrap().as_str(), "ACTIVE");
    e.control("POST", "/_emu/config", json!({"pollsToActive": 3}))
        .await;
    let (rgw, _) = gateway(c, "slow-gw").await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let g = c
            .get_resource_gateway()
            .resource_gateway_identifier(&rgw)
            .send()
            .await
            .unwrap();
        seen.push(g.status().unwrap().as_str().to_string());
    }
    assert_eq!(seen, ["CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS", "ACTIVE"]);
    let bad = e
        .raw("POST", "/_emu/config", Some(r#"{"pollsToActive": -1}"#))
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn state_dump_and_reset() {
    let e = start().await;
    let c = &e.lattice;
    let (sn, _) = service_network(c, "orders-sn").await;
    let (rgw, _) = gateway(c, "orders-gw").await;
    e.cw.put_dashboard()
        .dashboard_name("orders")
        .dashboard_body(r#"{"widgets":[]}"#)
        .send()
        .await
        .unwrap();
    let st = e.state().await;
    assert_eq!(st["serviceNetworks"][0]["id"], sn.as_str());
    assert!(
        st["serviceNetworks"][0].get("status").is_none(),
        "service networks have no status"
    );
    assert_eq!(st["resourceGateways"][0]["id"], rgw.as_str());
    assert_eq!(st["resourceGateways"][0]["status"], "CREATE_IN_PROGRESS");
    assert_eq!(st["resourceGateways"][0]["observationsLeft"], 2);
    assert_eq!(st["dashboards"][0]["DashboardName"], "orders");
    assert_eq!(st["config"]["pollsToActive"], 2);
    // Reading the state is not an observation.
    assert_eq!(
        e.state().await["resourceGateways"][0]["observationsLeft"],
        2
    );

    e.control("POST", "/_emu/reset", Value::Null).await;
    let st = e.state().await;
    assert!(st["serviceNetworks"].as_array().unwrap().is_empty());
    assert!(st["dashboards"].as_array().unwrap().is_empty());
    assert!(e.calls().await.is_empty());
    let err = c
        .get_service_network()
        .service_network_identifier(&sn)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn calls_log_is_ordered_with_parsed_inputs() {
    let e = start().await;
    let c = &e.lattice;
    let (rgw, _) = gateway(c, "orders-gw").await;
    c.get_resource_gateway()
        .resource_gateway_identifier(&rgw)
        .send()
        .await
        .unwrap();
    c.list_resource_configurations()
        .resource_gateway_identifier(&rgw)
        .max_results(5)
        .send()
        .await
        .unwrap();
    let (rcfg, _) = config(c, "orders-db", &rgw).await;
    for _ in 0..2 {
        c.get_resource_configuration()
            .resource_configuration_identifier(&rcfg)
            .send()
            .await
            .unwrap();
    }
    c.update_resource_configuration()
        .resource_configuration_identifier(&rcfg)
        .resource_configuration_definition(dns_definition("replica.example.com"))
        .send()
        .await
        .unwrap();
    e.cw.list_dashboards().send().await.unwrap();
    let (arn_rgw, _) = (
        format!("arn:aws:vpc-lattice:us-east-1:123456789012:resourcegateway/{rgw}"),
        (),
    );
    c.untag_resource()
        .resource_arn(&arn_rgw)
        .tag_keys("a")
        .tag_keys("b")
        .send()
        .await
        .unwrap();

    let calls = e.calls().await;
    let ops: Vec<&str> = calls.iter().map(|c| c["op"].as_str().unwrap()).collect();
    assert_eq!(
        ops,
        [
            "CreateResourceGateway",
            "GetResourceGateway",
            "ListResourceConfigurations",
            "CreateResourceConfiguration",
            "GetResourceConfiguration",
            "GetResourceConfiguration",
            "UpdateResourceConfiguration",
            "ListDashboards",
            "UntagResource",
        ]
    );
    let seqs: Vec<u64> = calls.iter().map(|c| c["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
    assert_eq!(calls[0]["service"], "vpc-lattice");
    assert_eq!(calls[0]["input"]["name"], "orders-gw");
    assert_eq!(calls[0]["input"]["subnetIds"], json!(SUBNETS));
    assert_eq!(calls[1]["input"]["resourceGatewayIdentifier"], rgw.as_str());
    assert_eq!(calls[2]["input"]["maxResults"], 5);
    let update = &calls[6];
    assert_eq!(update["status"], 200);
    assert_eq!(
        update["input"]["resourceConfigurationIdentifier"],
        rcfg.as_str()
    );
    assert_eq!(
        update["input"]["resourceConfigurationDefinition"]["dnsResource"]["domainName"],
        "replica.example.com"
    );
    assert_eq!(calls[7]["service"], "cloudwatch");
    assert_eq!(calls[8]["input"]["resourceArn"], arn_rgw.as_str());
    assert_eq!(calls[8]["input"]["tagKeys"], json!(["a", "b"]));
}

#[tokio::test]
async fn binary_prints_its_address_and_serves() {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_lattice-emulator"))
            .args(["--port", "0", "--polls-to-active", "1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn emulator binary"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        line
    })
    .await
    .unwrap();
    let line = line.trim_end();
    let addr = line
        .strip_prefix("listening on 127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    let port: u16 = addr.parse().expect("a port");
    assert_ne!(port, 0);
    let client = lattice_client(&format!("http://127.0.0.1:{port}"), "us-east-1", true);
    let (rgw, _) = gateway(&client, "orders-gw").await;
    let g = client
        .get_resource_gateway()
        .resource_gateway_identifier(&rgw)
        .send()
        .await
        .unwrap();
    assert_eq!(
        g.status().unwrap().as_str(),
        "ACTIVE",
        "--polls-to-active 1: ACTIVE on the first Get"
    );
    drop(child);
}

/// Stops the spawned binary even when an assertion fails first.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn delay_next_holds_only_the_next_calls_of_that_operation() {
    use std::time::{Duration, Instant};
    let e = start().await;
    let lattice = lattice_client(&e.server.url(), "us-east-1", false);
    e.control(
        "POST",
        "/_emu/delay-next",
        json!({"op": "CreateResourceGateway", "ms": 2000}),
    )
    .await;
    e.control(
        "POST",
        "/_emu/delay-next",
        json!({"op": "PutDashboard", "ms": 2000}),
    )
    .await;

    // Another operation is served at once while a delay is pending.
    let t = Instant::now();
    lattice.list_resource_gateways().send().await.unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );

    let t = Instant::now();
    gateway(&lattice, "orders-gw").await;
    assert!(
        t.elapsed() >= Duration::from_millis(2000),
        "{:?}",
        t.elapsed()
    );
    let t = Instant::now();
    gateway(&lattice, "payments-gw").await;
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "only one call: {:?}",
        t.elapsed()
    );

    let t = Instant::now();
    e.cw.put_dashboard()
        .dashboard_name("orders")
        .dashboard_body("{\"widgets\":[]}")
        .send()
        .await
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(2000),
        "{:?}",
        t.elapsed()
    );

    // A delayed call is still served normally (it is in the call log, with its status).
    let ops: Vec<_> = e.calls().await.iter().map(|c| c["op"].clone()).collect();
    assert_eq!(
        ops,
        [
            json!("ListResourceGateways"),
            json!("CreateResourceGateway"),
            json!("CreateResourceGateway"),
            json!("PutDashboard")
        ]
    );
    let bad = e
        .raw(
            "POST",
            "/_emu/delay-next",
            Some(r#"{"op": "PutDashboard", "ms": 60001}"#),
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn dataplane_maps_are_validated_kept_and_cleared_by_reset_and_sync_needs_moto() {
    let e = start().await;
    let bad = e
        .raw(
            "POST",
            "/_emu/dataplane/clients",
            Some(r#"{"networkInterfaceId": "i-1"}"#),
        )
        .await;
    assert_eq!(bad.status, 400, "only an ENI id names a client");
    let bad = e
        .raw(
            "POST",
            "/_emu/dataplane/hosts",
            Some(r#"{"name": "db.example", "ip": "db"}"#),
        )
        .await;
    assert_eq!(bad.status, 400);
    let bad = e
        .raw(
            "POST",
            "/_emu/dataplane/network",
            Some(r#"{"ip": "10.0.1.10", "port": 3306, "address": "127.0.0.1:1"}"#),
        )
        .await;
    assert_eq!(bad.status, 400, "the DB instance is required");
    e.control(
        "POST",
        "/_emu/dataplane/clients",
        json!({"networkInterfaceId": "eni-1"}),
    )
    .await;
    e.control(
        "POST",
        "/_emu/dataplane/clients",
        json!({"networkInterfaceId": "eni-1"}),
    )
    .await;
    e.control(
        "POST",
        "/_emu/dataplane/hosts",
        json!({"name": "Orders-DB.x.us-east-1.rds.amazonaws.com", "ip": "10.0.1.10"}),
    )
    .await;
    e.control(
        "POST",
        "/_emu/dataplane/network",
        json!({"ip": "10.0.1.10", "port": 3306, "address": "127.0.0.1:4000", "dbInstanceIdentifier": "orders-db"}),
    )
    .await;
    let dp = e.control("GET", "/_emu/dataplane", Value::Null).await;
    assert_eq!(dp["enabled"], false, "started without --moto");
    assert_eq!(dp["clients"], json!(["eni-1"]), "registered once");
    assert_eq!(
        dp["hosts"]["orders-db.x.us-east-1.rds.amazonaws.com"], "10.0.1.10",
        "DNS names are case-insensitive"
    );
    assert_eq!(dp["network"][0]["address"], "127.0.0.1:4000");
    e.control(
        "POST",
        "/_emu/dataplane/hosts",
        json!({"name": "orders-db.x.us-east-1.rds.amazonaws.com", "ip": null}),
    )
    .await;
    let dp = e.control("GET", "/_emu/dataplane", Value::Null).await;
    assert_eq!(dp["hosts"], json!({}), "a null ip removes the name");
    assert_eq!(
        e.raw("POST", "/_emu/dataplane/sync", Some("{}"))
            .await
            .status,
        409
    );
    e.control("POST", "/_emu/reset", Value::Null).await;
    let dp = e.control("GET", "/_emu/dataplane", Value::Null).await;
    assert_eq!(
        (dp["clients"].clone(), dp["network"].clone()),
        (json!([]), json!([]))
    );
}
