//! `connect`: from a deployment's provisioning output, what a client needs (pure, tested).

use serde::Serialize;
use serde_json::Value;

/// What a client connects with.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub deployment: String,
    pub dns_name: String,
    pub port: u64,
    pub engine: Option<String>,
    /// The RDS-managed master secret (`username`, `password`), when the deployment created the database.
    pub secret_arn: Option<String>,
    /// Per client VPC: the security group its clients must carry.
    pub client_security_groups: Vec<(String, String)>,
    /// A command that connects (the password is read from Secrets Manager when it runs).
    pub command: Option<String>,
}

/// The connection from a provisioning execution's output.
pub fn from_output(out: &Value) -> Result<Connection, String> {
    let s = |p: &str| out.pointer(p).and_then(Value::as_str).map(str::to_string);
    let dns_name = s("/dnsName").ok_or("the provisioning output has no dnsName")?;
    let port = out["port"]
        .as_u64()
        .ok_or("the provisioning output has no port")?;
    let engine = s("/database/engine");
    let secret_arn = s("/secretArn");
    let client_security_groups = out
        .pointer("/resources/clientSecurityGroups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c["vpcId"].as_str()?.to_string(),
                c["securityGroupId"].as_str()?.to_string(),
            ))
        })
        .collect();
    let command = command(engine.as_deref(), &dns_name, port, secret_arn.as_deref());
    Ok(Connection {
        deployment: s("/deployment").unwrap_or_default(),
        dns_name,
        port,
        engine,
        secret_arn,
        client_security_groups,
        command,
    })
}

/// The client command for the engine. The secret is fetched when the command runs, never
/// printed: `SECRET=$(aws secretsmanager get-secret-value …)`.
pub fn command(
    engine: Option<&str>,
    host: &str,
    port: u64,
    secret: Option<&str>,
) -> Option<String> {
    let fetch = secret.map(|arn| {
        format!(
            "SECRET=\"$(aws secretsmanager get-secret-value --secret-id '{arn}' --query SecretString --output text)\"; "
        )
    });
    let field = |f: &str| format!("$(printf '%s' \"$SECRET\" | jq -r .{f})");
    match engine? {
        "postgres" | "aurora-postgresql" => Some(match &fetch {
            Some(fetch) => format!(
                "{fetch}PGPASSWORD=\"{}\" psql \"host={host} port={port} user={} dbname=postgres sslmode=require\"",
                field("password"),
                field("username")
            ),
            None => format!("psql \"host={host} port={port} dbname=postgres sslmode=require\" -U <user>"),
        }),
        "mysql" | "mariadb" | "aurora-mysql" => Some(match &fetch {
            Some(fetch) => format!(
                "{fetch}MYSQL_PWD=\"{}\" mysql --host={host} --port={port} --user=\"{}\" --ssl-mode=REQUIRED",
                field("password"),
                field("username")
            ),
            None => format!("mysql --host={host} --port={port} --ssl-mode=REQUIRED --user=<user> -p"),
        }),
        _ => None,
    }
}

/// The plain-text view.
pub fn render(c: &Connection) -> String {
    let mut s = format!(
        "deployment {}\nhost       {}\nport       {}\n",
        c.deployment, c.dns_name, c.port
    );
    if let Some(e) = &c.engine {
        s.push_str(&format!("engine     {e}\n"));
    }
    if let Some(a) = &c.secret_arn {
        s.push_str(&format!("secret     {a}\n"));
    }
    for (vpc, sg) in &c.client_security_groups {
        s.push_str(&format!(
            "clients in {vpc} must carry security group {sg}\n"
        ));
    }
    if let Some(cmd) = &c.command {
        s.push_str(&format!("\n{cmd}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn output(engine: &str) -> Value {
        json!({
            "deployment": "orders", "dnsName": "snra-0abc.rcfg-0def.4232ccc.vpc-lattice-rsc.us-east-1.on.aws",
            "port": 5432, "secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf",
            "database": {"engine": engine},
            "resources": {"clientSecurityGroups": [{"vpcId": "vpc-0c1", "securityGroupId": "sg-0c2"}]}
        })
    }

    #[test]
    fn postgres_gets_psql_with_the_secret_fetched_when_it_runs() {
        let c = from_output(&output("postgres")).unwrap();
        let cmd = c.command.clone().unwrap();
        assert!(cmd.starts_with("SECRET=\"$(aws secretsmanager get-secret-value --secret-id 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf'"), "{cmd}");
        assert!(cmd.contains("psql \"host=snra-0abc.rcfg-0def.4232ccc.vpc-lattice-rsc.us-east-1.on.aws port=5432 user=$(printf '%s' \"$SECRET\" | jq -r .username) dbname=postgres sslmode=require\""), "{cmd}");
        assert!(render(&c).contains("clients in vpc-0c1 must carry security group sg-0c2"));
    }

    #[test]
    fn mysql_gets_the_mysql_client_and_an_unknown_engine_no_command() {
        let cmd = from_output(&output("aurora-mysql"))
            .unwrap()
            .command
            .unwrap();
        assert!(cmd.contains("mysql --host=snra-0abc"), "{cmd}");
        assert!(cmd.contains("--ssl-mode=REQUIRED"), "{cmd}");
        assert_eq!(from_output(&output("oracle-ee")).unwrap().command, None);
    }

    #[test]
    fn an_output_without_a_dns_name_is_refused() {
        assert!(from_output(&json!({"port": 1})).is_err());
    }
}
