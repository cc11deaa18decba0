//! What a follower prints for an execution's history: pure functions over the Step Functions
//! history events (as the SDK returns them, reduced to [`Event`]), so the plain-text view is
//! tested without AWS.

use serde_json::Value;

/// The parts of a history event the view reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    /// Seconds since the epoch.
    pub timestamp: f64,
    /// The model's `HistoryEventType` (`TaskStateEntered`, `ExecutionFailed`, …).
    pub kind: String,
    /// The state's name (state events).
    pub state: Option<String>,
    /// The state's input (entered) or output (exited), or the execution's output, as JSON text.
    pub data: Option<String>,
    /// Failures: the error name and its cause.
    pub error: Option<(String, String)>,
}

/// `CreateResourceGateway` → `create resource gateway`.
pub fn words(state: &str) -> String {
    let mut out = String::new();
    for (i, c) in state.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A polling loop's last result in a Task's output: the member whose value the Task changed
/// (a `status` poll writes exactly one), if it looks like a poll.
fn changed_poll<'a>(input: &Value, output: &'a Value) -> Option<&'a Value> {
    let out = output.as_object()?;
    out.iter()
        .filter(|(_, v)| v.get("maxAttempts").is_some() && v.get("state").is_some())
        .find(|(k, v)| input.get(k.as_str()) != Some(v))
        .map(|(_, v)| v)
}

/// Follows the events in order and renders each worth a line.
#[derive(Debug, Default)]
pub struct View {
    /// The input each running state was entered with (to spot the poll a Task changed).
    entered: std::collections::HashMap<String, Value>,
    /// States entered before: a loop's Task says `→` once, then only what each round found.
    seen: std::collections::HashSet<String>,
    started: Option<f64>,
}

impl View {
    /// The line for `ev`, if it gets one: `[  12.3s] …`.
    pub fn line(&mut self, ev: &Event) -> Option<String> {
        let t0 = *self.started.get_or_insert(ev.timestamp);
        let text = self.text(ev)?;
        Some(format!("[{:>7.1}s] {text}", ev.timestamp - t0))
    }

    fn text(&mut self, ev: &Event) -> Option<String> {
        let state = ev.state.as_deref().unwrap_or("");
        let json = || {
            ev.data
                .as_deref()
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                .unwrap_or(Value::Null)
        };
        match ev.kind.as_str() {
            "ExecutionStarted" => Some("execution started".into()),
            "TaskStateEntered" => {
                self.entered.insert(state.to_string(), json());
                // A poll's line says what it found; its start, or a loop's next round, nothing new.
                let first = self.seen.insert(state.to_string());
                (first && !state.starts_with("Check")).then(|| format!("→ {}", words(state)))
            }
            "TaskStateExited" => {
                let output = json();
                let input = self.entered.remove(state).unwrap_or(Value::Null);
                match changed_poll(&input, &output) {
                    Some(poll) => Some(poll_line(state, poll)),
                    None => Some(format!("✓ {}", words(state))),
                }
            }
            // The model's TaskFailed names no state; the step's own line came before it.
            "TaskFailed" => ev
                .error
                .as_ref()
                .map(|(e, c)| format!("✗ {e}: {}", one_line(c))),
            "ExecutionSucceeded" => Some("execution succeeded".into()),
            "ExecutionFailed" => ev
                .error
                .as_ref()
                .map(|(e, c)| format!("execution failed: {e}: {}", one_line(c))),
            "ExecutionAborted" => Some("execution stopped".into()),
            "ExecutionTimedOut" => Some("execution timed out".into()),
            _ => None,
        }
    }
}

/// `waiting for resource gateway rgw-… (CREATE_IN_PROGRESS, attempt 7/98, next check in 3 s)`.
fn poll_line(state: &str, poll: &Value) -> String {
    let what = poll["subject"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| words(state.trim_start_matches("Check")));
    let status = poll["status"].as_str().unwrap_or("?");
    let attempt = poll["attempt"].as_u64().unwrap_or(0);
    let max = poll["maxAttempts"].as_u64().unwrap_or(0);
    if let Some(waiting) = poll["waiting"].as_array() {
        // A converging teardown loop: what it deleted and what it still waits for.
        let list = |v: &Value| {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        };
        let what = words(state);
        return match poll["state"].as_str() {
            Some("PENDING") => format!(
                "{what}: waiting for {} (attempt {attempt}/{max}, next check in {} s)",
                list(&poll["waiting"]),
                poll["waitSeconds"].as_u64().unwrap_or(0)
            ),
            Some("READY") if waiting.is_empty() => match list(&poll["removed"]) {
                r if r.is_empty() => format!("✓ {what}: nothing to delete"),
                r => format!("✓ {what}: deleted {r}"),
            },
            _ => format!("✗ {what}: {}", poll["reason"].as_str().unwrap_or("failed")),
        };
    }
    match poll["state"].as_str() {
        Some("PENDING") => format!(
            "waiting for {what} ({status}, attempt {attempt}/{max}, next check in {} s)",
            poll["waitSeconds"].as_u64().unwrap_or(0)
        ),
        Some("READY") => format!("✓ {what} is {status}"),
        Some(other) => format!(
            "✗ {what} is {status} ({other}): {}",
            poll["reason"].as_str().unwrap_or("")
        ),
        None => format!("{what}: {status}"),
    }
}

/// On a terminal, a polling loop's next line replaces its previous one when nothing came between:
/// `waiting for X (…attempt 7…)` over `waiting for X (…attempt 6…)`, and `✓ X is ACTIVE` over the
/// last `waiting for X`. Plain output keeps every line.
pub fn replaces(previous: &str, next: &str) -> bool {
    let subject = |l: &str| {
        let l = l.split_once("] ").map_or(l, |(_, t)| t);
        l.strip_prefix("waiting for ")
            .and_then(|r| r.split_once(" (").map(|(s, _)| s.to_string()))
            .or_else(|| {
                l.strip_prefix("✓ ")
                    .and_then(|r| r.rsplit_once(" is ").map(|(s, _)| s.to_string()))
            })
    };
    let waiting = previous
        .split_once("] ")
        .map_or(previous, |(_, t)| t)
        .starts_with("waiting for ");
    waiting && subject(previous).is_some() && subject(previous) == subject(next)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(id: i64, t: f64, kind: &str, state: Option<&str>, data: Option<Value>) -> Event {
        Event {
            id,
            timestamp: t,
            kind: kind.into(),
            state: state.map(str::to_string),
            data: data.map(|d| d.to_string()),
            error: None,
        }
    }

    #[test]
    fn on_a_terminal_a_loop_updates_its_own_line_only() {
        let w6 = "[   3.0s] waiting for resource gateway rgw-1 (CREATE_IN_PROGRESS, attempt 6/98, next check in 3 s)";
        let w7 = "[   6.0s] waiting for resource gateway rgw-1 (CREATE_IN_PROGRESS, attempt 7/98, next check in 3 s)";
        let ok = "[   9.0s] ✓ resource gateway rgw-1 is ACTIVE";
        assert!(replaces(w6, w7));
        assert!(replaces(w7, ok));
        assert!(!replaces(ok, w7), "a finished loop's line stays");
        assert!(!replaces(w7, "[   9.0s] waiting for DB instance orders-db (creating, attempt 2/90, next check in 60 s)"));
        assert!(!replaces(
            "[   1.0s] → create database",
            "[   2.0s] → create database"
        ));
    }

    #[test]
    fn state_names_read_as_words() {
        assert_eq!(words("CreateResourceGateway"), "create resource gateway");
        assert_eq!(words("ValidateInput"), "validate input");
    }

    #[test]
    fn a_poll_shows_what_it_waits_for_and_a_step_its_start_and_end() {
        let mut v = View::default();
        let before = json!({"plan": {}, "gatewayPoll": null});
        let pending = json!({"plan": {}, "gatewayPoll": {"state": "PENDING", "status": "CREATE_IN_PROGRESS",
            "attempt": 7, "maxAttempts": 98, "waitSeconds": 3, "subject": "resource gateway rgw-0123"}});
        let lines: Vec<String> = [
            ev(1, 100.0, "ExecutionStarted", None, None),
            ev(
                2,
                100.5,
                "TaskStateEntered",
                Some("CreateResourceGateway"),
                Some(json!({})),
            ),
            ev(
                3,
                101.0,
                "TaskStateExited",
                Some("CreateResourceGateway"),
                Some(json!({})),
            ),
            ev(
                4,
                101.0,
                "TaskStateEntered",
                Some("CheckResourceGateway"),
                Some(before.clone()),
            ),
            ev(
                5,
                101.2,
                "TaskStateExited",
                Some("CheckResourceGateway"),
                Some(pending),
            ),
            ev(
                6,
                104.2,
                "WaitStateEntered",
                Some("WaitForResourceGateway"),
                None,
            ),
        ]
        .iter()
        .filter_map(|e| v.line(e))
        .collect();
        assert_eq!(
            lines,
            [
                "[    0.0s] execution started",
                "[    0.5s] → create resource gateway",
                "[    1.0s] ✓ create resource gateway",
                "[    1.2s] waiting for resource gateway rgw-0123 (CREATE_IN_PROGRESS, attempt 7/98, next check in 3 s)",
            ]
        );
    }

    #[test]
    fn an_unchanged_poll_of_another_loop_is_not_mistaken_for_this_one() {
        let mut v = View::default();
        let db = json!({"state": "READY", "status": "available", "attempt": 3, "maxAttempts": 90,
            "waitSeconds": 60, "subject": "DB instance orders-db"});
        let input = json!({"databasePoll": db, "gatewayPoll": null});
        let output = json!({"databasePoll": db, "gatewayPoll": {"state": "READY", "status": "ACTIVE",
            "attempt": 2, "maxAttempts": 98, "waitSeconds": 3}});
        v.line(&ev(
            1,
            0.0,
            "TaskStateEntered",
            Some("CheckResourceGateway"),
            Some(input),
        ));
        let line = v
            .line(&ev(
                2,
                1.0,
                "TaskStateExited",
                Some("CheckResourceGateway"),
                Some(output),
            ))
            .unwrap();
        assert!(line.ends_with("✓ resource gateway is ACTIVE"), "{line}");
    }

    #[test]
    fn a_teardown_loop_shows_what_it_waits_for_then_what_it_deleted() {
        let mut v = View::default();
        let pending = json!({"teardownLattice": {"state": "PENDING", "attempt": 2, "maxAttempts": 98,
            "waitSeconds": 3, "deleted": ["snra-1"], "waiting": ["resource association snra-1 is DELETE_IN_PROGRESS"]}});
        let done = json!({"teardownLattice": {"state": "READY", "attempt": 3, "maxAttempts": 98,
            "waitSeconds": 3, "deleted": [], "waiting": [], "removed": ["snra-1", "rcfg-2"]}});
        v.line(&ev(
            1,
            0.0,
            "TaskStateEntered",
            Some("TeardownLattice"),
            Some(json!({})),
        ));
        let a = v
            .line(&ev(
                2,
                1.0,
                "TaskStateExited",
                Some("TeardownLattice"),
                Some(pending.clone()),
            ))
            .unwrap();
        assert!(a.ends_with("teardown lattice: waiting for resource association snra-1 is DELETE_IN_PROGRESS (attempt 2/98, next check in 3 s)"), "{a}");
        let again = v.line(&ev(
            3,
            4.0,
            "TaskStateEntered",
            Some("TeardownLattice"),
            Some(pending),
        ));
        assert_eq!(again, None, "the loop's next round is not a new step");
        let b = v
            .line(&ev(
                4,
                5.0,
                "TaskStateExited",
                Some("TeardownLattice"),
                Some(done),
            ))
            .unwrap();
        assert!(
            b.ends_with("✓ teardown lattice: deleted snra-1; rcfg-2"),
            "{b}"
        );
    }

    #[test]
    fn failures_name_the_error_and_cause_on_one_line() {
        let mut v = View::default();
        let mut e = ev(9, 5.0, "ExecutionFailed", None, None);
        e.error = Some(("Input.Invalid".into(), "clientVpcs[0]:\n  not found".into()));
        assert_eq!(
            v.line(&e).unwrap(),
            "[    0.0s] execution failed: Input.Invalid: clientVpcs[0]: not found"
        );
    }
}
