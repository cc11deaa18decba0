#!/usr/bin/env python3
"""Regenerates the emulator's pinned, trimmed Smithy models (stdlib only).

Usage:
    python3 tests/emulator/models/trim.py <vpc-lattice-2022-11-30.json> <cloudwatch-2010-08-01.json> \
        --repo aws/api-models-aws --commit <sha> [--date <commit date>]

The inputs are the official Smithy JSON AST files from the aws/api-models-aws repository
(`models/vpc-lattice/service/2022-11-30/vpc-lattice-2022-11-30.json`,
`models/cloudwatch/service/2010-08-01/cloudwatch-2010-08-01.json`). The outputs
(`vpc-lattice.json`, `cloudwatch.json` beside this script) keep only the operations the emulator
serves, every shape reachable from their inputs, outputs and errors (plus the service's other
error shapes), and only the traits the emulator reads; documentation is dropped. The source
repository, commit, path and the input file's git blob id and SHA-256 are recorded under
`metadata.source`, so `git hash-object <file>` on a fresh download proves it is the same file.

Add an operation here when the emulator starts serving it, then regenerate.
"""

import argparse
import hashlib
import json
import os
import sys

SERVED = {
    "vpc-lattice": {
        "path": "models/vpc-lattice/service/2022-11-30/vpc-lattice-2022-11-30.json",
        "operations": [
            "CreateServiceNetwork", "GetServiceNetwork", "ListServiceNetworks",
            "UpdateServiceNetwork", "DeleteServiceNetwork",
            "CreateServiceNetworkVpcAssociation", "GetServiceNetworkVpcAssociation",
            "ListServiceNetworkVpcAssociations", "UpdateServiceNetworkVpcAssociation",
            "DeleteServiceNetworkVpcAssociation",
            "CreateServiceNetworkResourceAssociation", "GetServiceNetworkResourceAssociation",
            "ListServiceNetworkResourceAssociations", "DeleteServiceNetworkResourceAssociation",
            "CreateResourceGateway", "GetResourceGateway", "ListResourceGateways",
            "UpdateResourceGateway", "DeleteResourceGateway",
            "CreateResourceConfiguration", "GetResourceConfiguration",
            "ListResourceConfigurations", "UpdateResourceConfiguration",
            "DeleteResourceConfiguration",
            "CreateAccessLogSubscription", "GetAccessLogSubscription",
            "ListAccessLogSubscriptions", "UpdateAccessLogSubscription",
            "DeleteAccessLogSubscription",
            "TagResource", "UntagResource", "ListTagsForResource",
        ],
    },
    "cloudwatch": {
        "path": "models/cloudwatch/service/2010-08-01/cloudwatch-2010-08-01.json",
        "operations": [
            "PutDashboard", "GetDashboard", "ListDashboards", "DeleteDashboards",
            "PutMetricAlarm", "DescribeAlarms", "DeleteAlarms", "ListTagsForResource",
        ],
    },
}

# Traits the emulator reads (validation, bindings, protocols, errors); everything else goes.
KEEP_TRAITS = {
    "smithy.api#required", "smithy.api#length", "smithy.api#pattern", "smithy.api#range",
    "smithy.api#enum", "smithy.api#enumValue", "smithy.api#default", "smithy.api#clientOptional",
    "smithy.api#uniqueItems", "smithy.api#sparse",
    "smithy.api#http", "smithy.api#httpLabel", "smithy.api#httpQuery", "smithy.api#httpHeader",
    "smithy.api#httpPayload", "smithy.api#httpError", "smithy.api#error",
    "smithy.api#idempotent", "smithy.api#readonly", "smithy.api#idempotencyToken",
    "smithy.api#input", "smithy.api#output", "smithy.api#retryable",
    "smithy.api#jsonName", "smithy.api#xmlName", "smithy.api#xmlFlattened",
    "smithy.api#xmlNamespace", "smithy.api#timestampFormat",
    "aws.protocols#awsQueryError", "aws.protocols#restJson1", "aws.protocols#awsJson1_0",
    "aws.protocols#awsQuery", "aws.protocols#awsQueryCompatible", "smithy.protocols#rpcv2Cbor",
    "aws.auth#sigv4",
}
SERVICE_KEYS = {"sdkId", "endpointPrefix", "arnNamespace"}


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def traits(t):
    out = {k: v for k, v in (t or {}).items() if k in KEEP_TRAITS}
    if "aws.api#service" in (t or {}):
        out["aws.api#service"] = {
            k: v for k, v in t["aws.api#service"].items() if k in SERVICE_KEYS
        }
    return out


def refs(shape):
    """Shape ids a shape points at."""
    for key in ("member", "key", "value"):
        if key in shape:
            yield shape[key]["target"]
    for m in shape.get("members", {}).values():
        yield m["target"]
    for key in ("input", "output"):
        if key in shape:
            yield shape[key]["target"]
    for e in shape.get("errors", []):
        yield e["target"]


def trim_ref(ref):
    out = {"target": ref["target"]}
    t = traits(ref.get("traits"))
    if t:
        out["traits"] = t
    return out


def trim_shape(shape):
    out = {"type": shape["type"]}
    for key in ("member", "key", "value"):
        if key in shape:
            out[key] = trim_ref(shape[key])
    if "members" in shape:
        out["members"] = {n: trim_ref(m) for n, m in shape["members"].items()}
    for key in ("input", "output"):
        if key in shape:
            out[key] = {"target": shape[key]["target"]}
    if "errors" in shape:
        out["errors"] = [{"target": e["target"]} for e in shape["errors"]]
    t = traits(shape.get("traits"))
    if t:
        out["traits"] = t
    return out


def trim(model, operations):
    shapes = model["shapes"]
    (service_id,) = [k for k, v in shapes.items() if v["type"] == "service"]
    service = shapes[service_id]
    ns = service_id.split("#")[0]
    op_ids = [f"{ns}#{op}" for op in operations]
    listed = {o["target"] for o in service.get("operations", [])}
    # Lattice nests its operations under resources; collect them all.
    def walk_resources(ids):
        for rid in ids:
            r = shapes[rid]
            for key in ("create", "put", "read", "update", "delete", "list"):
                if key in r:
                    listed.add(r[key]["target"])
            for o in r.get("operations", []) + r.get("collectionOperations", []):
                listed.add(o["target"])
            walk_resources([x["target"] for x in r.get("resources", [])])
    walk_resources([r["target"] for r in service.get("resources", [])])
    missing = [o for o in op_ids if o not in listed]
    if missing:
        sys.exit(f"not operations of {service_id}: {missing}")

    keep = {}
    todo = list(op_ids)
    # Every error shape of the service, so generic errors (e.g. MissingRequiredParameter) exist.
    todo += [k for k, v in shapes.items() if "smithy.api#error" in v.get("traits", {})]
    while todo:
        sid = todo.pop()
        if sid in keep or sid not in shapes:  # prelude shapes (smithy.api#String...) are implicit
            continue
        keep[sid] = trim_shape(shapes[sid])
        todo.extend(refs(shapes[sid]))
    svc = {
        "type": "service",
        "version": service.get("version"),
        "operations": [{"target": o} for o in sorted(op_ids)],
        "traits": traits(service.get("traits")),
    }
    keep[service_id] = svc
    return {k: keep[k] for k in sorted(keep)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("lattice")
    p.add_argument("cloudwatch")
    p.add_argument("--repo", default="aws/api-models-aws")
    p.add_argument("--commit", required=True)
    p.add_argument("--date", default="")
    p.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    a = p.parse_args()
    for name, path in (("vpc-lattice", a.lattice), ("cloudwatch", a.cloudwatch)):
        raw = open(path, "rb").read()
        model = json.loads(raw)
        spec = SERVED[name]
        out = {
            "smithy": model.get("smithy", "2.0"),
            "metadata": {
                "source": {
                    "repository": a.repo,
                    "commit": a.commit,
                    "commitDate": a.date,
                    "path": spec["path"],
                    "gitBlob": git_blob_id(raw),
                    "sha256": hashlib.sha256(raw).hexdigest(),
                },
                "generatedBy": "tests/emulator/models/trim.py",
            },
            "shapes": trim(model, spec["operations"]),
        }
        target = os.path.join(a.out, f"{name}.json")
        with open(target, "w") as f:
            json.dump(out, f, indent=1, sort_keys=False)
            f.write("\n")
        print(f"{target}: {len(out['shapes'])} shapes, {os.path.getsize(target)} bytes")


if __name__ == "__main__":
    main()
