#!/usr/bin/env python3
"""Generates statemachine/*.asl.json (the single source of the state machines' structure).

    python3 scripts/gen_asl.py            # rewrite the files
    python3 scripts/gen_asl.py --check    # fail if the committed files differ (run by the tests)

Each machine's TimeoutSeconds is derived, not chosen: the longest legal path through it (every polling
loop using all its attempts, the provisioning then rolled back with every rollback loop doing the same)
sums the Waits the polling policies of shared/src/poll.rs allow; the timeout is that sum plus an
allowance per Task invocation on the path, rounded up to 15 minutes. So an execution can never be
stopped mid-rollback by its timeout (tests/test_template.py recomputes the path from the ASL).
"""
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLL_RS = ROOT / "shared" / "src" / "poll.rs"
# Per Task invocation on the worst path: a poll takes well under a second warm; the rest covers cold
# starts and the occasional retried throttle or 5xx.
TASK_ALLOWANCE_SECONDS = 5
ROUND_TO_SECONDS = 900


def read_policies(text=None):
    """{name: {first_wait, steady_attempts, max_wait, max_attempts}} from shared/src/poll.rs's Policy literals."""
    text = POLL_RS.read_text() if text is None else text
    out = {}
    for m in re.finditer(r"pub const (\w+): Policy = Policy \{([^}]*)\}", text):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+): (\d+)", m.group(2))}
    assert {"DATABASE", "LATTICE"} <= set(out), f"no DATABASE/LATTICE policy in {POLL_RS}"
    return out


def wait_after(policy, attempt):
    """Policy::wait_after: first_wait for the steady attempts, then doubling, capped at max_wait."""
    shift = min(max(attempt - policy["steady_attempts"], 0), 16)
    return min(policy["first_wait"] * (1 << shift), policy["max_wait"])


def bound_seconds(policy):
    """Policy::bound_seconds: every wait of a loop that uses all its attempts."""
    return sum(wait_after(policy, a) for a in range(1, policy["max_attempts"]))


POLICIES = read_policies()
WAIT_POLICY = {}  # Wait state name -> the policy its Lambda computes waitSeconds with


def wait_state(name, seconds_path, nxt, policy):
    WAIT_POLICY[name] = policy
    p = POLICIES[policy]
    return {"Type": "Wait",
            "Comment": f"waitSeconds from the Lambda's polling policy {policy} (shared/src/poll.rs): "
                       f"at most {p['max_attempts'] - 1} waits, {bound_seconds(p)} s in all.",
            "SecondsPath": seconds_path, "Next": nxt}


def worst_path(states, start):
    """(seconds of Wait, Task invocations) on the longest path from `start` to the end of its scope.

    A polling loop (a Choice whose Default is a Wait) costs its policy's whole bound and its attempts
    after the first; a Parallel costs its longest branch, then continues to its Next or a Catch target."""
    memo = {}

    def go(name):
        if name in memo:
            return memo[name]
        s = states[name]
        here, nexts = (0, 0), []
        if s["Type"] == "Task":
            here, nexts = (0, 1), [s.get("Next")] + [c["Next"] for c in s.get("Catch", [])]
        elif s["Type"] == "Choice":
            default = s.get("Default")
            nexts = [c["Next"] for c in s["Choices"]]
            if default and states[default]["Type"] == "Wait":
                p = POLICIES[WAIT_POLICY[default]]
                here = (bound_seconds(p), p["max_attempts"] - 1)
            else:
                nexts.append(default)
        elif s["Type"] == "Parallel":
            here = max(worst_path(b["States"], b["StartAt"]) for b in s["Branches"])
            nexts = [s.get("Next")] + [c["Next"] for c in s.get("Catch", [])]
        elif s["Type"] == "Pass":
            nexts = [s.get("Next")]
        elif s["Type"] == "Wait":
            raise ValueError(f"{name}: a Wait outside a polling loop")
        rest = max((go(n) for n in nexts if n), default=(0, 0))
        memo[name] = (here[0] + rest[0], here[1] + rest[1])
        return memo[name]

    return go(start)


def timeout_for(doc):
    """(TimeoutSeconds, worst-path Wait seconds, Task invocations on it)."""
    waits, tasks = worst_path(doc["States"], doc["StartAt"])
    total = waits + TASK_ALLOWANCE_SECONDS * tasks
    return math.ceil(total / ROUND_TO_SECONDS) * ROUND_TO_SECONDS, waits, tasks


LAMBDA_RETRY = [
    {"ErrorEquals": ["Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException",
                     "Lambda.AWSLambdaException", "Lambda.SdkClientException"],
     "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2},
    {"ErrorEquals": ["Lambda.TooManyRequestsException", "Aws.Throttled"],
     "IntervalSeconds": 2, "MaxAttempts": 8, "BackoffRate": 2, "MaxDelaySeconds": 60, "JitterStrategy": "FULL"},
    {"ErrorEquals": ["Aws.Transient", "Resource.Conflict"],
     "IntervalSeconds": 5, "MaxAttempts": 5, "BackoffRate": 2},
    {"ErrorEquals": ["Sandbox.Timedout", "Lambda.Unknown"],
     "IntervalSeconds": 5, "MaxAttempts": 2, "BackoffRate": 2},
]

def task(fn, nxt=None, payload="$", comment=None):
    s = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"}
    if comment: s["Comment"] = comment
    params = {"FunctionName": "${%s}" % fn}
    if payload == "$":
        params["Payload.$"] = "$"
    else:
        params["Payload"] = payload
    s["Parameters"] = params
    s["OutputPath"] = "$.Payload"
    s["Retry"] = LAMBDA_RETRY
    if nxt: s["Next"] = nxt
    else: s["End"] = True
    return s


# Seconds a lock outlives its machine's TimeoutSeconds: an execution that timed out, was stopped or
# crashed without releasing cannot wedge the deployment for longer than that.
LEASE_MARGIN_SECONDS = 900
ACQUIRES = []  # (machine file, acquire state): leaseSeconds is set once the timeout is known


def lock_task(machine, action, operation, nxt, deployment_path=None, catch_next=None, comment=None):
    """The deployment's lock (functions/lock): the state passes through untouched (ResultPath null).
    Deployment.Locked is not retried: a second execution fails fast, naming the holder."""
    payload = {"action": action, "operation": operation, "execution.$": "$$.Execution.Id"}
    if deployment_path:
        payload["deployment.$"] = deployment_path
    else:
        payload["state.$"] = "$"  # the teardown state: the name is read as the teardown reads it
    s = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"}
    if comment: s["Comment"] = comment
    s["Parameters"] = {"FunctionName": "${LockFunctionArn}", "Payload": payload}
    s["ResultPath"] = None
    s["Retry"] = LAMBDA_RETRY
    if catch_next:
        s["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": catch_next}]
    s["Next"] = nxt
    if action == "acquire":
        ACQUIRES.append((machine, payload))
    return s

def loop(states, label, kind, poll_field, nxt, what, policy="LATTICE"):
    check, choice, wait = f"Check{label}", f"Is{label}Ready", f"WaitFor{label}"
    failed, timed = f"{label}Failed", f"{label}TimedOut"
    states[check] = task("StatusFunctionArn", choice, payload={"kind": kind, "ctx.$": "$"},
                         comment=f"Poll the {what}; the result carries state, attempt and the next wait.")
    c = {"Type": "Choice", "Choices": [
        {"Variable": f"$.{poll_field}.state", "StringEquals": "READY", "Next": nxt} if nxt else None,
        {"Variable": f"$.{poll_field}.state", "StringEquals": "FAILED", "Next": failed},
        {"Variable": f"$.{poll_field}.state", "StringEquals": "TIMED_OUT", "Next": timed},
    ], "Default": wait}
    states[choice] = c
    states[wait] = wait_state(wait, f"$.{poll_field}.waitSeconds", check, policy)
    states[failed] = {"Type": "Fail", "Error": "Resource.Failed", "CausePath": f"$.{poll_field}.reason"}
    states[timed] = {"Type": "Fail", "Error": "Poll.TimedOut", "CausePath": f"$.{poll_field}.reason"}
    return c

def branch_end_choice(c, label):
    # READY ends the branch through a Succeed state.
    c["Choices"][0] = {"Variable": c["Choices"][1]["Variable"], "StringEquals": "READY", "Next": f"{label}Done"}

def branch(start, build):
    st = {}
    build(st)
    return {"StartAt": start, "States": st}

def db_branch(st):
    st["CreateDatabase"] = task("DatabaseFunctionArn", "CheckDatabase", comment="Step 2: create the RDS instance/cluster (managed master password) or adopt the existing one.")
    c = loop(st, "Database", "database", "databasePoll", "DatabaseDone", "RDS database", policy="DATABASE")
    st["DatabaseDone"] = {"Type": "Succeed"}

def gw_branch(st):
    st["CreateResourceGateway"] = task("ResourceGatewayFunctionArn", "CheckResourceGateway", comment="Step 4: resource gateway in the database VPC, one private subnet per AZ (>= 2), with its security group.")
    loop(st, "ResourceGateway", "resource-gateway", "gatewayPoll", "ResourceGatewayDone", "resource gateway")
    st["ResourceGatewayDone"] = {"Type": "Succeed"}

def net_branch(st):
    st["CreateClientAccess"] = task("ClientAccessFunctionArn", "CreateAccessControls", comment="Step 9 (client side): client security group, egress on the DB port to the VPC Lattice prefix list.")
    st["CreateAccessControls"] = task("AccessControlsFunctionArn", "CreateServiceNetwork", comment="Step 7: the association security group admits only the client group and the sources the input names.")
    st["CreateServiceNetwork"] = task("ServiceNetworkFunctionArn", "CheckVpcAssociations", comment="Step 3: service network (auth type NONE) and the client VPC associations with their security group.")
    loop(st, "VpcAssociations", "vpc-associations", "vpcAssociationsPoll", "CreateMonitoring", "client VPC associations")
    st["CreateMonitoring"] = task("MonitoringFunctionArn", None, comment="Step 8: access logs (type RESOURCE) to a log group with retention, dashboard, alarms.")


# ---------------------------------------------------------------- teardown (also the rollback)
TEARDOWN = [  # (label, function placeholder, section, what, the Lambda's polling policy)
    ("Lattice", "TeardownLatticeFunctionArn", "teardownLattice",
     "resource association -> resource configuration -> resource gateway; access logs and VPC associations -> service network",
     "LATTICE"),
    ("Monitoring", "TeardownMonitoringFunctionArn", "teardownMonitoring", "dashboard, alarms, log group", "LATTICE"),
    ("Database", "TeardownDatabaseFunctionArn", "teardownDatabase",
     "deletion protection off -> database (final snapshot unless skipped) -> subnet group; adopted databases are kept",
     "DATABASE"),
]
NETWORK = ("Network", "TeardownNetworkFunctionArn", "teardownNetwork", "security groups, once nothing uses them", "LATTICE")


def converge(states, prefix, label, fn, section, what, policy, nxt):
    """Task (converging delete) -> Choice -> Wait -> Task, bounded by the Lambda's attempt count."""
    t, c, w = f"{prefix}Teardown{label}", f"{prefix}Is{label}Gone", f"{prefix}WaitFor{label}Teardown"
    f, to = f"{prefix}Teardown{label}Failed", f"{prefix}Teardown{label}TimedOut"
    states[t] = task(fn, c, comment=f"Deletes what is deletable now ({what}); reports what it still waits for.")
    states[c] = {"Type": "Choice", "Choices": [
        {"Variable": f"$.{section}.state", "StringEquals": "READY", "Next": nxt},
        {"Variable": f"$.{section}.state", "StringEquals": "FAILED", "Next": f},
        {"Variable": f"$.{section}.state", "StringEquals": "TIMED_OUT", "Next": to},
    ], "Default": w}
    states[w] = wait_state(w, f"$.{section}.waitSeconds", t, policy)
    states[f] = {"Type": "Fail", "Error": "Resource.Failed", "CausePath": f"$.{section}.reason"}
    states[to] = {"Type": "Fail", "Error": "Poll.TimedOut", "CausePath": f"$.{section}.reason"}
    return t


def teardown_states(prefix, end_state):
    """The teardown flow: Lattice, monitoring and the database in parallel, then the security groups."""
    st = {}
    branches = []
    for label, fn, section, what, policy in TEARDOWN:
        b = {}
        first = converge(b, prefix, label, fn, section, what, policy, f"{prefix}{label}Gone")
        b[f"{prefix}{label}Gone"] = {"Type": "Succeed"}
        branches.append({"StartAt": first, "States": b})
    selector = {"request.$": "$[0].request"}
    for i, (_, _, section, _, _) in enumerate(TEARDOWN):
        selector[f"{section}.$"] = f"$[{i}].{section}"
    st[f"{prefix}TeardownInParallel"] = {
        "Type": "Parallel",
        "Comment": "Security groups go last: the gateway's and the database's network interfaces hold them.",
        "Branches": branches, "ResultSelector": selector, "Next": f"{prefix}Teardown{NETWORK[0]}",
    }
    converge(st, prefix, *NETWORK, end_state)
    return f"{prefix}TeardownInParallel", st


teardown = {"TimeoutSeconds": None, "Comment": "Delete everything a deployment created, in dependency order; deleting what is gone counts as success, so it can be re-run. Input: {\"name\", \"keepDatabase\", \"skipFinalSnapshot\"} or the provisioning output.",
            "StartAt": "Prepare", "States": {}}
teardown["States"]["Prepare"] = {"Type": "Pass", "Comment": "The Lambdas read the request from $.request and keep their progress beside it.",
                                 "Parameters": {"request.$": "$"}, "Next": "AcquireLock"}
teardown["States"]["AcquireLock"] = lock_task(
    "teardown.asl.json", "acquire", "teardown", "Teardown",
    comment="One deployment, one writer: fails fast with Deployment.Locked while another execution changes it. A typo in the request fails here with Input.Invalid, before anything is deleted.")
first, st = teardown_states("", "TeardownDone")
st["TeardownDone"] = {"Type": "Succeed"}
teardown["States"]["Teardown"] = {
    "Type": "Parallel",
    "Comment": "One branch, so that one Catch covers every teardown state: the lock is given back on failure too.",
    "Branches": [{"StartAt": first, "States": st}],
    "OutputPath": "$[0]",
    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReleaseLockAfterFailure"}],
    "Next": "ReleaseLock",
}
teardown["States"]["ReleaseLock"] = lock_task(
    "teardown.asl.json", "release", "teardown", "TornDown",
    comment="Not caught: a release that still fails after the retries (denied, table gone) is a fault of the stack the execution reports; the lock then ends with its lease.")
teardown["States"]["TornDown"] = {"Type": "Succeed"}
teardown["States"]["ReleaseLockAfterFailure"] = lock_task(
    "teardown.asl.json", "release", "teardown", "TeardownFailed", catch_next="TeardownFailed")
teardown["States"]["TeardownFailed"] = {"Type": "Fail", "Comment": "The original error name and cause.",
                                        "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}

# ---------------------------------------------------------------- provisioning
flow = {}
flow["ValidateInput"] = task("ValidateInputFunctionArn", "CreateDatabaseNetwork", payload={"input.$": "$", "execution.$": "$$.Execution.Name"}, comment="Checks the input against AWS's constraints and resolves VPCs, subnets and the database before anything is created. Bad input fails here with Input.Invalid.")
flow["CreateDatabaseNetwork"] = task("DbNetworkFunctionArn", "BuildInParallel", comment="Step 1: DB subnet group; gateway and database security groups, paired on the DB port.")
BUILDS = [("Database", "CreateDatabase", db_branch), ("ResourceGateway", "CreateResourceGateway", gw_branch),
          ("ClientSide", "CreateClientAccess", net_branch)]


def guarded(label, start, build):
    """A branch that ends normally even when its steps fail, with the error in $.failure.

    A failing branch would otherwise stop the Parallel while a sibling's Lambda is still running
    (an invocation cannot be cancelled): the rollback would start, and that Lambda could then
    create something after the rollback had looked for it. Each branch therefore runs to its end.
    """
    inner = branch(start, build)
    return {"StartAt": f"Build{label}", "States": {
        f"Build{label}": {"Type": "Parallel", "Branches": [inner], "OutputPath": "$[0]",
                          "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure",
                                     "Next": f"{label}Stopped"}],
                          "End": True},
        f"{label}Stopped": {"Type": "Succeed"},
    }}


flow["BuildInParallel"] = {
    "Type": "Parallel",
    "Comment": "The database takes minutes; the gateway and the client side are built meanwhile. A failed branch does not stop the others, so the rollback starts only once nothing is still being created.",
    "Branches": [guarded(label, start, build) for label, start, build in BUILDS],
    "Next": "DidEveryBuildSucceed",
}
flow["DidEveryBuildSucceed"] = {
    "Type": "Choice",
    "Choices": [{"Variable": f"$[{i}].failure", "IsPresent": True, "Next": f"{label}BuildFailed"}
                for i, (label, _, _) in enumerate(BUILDS)],
    "Default": "JoinBuilds",
}
for i, (label, _, _) in enumerate(BUILDS):
    flow[f"{label}BuildFailed"] = {"Type": "Fail", "Comment": "The branch's own error name and cause.",
                                   "ErrorPath": f"$[{i}].failure.Error", "CausePath": f"$[{i}].failure.Cause"}
flow["JoinBuilds"] = {
    "Type": "Pass",
    "Parameters": {
        "plan.$": "$[0].plan", "dbNetwork.$": "$[0].dbNetwork",
        "database.$": "$[0].database", "databasePoll.$": "$[0].databasePoll",
        "gateway.$": "$[1].gateway", "gatewayPoll.$": "$[1].gatewayPoll",
        "clientAccess.$": "$[2].clientAccess", "accessControls.$": "$[2].accessControls",
        "serviceNetwork.$": "$[2].serviceNetwork", "vpcAssociationsPoll.$": "$[2].vpcAssociationsPoll",
        "monitoring.$": "$[2].monitoring",
    },
    "Next": "CreateResourceConfiguration",
}
flow["CreateResourceConfiguration"] = task("ResourceConfigurationFunctionArn", "CheckResourceConfiguration", comment="Step 5: resource configuration per mode (dns: SINGLE + dnsResource on the endpoint; arn: ARN type; ip: SINGLE + ipResource).")
loop(flow, "ResourceConfiguration", "resource-configuration", "resourceConfigurationPoll", "CreateResourceAssociation", "resource configuration")
flow["CreateResourceAssociation"] = task("ResourceAssociationFunctionArn", "CheckResourceAssociation", comment="Step 6: associate the resource configuration with the service network.")
loop(flow, "ResourceAssociation", "resource-association", "resourceAssociationPoll", "PruneRemoved", "service-network resource association")
prune_states = {}
prune_first = converge(prune_states, "Prune", "Lattice", "TeardownLatticeFunctionArn", "teardownLattice",
                       "VPC associations of client VPCs the input dropped; resource configurations other than the one clients now use, after their associations",
                       "LATTICE", "PruneNetwork")
prune_states["PruneNetwork"] = {"Type": "Pass", "Next": converge(
    prune_states, "Prune", "Network", "TeardownNetworkFunctionArn", "teardownNetwork",
    "the client and association security groups of client VPCs the input dropped, once their associations are gone",
    "LATTICE", "PruneDone")}
prune_states["PruneDone"] = {"Type": "Succeed"}
flow["PruneRemoved"] = {
    "Type": "Parallel",
    "Comment": "Converge by removal, once clients have what this run made: the teardown Lambdas delete only what the deployment has and the input no longer asks for (prune), nothing else.",
    "Parameters": {"request": {"name.$": "$.plan.name"},
                   "prune": {"clientVpcs.$": "$.plan.clientVpcs", "resourceConfigurationId.$": "$.resourceConfiguration.id"}},
    "Branches": [{"StartAt": prune_first, "States": prune_states}],
    "ResultSelector": {"lattice.$": "$[0].teardownLattice.removed", "securityGroups.$": "$[0].teardownNetwork.removed"},
    "ResultPath": "$.removed",
    "Next": "ConnectionDetails",
}
flow["ConnectionDetails"] = {
    "Type": "Pass",
    "Comment": "The execution output: what clients connect to, and every resource this deployment uses.",
    "Parameters": {
        "deployment.$": "$.plan.name",
        "dnsName.$": "$.resourceAssociationPoll.dnsName",
        "dnsNameFrom.$": "$.resourceAssociationPoll.dnsNameFrom",
        "port.$": "$.plan.port",
        "secretArn.$": "$.databasePoll.secretArn",
        "mode.$": "$.plan.mode",
        "database": {"kind.$": "$.database.kind", "identifier.$": "$.database.identifier", "created.$": "$.database.created",
                     "endpoint.$": "$.databasePoll.endpoint", "arn.$": "$.databasePoll.arn"},
        "resources": {
            "serviceNetworkId.$": "$.serviceNetwork.id",
            "vpcAssociations.$": "$.serviceNetwork.vpcAssociations",
            "resourceGatewayId.$": "$.gateway.id",
            "resourceConfigurationId.$": "$.resourceConfiguration.id",
            "resourceAssociationId.$": "$.resourceAssociation.id",
            "gatewaySecurityGroupId.$": "$.dbNetwork.gatewaySecurityGroupId",
            "databaseSecurityGroupId.$": "$.dbNetwork.dbSecurityGroupId",
            "dbSubnetGroupName.$": "$.dbNetwork.dbSubnetGroupName",
            "clientSecurityGroups.$": "$.clientAccess.clients",
            "associationSecurityGroups.$": "$.accessControls.associations",
            "logGroupName.$": "$.monitoring.logGroupName",
            "accessLogSubscriptionId.$": "$.monitoring.accessLogSubscriptionId",
            "dashboardName.$": "$.monitoring.dashboardName",
            "alarmNames.$": "$.monitoring.alarmNames",
        },
        "changes": {
            "removed.$": "$.removed",
            "securityGroupRules": {"databaseNetwork.$": "$.dbNetwork.ruleChanges",
                                   "clientAccess.$": "$.clientAccess.ruleChanges",
                                   "accessControls.$": "$.accessControls.ruleChanges"},
        },
    },
    "End": True,
}

states = {}
states["ValidateInput"] = flow.pop("ValidateInput")
states["ValidateInput"]["Next"] = "AcquireLock"
states["AcquireLock"] = lock_task(
    "provision.asl.json", "acquire", "provision", "Provision", deployment_path="$.plan.name",
    comment="One deployment, one writer: fails fast with Deployment.Locked, naming the execution that changes it now; nothing is created or rolled back.")
states["Provision"] = {
    "Type": "Parallel",
    "Comment": "One branch, so that one Catch covers every provisioning state: on any failure the rollback deletes what this execution created.",
    "Branches": [{"StartAt": "CreateDatabaseNetwork", "States": flow}],
    "OutputPath": "$[0]",
    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "PrepareRollback"}],
    "Next": "ReleaseLock",
}
states["ReleaseLock"] = lock_task(
    "provision.asl.json", "release", "provision", "Provisioned", deployment_path="$.deployment",
    comment="Not caught: a release that still fails after the retries (denied, table gone) is a fault of the stack the execution reports; the lock then ends with its lease.")
states["Provisioned"] = {"Type": "Succeed"}
states["PrepareRollback"] = {
    "Type": "Pass",
    "Comment": "Only what this execution created (tagged with its name); an empty new database needs no final snapshot.",
    "Parameters": {"request": {"name.$": "$.plan.name", "skipFinalSnapshot": True, "onlyExecution.$": "$$.Execution.Name"},
                   "error.$": "$.error"},
    "Next": "Rollback",
}
rb_first, rb_states = teardown_states("Rollback", "RollbackDone")
rb_states["RollbackDone"] = {"Type": "Succeed"}
states["Rollback"] = {
    "Type": "Parallel",
    "Branches": [{"StartAt": rb_first, "States": rb_states}],
    "ResultPath": "$.rollback",
    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.rollbackError", "Next": "RollbackFailed"}],
    "Next": "RolledBack",
}
states["RolledBack"] = {
    "Type": "Pass",
    "Parameters": {"Error.$": "$.error.Error", "deployment.$": "$.request.name",
                   "Cause.$": "States.Format('{} (rolled back: what this execution created was deleted)', $.error.Cause)"},
    "Next": "ReleaseLockAfterFailure",
}
states["RollbackFailed"] = {
    "Type": "Pass",
    "Parameters": {"Error.$": "$.error.Error", "deployment.$": "$.request.name",
                   "Cause.$": "States.Format('{} (rollback failed too with {}: {}; run the teardown state machine)', $.error.Cause, $.rollbackError.Error, $.rollbackError.Cause)"},
    "Next": "ReleaseLockAfterFailure",
}
states["ReleaseLockAfterFailure"] = lock_task(
    "provision.asl.json", "release", "provision", "ProvisioningFailed", deployment_path="$.deployment",
    catch_next="ProvisioningFailed")
states["ProvisioningFailed"] = {"Type": "Fail", "Comment": "The original error name and cause.",
                                "ErrorPath": "$.Error", "CausePath": "$.Cause"}

asl = {"TimeoutSeconds": None, "Comment": "Provision private access to an RDS database through Amazon VPC Lattice (see README). Every Task returns the execution state with its own section added.",
       "StartAt": "ValidateInput", "States": states}

OUT = ROOT / "statemachine"
files = {"provision.asl.json": asl, "teardown.asl.json": teardown}
for name, doc in files.items():
    doc["TimeoutSeconds"], waits, tasks = timeout_for(doc)
    for machine, payload in ACQUIRES:
        if machine == name:
            payload["leaseSeconds"] = doc["TimeoutSeconds"] + LEASE_MARGIN_SECONDS
    doc["Comment"] += (f" TimeoutSeconds is derived (scripts/gen_asl.py): the longest path has {waits} s of Waits"
                       f" and {tasks} Task invocations.")


def main(argv):
    stale = []
    for name, doc in files.items():
        text = json.dumps(doc, indent=2) + "\n"
        path = OUT / name
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        sys.exit(f"out of date (run python3 scripts/gen_asl.py): {', '.join(stale)}")


if __name__ == "__main__":  # tests/test_template.py imports the policy helpers
    main(sys.argv)
