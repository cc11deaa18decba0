"""The failover Lambda on the local AWS stack: provision, cause the failover in moto, deliver the
RDS event to the real `failover` binary under the local Lambda Runtime API, and assert on the
emulator's state and call log.

    .venv/bin/python -m unittest tests/local/test_failover.py -v
"""

import copy
import json
import sys
import time
import unittest
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import ROOT, LocalStack  # noqa: E402

FIXTURES = ROOT / "events" / "rds"


def event(fixture: str, identifier: str) -> dict:
    """An AWS-documented event shape, for our database, stamped now."""
    ev = json.loads((FIXTURES / fixture).read_text())
    kind = "cluster" if ev["detail"].get("SourceType") == "CLUSTER" else "db"
    arn = f"arn:aws:rds:us-east-1:123456789012:{kind}:{identifier}"
    now = datetime.now(timezone.utc)
    ev["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    ev["resources"] = [arn]
    ev["detail"].update({"SourceArn": arn, "SourceIdentifier": identifier,
                         "Date": now.strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    return ev


class FailoverCase(unittest.TestCase):
    def input(self, **changes):
        doc = json.loads((ROOT / "events" / "provision.json").read_text())
        doc.update(changes)
        return doc

    def provision(self, stack, **changes):
        stack.create_prerequisites()
        code, out, err, _ = stack.run(self.input(**changes), name="provision", quiet=True)
        self.assertEqual(code, 0, err)
        return out

    def rcfg(self, stack, out):
        return stack.client("vpc-lattice").get_resource_configuration(
            resourceConfigurationIdentifier=out["resources"]["resourceConfigurationId"])

    def updates(self, stack):
        return [c for c in stack.emu("calls") if c["op"] == "UpdateResourceConfiguration"]

    def deliver(self, stack, events, name, env=None):
        results = stack.invoke("failover", events, extra_env=env, name=name)
        for r in results:
            self.assertTrue(r["ok"], r)
        return [r["output"] for r in results]

    def outcomes(self, summary):
        return [r["outcome"] for r in summary["results"]]


class DnsMode(FailoverCase):
    def test_multi_az_instance_failover_is_a_verified_noop_and_duplicates_are_harmless(self):
        with LocalStack() as stack:
            out = self.provision(stack)
            stack.client("rds").reboot_db_instance(DBInstanceIdentifier="orders-db", ForceFailover=True)
            ev = event("instance-failover-completed-0049.json", "orders-db")
            first, duplicate = self.deliver(stack, [ev, copy.deepcopy(ev)], "failover")
            self.assertEqual(self.outcomes(first), ["unchanged"])
            self.assertIn("stable", first["results"][0]["reason"])
            self.assertEqual(self.outcomes(duplicate), ["unchanged"])
            self.assertEqual(self.updates(stack), [], "the endpoint did not change: no update is sent")
            self.assertEqual(self.rcfg(stack, out)["resourceConfigurationDefinition"]["dnsResource"]["domainName"],
                             out["database"]["endpoint"])

    def test_aurora_cluster_failover_keeps_the_cluster_endpoint(self):
        with LocalStack() as stack:
            out = self.provision(stack, database={"create": {"engine": "aurora-mysql", "instanceClass": "db.r6g.large"}})
            self.assertEqual(out["database"]["kind"], "cluster")
            rds = stack.client("rds")
            rds.failover_db_cluster(DBClusterIdentifier="orders-db", TargetDBInstanceIdentifier="orders-db-2")
            writer = [m["DBInstanceIdentifier"] for m in rds.describe_db_clusters(DBClusterIdentifier="orders-db")
                      ["DBClusters"][0]["DBClusterMembers"] if m["IsClusterWriter"]]
            self.assertEqual(writer, ["orders-db-2"], "moto moved the writer")
            [summary] = self.deliver(stack, [event("cluster-failover-completed-0071.json", "orders-db")], "failover")
            self.assertEqual(self.outcomes(summary), ["unchanged"])
            self.assertEqual(self.updates(stack), [])

    def test_a_promoted_standby_gets_the_traffic_and_a_late_event_cannot_move_it_back(self):
        with LocalStack() as stack:
            out = self.provision(stack, standby={"instanceIdentifier": "orders-replica"})
            rds = stack.client("rds")
            replica = rds.create_db_instance_read_replica(
                DBInstanceIdentifier="orders-replica", SourceDBInstanceIdentifier="orders-db")["DBInstance"]
            rds.promote_read_replica(DBInstanceIdentifier="orders-replica")
            # The old primary is lost. (tests/local/moto_server.py makes the promotion AWS's: the replica
            # no longer names a source, which the failover requires before it sends writes there.)
            rds.modify_db_instance(DBInstanceIdentifier="orders-db", DeletionProtection=False, ApplyImmediately=True)
            rds.delete_db_instance(DBInstanceIdentifier="orders-db", SkipFinalSnapshot=True)
            late = event("instance-failover-started-0013.json", "orders-db")
            [summary] = self.deliver(stack, [event("instance-standby-promoted-0015.json", "orders-db")], "failover")
            self.assertEqual(self.outcomes(summary), ["repointed"])
            [update] = self.updates(stack)
            new_endpoint = replica["Endpoint"]["Address"]
            self.assertEqual(update["input"]["resourceConfigurationDefinition"]["dnsResource"]["domainName"], new_endpoint)
            rc = self.rcfg(stack, out)
            self.assertEqual(rc["resourceConfigurationDefinition"]["dnsResource"]["domainName"], new_endpoint)
            tags = stack.client("vpc-lattice").list_tags_for_resource(resourceArn=rc["arn"])["tags"]
            self.assertEqual((tags["lattice-db-access:db-identifier"], tags["lattice-db-access:standby-identifier"]),
                             ("orders-replica", "orders-db"), "primary and standby swapped")
            [again] = self.deliver(stack, [late], "late")
            self.assertEqual(self.outcomes(again), ["unchanged"])
            self.assertEqual(len(self.updates(stack)), 1, "a late event never moves the configuration back")

            # Day two: the same input again. It still names orders-db (gone) as the database to
            # create; the configuration's tags say the primary is orders-replica now.
            code, rerun, err, _ = stack.run(self.input(standby={"instanceIdentifier": "orders-replica"}),
                                            name="rerun", quiet=True)
            self.assertEqual(code, 0, err)
            self.assertEqual(rerun["database"]["identifier"], "orders-replica")
            self.assertFalse(rerun["database"]["created"])
            ids = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
            self.assertEqual(ids, ["orders-replica"], "no new, empty orders-db")
            self.assertEqual(len(self.updates(stack)), 1, "the configuration stays on the promoted database")
            self.assertEqual(self.rcfg(stack, out)["resourceConfigurationDefinition"]["dnsResource"]["domainName"],
                             new_endpoint)
            tags = stack.client("vpc-lattice").list_tags_for_resource(resourceArn=rc["arn"])["tags"]
            self.assertEqual((tags["lattice-db-access:db-identifier"], tags["lattice-db-access:standby-identifier"]),
                             ("orders-replica", "orders-db"), "the tags are not reset to the input's")
            groups = [g["VpcSecurityGroupId"] for g in rds.describe_db_instances(
                DBInstanceIdentifier="orders-replica")["DBInstances"][0]["VpcSecurityGroups"]]
            self.assertIn(out["resources"]["databaseSecurityGroupId"], groups, "the promoted database has the DB SG")


class Standby(FailoverCase):
    def test_a_standby_that_could_not_take_over_is_refused_before_anything_is_created(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            rds = stack.client("rds")
            rds.create_db_subnet_group(DBSubnetGroupName="legacy", DBSubnetGroupDescription="legacy",
                                       SubnetIds=[ids["dbSubnetA"], ids["dbSubnetB"]])
            # In the database VPC, but PostgreSQL and public: it could never take a MySQL deployment over.
            rds.create_db_instance(DBInstanceIdentifier="elsewhere", Engine="postgres", DBInstanceClass="db.t3.micro",
                                   AllocatedStorage=20, MasterUsername="admin", ManageMasterUserPassword=True,
                                   DBSubnetGroupName="legacy", PubliclyAccessible=True)
            before = stack.inventory()
            code, _, err, run_dir = stack.run(self.input(standby={"instanceIdentifier": "elsewhere"}),
                                              name="bad-standby", quiet=True)
            self.assertEqual(code, 2, err)
            self.assertIn("Error: Input.Invalid", err)
            self.assertIn("standby.instanceIdentifier: `elsewhere` runs postgres, not mysql", err)
            self.assertEqual(stack.inventory(), before, "refused before anything was created")


class IpMode(FailoverCase):
    def test_a_standby_still_replicating_never_gets_the_writes(self):
        with LocalStack() as stack:
            out = self.provision(stack, standby={"instanceIdentifier": "orders-replica"})
            rds = stack.client("rds")
            rds.create_db_instance_read_replica(DBInstanceIdentifier="orders-replica",
                                                SourceDBInstanceIdentifier="orders-db")
            # The primary is lost while the standby still replicates (RDS documents that a deleted
            # source's replicas are promoted; until that finishes, this is the window; moto does not
            # promote them, which leaves the window open for the test).
            rds.modify_db_instance(DBInstanceIdentifier="orders-db", DeletionProtection=False, ApplyImmediately=True)
            rds.delete_db_instance(DBInstanceIdentifier="orders-db", SkipFinalSnapshot=True)
            self.assertEqual(rds.describe_db_instances(DBInstanceIdentifier="orders-replica")["DBInstances"][0]
                             ["ReadReplicaSourceDBInstanceIdentifier"], "orders-db")
            [result] = stack.invoke("failover", [event("instance-standby-promoted-0015.json", "orders-db")],
                                    name="unpromoted")
            self.assertFalse(result["ok"], result)
            self.assertEqual(result["errorType"], "Resource.Conflict", "retried by Lambda: it may be promoted")
            self.assertIn("read replica", result["errorMessage"])
            self.assertEqual(self.updates(stack), [], "never repointed to a read-only database")
            self.assertEqual(self.rcfg(stack, out)["resourceConfigurationDefinition"]["dnsResource"]["domainName"],
                             out["database"]["endpoint"])
            log = (stack.log_dir / "unpromoted" / "failover.log").read_text()
            logged = [line for line in log.splitlines() if "failover reconcile" in line]
            self.assertTrue(len(logged) == 1 and "failed" in logged[0] and "not repointed" in logged[0], log)
            lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
            metrics = [x for x in lines if "_aws" in x and "Failed" in x]
            self.assertEqual([m["Failed"] for m in metrics], [1], "one Failed metric (EMF)")

            # Promoted: the next delivery (Lambda's retry, or the schedule) repoints.
            rds.promote_read_replica(DBInstanceIdentifier="orders-replica")
            [summary] = self.deliver(stack, [event("instance-standby-promoted-0015.json", "orders-db")], "promoted")
            self.assertEqual(self.outcomes(summary), ["repointed"])

    def test_ip_mode_follows_the_primarys_address_and_the_schedule_repairs_a_lost_event(self):
        with LocalStack() as stack:
            out = self.provision(stack, mode="ip", ipAddress="10.0.1.10")
            endpoint = out["database"]["endpoint"]
            rc = self.rcfg(stack, out)
            self.assertEqual(rc["resourceConfigurationDefinition"]["ipResource"]["ipAddress"], "10.0.1.10")
            # After the failover the endpoint resolves to the standby's address.
            moved = {"LATTICE_DB_ACCESS_RESOLVE": json.dumps({endpoint: "10.0.2.20"})}
            ev = event("instance-failover-completed-0049.json", "orders-db")
            first, duplicate = self.deliver(stack, [ev, copy.deepcopy(ev)], "failover", env=moved)
            self.assertEqual(self.outcomes(first), ["repointed"])
            self.assertEqual(self.outcomes(duplicate), ["unchanged"])
            self.assertEqual(self.rcfg(stack, out)["resourceConfigurationDefinition"]["ipResource"]["ipAddress"], "10.0.2.20")
            self.assertEqual(len(self.updates(stack)), 1)
            # A second failover whose event is lost: the 5-minute reconcile repairs it.
            back = {"LATTICE_DB_ACCESS_RESOLVE": json.dumps({endpoint: "10.0.1.10"})}
            time.sleep(0.1)
            scheduled = json.loads((FIXTURES / "scheduled-reconcile.json").read_text())
            [summary] = self.deliver(stack, [scheduled], "reconcile", env=back)
            self.assertEqual(summary["trigger"], "schedule")
            self.assertEqual(self.outcomes(summary), ["repointed"])
            self.assertEqual(self.rcfg(stack, out)["resourceConfigurationDefinition"]["ipResource"]["ipAddress"], "10.0.1.10")


class Delivery(FailoverCase):
    def test_unrelated_databases_are_ignored_and_malformed_events_fail_with_input_invalid(self):
        with LocalStack() as stack:
            self.provision(stack)
            results = stack.invoke("failover", [
                event("unrelated-database-0049.json", "someone-elses-db"),
                json.loads((FIXTURES / "malformed-missing-source-identifier.json").read_text()),
                json.loads((FIXTURES / "malformed-not-eventbridge.json").read_text()),
            ], name="delivery")
            self.assertTrue(results[0]["ok"], results[0])
            self.assertEqual(results[0]["output"]["results"], [])
            for bad in results[1:]:
                self.assertFalse(bad["ok"])
                self.assertEqual(bad["errorType"], "Input.Invalid", bad)
            self.assertEqual(self.updates(stack), [])


if __name__ == "__main__":
    unittest.main()
