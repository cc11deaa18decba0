use aws_sdk_vpclattice::Client;
use shared::Ctx;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    shared::runtime::run_step(
        resource_configuration::COMPONENT,
        "resourceConfiguration",
        |ctx: Ctx| resource_configuration::handle(&client, ctx),
    )
    .await
}
