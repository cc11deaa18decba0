//! Step 8: observability for the deployment.
//! - a log group (30-day retention) fed by a RESOURCE access-log subscription on
//!   the service network (recipe bug #12: it made the group and never wired it;
//!   resource-configuration traffic is only logged with log type RESOURCE);
//! - a dashboard on metrics that exist for this setup (recipe bug #13:
//!   `AWS/VpcLattice RequestCount` has no data for TCP resource configurations),
//!   plus a Logs Insights widget over the access logs;
//! - CPU and (instances) free-storage alarms, notifying the stack's alarm topic.
//!
//! The stack passes its alarm topic and its KMS key in the environment ([`Settings`]): the alarms
//! notify the topic, and the log group is encrypted with the key like the stack's own groups.

use std::collections::HashMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic, Tag};
use aws_sdk_vpclattice::types::{AccessLogSubscriptionSummary, ServiceNetworkLogType};
use serde_json::{json, Value};
use shared::plan::{client_token, DbKind, MonitoringOut, Plan, ServiceNetworkOut};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "monitoring";

/// What this step reads from the execution state; a section missing there fails at the
/// state boundary, naming it ([`shared::runtime::invoke_step`]).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The validated plan (ValidateInput).
    pub plan: shared::plan::Plan,
    /// The service network and its VPC associations.
    pub service_network: shared::plan::ServiceNetworkOut,
}
pub const RETENTION_DAYS: i32 = 30;
/// Dashboard and alarm period (seconds); RDS publishes every 60 s.
const PERIOD: i32 = 300;

/// The SNS topic the alarms notify (template.yaml: the stack's `AlarmTopic`).
pub const ALARM_TOPIC_ENV: &str = "ALARM_TOPIC_ARN";
/// The KMS key that encrypts the access-log group (template.yaml: the stack's `OperationsKey`).
pub const LOG_KMS_KEY_ENV: &str = "LOG_KMS_KEY_ARN";

/// What the stack tells the function through its environment. Both are set in template.yaml;
/// unset (local runs) the alarms notify no one and the group uses CloudWatch Logs' own
/// encryption, and every invocation logs a warning saying so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub alarm_topic_arn: Option<String>,
    pub log_kms_key_arn: Option<String>,
}

impl Settings {
    /// From the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// From `lookup` (an empty value counts as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Self {
            alarm_topic_arn: get(ALARM_TOPIC_ENV),
            log_kms_key_arn: get(LOG_KMS_KEY_ENV),
        }
    }

    fn warn_if_unset(&self) {
        if self.alarm_topic_arn.is_none() {
            tracing::warn!(
                env = ALARM_TOPIC_ENV,
                "not set: the database alarms will notify no one"
            );
        }
        if self.log_kms_key_arn.is_none() {
            tracing::warn!(
                env = LOG_KMS_KEY_ENV,
                "not set: the access-log group is not encrypted with the stack's key"
            );
        }
    }
}

pub async fn handle(
    lattice: &aws_sdk_vpclattice::Client,
    logs: &aws_sdk_cloudwatchlogs::Client,
    cw: &aws_sdk_cloudwatch::Client,
    settings: &Settings,
    input: Input,
) -> Result<MonitoringOut, StepError> {
    let plan = &input.plan;
    let sn = &input.service_network;
    let log_group_arn = log_group_arn(&sn.arn, &plan.region, &plan.names.log_group)?;
    settings.warn_if_unset();

    ensure_log_group(
        logs,
        plan,
        &log_group_arn,
        settings.log_kms_key_arn.as_deref(),
    )
    .await?;
    let subscription_id = ensure_subscription(lattice, plan, sn, &log_group_arn).await?;
    put_dashboard(cw, plan).await?;
    let alarm_names = put_alarms(cw, plan, settings.alarm_topic_arn.as_deref()).await?;

    Ok(MonitoringOut {
        log_group_name: plan.names.log_group.clone(),
        log_group_arn,
        access_log_subscription_id: subscription_id,
        dashboard_name: plan.names.dashboard.clone(),
        alarm_names,
    })
}

/// `arn:<partition>:logs:<region>:<account>:log-group:<name>`, with the partition
/// and account of the service network (the destination form Lattice expects).
fn log_group_arn(sn_arn: &str, region: &str, name: &str) -> Result<String, StepError> {
    let fields: Vec<&str> = sn_arn.splitn(6, ':').collect();
    match fields.as_slice() {
        ["arn", partition, _, _, account, _] if !partition.is_empty() && !account.is_empty() => Ok(
            format!("arn:{partition}:logs:{region}:{account}:log-group:{name}"),
        ),
        _ => Err(StepError::internal(format!(
            "the service network ARN `{sn_arn}` has no account field"
        ))),
    }
}

fn tag_map(plan: &Plan) -> HashMap<String, String> {
    shared::lattice::tag_map(&plan.tags, &plan.name, COMPONENT)
}

fn cw_tags(plan: &Plan) -> Vec<Tag> {
    shared::tags::resource_tags(&plan.tags, &plan.name, COMPONENT)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The access-log group, encrypted with `kms_key_arn` when given (the key policy lets CloudWatch
/// Logs use it for this account's log groups).
async fn ensure_log_group(
    logs: &aws_sdk_cloudwatchlogs::Client,
    plan: &Plan,
    arn: &str,
    kms_key_arn: Option<&str>,
) -> Result<(), StepError> {
    let name = &plan.names.log_group;
    // Create first: "already exists" is the lookup (a retry, or someone else's group under our
    // deterministic name), and its tags decide.
    shared::reconcile::ensure(
        COMPONENT,
        None,
        async || Ok(Some(())),
        async |()| {
            let tags = logs
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .aws("logs:ListTagsForResource")?;
            let current = tags.tags().cloned().unwrap_or_default();
            let desired = shared::tags::resource_tags(&plan.tags, &plan.name, COMPONENT);
            shared::reconcile::adoption(
                current.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                &plan.name,
                &desired,
                ("log group", name, arn),
            )?;
            tracing::info!(log_group = %name, "adopted existing log group");
            Ok(())
        },
        async || {
            logs.create_log_group()
                .log_group_name(name)
                .set_kms_key_id(kms_key_arn.map(String::from))
                .set_tags(Some(tag_map(plan)))
                .send()
                .await
                .aws("logs:CreateLogGroup")?;
            tracing::info!(log_group = %name, kms_key = kms_key_arn.unwrap_or("-"), "created log group");
            Ok(())
        },
    )
    .await?;
    logs.put_retention_policy()
        .log_group_name(name)
        .retention_in_days(RETENTION_DAYS)
        .send()
        .await
        .aws("logs:PutRetentionPolicy")?;
    Ok(())
}

/// Lattice may report the group with a `:*` suffix; compare without it.
fn same_destination(a: &str, b: &str) -> bool {
    a.trim_end_matches(":*") == b.trim_end_matches(":*")
}

/// The RESOURCE access-log subscription on the service network. Any such
/// subscription on our (already ownership-checked) service network is adopted.
async fn ensure_subscription(
    lattice: &aws_sdk_vpclattice::Client,
    plan: &Plan,
    sn: &ServiceNetworkOut,
    destination: &str,
) -> Result<String, StepError> {
    // A conflict: a concurrent attempt made it first (one subscription per log type).
    shared::reconcile::ensure(
        COMPONENT,
        find_resource_subscription(lattice, &sn.id).await?,
        async || find_resource_subscription(lattice, &sn.id).await,
        async |found| adopt_subscription(lattice, found, destination).await,
        async || {
            let out = lattice
                .create_access_log_subscription()
                .resource_identifier(&sn.id)
                .destination_arn(destination)
                .service_network_log_type(ServiceNetworkLogType::Resource)
                .set_tags(Some(tag_map(plan)))
                .client_token(client_token(
                    &plan.name,
                    COMPONENT,
                    &format!("{}|{destination}|RESOURCE", sn.id),
                ))
                .send()
                .await
                .aws("vpc-lattice:CreateAccessLogSubscription")?;
            tracing::info!(
                access_log_subscription_id = out.id(),
                service_network_id = %sn.id,
                destination,
                "created RESOURCE access-log subscription"
            );
            Ok(out.id().to_string())
        },
    )
    .await
}

async fn adopt_subscription(
    lattice: &aws_sdk_vpclattice::Client,
    found: AccessLogSubscriptionSummary,
    destination: &str,
) -> Result<String, StepError> {
    if !same_destination(found.destination_arn(), destination) {
        lattice
            .update_access_log_subscription()
            .access_log_subscription_identifier(found.id())
            .destination_arn(destination)
            .send()
            .await
            .aws("vpc-lattice:UpdateAccessLogSubscription")?;
        tracing::info!(
            access_log_subscription_id = found.id(),
            from = found.destination_arn(),
            to = destination,
            "repointed the existing RESOURCE access-log subscription"
        );
    } else {
        tracing::info!(
            access_log_subscription_id = found.id(),
            "adopted existing RESOURCE access-log subscription"
        );
    }
    Ok(found.id().to_string())
}

async fn find_resource_subscription(
    lattice: &aws_sdk_vpclattice::Client,
    sn_id: &str,
) -> Result<Option<AccessLogSubscriptionSummary>, StepError> {
    let items = lattice
        .list_access_log_subscriptions()
        .resource_identifier(sn_id)
        .into_paginator()
        .items()
        .send();
    shared::pages::first(items, "vpc-lattice:ListAccessLogSubscriptions", |s| {
        s.service_network_log_type() == Some(&ServiceNetworkLogType::Resource)
    })
    .await
}

/// The RDS dimension for the planned database.
fn db_dimension(plan: &Plan) -> (&'static str, &str) {
    let name = match plan.database.kind {
        DbKind::Instance => "DBInstanceIdentifier",
        DbKind::Cluster => "DBClusterIdentifier",
    };
    (name, plan.database.identifier.as_str())
}

/// The dashboard: RDS metrics (Lattice publishes none for resource
/// configurations) and a Logs Insights count over the resource access logs.
pub fn dashboard_body(plan: &Plan) -> Value {
    let (dim, id) = db_dimension(plan);
    let region = plan.region.as_str();
    let metric = |x: u32, title: &str, name: &str, stat: &str| {
        json!({
            "type": "metric",
            "x": x, "y": 0, "width": 8, "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "view": "timeSeries",
                "stat": stat,
                "period": PERIOD,
                "metrics": [["AWS/RDS", name, dim, id]]
            }
        })
    };
    let storage = match plan.database.kind {
        DbKind::Instance => metric(16, "Free storage (bytes)", "FreeStorageSpace", "Minimum"),
        DbKind::Cluster => metric(
            16,
            "Cluster volume used (bytes)",
            "VolumeBytesUsed",
            "Maximum",
        ),
    };
    json!({
        "widgets": [
            metric(0, "Database connections", "DatabaseConnections", "Maximum"),
            metric(8, "CPU utilization (%)", "CPUUtilization", "Average"),
            storage,
            {
                "type": "log",
                "x": 0, "y": 6, "width": 24, "height": 6,
                "properties": {
                    "title": "Connections through VPC Lattice (resource access logs, per 5 min)",
                    "region": region,
                    "view": "timeSeries",
                    "query": format!(
                        "SOURCE '{}' | stats count(*) as connections by bin(5m)",
                        plan.names.log_group
                    )
                }
            }
        ]
    })
}

async fn put_dashboard(cw: &aws_sdk_cloudwatch::Client, plan: &Plan) -> Result<(), StepError> {
    let out = cw
        .put_dashboard()
        .dashboard_name(&plan.names.dashboard)
        .dashboard_body(dashboard_body(plan).to_string())
        // Only applied when the dashboard is new; PutDashboard replaces the body either way.
        .set_tags(Some(cw_tags(plan)))
        .send()
        .await
        .aws("cloudwatch:PutDashboard")?;
    for m in out.dashboard_validation_messages() {
        tracing::warn!(
            data_path = m.data_path(),
            message = m.message(),
            "dashboard validation message"
        );
    }
    tracing::info!(dashboard = %plan.names.dashboard, "put dashboard");
    Ok(())
}

/// One alarm's definition (PutMetricAlarm replaces an alarm of the same name).
#[derive(Debug, Clone, PartialEq)]
struct AlarmSpec {
    name: String,
    description: String,
    metric: &'static str,
    statistic: Statistic,
    periods: i32,
    threshold: f64,
    comparison: ComparisonOperator,
}

fn alarm_specs(plan: &Plan) -> Vec<AlarmSpec> {
    let prefix = &plan.names.alarm_prefix;
    let db = &plan.database.identifier;
    let mut specs = vec![AlarmSpec {
        name: format!("{prefix}-db-cpu-high"),
        description: format!(
            "lattice-db-access `{}`: {db} CPU above 80% for 15 minutes",
            plan.name
        ),
        metric: "CPUUtilization",
        statistic: Statistic::Average,
        periods: 3,
        threshold: 80.0,
        comparison: ComparisonOperator::GreaterThanThreshold,
    }];
    // FreeStorageSpace is per instance; Aurora storage grows on its own.
    let allocated_gib = plan
        .database
        .settings
        .as_ref()
        .and_then(|s| s.allocated_storage);
    if let (DbKind::Instance, Some(gib)) = (plan.database.kind, allocated_gib) {
        specs.push(AlarmSpec {
            name: format!("{prefix}-db-storage-low"),
            description: format!(
                "lattice-db-access `{}`: {db} free storage below 10% of {gib} GiB",
                plan.name
            ),
            metric: "FreeStorageSpace",
            statistic: Statistic::Minimum,
            periods: 1,
            threshold: gib as f64 * 1024.0 * 1024.0 * 1024.0 * 0.1,
            comparison: ComparisonOperator::LessThanThreshold,
        });
    }
    specs
}

/// The alarms, notifying `topic_arn` when given.
async fn put_alarms(
    cw: &aws_sdk_cloudwatch::Client,
    plan: &Plan,
    topic_arn: Option<&str>,
) -> Result<Vec<String>, StepError> {
    let (dim, id) = db_dimension(plan);
    let mut names = Vec::new();
    for spec in alarm_specs(plan) {
        cw.put_metric_alarm()
            .alarm_name(&spec.name)
            .alarm_description(&spec.description)
            .namespace("AWS/RDS")
            .metric_name(spec.metric)
            .dimensions(Dimension::builder().name(dim).value(id).build())
            .statistic(spec.statistic.clone())
            .period(PERIOD)
            .evaluation_periods(spec.periods)
            .threshold(spec.threshold)
            .comparison_operator(spec.comparison.clone())
            .treat_missing_data("missing")
            .set_alarm_actions(topic_arn.map(|t| vec![t.to_string()]))
            // Only applied when the alarm is new.
            .set_tags(Some(cw_tags(plan)))
            .send()
            .await
            .aws("cloudwatch:PutMetricAlarm")?;
        tracing::info!(alarm = %spec.name, "put alarm");
        names.push(spec.name);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::put_dashboard::PutDashboardOutput;
    use aws_sdk_cloudwatch::operation::put_metric_alarm::{
        PutMetricAlarmInput, PutMetricAlarmOutput,
    };
    use aws_sdk_cloudwatchlogs::operation::create_log_group::CreateLogGroupOutput;
    use aws_sdk_cloudwatchlogs::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_cloudwatchlogs::operation::put_retention_policy::PutRetentionPolicyOutput;
    use aws_sdk_vpclattice::operation::create_access_log_subscription::CreateAccessLogSubscriptionOutput;
    use aws_sdk_vpclattice::operation::list_access_log_subscriptions::ListAccessLogSubscriptionsOutput;
    use aws_sdk_vpclattice::operation::update_access_log_subscription::UpdateAccessLogSubscriptionOutput;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use shared::plan::PlannedCreate;
    use shared::testing;

    /// The step as the state machine runs it: its typed input read from the execution state.
    async fn handle(
        lattice: &aws_sdk_vpclattice::Client,
        logs: &aws_sdk_cloudwatchlogs::Client,
        cw: &aws_sdk_cloudwatch::Client,
        settings: &Settings,
        state: testing::State,
    ) -> Result<shared::plan::MonitoringOut, StepError> {
        super::handle(lattice, logs, cw, settings, testing::typed(&state)).await
    }

    type Logs = aws_sdk_cloudwatchlogs::Client;
    type Lattice = aws_sdk_vpclattice::Client;
    type Cw = aws_sdk_cloudwatch::Client;

    const GROUP: &str = "/aws/vpclattice/lattice-db-access/orders";
    const GROUP_ARN: &str =
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpclattice/lattice-db-access/orders";
    const SN: &str = "sn-0123456789abcdefg";
    const ALS: &str = "als-0123456789abcdefg";
    const ALS_ARN: &str =
        "arn:aws:vpc-lattice:us-east-1:123456789012:accesslogsubscription/als-0123456789abcdefg";
    const SN_ARN: &str =
        "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetwork/sn-0123456789abcdefg";
    const TOPIC: &str =
        "arn:aws:sns:us-east-1:123456789012:lattice-db-access-AlarmTopic-AbCdEf012345";
    const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    /// What template.yaml passes.
    fn settings() -> Settings {
        Settings {
            alarm_topic_arn: Some(TOPIC.into()),
            log_kms_key_arn: Some(KEY.into()),
        }
    }

    fn summary(log_type: ServiceNetworkLogType, destination: &str) -> AccessLogSubscriptionSummary {
        AccessLogSubscriptionSummary::builder()
            .id(ALS)
            .arn(ALS_ARN)
            .resource_id(SN)
            .resource_arn(SN_ARN)
            .destination_arn(destination)
            .service_network_log_type(log_type)
            .created_at(timestamp())
            .last_updated_at(timestamp())
            .build()
            .unwrap()
    }

    fn timestamp() -> aws_sdk_vpclattice::primitives::DateTime {
        aws_sdk_vpclattice::primitives::DateTime::from_secs(1_800_000_000)
    }

    fn subscriptions(items: Vec<AccessLogSubscriptionSummary>) -> Rule {
        mock!(Lattice::list_access_log_subscriptions)
            .match_requests(|r| r.resource_identifier() == Some(SN))
            .then_output(move || {
                ListAccessLogSubscriptionsOutput::builder()
                    .set_items(Some(items.clone()))
                    .build()
                    .unwrap()
            })
    }

    fn create_subscription() -> Rule {
        mock!(Lattice::create_access_log_subscription)
            .match_requests(|r| {
                r.resource_identifier() == Some(SN)
                    && r.destination_arn() == Some(GROUP_ARN)
                    && r.service_network_log_type() == Some(&ServiceNetworkLogType::Resource)
                    && r.tags().is_some_and(|t| {
                        t.get(shared::tags::DEPLOYMENT).map(String::as_str) == Some("orders")
                    })
                    && r.client_token()
                        .is_some_and(|t| t.starts_with("orders-monitoring-"))
            })
            .then_output(|| {
                CreateAccessLogSubscriptionOutput::builder()
                    .id(ALS)
                    .arn(ALS_ARN)
                    .resource_id(SN)
                    .resource_arn(SN_ARN)
                    .destination_arn(GROUP_ARN)
                    .service_network_log_type(ServiceNetworkLogType::Resource)
                    .build()
                    .unwrap()
            })
    }

    fn updated() -> UpdateAccessLogSubscriptionOutput {
        UpdateAccessLogSubscriptionOutput::builder()
            .id(ALS)
            .arn(ALS_ARN)
            .resource_id(SN)
            .resource_arn(SN_ARN)
            .destination_arn(GROUP_ARN)
            .build()
            .unwrap()
    }

    fn create_group() -> Rule {
        mock!(Logs::create_log_group)
            .match_requests(|r| {
                r.log_group_name() == Some(GROUP)
                    && r.kms_key_id() == Some(KEY)
                    && r.tags().is_some_and(|t| {
                        t.get(shared::tags::DEPLOYMENT).map(String::as_str) == Some("orders")
                            && t.get("team").map(String::as_str) == Some("payments")
                    })
            })
            .then_output(|| CreateLogGroupOutput::builder().build())
    }

    fn group_exists() -> Rule {
        mock!(Logs::create_log_group)
            .sequence()
            .http_status(
                400,
                Some(
                    r#"{"__type":"ResourceAlreadyExistsException","message":"The specified log group already exists"}"#
                        .into(),
                ),
            )
            .build()
    }

    fn group_tags(deployment: &'static str) -> Rule {
        mock!(Logs::list_tags_for_resource)
            .match_requests(|r| r.resource_arn() == Some(GROUP_ARN))
            .then_output(move || {
                ListTagsForResourceOutput::builder()
                    .tags(shared::tags::DEPLOYMENT, deployment)
                    .build()
            })
    }

    fn retention() -> Rule {
        mock!(Logs::put_retention_policy)
            .match_requests(|r| {
                r.log_group_name() == Some(GROUP) && r.retention_in_days() == Some(30)
            })
            .then_output(|| PutRetentionPolicyOutput::builder().build())
    }

    fn dashboard() -> Rule {
        mock!(Cw::put_dashboard)
            .match_requests(|r| r.dashboard_name() == Some("lattice-db-access-orders"))
            .then_output(|| PutDashboardOutput::builder().build())
    }

    fn alarms() -> Rule {
        mock!(Cw::put_metric_alarm).then_output(|| PutMetricAlarmOutput::builder().build())
    }

    #[test]
    fn the_log_group_arn_uses_the_service_network_account() {
        let arn = testing::ctx_full().service_network.unwrap().arn;
        assert_eq!(log_group_arn(&arn, "us-east-1", GROUP).unwrap(), GROUP_ARN);
        assert_eq!(
            log_group_arn(
                "arn:aws-cn:vpc-lattice:cn-north-1:111122223333:servicenetwork/sn-1",
                "cn-north-1",
                "/g"
            )
            .unwrap(),
            "arn:aws-cn:logs:cn-north-1:111122223333:log-group:/g"
        );
        assert_eq!(
            log_group_arn("sn-0123456789abcdefg", "us-east-1", GROUP)
                .unwrap_err()
                .name(),
            "Internal"
        );
    }

    #[tokio::test]
    async fn creates_the_group_the_resource_subscription_dashboard_and_alarms() {
        let (cg, rp) = (create_group(), retention());
        let (list, create) = (subscriptions(vec![]), create_subscription());
        let (dash, alarm) = (dashboard(), alarms());
        let logs = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&cg, &rp]);
        let lattice = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &create]);
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&dash, &alarm]);
        let out = handle(&lattice, &logs, &cw, &settings(), testing::ctx_full())
            .await
            .unwrap();
        assert_eq!(
            out,
            MonitoringOut {
                log_group_name: GROUP.into(),
                log_group_arn: GROUP_ARN.into(),
                access_log_subscription_id: ALS.into(),
                dashboard_name: "lattice-db-access-orders".into(),
                alarm_names: vec![
                    "lattice-db-access-orders-db-cpu-high".into(),
                    "lattice-db-access-orders-db-storage-low".into()
                ],
            }
        );
        assert_eq!(
            (
                cg.num_calls(),
                rp.num_calls(),
                create.num_calls(),
                dash.num_calls(),
                alarm.num_calls()
            ),
            (1, 1, 1, 1, 2)
        );
    }

    #[tokio::test]
    async fn an_existing_group_of_ours_is_adopted_and_gets_its_retention() {
        let (cg, tags, rp) = (group_exists(), group_tags("orders"), retention());
        let (list, create) = (subscriptions(vec![]), create_subscription());
        let (dash, alarm) = (dashboard(), alarms());
        let logs = mock_client!(
            aws_sdk_cloudwatchlogs,
            RuleMode::MatchAny,
            [&cg, &tags, &rp]
        );
        let lattice = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &create]);
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&dash, &alarm]);
        let out = handle(&lattice, &logs, &cw, &settings(), testing::ctx_full())
            .await
            .unwrap();
        assert_eq!(out.log_group_arn, GROUP_ARN);
        assert_eq!(
            (cg.num_calls(), tags.num_calls(), rp.num_calls()),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn an_existing_group_of_another_deployment_is_refused() {
        let (cg, tags, rp) = (group_exists(), group_tags("billing"), retention());
        let logs = mock_client!(
            aws_sdk_cloudwatchlogs,
            RuleMode::MatchAny,
            [&cg, &tags, &rp]
        );
        let lattice = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&subscriptions(vec![])]
        );
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&dashboard()]);
        let e = handle(&lattice, &logs, &cw, &settings(), testing::ctx_full())
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Resource.NameTaken");
        assert_eq!(rp.num_calls(), 0);
    }

    #[tokio::test]
    async fn log_errors_keep_their_stable_names() {
        let cg = mock!(Logs::create_log_group)
            .sequence()
            .http_status(
                400,
                Some(r#"{"__type":"ServiceUnavailableException","message":"try later"}"#.into()),
            )
            .build();
        let logs = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&cg]);
        let lattice = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&subscriptions(vec![])]
        );
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&dashboard()]);
        let e = handle(&lattice, &logs, &cw, &settings(), testing::ctx_full())
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Aws.Transient");
        assert!(e.to_string().contains("logs:CreateLogGroup"), "{e}");
    }

    #[tokio::test]
    async fn an_existing_resource_subscription_is_adopted_without_create() {
        let (cg, rp) = (create_group(), retention());
        // A SERVICE subscription to elsewhere must not be mistaken for ours.
        let list = subscriptions(vec![
            summary(ServiceNetworkLogType::Service, "arn:aws:s3:::other-bucket"),
            summary(ServiceNetworkLogType::Resource, &format!("{GROUP_ARN}:*")),
        ]);
        let create = create_subscription();
        let update = mock!(Lattice::update_access_log_subscription).then_output(updated);
        let (dash, alarm) = (dashboard(), alarms());
        let logs = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&cg, &rp]);
        let lattice = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list, &create, &update]
        );
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&dash, &alarm]);
        let out = handle(&lattice, &logs, &cw, &settings(), testing::ctx_full())
            .await
            .unwrap();
        assert_eq!(out.access_log_subscription_id, ALS);
        assert_eq!((create.num_calls(), update.num_calls()), (0, 0));
    }

    #[tokio::test]
    async fn a_resource_subscription_to_another_destination_is_repointed() {
        let list = subscriptions(vec![summary(
            ServiceNetworkLogType::Resource,
            "arn:aws:logs:us-east-1:123456789012:log-group:old-group",
        )]);
        let update = mock!(Lattice::update_access_log_subscription)
            .match_requests(|r| {
                r.access_log_subscription_identifier() == Some(ALS)
                    && r.destination_arn() == Some(GROUP_ARN)
            })
            .then_output(updated);
        let create = create_subscription();
        let lattice = mock_client!(
            aws_sdk_vpclattice,
            RuleMode::MatchAny,
            [&list, &update, &create]
        );
        let plan = testing::plan();
        let sn = testing::ctx_full().service_network.unwrap();
        let id = ensure_subscription(&lattice, &plan, &sn, GROUP_ARN)
            .await
            .unwrap();
        assert_eq!(id, ALS);
        assert_eq!((update.num_calls(), create.num_calls()), (1, 0));
    }

    #[tokio::test]
    async fn losing_the_subscription_race_adopts_the_winner() {
        let list = mock!(Lattice::list_access_log_subscriptions)
            .sequence()
            .output(|| {
                ListAccessLogSubscriptionsOutput::builder()
                    .set_items(Some(vec![]))
                    .build()
                    .unwrap()
            })
            .output(|| {
                ListAccessLogSubscriptionsOutput::builder()
                    .items(summary(ServiceNetworkLogType::Resource, GROUP_ARN))
                    .build()
                    .unwrap()
            })
            .build();
        let create = mock!(Lattice::create_access_log_subscription)
            .then_http_response(|| testing::lattice_error(409, "ConflictException", "exists"));
        let lattice = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &create]);
        let sn = testing::ctx_full().service_network.unwrap();
        let id = ensure_subscription(&lattice, &testing::plan(), &sn, GROUP_ARN)
            .await
            .unwrap();
        assert_eq!(id, ALS);
        assert_eq!(list.num_calls(), 2);
    }

    fn metrics_of(body: &Value) -> Vec<Value> {
        body["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["type"] == "metric")
            .flat_map(|w| w["properties"]["metrics"].as_array().unwrap().clone())
            .collect()
    }

    #[test]
    fn the_instance_dashboard_shows_rds_metrics_and_the_access_log_query() {
        let body = dashboard_body(&testing::plan());
        let metrics = metrics_of(&body);
        for name in ["DatabaseConnections", "CPUUtilization", "FreeStorageSpace"] {
            assert!(
                metrics.contains(&json!([
                    "AWS/RDS",
                    name,
                    "DBInstanceIdentifier",
                    "orders-db"
                ])),
                "{name} missing from {metrics:?}"
            );
        }
        let text = body.to_string();
        assert!(!text.contains("AWS/VpcLattice") && !text.contains("RequestCount"));
        let log = body["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["type"] == "log")
            .expect("a log widget");
        assert_eq!(log["properties"]["region"], "us-east-1");
        let query = log["properties"]["query"].as_str().unwrap();
        assert!(query.starts_with(&format!("SOURCE '{GROUP}' |")), "{query}");
        assert!(query.contains("stats count(*)"), "{query}");
    }

    #[test]
    fn the_cluster_dashboard_uses_the_cluster_dimension_and_volume() {
        let mut plan = testing::plan();
        plan.database.kind = DbKind::Cluster;
        plan.database.identifier = "orders-cluster".into();
        let metrics = metrics_of(&dashboard_body(&plan));
        assert!(metrics.contains(&json!([
            "AWS/RDS",
            "VolumeBytesUsed",
            "DBClusterIdentifier",
            "orders-cluster"
        ])));
        assert!(metrics.contains(&json!([
            "AWS/RDS",
            "CPUUtilization",
            "DBClusterIdentifier",
            "orders-cluster"
        ])));
        assert!(metrics.iter().all(|m| m[2] == "DBClusterIdentifier"));
        assert!(!metrics.iter().any(|m| m[1] == "FreeStorageSpace"));
    }

    #[tokio::test]
    async fn the_dashboard_request_carries_the_body() {
        let dash = mock!(Cw::put_dashboard)
            .match_requests(|r| {
                r.dashboard_name() == Some("lattice-db-access-orders")
                    && r.dashboard_body().is_some_and(|b| {
                        serde_json::from_str::<Value>(b).ok()
                            == Some(dashboard_body(&testing::plan()))
                    })
            })
            .then_output(|| PutDashboardOutput::builder().build());
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&dash]);
        put_dashboard(&cw, &testing::plan()).await.unwrap();
        assert_eq!(dash.num_calls(), 1);
    }

    fn is_cpu_alarm(r: &PutMetricAlarmInput) -> bool {
        r.alarm_name() == Some("lattice-db-access-orders-db-cpu-high")
            && r.namespace() == Some("AWS/RDS")
            && r.metric_name() == Some("CPUUtilization")
            && r.statistic() == Some(&Statistic::Average)
            && r.period() == Some(300)
            && r.evaluation_periods() == Some(3)
            && r.threshold() == Some(80.0)
            && r.comparison_operator() == Some(&ComparisonOperator::GreaterThanThreshold)
            && r.treat_missing_data() == Some("missing")
            && r.alarm_actions() == [TOPIC]
            && r.tags()
                .iter()
                .any(|t| t.key() == Some(shared::tags::DEPLOYMENT) && t.value() == Some("orders"))
    }

    #[tokio::test]
    async fn instance_alarms_cover_cpu_and_ten_percent_free_storage() {
        let cpu = mock!(Cw::put_metric_alarm)
            .match_requests(|r| {
                is_cpu_alarm(r)
                    && r.dimensions()
                        == [Dimension::builder()
                            .name("DBInstanceIdentifier")
                            .value("orders-db")
                            .build()]
            })
            .then_output(|| PutMetricAlarmOutput::builder().build());
        let storage = mock!(Cw::put_metric_alarm)
            .match_requests(|r| {
                r.alarm_name() == Some("lattice-db-access-orders-db-storage-low")
                    && r.metric_name() == Some("FreeStorageSpace")
                    && r.statistic() == Some(&Statistic::Minimum)
                    // 10% of 20 GiB
                    && r.threshold() == Some(2_147_483_648.0)
                    && r.comparison_operator() == Some(&ComparisonOperator::LessThanThreshold)
                    && r.treat_missing_data() == Some("missing")
                    && r.alarm_actions() == [TOPIC]
                    && r.dimensions()[0].name() == Some("DBInstanceIdentifier")
            })
            .then_output(|| PutMetricAlarmOutput::builder().build());
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&cpu, &storage]);
        let names = put_alarms(&cw, &testing::plan(), Some(TOPIC))
            .await
            .unwrap();
        assert_eq!(names.len(), 2);
        assert_eq!((cpu.num_calls(), storage.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn cluster_alarms_use_the_cluster_dimension_and_skip_storage() {
        let mut plan = testing::plan();
        plan.database.kind = DbKind::Cluster;
        plan.database.identifier = "orders-cluster".into();
        plan.database.settings = Some(PlannedCreate {
            allocated_storage: None,
            ..plan.database.settings.clone().unwrap()
        });
        let cpu = mock!(Cw::put_metric_alarm)
            .match_requests(|r| {
                is_cpu_alarm(r)
                    && r.dimensions()
                        == [Dimension::builder()
                            .name("DBClusterIdentifier")
                            .value("orders-cluster")
                            .build()]
            })
            .then_output(|| PutMetricAlarmOutput::builder().build());
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&cpu]);
        let names = put_alarms(&cw, &plan, Some(TOPIC)).await.unwrap();
        assert_eq!(names, ["lattice-db-access-orders-db-cpu-high"]);
        assert_eq!(cpu.num_calls(), 1);
    }

    #[test]
    fn settings_come_from_the_environment_and_empty_means_unset() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            Settings::from_lookup(env(&[(ALARM_TOPIC_ENV, TOPIC), (LOG_KMS_KEY_ENV, KEY)])),
            settings()
        );
        assert_eq!(
            Settings::from_lookup(env(&[(ALARM_TOPIC_ENV, " "), (LOG_KMS_KEY_ENV, "")])),
            Settings::default()
        );
        assert_eq!(Settings::from_lookup(|_| None), Settings::default());
    }

    #[tokio::test]
    async fn without_settings_the_alarms_have_no_actions_and_the_group_no_key() {
        // Local runs: the template's environment is not there. Nothing fails.
        let cg = mock!(Logs::create_log_group)
            .match_requests(|r| r.log_group_name() == Some(GROUP) && r.kms_key_id().is_none())
            .then_output(|| CreateLogGroupOutput::builder().build());
        let rp = retention();
        let (list, create) = (subscriptions(vec![]), create_subscription());
        let alarm = mock!(Cw::put_metric_alarm)
            .match_requests(|r| r.alarm_actions().is_empty())
            .then_output(|| PutMetricAlarmOutput::builder().build());
        let dash = dashboard();
        let logs = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&cg, &rp]);
        let lattice = mock_client!(aws_sdk_vpclattice, RuleMode::MatchAny, [&list, &create]);
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&dash, &alarm]);
        let out = handle(
            &lattice,
            &logs,
            &cw,
            &Settings::default(),
            testing::ctx_full(),
        )
        .await
        .unwrap();
        assert_eq!(out.alarm_names.len(), 2);
        assert_eq!((cg.num_calls(), alarm.num_calls()), (1, 2));
    }

    #[test]
    fn an_adopted_instance_without_allocated_storage_gets_no_storage_alarm() {
        let mut plan = testing::plan();
        plan.database.create = false;
        plan.database.settings = None;
        let specs = alarm_specs(&plan);
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].metric, "CPUUtilization");
    }
}
