use aws_sdk_vpclattice::Client;
use shared::teardown::TeardownInput;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    shared::teardown::run_teardown(
        teardown_lattice::COMPONENT,
        "teardownLattice",
        |input: TeardownInput| teardown_lattice::handle(&client, input),
    )
    .await
}
