"""Faults and bad input on the local AWS stack.

- Every VPC Lattice and CloudWatch operation the workflow calls gets, one at a time, a throttling
  error (429 + Retry-After), an internal error (500) and a conflict (409) injected through the
  emulator. Each run must either succeed (the retry policies absorbed it) or fail and roll back;
  after each, a teardown of whatever succeeded must leave both inventories as they were.
- At least 30 malformed executions each fail in the first state with Input.Invalid and a cause
  that names the field, and create nothing.

    .venv/bin/python -m unittest tests/local/test_faults.py -v
"""

import copy
import json
import sys
import unittest
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import ROOT, LocalStack  # noqa: E402

FAULTS = ["ThrottlingException", "InternalServerException", "ConflictException"]


def provision_input():
    return json.loads((ROOT / "events" / "provision.json").read_text())


class Faults(unittest.TestCase):
    def test_one_fault_per_operation_either_is_absorbed_or_rolls_back_and_nothing_leaks(self):
        tally = Counter()
        with LocalStack() as stack:
            stack.create_prerequisites()
            code, _, err, _ = stack.run(provision_input(), name="baseline", quiet=True)
            self.assertEqual(code, 0, err)
            ops = sorted({(c["service"], c["op"]) for c in stack.emu("calls")})
            self.assertGreaterEqual(len(ops), 15, ops)
            for service, op in ops:
                for fault in FAULTS:
                    with self.subTest(op=op, fault=fault):
                        stack.reset()
                        stack.create_prerequisites()
                        before = stack.inventory()
                        stack.emu("fail-next", {"op": op, "error": fault, "count": 1})
                        name = f"{op}-{fault}"
                        code, out, err, _ = stack.run(provision_input(), name=name, quiet=True)
                        tally["faults injected"] += 1
                        if code == 0:
                            tally["runs succeeded"] += 1
                            code, _, terr, _ = stack.run({"name": "orders", "skipFinalSnapshot": True},
                                                         definition="statemachine/teardown.asl.json",
                                                         name=f"{name}-teardown", quiet=True)
                            self.assertEqual(code, 0, terr)
                        else:
                            self.assertEqual(code, 2, err)
                            self.assertIn("rolled back", err)
                            tally["runs rolled back"] += 1
                        leaked = {k: sorted(set(v) - set(before[k])) for k, v in stack.inventory().items()}
                        leaked = {k: v for k, v in leaked.items() if v}
                        self.assertEqual(leaked, {}, f"{op} {fault}: leaked")
                        tally["resources leaked"] += sum(len(v) for v in leaked.values())
        summary = dict(tally, operations=len(ops))
        print(f"\nfault injection: {json.dumps(summary)}", file=sys.stderr)
        (ROOT / "target" / "fault-summary.json").write_text(json.dumps(summary))
        self.assertEqual(tally["faults injected"], 3 * len(ops))
        self.assertEqual(tally["resources leaked"], 0)


    def test_a_persistent_fault_on_any_operation_rolls_back_with_the_original_error_and_leaks_nothing(self):
        rolled_back = teardown_needed = before_anything = 0
        with LocalStack() as stack:
            stack.create_prerequisites()
            code, _, err, _ = stack.run(provision_input(), name="baseline", quiet=True)
            self.assertEqual(code, 0, err)
            # Operations of the provisioning path (the teardown's own calls are not faulted here).
            ops = sorted({c["op"] for c in stack.emu("calls")})
            for op in ops:
                with self.subTest(op=op):
                    stack.reset()
                    stack.create_prerequisites()
                    before = stack.inventory()
                    # More conflicts than every retry policy together absorbs.
                    stack.emu("fail-next", {"op": op, "error": "ConflictException", "count": 1000})
                    code, _, err, run_dir = stack.run(provision_input(), name=f"persistent-{op}", quiet=True)
                    self.assertEqual(code, 2, err)
                    self.assertIn("Error: Resource.Conflict", err, "the original error name")
                    stack.emu("fail-next", {"op": op, "error": "ConflictException", "count": 0})
                    events = json.loads((run_dir / "events.json").read_text())
                    entered = [e["state"]["name"] for e in events if e["type"] == "StateEntered"]
                    if "Provision" not in entered:
                        # Failed while reading (ValidateInput looks for the deployment's configuration
                        # with the same list operations): nothing was begun, nothing to roll back.
                        self.assertNotIn("rolled back", err)
                        before_anything += 1
                    elif "rollback failed too" in err:
                        # The fault also breaks the rollback (the teardown lists with the same operation):
                        # the user is told to run the teardown, which then cleans up.
                        self.assertIn("run the teardown state machine", err)
                        code, _, terr, _ = stack.run({"name": "orders", "skipFinalSnapshot": True},
                                                     definition="statemachine/teardown.asl.json",
                                                     name=f"persistent-{op}-teardown", quiet=True)
                        self.assertEqual(code, 0, terr)
                        teardown_needed += 1
                    else:
                        self.assertIn("rolled back", err)
                        rolled_back += 1
                    self.assertEqual(stack.inventory(), before, f"{op}: something was left behind")
        print(f"\npersistent faults: {len(ops)}, rolled back: {rolled_back}, "
              f"rollback also faulted then teardown: {teardown_needed}, "
              f"failed before creating anything: {before_anything}, leaked: 0", file=sys.stderr)
        self.assertEqual(rolled_back + teardown_needed + before_anything, len(ops))
        self.assertGreater(rolled_back, 0)


class BadInput(unittest.TestCase):
    def test_each_malformed_execution_fails_first_with_input_invalid_naming_the_field(self):
        cases = json.loads((Path(__file__).parent / "bad_inputs.json").read_text())
        self.assertGreaterEqual(len(cases), 30)
        rejected = 0
        with LocalStack() as stack:
            stack.create_prerequisites()
            before = stack.inventory()
            for i, case in enumerate(cases):
                doc = provision_input()
                if "remove" in case:
                    doc.pop(case["remove"])
                doc.update(copy.deepcopy(case.get("set", {})))
                with self.subTest(field=case["field"], input=doc):
                    code, _, err, run_dir = stack.run(doc, name=f"bad-{i}", quiet=True)
                    self.assertEqual(code, 2, err)
                    self.assertIn("Error: Input.Invalid", err)
                    cause = err.split("Cause: ", 1)[1]
                    self.assertTrue(cause.startswith(case["field"] + ":") or f'"errorMessage":"{case["field"]}:' in cause
                                    or cause.startswith(case["field"] + " "), cause)
                    events = json.loads((run_dir / "events.json").read_text())
                    entered = [e["state"]["name"] for e in events if e["type"] == "StateEntered"]
                    self.assertEqual(entered, ["ValidateInput"], "fails in the first state")
                    rejected += 1
            self.assertEqual(stack.inventory(), before, "bad input creates nothing")
        print(f"\nbad inputs rejected: {rejected}/{len(cases)}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
