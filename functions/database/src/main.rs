use aws_sdk_rds::Client;
use shared::Ctx;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let rds = Client::new(&config);
    shared::runtime::run_step(database::COMPONENT, "database", |ctx: Ctx| {
        database::handle(&rds, ctx)
    })
    .await
}
