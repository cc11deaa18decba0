use aws_sdk_vpclattice::Client;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    shared::runtime::run_step(
        service_network::COMPONENT,
        "serviceNetwork",
        |input: service_network::Input| service_network::handle(&client, input),
    )
    .await
}
