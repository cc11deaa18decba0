"""Teardown, rollback and faults on the local AWS stack: nothing leaked, nothing lost.

    .venv/bin/python -m unittest tests/local/test_teardown.py -v
"""

import copy
import json
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import ROOT, LocalStack  # noqa: E402

TEARDOWN = "statemachine/teardown.asl.json"


def provision_input(ids=None):
    doc = json.loads((ROOT / "events" / "provision.json").read_text())
    if ids:
        doc["clientVpcs"][0]["allowedSecurityGroupIds"] = [ids["appSecurityGroup"]]
    return doc


class Teardown(unittest.TestCase):
    maxDiff = None

    def test_teardown_after_a_full_provision_restores_both_inventories_and_can_run_twice(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            before = stack.inventory()
            code, out, err, _ = stack.run(provision_input(ids), name="provision", quiet=True)
            self.assertEqual(code, 0, err)
            self.assertNotEqual(stack.inventory(), before)
            # The provisioning output is a valid teardown input.
            request = {**out, "skipFinalSnapshot": True}
            code, _, err, _ = stack.run(request, definition=TEARDOWN, name="teardown", quiet=True)
            self.assertEqual(code, 0, err)
            self.assertEqual(stack.inventory(), before)
            code, _, err, _ = stack.run({"name": "orders"}, definition=TEARDOWN, name="again", quiet=True)
            self.assertEqual(code, 0, f"a second teardown is fine: {err}")
            self.assertEqual(stack.inventory(), before)
            deletes = [c for c in stack.emu("calls") if c["op"].startswith("Delete")]
            order = [c["op"] for c in deletes if c["op"] in (
                "DeleteServiceNetworkResourceAssociation", "DeleteResourceConfiguration", "DeleteResourceGateway")]
            self.assertEqual(order, ["DeleteServiceNetworkResourceAssociation", "DeleteResourceConfiguration",
                                     "DeleteResourceGateway"], "dependents first")

    def test_teardown_takes_a_final_snapshot_unless_told_not_to_and_keeps_the_database_on_request(self):
        with LocalStack() as stack:
            stack.create_prerequisites()
            code, out, err, _ = stack.run(provision_input(), name="provision", quiet=True)
            self.assertEqual(code, 0, err)
            rds = stack.client("rds")
            code, _, err, _ = stack.run({"name": "orders", "keepDatabase": True}, definition=TEARDOWN,
                                        name="keep", quiet=True)
            self.assertEqual(code, 0, err)
            self.assertEqual([d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]], ["orders-db"])
            self.assertEqual(stack.client("vpc-lattice").list_resource_gateways()["items"], [])
            code, _, err, _ = stack.run({"name": "orders"}, definition=TEARDOWN, name="all", quiet=True)
            self.assertEqual(code, 0, err)
            self.assertEqual(rds.describe_db_instances()["DBInstances"], [])
            snaps = [s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots()["DBSnapshots"]]
            self.assertTrue(any(s.startswith("orders-db-final-") for s in snaps), snaps)

    def test_a_security_group_still_in_use_is_waited_out_then_deleted(self):
        """EC2 refuses to delete a group a network interface still uses (DependencyViolation; the local
        IAM gate keeps that rule, which moto skips): the teardown waits, and deletes it once it is free."""
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            before = stack.inventory()
            code, out, err, _ = stack.run(provision_input(ids), name="provision", quiet=True)
            self.assertEqual(code, 0, err)
            ec2 = stack.client("ec2")
            [db_sg] = [g["GroupId"] for g in ec2.describe_security_groups(
                Filters=[{"Name": "group-name", "Values": ["orders-database"]}])["SecurityGroups"]]
            # An interface (as the database's would be) still holds the database group.
            eni = ec2.create_network_interface(SubnetId=ids["dbSubnetA"], Groups=[db_sg])["NetworkInterface"]
            released = threading.Event()

            def release_once_refused():
                deadline = time.time() + 60
                while time.time() < deadline and db_sg not in stack.iam("log")["violations"]:
                    time.sleep(0.05)
                ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
                released.set()

            helper = threading.Thread(target=release_once_refused)
            helper.start()
            code, result, err, _ = stack.run({"name": "orders", "skipFinalSnapshot": True}, definition=TEARDOWN,
                                             name="teardown", quiet=True, driver_args=["--wait-ms", "100"])
            helper.join()
            self.assertEqual(code, 0, err)
            self.assertTrue(released.is_set())
            refused = stack.iam("log")["violations"]
            self.assertIn(db_sg, refused, "the delete was refused while the interface held the group")
            self.assertIn("still in use", (stack.log_dir / "teardown" / "teardown-network.log").read_text())
            self.assertEqual(stack.inventory(), before, "then the group was deleted: nothing left")

    def test_a_typo_in_the_teardown_input_deletes_nothing(self):
        with LocalStack() as stack:
            stack.create_prerequisites()
            code, _, err, _ = stack.run(provision_input(), name="provision", quiet=True)
            self.assertEqual(code, 0, err)
            after = stack.inventory()
            code, _, err, _ = stack.run({"name": "orders", "keepDatabse": True}, definition=TEARDOWN,
                                        name="typo", quiet=True)
            self.assertEqual(code, 2)
            self.assertIn("Error: Input.Invalid", err)
            self.assertIn("keepDatabse", err)
            self.assertEqual(stack.inventory(), after)


class Rollback(unittest.TestCase):
    maxDiff = None

    def test_a_failed_provisioning_rolls_back_and_reports_the_original_error(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            before = stack.inventory()
            # More conflicts than the retry policy absorbs: the resource-configuration step fails for good.
            stack.emu("fail-next", {"op": "CreateResourceConfiguration", "error": "ConflictException", "count": 50})
            code, out, err, _ = stack.run(provision_input(ids), name="failing", quiet=True)
            self.assertEqual(code, 2, err)
            self.assertIn("Error: Resource.Conflict", err)
            self.assertIn("rolled back", err)
            self.assertEqual(stack.inventory(), before, "the rollback left nothing behind")

    def test_a_failed_re_run_does_not_delete_what_an_earlier_execution_created(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            code, _, err, _ = stack.run(provision_input(ids), name="first", quiet=True)
            self.assertEqual(code, 0, err)
            after_first = stack.inventory()
            # (Not GetResourceGateway: ValidateInput reads the gateway too, and a failure there is
            # before the lock, with nothing to roll back.)
            stack.emu("fail-next", {"op": "GetResourceConfiguration", "error": "ConflictException", "count": 50})
            code, _, err, _ = stack.run(provision_input(ids), name="second", quiet=True)
            self.assertEqual(code, 2, err)
            self.assertIn("rolled back", err)
            self.assertEqual(stack.inventory(), after_first)

    def test_the_rollback_waits_for_steps_still_running_in_sibling_branches(self):
        # The gateway branch fails for good while the client-side branch's CreateServiceNetwork is
        # held in flight. A Lambda invocation cannot be cancelled, so if the rollback started at
        # once, that call would create a service network after the teardown had looked for one.
        hold_ms = 4000
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            before = stack.inventory()
            stack.emu("fail-next", {"op": "GetResourceGateway", "error": "ConflictException", "count": 50})
            stack.emu("delay-next", {"op": "CreateServiceNetwork", "ms": hold_ms})
            code, _, err, run_dir = stack.run(provision_input(ids), name="sibling", quiet=True)
            self.assertEqual(code, 2, err)
            self.assertIn("Error: Resource.Conflict", err, "the failed branch's error, not a later one")
            self.assertIn("rolled back", err)
            time.sleep(hold_ms / 1000 + 1)  # anything still in flight has landed by now
            self.assertEqual(stack.inventory(), before, "nothing created after the rollback")
            events = json.loads((run_dir / "events.json").read_text())
            entered = [e["state"]["name"] for e in events if e["type"] == "StateEntered"]
            self.assertLess(entered.index("CreateMonitoring"), entered.index("RollbackTeardownLattice"),
                            "the client-side branch ran to its end before the rollback began")

    def test_a_lambda_timeout_after_a_successful_create_is_retried_and_adopts(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            code, out, err, run_dir = stack.run(provision_input(ids), name="timeout", quiet=True,
                                                driver_args=["--timeout-after-success", "CreateResourceGateway"])
            self.assertEqual(code, 0, err)
            events = json.loads((run_dir / "events.json").read_text())
            retried = [e for e in events if e["type"] == "StateRetried" and e["state"]["name"] == "CreateResourceGateway"]
            self.assertEqual(len(retried), 1)
            creates = [c for c in stack.emu("calls") if c["op"] == "CreateResourceGateway"]
            self.assertEqual(len(creates), 1, "the retry adopted the gateway the first attempt created")
            self.assertEqual(len(stack.client("vpc-lattice").list_resource_gateways()["items"]), 1)


if __name__ == "__main__":
    unittest.main()
