//! The zeroth binary: harden the process, parse the command line, run, print, and
//! exit with the code the design fixes (0 ok, 1 findings, 2 usage, 3 refused, 4 HSM or
//! I/O).

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    for problem in zeroth::process::harden() {
        eprintln!("warning: {problem}");
    }
    // A shell asking for completions (COMPLETE=bash zeroth …) is answered here, with
    // seal and environment names read from the store.
    clap_complete::CompleteEnv::with_factory(zeroth::cli::command).complete();
    let cli = match zeroth::cli::parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if let Some(tip) = missing_separator_tip(&e) {
                eprintln!("\n{tip}");
            }
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let json = cli.json;
    // With `--output -`, stdout carries the credential: a JSON error goes to stderr.
    let json_errors_to_stderr = cli.stdout_carries_secret();
    match zeroth::cli::run(cli) {
        Ok(mut report) => {
            let mut out: Box<dyn Write> = if report.on_stderr {
                Box::new(std::io::stderr().lock())
            } else {
                Box::new(std::io::stdout().lock())
            };
            let printed = if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&report.take_json()).unwrap_or_default()
                )
            } else {
                out.write_all(report.text.as_bytes())
            };
            if let Err(e) = printed
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                eprintln!("zeroth: cannot write to stdout: {e}");
                return ExitCode::from(4);
            }
            let code = ExitCode::from(report.exit_code);
            // A report holds nothing secret (it is printed, and shown by Debug), and
            // can be large: `list` keeps 100,000 rows for its JSON. The process ends
            // here, and the system takes its memory back at once; freeing it row by
            // row would only cost time.
            std::mem::forget(report);
            code
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

/// A hint for the commonest slip with a command to run: its words given without the
/// `--` that separates them from zeroth's own options (`--exec bao write …`).
fn missing_separator_tip(e: &clap::Error) -> Option<&'static str> {
    use clap::error::ErrorKind;
    if !matches!(
        e.kind(),
        ErrorKind::UnknownArgument | ErrorKind::MissingRequiredArgument
    ) {
        return None;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--") {
        return None;
    }
    let runs_a_command = args.iter().any(|a| a == "--exec")
        || (args.iter().any(|a| a == "vault") && args.iter().any(|a| a == "root"));
    runs_a_command.then_some(
        "tip: the command to run goes after '--', so that its own words are not read as zeroth's: zeroth unseal SEAL --share FILE… --exec -- bao write sys/unseal key=-",
    )
}
