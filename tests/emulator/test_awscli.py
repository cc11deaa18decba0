"""The AWS CLI v1 (pinned in tools/requirements-awscli.lock) pointed at the emulator.

Runs `aws cloudwatch put-metric-alarm`, `aws cloudwatch describe-alarms` and
`aws vpc-lattice get-resource-gateway` against a fresh emulator binary, over each CloudWatch
protocol the CLI can speak: as installed it picks awsJson1_0; a copy of its own service model
restricted to `smithy-rpc-v2-cbor` or `query`, put on AWS_DATA_PATH, makes it use those instead.

    python3 -m unittest tests/emulator/test_awscli.py -v

The CLI is `$AWS_CLI`, else `.venv-awscli/bin/aws` (`python3 -m venv .venv-awscli &&
.venv-awscli/bin/pip install -r tools/requirements-awscli.lock`). The emulator is
`$LATTICE_EMU_BIN`, else `target/debug/lattice-emulator` (built with cargo if missing).
Stdlib only.
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def cli_path():
    path = os.environ.get("AWS_CLI") or os.path.join(ROOT, ".venv-awscli", "bin", "aws")
    if not os.access(path, os.X_OK):
        raise AssertionError(
            f"AWS CLI v1 not found at {path}: install tools/requirements-awscli.lock into .venv-awscli"
        )
    return path


def emulator_path():
    path = os.environ.get("LATTICE_EMU_BIN") or os.path.join(
        ROOT, "target", "debug", "lattice-emulator"
    )
    if not os.access(path, os.X_OK):
        subprocess.run(
            ["cargo", "build", "-q", "-p", "lattice-emulator", "--bin", "lattice-emulator"],
            cwd=ROOT,
            check=True,
        )
    return path


def cli_botocore_model(cli):
    """The CLI's own CloudWatch service model (awscli vendors botocore)."""
    python = os.path.join(os.path.dirname(cli), "python")
    code = (
        "import os, awscli; "
        "print(os.path.join(os.path.dirname(awscli.__file__), 'botocore', 'data', "
        "'cloudwatch', '2010-08-01', 'service-2.json'))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


class AwsCliAgainstTheEmulator(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cli = cli_path()
        cls.proc = subprocess.Popen(
            [emulator_path(), "--port", "0", "--polls-to-active", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = cls.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            cls.proc.kill()
            raise AssertionError(f"emulator did not start: {line!r}")
        cls.url = "http://" + line.removeprefix("listening on ")
        cls.tmp = tempfile.mkdtemp(prefix="awscli-emu-")

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.control("POST", "/_emu/reset")

    def control(self, method, path):
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def aws(self, *args, protocol=None, ok=True):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.tmp,
            "AWS_ACCESS_KEY_ID": "AKIDEMULATORTEST",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        }
        if protocol:
            env["AWS_DATA_PATH"] = self.model_restricted_to(protocol)
        r = subprocess.run(
            [self.cli, "--endpoint-url", self.url, "--output", "json", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if ok:
            self.assertEqual(r.returncode, 0, f"aws {' '.join(args)}: {r.stderr}")
            return json.loads(r.stdout) if r.stdout.strip() else {}
        self.assertNotEqual(r.returncode, 0, f"aws {' '.join(args)} should fail")
        return r.stderr

    def model_restricted_to(self, protocol):
        root = os.path.join(self.tmp, protocol)
        target = os.path.join(root, "cloudwatch", "2010-08-01", "service-2.json")
        if not os.path.exists(target):
            with open(cli_botocore_model(self.cli)) as f:
                model = json.load(f)
            model["metadata"]["protocol"] = protocol
            model["metadata"]["protocols"] = [protocol]
            os.makedirs(os.path.dirname(target))
            with open(target, "w") as f:
                json.dump(model, f)
        return root

    def alarm_round_trip(self, protocol=None):
        self.aws(
            "cloudwatch", "put-metric-alarm",
            "--alarm-name", "orders-cpu",
            "--namespace", "AWS/RDS",
            "--metric-name", "CPUUtilization",
            "--dimensions", "Name=DBInstanceIdentifier,Value=orders-db",
            "--statistic", "Average",
            "--period", "300",
            "--evaluation-periods", "3",
            "--datapoints-to-alarm", "2",
            "--threshold", "80",
            "--comparison-operator", "GreaterThanThreshold",
            "--alarm-actions", "arn:aws:sns:eu-west-1:123456789012:ops",
            "--tags", "Key=lattice-db-access:deployment,Value=orders",
            protocol=protocol,
        )
        out = self.aws("cloudwatch", "describe-alarms", "--alarm-names", "orders-cpu", protocol=protocol)
        (alarm,) = out["MetricAlarms"]
        self.assertEqual(alarm["AlarmName"], "orders-cpu")
        self.assertEqual(alarm["AlarmArn"], "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders-cpu")
        self.assertEqual(alarm["Threshold"], 80.0)
        self.assertEqual(alarm["EvaluationPeriods"], 3)
        self.assertEqual(alarm["Dimensions"], [{"Name": "DBInstanceIdentifier", "Value": "orders-db"}])
        self.assertEqual(alarm["AlarmActions"], ["arn:aws:sns:eu-west-1:123456789012:ops"])
        self.assertEqual(alarm["StateValue"], "INSUFFICIENT_DATA")
        self.assertIn("StateUpdatedTimestamp", alarm)
        # What the model refuses, the CLI reports with the model's error code.
        err = self.aws(
            "cloudwatch", "put-metric-alarm",
            "--alarm-name", "orders-cpu",
            "--namespace", "AWS/RDS",
            "--metric-name", "CPUUtilization",
            "--statistic", "Average",
            "--extended-statistic", "p99",
            "--period", "300",
            "--evaluation-periods", "3",
            "--threshold", "80",
            "--comparison-operator", "GreaterThanThreshold",
            protocol=protocol,
            ok=False,
        )
        self.assertIn("InvalidParameterCombination", err)
        err = self.aws("cloudwatch", "delete-alarms", "--alarm-names", "missing", protocol=protocol, ok=False)
        self.assertIn("ResourceNotFound", err)
        return [c["protocol"] for c in self.control("GET", "/_emu/calls")]

    def test_cloudwatch_alarms_over_the_default_protocol(self):
        # botocore ranks awsJson1_0 above RPC v2 CBOR, so the CLI as installed speaks JSON.
        self.assertEqual(set(self.alarm_round_trip()), {"awsJson1_0"})

    def test_cloudwatch_alarms_over_rpc_v2_cbor(self):
        self.assertEqual(set(self.alarm_round_trip("smithy-rpc-v2-cbor")), {"rpcv2Cbor"})

    def test_cloudwatch_alarms_over_aws_json(self):
        self.assertEqual(set(self.alarm_round_trip("json")), {"awsJson1_0"})

    def test_cloudwatch_alarms_over_aws_query(self):
        self.assertEqual(set(self.alarm_round_trip("query")), {"awsQuery"})

    def test_vpc_lattice_get_resource_gateway(self):
        created = self.aws(
            "vpc-lattice", "create-resource-gateway",
            "--name", "orders-gw",
            "--vpc-identifier", "vpc-0db0000000000000a",
            "--subnet-ids", "subnet-0a00000000000000a",
            "--security-group-ids", "sg-0a1b2c3d4e5f60001",
        )
        got = self.aws("vpc-lattice", "get-resource-gateway", "--resource-gateway-identifier", created["id"])
        self.assertEqual(got["name"], "orders-gw")
        self.assertEqual(got["status"], "ACTIVE")
        self.assertEqual(got["vpcId"], "vpc-0db0000000000000a")
        self.assertTrue(got["arn"].startswith("arn:aws:vpc-lattice:eu-west-1:123456789012:resourcegateway/rgw-"))
        err = self.aws("vpc-lattice", "get-resource-gateway", "--resource-gateway-identifier", "rgw-0123456789abcdefg", ok=False)
        self.assertIn("ResourceNotFoundException", err)


if __name__ == "__main__":
    unittest.main()
