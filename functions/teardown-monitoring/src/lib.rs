//! Teardown of a deployment's monitoring: its dashboard (by exact name), its
//! alarms (`<alarm prefix>-*` that carry our deployment tag: another
//! deployment whose name extends ours shares the prefix) and its log group
//! (exact name, our deployment tag). These deletes are immediate, so one call
//! usually finishes; the access-log subscription that writes to the log group
//! belongs to `teardown-lattice`.
//!
//! With `onlyExecution`, alarms and the log group go only when that execution
//! created them (their execution tag). Dashboards carry no tags: the
//! dashboard goes only when the log group, created first by the same step,
//! is that execution's.

pub use shared::teardown::{Previous, TeardownInput, TeardownOut};

use aws_sdk_cloudwatch::Client as CloudWatch;
use aws_sdk_cloudwatchlogs::Client as Logs;
use shared::error::error_code;
use shared::error::names::RESOURCE_NOT_FOUND;
use shared::poll::Policy;
use shared::tags::Owner;
use shared::teardown::{settle, Outcome, Progress};
use shared::{SdkResultExt, StepError};

pub const COMPONENT: &str = "teardown-monitoring";

/// DeleteAlarms takes at most 100 names.
const ALARMS_PER_DELETE: usize = 100;

pub async fn handle(
    logs: &Logs,
    cw: &CloudWatch,
    input: TeardownInput,
) -> Result<TeardownOut, StepError> {
    let names = input.names()?;
    let owner = input.owner();
    let mut p = Progress::default();
    let group = find_our_log_group(logs, &names.log_group, &owner).await?;
    if owner.execution.is_none() || group.is_some() {
        dashboard(cw, &names.dashboard, &mut p).await?;
    } else {
        tracing::info!(
            dashboard = %names.dashboard,
            "onlyExecution: the log group is not this execution's, so neither is the dashboard: left alone"
        );
    }
    alarms(cw, &names.alarm_prefix, &owner, &mut p).await?;
    if let Some(protected) = group {
        log_group(logs, &names.log_group, protected, &mut p).await?;
    }
    Ok(p.finish(COMPONENT, Policy::LATTICE, input.attempt()))
}

fn record(p: &mut Progress, what: &str, id: &str, outcome: Outcome<()>) {
    match outcome {
        Outcome::Done(()) => {
            tracing::info!(kind = what, id, "deleted");
            p.deleted(id);
        }
        Outcome::Gone => tracing::info!(kind = what, id, "already gone"),
        Outcome::Refused(message) => {
            p.wait(what, id, format!("present (delete refused: {message})"));
        }
    }
}

async fn dashboard(cw: &CloudWatch, name: &str, p: &mut Progress) -> Result<(), StepError> {
    if !dashboard_exists(cw, name).await? {
        return Ok(());
    }
    let outcome = settle(
        cw.delete_dashboards()
            .dashboard_names(name)
            .send()
            .await
            .map(|_| ())
            .aws("cloudwatch:DeleteDashboards"),
    )?;
    record(p, "dashboard", name, outcome);
    Ok(())
}

async fn dashboard_exists(cw: &CloudWatch, name: &str) -> Result<bool, StepError> {
    let mut token = None;
    loop {
        let page = cw
            .list_dashboards()
            .dashboard_name_prefix(name)
            .set_next_token(token)
            .send()
            .await
            .aws("cloudwatch:ListDashboards")?;
        if page
            .dashboard_entries()
            .iter()
            .any(|d| d.dashboard_name() == Some(name))
        {
            return Ok(true);
        }
        match page.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(false),
        }
    }
}

async fn alarms(
    cw: &CloudWatch,
    prefix: &str,
    owner: &Owner,
    p: &mut Progress,
) -> Result<(), StepError> {
    let prefix = format!("{prefix}-");
    let mut ours = Vec::new();
    let mut token = None;
    loop {
        let page = cw
            .describe_alarms()
            .alarm_name_prefix(&prefix)
            .set_next_token(token)
            .send()
            .await
            .aws("cloudwatch:DescribeAlarms")?;
        for a in page.metric_alarms() {
            let (Some(name), Some(arn)) = (a.alarm_name(), a.alarm_arn()) else {
                continue;
            };
            if alarm_is_ours(cw, arn, owner).await? {
                ours.push(name.to_string());
            } else {
                tracing::info!(
                    alarm = name,
                    "alarm with our prefix is not this deployment's (or execution's): left alone"
                );
            }
        }
        match page.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    for chunk in ours.chunks(ALARMS_PER_DELETE) {
        let outcome = settle(
            cw.delete_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
                .map(|_| ())
                .aws("cloudwatch:DeleteAlarms"),
        )?;
        for name in chunk {
            record(p, "alarm", name, outcome.clone());
        }
    }
    Ok(())
}

/// An alarm that vanished meanwhile is not ours to delete any more.
async fn alarm_is_ours(cw: &CloudWatch, arn: &str, owner: &Owner) -> Result<bool, StepError> {
    match cw
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .aws("cloudwatch:ListTagsForResource")
    {
        Ok(out) => Ok(owner.owns(
            out.tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value()?))),
        )),
        Err(e) if e.name() == RESOURCE_NOT_FOUND => Ok(false),
        Err(e) => Err(e),
    }
}

/// Our log group named exactly `name`, if there is one: whether it is
/// protected from deletion.
async fn find_our_log_group(
    logs: &Logs,
    name: &str,
    owner: &Owner,
) -> Result<Option<bool>, StepError> {
    let Some((arn, protected)) = find_log_group(logs, name).await? else {
        return Ok(None);
    };
    let tags = match logs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .aws("logs:ListTagsForResource")
    {
        Ok(t) => t,
        Err(e) if e.name() == RESOURCE_NOT_FOUND => return Ok(None),
        Err(e) => return Err(e),
    };
    let ours = owner.owns(
        tags.tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    if !ours {
        tracing::warn!(
            log_group = name,
            "log group with our name was not created by this deployment (or execution): left alone"
        );
        return Ok(None);
    }
    Ok(Some(protected))
}

async fn log_group(
    logs: &Logs,
    name: &str,
    protected: bool,
    p: &mut Progress,
) -> Result<(), StepError> {
    if protected {
        // Someone turned deletion protection on: keeping the logs was a decision.
        p.fail(format!(
            "log group {name} has deletion protection enabled; turn it off (logs:PutLogGroupDeletionProtection) \
             if its logs may go, then run the teardown again"
        ));
        p.wait("log group", name, "protected from deletion");
        return Ok(());
    }
    let result = match logs.delete_log_group().log_group_name(name).send().await {
        Ok(_) => Ok(()),
        // Logs' "busy": another request is changing the group right now.
        Err(e) if error_code(&e) == Some("OperationAbortedException") => Err(StepError::Conflict {
            operation: "logs:DeleteLogGroup".into(),
            message: StepError::from_sdk("logs:DeleteLogGroup", &e).to_string(),
        }),
        Err(e) => Err(StepError::from_sdk("logs:DeleteLogGroup", &e)),
    };
    record(p, "log group", name, settle(result)?);
    Ok(())
}

/// The ARN (without the `:*` suffix) of the log group named exactly `name`,
/// and whether it is protected from deletion.
async fn find_log_group(logs: &Logs, name: &str) -> Result<Option<(String, bool)>, StepError> {
    let mut token = None;
    loop {
        let page = logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .set_next_token(token)
            .send()
            .await
            .aws("logs:DescribeLogGroups")?;
        if let Some(g) = page
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
        {
            let arn = g
                .log_group_arn()
                .map(str::to_string)
                .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
                .ok_or_else(|| {
                    StepError::internal("logs:DescribeLogGroups returned a group without an ARN")
                })?;
            return Ok(Some((arn, g.deletion_protection_enabled() == Some(true))));
        }
        match page.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::delete_alarms::DeleteAlarmsOutput;
    use aws_sdk_cloudwatch::operation::delete_dashboards::DeleteDashboardsOutput;
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    use aws_sdk_cloudwatch::operation::list_dashboards::ListDashboardsOutput;
    use aws_sdk_cloudwatch::types::{DashboardEntry, MetricAlarm, Tag};
    use aws_sdk_cloudwatchlogs::operation::delete_log_group::DeleteLogGroupOutput;
    use aws_sdk_cloudwatchlogs::operation::describe_log_groups::DescribeLogGroupsOutput;
    use aws_sdk_cloudwatchlogs::types::LogGroup;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use shared::plan::PollState;
    use shared::testing;

    const DASHBOARD: &str = "lattice-db-access-orders";
    const CPU: &str = "lattice-db-access-orders-db-cpu-high";
    const STORAGE: &str = "lattice-db-access-orders-db-storage-low";
    /// Shares our prefix: deployment `orders-eu`.
    const OTHERS: &str = "lattice-db-access-orders-eu-db-cpu-high";
    const GROUP: &str = "/aws/vpclattice/lattice-db-access/orders";
    const GROUP_ARN: &str =
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpclattice/lattice-db-access/orders";

    fn input(attempt: u32) -> TeardownInput {
        TeardownInput {
            name: "orders".into(),
            previous: (attempt > 0).then(|| Previous {
                attempt,
                waiting: vec![],
            }),
            ..TeardownInput::default()
        }
    }

    fn alarm_arn(name: &str) -> String {
        format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}")
    }

    /// A CloudWatch (rpcv2Cbor, query-compatible) error response: `{"__type": code}` in CBOR.
    fn cw_error(status: u16, code: &str) -> testing::HttpResponse {
        assert!(code.len() < 24, "short CBOR strings only");
        let mut body = vec![0xa1, 0x66];
        body.extend_from_slice(b"__type");
        body.push(0x60 + code.len() as u8);
        body.extend_from_slice(code.as_bytes());
        let mut r = testing::HttpResponse::new(
            status.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(body),
        );
        r.headers_mut().insert("smithy-protocol", "rpc-v2-cbor");
        r.headers_mut()
            .insert("x-amzn-query-error", format!("{code};Sender"));
        r
    }

    struct Mocks {
        list_dashboards: Rule,
        delete_dashboards: Rule,
        describe_alarms: Rule,
        alarm_tags: Rule,
        delete_alarms: Rule,
        describe_groups: Rule,
        group_tags: Rule,
        delete_group: Rule,
    }

    impl Mocks {
        /// `alarms`: (name, deployment tag); `group`: the log group's deployment tag.
        fn new(dashboard: bool, alarms: &[&'static str], group: Option<&'static str>) -> Self {
            let alarms = alarms.to_vec();
            Self {
                list_dashboards: mock!(CloudWatch::list_dashboards)
                    .match_requests(|r| r.dashboard_name_prefix() == Some(DASHBOARD))
                    .then_output(move || {
                        let mut b = ListDashboardsOutput::builder();
                        if dashboard {
                            b = b.dashboard_entries(
                                DashboardEntry::builder().dashboard_name(DASHBOARD).build(),
                            );
                        }
                        b.build()
                    }),
                delete_dashboards: mock!(CloudWatch::delete_dashboards)
                    .match_requests(|r| r.dashboard_names() == [DASHBOARD])
                    .then_output(|| DeleteDashboardsOutput::builder().build()),
                describe_alarms: mock!(CloudWatch::describe_alarms)
                    .match_requests(|r| r.alarm_name_prefix() == Some("lattice-db-access-orders-"))
                    .then_output(move || {
                        let mut b = DescribeAlarmsOutput::builder();
                        for name in &alarms {
                            b = b.metric_alarms(
                                MetricAlarm::builder()
                                    .alarm_name(*name)
                                    .alarm_arn(alarm_arn(name))
                                    .build(),
                            );
                        }
                        b.build()
                    }),
                alarm_tags: mock!(CloudWatch::list_tags_for_resource).then_compute_output(|r| {
                    let owner = if r.resource_arn().unwrap_or_default().contains("orders-eu") {
                        "orders-eu"
                    } else {
                        "orders"
                    };
                    aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceOutput::builder()
                        .tags(Tag::builder().key(shared::tags::DEPLOYMENT).value(owner).build())
                        .build()
                }),
                delete_alarms: mock!(CloudWatch::delete_alarms)
                    .match_requests(|r| r.alarm_names() == [CPU, STORAGE])
                    .then_output(|| DeleteAlarmsOutput::builder().build()),
                describe_groups: mock!(Logs::describe_log_groups)
                    .match_requests(|r| r.log_group_name_prefix() == Some(GROUP))
                    .then_output(move || {
                        let mut b = DescribeLogGroupsOutput::builder();
                        if group.is_some() {
                            // A prefix match that is not ours comes first.
                            b = b
                                .log_groups(
                                    LogGroup::builder()
                                        .log_group_name(format!("{GROUP}-eu"))
                                        .arn(format!("{GROUP_ARN}-eu:*"))
                                        .build(),
                                )
                                .log_groups(
                                    LogGroup::builder()
                                        .log_group_name(GROUP)
                                        .arn(format!("{GROUP_ARN}:*"))
                                        .build(),
                                );
                        }
                        b.build()
                    }),
                group_tags: mock!(Logs::list_tags_for_resource)
                    .match_requests(|r| r.resource_arn() == Some(GROUP_ARN))
                    .then_output(move || {
                        aws_sdk_cloudwatchlogs::operation::list_tags_for_resource::ListTagsForResourceOutput::builder()
                            .tags(shared::tags::DEPLOYMENT, group.unwrap_or("nobody"))
                            .build()
                    }),
                delete_group: mock!(Logs::delete_log_group)
                    .match_requests(|r| r.log_group_name() == Some(GROUP))
                    .then_output(|| DeleteLogGroupOutput::builder().build()),
            }
        }

        fn clients(&self) -> (Logs, CloudWatch) {
            let logs = mock_client!(
                aws_sdk_cloudwatchlogs,
                RuleMode::MatchAny,
                [&self.describe_groups, &self.group_tags, &self.delete_group]
            );
            let cw = mock_client!(
                aws_sdk_cloudwatch,
                RuleMode::MatchAny,
                [
                    &self.list_dashboards,
                    &self.delete_dashboards,
                    &self.describe_alarms,
                    &self.alarm_tags,
                    &self.delete_alarms
                ]
            );
            (logs, cw)
        }

        /// Calls of (dashboard, alarms, log group) deletes.
        fn deletes(&self) -> (usize, usize, usize) {
            (
                self.delete_dashboards.num_calls(),
                self.delete_alarms.num_calls(),
                self.delete_group.num_calls(),
            )
        }
    }

    #[tokio::test]
    async fn deletes_the_dashboard_our_alarms_and_our_log_group_in_one_call() {
        let m = Mocks::new(true, &[CPU, STORAGE], Some("orders"));
        let (logs, cw) = m.clients();
        let out = handle(&logs, &cw, input(0)).await.unwrap();
        assert_eq!(m.deletes(), (1, 1, 1));
        assert_eq!(out.state, PollState::Ready);
        assert_eq!(out.deleted, [DASHBOARD, CPU, STORAGE, GROUP]);
        assert_eq!(out.attempt, 1);
    }

    #[tokio::test]
    async fn nothing_left_is_ready_without_any_delete() {
        let m = Mocks::new(false, &[], None);
        let (logs, cw) = m.clients();
        let out = handle(&logs, &cw, input(2)).await.unwrap();
        assert_eq!(m.deletes(), (0, 0, 0));
        assert_eq!((out.state, out.attempt), (PollState::Ready, 3));
        assert!(out.deleted.is_empty() && out.waiting.is_empty());
    }

    #[tokio::test]
    async fn alarms_and_log_groups_of_another_deployment_are_left_alone() {
        // `orders-eu`'s alarm shares our prefix; the log group has our name but not our tag.
        let mut m = Mocks::new(false, &[OTHERS], Some("someone-else"));
        m.delete_alarms =
            mock!(CloudWatch::delete_alarms).then_output(|| DeleteAlarmsOutput::builder().build());
        let (logs, cw) = m.clients();
        let out = handle(&logs, &cw, input(0)).await.unwrap();
        assert_eq!(m.deletes(), (0, 0, 0));
        assert_eq!(m.alarm_tags.num_calls(), 1);
        assert_eq!(m.group_tags.num_calls(), 1);
        assert_eq!(out.state, PollState::Ready);
    }

    #[tokio::test]
    async fn only_our_alarms_are_deleted_when_both_share_the_prefix() {
        let m = Mocks::new(false, &[CPU, OTHERS, STORAGE], None);
        let (logs, cw) = m.clients();
        let out = handle(&logs, &cw, input(0)).await.unwrap();
        // The DeleteAlarms rule only matches exactly [CPU, STORAGE]; anything else panics.
        assert_eq!(m.deletes(), (0, 1, 0));
        assert_eq!(out.deleted, [CPU, STORAGE]);
    }

    #[tokio::test]
    async fn what_vanished_before_its_delete_counts_as_deleted() {
        let mut m = Mocks::new(true, &[], Some("orders"));
        m.delete_dashboards = mock!(CloudWatch::delete_dashboards)
            .then_http_response(|| cw_error(404, "ResourceNotFound"));
        m.delete_group = mock!(Logs::delete_log_group).then_http_response(|| {
            testing::lattice_error(
                400,
                "ResourceNotFoundException",
                "The specified log group does not exist.",
            )
        });
        let (logs, cw) = m.clients();
        let out = handle(&logs, &cw, input(0)).await.unwrap();
        assert_eq!(m.deletes(), (1, 0, 1));
        assert_eq!(out.state, PollState::Ready);
        assert!(out.deleted.is_empty());
    }

    #[tokio::test]
    async fn a_busy_log_group_waits_then_times_out_at_the_bound() {
        let mut m = Mocks::new(false, &[], Some("orders"));
        m.delete_group = mock!(Logs::delete_log_group).then_http_response(|| {
            testing::lattice_error(400, "OperationAbortedException", "concurrent change")
        });
        let (logs, cw) = m.clients();
        let out = handle(&logs, &cw, input(0)).await.unwrap();
        assert_eq!(out.state, PollState::Pending);
        assert_eq!(out.waiting.len(), 1);
        assert!(
            out.waiting[0].starts_with(&format!("log group {GROUP} is present (delete refused:"))
        );
        let max = Policy::LATTICE.max_attempts;
        let out = handle(&logs, &cw, input(max - 1)).await.unwrap();
        assert_eq!((out.state, out.attempt), (PollState::TimedOut, max));
    }

    #[tokio::test]
    async fn a_protected_log_group_fails_the_teardown_and_is_kept() {
        let mut m = Mocks::new(false, &[], Some("orders"));
        m.describe_groups = mock!(Logs::describe_log_groups).then_output(|| {
            DescribeLogGroupsOutput::builder()
                .log_groups(
                    LogGroup::builder()
                        .log_group_name(GROUP)
                        .log_group_arn(GROUP_ARN)
                        .deletion_protection_enabled(true)
                        .build(),
                )
                .build()
        });
        let (logs, cw) = m.clients();
        let out = handle(&logs, &cw, input(0)).await.unwrap();
        assert_eq!(m.deletes(), (0, 0, 0));
        assert_eq!(out.state, PollState::Failed);
        assert!(out.reason.unwrap().contains("deletion protection"));
    }

    /// The CPU alarm and the log group are `run-1`'s; the storage alarm is `run-2`'s.
    fn two_executions(m: &mut Mocks) {
        m.alarm_tags = mock!(CloudWatch::list_tags_for_resource).then_compute_output(|r| {
            let execution = if r.resource_arn() == Some(&alarm_arn(CPU)) {
                "run-1"
            } else {
                "run-2"
            };
            aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceOutput::builder()
                .tags(Tag::builder().key(shared::tags::DEPLOYMENT).value("orders").build())
                .tags(Tag::builder().key(shared::tags::EXECUTION).value(execution).build())
                .build()
        });
        m.group_tags = mock!(Logs::list_tags_for_resource)
            .match_requests(|r| r.resource_arn() == Some(GROUP_ARN))
            .then_output(|| {
                aws_sdk_cloudwatchlogs::operation::list_tags_for_resource::ListTagsForResourceOutput::builder()
                    .tags(shared::tags::DEPLOYMENT, "orders")
                    .tags(shared::tags::EXECUTION, "run-1")
                    .build()
            });
    }

    fn rollback_of(execution: &str) -> TeardownInput {
        TeardownInput {
            only_execution: Some(execution.into()),
            ..input(0)
        }
    }

    #[tokio::test]
    async fn only_execution_leaves_what_another_execution_created() {
        let mut m = Mocks::new(true, &[CPU, STORAGE], Some("orders"));
        two_executions(&mut m);
        m.delete_alarms = mock!(CloudWatch::delete_alarms)
            .match_requests(|r| r.alarm_names() == [STORAGE])
            .then_output(|| DeleteAlarmsOutput::builder().build());
        let (logs, cw) = m.clients();
        let out = handle(&logs, &cw, rollback_of("run-2")).await.unwrap();
        // run-1's alarm and log group stay, and so does the dashboard made with that group.
        assert_eq!(m.deletes(), (0, 1, 0));
        assert_eq!(out.deleted, [STORAGE]);
        assert!(out.waiting.is_empty());
        assert_eq!(out.state, PollState::Ready);
    }

    #[tokio::test]
    async fn only_execution_deletes_what_that_execution_created() {
        let mut m = Mocks::new(true, &[CPU, STORAGE], Some("orders"));
        two_executions(&mut m);
        m.delete_alarms = mock!(CloudWatch::delete_alarms)
            .match_requests(|r| r.alarm_names() == [CPU])
            .then_output(|| DeleteAlarmsOutput::builder().build());
        let (logs, cw) = m.clients();
        let out = handle(&logs, &cw, rollback_of("run-1")).await.unwrap();
        assert_eq!(m.deletes(), (1, 1, 1));
        assert_eq!(out.deleted, [DASHBOARD, CPU, GROUP]);
        assert_eq!(out.state, PollState::Ready);
    }

    #[tokio::test]
    async fn aws_errors_keep_their_stable_names() {
        let m = Mocks::new(false, &[], None);
        let throttled =
            mock!(CloudWatch::describe_alarms).then_http_response(|| cw_error(400, "Throttling"));
        let cw = mock_client!(
            aws_sdk_cloudwatch,
            RuleMode::MatchAny,
            [&m.list_dashboards, &throttled]
        );
        let (logs, _) = m.clients();
        let e = handle(&logs, &cw, input(0)).await.unwrap_err();
        assert_eq!(e.name(), "Aws.Throttled");
        assert!(e.to_string().contains("cloudwatch:DescribeAlarms"), "{e}");
    }
}
