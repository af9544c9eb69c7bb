//! `prescale validate`: check a service spec, or KEDA manifests against the KEDA CRD schemas
//! and the rules KEDA enforces at runtime.

use std::path::PathBuf;

use anyhow::Result;
use prescale_manifests::schema::Schemas;

use crate::generate::read_input;
use crate::output::emit;

pub(crate) const EXAMPLES: &str = "\
Examples:
  prescale validate -f services.yaml            # the spec, and the resources it generates
  prescale validate --manifests keda.yaml       # any ScaledObject/ScaledJob/TriggerAuthentication
  kubectl get scaledobjects -A -o yaml | prescale validate --manifests -   # a List too

Errors name the file, line, column and field, and exit with status 1:
  services.yaml:12:9: services[1].triggers[0].threshold: must be > 0";

/// Arguments of `prescale validate`.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct Args {
    /// A service spec (YAML; `-` for standard input).
    #[arg(long, short = 'f')]
    file: Option<PathBuf>,
    /// A KEDA manifest file, one or more YAML documents (`-` for standard input).
    #[arg(long, short = 'm')]
    manifests: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let schemas = Schemas::embedded().map_err(anyhow::Error::msg)?;
    if let Some(path) = args.manifests {
        let (text, name) = read_input(&path)?;
        let n = prescale_manifests::validate_manifests(&text, &name, &schemas)?;
        anyhow::ensure!(n > 0, "{name}: no resources to validate");
        warn(&prescale_manifests::manifest_warnings(&text, &name)?);
        return emit(&format!(
            "{name}: {n} resource(s) valid (KEDA v2.20 CRD schemas and runtime rules)\n"
        ));
    }
    let Some(path) = args.file else {
        anyhow::bail!("give -f <spec file> or --manifests <file>");
    };
    let (text, name) = read_input(&path)?;
    let spec = prescale_manifests::parse_spec(&text, &name)?;
    let resources = prescale_manifests::generate(&text, &name)?;
    let yaml = prescale_manifests::render(&resources)?;
    let n = prescale_manifests::validate_manifests(&yaml, "<generated>", &schemas)?;
    warn(&prescale_manifests::spec_warnings(&text, &name)?);
    emit(&format!(
        "{name}: {} service(s) valid; {n} generated resource(s) pass the KEDA CRD schemas\n",
        spec.services.len()
    ))
}

/// Prints each warning on standard error (`warning: file:line:column: path: message`); they
/// do not change the exit status.
fn warn(warnings: &[prescale_manifests::Warning]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}
