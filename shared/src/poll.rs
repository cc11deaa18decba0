//! Polling policy for the state machine's Wait → status Task → Choice loops:
//! bounded attempts and a backed-off wait, computed here so the ASL stays simple.
//!
//! The ASL generator (the `statemachine` crate) derives each state machine's `TimeoutSeconds`
//! from the longest path of Waits the two policies below allow, so that an execution is never
//! stopped mid-rollback (tests/test_template.py recomputes it from the `Policy { … }` literals:
//! keep them literal).

use crate::plan::{PollOut, PollState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub first_wait: u32,
    /// Attempts that wait `first_wait` before the backoff starts.
    pub steady_attempts: u32,
    pub max_wait: u32,
    pub max_attempts: u32,
}

impl Policy {
    /// RDS creates take 5–20 minutes (Multi-AZ and Aurora longer): start at
    /// 30 s, back off to 60 s, give up after about 90 minutes.
    pub const DATABASE: Policy = Policy {
        first_wait: 30,
        steady_attempts: 1,
        max_wait: 60,
        max_attempts: 95,
    };
    /// Lattice resources usually settle in tens of seconds, and three of them are in a row on
    /// the critical path: poll every 3 s for the first 2 minutes (a backoff from the start saw a
    /// 45 s gateway at 65 s, see BENCHMARKS.md), then back off to 30 s; give up after about
    /// 30 minutes. A Get every 3 s is far below the APIs' rate limits.
    pub const LATTICE: Policy = Policy {
        first_wait: 3,
        steady_attempts: 40,
        max_wait: 30,
        max_attempts: 98,
    };

    /// Wait before attempt `attempt + 1`: `first_wait` for the steady attempts, then doubling,
    /// capped at `max_wait`.
    pub fn wait_after(&self, attempt: u32) -> u32 {
        let shift = attempt.saturating_sub(self.steady_attempts).min(16);
        self.first_wait
            .saturating_mul(1 << shift)
            .min(self.max_wait)
    }

    /// The longest a loop waits in all before it gives up, in seconds.
    pub fn bound_seconds(&self) -> u32 {
        (1..self.max_attempts).map(|a| self.wait_after(a)).sum()
    }

    /// [`Self::bound_seconds`] in whole minutes, rounded.
    pub fn bound_minutes(&self) -> u32 {
        (self.bound_seconds() + 30) / 60
    }
}

/// How an AWS status string reads for the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Ready,
    Pending,
    Failed,
}

/// The poll record for attempt number `attempt` (1-based) that saw `status` on `subject`
/// (what is polled, with its id: `resource gateway rgw-…`), named in the cause of a timeout.
pub fn outcome(
    policy: Policy,
    attempt: u32,
    subject: &str,
    status: &str,
    class: Class,
    reason: Option<String>,
) -> PollOut {
    let state = match class {
        Class::Ready => PollState::Ready,
        Class::Failed => PollState::Failed,
        Class::Pending if attempt >= policy.max_attempts => PollState::TimedOut,
        Class::Pending => PollState::Pending,
    };
    let reason = match state {
        // No word on what becomes of the resource: the provisioning's rollback deletes it and
        // appends so to the cause.
        PollState::TimedOut => Some(format!(
            "{subject} still {status} after {attempt} attempts (about {} min); giving up",
            policy.bound_minutes()
        )),
        _ => reason,
    };
    PollOut {
        attempt,
        max_attempts: policy.max_attempts,
        wait_seconds: policy.wait_after(attempt),
        reason,
        subject: Some(subject.to_string()),
        ..PollOut::new(state, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_back_off_and_cap() {
        let p = Policy::LATTICE;
        let waits: Vec<u32> = (1..=45).map(|a| p.wait_after(a)).collect();
        let mut expected = vec![3; 40];
        expected.extend([6, 12, 24, 30, 30]);
        assert_eq!(waits, expected);
        let db: Vec<u32> = (1..=4).map(|a| Policy::DATABASE.wait_after(a)).collect();
        assert_eq!(db, vec![30, 60, 60, 60]);
        assert_eq!(Policy::DATABASE.wait_after(50), 60);
    }

    #[test]
    fn the_bounds_are_what_the_docs_say() {
        // README: "database ≈ 90 min, Lattice ≈ 30 min".
        let lattice = Policy::LATTICE.bound_seconds();
        assert!((1700..=1900).contains(&lattice), "{lattice}");
        let db = Policy::DATABASE.bound_seconds();
        assert!((5300..=5700).contains(&db), "{db}");
        // The exact figures tests/test_template.py's mirror of these policies expects; the state
        // machines' TimeoutSeconds is derived from them.
        assert_eq!((lattice, db), (1782, 5610));
        assert_eq!(
            (
                Policy::LATTICE.bound_minutes(),
                Policy::DATABASE.bound_minutes()
            ),
            (30, 94)
        );
    }

    #[test]
    fn pending_turns_into_timed_out_at_the_bound() {
        let p = Policy {
            first_wait: 1,
            steady_attempts: 1,
            max_wait: 1,
            max_attempts: 3,
        };
        let gw = "resource gateway rgw-0123456789abcdefg";
        assert_eq!(
            outcome(p, 2, gw, "CREATE_IN_PROGRESS", Class::Pending, None).state,
            PollState::Pending
        );
        let last = outcome(p, 3, gw, "CREATE_IN_PROGRESS", Class::Pending, None);
        assert_eq!(last.state, PollState::TimedOut);
        assert_eq!(
            last.reason.as_deref(),
            Some(
                "resource gateway rgw-0123456789abcdefg still CREATE_IN_PROGRESS after 3 attempts \
                 (about 0 min); giving up"
            )
        );
        // Ready on the last attempt is still ready.
        assert_eq!(
            outcome(p, 3, gw, "ACTIVE", Class::Ready, None).state,
            PollState::Ready
        );
    }

    #[test]
    fn a_timeout_names_the_resource_and_never_says_what_became_of_it() {
        // The provisioning's rollback appends "(rolled back: …)": the cause must not contradict it.
        let p = Policy::LATTICE;
        let out = outcome(
            p,
            p.max_attempts,
            "resource gateway rgw-0123456789abcdefg",
            "CREATE_IN_PROGRESS",
            Class::Pending,
            None,
        );
        let reason = out.reason.unwrap();
        assert_eq!(
            reason,
            "resource gateway rgw-0123456789abcdefg still CREATE_IN_PROGRESS after 98 attempts \
             (about 30 min); giving up"
        );
        assert!(!reason.contains("left as it is"), "{reason}");
    }
}
