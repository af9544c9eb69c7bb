//! Positions of the fields of a YAML text, by document and field path.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

use crate::error::Position;

/// Positions of every node of a (multi-document) YAML text, keyed by document index and
/// field path (`services[1].triggers[0].threshold`). A mapping entry is located at its key.
#[derive(Debug, Default)]
pub(crate) struct Locator {
    positions: HashMap<(usize, String), Position>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Locator {
    /// Indexes `text`; a text that is not valid YAML gives the positions read before the
    /// error (the parse itself reports the error).
    pub(crate) fn new(text: &str) -> Self {
        let mut positions = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut doc = 0usize;
        let mut started = false;
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let pos = Position {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            match event {
                Event::DocumentStart(_) => {
                    if started {
                        doc += 1;
                    }
                    started = true;
                    stack.clear();
                }
                Event::Scalar(value, ..) => {
                    if let Some(path) =
                        node_path(&mut stack, Some(&value), pos, doc, &mut positions)
                    {
                        positions.entry((doc, path)).or_insert(pos);
                    }
                }
                Event::Alias(_) => {
                    if let Some(path) = node_path(&mut stack, Some("*"), pos, doc, &mut positions) {
                        positions.entry((doc, path)).or_insert(pos);
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let is_map = matches!(event, Event::MappingStart(..));
                    let path =
                        node_path(&mut stack, None, pos, doc, &mut positions).unwrap_or_default();
                    positions.entry((doc, path.clone())).or_insert(pos);
                    stack.push(if is_map {
                        Frame::Map { path, key: None }
                    } else {
                        Frame::Seq { path, index: 0 }
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    advance(&mut stack);
                }
                _ => {}
            }
        }
        Self { positions }
    }

    /// The position of `path` in document `doc`, or of its closest located parent, or 1:1.
    pub(crate) fn find(&self, doc: usize, path: &str) -> Position {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.positions.get(&(doc, p.clone())) {
                return *pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None if !p.is_empty() => p.clear(),
                None => {
                    return Position { line: 1, column: 1 };
                }
            }
        }
    }
}

/// The path of the node that starts now. For a scalar in key position, records the key and
/// returns `None`.
fn node_path(
    stack: &mut [Frame],
    scalar: Option<&str>,
    pos: Position,
    doc: usize,
    positions: &mut HashMap<(usize, String), Position>,
) -> Option<String> {
    match stack.last_mut() {
        None => Some(String::new()),
        Some(Frame::Seq { path, index }) => {
            let p = format!("{path}[{index}]");
            if scalar.is_some() {
                *index += 1;
            }
            Some(p)
        }
        Some(Frame::Map { path, key }) => match key.take() {
            None => {
                // A key: complex keys (collections) are indexed under an empty name.
                let k = scalar.unwrap_or_default().to_string();
                positions.entry((doc, join(path, &k))).or_insert(pos);
                *key = Some(k);
                // Scalars consume the key slot; collections as keys are not supported.
                None
            }
            Some(k) => {
                let p = join(path, &k);
                if scalar.is_none() {
                    // A collection value: keep the key until its end event.
                    *key = Some(k);
                }
                Some(p)
            }
        },
    }
}

/// After a collection ends, its parent moves on to the next entry.
fn advance(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Seq { index, .. }) => *index += 1,
        Some(Frame::Map { key, .. }) => *key = None,
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
services:
  - name: a
    triggers:
      - type: x
        threshold: 0
      - {type: y, threshold: 2}
---
kind: ScaledObject
spec:
  triggers: [a, b]
";

    #[test]
    fn finds_nested_fields_at_their_key() {
        let l = Locator::new(TEXT);
        assert_eq!(
            l.find(0, "services[0].name"),
            Position { line: 2, column: 5 }
        );
        assert_eq!(
            l.find(0, "services[0].triggers[0].threshold"),
            Position { line: 5, column: 9 }
        );
        assert_eq!(
            l.find(0, "services[0].triggers[1].threshold"),
            Position {
                line: 6,
                column: 19
            }
        );
    }

    #[test]
    fn missing_fields_fall_back_to_their_parent_and_documents_count() {
        let l = Locator::new(TEXT);
        assert_eq!(
            l.find(0, "services[0].triggers[0].quantile"),
            Position { line: 4, column: 9 }
        );
        assert_eq!(
            l.find(1, "spec.triggers[1]"),
            Position {
                line: 10,
                column: 17
            }
        );
        assert_eq!(l.find(5, "nothing"), Position { line: 1, column: 1 });
    }

    #[test]
    fn invalid_yaml_gives_what_was_read() {
        let l = Locator::new("a: 1\nb: [\n");
        assert_eq!(l.find(0, "a"), Position { line: 1, column: 1 });
    }
}
