//! Status lifecycle: `*_IN_PROGRESS` settles after a number of observations (Get/List hits).

use serde_json::{Map, Value};

#[derive(Clone, Debug)]
pub struct Life {
    pub status: String,
    /// Observations left before an in-progress status settles.
    remaining: u32,
    pub failure_reason: Option<String>,
    pub failure_code: Option<String>,
    /// Set once the resource has been ACTIVE (an SNRA keeps its dnsEntry from then on).
    pub reached_active: bool,
}

/// What an observation found.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    Present,
    Gone,
}

impl Life {
    pub fn new(status: &str, polls: u32) -> Self {
        let mut life = Life {
            status: String::new(),
            remaining: 0,
            failure_reason: None,
            failure_code: None,
            reached_active: false,
        };
        life.set(status, polls);
        life
    }

    /// Moves to `status`; with `polls == 0` a create/update settles at once (a delete is
    /// removed by the caller once it has answered).
    pub fn set(&mut self, status: &str, polls: u32) {
        self.status = status.to_string();
        self.remaining = polls;
        self.failure_reason = None;
        self.failure_code = None;
        if polls == 0 && status != "DELETE_IN_PROGRESS" {
            self.settle();
        }
        if self.status == "ACTIVE" {
            self.reached_active = true;
        }
    }

    pub fn in_progress(&self) -> bool {
        self.status.ends_with("_IN_PROGRESS")
    }

    pub fn deleting(&self) -> bool {
        self.status == "DELETE_IN_PROGRESS"
    }

    fn settle(&mut self) {
        if self.status.ends_with("_IN_PROGRESS") && !self.deleting() {
            self.status = "ACTIVE".to_string();
            self.reached_active = true;
        }
    }

    /// One Get/List saw the resource.
    pub fn observe(&mut self) -> Seen {
        if !self.in_progress() {
            return Seen::Present;
        }
        self.remaining = self.remaining.saturating_sub(1);
        if self.remaining > 0 {
            return Seen::Present;
        }
        if self.deleting() {
            return Seen::Gone;
        }
        self.settle();
        Seen::Present
    }

    pub fn state_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), self.status.clone().into());
        if self.in_progress() {
            m.insert("observationsLeft".into(), self.remaining.into());
        }
        if let Some(r) = &self.failure_reason {
            m.insert("failureReason".into(), r.clone().into());
        }
        if let Some(c) = &self.failure_code {
            m.insert("failureCode".into(), c.clone().into());
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_on_nth_observation() {
        let mut l = Life::new("CREATE_IN_PROGRESS", 2);
        assert_eq!(l.observe(), Seen::Present);
        assert_eq!(l.status, "CREATE_IN_PROGRESS");
        assert_eq!(l.observe(), Seen::Present);
        assert_eq!(l.status, "ACTIVE");
        l.set("DELETE_IN_PROGRESS", 2);
        assert_eq!(l.observe(), Seen::Present);
        assert_eq!(l.observe(), Seen::Gone);
    }

    #[test]
    fn zero_polls_is_instant() {
        let l = Life::new("CREATE_IN_PROGRESS", 0);
        assert_eq!(l.status, "ACTIVE");
        let mut l = Life::new("DELETE_IN_PROGRESS", 0);
        assert_eq!(l.observe(), Seen::Gone);
    }
}
