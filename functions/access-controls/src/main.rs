use aws_sdk_ec2::Client;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    shared::runtime::run_step(
        access_controls::COMPONENT,
        "accessControls",
        |input: access_controls::Input| access_controls::handle(&client, input),
    )
    .await
}
