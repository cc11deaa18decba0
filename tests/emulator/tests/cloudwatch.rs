//! CloudWatch over Smithy RPC v2 CBOR, driven through the real `aws-sdk-cloudwatch` client.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::operation::put_dashboard::PutDashboardError;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StateValue, Statistic, Tag};
use common::*;
use serde_json::json;

const BODY: &str = r#"{"widgets":[{"type":"metric","properties":{"metrics":[["AWS/RDS","CPUUtilization","DBInstanceIdentifier","orders-db"]]}}]}"#;

#[tokio::test]
async fn dashboards_round_trip() {
    let e = start().await;
    let cw = &e.cw;
    let put = cw
        .put_dashboard()
        .dashboard_name("orders")
        .dashboard_body(BODY)
        .send()
        .await
        .unwrap();
    assert!(put.dashboard_validation_messages().is_empty());
    cw.put_dashboard()
        .dashboard_name("payments")
        .dashboard_body(BODY)
        .send()
        .await
        .unwrap();

    let got = cw
        .get_dashboard()
        .dashboard_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(got.dashboard_body(), Some(BODY));
    assert_eq!(got.dashboard_name(), Some("orders"));
    assert_eq!(
        got.dashboard_arn(),
        Some("arn:aws:cloudwatch::123456789012:dashboard/orders")
    );

    let listed = cw.list_dashboards().send().await.unwrap();
    let names: Vec<_> = listed
        .dashboard_entries()
        .iter()
        .map(|d| d.dashboard_name().unwrap())
        .collect();
    assert_eq!(names, ["orders", "payments"]);
    let entry = &listed.dashboard_entries()[0];
    assert_eq!(entry.size(), Some(BODY.len() as i64));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let modified = entry
        .last_modified()
        .expect("LastModified decodes from CBOR tag 1")
        .secs();
    assert!((now - modified).abs() < 60, "{modified} vs {now}");
    let prefixed = cw
        .list_dashboards()
        .dashboard_name_prefix("pay")
        .send()
        .await
        .unwrap();
    assert_eq!(prefixed.dashboard_entries().len(), 1);

    cw.delete_dashboards()
        .dashboard_names("orders")
        .send()
        .await
        .unwrap();
    let err = cw
        .get_dashboard()
        .dashboard_name("orders")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_dashboard_not_found_error(), "{err:?}");
    assert_eq!(err.code(), Some("ResourceNotFound"));
}

#[tokio::test]
async fn dashboard_errors_map_to_sdk_errors() {
    let e = start().await;
    let cw = &e.cw;
    for body in ["not json", "{}", r#"{"widgets": {}}"#, "[]"] {
        let err = cw
            .put_dashboard()
            .dashboard_name("orders")
            .dashboard_body(body)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        match err {
            PutDashboardError::DashboardInvalidInputError(d) => {
                assert!(!d.dashboard_validation_messages().is_empty(), "{body}");
                assert_eq!(d.meta().code(), Some("InvalidParameterInput"));
            }
            other => panic!("{body}: {other:?}"),
        }
    }
    // DeleteDashboards does not model the not-found error in this SDK: it arrives by code.
    let err = cw
        .delete_dashboards()
        .dashboard_names("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ResourceNotFound"));
    assert!(err.message().unwrap().contains("missing"));
    let calls = e.calls().await;
    assert_eq!(calls.last().unwrap()["status"], 404);

    // Wire details: the protocol header, CBOR content type and the query-compatible error header.
    let r = e
        .raw(
            "POST",
            "/service/GraniteServiceVersion20100801/operation/GetDashboard",
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("smithy-protocol"), Some("rpc-v2-cbor"));
    assert_eq!(r.header("content-type"), Some("application/cbor"));
    assert_eq!(
        r.header("x-amzn-query-error"),
        Some("MissingParameter;Sender")
    );
    let ok = e
        .raw(
            "POST",
            "/service/GraniteServiceVersion20100801/operation/ListDashboards",
            None,
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("smithy-protocol"), Some("rpc-v2-cbor"));
    let r = e
        .raw(
            "POST",
            "/service/GraniteServiceVersion20100801/operation/PutMetricData",
            None,
        )
        .await;
    assert_eq!(
        r.status, 404,
        "operations outside the emulated set are refused"
    );
}

fn alarm(
    cw: &aws_sdk_cloudwatch::Client,
    name: &str,
) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    cw.put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/RDS")
        .metric_name("CPUUtilization")
        .dimensions(
            Dimension::builder()
                .name("DBInstanceIdentifier")
                .value("orders-db")
                .build(),
        )
        .statistic(Statistic::Average)
        .period(300)
        .evaluation_periods(3)
        .threshold(80.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("notBreaching")
}

#[tokio::test]
async fn alarms_round_trip() {
    let e = start().await;
    let cw = &e.cw;
    alarm(cw, "orders-cpu")
        .tags(
            Tag::builder()
                .key("lattice-db-access:deployment")
                .value("orders")
                .build(),
        )
        .alarm_actions("arn:aws:sns:us-east-1:123456789012:ops")
        .send()
        .await
        .unwrap();
    alarm(cw, "orders-storage")
        .threshold(1e9)
        .comparison_operator(ComparisonOperator::LessThanThreshold)
        .send()
        .await
        .unwrap();
    alarm(cw, "payments-cpu").send().await.unwrap();

    let d = cw
        .describe_alarms()
        .alarm_names("orders-cpu")
        .send()
        .await
        .unwrap();
    assert_eq!(d.metric_alarms().len(), 1);
    let a = &d.metric_alarms()[0];
    assert_eq!(a.alarm_name(), Some("orders-cpu"));
    assert_eq!(
        a.alarm_arn(),
        Some("arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-cpu")
    );
    assert_eq!(
        a.state_value(),
        Some(&StateValue::InsufficientData),
        "new alarms start INSUFFICIENT_DATA"
    );
    assert_eq!(a.threshold(), Some(80.0));
    assert_eq!(a.period(), Some(300));
    assert_eq!(a.evaluation_periods(), Some(3));
    assert_eq!(
        a.comparison_operator(),
        Some(&ComparisonOperator::GreaterThanThreshold)
    );
    assert_eq!(a.treat_missing_data(), Some("notBreaching"));
    assert_eq!(a.dimensions()[0].value(), Some("orders-db"));
    assert_eq!(
        a.alarm_actions(),
        ["arn:aws:sns:us-east-1:123456789012:ops"]
    );
    assert!(a.state_updated_timestamp().is_some());
    assert!(a.alarm_configuration_updated_timestamp().is_some());

    let by_prefix = cw
        .describe_alarms()
        .alarm_name_prefix("orders-")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = by_prefix
        .metric_alarms()
        .iter()
        .map(|a| a.alarm_name().unwrap())
        .collect();
    assert_eq!(names, ["orders-cpu", "orders-storage"]);
    let page = cw.describe_alarms().max_records(2).send().await.unwrap();
    assert_eq!(page.metric_alarms().len(), 2);
    let rest = cw
        .describe_alarms()
        .max_records(2)
        .set_next_token(page.next_token().map(str::to_string))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.metric_alarms()[0].alarm_name(), Some("payments-cpu"));
    assert!(rest.next_token().is_none());

    // Tags are stored (and readable through ListTagsForResource).
    let tags = cw
        .list_tags_for_resource()
        .resource_arn(a.alarm_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].value(), Some("orders"));
    let st = e.state().await;
    assert_eq!(
        st["alarms"][0]["tags"]["lattice-db-access:deployment"],
        "orders"
    );
    assert_eq!(st["alarms"][0]["StateValue"], "INSUFFICIENT_DATA");

    // Re-putting updates the configuration.
    alarm(cw, "orders-cpu")
        .threshold(90.0)
        .send()
        .await
        .unwrap();
    let d = cw
        .describe_alarms()
        .alarm_names("orders-cpu")
        .send()
        .await
        .unwrap();
    assert_eq!(d.metric_alarms()[0].threshold(), Some(90.0));

    cw.delete_alarms()
        .alarm_names("orders-cpu")
        .alarm_names("orders-storage")
        .send()
        .await
        .unwrap();
    let left = cw.describe_alarms().send().await.unwrap();
    assert_eq!(left.metric_alarms().len(), 1);
    let err = cw
        .delete_alarms()
        .alarm_names("orders-cpu")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found(), "{err:?}");
}

#[tokio::test]
async fn alarm_validation_errors() {
    let e = start().await;
    let cw = &e.cw;
    let err = alarm(cw, "bad")
        .comparison_operator(ComparisonOperator::from("Bogus"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    let err = alarm(cw, "bad")
        .period(45)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    for ok in [10, 30, 60, 3600] {
        alarm(cw, &format!("ok-{ok}"))
            .period(ok)
            .send()
            .await
            .unwrap();
    }
    let err = alarm(cw, "bad")
        .evaluation_periods(0)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    let err = alarm(cw, "bad")
        .treat_missing_data("sometimes")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().code(),
        Some("InvalidParameterValue")
    );
    assert_eq!(
        e.state().await["alarms"].as_array().unwrap().len(),
        4,
        "failed puts store nothing"
    );
    let calls = e.calls().await;
    assert!(calls.iter().all(|c| c["service"] == "cloudwatch"));
    let first = &calls[0];
    assert_eq!(first["op"], "PutMetricAlarm");
    assert_eq!(first["status"], 400);
    assert_eq!(first["input"]["ComparisonOperator"], "Bogus");
    assert_eq!(first["input"]["Threshold"], json!(80.0));
}

#[tokio::test]
async fn cloudwatch_region_comes_from_sigv4() {
    let e = start().await;
    alarm(&e.cw, "orders-cpu").send().await.unwrap();
    let st = e.state().await;
    assert_eq!(st["alarms"][0]["region"], "us-east-1");
    assert_eq!(e.calls().await[0]["region"], "us-east-1");
}
