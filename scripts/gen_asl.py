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

states = {}
states["ValidateInput"] = task("ValidateInputFunctionArn", "CreateDatabaseNetwork", payload={"input.$": "$", "execution.$": "$$.Execution.Name"}, comment="Checks the input against AWS's constraints and resolves VPCs, subnets and the database before anything is created. Bad input fails here with Input.Invalid.")
states["CreateDatabaseNetwork"] = task("DbNetworkFunctionArn", "BuildInParallel", comment="Step 1: DB subnet group; gateway and database security groups, paired on the DB port.")
states["BuildInParallel"] = {
    "Type": "Parallel",
    "Comment": "The database takes minutes; the gateway and the client side are built meanwhile.",
    "Branches": [branch("CreateDatabase", db_branch), branch("CreateResourceGateway", gw_branch), branch("CreateClientAccess", net_branch)],
    "ResultSelector": {
        "plan.$": "$[0].plan", "dbNetwork.$": "$[0].dbNetwork",
        "database.$": "$[0].database", "databasePoll.$": "$[0].databasePoll",
        "gateway.$": "$[1].gateway", "gatewayPoll.$": "$[1].gatewayPoll",
        "clientAccess.$": "$[2].clientAccess", "accessControls.$": "$[2].accessControls",
        "serviceNetwork.$": "$[2].serviceNetwork", "vpcAssociationsPoll.$": "$[2].vpcAssociationsPoll",
        "monitoring.$": "$[2].monitoring",
    },
    "Next": "CreateResourceConfiguration",
}
states["CreateResourceConfiguration"] = task("ResourceConfigurationFunctionArn", "CheckResourceConfiguration", comment="Step 5: resource configuration per mode (dns: SINGLE + dnsResource on the endpoint; arn: ARN type; ip: SINGLE + ipResource).")
loop(states, "ResourceConfiguration", "resource-configuration", "resourceConfigurationPoll", "CreateResourceAssociation", "resource configuration")
states["CreateResourceAssociation"] = task("ResourceAssociationFunctionArn", "CheckResourceAssociation", comment="Step 6: associate the resource configuration with the service network.")
loop(states, "ResourceAssociation", "resource-association", "resourceAssociationPoll", "ConnectionDetails", "service-network resource association")
states["ConnectionDetails"] = {
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
asl = {"Comment": "Provision private access to an RDS database through Amazon VPC Lattice (see README). Every Task returns the execution state with its own section added.",
       "StartAt": "ValidateInput", "States": states}

import sys
from pathlib import Path
OUT = Path(__file__).resolve().parent.parent / "statemachine"
files = {"provision.asl.json": asl}
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

