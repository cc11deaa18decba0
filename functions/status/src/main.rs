use status::StatusInput;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let rds = aws_sdk_rds::Client::new(&config);
    let lattice = aws_sdk_vpclattice::Client::new(&config);
    shared::runtime::run(status::COMPONENT, |input: StatusInput| {
        status::handle_state(&rds, &lattice, input)
    })
    .await
}
