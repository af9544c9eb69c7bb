//! Renders the report of a synthetic 30-day backtest (one sample a minute, three policies) to
//! an HTML file, to look at the page in a browser.
//!
//! ```sh
//! cargo run -p prescale-report --example synthetic_report -- /tmp/report.html [days]
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "report.html".to_owned());
    let days: usize = args.next().and_then(|d| d.parse().ok()).unwrap_or(30);
    let report = common::synthetic_report("synthetic <30d> & co.csv", days * 1440, 60);
    let html = prescale_report::render_html(&report);
    std::fs::write(&path, &html)?;
    println!("{path}: {} bytes", html.len());
    Ok(())
}
