"""The IAM mutation loop: for every function, dropping any one granted action its code uses makes a
run fail with `Aws.AccessDenied` naming that action.

Proves that the local IAM gate (tests/local/iam_gate.py) really enforces each function's policy from
template.yaml, and that every action the code calls is needed and reached by some scenario.

1. Baseline: each scenario (provision, re-run, changed re-run, teardown, Aurora, failovers in each mode)
   runs once unmutated; it must succeed, and the gate's log says which (function, action) pairs it
   used.
2. Targets: for each function, the actions its code calls (tests/test_security.py's scanner) and those
   the gate authorizes as the caller with them (tag on create, the managed secret, the final snapshot).
   Every action the code calls must have been used by some baseline scenario: an action no scenario
   reaches is a gap in the tests, and fails here.
3. Mutations: for each target, the cheapest scenario that used it runs again with the action removed
   from that function's policy (a mutated access key, `lda-<function>+<suffix>`). It must stop with
   `Aws.AccessDenied` whose cause names the action, and the gate must have denied exactly that
   function that action.

Runs in parallel, one local stack per worker (LOCAL_IAM_WORKERS, default 3).

    .venv/bin/python -m unittest tests/local/test_iam_mutations.py -v
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from stack import ROOT, LocalStack, function_substitutions  # noqa: E402
import iam  # noqa: E402
from test_security import IMPLIED, crate_calls  # noqa: E402
from test_template import load_template  # noqa: E402

TEARDOWN = "statemachine/teardown.asl.json"
FIXTURES = ROOT / "events" / "rds"
WORKERS = int(os.environ.get("LOCAL_IAM_WORKERS", "3"))


class PhaseFailed(Exception):
    def __init__(self, phase: str, error: str, cause: str):
        super().__init__(f"{phase}: {error}: {cause}")
        self.phase, self.error, self.cause = phase, error, cause


def rds_event(fixture: str, identifier: str) -> dict:
    """An AWS-documented event shape for our database, stamped now."""
    ev = json.loads((FIXTURES / fixture).read_text())
    kind = "cluster" if ev["detail"].get("SourceType") == "CLUSTER" else "db"
    arn = f"arn:aws:rds:us-east-1:123456789012:{kind}:{identifier}"
    now = datetime.now(timezone.utc)
    ev["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    ev["resources"] = [arn]
    ev["detail"].update({"SourceArn": arn, "SourceIdentifier": identifier,
                         "Date": now.strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    return ev


class Run:
    """One scenario run on one stack: phases stop at the first failure (PhaseFailed)."""

    def __init__(self, stack: LocalStack, label: str, suffix: str | None):
        self.stack, self.label = stack, label
        self.env = {"LOCAL_IAM_KEY_SUFFIX": suffix} if suffix else {}
        self.ids = stack.create_prerequisites()
        self.n = 0

    def doc(self, **changes) -> dict:
        doc = json.loads((ROOT / "events" / "provision.json").read_text())
        doc["clientVpcs"][0]["allowedSecurityGroupIds"] = [self.ids["appSecurityGroup"]]
        doc.update(changes)
        return doc

    def execute(self, doc: dict, definition: str = "statemachine/provision.asl.json",
                driver_args: list[str] | None = None) -> dict | None:
        self.n += 1
        phase = f"{self.label}-{self.n}-{Path(definition).name.split('.')[0]}"
        code, out, err, _ = self.stack.run(doc, definition=definition, name=phase, quiet=True,
                                           extra_env=self.env, driver_args=driver_args)
        if code != 0:
            error = cause = ""
            for line in err.splitlines():
                if line.startswith("Error: "):
                    error = line.removeprefix("Error: ")
                elif line.startswith("Cause: "):
                    cause = line.removeprefix("Cause: ")
            raise PhaseFailed(phase, error or f"exit {code}", cause or err[-2000:])
        return out

    def provision(self, **changes) -> dict:
        return self.execute(self.doc(**changes))

    def teardown(self, driver_args: list[str] | None = None, **request) -> None:
        self.execute({"name": "orders", **request}, TEARDOWN, driver_args)

    def failover(self, *events: dict, env: dict | None = None) -> list[dict]:
        self.n += 1
        phase = f"{self.label}-{self.n}-failover"
        results = self.stack.invoke("failover", list(events), extra_env={**self.env, **(env or {})}, name=phase)
        outputs = []
        for r in results:
            if not r["ok"]:
                raise PhaseFailed(phase, r["errorType"], r["errorMessage"])
            outputs.append(r["output"])
        return outputs


# ---------------------------------------------------------------- scenarios, cheapest first

def full_cycle(run: Run) -> None:
    """Provision, re-run unchanged (adoption), teardown with the final snapshot."""
    run.provision()
    run.provision()
    run.teardown()


def changed_rerun(run: Run) -> None:
    """A re-run with a changed input converges: other CIDRs and groups (rules revoked), other tags (one
    added, one removed); teardown keeps the database, then a second teardown deletes it without a
    snapshot."""
    run.provision()
    ec2 = run.stack.client("ec2")
    other = ec2.create_security_group(GroupName="app2", Description="another application",
                                      VpcId=run.ids["clientVpc"])["GroupId"]
    run.provision(clientVpcs=[{"name": "client-vpc", "allowedCidrs": ["10.1.1.0/24"],
                               "allowedSecurityGroupIds": [other]}],
                  tags={"team": "payments", "owner": "dba"})
    run.teardown(keepDatabase=True)
    run.teardown(skipFinalSnapshot=True)


def ip_mode_failover(run: Run) -> None:
    """`ip` mode: a failover moves the address; the schedule repairs a lost event."""
    out = run.provision(mode="ip", ipAddress="10.0.1.10")
    endpoint = out["database"]["endpoint"]
    [first] = run.failover(rds_event("instance-failover-completed-0049.json", "orders-db"),
                           env={"LATTICE_DB_ACCESS_RESOLVE": json.dumps({endpoint: "10.0.2.20"})})
    assert [r["outcome"] for r in first["results"]] == ["repointed"], first
    scheduled = json.loads((FIXTURES / "scheduled-reconcile.json").read_text())
    [again] = run.failover(scheduled, env={"LATTICE_DB_ACCESS_RESOLVE": json.dumps({endpoint: "10.0.1.10"})})
    assert [r["outcome"] for r in again["results"]] == ["repointed"], again


def promoted_standby(run: Run) -> None:
    """`dns` mode with a standby: the promoted replica gets the traffic (configuration and tags)."""
    run.provision(standby={"instanceIdentifier": "orders-replica"})
    rds = run.stack.client("rds")
    rds.create_db_instance_read_replica(DBInstanceIdentifier="orders-replica", SourceDBInstanceIdentifier="orders-db")
    rds.promote_read_replica(DBInstanceIdentifier="orders-replica")
    rds.modify_db_instance(DBInstanceIdentifier="orders-db", DeletionProtection=False, ApplyImmediately=True)
    rds.delete_db_instance(DBInstanceIdentifier="orders-db", SkipFinalSnapshot=True)
    [summary] = run.failover(rds_event("instance-standby-promoted-0015.json", "orders-db"))
    assert [r["outcome"] for r in summary["results"]] == ["repointed"], summary


def aurora_cycle(run: Run) -> None:
    """An Aurora cluster: create, a cluster failover event, teardown with the final cluster snapshot."""
    run.provision(database={"create": {"engine": "aurora-mysql", "instanceClass": "db.r6g.large"}})
    rds = run.stack.client("rds")
    rds.failover_db_cluster(DBClusterIdentifier="orders-db", TargetDBInstanceIdentifier="orders-db-2")
    run.failover(rds_event("cluster-failover-completed-0071.json", "orders-db"))
    run.teardown()


def arn_mode_existing(run: Run) -> None:
    """`arn` mode over an existing instance the project did not create (kept by the teardown)."""
    rds = run.stack.client("rds")
    rds.create_db_subnet_group(DBSubnetGroupName="legacy", DBSubnetGroupDescription="legacy",
                               SubnetIds=[run.ids["dbSubnetA"], run.ids["dbSubnetB"]])
    rds.create_db_instance(DBInstanceIdentifier="legacy-db", Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="admin", ManageMasterUserPassword=True,
                           DBSubnetGroupName="legacy")
    run.provision(mode="arn", database={"existing": {"instanceIdentifier": "legacy-db"}})
    run.failover(rds_event("instance-failover-completed-0049.json", "legacy-db"))
    run.teardown()


def existing_cluster(run: Run) -> None:
    """An existing Aurora cluster the project did not create: its groups get ours added, then kept."""
    rds = run.stack.client("rds")
    rds.create_db_subnet_group(DBSubnetGroupName="legacy", DBSubnetGroupDescription="legacy",
                               SubnetIds=[run.ids["dbSubnetA"], run.ids["dbSubnetB"]])
    own = run.stack.client("ec2").create_security_group(GroupName="legacy", Description="the cluster's own",
                                                        VpcId=run.ids["databaseVpc"])["GroupId"]
    rds.create_db_cluster(DBClusterIdentifier="legacy-cluster", Engine="aurora-postgresql",
                          MasterUsername="admin", ManageMasterUserPassword=True, DBSubnetGroupName="legacy",
                          VpcSecurityGroupIds=[own])
    rds.create_db_instance(DBInstanceIdentifier="legacy-cluster-1", DBClusterIdentifier="legacy-cluster",
                           Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")
    run.provision(database={"existing": {"clusterIdentifier": "legacy-cluster"}})
    run.teardown()


def drift_repair(run: Run) -> None:
    """A re-run repairs what was changed behind its back: the association's groups, the configuration's
    port, the access-log destination, rules added by hand to the database and association groups."""
    out = run.provision()
    lattice, logs = run.stack.client("vpc-lattice"), run.stack.client("logs")
    [assoc] = lattice.list_service_network_vpc_associations()["items"]
    lattice.update_service_network_vpc_association(serviceNetworkVpcAssociationIdentifier=assoc["id"],
                                                   securityGroupIds=[run.ids["appSecurityGroup"]])
    lattice.update_resource_configuration(resourceConfigurationIdentifier=out["resources"]["resourceConfigurationId"],
                                          portRanges=["3307"])
    # Rules added by hand to groups the deployment owns: the re-run revokes them.
    ec2 = run.stack.client("ec2")
    owned = {g["GroupName"]: g["GroupId"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["orders-database", "orders-lattice-association"]}])["SecurityGroups"]}
    for group_id in owned.values():
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    logs.create_log_group(logGroupName="elsewhere")
    elsewhere = logs.describe_log_groups(logGroupNamePrefix="elsewhere")["logGroups"][0]["arn"].removesuffix(":*")
    [sub] = lattice.list_access_log_subscriptions(resourceIdentifier=out["resources"]["serviceNetworkId"])["items"]
    lattice.update_access_log_subscription(accessLogSubscriptionIdentifier=sub["id"], destinationArn=elsewhere)
    run.provision()
    assert lattice.get_service_network_vpc_association(
        serviceNetworkVpcAssociationIdentifier=assoc["id"])["securityGroupIds"] != [run.ids["appSecurityGroup"]]
    for group_id in owned.values():
        [g] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        opened = [p for p in g["IpPermissions"] if {"CidrIp": "0.0.0.0/0"} in [{"CidrIp": r["CidrIp"]} for r in p.get("IpRanges", [])]]
        assert not opened, f"{group_id} still admits 0.0.0.0/0: {g['IpPermissions']}"
    run.teardown(skipFinalSnapshot=True)


def group_in_use(run: Run) -> None:
    """The teardown waits out a security group a network interface still holds (DependencyViolation)."""
    run.provision()
    ec2 = run.stack.client("ec2")
    [db_sg] = [g["GroupId"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["orders-database"]}])["SecurityGroups"]]
    eni = ec2.create_network_interface(SubnetId=run.ids["dbSubnetA"], Groups=[db_sg])["NetworkInterface"]
    stop = threading.Event()

    def release_once_refused():
        while not stop.is_set() and db_sg not in run.stack.iam("log")["violations"]:
            time.sleep(0.05)
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])

    helper = threading.Thread(target=release_once_refused)
    helper.start()
    try:
        run.teardown(skipFinalSnapshot=True, driver_args=["--wait-ms", "100"])
    finally:
        stop.set()
        helper.join()
    assert db_sg in run.stack.iam("log")["violations"], "the delete was never refused"


SCENARIOS = [full_cycle, changed_rerun, ip_mode_failover, promoted_standby, aurora_cycle, arn_mode_existing,
             existing_cluster, drift_repair, group_in_use]


# ---------------------------------------------------------------- the loop

class Workers:
    """A pool of local stacks; each task gets one to itself, reset first."""

    def __init__(self, n: int):
        self.stacks = [LocalStack(polls_to_active=1) for _ in range(n)]
        for s in self.stacks:
            s.__enter__()
        self.free = list(self.stacks)
        self.cv = threading.Condition()

    def close(self):
        for s in self.stacks:
            s.__exit__(None, None, None)

    def attempt(self, scenario, label: str, mutation: dict | None):
        """(exception or None, the gate's log) of one run of `scenario` on a fresh stack."""
        with self.cv:
            self.cv.wait_for(lambda: self.free)
            stack = self.free.pop()
        try:
            stack.reset()
            suffix = None
            if mutation:
                suffix = label
                stack.iam("mutation", {"suffix": suffix, **mutation})
            try:
                scenario(Run(stack, label, suffix))
                failure = None
            except (PhaseFailed, AssertionError) as e:
                failure = e
            return failure, stack.iam("log")
        finally:
            with self.cv:
                self.free.append(stack)
                self.cv.notify()


def binaries() -> list[str]:
    return sorted({b for subs in function_substitutions().values() for b in subs.values()} | {"failover"})


class IamMutations(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.started = time.time()
        cls.workers = Workers(WORKERS)

    @classmethod
    def tearDownClass(cls):
        cls.workers.close()

    def test_dropping_any_used_action_fails_a_run_with_access_denied_naming_it(self):
        pool = ThreadPoolExecutor(max_workers=WORKERS)
        # 1. Baseline.
        used: dict[str, set[tuple[str, str]]] = {}
        baseline = list(pool.map(lambda s: (s, self.workers.attempt(s, f"base-{s.__name__}", None)), SCENARIOS))
        for scenario, (failure, log) in baseline:
            self.assertIsNone(failure, f"{scenario.__name__} fails unmutated")
            self.assertEqual(log["denials"], [], f"{scenario.__name__}: denied unmutated")
            used[scenario.__name__] = {(d["function"], d["action"]) for d in log["decisions"] if d["allowed"]}
        exercised = set().union(*used.values())

        # 2. Targets: what each function's code calls, plus what the gate authorizes along with it.
        targets, unreached = set(), []
        for binary in binaries():
            calls, problems = crate_calls(binary)
            self.assertEqual(problems, [], binary)
            for action in sorted(calls):
                if (binary, action) in exercised:
                    targets.add((binary, action))
                else:
                    unreached.append(f"{binary}: {action}")
        called = len(targets)
        targets |= exercised
        self.assertEqual(unreached, [], "actions the code calls that no scenario reaches: add a scenario")
        # What is granted and not a target is only what AWS documents a call needs besides its own action
        # and the gate does not simulate (what VPC Lattice does as the caller): tests/test_security.py
        # requires those statically.
        documented = set().union(*IMPLIED.values())
        granted = {(b, a) for b, sts in iam.function_policies(load_template()).items()
                   for st in sts for a in iam.as_list(st["Action"])}
        untested = sorted(granted - targets)
        self.assertEqual([f"{b}: {a}" for b, a in untested if a not in documented], [],
                         "granted, neither called by the code nor documented as needed by a call")

        # 3. Mutations: each target on the first (cheapest) scenario that used it.
        def mutate(numbered):
            i, target = numbered
            function, action = target
            scenario = next(s for s in SCENARIOS if target in used[s.__name__])
            label = f"m{i}"
            failure, log = self.workers.attempt(scenario, label, {"function": function, "drop": action})
            denied = {(d["function"], d["action"]) for d in log["decisions"] if not d["allowed"]}
            return target, scenario.__name__, failure, denied

        caught, escaped = 0, []
        for (function, action), scenario, failure, denied in pool.map(mutate, enumerate(sorted(targets))):
            why = None
            if failure is None:
                why = "the run succeeded"
            elif not isinstance(failure, PhaseFailed) or failure.error != "Aws.AccessDenied":
                why = f"failed otherwise: {failure}"
            elif action not in failure.cause:
                why = f"the cause does not name the action: {failure.cause}"
            elif denied != {(function, action)}:
                why = f"the gate denied {sorted(denied)}"
            if why:
                escaped.append(f"{function} without {action} ({scenario}): {why}")
            else:
                caught += 1
        pool.shutdown()
        print(f"\niam mutations: {len(targets)} actions dropped, {caught} caught "
              f"({called} called by the code, {len(targets) - called} authorized along with those calls; "
              f"{len(binaries())} functions, {len(SCENARIOS)} scenarios, {WORKERS} workers, "
              f"{time.time() - self.started:.0f} s); not dropped: {len(untested)} grants for what VPC Lattice "
              f"and log delivery do as the caller, which the local stack does not simulate", file=sys.stderr)
        self.assertEqual(escaped, [])
        self.assertEqual(caught, len(targets))


if __name__ == "__main__":
    unittest.main()
