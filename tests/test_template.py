"""Static checks that tie template.yaml, the state machines and the Rust crates together.

Run with the SAM venv's Python (it has cfn-lint, whose YAML loader understands !Ref/!Sub/!GetAtt):
    .venv/bin/python -m unittest discover -s tests -p 'test_*.py' -v
"""

import fnmatch
import importlib.util
import json
import re
import sys
import unittest
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
}


def load_template():
    tpl, matches = decode(str(ROOT / "template.yaml"))
    assert not matches, matches
    return json.loads(json.dumps(tpl, default=str))


def rust_error_names():
    text = (ROOT / "shared/src/error.rs").read_text()
    return set(re.findall(r'pub const [A-Z_]+: &str = "([A-Za-z.]+)";', text))


def function_crates():
    """{binary name: crate directory} for the crates under functions/."""
    out = {}
    for cargo in (ROOT / "functions").glob("*/Cargo.toml"):
        m = re.search(r'\[\[bin\]\]\s*name = "([^"]+)"', cargo.read_text())
        assert m, f"{cargo} declares no [[bin]]"
        out[m.group(1)] = cargo.parent
    return out


def function_binaries():
    """Binary names of the crates under functions/."""
    return set(function_crates())


def walk_states(states):
    for name, state in states.items():
        yield name, state, states
        for branch in state.get("Branches", []):
            yield from walk_states(branch["States"])


class TemplateCase(unittest.TestCase):
    """The template, its functions and its state machines, loaded once per test class."""

    @classmethod
    def setUpClass(cls):
        cls.tpl = load_template()
        cls.resources = cls.tpl["Resources"]
        cls.functions = {k: v for k, v in cls.resources.items() if v["Type"] == "AWS::Serverless::Function"}
        cls.machines = {k: v for k, v in cls.resources.items() if v["Type"] == "AWS::Serverless::StateMachine"}


class TemplateTests(TemplateCase):

    def test_every_function_is_a_rust_arm64_al2023_build_of_a_real_crate(self):
        g = self.tpl["Globals"]["Function"]
        self.assertEqual(g["Runtime"], "provided.al2023")
        self.assertEqual(g["Architectures"], ["arm64"])
        self.assertEqual(g["Handler"], "bootstrap")
        binaries = function_binaries()
        seen = set()
        for name, fn in self.functions.items():
            meta = fn.get("Metadata", {})
            self.assertEqual(meta.get("BuildMethod"), "rust-cargolambda", name)
            binary = meta["BuildProperties"]["Binary"]
            self.assertIn(binary, binaries, f"{name} builds {binary}, which is not a crate under functions/")
            seen.add(binary)
            for key in ("Runtime", "Architectures"):
                self.assertNotIn(key, fn["Properties"], f"{name} overrides {key}")
        self.assertEqual(seen, binaries, "every function crate is deployed")

    def test_no_wildcard_actions(self):
        for name, fn in list(self.functions.items()) + list(self.machines.items()):
            for policy in fn["Properties"].get("Policies", []):
                for st in policy.get("Statement", []) if isinstance(policy, dict) else []:
                    actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                    for a in actions:
                        self.assertNotEqual(a, "*", name)
                        self.assertFalse(a.endswith(":*"), f"{name}: service-wide {a}")

    def test_state_machines_are_standard_logged_and_traced(self):
        self.assertIn("ProvisionStateMachine", self.machines)
        for name, sm in self.machines.items():
            p = sm["Properties"]
            self.assertEqual(p["Type"], "STANDARD", name)
            self.assertIn("Destinations", p["Logging"], name)
            self.assertTrue(p["Tracing"]["Enabled"], name)

    def test_substitutions_match_the_asl_and_point_at_functions_the_machine_may_invoke(self):
        for name, sm in self.machines.items():
            p = sm["Properties"]
            asl_text = (ROOT / p["DefinitionUri"]).read_text()
            used = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", asl_text))
            defined = set(p["DefinitionSubstitutions"])
            self.assertEqual(used - defined, set(), f"{name}: placeholders without a substitution")
            self.assertEqual(defined - used, set(), f"{name}: substitutions the ASL never uses")
            invokable = {pol["LambdaInvokePolicy"]["FunctionName"]["Ref"] for pol in p["Policies"] if "LambdaInvokePolicy" in pol}
            for key, value in p["DefinitionSubstitutions"].items():
                target = value["Fn::GetAtt"]
                if isinstance(target, str):
                    target = target.split(".")
                self.assertEqual(target[1], "Arn", key)
                self.assertIn(target[0], self.functions, f"{key} points at {target[0]}, not a function")
                self.assertIn(target[0], invokable, f"{name} may not invoke {target[0]}")


class StateMachineTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.definitions = {p.name: json.loads(p.read_text()) for p in (ROOT / "statemachine").glob("*.asl.json")}
        cls.error_names = rust_error_names()

    def test_error_names_are_the_lambdas_stable_names(self):
        self.assertIn("Input.Invalid", self.error_names)
        for file, d in self.definitions.items():
            for name, state, _ in walk_states(d["States"]):
                for rule in state.get("Retry", []) + state.get("Catch", []):
                    for err in rule["ErrorEquals"]:
                        ok = err.startswith(("States.", "Lambda.", "Sandbox.")) or err in self.error_names
                        self.assertTrue(ok, f"{file}/{name}: {err} is not an error name any Lambda reports")
                if state["Type"] == "Fail" and "Error" in state:
                    self.assertIn(state["Error"], self.error_names | {"Poll.TimedOut"}, name)

    def test_tasks_use_the_optimized_lambda_integration_with_the_recommended_retry(self):
        for file, d in self.definitions.items():
            for name, state, _ in walk_states(d["States"]):
                if state["Type"] != "Task":
                    continue
                self.assertEqual(state["Resource"], "arn:aws:states:::lambda:invoke", name)
                self.assertRegex(state["Parameters"]["FunctionName"], r"^\$\{[A-Za-z]+FunctionArn\}$", name)
                if state["Parameters"]["FunctionName"] == "${LockFunctionArn}":
                    # The lock passes the state through untouched.
                    self.assertIsNone(state["ResultPath"], name)
                    self.assertNotIn("OutputPath", state, name)
                else:
                    self.assertEqual(state["OutputPath"], "$.Payload", name)
                retried = set().union(*(set(r["ErrorEquals"]) for r in state["Retry"]))
                self.assertTrue(LAMBDA_SERVICE_ERRORS <= retried, f"{name} lacks the Lambda service-error retry")
                self.assertIn("Lambda.TooManyRequestsException", retried, name)
                self.assertIn("Aws.Throttled", retried, name)
                self.assertNotIn("Input.Invalid", retried, f"{name} must not retry bad input")

    def test_first_state_validates_input(self):
        d = self.definitions["provision.asl.json"]
        first = d["States"][d["StartAt"]]
        self.assertEqual(first["Parameters"]["FunctionName"], "${ValidateInputFunctionArn}")

    def loops(self, file):
        """Every Wait → Task → Choice loop: (wait name, task state, scope)."""
        out = []
        for name, state, scope in walk_states(self.definitions[file]["States"]):
            if state["Type"] == "Wait":
                out.append((name, scope[state["Next"]], scope))
        return out

    def test_every_polling_loop_is_bounded_and_fails_clearly(self):
        for file in self.definitions:
            for name, task, scope in self.loops(file):
                self.assertIn("SecondsPath", scope[name], f"{name}: waits come from the Lambda's backoff")
                self.assertEqual(task["Type"], "Task", name)
                choice = scope[task["Next"]]
                self.assertEqual(choice["Type"], "Choice")
                self.assertEqual(choice["Default"], name, "pending loops back to the Wait")
                outcomes = {c["StringEquals"]: scope.get(c["Next"], {}) for c in choice["Choices"]}
                self.assertEqual(set(outcomes), {"READY", "FAILED", "TIMED_OUT"}, name)
                self.assertEqual(outcomes["FAILED"].get("Type"), "Fail", name)
                self.assertEqual(outcomes["TIMED_OUT"].get("Type"), "Fail", name)
                self.assertIn("CausePath", outcomes["FAILED"], "the failure reason reaches the user")
        provision = [t["Parameters"]["FunctionName"] for _, t, _ in self.loops("provision.asl.json")]
        # database, resource gateway, VPC associations, resource configuration, resource association
        self.assertEqual(provision.count("${StatusFunctionArn}"), 5)
        teardown_fns = {"${TeardownLatticeFunctionArn}", "${TeardownMonitoringFunctionArn}",
                        "${TeardownDatabaseFunctionArn}", "${TeardownNetworkFunctionArn}"}
        self.assertEqual(set(provision) - {"${StatusFunctionArn}"}, teardown_fns, "the rollback polls every teardown")
        self.assertEqual({t["Parameters"]["FunctionName"] for _, t, _ in self.loops("teardown.asl.json")}, teardown_fns)

    def test_a_failed_provisioning_rolls_back_what_it_created_and_keeps_the_original_error(self):
        d = self.definitions["provision.asl.json"]["States"]
        [catch] = d["Provision"]["Catch"]
        self.assertEqual((catch["ErrorEquals"], catch["ResultPath"]), (["States.ALL"], "$.error"))
        prep = d[catch["Next"]]
        self.assertEqual(prep["Parameters"]["request"]["onlyExecution.$"], "$$.Execution.Name")
        rollback = d[prep["Next"]]
        self.assertEqual(d[rollback["Next"]]["Parameters"]["Error.$"], "$.error.Error")
        self.assertEqual(d[rollback["Catch"][0]["Next"]]["Parameters"]["Error.$"], "$.error.Error")
        # Both ways out give the lock back first, whatever the release does.
        for way_out in (d[rollback["Next"]], d[rollback["Catch"][0]["Next"]]):
            release = d[way_out["Next"]]
            self.assertEqual(release["Parameters"]["Payload"]["action"], "release")
            self.assertEqual(release["Catch"][0]["Next"], release["Next"])
            final = d[release["Next"]]
            self.assertEqual((final["Type"], final["ErrorPath"], final["CausePath"]), ("Fail", "$.Error", "$.Cause"))
        # The rollback is the teardown state machine, state for state.
        # (The teardown's own states sit in one branch, inside its lock.)
        [teardown] = self.definitions["teardown.asl.json"]["States"]["Teardown"]["Branches"]
        [branch] = rollback["Branches"]
        strip = lambda text: json.dumps(text).replace('"RollbackDone"', '"TeardownDone"').replace('"Rollback', '"')
        self.assertEqual(json.loads(strip(branch)), teardown)

    def test_polling_kinds_are_those_the_status_lambda_knows(self):
        d = self.definitions["provision.asl.json"]
        kinds = set()
        for _, state, _ in walk_states(d["States"]):
            payload = state.get("Parameters", {}).get("Payload")
            if isinstance(payload, dict) and "kind" in payload:
                kinds.add(payload["kind"])
                self.assertEqual(payload.get("ctx.$"), "$")
        self.assertEqual(kinds, {"database", "resource-gateway", "vpc-associations", "resource-configuration", "resource-association"})
        # functions/status has the matching test: every kind in this file deserializes.

    def test_the_database_branch_does_not_wait_for_the_network(self):
        d = self.definitions["provision.asl.json"]
        starts = [[b["StartAt"] for b in s["Branches"]] for _, s, _ in walk_states(d["States"]) if s["Type"] == "Parallel"]
        self.assertIn(["CreateDatabase"], starts)
        self.assertIn(["CreateResourceGateway"], starts)
        self.assertIn(["CreateClientAccess"], starts)
        self.assertIn(["BuildDatabase", "BuildResourceGateway", "BuildClientSide"], starts)

    def test_no_provisioning_branch_can_stop_its_siblings(self):
        # A failing branch would stop a multi-branch Parallel while a sibling's Lambda still runs,
        # and the rollback could then miss what that Lambda creates: every such branch catches all.
        d = self.definitions["provision.asl.json"]
        provision = d["States"]["Provision"]["Branches"][0]["States"]
        checked = 0
        for name, s, _ in walk_states(provision):
            if s["Type"] != "Parallel" or len(s["Branches"]) < 2:
                continue
            for b in s["Branches"]:
                first = b["States"][b["StartAt"]]
                self.assertEqual(first["Type"], "Parallel", f"{name}: {b['StartAt']}")
                self.assertTrue(first.get("End"), b["StartAt"])
                self.assertEqual([c["ErrorEquals"] for c in first["Catch"]], [["States.ALL"]], b["StartAt"])
                caught = b["States"][first["Catch"][0]["Next"]]
                self.assertEqual(caught["Type"], "Succeed", b["StartAt"])
                self.assertEqual(first["Catch"][0]["ResultPath"], "$.failure")
                checked += 1
            # ... and the join fails with the branch's own error when one of them failed.
            choice = provision[s["Next"]]
            self.assertEqual(choice["Type"], "Choice")
            self.assertEqual(len(choice["Choices"]), len(s["Branches"]))
            for i, c in enumerate(choice["Choices"]):
                self.assertEqual((c["Variable"], c["IsPresent"]), (f"$[{i}].failure", True))
                fail = provision[c["Next"]]
                self.assertEqual((fail["Type"], fail["ErrorPath"], fail["CausePath"]),
                                 ("Fail", f"$[{i}].failure.Error", f"$[{i}].failure.Cause"))
        self.assertEqual(checked, 3)

PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
          "AWS::StackName": "lattice-db-access-prod"}


def sub(value):
    """A string or `!Sub` value with the pseudo parameters filled in (no other references)."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return re.sub(r"\$\{([^}]+)\}", lambda m: PSEUDO[m.group(1)], text)


def rust_const(path, name):
    m = re.search(rf'const {name}: &str = "([^"]+)";', (ROOT / path).read_text())
    assert m, f"{path} defines no {name}"
    return m.group(1)


def as_list(x):
    return x if isinstance(x, list) else [x]


class MonitoringWiringTests(TemplateCase):
    """The database alarms and the access-log group the monitoring step creates at run time."""

    DEPLOYMENT = "orders"

    def env(self):
        return self.functions["MonitoringFunction"]["Properties"]["Environment"]["Variables"]

    def key_statement(self, principal):
        for st in self.resources["OperationsKey"]["Properties"]["KeyPolicy"]["Statement"]:
            service = st["Principal"].get("Service")
            if service is not None and sub(service) == principal:
                return st
        self.fail(f"the key policy has no statement for {principal}")

    def test_the_database_alarms_notify_the_stack_alarm_topic(self):
        var = rust_const("functions/monitoring/src/lib.rs", "ALARM_TOPIC_ENV")
        self.assertEqual(self.env().get(var), {"Ref": "AlarmTopic"}, f"{var} must carry the alarm topic")
        code = (ROOT / "functions/monitoring/src/lib.rs").read_text()
        self.assertIn(".set_alarm_actions(topic_arn.map(", code, "PutMetricAlarm sends the topic as the alarm action")
        # The topic is encrypted with the stack's key: CloudWatch may use it for these alarms too.
        self.assertEqual(self.resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"], {"Ref": "OperationsKey"})
        st = self.key_statement("cloudwatch.amazonaws.com")
        prefix = re.search(r'alarm_prefix: format!\("([^"{]+)\{name\}"\)', (ROOT / "shared/src/plan.rs").read_text()).group(1)
        alarm = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{prefix}{self.DEPLOYMENT}-db-cpu-high"
        allowed = [sub(a) for a in as_list(st["Condition"]["ArnLike"]["aws:SourceArn"])]
        self.assertTrue(any(fnmatch.fnmatchcase(alarm, a) for a in allowed), f"{alarm} not in {allowed}")
        # ... and the function may create alarms of that name.
        grants = [sub(r) for s in self.functions["MonitoringFunction"]["Properties"]["Policies"]
                  for st in s.get("Statement", []) if "cloudwatch:PutMetricAlarm" in as_list(st["Action"])
                  for r in as_list(st["Resource"])]
        self.assertTrue(any(fnmatch.fnmatchcase(alarm, g) for g in grants), grants)

    def test_the_access_log_group_is_encrypted_with_the_stack_key(self):
        var = rust_const("functions/monitoring/src/lib.rs", "LOG_KMS_KEY_ENV")
        self.assertEqual(self.env().get(var), {"Fn::GetAtt": ["OperationsKey", "Arn"]},
                         f"{var} must carry the key ARN (CreateLogGroup's kmsKeyId takes an ARN)")
        code = (ROOT / "functions/monitoring/src/lib.rs").read_text()
        self.assertIn(".set_kms_key_id(kms_key_arn.map(String::from))", code)
        # The key policy lets CloudWatch Logs use the key for this group (its encryption context is the group's ARN).
        st = self.key_statement("logs.us-east-1.amazonaws.com")
        self.assertTrue({"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"} <= set(st["Action"]))
        prefix = re.search(r'log_group: format!\("([^"{]+)\{name\}"\)', (ROOT / "shared/src/plan.rs").read_text()).group(1)
        group = f"arn:aws:logs:us-east-1:123456789012:log-group:{prefix}{self.DEPLOYMENT}"
        [context] = [sub(v) for v in as_list(st["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])]
        self.assertTrue(fnmatch.fnmatchcase(group, context), f"{group} not covered by {context}")
        # Like the stack's own groups.
        for name, res in self.resources.items():
            if res["Type"] == "AWS::Logs::LogGroup":
                self.assertEqual(res["Properties"].get("KmsKeyId"), {"Fn::GetAtt": ["OperationsKey", "Arn"]}, name)


class FailoverRuleTests(TemplateCase):

    def test_the_rule_delivers_exactly_the_events_the_function_handles(self):
        code = (ROOT / "functions/failover/src/lib.rs").read_text()
        handled = re.search(r"pub const HANDLED_EVENTS: &\[&str\] = &\[(.*?)\];", code, re.S).group(1)
        handled = re.findall(r'"(RDS-EVENT-\d{4})"', handled)
        pattern = self.functions["FailoverFunction"]["Properties"]["Events"]["RdsFailover"]["Properties"]["Pattern"]
        self.assertEqual(pattern["detail"]["EventID"], handled)
        # Multi-AZ re-activated, and the Aurora cluster's blue/green switchover completed.
        self.assertTrue({"RDS-EVENT-0050", "RDS-EVENT-0051", "RDS-EVENT-0260"} <= set(handled))
        # Switchover started/canceled: the databases are mid-rename or unchanged.
        self.assertFalse({"RDS-EVENT-0259", "RDS-EVENT-0261"} & set(handled))
        self.assertIn("RDS Blue Green Deployment Event", pattern["detail-type"])

    def test_every_event_fixture_is_loaded_by_the_failover_tests_and_none_has_the_rds_prefix(self):
        code = (ROOT / "functions/failover/src/lib.rs").read_text()
        for f in sorted((ROOT / "events/rds").glob("*.json")):
            self.assertIn(f'events/rds/{f.name}"', code, f"{f.name} is not loaded by a unit test")
            detail = json.loads(f.read_text()).get("detail", {})
            source = detail.get("SourceIdentifier", "")
            if detail.get("SourceType") != "SNAPSHOT":  # automated snapshot names do start with rds:
                self.assertFalse(source.startswith("rds:"), f"{f.name}: AWS's samples carry no rds: prefix")
            if detail.get("EventID") in ("RDS-EVENT-0248", "RDS-EVENT-0251", "RDS-EVENT-0260"):
                self.assertEqual(detail["SourceType"], "BLUE_GREEN_DEPLOYMENT", f.name)
                self.assertTrue(source.startswith("bgd-"), f.name)


class PolicyMirror:
    """The test's own reading of shared/src/poll.rs's two policies (an oracle independent of the
    Rust generator, statemachine/src/lib.rs, whose output these tests recompute)."""

    TASK_ALLOWANCE_SECONDS = 5  # the generator's allowance per Task invocation on the worst path
    ROUND_TO_SECONDS = 900

    @staticmethod
    def read_policies():
        text = (ROOT / "shared" / "src" / "poll.rs").read_text()
        out = {}
        for m in re.finditer(r"pub const (\w+): Policy = Policy \{([^}]*)\}", text):
            out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+): (\d+)", m.group(2))}
        assert {"DATABASE", "LATTICE"} <= set(out), out
        return out

    @staticmethod
    def wait_after(policy, attempt):
        shift = min(max(attempt - policy["steady_attempts"], 0), 16)
        return min(policy["first_wait"] * (1 << shift), policy["max_wait"])

    @classmethod
    def bound_seconds(cls, policy):
        return sum(cls.wait_after(policy, a) for a in range(1, policy["max_attempts"]))


def rust_policies_by_function(path):
    """{fn name: {Policy::X names used in its body}} for the non-test code of a Rust file."""
    code = (ROOT / path).read_text().split("#[cfg(test)]")[0]
    out = {}
    for m in re.finditer(r"\n(?:pub )?(?:async )?fn (\w+)\((.*?)(?=\n(?:pub )?(?:async )?fn |\Z)", code, re.S):
        out[m.group(1)] = set(re.findall(r"Policy::([A-Z]+)", m.group(2)))
    return out


class StateMachineBudgetTests(unittest.TestCase):
    """The longest legal path of Waits fits in each machine's TimeoutSeconds (issue 10, part 6).

    Worst path: every polling loop uses all its attempts (ready, or timed out, on the last one), and the
    provisioning then rolls back, every rollback loop converging on its last attempt too."""

    STATUS_FUNCTIONS = {"database": "database", "resource-gateway": "gateway", "vpc-associations": "vpc_associations",
                        "resource-configuration": "resource_configuration", "resource-association": "resource_association"}

    @classmethod
    def setUpClass(cls):
        cls.gen = PolicyMirror
        cls.policies = cls.gen.read_policies()
        cls.definitions = {p.name: json.loads(p.read_text()) for p in (ROOT / "statemachine").glob("*.asl.json")}
        cls.status = rust_policies_by_function("functions/status/src/lib.rs")

    def policy_of(self, task):
        """The polling policy the loop's Lambda computes its waits with, read from the Rust code."""
        fn = task["Parameters"]["FunctionName"]
        if fn == "${StatusFunctionArn}":
            used = self.status[self.STATUS_FUNCTIONS[task["Parameters"]["Payload"]["kind"]]]
        else:
            crate = re.fullmatch(r"\$\{Teardown([A-Za-z]+)FunctionArn\}", fn).group(1).lower()
            used = set().union(*rust_policies_by_function(f"functions/teardown-{crate}/src/lib.rs").values())
        self.assertEqual(len(used), 1, f"{fn}: one polling policy, found {used}")
        return next(iter(used))

    def longest(self, states, start):
        """(Wait seconds, Task invocations) on the longest path from `start` to the end of its scope."""
        memo = {}

        def go(name):
            if name not in memo:
                s = states[name]
                cost, nexts = (0, 0), [s.get("Next")] + [c["Next"] for c in s.get("Catch", [])]
                if s["Type"] == "Task":
                    cost = (0, 1)
                elif s["Type"] == "Choice":
                    nexts = [c["Next"] for c in s["Choices"]]
                    wait = states.get(s.get("Default"), {})
                    if wait.get("Type") == "Wait":
                        # A polling loop: the Task before this Choice runs max_attempts times, with a wait
                        # between attempts; its exits are the Choice's other branches.
                        task = states[wait["Next"]]
                        self.assertEqual(task["Next"], name)
                        name_of_policy = self.policy_of(task)
                        self.assertIn(f"policy {name_of_policy} ", wait["Comment"], "the Wait's comment says the truth")
                        p = self.policies[name_of_policy]
                        cost = (self.gen.bound_seconds(p), p["max_attempts"] - 1)
                    else:
                        nexts.append(s.get("Default"))
                elif s["Type"] == "Parallel":
                    cost = max(self.longest(b["States"], b["StartAt"]) for b in s["Branches"])
                elif s["Type"] == "Wait":
                    self.assertIn("Seconds", s, f"{name}: a Wait outside a polling loop waits a fixed time")
                    cost = (s["Seconds"], 0)
                rest = max((go(n) for n in nexts if n), default=(0, 0))
                memo[name] = (cost[0] + rest[0], cost[1] + rest[1])
            return memo[name]

        return go(start)

    def test_the_python_mirror_of_the_policies_matches_the_rust_bounds(self):
        # shared/src/poll.rs asserts the same figures for Policy::bound_seconds.
        self.assertEqual(self.gen.bound_seconds(self.policies["LATTICE"]), 1782)
        self.assertEqual(self.gen.bound_seconds(self.policies["DATABASE"]), 5610)
        self.assertEqual([self.gen.wait_after(self.policies["LATTICE"], a) for a in (1, 40, 41, 42, 43, 44, 97)],
                         [3, 3, 6, 12, 24, 30, 30])

    def test_the_worst_path_of_waits_fits_in_the_timeout(self):
        for file in ("provision.asl.json", "teardown.asl.json"):
            d = self.definitions[file]
            waits, tasks = self.longest(d["States"], d["StartAt"])
            timeout = d["TimeoutSeconds"]
            print(f"\n{file}: worst path: {waits / 60:.1f} min of Waits ({tasks} Task invocations), "
                  f"timeout {timeout / 60:.0f} min", file=sys.stderr)
            self.assertLessEqual(waits, timeout, file)
            # ... with the generator's allowance for the Tasks themselves.
            self.assertLessEqual(waits + self.gen.TASK_ALLOWANCE_SECONDS * tasks, timeout, file)
            # ... and it is exactly that, rounded up to 15 minutes: derived, not chosen.
            allowed = waits + self.gen.TASK_ALLOWANCE_SECONDS * tasks
            self.assertEqual(timeout, -(-allowed // self.gen.ROUND_TO_SECONDS) * self.gen.ROUND_TO_SECONDS,
                             f"{file}: regenerate with cargo run -q -p statemachine --bin gen-asl")

    def test_the_worst_provisioning_path_includes_the_whole_rollback(self):
        d = self.definitions["provision.asl.json"]["States"]
        [build] = d["Provision"]["Branches"]
        [rollback] = d["Rollback"]["Branches"]
        build_waits, _ = self.longest(build["States"], build["StartAt"])
        rollback_waits, _ = self.longest(rollback["States"], rollback["StartAt"])
        waits, _ = self.longest(d, "ValidateInput")
        self.assertEqual(waits, build_waits + rollback_waits)
        # The rollback alone is the teardown machine's worst path.
        teardown = self.definitions["teardown.asl.json"]
        self.assertEqual(rollback_waits, self.longest(teardown["States"], teardown["StartAt"])[0])
        # With these policies: database (RDS) + configuration + association + the prune's two loops
        # (Lattice, then security groups), then the rollback's database and security groups (issue
        # 10 counted 276 min; 240 were allowed).
        self.assertEqual(waits, 5610 + 1782 + 1782 + 1782 + 1782 + 5610 + 1782)
        self.assertGreater(self.definitions["provision.asl.json"]["TimeoutSeconds"], 276 * 60)


if __name__ == "__main__":
    unittest.main()


class NoTestHooksInTheProduct(unittest.TestCase):
    """What ships is what runs in AWS: no test-only switch in a production `main.rs`, and the
    test fixtures (`shared::testing`) compiled only for tests."""

    def test_no_production_main_reads_an_environment_variable(self):
        # The SDK reads AWS_* itself (aws_config::load_from_env); a main.rs that reads one is a hook.
        mains = sorted(ROOT.glob("functions/*/src/main.rs"))
        self.assertGreater(len(mains), 10)
        for main in mains:
            with self.subTest(main=str(main.relative_to(ROOT))):
                text = main.read_text()
                self.assertNotRegex(text, r"\benv::var|\benv!\(|option_env!|testing")

    def test_shared_testing_is_for_tests_only(self):
        lib = (ROOT / "shared/src/lib.rs").read_text()
        self.assertRegex(lib, r'#\[cfg\(any\(test, feature = "testing"\)\)\]\s*pub mod testing;')
        for manifest in sorted(ROOT.glob("functions/*/Cargo.toml")):
            with self.subTest(manifest=str(manifest.relative_to(ROOT))):
                text = manifest.read_text()
                normal = text.split("[dev-dependencies]")[0]
                self.assertNotIn('"testing"', normal, "the testing feature only under [dev-dependencies]")
