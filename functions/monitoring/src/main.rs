#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let lattice = aws_sdk_vpclattice::Client::new(&config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    // The stack's alarm topic and KMS key (template.yaml); unset locally, which each call logs.
    let settings = monitoring::Settings::from_env();
    shared::runtime::run_step(
        monitoring::COMPONENT,
        "monitoring",
        |input: monitoring::Input| monitoring::handle(&lattice, &logs, &cw, &settings, input),
    )
    .await
}
