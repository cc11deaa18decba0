use shared::input::ProvisionInput;
use shared::{Ctx, StepError};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::load_from_env().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let rds = aws_sdk_rds::Client::new(&config);
    let region = config.region().map(|r| r.to_string()).unwrap_or_default();
    let (ec2, rds, region) = (&ec2, &rds, region.as_str());
    // The first state turns `{"input": <user input>, "execution": <name>}` into the
    // execution state `{"plan": …}`.
    shared::runtime::run(
        validate_input::COMPONENT,
        move |request: serde_json::Value| async move {
            let (input, execution) = validate_input::split_request(request)?;
            let input: ProvisionInput = shared::input::parse(input)?;
            let mut plan = validate_input::handle(ec2, rds, region, input).await?;
            if let Some(execution) = execution {
                plan.tags
                    .insert(shared::tags::EXECUTION.to_string(), execution);
            }
            Ok::<_, StepError>(Ctx {
                plan: Some(plan),
                ..Ctx::default()
            })
        },
    )
    .await
}
