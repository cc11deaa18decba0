//! Writes statemachine/*.asl.json, or with `--check` fails naming the files that differ from what
//! it would write (run by the tests, so the committed files never drift from the generator).
//!
//!     cargo run -q -p statemachine --bin gen-asl              # rewrite the files
//!     cargo run -q -p statemachine --bin gen-asl -- --check   # exit 1 if they are stale
//!
//! `--dir DIR` reads or writes DIR instead of statemachine/ (to check a copy, or to diff).

use std::process::ExitCode;

fn main() -> ExitCode {
    const USAGE: &str = "usage: gen-asl [--check] [--dir DIR]";
    let mut check = false;
    let mut dir = statemachine::out_dir();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--dir" => match args.next() {
                Some(d) => dir = d.into(),
                None => {
                    eprintln!("gen-asl: --dir needs a directory; {USAGE}");
                    return ExitCode::from(2);
                }
            },
            // Refused rather than ignored: a misspelt `--check` would otherwise rewrite the files.
            other => {
                eprintln!("gen-asl: unknown argument {other:?}; {USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let mut stale = Vec::new();
    for machine in statemachine::generate() {
        eprintln!("{}", machine.summary());
        let path = dir.join(machine.file);
        let text = machine.render();
        if check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(machine.file);
            }
        } else if let Err(e) = std::fs::write(&path, text) {
            eprintln!("gen-asl: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if !stale.is_empty() {
        eprintln!(
            "out of date (run cargo run -q -p statemachine --bin gen-asl): {}",
            stale.join(", ")
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
