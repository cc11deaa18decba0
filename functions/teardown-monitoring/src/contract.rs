//! The contract shared by the four teardown Lambdas (`teardown-lattice`,
//! `teardown-monitoring`, `teardown-database`, `teardown-network`). This file
//! is copied verbatim into each of them (`shared/` is not theirs to change):
//! keep the copies identical.
//!
//! Each call converges: it looks at what of the deployment still exists,
//! starts every delete that is allowed now, and reports what it deleted and
//! what it still waits for. The state machine calls it again (Wait → Task →
//! Choice) until `state` is no longer `PENDING`.

use std::fmt::Display;

use serde::{Deserialize, Serialize};
use shared::input::{is_dns_label_name, MAX_NAME_LEN};
use shared::plan::{Names, PollState};
use shared::poll::{outcome, Class, Policy};
use shared::StepError;

/// The input of every teardown Lambda. Unknown fields are rejected: a typo in
/// `keepDatabase` must not delete a database.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeardownInput {
    /// The deployment name given to the provisioning workflow.
    pub name: String,
    /// Keep a database this deployment created (and its subnet group and
    /// security group); detach nothing from an adopted one.
    #[serde(default)]
    pub keep_database: bool,
    /// Delete a database this deployment created without a final snapshot.
    #[serde(default)]
    pub skip_final_snapshot: bool,
    /// This Lambda's previous output in the polling loop (`null` at first).
    #[serde(default)]
    pub previous: Option<Previous>,
}

/// The parts of the previous output a call reads; other fields are ignored.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Previous {
    #[serde(default)]
    pub attempt: u32,
    #[serde(default)]
    pub waiting: Vec<String>,
}

impl TeardownInput {
    /// The deployment's resource names, once `name` passes the checks the
    /// provisioning input applies to it.
    pub fn names(&self) -> Result<Names, StepError> {
        let n = &self.name;
        if n.len() < 3 || n.len() > MAX_NAME_LEN {
            return Err(StepError::invalid(
                "name",
                format!("must be 3 to {MAX_NAME_LEN} characters, got {}", n.len()),
            ));
        }
        if !is_dns_label_name(n) {
            return Err(StepError::invalid(
                "name",
                "must be lowercase letters, digits and single hyphens, start with a letter and not end with a hyphen",
            ));
        }
        if n.starts_with("rgw-") || n.starts_with("rcfg-") {
            return Err(StepError::invalid(
                "name",
                "must not start with `rgw-` or `rcfg-` (reserved by VPC Lattice)",
            ));
        }
        Ok(Names::for_deployment(n))
    }

    /// This call's attempt number (1-based).
    pub fn attempt(&self) -> u32 {
        self.previous
            .as_ref()
            .map_or(0, |p| p.attempt)
            .saturating_add(1)
    }

    /// Did the previous call report a waiting entry starting with `prefix`?
    pub fn previously(&self, prefix: &str) -> bool {
        self.previous
            .as_ref()
            .is_some_and(|p| p.waiting.iter().any(|w| w.starts_with(prefix)))
    }
}

/// The output of every teardown Lambda; the ASL's Choice reads `state`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TeardownOut {
    pub state: PollState,
    /// Attempts made so far, including this one.
    pub attempt: u32,
    pub max_attempts: u32,
    /// How long the ASL Wait state sleeps before the next attempt.
    pub wait_seconds: u32,
    /// Ids or names whose deletion this call started (or completed).
    pub deleted: Vec<String>,
    /// `<what> <id> is <status>` for everything of ours that is still there.
    pub waiting: Vec<String>,
    /// Why it failed or timed out.
    pub reason: Option<String>,
}

/// What one call saw and did.
#[derive(Debug, Default)]
pub struct Progress {
    deleted: Vec<String>,
    waiting: Vec<String>,
    failed: Vec<String>,
}

impl Progress {
    /// A delete of ours was accepted.
    pub fn deleted(&mut self, id: impl Into<String>) {
        self.deleted.push(id.into());
    }

    /// `what` `id` still exists; `status` says why we wait.
    pub fn wait(&mut self, what: &str, id: &str, status: impl Display) {
        self.waiting.push(entry(what, id, status));
    }

    /// Something a retry cannot fix: the loop stops with this reason.
    // Not every teardown has such a case (teardown-network has none).
    #[allow(dead_code)]
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.failed.push(reason.into());
    }

    /// The output for attempt `attempt`, counted and logged.
    pub fn finish(self, component: &str, policy: Policy, attempt: u32) -> TeardownOut {
        let class = if !self.failed.is_empty() {
            Class::Failed
        } else if self.waiting.is_empty() {
            Class::Ready
        } else {
            Class::Pending
        };
        let status = if self.waiting.is_empty() {
            "DELETED".to_string()
        } else {
            self.waiting.join("; ")
        };
        let reason = (!self.failed.is_empty()).then(|| self.failed.join("; "));
        let poll = outcome(policy, attempt, &status, class, reason);
        let reason = match poll.state {
            PollState::TimedOut => Some(format!(
                "still waiting after {attempt} attempts for: {status}; giving up (what is left was left as it is: run the teardown again)"
            )),
            _ => poll.reason,
        };
        shared::emf::emit(
            &[("Function", component)],
            &[("ResourcesDeleted", self.deleted.len() as f64, "Count")],
        );
        tracing::info!(
            state = ?poll.state,
            attempt,
            deleted = ?self.deleted,
            waiting = ?self.waiting,
            reason = ?reason,
            "teardown progress"
        );
        TeardownOut {
            state: poll.state,
            attempt,
            max_attempts: poll.max_attempts,
            wait_seconds: poll.wait_seconds,
            deleted: self.deleted,
            waiting: self.waiting,
            reason,
        }
    }
}

/// The waiting entry for `what` `id` in `status`.
pub fn entry(what: &str, id: &str, status: impl Display) -> String {
    format!("{what} {id} is {status}")
}

/// How a delete call ended, for the cases a teardown expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// Accepted.
    Done(T),
    /// Already gone: as good as deleted.
    Gone,
    /// Refused for now (busy, still in use): the AWS message.
    Refused(String),
}

/// Sort a delete's result (after `.aws("svc:Op")`) into [`Outcome`]; other errors stay errors.
pub fn settle<T>(result: Result<T, StepError>) -> Result<Outcome<T>, StepError> {
    match result {
        Ok(t) => Ok(Outcome::Done(t)),
        Err(StepError::NotFound { .. }) => Ok(Outcome::Gone),
        Err(StepError::Conflict { message, .. }) => Ok(Outcome::Refused(message)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod contract_tests {
    use super::*;
    use serde_json::json;

    const POLICY: Policy = Policy {
        first_wait: 5,
        max_wait: 30,
        max_attempts: 3,
    };

    #[test]
    fn input_defaults_and_rejects_unknown_fields() {
        let i: TeardownInput = shared::input::parse(json!({"name": "orders"})).unwrap();
        assert!(!i.keep_database && !i.skip_final_snapshot && i.previous.is_none());
        assert_eq!(i.attempt(), 1);
        let e =
            shared::input::parse::<TeardownInput>(json!({"name": "orders", "keepDatabse": true}))
                .unwrap_err();
        assert_eq!(e.name(), "Input.Invalid");
        // The previous output is read leniently: only attempt and waiting matter.
        let i: TeardownInput = shared::input::parse(json!({
            "name": "orders", "keepDatabase": true, "skipFinalSnapshot": true,
            "previous": {"state": "PENDING", "attempt": 4, "maxAttempts": 60, "waitSeconds": 30,
                         "deleted": [], "waiting": ["x y is DELETE_FAILED"], "reason": null}
        }))
        .unwrap();
        assert_eq!(i.attempt(), 5);
        assert!(i.previously("x y is DELETE_FAILED"));
        assert!(!i.previously("x z"));
    }

    #[test]
    fn names_are_checked_like_the_provisioning_input() {
        let named = |n: &str| TeardownInput {
            name: n.into(),
            ..TeardownInput::default()
        };
        assert_eq!(named("orders").names().unwrap().db_identifier, "orders-db");
        for bad in ["ab", "Orders", "orders-", "a--b", "rgw-x1", &"a".repeat(31)] {
            let e = named(bad).names().unwrap_err();
            assert!(
                matches!(&e, StepError::InvalidInput { field, .. } if field == "name"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn finish_reports_ready_pending_failed_and_timed_out() {
        let out = Progress::default().finish("t", POLICY, 1);
        assert_eq!((out.state, out.reason), (PollState::Ready, None));

        let mut p = Progress::default();
        p.deleted("snra-1");
        p.wait("resource gateway", "rgw-1", "DELETE_IN_PROGRESS");
        let out = p.finish("t", POLICY, 2);
        assert_eq!(out.state, PollState::Pending);
        assert_eq!(out.deleted, ["snra-1"]);
        assert_eq!(
            out.waiting,
            ["resource gateway rgw-1 is DELETE_IN_PROGRESS"]
        );
        assert_eq!(
            (out.attempt, out.max_attempts, out.wait_seconds),
            (2, 3, 10)
        );

        let mut p = Progress::default();
        p.wait("resource gateway", "rgw-1", "DELETE_IN_PROGRESS");
        let out = p.finish("t", POLICY, 3);
        assert_eq!(out.state, PollState::TimedOut);
        assert!(out.reason.unwrap().contains("rgw-1"));

        let mut p = Progress::default();
        p.wait("a", "b", "c");
        p.fail("it broke");
        let out = p.finish("t", POLICY, 1);
        assert_eq!(
            (out.state, out.reason.as_deref()),
            (PollState::Failed, Some("it broke"))
        );
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(v["state"], "FAILED");
        assert!(v.as_object().unwrap().contains_key("maxAttempts"));
    }

    #[test]
    fn settle_sorts_gone_and_busy_from_real_errors() {
        let nf = StepError::NotFound {
            operation: "o".into(),
            message: "m".into(),
        };
        let busy = StepError::Conflict {
            operation: "o".into(),
            message: "in use".into(),
        };
        assert_eq!(settle::<()>(Err(nf)).unwrap(), Outcome::Gone);
        assert_eq!(
            settle::<()>(Err(busy)).unwrap(),
            Outcome::Refused("in use".into())
        );
        assert_eq!(settle(Ok(1)).unwrap(), Outcome::Done(1));
        assert!(settle::<()>(Err(StepError::internal("x"))).is_err());
    }
}
