//! The zeroth binary: harden the process, parse the command line, run, print, and
//! exit with the code the design fixes (0 ok, 1 findings, 2 usage, 3 refused, 4 HSM or
//! I/O).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    for problem in zeroth::process::harden() {
        eprintln!("warning: {problem}");
    }
    let cli = match zeroth::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let json = cli.json;
    // With `--output -`, stdout carries the credential: a JSON error goes to stderr.
    let json_errors_to_stderr = cli.stdout_carries_secret();
    match zeroth::cli::run(cli) {
        Ok(report) => {
            let mut out: Box<dyn Write> = if report.on_stderr {
                Box::new(std::io::stderr().lock())
            } else {
                Box::new(std::io::stdout().lock())
            };
            let printed = if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&report.json).unwrap_or_default()
                )
            } else {
                out.write_all(report.text.as_bytes())
            };
            if let Err(e) = printed {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    eprintln!("zeroth: cannot write to stdout: {e}");
                    return ExitCode::from(4);
                }
            }
            ExitCode::from(report.exit_code)
        }
        Err(e) => {
            eprintln!("zeroth: {}", e.message());
            if json {
                let obj = serde_json::json!({ "error": e.message(), "exit_code": e.exit_code() });
                let text = serde_json::to_string_pretty(&obj).unwrap_or_default();
                if json_errors_to_stderr {
                    eprintln!("{text}");
                } else {
                    println!("{text}");
                }
            }
            ExitCode::from(e.exit_code())
        }
    }
}
