use aws_sdk_ec2::Client;
use shared::Ctx;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    shared::runtime::run_step(access_controls::COMPONENT, "accessControls", |ctx: Ctx| {
        access_controls::handle(&client, ctx)
    })
    .await
}
