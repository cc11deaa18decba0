use aws_sdk_rds::Client;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let rds = Client::new(&config);
    shared::runtime::run_step(database::COMPONENT, "database", |input: database::Input| {
        database::handle(&rds, input)
    })
    .await
}
