use aws_sdk_ec2::Client;
use teardown_network::TeardownInput;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    shared::runtime::run(teardown_network::COMPONENT, |input: TeardownInput| {
        teardown_network::handle(&client, input)
    })
    .await
}
