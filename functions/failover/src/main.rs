use std::time::SystemTime;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let lattice = aws_sdk_vpclattice::Client::new(&config);
    let rds = aws_sdk_rds::Client::new(&config);
    let resolver = failover::DnsResolver;
    shared::runtime::run(failover::COMPONENT, |event: serde_json::Value| {
        failover::handle(&lattice, &rds, &resolver, event, SystemTime::now())
    })
    .await
}
