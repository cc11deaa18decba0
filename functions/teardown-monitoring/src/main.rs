use shared::teardown::TeardownInput;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    shared::teardown::run_teardown(
        teardown_monitoring::COMPONENT,
        "teardownMonitoring",
        |input: TeardownInput| teardown_monitoring::handle(&logs, &cw, input),
    )
    .await
}
