use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, SystemTime};

use clap::Parser;
use lattice_db_access::{
    all_runs, connect, exit, follow, machines, provisioned_run, report, start, validate_locally,
    Cli, CliError, Command, Ended, Output,
};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    let code = match run(&cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.code()
        }
    };
    std::process::exit(code);
}

async fn run(cli: &Cli) -> Result<i32, CliError> {
    // One config load: the `AWS_ENDPOINT_URL_*` variables point the clients at the local stack.
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = &cli.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(p) = &cli.profile {
        loader = loader.profile_name(p);
    }
    let config = loader.load().await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let poll = Duration::from_secs_f64(cli.poll_seconds.max(0.05));
    let out = &mut std::io::stdout();

    match &cli.command {
        Command::Provision { input, no_wait } => {
            let text = if input == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| CliError::Usage(format!("reading stdin: {e}")))?;
                s
            } else {
                std::fs::read_to_string(input)
                    .map_err(|e| CliError::Usage(format!("reading {input}: {e}")))?
            };
            let (doc, deployment) = validate_locally(&text)?;
            let m = machines(cli, &cfn).await?;
            let name = lattice_db_access::execution_name(&deployment, SystemTime::now());
            let arn = start(&sfn, &m.provision, &name, &doc).await?;
            if *no_wait {
                print(out, cli.output, &json!({"executionArn": arn}), &arn);
                return Ok(exit::OK);
            }
            eprintln!("provisioning {deployment}: {arn}");
            followed(cli, &sfn, &arn, poll).await
        }
        Command::Follow { target } => {
            let arn = if target.starts_with("arn:") {
                target.clone()
            } else {
                let m = machines(cli, &cfn).await?;
                latest(&sfn, &m, target).await?
            };
            followed(cli, &sfn, &arn, poll).await
        }
        Command::List => {
            let m = machines(cli, &cfn).await?;
            let mut seen = std::collections::BTreeMap::new();
            for r in all_runs(&sfn, &m, None).await? {
                seen.entry(r.deployment.clone()).or_insert(r);
            }
            let list: Vec<_> = seen.into_values().collect();
            let text = list
                .iter()
                .map(|r| {
                    format!(
                        "{:<24} {:<9} {:<10} {}",
                        r.deployment, r.workflow, r.status, r.name
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(out, cli.output, &json!({"deployments": list}), &text);
            Ok(exit::OK)
        }
        Command::Status { deployment } => {
            let m = machines(cli, &cfn).await?;
            let all = all_runs(&sfn, &m, Some(deployment)).await?;
            if all.is_empty() {
                return Err(CliError::Usage(format!(
                    "no execution of deployment `{deployment}` in this stack"
                )));
            }
            // The runs already listed: no second listing to find the last success.
            let output = lattice_db_access::last_success(&sfn, &all, deployment)
                .await
                .ok()
                .map(|(_, o)| o);
            let now = match &output {
                Some(o) => {
                    let lattice = aws_sdk_vpclattice::Client::new(&config);
                    lattice_db_access::live(&lattice, o).await?
                }
                None => serde_json::Value::Null,
            };
            let recent = &all[..all.len().min(5)];
            print(
                out,
                cli.output,
                &json!({"deployment": deployment, "executions": recent, "provisioned": output, "now": now}),
                &lattice_db_access::status_text(deployment, recent, output.as_ref(), &now),
            );
            Ok(exit::OK)
        }
        Command::Connect { deployment } => {
            let m = machines(cli, &cfn).await?;
            let (_, o) = provisioned_run(&sfn, &m, deployment).await?;
            let c = connect::from_output(&o).map_err(CliError::Aws)?;
            let v = serde_json::to_value(&c).unwrap_or_default();
            print(out, cli.output, &v, connect::render(&c).trim_end());
            Ok(exit::OK)
        }
        Command::Doctor { deployment } => {
            let m = machines(cli, &cfn).await?;
            let (arn, output) = provisioned_run(&sfn, &m, deployment).await?;
            let plan = lattice_db_access::doctor::plan_of(&sfn, &arn).await?;
            let ec2 = aws_sdk_ec2::Client::new(&config);
            let rds = aws_sdk_rds::Client::new(&config);
            let lattice = aws_sdk_vpclattice::Client::new(&config);
            let drift =
                lattice_db_access::doctor::check(&ec2, &rds, &lattice, &plan, &output).await?;
            print(
                out,
                cli.output,
                &json!({"deployment": deployment, "drift": drift}),
                &lattice_db_access::doctor::render(deployment, &drift),
            );
            Ok(if drift.is_empty() {
                exit::OK
            } else {
                exit::FAILED
            })
        }
        Command::Teardown {
            deployment,
            keep_database,
            skip_final_snapshot,
            yes,
        } => {
            shared::input::validate_name(deployment)
                .map_err(|e| CliError::Usage(format!("invalid deployment name: {e}")))?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(CliError::Usage(
                        "teardown asks for confirmation on a terminal; pass --yes to run it without one"
                            .into(),
                    ));
                }
                eprint!(
                    "Tear down deployment `{deployment}`{}? [y/N] ",
                    if *keep_database {
                        " (keeping its database)"
                    } else {
                        ""
                    }
                );
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                let _ = std::io::stdin().read_line(&mut answer);
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    eprintln!("nothing done");
                    return Ok(exit::USAGE);
                }
            }
            let m = machines(cli, &cfn).await?;
            let input = json!({"name": deployment, "keepDatabase": keep_database, "skipFinalSnapshot": skip_final_snapshot});
            let name = lattice_db_access::execution_name(deployment, SystemTime::now());
            let arn = start(&sfn, &m.teardown, &name, &input).await?;
            eprintln!("tearing down {deployment}: {arn}");
            followed(cli, &sfn, &arn, poll).await
        }
    }
}

/// The deployment's latest execution (provision or teardown).
async fn latest(
    sfn: &aws_sdk_sfn::Client,
    m: &lattice_db_access::Machines,
    deployment: &str,
) -> Result<String, CliError> {
    let all = all_runs(sfn, m, Some(deployment)).await?;
    all.first().map(|r| r.arn.clone()).ok_or_else(|| {
        CliError::Usage(format!(
            "no execution of deployment `{deployment}` in this stack"
        ))
    })
}

/// Follow until the end (or Ctrl-C: detach, the execution goes on), then report.
async fn followed(
    cli: &Cli,
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
    poll: Duration,
) -> Result<i32, CliError> {
    let mut err = std::io::stderr();
    let ended: Ended = tokio::select! {
        r = follow(sfn, arn, poll, &mut err, std::io::stderr().is_terminal()) => r?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\ndetached; the execution goes on. Re-attach with: lattice-db-access follow {arn}");
            return Ok(exit::DETACHED);
        }
    };
    let (text, code) = report(&ended, cli.output);
    if code == exit::OK || cli.output == Output::Json {
        println!("{text}");
    } else {
        eprintln!("{text}");
    }
    Ok(code)
}

fn print(out: &mut impl Write, output: Output, json: &serde_json::Value, text: &str) {
    let _ = match output {
        Output::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(json).unwrap_or_default()
        ),
        Output::Text => writeln!(out, "{text}"),
    };
}
