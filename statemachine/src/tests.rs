use super::*;

/// Every state map in `states` and the branches below it, with its states.
fn scopes(states: &Value) -> Vec<&Map<String, Value>> {
    let map = states.as_object().expect("States is an object");
    let mut out = vec![map];
    for s in map.values() {
        for b in s
            .get("Branches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(scopes(&b["States"]));
        }
    }
    out
}

/// Every string `key` holds anywhere in `v`, arrays flattened.
fn strings_under<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == key {
                    match child {
                        Value::String(s) => out.push(s),
                        Value::Array(a) => out.extend(a.iter().filter_map(Value::as_str)),
                        _ => {}
                    }
                }
                strings_under(child, key, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| strings_under(c, key, out)),
        _ => {}
    }
}

/// Where a state can go next: Next, Default, its Choices' and Catches' Next.
fn targets(s: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = ["Next", "Default"]
        .iter()
        .filter_map(|k| s.get(*k).and_then(Value::as_str))
        .collect();
    for key in ["Choices", "Catch"] {
        for c in s.get(key).and_then(Value::as_array).into_iter().flatten() {
            out.extend(c["Next"].as_str());
        }
    }
    out
}

#[test]
fn the_policy_bounds_are_the_python_figures() {
    assert_eq!(PollPolicy::Lattice.policy().bound_seconds(), 1782);
    assert_eq!(PollPolicy::Database.policy().bound_seconds(), 5610);
    assert_eq!(PollPolicy::Lattice.worst_loop(), (1782, 97));
    assert_eq!(PollPolicy::Database.worst_loop(), (5610, 94));
    assert_eq!(PollPolicy::Lattice.name(), "LATTICE");
    assert_eq!(PollPolicy::Database.name(), "DATABASE");
}

#[test]
fn the_timeout_rounds_up_to_a_quarter_hour() {
    assert_eq!(timeout_seconds(0, 0), 0);
    assert_eq!(timeout_seconds(900, 0), 900);
    assert_eq!(timeout_seconds(896, 1), 1800);
    assert_eq!(timeout_seconds(895, 1), 900);
    assert_eq!(timeout_seconds(20130, 687), 24300);
    assert_eq!(timeout_seconds(7392, 195), 9000);
}

#[test]
fn the_generated_documents_are_the_committed_files() {
    for m in generate() {
        let path = out_dir().join(m.file);
        let committed = std::fs::read_to_string(&path).expect("the committed file");
        assert!(
            committed == m.render(),
            "{} differs from the generator: run cargo run -q -p statemachine --bin gen-asl",
            path.display()
        );
    }
}

#[test]
fn the_worst_paths_and_timeouts() {
    let [provision, teardown] = generate().try_into().expect("two machines");
    assert_eq!(provision.file, PROVISION_FILE);
    assert_eq!(teardown.file, TEARDOWN_FILE);
    // Build: database, configuration, association, the prune's two loops; then the rollback's
    // database and security groups.
    assert_eq!(
        provision.waits,
        5610 + 1782 + 1782 + 1782 + 1782 + 5610 + 1782
    );
    assert_eq!((provision.tasks, provision.timeout), (687, 24300));
    // The rollback alone is the teardown machine's worst path.
    assert_eq!(teardown.waits, 5610 + 1782);
    assert_eq!((teardown.tasks, teardown.timeout), (195, 9000));
    for m in [&provision, &teardown] {
        assert_eq!(m.doc["TimeoutSeconds"], json!(m.timeout), "{}", m.file);
        assert!(
            m.waits + TASK_ALLOWANCE_SECONDS * m.tasks <= m.timeout,
            "{}",
            m.file
        );
    }
    assert_eq!(
        provision.summary(),
        "provision.asl.json: worst path: 335.5 min of Waits (687 Task invocations), timeout 405 min"
    );
    assert_eq!(
        teardown.summary(),
        "teardown.asl.json: worst path: 123.2 min of Waits (195 Task invocations), timeout 150 min"
    );
}

#[test]
fn every_lock_lease_outlives_its_machine_timeout() {
    for m in generate() {
        let acquire = &m.doc["States"][state::ACQUIRE_LOCK];
        assert_eq!(acquire["Parameters"]["Payload"]["action"], "acquire");
        assert_eq!(
            acquire["Parameters"]["Payload"]["leaseSeconds"],
            json!(m.timeout + LEASE_MARGIN_SECONDS),
            "{}",
            m.file
        );
        // Only the acquire carries a lease.
        let count = m.render().matches("\"leaseSeconds\"").count();
        assert_eq!(count, 1, "{}", m.file);
    }
}

#[test]
fn every_error_name_is_a_step_error_or_declared_here() {
    for name in errors::ALL {
        assert!(!step::ALL.contains(name), "{name} is a StepError name");
    }
    let mut seen = Vec::new();
    for m in &generate() {
        let mut names = Vec::new();
        strings_under(&m.doc, "ErrorEquals", &mut names);
        strings_under(&m.doc, "Error", &mut names);
        assert!(!names.is_empty());
        for n in names {
            assert!(
                step::ALL.contains(&n) || errors::ALL.contains(&n),
                "{}: {n} is neither a shared::error::names constant nor declared in errors",
                m.file
            );
            seen.push(n.to_string());
        }
    }
    // The retries and the loops' Fail states use these.
    for n in [
        step::AWS_THROTTLED,
        step::AWS_TRANSIENT,
        step::RESOURCE_CONFLICT,
        step::RESOURCE_FAILED,
    ] {
        assert!(seen.iter().any(|s| s == n), "{n} unused");
    }
    for n in errors::ALL {
        assert!(seen.iter().any(|s| s == n), "{n} declared but unused");
    }
}

#[test]
fn every_wait_is_the_default_of_its_polling_loop() {
    let policies = wait_policies();
    let mut waits = 0;
    for m in generate() {
        for scope in scopes(&m.doc["States"]) {
            for (name, wait) in scope.iter().filter(|(_, s)| s["Type"] == "Wait") {
                waits += 1;
                let choices: Vec<_> = scope
                    .iter()
                    .filter(|(_, s)| s["Type"] == "Choice" && s["Default"] == name.as_str())
                    .map(|(n, _)| n.as_str())
                    .collect();
                assert_eq!(
                    choices.len(),
                    1,
                    "{}: {name} is the Default of {choices:?}",
                    m.file
                );
                // Reached only that way.
                for (other, s) in scope {
                    let to_wait = targets(s).iter().filter(|t| **t == name.as_str()).count();
                    let expected = usize::from(other == choices[0]);
                    assert_eq!(to_wait, expected, "{}: {other} -> {name}", m.file);
                }
                // The Wait leads back to the Task that the Choice follows.
                let task = &scope[wait["Next"].as_str().expect("Next")];
                assert_eq!(task["Type"], "Task", "{}: {name}", m.file);
                assert_eq!(task["Next"], choices[0], "{}: {name}", m.file);
                let policy = policies[name.as_str()];
                let comment = wait["Comment"].as_str().expect("Comment");
                assert!(
                    comment.contains(&format!("policy {} ", policy.name())),
                    "{comment}"
                );
            }
        }
    }
    // Provisioning: 5 status loops, 2 prune, 4 rollback; teardown: 4.
    assert_eq!(waits, 15);
    assert_eq!(policies.len(), 15);
}

#[test]
fn every_state_name_resolves_in_its_scope() {
    for m in generate() {
        for scope in scopes(&m.doc["States"]) {
            for (name, s) in scope {
                for t in targets(s) {
                    assert!(scope.contains_key(t), "{}: {name} -> {t}", m.file);
                }
            }
        }
    }
}

#[test]
#[should_panic(expected = "a Wait outside a polling loop")]
fn a_wait_outside_a_polling_loop_is_refused() {
    let states = obj(json!({
        "Start": {"Type": "Pass", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 5, "End": true},
    }));
    worst_path(&states, "Start", &HashMap::new());
}

#[test]
fn a_parallel_costs_its_longest_branch_then_continues() {
    let policies = HashMap::from([("W".to_string(), PollPolicy::Lattice)]);
    let looped = obj(json!({
        "T": {"Type": "Task", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Next": "Done"}], "Default": "W"},
        "W": {"Type": "Wait", "Next": "T"},
        "Done": {"Type": "Succeed"},
    }));
    let states = obj(json!({
        "P": {"Type": "Parallel", "Branches": [
            {"StartAt": "T", "States": looped},
            {"StartAt": "X", "States": {"X": {"Type": "Task", "End": true}}},
        ], "Catch": [{"Next": "Rescue"}], "Next": "End"},
        "Rescue": {"Type": "Task", "Next": "End"},
        "End": {"Type": "Succeed"},
    }));
    assert_eq!(worst_path(&states, "P", &policies), (1782, 1 + 97 + 1));
}

#[test]
fn rendering_is_pythons_json_dumps_with_indent_2() {
    // python3 -c 'import json; print(json.dumps({...}, indent=2))'
    let doc = json!({"a": [], "b": {}, "c": [1, {"d": 2, "e": null, "f": true}]});
    assert_eq!(
        render(&doc),
        "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    1,\n    {\n      \"d\": 2,\n      \"e\": null,\n      \"f\": true\n    }\n  ]\n}\n"
    );
    // ensure_ascii: non-ASCII (as UTF-16 units) and DEL escaped, lowercase hex.
    assert_eq!(
        render(&json!("é😀\x7f\x01\n\"\\/")),
        "\"\\u00e9\\ud83d\\ude00\\u007f\\u0001\\n\\\"\\\\/\"\n"
    );
}
