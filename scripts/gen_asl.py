#!/usr/bin/env python3
"""Generates statemachine/*.asl.json (the single source of the state machines' structure).

    python3 scripts/gen_asl.py            # rewrite the files
    python3 scripts/gen_asl.py --check    # fail if the committed files differ (run by the tests)
"""
import json
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

def loop(states, label, kind, poll_field, nxt, what):
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
    states[wait] = {"Type": "Wait", "SecondsPath": f"$.{poll_field}.waitSeconds", "Next": check}
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
    c = loop(st, "Database", "database", "databasePoll", "DatabaseDone", "RDS database")
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
TEARDOWN = [  # (label, function placeholder, section, what)
    ("Lattice", "TeardownLatticeFunctionArn", "teardownLattice",
     "resource association -> resource configuration -> resource gateway; access logs and VPC associations -> service network"),
    ("Monitoring", "TeardownMonitoringFunctionArn", "teardownMonitoring", "dashboard, alarms, log group"),
    ("Database", "TeardownDatabaseFunctionArn", "teardownDatabase",
     "deletion protection off -> database (final snapshot unless skipped) -> subnet group; adopted databases are kept"),
]
NETWORK = ("Network", "TeardownNetworkFunctionArn", "teardownNetwork", "security groups, once nothing uses them")


def converge(states, prefix, label, fn, section, what, nxt):
    """Task (converging delete) -> Choice -> Wait -> Task, bounded by the Lambda's attempt count."""
    t, c, w = f"{prefix}Teardown{label}", f"{prefix}Is{label}Gone", f"{prefix}WaitFor{label}Teardown"
    f, to = f"{prefix}Teardown{label}Failed", f"{prefix}Teardown{label}TimedOut"
    states[t] = task(fn, c, comment=f"Deletes what is deletable now ({what}); reports what it still waits for.")
    states[c] = {"Type": "Choice", "Choices": [
        {"Variable": f"$.{section}.state", "StringEquals": "READY", "Next": nxt},
        {"Variable": f"$.{section}.state", "StringEquals": "FAILED", "Next": f},
        {"Variable": f"$.{section}.state", "StringEquals": "TIMED_OUT", "Next": to},
    ], "Default": w}
    states[w] = {"Type": "Wait", "SecondsPath": f"$.{section}.waitSeconds", "Next": t}
    states[f] = {"Type": "Fail", "Error": "Resource.Failed", "CausePath": f"$.{section}.reason"}
    states[to] = {"Type": "Fail", "Error": "Poll.TimedOut", "CausePath": f"$.{section}.reason"}
    return t


def teardown_states(prefix, end_state):
    """The teardown flow: Lattice, monitoring and the database in parallel, then the security groups."""
    st = {}
    branches = []
    for label, fn, section, what in TEARDOWN:
        b = {}
        first = converge(b, prefix, label, fn, section, what, f"{prefix}{label}Gone")
        b[f"{prefix}{label}Gone"] = {"Type": "Succeed"}
        branches.append({"StartAt": first, "States": b})
    selector = {"request.$": "$[0].request"}
    for i, (_, _, section, _) in enumerate(TEARDOWN):
        selector[f"{section}.$"] = f"$[{i}].{section}"
    st[f"{prefix}TeardownInParallel"] = {
        "Type": "Parallel",
        "Comment": "Security groups go last: the gateway's and the database's network interfaces hold them.",
        "Branches": branches, "ResultSelector": selector, "Next": f"{prefix}Teardown{NETWORK[0]}",
    }
    converge(st, prefix, *NETWORK, end_state)
    return f"{prefix}TeardownInParallel", st


teardown = {"TimeoutSeconds": 14400, "Comment": "Delete everything a deployment created, in dependency order; deleting what is gone counts as success, so it can be re-run. Input: {\"name\", \"keepDatabase\", \"skipFinalSnapshot\"} or the provisioning output.",
            "StartAt": "Prepare", "States": {}}
teardown["States"]["Prepare"] = {"Type": "Pass", "Comment": "The Lambdas read the request from $.request and keep their progress beside it.",
                                 "Parameters": {"request.$": "$"}, "Next": None}
first, st = teardown_states("", "TornDown")
teardown["States"]["Prepare"]["Next"] = first
teardown["States"].update(st)
teardown["States"]["TornDown"] = {"Type": "Succeed"}

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
loop(flow, "ResourceAssociation", "resource-association", "resourceAssociationPoll", "ConnectionDetails", "service-network resource association")
flow["ConnectionDetails"] = {
    "Type": "Pass",
    "Comment": "The execution output: what clients connect to, and every resource this deployment uses.",
    "Parameters": {
        "deployment.$": "$.plan.name",
        "dnsName.$": "$.resourceAssociationPoll.dnsName",
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
    },
    "End": True,
}

states = {}
states["ValidateInput"] = flow.pop("ValidateInput")
states["ValidateInput"]["Next"] = "Provision"
states["Provision"] = {
    "Type": "Parallel",
    "Comment": "One branch, so that one Catch covers every provisioning state: on any failure the rollback deletes what this execution created.",
    "Branches": [{"StartAt": "CreateDatabaseNetwork", "States": flow}],
    "OutputPath": "$[0]",
    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "PrepareRollback"}],
    "End": True,
}
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
    "Parameters": {"Error.$": "$.error.Error",
                   "Cause.$": "States.Format('{} (rolled back: what this execution created was deleted)', $.error.Cause)"},
    "Next": "ProvisioningFailed",
}
states["RollbackFailed"] = {
    "Type": "Pass",
    "Parameters": {"Error.$": "$.error.Error",
                   "Cause.$": "States.Format('{} (rollback failed too with {}: {}; run the teardown state machine)', $.error.Cause, $.rollbackError.Error, $.rollbackError.Cause)"},
    "Next": "ProvisioningFailed",
}
states["ProvisioningFailed"] = {"Type": "Fail", "Comment": "The original error name and cause.",
                                "ErrorPath": "$.Error", "CausePath": "$.Cause"}

asl = {"TimeoutSeconds": 14400, "Comment": "Provision private access to an RDS database through Amazon VPC Lattice (see README). Every Task returns the execution state with its own section added.",
       "StartAt": "ValidateInput", "States": states}

import sys
from pathlib import Path
OUT = Path(__file__).resolve().parent.parent / "statemachine"
files = {"provision.asl.json": asl, "teardown.asl.json": teardown}
stale = []
for name, doc in files.items():
    text = json.dumps(doc, indent=2) + "\n"
    path = OUT / name
    if "--check" in sys.argv:
        if not path.exists() or path.read_text() != text:
            stale.append(name)
    else:
        path.write_text(text)
if stale:
    sys.exit(f"out of date (run python3 scripts/gen_asl.py): {', '.join(stale)}")

