//! The failover handler as the local stack runs it in `ip` mode: the same library and handler as
//! `src/main.rs`, plus host → IPv4 overrides, because the emulated RDS endpoints resolve nowhere.
//! An example, so it is never part of what `sam build` ships (tests/local/stack.py picks it when a
//! test sets `LATTICE_DB_ACCESS_RESOLVE`, a JSON object such as
//! `{"orders-db.abc.us-east-1.rds.amazonaws.com": "10.0.1.25"}`).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::SystemTime;

use failover::{DnsResolver, Resolver};
use shared::StepError;

const RESOLVE_ENV: &str = "LATTICE_DB_ACCESS_RESOLVE";

struct Overrides(HashMap<String, Ipv4Addr>);

impl Overrides {
    fn from_env() -> Result<Self, String> {
        let json = std::env::var(RESOLVE_ENV).unwrap_or_default();
        if json.trim().is_empty() {
            return Ok(Self(HashMap::new()));
        }
        let raw: HashMap<String, String> = serde_json::from_str(&json)
            .map_err(|e| format!("{RESOLVE_ENV}: expected a JSON object host -> IPv4: {e}"))?;
        raw.into_iter()
            .map(|(host, ip)| {
                let ip = ip.parse().map_err(|_| {
                    format!("{RESOLVE_ENV}: `{ip}` (for `{host}`) is not an IPv4 address")
                })?;
                Ok((host.to_ascii_lowercase(), ip))
            })
            .collect::<Result<_, String>>()
            .map(Self)
    }
}

impl Resolver for Overrides {
    async fn resolve_ipv4(&self, host: &str) -> Result<Ipv4Addr, StepError> {
        match self.0.get(&host.to_ascii_lowercase()) {
            Some(ip) => Ok(*ip),
            None => DnsResolver.resolve_ipv4(host).await,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let lattice = aws_sdk_vpclattice::Client::new(&config);
    let rds = aws_sdk_rds::Client::new(&config);
    let resolver = Overrides::from_env()?;
    shared::runtime::run(failover::COMPONENT, |event: serde_json::Value| {
        failover::handle(&lattice, &rds, &resolver, event, SystemTime::now())
    })
    .await
}
