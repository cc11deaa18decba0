#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let rds = aws_sdk_rds::Client::new(&config);
    let lattice = aws_sdk_vpclattice::Client::new(&config);
    // The payload stays raw: the poll goes back into the state it came with.
    shared::runtime::run(status::COMPONENT, |payload: serde_json::Value| {
        status::handle_state(&rds, &lattice, payload)
    })
    .await
}
