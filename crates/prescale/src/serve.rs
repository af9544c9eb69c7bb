//! `prescale serve` (being built).

/// Examples shown after `--help`.
pub(crate) const EXAMPLES: &str = "";

/// Arguments of `prescale serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `prescale serve`.
pub(crate) fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("prescale serve is not built yet")
}
