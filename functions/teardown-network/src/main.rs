use aws_sdk_ec2::Client;
use shared::teardown::TeardownInput;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    shared::teardown::run_teardown(
        teardown_network::COMPONENT,
        "teardownNetwork",
        |input: TeardownInput| teardown_network::handle(&client, input),
    )
    .await
}
