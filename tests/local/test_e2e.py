"""End to end on the local AWS stack: the real state machine (aws-local-stepfunctions), the real
Lambda binaries (local Runtime API), moto and the project's emulator. Asserts on the resulting
state of moto and the emulator, then re-runs the same input and asserts nothing new was created.

    .venv/bin/python -m unittest tests/local/test_e2e.py -v      (after cargo build --workspace --all-targets)
"""

import copy
import json
import sys
import unittest
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import ROOT, LocalStack  # noqa: E402

DEPLOYMENT_TAG = "lattice-db-access:deployment"


def tags_of(items):
    return {t["Key"]: t["Value"] for t in items or []}


class ProvisionEndToEnd(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.stack = LocalStack(polls_to_active=2)
        cls.stack.__enter__()
        cls.ids = cls.stack.create_prerequisites()
        doc = json.loads((ROOT / "events" / "provision.json").read_text())
        doc["clientVpcs"][0]["allowedSecurityGroupIds"] = [cls.ids["appSecurityGroup"]]
        cls.input = doc
        cls.code, cls.output, cls.stderr, cls.run_dir = cls.stack.run(doc, name="first", quiet=True)
        cls.calls_after_first = cls.stack.emu("calls")
        cls.inventory_after_first = cls.inventory()
        cls.code2, cls.output2, cls.stderr2, _ = cls.stack.run(doc, name="second", quiet=True)
        cls.calls_after_second = cls.stack.emu("calls")
        cls.inventory_after_second = cls.inventory()

    @classmethod
    def tearDownClass(cls):
        cls.stack.__exit__(None, None, None)

    @classmethod
    def inventory(cls):
        """Every resource id in moto (EC2 SGs, RDS, subnet groups, log groups) and the emulator."""
        ec2, rds, logs, lattice = (cls.stack.client(s) for s in ("ec2", "rds", "logs", "vpc-lattice"))
        inv = {
            "securityGroups": sorted(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]),
            "dbInstances": sorted(d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]),
            "dbSubnetGroups": sorted(g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]),
            "logGroups": sorted(g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]),
            "serviceNetworks": sorted(x["id"] for x in lattice.list_service_networks()["items"]),
            "vpcAssociations": sorted(x["id"] for x in lattice.list_service_network_vpc_associations()["items"]),
            "resourceGateways": sorted(x["id"] for x in lattice.list_resource_gateways()["items"]),
            "resourceConfigurations": sorted(x["id"] for x in lattice.list_resource_configurations()["items"]),
            "resourceAssociations": sorted(x["id"] for x in lattice.list_service_network_resource_associations()["items"]),
        }
        return inv

    def setUp(self):
        self.assertEqual(self.code, 0, f"first execution failed:\n{self.stderr}")
        self.ec2 = self.stack.client("ec2")
        self.rds = self.stack.client("rds")
        self.lattice = self.stack.client("vpc-lattice")
        self.out = self.output
        self.res = self.output["resources"]

    # ---------------------------------------------------------------- database network
    def sg(self, group_id):
        return self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]

    def test_database_and_gateway_security_groups_are_paired_on_the_db_port(self):
        db_sg, gw_sg = self.sg(self.res["databaseSecurityGroupId"]), self.sg(self.res["gatewaySecurityGroupId"])
        for g in (db_sg, gw_sg):
            self.assertEqual(g["VpcId"], self.ids["databaseVpc"])
            self.assertEqual(tags_of(g["Tags"])[DEPLOYMENT_TAG], "orders")
        [rule] = db_sg["IpPermissions"]
        self.assertEqual((rule["IpProtocol"], rule["FromPort"], rule["ToPort"]), ("tcp", 3306, 3306))
        self.assertEqual([p["GroupId"] for p in rule["UserIdGroupPairs"]], [gw_sg["GroupId"]])
        self.assertEqual(rule["IpRanges"], [])
        [egress] = gw_sg["IpPermissionsEgress"]  # the default allow-all egress is gone
        self.assertEqual((egress["IpProtocol"], egress["FromPort"]), ("tcp", 3306))
        self.assertEqual([p["GroupId"] for p in egress["UserIdGroupPairs"]], [db_sg["GroupId"]])

    def test_subnet_group_has_only_the_private_subnets(self):
        [g] = self.rds.describe_db_subnet_groups(DBSubnetGroupName=self.res["dbSubnetGroupName"])["DBSubnetGroups"]
        self.assertEqual(sorted(s["SubnetIdentifier"] for s in g["Subnets"]),
                         sorted([self.ids["dbSubnetA"], self.ids["dbSubnetB"]]))

    # ---------------------------------------------------------------- database
    def test_database_is_multi_az_encrypted_protected_private_with_a_managed_secret(self):
        [db] = self.rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"]
        self.assertTrue(db["MultiAZ"])
        self.assertTrue(db["StorageEncrypted"])
        self.assertTrue(db["DeletionProtection"])
        self.assertFalse(db["PubliclyAccessible"])
        self.assertGreaterEqual(db["BackupRetentionPeriod"], 1)
        self.assertEqual([g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]], [self.res["databaseSecurityGroupId"]])
        self.assertEqual(self.out["secretArn"], db["MasterUserSecret"]["SecretArn"])
        self.assertEqual(tags_of(db["TagList"])[DEPLOYMENT_TAG], "orders")
        self.assertEqual(self.out["database"]["endpoint"], db["Endpoint"]["Address"])

    # ---------------------------------------------------------------- lattice
    def test_resource_gateway_spans_two_azs_with_its_security_group(self):
        gw = self.lattice.get_resource_gateway(resourceGatewayIdentifier=self.res["resourceGatewayId"])
        self.assertEqual(gw["status"], "ACTIVE")
        self.assertEqual(gw["vpcId"], self.ids["databaseVpc"])
        self.assertEqual(sorted(gw["subnetIds"]), sorted([self.ids["dbSubnetA"], self.ids["dbSubnetB"]]))
        azs = {s["AvailabilityZone"] for s in self.ec2.describe_subnets(SubnetIds=gw["subnetIds"])["Subnets"]}
        self.assertGreaterEqual(len(azs), 2)
        self.assertEqual(gw["securityGroupIds"], [self.res["gatewaySecurityGroupId"]])

    def test_resource_configuration_points_at_the_rds_endpoint_by_dns(self):
        rc = self.lattice.get_resource_configuration(resourceConfigurationIdentifier=self.res["resourceConfigurationId"])
        self.assertEqual(rc["status"], "ACTIVE")
        self.assertEqual(rc["type"], "SINGLE")
        self.assertEqual(rc["resourceConfigurationDefinition"]["dnsResource"]["domainName"], self.out["database"]["endpoint"])
        self.assertEqual(rc["portRanges"], ["3306"])
        self.assertEqual(rc["protocol"], "TCP")
        self.assertEqual(rc["resourceGatewayId"], self.res["resourceGatewayId"])
        tags = self.lattice.list_tags_for_resource(resourceArn=rc["arn"])["tags"]
        self.assertEqual(tags["lattice-db-access:mode"], "dns")
        self.assertEqual(tags["lattice-db-access:db-identifier"], "orders-db")

    def test_only_the_client_vpc_is_associated_with_the_association_security_group(self):
        assocs = self.lattice.list_service_network_vpc_associations(
            serviceNetworkIdentifier=self.res["serviceNetworkId"])["items"]
        self.assertEqual([a["vpcId"] for a in assocs], [self.ids["clientVpc"]])
        a = self.lattice.get_service_network_vpc_association(serviceNetworkVpcAssociationIdentifier=assocs[0]["id"])
        self.assertEqual(a["status"], "ACTIVE")
        [assoc_sg] = self.res["associationSecurityGroups"]
        self.assertEqual(a["securityGroupIds"], [assoc_sg["securityGroupId"]])
        sources = set()
        for rule in self.sg(assoc_sg["securityGroupId"])["IpPermissions"]:
            self.assertEqual((rule["FromPort"], rule["ToPort"]), (3306, 3306))
            sources |= {p["GroupId"] for p in rule["UserIdGroupPairs"]} | {r["CidrIp"] for r in rule["IpRanges"]}
        [client_sg] = self.res["clientSecurityGroups"]
        self.assertEqual(sources, {client_sg["securityGroupId"], self.ids["appSecurityGroup"], "10.1.0.0/16"})

    def test_client_security_group_egress_goes_only_to_the_lattice_prefix_list(self):
        [client_sg] = self.res["clientSecurityGroups"]
        g = self.sg(client_sg["securityGroupId"])
        self.assertEqual(g["VpcId"], self.ids["clientVpc"])
        [egress] = g["IpPermissionsEgress"]
        pl = self.ec2.describe_managed_prefix_lists(
            Filters=[{"Name": "prefix-list-name", "Values": ["com.amazonaws.us-east-1.vpc-lattice"]}])["PrefixLists"][0]
        self.assertEqual([p["PrefixListId"] for p in egress["PrefixListIds"]], [pl["PrefixListId"]])
        self.assertEqual((egress["FromPort"], egress["ToPort"]), (3306, 3306))
        self.assertEqual(egress["IpRanges"], [])

    def test_clients_get_the_association_dns_name_port_and_secret(self):
        snra = self.lattice.get_service_network_resource_association(
            serviceNetworkResourceAssociationIdentifier=self.res["resourceAssociationId"])
        self.assertEqual(snra["status"], "ACTIVE")
        self.assertEqual(self.out["dnsName"], snra["dnsEntry"]["domainName"])
        self.assertIn(".vpc-lattice-rsc.", self.out["dnsName"])
        self.assertEqual(self.out["port"], 3306)
        self.assertTrue(self.out["secretArn"].startswith("arn:aws:secretsmanager:"))

    # ---------------------------------------------------------------- monitoring
    def test_access_logs_of_type_resource_go_to_a_retained_log_group(self):
        subs = self.lattice.list_access_log_subscriptions(resourceIdentifier=self.res["serviceNetworkId"])["items"]
        self.assertEqual(len(subs), 1)
        self.assertEqual(subs[0]["serviceNetworkLogType"], "RESOURCE")
        group = self.res["logGroupName"]
        self.assertTrue(subs[0]["destinationArn"].endswith(f":log-group:{group}"))
        [lg] = self.stack.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        self.assertEqual(lg["retentionInDays"], 30)

    def test_dashboard_and_alarms_exist_on_metrics_that_have_data(self):
        state = json.dumps(self.stack.emu("state"))
        self.assertIn(self.res["dashboardName"], state)
        self.assertIn("AWS/RDS", state)
        self.assertIn("DatabaseConnections", state)
        self.assertNotIn("RequestCount", state, "the recipe's metric has no data for TCP resources")
        for alarm in self.res["alarmNames"]:
            self.assertIn(alarm, state)

    # ---------------------------------------------------------------- workflow behaviour
    def test_every_lattice_resource_is_tagged_with_the_deployment(self):
        arns = []
        for sn in self.lattice.list_service_networks()["items"]:
            arns.append(sn["arn"])
        arns += [x["arn"] for x in self.lattice.list_resource_gateways()["items"]]
        arns += [x["arn"] for x in self.lattice.list_resource_configurations()["items"]]
        arns += [x["arn"] for x in self.lattice.list_service_network_vpc_associations()["items"]]
        arns += [x["arn"] for x in self.lattice.list_service_network_resource_associations()["items"]]
        self.assertEqual(len(arns), 5)
        for arn in arns:
            tags = self.lattice.list_tags_for_resource(resourceArn=arn)["tags"]
            self.assertEqual(tags.get(DEPLOYMENT_TAG), "orders", arn)
            self.assertEqual(tags.get("team"), "payments", arn)
            self.assertTrue(tags.get("lattice-db-access:execution", "").startswith("first-"), arn)

    def test_polling_loops_really_looped(self):
        ops = Counter(c["op"] for c in self.calls_after_first)
        for op in ("GetResourceGateway", "GetResourceConfiguration", "GetServiceNetworkVpcAssociation",
                   "GetServiceNetworkResourceAssociation"):
            self.assertGreaterEqual(ops[op], 2, f"{op} was polled {ops[op]} times")

    def test_a_second_execution_with_the_same_input_creates_nothing(self):
        self.assertEqual(self.code2, 0, self.stderr2)
        self.assertEqual(self.inventory_after_second, self.inventory_after_first)
        new_calls = self.calls_after_second[len(self.calls_after_first):]
        creates = [c["op"] for c in new_calls if c["op"].startswith("Create")]
        self.assertEqual(creates, [])
        first, second = dict(self.output), dict(self.output2)
        self.assertIn("added ingress tcp 3306 from 10.1.0.0/16",
                      " ".join(first.pop("changes")["securityGroupRules"]["accessControls"]))
        self.assertEqual(second.pop("changes"), {
            "removed": {"lattice": [], "securityGroups": []},
            "securityGroupRules": {"databaseNetwork": [], "clientAccess": [], "accessControls": []},
        }, "nothing changed")
        self.assertEqual(second, first, "the same output")


class BadInputEndToEnd(unittest.TestCase):
    def test_bad_input_fails_the_first_state_with_input_invalid_and_creates_nothing(self):
        with LocalStack() as stack:
            stack.create_prerequisites()
            before_emulator = stack.emu("state")
            doc = json.loads((ROOT / "events" / "provision.json").read_text())
            cases = {
                "databaseVpc.name": {"databaseVpc": {"name": "no-such-vpc"}},
                "subnetTag": {"subnetTag": {"key": "Type", "value": "public"}},
                "port": {"port": 70000},
            }
            for field, change in cases.items():
                bad = copy.deepcopy(doc)
                bad.update(change)
                code, out, err, _ = stack.run(bad, name=f"bad-{field}", quiet=True)
                self.assertEqual(code, 2, err)
                self.assertIn("Error: Input.Invalid", err)
                self.assertIn(f"Cause: {field}", err)
            ec2 = stack.client("ec2")
            groups = [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]]
            self.assertFalse([g for g in groups if g.startswith("orders-")], groups)
            self.assertEqual(stack.client("rds").describe_db_instances()["DBInstances"], [])
            self.assertEqual(stack.emu("state"), before_emulator)


if __name__ == "__main__":
    unittest.main()
