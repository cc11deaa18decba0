"""Day two on the local stack: a re-run with a changed input makes AWS match it, and each test
asserts the AWS inventory afterwards (issue 11).

    .venv/bin/python -m unittest tests/local/test_converge.py -v
"""

import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import LocalStack  # noqa: E402
from test_teardown import provision_input  # noqa: E402

TEARDOWN = "statemachine/teardown.asl.json"


def groups_named(stack, vpc_id: str) -> dict[str, dict]:
    ec2 = stack.client("ec2")
    found = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    return {g["GroupName"]: g for g in found}


def ingress_sources(group: dict) -> set[str]:
    out = set()
    for p in group["IpPermissions"]:
        out |= {f"{p.get('FromPort')}:{r['CidrIp']}" for r in p.get("IpRanges", [])}
        out |= {f"{p.get('FromPort')}:{g['GroupId']}" for g in p.get("UserIdGroupPairs", [])}
    return out


class Converge(unittest.TestCase):
    maxDiff = None

    def provision(self, stack, doc, name):
        code, out, err, _ = stack.run(doc, name=name, quiet=True)
        self.assertEqual(code, 0, err[-3000:])
        return out

    def test_removing_a_client_vpc_and_a_cidr_revokes_their_access(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            ec2 = stack.client("ec2")
            second = ec2.create_vpc(CidrBlock="10.2.0.0/16", TagSpecifications=[
                {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "reporting-vpc"}]}])["Vpc"]["VpcId"]
            doc = provision_input(ids)
            doc["clientVpcs"][0]["allowedCidrs"] = ["10.1.0.0/16", "10.1.7.0/24"]
            doc["clientVpcs"].append({"name": "reporting-vpc", "allowedCidrs": ["10.2.0.0/16"]})
            first = self.provision(stack, doc, "two-vpcs")
            self.assertEqual(sorted(a["vpcId"] for a in first["resources"]["vpcAssociations"]),
                             sorted([ids["clientVpc"], second]))
            self.assertEqual(first["changes"]["removed"], {"lattice": [], "securityGroups": []})
            reporting = groups_named(stack, second)
            self.assertIn("orders-db-client", reporting)
            self.assertIn("orders-lattice-association", reporting)
            kept_assoc = groups_named(stack, ids["clientVpc"])["orders-lattice-association"]
            self.assertIn("3306:10.1.7.0/24", ingress_sources(kept_assoc))
            lattice = stack.client("vpc-lattice")
            [removed_assoc] = [a["id"] for a in lattice.list_service_network_vpc_associations()["items"]
                               if a["vpcId"] == second]

            # The reporting VPC and one CIDR are dropped from the input.
            doc["clientVpcs"] = doc["clientVpcs"][:1]
            doc["clientVpcs"][0]["allowedCidrs"] = ["10.1.0.0/16"]
            out = self.provision(stack, doc, "one-vpc")

            # AWS afterwards: the association and both groups in the dropped VPC are gone...
            self.assertEqual([a["vpcId"] for a in lattice.list_service_network_vpc_associations()["items"]],
                             [ids["clientVpc"]])
            self.assertNotIn("orders-db-client", groups_named(stack, second))
            self.assertNotIn("orders-lattice-association", groups_named(stack, second))
            # ... the CIDR's rule is revoked and the others stay...
            assoc = groups_named(stack, ids["clientVpc"])["orders-lattice-association"]
            self.assertEqual(ingress_sources(assoc), {
                "3306:10.1.0.0/16", f"3306:{ids['appSecurityGroup']}",
                f"3306:{groups_named(stack, ids['clientVpc'])['orders-db-client']['GroupId']}"})
            # ... and the output says so.
            self.assertEqual(out["changes"]["removed"]["lattice"], [removed_assoc])
            self.assertEqual(sorted(out["changes"]["removed"]["securityGroups"]),
                             sorted(g["GroupId"] for g in reporting.values()
                                    if g["GroupName"].startswith("orders-")))
            self.assertEqual(out["changes"]["securityGroupRules"]["accessControls"],
                             [f"{assoc['GroupId']}: revoked ingress tcp 3306 from 10.1.7.0/24"])
            self.assertEqual([a["vpcId"] for a in out["resources"]["vpcAssociations"]], [ids["clientVpc"]])

            # Unchanged re-run: nothing to change.
            again = self.provision(stack, doc, "unchanged")
            self.assertEqual(again["changes"]["removed"], {"lattice": [], "securityGroups": []})
            self.assertEqual(again["changes"]["securityGroupRules"],
                             {"databaseNetwork": [], "clientAccess": [], "accessControls": []})

    def test_mode_changes_dns_ip_dns_in_place_then_ip_to_arn_by_replacement(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            lattice = stack.client("vpc-lattice")
            doc = provision_input(ids)
            dns = self.provision(stack, doc, "dns")
            rcfg = dns["resources"]["resourceConfigurationId"]

            def definition():
                [c] = lattice.list_resource_configurations()["items"]
                got = lattice.get_resource_configuration(resourceConfigurationIdentifier=c["id"])
                return c["id"], got["type"], got["resourceConfigurationDefinition"]

            # dns -> ip: the same configuration, updated in place; the DNS name stays.
            ip = self.provision(stack, {**doc, "mode": "ip", "ipAddress": "10.0.1.10"}, "ip")
            self.assertEqual(ip["resources"]["resourceConfigurationId"], rcfg)
            self.assertEqual(ip["dnsName"], dns["dnsName"])
            self.assertEqual(definition(), (rcfg, "SINGLE", {"ipResource": {"ipAddress": "10.0.1.10"}}))
            tags = lattice.list_tags_for_resource(resourceArn=lattice.get_resource_configuration(
                resourceConfigurationIdentifier=rcfg)["arn"])["tags"]
            self.assertEqual(tags["lattice-db-access:mode"], "ip")

            # ip -> dns: back, in place.
            back = self.provision(stack, doc, "dns-again")
            self.assertEqual(back["resources"]["resourceConfigurationId"], rcfg)
            _, kind, d = definition()
            self.assertEqual((kind, d["dnsResource"]["domainName"]), ("SINGLE", dns["database"]["endpoint"]))

            # dns -> ip -> arn: ARN is another type, which cannot be updated: a new configuration
            # and association first, then the old ones are removed; the new DNS name is reported.
            self.provision(stack, {**doc, "mode": "ip", "ipAddress": "10.0.1.10"}, "ip-again")
            old_assoc = dns["resources"]["resourceAssociationId"]
            arn = self.provision(stack, {**doc, "mode": "arn"}, "arn")
            new = arn["resources"]["resourceConfigurationId"]
            self.assertNotEqual(new, rcfg)
            self.assertNotEqual(arn["dnsName"], dns["dnsName"])
            self.assertEqual(definition(), (new, "ARN", {"arnResource": {"arn": dns["database"]["arn"]}}))
            self.assertEqual(sorted(arn["changes"]["removed"]["lattice"]), sorted([rcfg, old_assoc]))
            [assoc] = lattice.list_service_network_resource_associations()["items"]
            self.assertEqual((assoc["id"], assoc["resourceConfigurationId"]),
                             (arn["resources"]["resourceAssociationId"], new))
            self.assertEqual(stack.client("rds").describe_db_instances()["DBInstances"][0]["DBInstanceIdentifier"],
                             "orders-db", "one database throughout")

            # And back to dns: a replacement again, under the first name; then a clean teardown.
            again = self.provision(stack, doc, "dns-last")
            [c] = lattice.list_resource_configurations()["items"]
            self.assertEqual((c["id"], c["name"], c["type"]),
                             (again["resources"]["resourceConfigurationId"], "orders-rcfg", "SINGLE"))
            code, _, err, _ = stack.run({"name": "orders", "skipFinalSnapshot": True}, definition=TEARDOWN,
                                        name="teardown", quiet=True)
            self.assertEqual(code, 0, err[-3000:])
            self.assertEqual(lattice.list_resource_configurations()["items"], [])

    def test_changed_and_removed_tags_are_applied_and_others_tags_stay(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            doc = provision_input(ids)  # tags: team=payments, env=dev
            out = self.provision(stack, doc, "tagged")
            ec2, rds, lattice = (stack.client(s) for s in ("ec2", "rds", "vpc-lattice"))
            sg = out["resources"]["databaseSecurityGroupId"]
            [db] = rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"]
            gw_arn = lattice.get_resource_gateway(resourceGatewayIdentifier=out["resources"]["resourceGatewayId"])["arn"]
            # Tags someone else added: never ours to remove.
            ec2.create_tags(Resources=[sg], Tags=[{"Key": "CostCenter", "Value": "42"}])
            rds.add_tags_to_resource(ResourceName=db["DBInstanceArn"], Tags=[{"Key": "CostCenter", "Value": "42"}])
            lattice.tag_resource(resourceArn=gw_arn, tags={"CostCenter": "42"})

            self.provision(stack, {**doc, "tags": {"team": "payroll", "owner": "dba"}}, "retagged")

            def user(tags: dict) -> dict:
                return {k: v for k, v in tags.items() if not k.startswith("lattice-db-access:")}
            want = {"team": "payroll", "owner": "dba", "CostCenter": "42"}
            [g] = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"]
            self.assertEqual(user({t["Key"]: t["Value"] for t in g["Tags"] if t["Key"] != "Name"}), want)
            [db] = rds.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"]
            self.assertEqual(user({t["Key"]: t["Value"] for t in db["TagList"]}), want)
            self.assertEqual(user(lattice.list_tags_for_resource(resourceArn=gw_arn)["tags"]), want)
            # Resources nobody else tagged carry exactly the input's tags now (env is gone).
            [assoc] = lattice.list_service_network_vpc_associations(
                serviceNetworkIdentifier=out["resources"]["serviceNetworkId"])["items"]
            self.assertEqual(user(lattice.list_tags_for_resource(resourceArn=assoc["arn"])["tags"]),
                             {"team": "payroll", "owner": "dba"})
            # The execution that created them is still the first one: a rollback of a later run
            # must never claim them.
            gw_tags = lattice.list_tags_for_resource(resourceArn=gw_arn)["tags"]
            self.assertTrue(gw_tags["lattice-db-access:execution"].startswith("tagged-"), gw_tags)
            self.assertEqual(gw_tags["lattice-db-access:user-tag-keys"], "owner,team")

    def test_an_engine_change_is_refused_before_anything_changes(self):
        with LocalStack() as stack:
            ids = stack.create_prerequisites()
            doc = provision_input(ids)
            self.provision(stack, doc, "mysql")
            before = stack.inventory()
            changed = json.loads(json.dumps(doc))
            changed["database"]["create"]["engine"] = "postgres"
            code, _, err, run_dir = stack.run(changed, name="postgres", quiet=True)
            self.assertEqual(code, 2, err[-3000:])
            self.assertIn("Error: Input.Invalid", err)
            self.assertIn("database.create.engine", err)
            self.assertIn("`orders-db` exists and runs mysql", err)
            events = json.loads((run_dir / "events.json").read_text())
            entered = [e["state"]["name"] for e in events if e["type"] == "StateEntered"]
            self.assertEqual(entered, ["ValidateInput"], "refused before the lock, nothing ran")
            self.assertEqual(stack.inventory(), before, "nothing changed")
            [db] = stack.client("rds").describe_db_instances()["DBInstances"]
            self.assertEqual(db["Engine"], "mysql")


if __name__ == "__main__":
    unittest.main()
