"""One deployment, one writer, on the local stack: the provisioning and teardown state machines take
the deployment's lock (functions/lock, the stack's DynamoDB table in moto, through the IAM gate) and
give it back on every way out; a second execution fails fast naming the first; a crashed holder's
lease expires.

    .venv/bin/python -m unittest tests/local/test_lock.py -v
"""

import json
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import LOCK_TABLE, LocalStack  # noqa: E402
from test_teardown import provision_input  # noqa: E402

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:{machine}:{name}"


def lock_items(stack) -> list[dict]:
    return stack.client("dynamodb").scan(TableName=LOCK_TABLE)["Items"]


def entered(run_dir: Path) -> list[str]:
    events = json.loads((run_dir / "events.json").read_text())
    return [e["state"]["name"] for e in events if e["type"] == "StateEntered"]


class Lock(unittest.TestCase):
    def test_a_teardown_started_while_a_provisioning_runs_fails_fast_naming_it(self):
        hold_ms = 6000
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            # The provisioning is held mid-run (its configuration create in flight), lock taken.
            stack.emu("delay-next", {"op": "CreateResourceConfiguration", "ms": hold_ms})
            result = {}
            provisioning = threading.Thread(target=lambda: result.update(
                zip(("code", "out", "err", "dir"), stack.run(provision_input(ids), name="provision", quiet=True))))
            provisioning.start()
            # The lock is taken right after ValidateInput; the held create comes seconds later, so
            # the provisioning cannot end before the teardown below has run.
            deadline = time.time() + 60
            while not lock_items(stack):
                self.assertLess(time.time(), deadline, "the provisioning never took the lock")
                time.sleep(0.05)
            [held] = lock_items(stack)
            holder = held["holder"]["S"]
            self.assertRegex(holder, r"^arn:aws:states:us-east-1:123456789012:execution:provision:provision-\d+$")
            started = time.monotonic()
            code, _, err, run_dir = stack.run({"name": "orders"}, definition="statemachine/teardown.asl.json",
                                              name="teardown", quiet=True)
            took = time.monotonic() - started
            self.assertEqual(code, 2, err)
            self.assertIn("Error: Deployment.Locked", err)
            self.assertIn(f"the provision execution {holder}", err)
            self.assertLess(took, hold_ms / 1000, "failed fast, while the provisioning still ran")
            self.assertEqual(entered(run_dir), ["Prepare", "AcquireLock"], "nothing else ran")
            decisions = stack.iam("log")["decisions"]
            self.assertIn("lock", {d["function"] for d in decisions}, "the gate names functions by binary")
            teardown_requests = [d for d in decisions if d["function"].startswith("teardown-")]
            self.assertEqual(teardown_requests, [], "no teardown function made a single AWS request")
            self.assertEqual([i["holder"]["S"] for i in lock_items(stack)], [holder], "and took nothing")

            provisioning.join(120)
            self.assertEqual(result["code"], 0, result["err"])
            self.assertEqual(entered(result["dir"])[-2:], ["ReleaseLock", "Provisioned"])
            self.assertEqual(lock_items(stack), [], "released at the end")

            # Free again: the teardown runs, and gives the lock back too.
            code, _, err, run_dir = stack.run({"name": "orders"}, definition="statemachine/teardown.asl.json",
                                              name="teardown-after", quiet=True)
            self.assertEqual(code, 0, err)
            self.assertEqual(lock_items(stack), [])

    def test_a_crashed_holders_lock_expires_and_a_live_one_holds(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            before = stack.inventory()
            ddb = stack.client("dynamodb")
            crashed = EXECUTION.format(machine="provision", name="crashed-20261207T120000Z")

            def hold(expires_in: int) -> None:
                now = int(time.time())
                ddb.put_item(TableName=LOCK_TABLE, Item={
                    "deployment": {"S": "orders"}, "holder": {"S": crashed}, "operation": {"S": "provision"},
                    "acquiredAt": {"N": str(now - 3600)}, "expiresAt": {"N": str(now + expires_in)}})

            # Its lease still runs (the holder may be alive): refused, nothing created, the lock kept.
            hold(600)
            code, _, err, run_dir = stack.run(provision_input(ids), name="refused", quiet=True)
            self.assertEqual(code, 2, err)
            self.assertIn("Error: Deployment.Locked", err)
            self.assertIn(crashed, err)
            self.assertRegex(err, r"lease ends in (59\d|600) s")
            self.assertEqual(entered(run_dir), ["ValidateInput", "AcquireLock"], "no rollback: nothing was begun")
            self.assertEqual(stack.inventory(), before)
            self.assertEqual([i["holder"]["S"] for i in lock_items(stack)], [crashed])

            # The lease has ended (the execution crashed, was stopped or timed out): taken over.
            hold(-1)
            code, _, err, _ = stack.run(provision_input(ids), name="after-expiry", quiet=True)
            self.assertEqual(code, 0, err)
            self.assertEqual(lock_items(stack), [])

    def test_a_failed_provisioning_gives_the_lock_back_after_its_rollback(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            stack.emu("fail-next", {"op": "CreateResourceConfiguration", "error": "ConflictException", "count": 50})
            code, _, err, run_dir = stack.run(provision_input(ids), name="failing", quiet=True)
            self.assertEqual(code, 2, err)
            self.assertIn("Error: Resource.Conflict", err, "the original error, not the lock's")
            states = entered(run_dir)
            self.assertEqual(states[-3:], ["RolledBack", "ReleaseLockAfterFailure", "ProvisioningFailed"])
            self.assertEqual(lock_items(stack), [])


if __name__ == "__main__":
    unittest.main()
