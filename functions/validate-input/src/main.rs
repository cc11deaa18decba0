use shared::input::ProvisionInput;
use shared::StepError;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let rds = aws_sdk_rds::Client::new(&config);
    let lattice = aws_sdk_vpclattice::Client::new(&config);
    let region = config.region().map(|r| r.to_string()).unwrap_or_default();
    let (ec2, rds, lattice, region) = (&ec2, &rds, &lattice, region.as_str());
    // The first state turns `{"input": <user input>, "execution": <name>}` into the
    // execution state `{"plan": …}`.
    shared::runtime::run(
        validate_input::COMPONENT,
        move |request: serde_json::Value| async move {
            let (input, execution) = validate_input::split_request(request)?;
            let input: ProvisionInput = shared::input::parse(input)?;
            let plan = validate_input::handle(ec2, rds, region, input).await?;
            // A re-run after a failover follows the primary AWS has now, not the input's.
            let gateway = validate_input::deployment_gateway(lattice, &plan).await?;
            let gateway = gateway.as_deref();
            let plan = validate_input::follow_failover(lattice, rds, plan, gateway).await?;
            // What an existing deployment cannot change in place fails here, before any change.
            let mut plan = validate_input::check_unchangeable(lattice, rds, plan, gateway).await?;
            if let Some(execution) = execution {
                plan.tags
                    .insert(shared::tags::EXECUTION.to_string(), execution);
            }
            Ok::<_, StepError>(serde_json::json!({ "plan": plan }))
        },
    )
    .await
}
