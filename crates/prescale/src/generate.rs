//! `prescale generate`: KEDA resources from a service spec.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::output::emit;

pub(crate) const EXAMPLES: &str = "\
Examples:
  prescale generate -f services.yaml                 # YAML on standard output
  prescale generate -f services.yaml | kubectl apply -f -
  prescale generate -f services.yaml -o deploy/keda  # one file per resource
  prescale generate --explain                        # every field of the spec

A minimal spec (see examples/ in the repository for vLLM, Celery and training services):

  services:
    - name: llama-chat
      namespace: inference
      kind: vllm
      minReplicas: 0
      maxReplicas: 8
      triggers:
        - type: predictive            # the prescale forecast wakes it from zero
        - type: vllm-waiting
          threshold: 10";

/// The field-by-field reference of the spec (docs/spec.md).
pub(crate) const SPEC_REFERENCE: &str = include_str!("../../../docs/spec.md");

/// Arguments of `prescale generate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The service spec (YAML; `-` for standard input).
    #[arg(long, short = 'f', required_unless_present = "explain")]
    file: Option<PathBuf>,
    /// Where to write: `-` for standard output (one stream, `---` between resources), or a
    /// directory that gets one file per resource (`<namespace>_<name>_<kind>.yaml`).
    #[arg(long, short = 'o', default_value = "-")]
    output: PathBuf,
    /// Print the reference of every spec field instead of generating.
    #[arg(long)]
    explain: bool,
}

/// Reads a spec or manifest file (`-` is standard input); returns its text and display name.
pub(crate) fn read_input(path: &Path) -> Result<(String, String)> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        return Ok((text, "<stdin>".into()));
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((text, path.display().to_string()))
}

pub(crate) fn run(args: Args) -> Result<()> {
    if args.explain {
        return emit(SPEC_REFERENCE);
    }
    let Some(path) = args.file else {
        anyhow::bail!("-f <spec file> is required");
    };
    let (text, name) = read_input(&path)?;
    let resources = prescale_manifests::generate(&text, &name)?;
    if args.output.as_os_str() == "-" {
        return emit(&prescale_manifests::render(&resources)?);
    }
    write_dir(&args.output, &resources)
}

fn write_dir(dir: &Path, resources: &[Value]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for r in resources {
        let field = |p: &str| r.pointer(p).and_then(Value::as_str).unwrap_or("unknown");
        let file = dir.join(format!(
            "{}_{}_{}.yaml",
            field("/metadata/namespace"),
            field("/metadata/name"),
            field("/kind").to_ascii_lowercase()
        ));
        let yaml = prescale_manifests::render(std::slice::from_ref(r))?;
        std::fs::write(&file, yaml).with_context(|| format!("cannot write {}", file.display()))?;
        eprintln!("wrote {}", file.display());
    }
    Ok(())
}
