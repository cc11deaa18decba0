use aws_sdk_ec2::Client;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    shared::runtime::run_step(
        client_access::COMPONENT,
        "clientAccess",
        |input: client_access::Input| client_access::handle(&client, input),
    )
    .await
}
