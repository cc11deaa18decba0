use aws_sdk_vpclattice::Client;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    shared::runtime::run_step(
        resource_configuration::COMPONENT,
        "resourceConfiguration",
        |input: resource_configuration::Input| resource_configuration::handle(&client, input),
    )
    .await
}
