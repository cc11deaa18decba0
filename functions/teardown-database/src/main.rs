use shared::teardown::TeardownInput;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let rds = aws_sdk_rds::Client::new(&config);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    shared::teardown::run_teardown(
        teardown_database::COMPONENT,
        "teardownDatabase",
        |input: TeardownInput| teardown_database::handle(&rds, &ec2, input),
    )
    .await
}
