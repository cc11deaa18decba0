//! `doctor`: what exists in AWS against what the deployment's last successful provisioning
//! planned, with the steps' own desired-state code (the database network's security-group rules,
//! the resource configuration's definition for the current primary).

use aws_sdk_ec2::types::IpPermission;
use serde::Serialize;
use serde_json::Value;
use shared::plan::{DbKind, DbRef, Plan, PollOut, PollState};

use crate::CliError;

/// One difference, and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    pub resource: String,
    pub found: String,
    pub fix: String,
}

fn describe(p: &IpPermission) -> String {
    shared::ec2::single_rules(std::slice::from_ref(p))
        .into_iter()
        .map(|(k, _)| format!("{} {}", k.protocol_and_ports(), k.peer))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rules of one group against the rules its step wants (`ingress` or `egress`).
pub fn rule_drift(
    what: &str,
    group: &str,
    direction: &str,
    current: &[IpPermission],
    desired: &[IpPermission],
) -> Vec<Drift> {
    let diff = shared::ec2::rule_diff(current, desired);
    let mut out = Vec::new();
    for p in &diff.add {
        out.push(Drift {
            resource: format!("{what} {group}"),
            found: format!("lacks {direction} rule {}", describe(p)),
            fix: "run `lattice-db-access provision` with the deployment's input again: the rule is added back".into(),
        });
    }
    for p in &diff.revoke {
        out.push(Drift {
            resource: format!("{what} {group}"),
            found: format!("has {direction} rule {} that the deployment does not ask for", describe(p)),
            fix: "run `lattice-db-access provision` with the deployment's input again: the rule is revoked".into(),
        });
    }
    out
}

/// The plan the deployment's last successful provisioning worked with (ValidateInput's output).
pub async fn plan_of(sfn: &aws_sdk_sfn::Client, execution: &str) -> Result<Plan, CliError> {
    let mut token = None;
    loop {
        let page = sfn
            .get_execution_history()
            .execution_arn(execution)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| crate::aws("states:GetExecutionHistory", e))?;
        for h in page.events() {
            if let Some(d) = h.state_exited_event_details() {
                if d.name() == "ValidateInput" {
                    let out: Value = d
                        .output()
                        .and_then(|o| serde_json::from_str(o).ok())
                        .unwrap_or_default();
                    return serde_json::from_value(out["plan"].clone()).map_err(|e| {
                        CliError::Aws(format!("the plan in {execution} does not parse: {e}"))
                    });
                }
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Err(CliError::Aws(format!(
                "{execution} has no ValidateInput output"
            )));
        }
    }
}

/// Every drift of the deployment: the database network's rules, and the configuration against
/// the primary its tags name (re-checked in RDS).
pub async fn check(
    ec2: &aws_sdk_ec2::Client,
    rds: &aws_sdk_rds::Client,
    lattice: &aws_sdk_vpclattice::Client,
    plan: &Plan,
    output: &Value,
) -> Result<Vec<Drift>, CliError> {
    let mut drift = Vec::new();
    let r = &output["resources"];
    let (Some(gw_sg), Some(db_sg)) = (
        r["gatewaySecurityGroupId"].as_str(),
        r["databaseSecurityGroupId"].as_str(),
    ) else {
        return Err(CliError::Aws(
            "the provisioning output names no security groups".into(),
        ));
    };
    let (db_ingress, gw_egress) = db_network::desired_rules(plan.port, gw_sg, db_sg);
    let groups = ec2
        .describe_security_groups()
        .group_ids(gw_sg)
        .group_ids(db_sg)
        .send()
        .await
        .map_err(|e| crate::aws("ec2:DescribeSecurityGroups", e))?;
    for g in groups.security_groups() {
        if g.group_id() == Some(db_sg) {
            drift.extend(rule_drift(
                "database security group",
                db_sg,
                "ingress",
                g.ip_permissions(),
                &db_ingress,
            ));
        } else {
            drift.extend(rule_drift(
                "gateway security group",
                gw_sg,
                "egress",
                g.ip_permissions_egress(),
                &gw_egress,
            ));
        }
    }

    let Some(rcfg) = r["resourceConfigurationId"].as_str() else {
        return Err(CliError::Aws(
            "the provisioning output names no resource configuration".into(),
        ));
    };
    let current = lattice
        .get_resource_configuration()
        .resource_configuration_identifier(rcfg)
        .send()
        .await
        .map_err(|e| crate::aws("vpc-lattice:GetResourceConfiguration", e))?;
    let tags = shared::lattice::tags_of(lattice, current.arn().unwrap_or_default()).await?;
    // The truth: the primary the failover recorded, as RDS has it now.
    let primary = DbRef::tagged_primary(&tags).unwrap_or_else(|| DbRef {
        kind: plan.database.kind,
        identifier: plan.database.identifier.clone(),
    });
    let db = database(rds, &primary).await?;
    if let Some(found) = resource_configuration::drift(plan, &db, &current).await? {
        drift.push(Drift {
            resource: format!("resource configuration {rcfg}"),
            found: format!("{found}, but the primary `{}` is there", primary.identifier),
            fix:
                "run `lattice-db-access provision` with the deployment's input again (the failover \
                  Lambda's 5-minute schedule also repoints it)"
                    .into(),
        });
    }
    Ok(drift)
}

/// The primary as the configuration step sees it in `databasePoll`: its endpoint and ARN.
async fn database(rds: &aws_sdk_rds::Client, db: &DbRef) -> Result<PollOut, CliError> {
    let mut poll = PollOut::new(PollState::Ready, "available");
    match db.kind {
        DbKind::Instance => {
            let i = shared::rds::describe_instance(rds, &db.identifier)
                .await?
                .ok_or_else(|| {
                    CliError::Failed(format!("DB instance {} does not exist", db.identifier))
                })?;
            poll.endpoint = i.endpoint().and_then(|e| e.address()).map(str::to_string);
            poll.arn = i.db_instance_arn().map(str::to_string);
        }
        DbKind::Cluster => {
            let c = shared::rds::describe_cluster(rds, &db.identifier)
                .await?
                .ok_or_else(|| {
                    CliError::Failed(format!("DB cluster {} does not exist", db.identifier))
                })?;
            poll.endpoint = c.endpoint().map(str::to_string);
            poll.arn = c.db_cluster_arn().map(str::to_string);
        }
    }
    Ok(poll)
}

/// The plain-text report.
pub fn render(deployment: &str, drift: &[Drift]) -> String {
    if drift.is_empty() {
        return format!("deployment {deployment}: no drift");
    }
    let mut s = format!("deployment {deployment}: {} difference(s)\n", drift.len());
    for d in drift {
        s.push_str(&format!(
            "- {}: {}\n  fix: {}\n",
            d.resource, d.found, d.fix
        ));
    }
    s.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ec2::{tcp_cidr, tcp_group};

    #[test]
    fn a_missing_and_an_extra_rule_are_each_reported_with_the_fix() {
        let desired = vec![tcp_group(3306, "sg-0gw", "from the gateway")];
        let current = vec![tcp_cidr(3306, "0.0.0.0/0", "someone")];
        let d = rule_drift(
            "database security group",
            "sg-0db",
            "ingress",
            &current,
            &desired,
        );
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].found, "lacks ingress rule tcp 3306 sg-0gw");
        assert!(
            d[1].found
                .starts_with("has ingress rule tcp 3306 0.0.0.0/0"),
            "{:?}",
            d[1]
        );
        assert!(rule_drift("g", "sg", "ingress", &desired, &desired).is_empty());
    }
}
