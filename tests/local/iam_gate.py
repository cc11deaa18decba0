"""The local stack's IAM: an authorizing front for moto and the emulator.

Every Lambda runs locally with its own access key (`lda-<binary>`, set by tests/local/driver.cjs), so
every request it signs names the function. The gate reads the key from the SigV4 `Authorization` header,
works out the IAM action and the resource ARNs of the request (the operation from the protocol; the
resource types from the Service Authorization Reference data; the identifiers from the request), and
evaluates them against that function's policy in template.yaml (tests/iam.py). Denied, it answers as
the service would (`UnauthorizedOperation` for EC2, `AccessDenied` for RDS and CloudWatch,
`AccessDeniedException` for VPC Lattice and the JSON services); allowed, it forwards the request unchanged
to moto or the emulator (by the SigV4 service name) and relays the answer.

Besides the caller's own action it authorizes what AWS authorizes as the caller with it: tag-on-create
(`ec2:CreateTags` with `ec2:CreateAction`, `vpc-lattice:TagResource`, `rds:AddTagsToResource`,
`logs:TagResource`, `cloudwatch:TagResource`), the managed master-user secret RDS creates as the caller,
and the snapshot a delete with a final snapshot creates. Not simulated: what VPC Lattice itself does as
the caller (network interfaces, log deliveries, service-linked roles); tests/test_security.py requires
those grants statically instead.

It also keeps one EC2 rule moto skips: a security group that another group's rule or a network
interface still references cannot be deleted (`DependencyViolation`, as EC2 answers).

Unknown keys are refused (`InvalidClientTokenId`); the harness's own key (`test`) is not checked. A
request whose resources or condition keys the gate cannot work out fails loudly (HTTP 500), never
silently allowed.

Control routes (JSON): `GET /_iam/log` → {"decisions": [...], "denials": [...], "violations": [group ids]}
(decisions: each {function, action, resource, allowed, key}); `POST /_iam/reset`; `POST /_iam/mutation`
{"suffix": "m1", "function": "db-network", "drop": "ec2:CreateSecurityGroup"}: a key
`lda-<function>+m1` is then evaluated with that action removed from the function's policy.

    .venv/bin/python tests/local/iam_gate.py --moto URL --emulator URL [--port 0]   # prints: listening on …
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import re
import struct
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import botocore.session
from cfnlint.decode import decode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import iam  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
R, A = iam.REGION, iam.ACCOUNT
KEY_PREFIX = "lda-"
ADMIN_KEY = "test"


class GateError(Exception):
    """The gate cannot work out the request: a bug in the gate, reported loudly."""


# ---------------------------------------------------------------- CBOR (CloudWatch's RPC v2 protocol)

def cbor_decode(data: bytes):
    def item(i):
        ib = data[i]
        major, info = ib >> 5, ib & 31
        i += 1
        if major == 7:
            if info == 20:
                return False, i
            if info == 21:
                return True, i
            if info in (22, 23):
                return None, i
            if info == 25:
                return 0.0, i + 2  # half floats never carry identifiers
            if info == 26:
                return struct.unpack(">f", data[i:i + 4])[0], i + 4
            if info == 27:
                return struct.unpack(">d", data[i:i + 8])[0], i + 8
            raise GateError(f"CBOR simple value {info}")
        if info < 24:
            n = info
        elif info in (24, 25, 26, 27):
            size = 1 << (info - 24)
            n = int.from_bytes(data[i:i + size], "big")
            i += size
        elif info == 31:
            n = None
        else:
            raise GateError(f"CBOR additional info {info}")
        if major == 0:
            return n, i
        if major == 1:
            return -1 - n, i
        if major in (2, 3):
            if n is None:
                chunks = []
                while data[i] != 0xFF:
                    c, i = item(i)
                    chunks.append(c)
                return (b"" if major == 2 else "").join(chunks), i + 1
            raw = data[i:i + n]
            return (raw if major == 2 else raw.decode()), i + n
        if major == 4:
            out = []
            while (n is None and data[i] != 0xFF) or (n is not None and len(out) < n):
                v, i = item(i)
                out.append(v)
            return out, (i + 1 if n is None else i)
        if major == 5:
            out = {}
            while (n is None and data[i] != 0xFF) or (n is not None and len(out) < n):
                k, i = item(i)
                out[k], i = item(i)
            return out, (i + 1 if n is None else i)
        if major == 6:
            return item(i)  # a tag (timestamps): its value
        raise GateError(f"CBOR major type {major}")

    return item(0)[0] if data else {}


def cbor_encode_text_map(m: dict[str, str]) -> bytes:
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        if n < 256:
            return bytes([major << 5 | 24, n])
        return bytes([major << 5 | 25]) + n.to_bytes(2, "big")

    out = head(5, len(m))
    for k, v in m.items():
        for s in (k, v):
            b = s.encode()
            out += head(3, len(b)) + b
    return out


# ---------------------------------------------------------------- requests → (action, resources, context)

def arn(service: str, resource: str, region: str = R) -> str:
    return f"arn:aws:{service}:{region}:{A}:{resource}"


LATTICE_PREFIX = {"sn": "servicenetwork", "snva": "servicenetworkvpcassociation",
                  "snra": "servicenetworkresourceassociation", "rgw": "resourcegateway",
                  "rcfg": "resourceconfiguration", "als": "accesslogsubscription",
                  "svc": "service", "sna": "servicenetworkserviceassociation"}


def lattice_arn(ident: str) -> str:
    if ident.startswith("arn:"):
        return ident
    kind = LATTICE_PREFIX.get(ident.split("-")[0])
    if not kind:
        raise GateError(f"cannot tell the VPC Lattice resource type of {ident!r}")
    return arn("vpc-lattice", f"{kind}/{ident}")


def tag_context(tags: dict[str, str]) -> dict:
    ctx = {f"aws:requesttag/{k}".lower(): v for k, v in tags.items()}
    if tags:
        ctx["aws:tagkeys"] = list(tags)
    return ctx


class Check:
    """One authorization the request needs: (action, resources, context)."""

    def __init__(self, action, resources, context=None):
        self.action, self.resources, self.context = action, resources, context or {}


def keep_typed(action: str, arns: list[str]) -> list[str]:
    """The ARNs that are of one of the action's resource types (SAR); an action without resource
    types is authorized on `*`."""
    types = iam.sar_resource_types(action)
    if not types:
        return []
    out = [a for a in arns if any(iam.type_regex(t).fullmatch(a) for _, t, _ in types)]
    if not out:
        raise GateError(f"{action}: no resource of the request is of its types "
                        f"({', '.join(k for k, _, _ in types)}): {arns}")
    return out


class Lattice:
    def __init__(self):
        model = botocore.session.get_session().get_service_model("vpc-lattice")
        self.routes = []
        for name in model.operation_names:
            http = model.operation_model(name).http
            path = http["requestUri"].split("?")[0]
            rx = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
            rx = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", rx)
            self.routes.append((http["method"], re.compile(rx + "/?"), name, path.count("{")))
        self.routes.sort(key=lambda r: r[3])

    def checks(self, method: str, path: str, body: bytes) -> list[Check]:
        raw_path = urllib.parse.urlsplit(path).path
        for m, rx, name, _ in self.routes:
            match = rx.fullmatch(raw_path) if m == method else None
            if match:
                break
        else:
            raise GateError(f"no VPC Lattice operation for {method} {raw_path}")
        labels = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
        doc = json.loads(body) if body.strip() else {}
        idents = [v for k, v in {**labels, **doc}.items()
                  if isinstance(v, str) and k != "vpcIdentifier" and (k.endswith("Identifier") or k == "resourceArn")]
        action = f"vpc-lattice:{name}"
        tags = doc.get("tags") or {}
        arns = [lattice_arn(i) for i in idents]
        new = None
        if name.startswith("Create"):
            kind = name.removeprefix("Create").lower()
            new = arn("vpc-lattice", f"{kind}/new-{kind}")
            arns.append(new)
        if name == "TagResource":
            tags = doc.get("tags") or {}
        checks = [Check(action, keep_typed(action, arns), tag_context(tags) if name == "TagResource" else {})]
        if new and tags:
            checks.append(Check("vpc-lattice:TagResource", [new], tag_context(tags)))
        return checks


def form(body: bytes) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))


def members(params: dict[str, str], prefix: str) -> list[str]:
    """`Prefix.1`, `Prefix.member.1`, ... values of a query-protocol list."""
    rx = re.compile(re.escape(prefix) + r"(\.member)?\.\d+$")
    return [v for k, v in params.items() if rx.match(k)]


def query_tags(params: dict[str, str], prefix: str) -> dict[str, str]:
    out = {}
    for k, v in params.items():
        m = re.match(re.escape(prefix) + r"(\.member|\.Tag)?\.(\d+)\.Key$", k)
        if m:
            out[v] = params.get(k[: -len("Key")] + "Value", "")
    return out


def ec2_checks(p: dict[str, str], sg_tags) -> list[Check]:
    op = p["Action"]
    action = f"ec2:{op}"
    if not iam.sar_resource_types(action):
        return [Check(action, [])]
    arns, ctx = [], {}
    if op == "CreateSecurityGroup":
        new = arn("ec2", "security-group/sg-new")
        arns.append(new)
        if p.get("VpcId"):
            arns.append(arn("ec2", f"vpc/{p['VpcId']}"))
        checks = [Check(action, arns)]
        for i in sorted({k.split(".")[1] for k in p if k.startswith("TagSpecification.")}):
            tags = query_tags(p, f"TagSpecification.{i}.Tag")
            checks.append(Check("ec2:CreateTags", [new], {"ec2:createaction": op, **tag_context(tags)}))
        return checks
    ids = [p["GroupId"]] if p.get("GroupId") else []
    ids += members(p, "ResourceId")
    for i in ids:
        kind = {"sg": "security-group", "vpc": "vpc", "subnet": "subnet", "eni": "network-interface"}.get(i.split("-")[0])
        if not kind:
            raise GateError(f"{action}: cannot tell the resource type of {i}")
        a = arn("ec2", f"{kind}/{i}")
        arns.append(a)
        if kind == "security-group":
            ctx.update({f"aws:resourcetag/{k}".lower(): v for k, v in sg_tags(i).items()})
    if op == "CreateTags":
        ctx.update(tag_context(query_tags(p, "Tag")))
    if not arns:
        raise GateError(f"{action}: the gate does not know this request's resources: {sorted(p)}")
    return [Check(action, keep_typed(action, arns), ctx)]


def wildcard(arn_template: str) -> str:
    """`arn:${Partition}:rds:${Region}:${Account}:db:${DbInstanceName}` → `arn:aws:rds:…:db:*`."""
    concrete = arn_template.replace("${Partition}", "aws").replace("${Region}", R).replace("${Account}", A)
    return concrete.split("${")[0] + "*"


RDS_IDS = [("DBInstanceIdentifier", "db"), ("DBClusterIdentifier", "cluster"), ("DBSubnetGroupName", "subgrp"),
           ("DBSnapshotIdentifier", "snapshot"), ("DBClusterSnapshotIdentifier", "cluster-snapshot"),
           ("DBParameterGroupName", "pg"), ("DBClusterParameterGroupName", "cluster-pg"), ("OptionGroupName", "og")]


def rds_checks(p: dict[str, str]) -> list[Check]:
    op = p["Action"]
    action = f"rds:{op}"
    arns = [arn("rds", f"{kind}:{p[k]}") for k, kind in RDS_IDS if p.get(k)]
    if p.get("ResourceName"):
        arns.append(p["ResourceName"])
    if not arns and op.startswith("Describe"):
        # A describe of everything is authorized on the type's wildcard ARN (db:*, cluster:*, ...).
        arns = [wildcard(t) for _, t, _ in iam.sar_resource_types(action)]
    if not arns:
        raise GateError(f"{action}: the gate does not know this request's resources: {sorted(p)}")
    checks = [Check(action, keep_typed(action, arns), tag_context(query_tags(p, "Tags")) if op == "AddTagsToResource" else {})]
    tags = query_tags(p, "Tags")
    main = next((a for a in arns if re.search(r":(db|cluster|subgrp):", a)), None)
    if op.startswith("Create") and tags and main:
        checks.append(Check("rds:AddTagsToResource", [main], tag_context(tags)))
    if op in ("CreateDBInstance", "CreateDBCluster", "ModifyDBInstance", "ModifyDBCluster") \
            and p.get("ManageMasterUserPassword") == "true":
        secret = arn("secretsmanager", f"secret:rds!{'db' if 'Instance' in op else 'cluster'}-{uuid.uuid4()}-AbCdEf")
        checks += [Check("secretsmanager:CreateSecret", [secret]), Check("secretsmanager:TagResource", [secret])]
    if op in ("DeleteDBInstance", "DeleteDBCluster") and p.get("FinalDBSnapshotIdentifier"):
        snap_action, kind = (("rds:CreateDBSnapshot", "snapshot") if op == "DeleteDBInstance"
                             else ("rds:CreateDBClusterSnapshot", "cluster-snapshot"))
        checks.append(Check(snap_action, keep_typed(snap_action, arns + [arn("rds", f"{kind}:{p['FinalDBSnapshotIdentifier']}")])))
    return checks


def logs_checks(op: str, doc: dict) -> list[Check]:
    action = f"logs:{op}"
    if not iam.sar_resource_types(action):
        return [Check(action, [])]
    name = doc.get("logGroupName") or doc.get("logGroupIdentifier")
    arns = [doc["resourceArn"]] if doc.get("resourceArn") else []
    if name:
        arns.append(name if name.startswith("arn:") else arn("logs", f"log-group:{name}"))
    if not arns and op.startswith("Describe"):
        arns = [arn("logs", "log-group:*")]
    if not arns:
        raise GateError(f"{action}: the gate does not know this request's resources: {sorted(doc)}")
    tags = doc.get("tags") or {}
    checks = [Check(action, keep_typed(action, arns), tag_context(tags) if op == "TagResource" else {})]
    if op == "CreateLogGroup" and tags:
        checks.append(Check("logs:TagResource", arns, tag_context(tags)))
    return checks


def dynamodb_checks(op: str, doc: dict) -> list[Check]:
    """DynamoDB (awsJson1_0): the table the request names. Reading the old item back on a failed
    condition (ReturnValuesOnConditionCheckFailure) needs no permission beyond the write itself."""
    action = f"dynamodb:{op}"
    table = doc.get("TableName")
    if not table:
        raise GateError(f"{action}: the gate does not know this request's table: {sorted(doc)}")
    return [Check(action, keep_typed(action, [table if table.startswith("arn:") else arn("dynamodb", f"table/{table}")]))]


def cloudwatch_checks(op: str, doc: dict) -> list[Check]:
    action = f"cloudwatch:{op}"
    if not iam.sar_resource_types(action):
        return [Check(action, [])]
    arns = []
    for key, kind, regional in (("DashboardName", "dashboard/", False), ("AlarmName", "alarm:", True)):
        if doc.get(key):
            arns.append(arn("cloudwatch", kind + doc[key], R if regional else ""))
    for key, kind, regional in (("DashboardNames", "dashboard/", False), ("AlarmNames", "alarm:", True)):
        arns += [arn("cloudwatch", kind + n, R if regional else "") for n in doc.get(key) or []]
    if doc.get("ResourceARN"):
        arns.append(doc["ResourceARN"])
    if not arns and op == "DescribeAlarms":
        arns = [arn("cloudwatch", "alarm:*")]
    if not arns:
        raise GateError(f"{action}: the gate does not know this request's resources: {sorted(doc)}")
    tags = {t["Key"]: t.get("Value", "") for t in doc.get("Tags") or []}
    checks = [Check(action, keep_typed(action, arns), tag_context(tags) if op == "TagResource" else {})]
    if op in ("PutMetricAlarm", "PutDashboard") and tags:
        checks.append(Check("cloudwatch:TagResource", arns, tag_context(tags)))
    return checks


# ---------------------------------------------------------------- denial answers, as each service sends them

def denial(service: str, action: str, resource: str, principal: str) -> tuple[int, dict, bytes]:
    on = f" on resource: {resource}" if resource != "*" else ""
    message = (f"User: {principal} is not authorized to perform: {action}{on} "
               f"because no identity-based policy allows the {action} action")
    rid = str(uuid.uuid4())
    if service == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>UnauthorizedOperation</Code>'
                f"<Message>You are not authorized to perform this operation. {message}</Message></Error></Errors>"
                f"<RequestID>{rid}</RequestID></Response>")
        return 403, {"Content-Type": "text/xml;charset=UTF-8"}, body.encode()
    if service == "rds":
        body = (f'<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type>'
                f"<Code>AccessDenied</Code><Message>{message}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>")
        return 403, {"Content-Type": "text/xml"}, body.encode()
    if service == "vpc-lattice":
        return 403, {"Content-Type": "application/json", "x-amzn-ErrorType": "AccessDeniedException",
                     "x-amzn-RequestId": rid}, json.dumps({"message": message}).encode()
    if service == "monitoring":
        return 403, {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": rid}, \
            cbor_encode_text_map({"__type": "AccessDenied", "message": message})
    if service == "dynamodb":
        return 400, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": rid}, \
            json.dumps({"__type": "com.amazon.coral.service#AccessDeniedException", "message": message}).encode()
    return 400, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid}, \
        json.dumps({"__type": "AccessDeniedException", "message": message}).encode()


# ---------------------------------------------------------------- the gate

class Gate:
    def __init__(self, moto: str, emulator: str, template: Path = ROOT / "template.yaml"):
        self.moto, self.emulator = moto, emulator
        tpl, matches = decode(str(template))
        if matches:
            raise SystemExit(f"template.yaml does not parse: {matches}")
        self.policies = iam.function_policies(json.loads(json.dumps(tpl, default=str)))
        self.mutations: dict[str, tuple[str, str]] = {}
        self.lattice = Lattice()
        self.ec2 = boto3.client("ec2", endpoint_url=moto, region_name=R,
                                aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_KEY)
        self.lock = threading.Lock()
        self.decisions: list[dict] = []
        self.violations: list[str] = []  # groups whose deletion was refused with DependencyViolation

    def policy(self, key: str) -> tuple[str, list[dict]] | None:
        if not key.startswith(KEY_PREFIX):
            return None
        function, _, suffix = key[len(KEY_PREFIX):].partition("+")
        if function not in self.policies:
            return None
        statements = self.policies[function]
        if suffix:
            mutated, drop = self.mutations.get(suffix, (None, None))
            if mutated == function:
                statements = copy.deepcopy(statements)
                for st in statements:
                    st["Action"] = [a for a in iam.as_list(st["Action"]) if a.lower() != drop.lower()]
                statements = [st for st in statements if st["Action"]]
        return function, statements

    def sg_tags(self, group_id: str) -> dict[str, str]:
        try:
            groups = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        except self.ec2.exceptions.ClientError:
            return {}
        return {t["Key"]: t["Value"] for g in groups for t in g.get("Tags", [])}

    def checks(self, service: str, method: str, path: str, headers, body: bytes) -> list[Check]:
        target = headers.get("X-Amz-Target", "")
        if service == "vpc-lattice":
            return self.lattice.checks(method, path, body)
        if service == "monitoring":
            m = re.search(r"/operation/(\w+)$", urllib.parse.urlsplit(path).path)
            if not m:
                raise GateError(f"not a CloudWatch RPC v2 request: {path}")
            return cloudwatch_checks(m.group(1), cbor_decode(body))
        if service == "ec2":
            return ec2_checks(form(body), self.sg_tags)
        if service == "rds":
            return rds_checks(form(body))
        if service == "logs":
            return logs_checks(target.split(".")[-1], json.loads(body or b"{}"))
        if service == "dynamodb":
            return dynamodb_checks(target.split(".")[-1], json.loads(body or b"{}"))
        if service == "sts":
            return []  # GetCallerIdentity needs no permission
        raise GateError(f"the gate does not authorize {service} requests yet ({target or path})")

    def dependency_violation(self, service: str, body: bytes) -> str | None:
        """EC2 refuses to delete a group another group's rule or a network interface references."""
        if service != "ec2":
            return None
        p = form(body)
        if p.get("Action") != "DeleteSecurityGroup" or not p.get("GroupId"):
            return None
        gid = p["GroupId"]
        if self.ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [gid]}])["NetworkInterfaces"]:
            return gid
        for g in self.ec2.describe_security_groups()["SecurityGroups"]:
            if g["GroupId"] == gid:
                continue
            for perm in g.get("IpPermissions", []) + g.get("IpPermissionsEgress", []):
                if any(pair.get("GroupId") == gid for pair in perm.get("UserIdGroupPairs", [])):
                    return gid
        return None

    def log(self, entry: dict) -> None:
        with self.lock:
            self.decisions.append(entry)


def service_and_key(headers) -> tuple[str, str]:
    m = re.search(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request", headers.get("Authorization", ""))
    return (m.group(3), m.group(1)) if m else ("", "")


def make_handler(gate: Gate):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle on, the body waits for the client's
        # delayed ACK (~40 ms per response on Linux loopback).
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def reply(self, status: int, headers: dict, body: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def control(self, body: bytes) -> None:
            route = self.path.split("?")[0]
            if route == "/_iam/log":
                with gate.lock:
                    out = {"decisions": list(gate.decisions), "violations": list(gate.violations),
                           "denials": [d for d in gate.decisions if not d["allowed"]]}
            elif route == "/_iam/reset" and self.command == "POST":
                with gate.lock:
                    gate.decisions.clear()
                    gate.violations.clear()
                    gate.mutations.clear()
                out = {}
            elif route == "/_iam/mutation" and self.command == "POST":
                m = json.loads(body)
                if m["function"] not in gate.policies:
                    return self.reply(400, {}, b"unknown function")
                gate.mutations[m["suffix"]] = (m["function"], m["drop"])
                out = {}
            else:
                return self.reply(404, {}, b"no such route")
            self.reply(200, {"Content-Type": "application/json"}, json.dumps(out).encode())

        def handle_any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/_iam/"):
                return self.control(body)
            service, key = service_and_key(self.headers)
            if key != ADMIN_KEY:
                found = gate.policy(key)
                if found is None:
                    return self.reply(*denial_unknown_key(service, key))
                function, statements = found
                principal = f"arn:aws:sts::{A}:assumed-role/lattice-db-access-{function}/{function}"
                try:
                    checks = gate.checks(service, self.command, self.path, self.headers, body)
                    for c in checks:
                        for st in statements:
                            for keys in (st.get("Condition") or {}).values():
                                for k in keys:
                                    if st_mentions(st, c.action) and not known_key(k, c.context, service):
                                        raise GateError(f"{function}: condition key {k} on {c.action} is not computed by the gate")
                except GateError as e:
                    print(f"gate error: {e}", file=sys.stderr, flush=True)
                    return self.reply(500, {"Content-Type": "text/plain"}, f"iam_gate: {e}".encode())
                for c in checks:
                    denied = iam.authorize(statements, iam.Request(c.action, c.resources, c.context))
                    gate.log({"function": function, "action": c.action, "resource": denied or ",".join(c.resources) or "*",
                              "allowed": denied is None, "key": key})
                    if denied is not None:
                        print(f"denied: {function} {c.action} on {denied}", file=sys.stderr, flush=True)
                        return self.reply(*denial(service, c.action, denied, principal))
            held = gate.dependency_violation(service, body)
            if held:
                with gate.lock:
                    gate.violations.append(held)
                msg = f"resource {held} has a dependent object"
                xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>DependencyViolation</Code>'
                       f"<Message>{msg}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>")
                return self.reply(400, {"Content-Type": "text/xml;charset=UTF-8"}, xml.encode())
            upstream = gate.emulator if service in ("vpc-lattice", "monitoring") else gate.moto
            u = urllib.parse.urlsplit(upstream)
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "content-length")}
                headers["Host"] = u.netloc
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.reply(resp.status, dict(resp.getheaders()), data)
            finally:
                conn.close()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    return Handler


def st_mentions(st: dict, action: str) -> bool:
    return any(iam.glob_regex(a, ignore_case=True).fullmatch(action) for a in iam.as_list(st["Action"]))


def known_key(key: str, context: dict, service: str) -> bool:
    """Whether the gate computes this condition key for the request (absent from the context is then a
    fact, not a gap)."""
    k = key.lower()
    if k in context or k.startswith("aws:requesttag/") or k == "aws:tagkeys":
        return True
    if k.startswith("aws:resourcetag/") and service == "ec2":
        return True
    return k == "ec2:createaction" and service == "ec2"


def denial_unknown_key(service: str, key: str) -> tuple[int, dict, bytes]:
    msg = f"The security token included in the request is invalid (unknown access key {key!r})"
    if service in ("ec2", "rds"):
        return 401, {"Content-Type": "text/xml"}, (
            f"<Response><Errors><Error><Code>InvalidClientTokenId</Code><Message>{msg}</Message></Error></Errors></Response>").encode()
    return 403, {"Content-Type": "application/json", "x-amzn-ErrorType": "UnrecognizedClientException"}, \
        json.dumps({"__type": "UnrecognizedClientException", "message": msg}).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moto", required=True)
    ap.add_argument("--emulator", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    gate = Gate(args.moto, args.emulator)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(gate))
    server.daemon_threads = True
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
