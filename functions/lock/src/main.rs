use lock::{LockInput, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    // The stack's lock table (template.yaml).
    let settings = Settings::from_env()?;
    shared::runtime::run(lock::COMPONENT, |input: LockInput| {
        lock::handle(&dynamodb, &settings, input, std::time::SystemTime::now())
    })
    .await
}
