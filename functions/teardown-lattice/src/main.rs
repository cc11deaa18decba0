use aws_sdk_vpclattice::Client;
use teardown_lattice::TeardownInput;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let client = Client::new(&config);
    shared::runtime::run(teardown_lattice::COMPONENT, |input: TeardownInput| {
        teardown_lattice::handle(&client, input)
    })
    .await
}
