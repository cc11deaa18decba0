//! `lattice-emulator --port <p> [--polls-to-active N] [--moto <url>]`: prints
//! `listening on 127.0.0.1:<port>` once ready, then serves until killed. With `--moto`, the data
//! plane runs too (src/dataplane), reading EC2 and RDS from that moto server.

use std::io::Write;
use std::process::ExitCode;

use lattice_emulator::Options;

fn usage() -> ExitCode {
    eprintln!("usage: lattice-emulator [--port <port>] [--polls-to-active <n>] [--moto <url>]");
    eprintln!("  env: LATTICE_EMU_PORT, LATTICE_EMU_POLLS_TO_ACTIVE (flags win)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let env_num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
    let mut port = env_num("LATTICE_EMU_PORT").unwrap_or(0);
    let mut opts = Options::default();
    if let Some(n) = env_num("LATTICE_EMU_POLLS_TO_ACTIVE") {
        opts.polls_to_active = n;
    }
    let mut moto = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let raw = inline.or_else(|| args.next());
        if flag == "--moto" {
            match raw {
                Some(url) if url.starts_with("http://") => moto = Some(url),
                _ => return usage(),
            }
            continue;
        }
        let value = raw.and_then(|v| v.parse::<u32>().ok());
        match (flag.as_str(), value) {
            ("--port", Some(p)) if p <= u32::from(u16::MAX) => port = p,
            ("--polls-to-active", Some(n)) => opts.polls_to_active = n,
            _ => return usage(),
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lattice-emulator: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port as u16)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("lattice-emulator: cannot bind 127.0.0.1:{port}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let shared = lattice_emulator::new_state(opts);
        if let Some(url) = moto {
            let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
            lattice_emulator::dataplane::start(shared.clone(), url, region);
        }
        // Scripts wait for exactly this line.
        println!("listening on {addr}");
        let _ = std::io::stdout().flush();
        match lattice_emulator::serve(listener, shared).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lattice-emulator: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
