"""The same step done the way people do it today, as a Python Lambda: boto3, one client, one call.

Init is what a Python Lambda's init does for such a handler: start the interpreter, `import boto3`,
create the client. Then it speaks the Lambda Runtime API itself (as awslambdaric does, minus
awslambdaric's own imports, so this is a lower bound for a real Python Lambda): GET /next, call
`GetResourceGateway`, POST the response. The event is `{"resourceGatewayIdentifier": "rgw-..."}`.
"""

import json
import os
import urllib.request

import boto3

lattice = boto3.client("vpc-lattice")  # endpoint from AWS_ENDPOINT_URL_VPC_LATTICE, region from AWS_REGION


def handler(event):
    gw = lattice.get_resource_gateway(resourceGatewayIdentifier=event["resourceGatewayIdentifier"])
    return {"id": gw["id"], "status": gw["status"]}


def main():
    base = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"
    while True:
        with urllib.request.urlopen(f"{base}/next") as r:
            req_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read())
        try:
            body, kind = json.dumps(handler(event)).encode(), "response"
        except Exception as e:  # noqa: BLE001 - report like the runtime does
            body, kind = json.dumps({"errorType": type(e).__name__, "errorMessage": str(e)}).encode(), "error"
        urllib.request.urlopen(urllib.request.Request(f"{base}/{req_id}/{kind}", data=body, method="POST")).read()


if __name__ == "__main__":
    main()
