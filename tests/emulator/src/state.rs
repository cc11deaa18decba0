//! The whole emulator state, kept behind one mutex (handlers never await while holding it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};

use crate::{cloudwatch, dataplane, lattice};

#[derive(Clone, Debug)]
pub struct Options {
    /// A `*_IN_PROGRESS` resource settles on the Nth Get/List that sees it (0 = at once).
    pub polls_to_active: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { polls_to_active: 2 }
    }
}

/// An error injected by `/_emu/fail-next` for the next `count` calls of `op`.
#[derive(Clone, Debug)]
pub struct Injected {
    pub error: String,
    pub status: u16,
    pub message: String,
    pub count: u32,
}

pub struct Emu {
    pub defaults: Options,
    pub polls_to_active: u32,
    pub lattice: lattice::Store,
    pub cloudwatch: cloudwatch::Store,
    pub dataplane: dataplane::Registry,
    calls: Vec<Value>,
    fail_next: HashMap<String, Injected>,
    /// `/_emu/delay-next`: op -> (milliseconds, calls left).
    delay_next: HashMap<String, (u64, u32)>,
}

impl Emu {
    pub fn new(defaults: Options) -> Self {
        Emu {
            polls_to_active: defaults.polls_to_active,
            defaults,
            lattice: lattice::Store::default(),
            cloudwatch: cloudwatch::Store::default(),
            dataplane: dataplane::Registry::default(),
            calls: Vec::new(),
            fail_next: HashMap::new(),
            delay_next: HashMap::new(),
        }
    }

    /// Back to a fresh start, including the startup lifecycle setting.
    pub fn reset(&mut self) {
        let mut dataplane = std::mem::take(&mut self.dataplane);
        dataplane.reset();
        *self = Emu::new(self.defaults.clone());
        self.dataplane = dataplane;
    }

    pub fn record(&mut self, service: &str, op: &str, status: u16, region: &str, input: Value) {
        let seq = self.calls.len() as u64 + 1;
        self.calls.push(json!({
            "seq": seq,
            "service": service,
            "op": op,
            "status": status,
            "region": region,
            "input": input,
        }));
    }

    /// Adds `key` to the last recorded call (e.g. the protocol a CloudWatch call came in).
    pub fn annotate_last(&mut self, key: &str, value: Value) {
        if let Some(Value::Object(m)) = self.calls.last_mut() {
            m.insert(key.into(), value);
        }
    }

    pub fn calls(&self) -> &[Value] {
        &self.calls
    }

    pub fn inject(&mut self, op: &str, injected: Injected) {
        if injected.count == 0 {
            self.fail_next.remove(op);
        } else {
            self.fail_next.insert(op.to_string(), injected);
        }
    }

    /// Consumes one pending injected failure for `op`, if any.
    pub fn take_injected(&mut self, op: &str) -> Option<Injected> {
        let entry = self.fail_next.get_mut(op)?;
        entry.count -= 1;
        let out = entry.clone();
        if entry.count == 0 {
            self.fail_next.remove(op);
        }
        Some(out)
    }

    /// Holds the next `count` calls of `op` for `ms` before they are served (`count: 0` clears).
    pub fn delay(&mut self, op: &str, ms: u64, count: u32) {
        if count == 0 {
            self.delay_next.remove(op);
        } else {
            self.delay_next.insert(op.to_string(), (ms, count));
        }
    }

    /// Consumes one pending delay for `op`, if any.
    pub fn take_delay(&mut self, op: &str) -> Option<std::time::Duration> {
        let (ms, left) = self.delay_next.get_mut(op)?;
        let out = std::time::Duration::from_millis(*ms);
        *left -= 1;
        if *left == 0 {
            self.delay_next.remove(op);
        }
        Some(out)
    }

    pub fn pending_injections(&self) -> Value {
        self.fail_next
            .iter()
            .map(|(op, i)| {
                (
                    op.clone(),
                    json!({"error": i.error, "status": i.status, "count": i.count}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

pub type Shared = Arc<Mutex<Emu>>;

/// A poisoned lock only means a handler panicked mid-request; keep serving.
pub fn lock(shared: &Shared) -> MutexGuard<'_, Emu> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}
