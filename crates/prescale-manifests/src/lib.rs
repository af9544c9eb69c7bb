//! KEDA resource generator of prescale: a short YAML spec per ML service in, correct KEDA
//! resources out (ScaledObject, ScaledJob, TriggerAuthentication), with validation.
//!
//! - [`spec`]: the spec format (`services:` of kind `vllm`, `celery` or `training`), every
//!   field documented; unknown fields are rejected.
//! - [`generate`]: spec text to resources, checked first; [`render`] writes them as one YAML
//!   document per resource, `---` separated, byte for byte the same for the same input.
//! - [`validate_manifests`]: KEDA manifests checked against the KEDA CRD schemas
//!   ([`schema::Schemas`]) and the rules KEDA enforces at runtime ([`rules`]).
//!
//! Errors name the file, line and column, and the field path:
//! `services.yaml:12:5: services[1].triggers[0].threshold: must be > 0`.
//!
//! Pure library: no file or network access; the caller passes the text and its file name.
//!
//! ```
//! let spec = r#"
//! services:
//!   - name: chat
//!     namespace: inference
//!     kind: vllm
//!     minReplicas: 0
//!     maxReplicas: 4
//!     triggers:
//!       - type: vllm-waiting
//!         threshold: 8
//!       - type: predictive
//!         query: sum(rate(gateway_requests_total{route="/v1/chat/completions"}[1m]))
//!         threshold: 2
//! "#;
//! let resources = prescale_manifests::generate(spec, "services.yaml").expect("a valid spec");
//! assert_eq!(resources[0]["kind"], "ScaledObject");
//! let yaml = prescale_manifests::render(&resources).expect("YAML");
//! assert!(yaml.contains("sum(vllm:num_requests_waiting{namespace=\"inference\",pod=~\"chat-.*\"})"));
//!
//! let schemas = prescale_manifests::schema::Schemas::embedded().expect("embedded schemas");
//! assert_eq!(prescale_manifests::validate_manifests(&yaml, "out.yaml", &schemas), Ok(1));
//!
//! let bad = spec.replace("threshold: 8", "threshold: 0");
//! let err = prescale_manifests::generate(&bad, "services.yaml").unwrap_err();
//! assert_eq!(err.to_string(), "services.yaml:10:9: services[0].triggers[0].threshold: must be > 0");
//! ```

mod behavior;
mod build;
mod check;
mod error;
mod locate;
pub mod rules;
pub mod schema;
pub mod spec;

use serde::Deserialize;
use serde_json::Value;

pub use build::{DEFAULT_PRESCALE_SERVER, DEFAULT_PROMETHEUS, KEDA_API_VERSION};
pub use error::{Error, Position, Result};
use locate::Locator;
use schema::Schemas;
use spec::SpecFile;

fn parse_error(file: &str, e: &yaml_serde::Error) -> Error {
    let position = e
        .location()
        .map_or(Position { line: 1, column: 1 }, |l| Position {
            line: l.line(),
            column: l.column(),
        });
    let text = e.to_string();
    let message = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    Error::Parse {
        file: file.to_string(),
        position,
        message,
    }
}

/// Parses and checks a spec; `file` names it in errors.
pub fn parse_spec(text: &str, file: &str) -> Result<SpecFile> {
    let spec: SpecFile = yaml_serde::from_str(text).map_err(|e| parse_error(file, &e))?;
    check::check(&spec).map_err(|f| {
        let position = Locator::new(text).find(0, &f.path);
        Error::Invalid {
            file: file.to_string(),
            position,
            path: f.path,
            message: f.message,
        }
    })?;
    Ok(spec)
}

/// The KEDA resources of a spec: for each service, its TriggerAuthentications, then its
/// ScaledObject (vllm, celery) or ScaledJob (training).
pub fn generate(text: &str, file: &str) -> Result<Vec<Value>> {
    let spec = parse_spec(text, file)?;
    Ok(build::build(&spec.services))
}

/// What a spec or a manifest file holds that is valid but likely wrong (a trigger that a
/// `scalingModifiers` formula ignores), one line each: `file:line:column: path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file name as given by the caller.
    pub file: String,
    /// Where the field is (or its closest written parent).
    pub position: Position,
    /// The field path.
    pub path: String,
    /// What is likely wrong.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.position, self.path, self.message
        )
    }
}

/// The warnings of a spec (checked first, like [`parse_spec`]).
pub fn spec_warnings(text: &str, file: &str) -> Result<Vec<Warning>> {
    let spec = parse_spec(text, file)?;
    let locator = Locator::new(text);
    Ok(check::warnings(&spec)
        .into_iter()
        .map(|f| Warning {
            file: file.to_string(),
            position: locator.find(0, &f.path),
            path: f.path,
            message: f.message,
        })
        .collect())
}

/// The warnings of a manifest file ([`rules::warnings`] of each resource, `List` items
/// included).
pub fn manifest_warnings(text: &str, file: &str) -> Result<Vec<Warning>> {
    let locator = Locator::new(text);
    let mut out = Vec::new();
    for (i, doc) in parse_manifests(text, file)?.iter().enumerate() {
        let items: Vec<(String, &Value)> = match doc.get("items").and_then(Value::as_array) {
            Some(items) if doc.get("kind").and_then(Value::as_str) == Some("List") => items
                .iter()
                .enumerate()
                .map(|(j, item)| (format!("items[{j}]."), item))
                .collect(),
            _ => vec![(String::new(), doc)],
        };
        for (prefix, resource) in items {
            for v in rules::warnings(resource) {
                let path = format!("{prefix}{}", v.path);
                out.push(Warning {
                    file: file.to_string(),
                    position: locator.find(i, &path),
                    path,
                    message: v.message,
                });
            }
        }
    }
    Ok(out)
}

/// Writes resources as YAML documents separated by `---`, ready for `kubectl apply -f`.
pub fn render(resources: &[Value]) -> Result<String> {
    let mut out = String::new();
    for r in resources {
        if !out.is_empty() {
            out.push_str("---\n");
        }
        out.push_str(&yaml_serde::to_string(r).map_err(|e| Error::Render(e.to_string()))?);
    }
    Ok(out)
}

/// Parses a multi-document YAML text into its documents (empty documents are `null`).
pub fn parse_manifests(text: &str, file: &str) -> Result<Vec<Value>> {
    yaml_serde::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).map_err(|e| parse_error(file, &e)))
        .collect()
}

/// Checks every resource of a manifest file against `schemas` and the KEDA runtime rules;
/// returns how many resources were checked, or the first violation with its position.
/// Documents of kind `List` (`kubectl get -o yaml`) are checked item by item.
pub fn validate_manifests(text: &str, file: &str, schemas: &Schemas) -> Result<usize> {
    let docs = parse_manifests(text, file)?;
    let mut checked = 0;
    for (i, doc) in docs.iter().enumerate() {
        let resources: Vec<(String, &Value)> = match doc {
            Value::Null => Vec::new(),
            _ if doc.get("kind").and_then(Value::as_str) == Some("List") => doc
                .get("items")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .enumerate()
                        .map(|(j, item)| (format!("items[{j}]."), item))
                        .collect()
                })
                .unwrap_or_default(),
            _ => vec![(String::new(), doc)],
        };
        for (prefix, resource) in resources {
            check_resource(text, file, schemas, i, &prefix, resource)?;
            checked += 1;
        }
    }
    Ok(checked)
}

fn check_resource(
    text: &str,
    file: &str,
    schemas: &Schemas,
    doc_index: usize,
    prefix: &str,
    resource: &Value,
) -> Result<()> {
    let mut violations = schemas.validate(resource);
    if violations.is_empty() {
        violations = rules::check_resource(resource);
    }
    let Some(v) = violations.into_iter().next() else {
        return Ok(());
    };
    let kind = resource
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("resource");
    let name = resource
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let path = format!("{prefix}{}", v.path);
    Err(Error::Invalid {
        file: file.to_string(),
        position: Locator::new(text).find(doc_index, &path),
        path,
        message: format!("{} ({kind} {name})", v.message),
    })
}
