//! One deployment, one writer: the provisioning and the teardown state machines take the
//! deployment's lock first and release it on every way out; a second execution for the same
//! deployment fails fast with `Deployment.Locked`, naming the execution that holds it.
//!
//! The lock is one DynamoDB item per deployment (the stack's lock table), written with a
//! conditional `PutItem`: it is taken when there is no item, when the item's lease has expired,
//! or when this same execution holds it (a retried acquire). The lease outlives the state
//! machine's own `TimeoutSeconds` by a margin, so an execution that timed out, was stopped or
//! crashed without releasing cannot wedge the deployment: its lock expires. A release deletes
//! the item only if this execution still holds it.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::StepError;

pub const COMPONENT: &str = "lock";

/// The lock table's name (template.yaml: `LockTable`).
pub const TABLE_ENV: &str = "LOCK_TABLE";

/// A lease shorter than this could expire under a live execution's feet.
pub const MIN_LEASE_SECONDS: u64 = 60;
/// Step Functions' own limit on a standard execution (one year).
pub const MAX_LEASE_SECONDS: u64 = 366 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub table: String,
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        match lookup(TABLE_ENV).map(|t| t.trim().to_string()) {
            Some(table) if !table.is_empty() => Ok(Self { table }),
            _ => Err(format!(
                "{TABLE_ENV} is not set: the stack's lock table (template.yaml sets it)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Acquire,
    Release,
}

/// What the state machines send.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockInput {
    pub action: Action,
    /// `provision` or `teardown`: said in the message a second execution gets.
    pub operation: String,
    /// The execution's ARN (`$$.Execution.Id`).
    pub execution: String,
    /// The deployment (the provisioning state machine: `$.plan.name`) ...
    #[serde(default)]
    pub deployment: Option<String>,
    /// ... or the teardown state (`{"request": <teardown input>}`), whose name is read exactly as
    /// the teardown Lambdas read it.
    #[serde(default)]
    pub state: Option<Value>,
    /// Acquire: how long the lock holds without a release (the state machine's timeout + margin).
    #[serde(default)]
    pub lease_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LockOut {
    pub deployment: String,
    pub holder: String,
    /// Acquire: when the lease ends unless released (epoch seconds). Release: `None`.
    pub expires_at: Option<u64>,
    /// Release: whether this execution still held the lock and deleted it.
    pub released: Option<bool>,
}

impl LockInput {
    fn deployment(&self) -> Result<String, StepError> {
        let name = match (&self.deployment, &self.state) {
            (Some(d), None) => d.clone(),
            (None, Some(state)) => shared::teardown::teardown_input(state, COMPONENT)?.name,
            _ => {
                return Err(StepError::internal(
                    "the lock input needs exactly one of `deployment` and `state`",
                ))
            }
        };
        shared::input::validate_name(&name)?;
        Ok(name)
    }
}

pub async fn handle(
    dynamodb: &aws_sdk_dynamodb::Client,
    settings: &Settings,
    input: LockInput,
    now: SystemTime,
) -> Result<LockOut, StepError> {
    let deployment = input.deployment()?;
    if input.execution.trim().is_empty() {
        return Err(StepError::internal(
            "the lock input has an empty `execution`",
        ));
    }
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_err(|e| StepError::internal(format!("clock before 1970: {e}")))?
        .as_secs();
    match input.action {
        Action::Acquire => acquire(dynamodb, settings, &input, deployment, now).await,
        Action::Release => release(dynamodb, settings, &input, deployment).await,
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn acquire(
    dynamodb: &aws_sdk_dynamodb::Client,
    settings: &Settings,
    input: &LockInput,
    deployment: String,
    now: u64,
) -> Result<LockOut, StepError> {
    let lease = input
        .lease_seconds
        .ok_or_else(|| StepError::internal("acquire without `leaseSeconds`"))?;
    if !(MIN_LEASE_SECONDS..=MAX_LEASE_SECONDS).contains(&lease) {
        return Err(StepError::internal(format!(
            "leaseSeconds {lease} is outside {MIN_LEASE_SECONDS}..={MAX_LEASE_SECONDS}"
        )));
    }
    let expires_at = now + lease;
    let out = dynamodb
        .put_item()
        .table_name(&settings.table)
        .item("deployment", s(&deployment))
        .item("holder", s(&input.execution))
        .item("operation", s(&input.operation))
        .item("acquiredAt", n(now))
        // Also the table's TTL attribute: DynamoDB removes expired items eventually; the
        // condition below does not wait for that.
        .item("expiresAt", n(expires_at))
        .condition_expression(
            "attribute_not_exists(deployment) OR expiresAt < :now OR holder = :me",
        )
        .expression_attribute_values(":now", n(now))
        .expression_attribute_values(":me", s(&input.execution))
        // The holder comes back with the refusal: no second read (and no GetItem grant).
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match out {
        Ok(_) => {
            tracing::info!(deployment, holder = %input.execution, expires_at, "lock acquired");
            Ok(LockOut {
                deployment,
                holder: input.execution.clone(),
                expires_at: Some(expires_at),
                released: None,
            })
        }
        Err(e) => match e.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(held)) => {
                let message = held_message(&deployment, held.item(), now);
                tracing::warn!(deployment, refused = %input.execution, "{message}");
                Err(StepError::Locked(message))
            }
            _ => Err(StepError::from_sdk("dynamodb:PutItem", &e)),
        },
    }
}

/// `deployment `orders` is being changed by provision execution arn:…:provision-1 (since …,
/// lease until …): wait for it to end, or stop it; a stopped execution's lock expires at …`
fn held_message(
    deployment: &str,
    item: Option<&HashMap<String, AttributeValue>>,
    now: u64,
) -> String {
    let get_s = |k: &str| {
        item.and_then(|i| i.get(k))
            .and_then(|v| v.as_s().ok())
            .cloned()
    };
    let get_n = |k: &str| {
        item.and_then(|i| i.get(k))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let holder = get_s("holder").unwrap_or_else(|| "an unknown execution".into());
    let operation = get_s("operation").unwrap_or_else(|| "another".into());
    let since = get_n("acquiredAt")
        .map(|t| format!("for {} s", now.saturating_sub(t)))
        .unwrap_or_else(|| "for an unknown time".into());
    let until = get_n("expiresAt")
        .map(|t| format!("its lease ends in {} s", t.saturating_sub(now)))
        .unwrap_or_else(|| "its lease end is unknown".into());
    format!(
        "deployment `{deployment}` is being changed by the {operation} execution {holder} ({since}); \
         wait for it to end and start again. If that execution was stopped or timed out, {until}"
    )
}

async fn release(
    dynamodb: &aws_sdk_dynamodb::Client,
    settings: &Settings,
    input: &LockInput,
    deployment: String,
) -> Result<LockOut, StepError> {
    let out = dynamodb
        .delete_item()
        .table_name(&settings.table)
        .key("deployment", s(&deployment))
        .condition_expression("holder = :me")
        .expression_attribute_values(":me", s(&input.execution))
        .send()
        .await;
    let released = match out {
        Ok(_) => true,
        // Not ours any more (our lease expired and someone else took it) or already released:
        // nothing to give back, and never someone else's lock to delete.
        Err(e)
            if e.as_service_error()
                .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
        {
            false
        }
        Err(e) => return Err(StepError::from_sdk("dynamodb:DeleteItem", &e)),
    };
    if released {
        tracing::info!(deployment, holder = %input.execution, "lock released");
    } else {
        tracing::warn!(deployment, holder = %input.execution, "lock not held by this execution any more: nothing released");
    }
    Ok(LockOut {
        deployment,
        holder: input.execution.clone(),
        expires_at: None,
        released: Some(released),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use aws_sdk_dynamodb::operation::delete_item::{DeleteItemError, DeleteItemOutput};
    use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
    use aws_sdk_dynamodb::Client;
    use aws_smithy_mocks::{mock, mock_client, MockResponse, RuleMode};
    use serde_json::json;

    const TABLE: &str = "lattice-db-access-locks";
    const ME: &str =
        "arn:aws:states:us-east-1:123456789012:execution:provision:orders-20261207T160000Z";
    const OTHER: &str =
        "arn:aws:states:us-east-1:123456789012:execution:teardown:orders-20261207T155900Z";
    const T0: u64 = 1_796_659_200;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn settings() -> Settings {
        Settings {
            table: TABLE.into(),
        }
    }

    fn acquire_input() -> LockInput {
        serde_json::from_value(json!({
            "action": "acquire", "operation": "provision", "execution": ME,
            "deployment": "orders", "leaseSeconds": 20_100
        }))
        .unwrap()
    }

    /// A DynamoDB that evaluates the lock's condition on one item, as DynamoDB would.
    type Item = HashMap<String, AttributeValue>;

    fn num(item: &Item, k: &str) -> u64 {
        item[k].as_n().unwrap().parse().unwrap()
    }

    fn table(initial: Option<Item>) -> (Client, Arc<Mutex<Option<Item>>>) {
        let store = Arc::new(Mutex::new(initial));
        let st = store.clone();
        let put = mock!(Client::put_item)
            .match_requests(|r| {
                r.table_name() == Some(TABLE)
                    && r.return_values_on_condition_check_failure()
                        == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
            })
            .then_compute_response(move |r| {
                let mut cur = st.lock().unwrap();
                let vals = r.expression_attribute_values().unwrap();
                let now: u64 = vals[":now"].as_n().unwrap().parse().unwrap();
                let me = vals[":me"].as_s().unwrap();
                let free = match cur.as_ref() {
                    None => true,
                    Some(i) => num(i, "expiresAt") < now || i["holder"].as_s().unwrap() == me,
                };
                if !free {
                    let old = cur.clone().unwrap();
                    return MockResponse::Error(PutItemError::ConditionalCheckFailedException(
                        aws_sdk_dynamodb::types::error::ConditionalCheckFailedException::builder()
                            .message("The conditional request failed")
                            .set_item(Some(old))
                            .build(),
                    ));
                }
                *cur = Some(r.item().unwrap().clone());
                MockResponse::Output(PutItemOutput::builder().build())
            });
        let st = store.clone();
        let delete = mock!(Client::delete_item)
            .match_requests(|r| r.table_name() == Some(TABLE))
            .then_compute_response(move |r| {
                let mut cur = st.lock().unwrap();
                let me = r.expression_attribute_values().unwrap()[":me"]
                    .as_s()
                    .unwrap()
                    .clone();
                match cur.as_ref() {
                    Some(i) if i["holder"].as_s().unwrap() == &me => {
                        *cur = None;
                        MockResponse::Output(DeleteItemOutput::builder().build())
                    }
                    _ => MockResponse::Error(DeleteItemError::ConditionalCheckFailedException(
                        aws_sdk_dynamodb::types::error::ConditionalCheckFailedException::builder()
                            .message("The conditional request failed")
                            .build(),
                    )),
                }
            });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put, &delete]);
        (client, store)
    }

    fn held_by(holder: &str, acquired: u64, expires: u64) -> Item {
        HashMap::from([
            ("deployment".into(), s("orders")),
            ("holder".into(), s(holder)),
            ("operation".into(), s("teardown")),
            ("acquiredAt".into(), n(acquired)),
            ("expiresAt".into(), n(expires)),
        ])
    }

    #[tokio::test]
    async fn a_free_deployment_is_locked_with_a_lease_from_now() {
        let (client, store) = table(None);
        let out = handle(&client, &settings(), acquire_input(), at(T0))
            .await
            .unwrap();
        assert_eq!(out.expires_at, Some(T0 + 20_100));
        let item = store.lock().unwrap().clone().unwrap();
        assert_eq!(item["holder"].as_s().unwrap(), ME);
        assert_eq!(num(&item, "expiresAt"), T0 + 20_100);
    }

    #[tokio::test]
    async fn a_held_lock_refuses_with_deployment_locked_naming_the_holder() {
        let (client, store) = table(Some(held_by(OTHER, T0 - 60, T0 + 9_000)));
        let e = handle(&client, &settings(), acquire_input(), at(T0))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Deployment.Locked");
        let m = e.to_string();
        assert!(m.contains(OTHER), "{m}");
        assert!(m.contains("teardown execution"), "{m}");
        assert!(
            m.contains("for 60 s") && m.contains("ends in 9000 s"),
            "{m}"
        );
        assert_eq!(
            store.lock().unwrap().as_ref().unwrap()["holder"]
                .as_s()
                .unwrap(),
            OTHER,
            "untouched"
        );
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_and_a_retried_acquire_is_reentrant() {
        let (client, store) = table(Some(held_by(OTHER, T0 - 30_000, T0 - 1)));
        handle(&client, &settings(), acquire_input(), at(T0))
            .await
            .unwrap();
        assert_eq!(
            store.lock().unwrap().as_ref().unwrap()["holder"]
                .as_s()
                .unwrap(),
            ME
        );
        // The same execution again (a Lambda retry after a lost response): still ours.
        let out = handle(&client, &settings(), acquire_input(), at(T0 + 5))
            .await
            .unwrap();
        assert_eq!(out.expires_at, Some(T0 + 5 + 20_100));
    }

    #[tokio::test]
    async fn release_deletes_only_our_own_lock() {
        let (client, store) = table(Some(held_by(OTHER, T0, T0 + 100)));
        let mut input = acquire_input();
        input.action = Action::Release;
        let out = handle(&client, &settings(), input.clone(), at(T0))
            .await
            .unwrap();
        assert_eq!(out.released, Some(false));
        assert!(store.lock().unwrap().is_some(), "someone else's lock stays");

        *store.lock().unwrap() = Some(held_by(ME, T0, T0 + 100));
        let out = handle(&client, &settings(), input, at(T0)).await.unwrap();
        assert_eq!(out.released, Some(true));
        assert!(store.lock().unwrap().is_none());
    }

    #[tokio::test]
    async fn the_teardown_state_names_the_deployment_as_the_teardown_reads_it() {
        let (client, store) = table(None);
        for (state, want) in [
            (json!({"request": {"name": "orders"}}), "orders"),
            (
                json!({"request": {"deployment": "orders", "dnsName": "x"}}),
                "orders",
            ),
        ] {
            *store.lock().unwrap() = None;
            let input: LockInput = serde_json::from_value(json!({
                "action": "acquire", "operation": "teardown", "execution": OTHER,
                "state": state, "leaseSeconds": 9_300
            }))
            .unwrap();
            let out = handle(&client, &settings(), input, at(T0)).await.unwrap();
            assert_eq!(out.deployment, want);
        }
        // A typo in the teardown input fails here, before anything is locked or deleted.
        let input: LockInput = serde_json::from_value(json!({
            "action": "acquire", "operation": "teardown", "execution": OTHER,
            "state": {"request": {"name": "orders", "keepDatabse": true}}, "leaseSeconds": 9_300
        }))
        .unwrap();
        *store.lock().unwrap() = None;
        let e = handle(&client, &settings(), input, at(T0))
            .await
            .unwrap_err();
        assert_eq!(e.name(), "Input.Invalid");
        assert!(e.to_string().contains("keepDatabse"), "{e}");
        assert!(store.lock().unwrap().is_none());
    }

    #[tokio::test]
    async fn bad_inputs_call_nothing() {
        let (client, store) = table(None);
        let mut no_lease = acquire_input();
        no_lease.lease_seconds = None;
        let mut short = acquire_input();
        short.lease_seconds = Some(5);
        let mut bad_name = acquire_input();
        bad_name.deployment = Some("Orders!".into());
        let mut both = acquire_input();
        both.state = Some(json!({"request": {"name": "orders"}}));
        for (input, name) in [
            (no_lease, "Internal"),
            (short, "Internal"),
            (bad_name, "Input.Invalid"),
            (both, "Internal"),
        ] {
            let e = handle(&client, &settings(), input, at(T0))
                .await
                .unwrap_err();
            assert_eq!(e.name(), name, "{e}");
        }
        assert!(store.lock().unwrap().is_none());
        assert!(serde_json::from_value::<LockInput>(json!({
            "action": "grab", "operation": "provision", "execution": ME, "deployment": "orders"
        }))
        .is_err());
    }

    #[test]
    fn the_table_comes_from_the_environment() {
        assert_eq!(
            Settings::from_lookup(|_| Some(" t ".into())).unwrap().table,
            "t"
        );
        assert!(Settings::from_lookup(|_| None)
            .unwrap_err()
            .contains(TABLE_ENV));
    }
}
