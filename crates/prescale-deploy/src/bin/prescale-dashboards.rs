//! Writes the Grafana dashboards into a directory (default `charts/prescale/dashboards`), one
//! `<uid>.json` per dashboard. With `--check`, writes nothing and exits with status 1 when a
//! file differs from what would be written.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check = false;
    let mut dir = PathBuf::from("charts/prescale/dashboards");
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("usage: prescale-dashboards [--check] [DIR]");
                return ExitCode::SUCCESS;
            }
            _ => dir = PathBuf::from(arg),
        }
    }
    let mut stale = 0;
    for (name, dashboard) in prescale_deploy::dashboards::all() {
        let path = dir.join(&name);
        let text = prescale_deploy::dashboards::render(&dashboard);
        if check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                eprintln!("{}: not the generated dashboard", path.display());
                stale += 1;
            }
        } else if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::FAILURE;
        } else {
            println!("wrote {}", path.display());
        }
    }
    if stale > 0 {
        eprintln!("run `cargo run -p prescale-deploy --bin prescale-dashboards` to regenerate");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
