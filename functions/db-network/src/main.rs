#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let rds = aws_sdk_rds::Client::new(&config);
    shared::runtime::run_step(
        db_network::COMPONENT,
        "dbNetwork",
        |input: db_network::Input| db_network::handle(&ec2, &rds, input),
    )
    .await
}
