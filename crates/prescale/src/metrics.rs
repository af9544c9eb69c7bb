//! `prescale metrics` (being built).

/// Examples shown after `--help`.
pub(crate) const EXAMPLES: &str = "";

/// Arguments of `prescale metrics`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `prescale metrics`.
pub(crate) fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("prescale metrics is not built yet")
}
