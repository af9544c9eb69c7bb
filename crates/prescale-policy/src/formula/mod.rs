//! KEDA `scalingModifiers` formulas over named trigger values.
//!
//! KEDA evaluates `advanced.scalingModifiers.formula` with [expr-lang](https://expr-lang.org):
//! the variables are the trigger names, a trigger whose metric failed is `nil`, and the result
//! must be a number. This module implements the subset KEDA's examples use, with expr-lang's
//! operator precedence (lowest first):
//!
//! | precedence | operators                                   |
//! |------------|---------------------------------------------|
//! | lowest     | `cond ? a : b` (right-associative)          |
//! |            | `\|\|`, `or`                                |
//! |            | `&&`, `and`                                 |
//! |            | `==` `!=` `<` `<=` `>` `>=`                 |
//! |            | `+` `-`                                     |
//! |            | `!`, `not` (prefix)                         |
//! |            | `*` `/` `%`                                 |
//! |            | `-` `+` (prefix)                            |
//! |            | `**` `^` (power, right-associative)         |
//! | highest    | `??` (nil-coalescing: `gpu ?? 0`)           |
//!
//! Operands: numbers (`2`, `0.5`, `1e3`, `1_000`), trigger names (letters, digits, `_`, `$`),
//! `true`, `false`, `nil`, parentheses and the functions `min(a, b, ...)`, `max(a, b, ...)`,
//! `abs`, `ceil`, `floor`, `round`, `float` and `int` (truncation). Arithmetic on `nil`, a
//! division (or `%`) by zero, a boolean or `nil` result, and a non-finite result are errors.
//! `&&`, `||`, `??` and `? :` evaluate their right side only when needed, so
//! `queue > 0 ? backlog / queue : 0` is safe at `queue == 0`.
//!
//! ```
//! use std::collections::HashMap;
//! use prescale_policy::formula::Formula;
//!
//! let f = Formula::parse("max(forecast, queue / 2)").expect("a valid formula");
//! assert_eq!(f.variables(), vec!["forecast", "queue"]);
//! let values = HashMap::from([
//!     ("forecast".to_string(), Some(6.0)),
//!     ("queue".to_string(), Some(20.0)),
//! ]);
//! assert_eq!(f.eval(&values), Ok(10.0));
//! ```

mod parse;

use std::collections::HashMap;
use std::fmt;

/// Why a formula could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormulaError {
    /// The text is not a valid formula.
    #[error("syntax error at column {column}: expected {expected}, found {found}")]
    Syntax {
        /// 1-based character column of the offending token.
        column: usize,
        /// What the parser expected there.
        expected: String,
        /// What it found.
        found: String,
    },
    /// The formula nests too deeply or is too long a chain of operators.
    #[error("formula too complex at column {column} (nesting or operator chain too deep)")]
    TooComplex {
        /// 1-based character column where the limit was reached.
        column: usize,
    },
    /// A name in the formula has no value (not a trigger of the object).
    #[error("unknown variable `{0}` (not a trigger name)")]
    UnknownVariable(String),
    /// A division or remainder by zero.
    #[error("division by zero at column {column}")]
    DivisionByZero {
        /// 1-based character column of the operator.
        column: usize,
    },
    /// An operator or function got a value of the wrong type (e.g. `nil + 1`, `true * 2`).
    #[error("type error at column {column}: `{op}` expects {expected}, got {got}")]
    Type {
        /// 1-based character column of the operator or function.
        column: usize,
        /// The operator or function.
        op: String,
        /// The types it accepts.
        expected: &'static str,
        /// The type it got.
        got: &'static str,
    },
    /// The formula evaluated to `nil` (e.g. a missing trigger without `??`).
    #[error("the formula evaluated to nil (a trigger value is missing; use `name ?? default`)")]
    NilResult,
    /// The formula evaluated to a boolean instead of a number.
    #[error("the formula evaluated to a boolean, not a number")]
    BoolResult,
    /// The formula evaluated to infinity or NaN.
    #[error("the formula evaluated to a non-finite number ({0})")]
    NonFinite(f64),
}

/// A parsed formula. See the [module documentation](self).
///
/// In configuration a formula is its text; it is parsed when the configuration is read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Formula {
    source: String,
    nodes: Vec<Node>,
    root: usize,
}

#[derive(Debug, Clone, PartialEq)]
struct Node {
    kind: NodeKind,
    /// 1-based column of the token that made the node.
    col: usize,
    /// Height of the subtree (1 for a leaf).
    depth: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum NodeKind {
    Num(f64),
    Bool(bool),
    Nil,
    Var(String),
    Unary(UnOp, usize),
    Binary(BinOp, usize, usize),
    Ternary(usize, usize, usize),
    Call(Func, Vec<usize>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnOp {
    Neg,
    Plus,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
    Coalesce,
}

impl BinOp {
    const fn symbol(self) -> &'static str {
        match self {
            Self::Or => "||",
            Self::And => "&&",
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Rem => "%",
            Self::Pow => "**",
            Self::Coalesce => "??",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Min,
    Max,
    Abs,
    Ceil,
    Floor,
    Round,
    Float,
    Int,
}

impl Func {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "min" => Self::Min,
            "max" => Self::Max,
            "abs" => Self::Abs,
            "ceil" => Self::Ceil,
            "floor" => Self::Floor,
            "round" => Self::Round,
            "float" => Self::Float,
            "int" => Self::Int,
            _ => return None,
        })
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Min => "min",
            Self::Max => "max",
            Self::Abs => "abs",
            Self::Ceil => "ceil",
            Self::Floor => "floor",
            Self::Round => "round",
            Self::Float => "float",
            Self::Int => "int",
        }
    }

    const fn variadic(self) -> bool {
        matches!(self, Self::Min | Self::Max)
    }
}

/// A value during evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Nil,
    Num(f64),
    Bool(bool),
}

impl Value {
    const fn type_name(self) -> &'static str {
        match self {
            Self::Nil => "nil",
            Self::Num(_) => "a number",
            Self::Bool(_) => "a boolean",
        }
    }
}

impl Formula {
    /// Parses `source`. Errors name the 1-based column and what was expected there.
    pub fn parse(source: &str) -> Result<Self, FormulaError> {
        let mut parser = parse::Parser::new(source)?;
        let root = parser.parse()?;
        Ok(Self {
            source: source.to_string(),
            nodes: parser.nodes,
            root,
        })
    }

    /// The text the formula was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The trigger names the formula refers to, in order of first appearance, each once (so
    /// that a validator can reject names that are not triggers of the object).
    pub fn variables(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut nodes: Vec<&Node> = self.nodes.iter().collect();
        nodes.sort_by_key(|n| n.col);
        for node in nodes {
            if let NodeKind::Var(name) = &node.kind
                && !names.contains(name)
            {
                names.push(name.clone());
            }
        }
        names
    }

    /// Evaluates the formula with `values` for the trigger names (`None`: the trigger's
    /// metric is missing, `nil` in the formula). A name missing from `values` is an error, as
    /// are `nil`, boolean and non-finite results.
    pub fn eval(&self, values: &HashMap<String, Option<f64>>) -> Result<f64, FormulaError> {
        match self.eval_node(self.root, values)? {
            Value::Num(v) if v.is_finite() => Ok(v),
            Value::Num(v) => Err(FormulaError::NonFinite(v)),
            Value::Nil => Err(FormulaError::NilResult),
            Value::Bool(_) => Err(FormulaError::BoolResult),
        }
    }

    fn eval_node(
        &self,
        i: usize,
        values: &HashMap<String, Option<f64>>,
    ) -> Result<Value, FormulaError> {
        let Some(node) = self.nodes.get(i) else {
            return Err(FormulaError::NilResult);
        };
        let col = node.col;
        match &node.kind {
            NodeKind::Num(v) => Ok(Value::Num(*v)),
            NodeKind::Bool(b) => Ok(Value::Bool(*b)),
            NodeKind::Nil => Ok(Value::Nil),
            NodeKind::Var(name) => match values.get(name) {
                Some(Some(v)) => Ok(Value::Num(*v)),
                Some(None) => Ok(Value::Nil),
                None => Err(FormulaError::UnknownVariable(name.clone())),
            },
            NodeKind::Unary(op, a) => {
                let v = self.eval_node(*a, values)?;
                match (op, v) {
                    (UnOp::Neg, Value::Num(x)) => Ok(Value::Num(-x)),
                    (UnOp::Plus, Value::Num(x)) => Ok(Value::Num(x)),
                    (UnOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
                    (UnOp::Not, v) => Err(type_error(col, "!", "a boolean", v)),
                    (UnOp::Neg | UnOp::Plus, v) => Err(type_error(col, "-", "a number", v)),
                }
            }
            NodeKind::Binary(op, a, b) => self.eval_binary(*op, *a, *b, col, values),
            NodeKind::Ternary(c, yes, no) => match self.eval_node(*c, values)? {
                Value::Bool(true) => self.eval_node(*yes, values),
                Value::Bool(false) => self.eval_node(*no, values),
                v => Err(type_error(col, "?", "a boolean condition", v)),
            },
            NodeKind::Call(func, args) => {
                let mut nums = Vec::with_capacity(args.len());
                for a in args {
                    match self.eval_node(*a, values)? {
                        Value::Num(x) => nums.push(x),
                        v => return Err(type_error(col, func.name(), "numbers", v)),
                    }
                }
                let first = nums.first().copied().unwrap_or(f64::NAN);
                Ok(Value::Num(match func {
                    Func::Min => nums.iter().copied().fold(f64::INFINITY, f64::min),
                    Func::Max => nums.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    Func::Abs => first.abs(),
                    Func::Ceil => first.ceil(),
                    Func::Floor => first.floor(),
                    Func::Round => first.round(),
                    Func::Float => first,
                    Func::Int => first.trunc(),
                }))
            }
        }
    }

    fn eval_binary(
        &self,
        op: BinOp,
        a: usize,
        b: usize,
        col: usize,
        values: &HashMap<String, Option<f64>>,
    ) -> Result<Value, FormulaError> {
        let left = self.eval_node(a, values)?;
        // Short-circuiting operators look at the left side first.
        match (op, left) {
            (BinOp::Coalesce, Value::Nil) => return self.eval_node(b, values),
            (BinOp::Coalesce, v) => return Ok(v),
            (BinOp::And, Value::Bool(false)) => return Ok(Value::Bool(false)),
            (BinOp::Or, Value::Bool(true)) => return Ok(Value::Bool(true)),
            (BinOp::And | BinOp::Or, Value::Bool(_)) => {
                return match self.eval_node(b, values)? {
                    Value::Bool(r) => Ok(Value::Bool(r)),
                    v => Err(type_error(col, op.symbol(), "booleans", v)),
                };
            }
            (BinOp::And | BinOp::Or, v) => {
                return Err(type_error(col, op.symbol(), "booleans", v));
            }
            _ => {}
        }
        let right = self.eval_node(b, values)?;
        match op {
            BinOp::Eq => return Ok(Value::Bool(left == right)),
            BinOp::Ne => return Ok(Value::Bool(left != right)),
            _ => {}
        }
        let (x, y) = match (left, right) {
            (Value::Num(x), Value::Num(y)) => (x, y),
            (Value::Num(_), v) | (v, _) => {
                return Err(type_error(col, op.symbol(), "numbers", v));
            }
        };
        Ok(match op {
            BinOp::Lt => Value::Bool(x < y),
            BinOp::Le => Value::Bool(x <= y),
            BinOp::Gt => Value::Bool(x > y),
            BinOp::Ge => Value::Bool(x >= y),
            BinOp::Add => Value::Num(x + y),
            BinOp::Sub => Value::Num(x - y),
            BinOp::Mul => Value::Num(x * y),
            BinOp::Div | BinOp::Rem if y == 0.0 => {
                return Err(FormulaError::DivisionByZero { column: col });
            }
            BinOp::Div => Value::Num(x / y),
            BinOp::Rem => Value::Num(x % y),
            BinOp::Pow => Value::Num(x.powf(y)),
            BinOp::Or | BinOp::And | BinOp::Eq | BinOp::Ne | BinOp::Coalesce => Value::Nil,
        })
    }
}

fn type_error(column: usize, op: &str, expected: &'static str, got: Value) -> FormulaError {
    FormulaError::Type {
        column,
        op: op.to_string(),
        expected,
        got: got.type_name(),
    }
}

impl fmt::Display for Formula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl TryFrom<String> for Formula {
    type Error = FormulaError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Formula> for String {
    fn from(f: Formula) -> Self {
        f.source
    }
}

impl std::str::FromStr for Formula {
    type Err = FormulaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vals(pairs: &[(&str, Option<f64>)]) -> HashMap<String, Option<f64>> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn eval(src: &str, pairs: &[(&str, Option<f64>)]) -> Result<f64, FormulaError> {
        Formula::parse(src)?.eval(&vals(pairs))
    }

    #[test]
    fn hand_worked_examples() {
        let v = [("forecast", Some(6.0)), ("queue", Some(20.0))];
        assert_eq!(eval("max(forecast, queue / 2)", &v), Ok(10.0));
        assert_eq!(eval("max(forecast, queue / 5)", &v), Ok(6.0));
        assert_eq!(
            eval("(a + b) / 2", &[("a", Some(3.0)), ("b", Some(8.0))]),
            Ok(5.5)
        );
        assert_eq!(
            eval("queue > 10 ? queue : 0", &[("queue", Some(12.0))]),
            Ok(12.0)
        );
        assert_eq!(
            eval("queue > 10 ? queue : 0", &[("queue", Some(10.0))]),
            Ok(0.0)
        );
        assert_eq!(eval("gpu ?? 0", &[("gpu", None)]), Ok(0.0));
        assert_eq!(eval("gpu ?? 0", &[("gpu", Some(0.7))]), Ok(0.7));
        assert_eq!(eval("1 + 2 * 3", &[]), Ok(7.0));
        assert_eq!(eval("(1 + 2) * 3", &[]), Ok(9.0));
        assert_eq!(eval("10 - 4 - 3", &[]), Ok(3.0), "left-associative");
        assert_eq!(eval("2 ** 3 ** 2", &[]), Ok(512.0), "right-associative");
        assert_eq!(
            eval("-2 ** 2", &[]),
            Ok(-4.0),
            "power binds tighter than minus"
        );
        assert_eq!(eval("-3 * -2", &[]), Ok(6.0));
        assert_eq!(eval("7 % 4 + 2 ^ 2", &[]), Ok(7.0));
        assert_eq!(
            eval("min(3, 1.5, 2) + abs(-2) + ceil(0.2) + floor(1.8)", &[]),
            Ok(5.5)
        );
        assert_eq!(
            eval("round(2.5) + int(-1.7) + float(1e3) + 1_000", &[]),
            Ok(2002.0)
        );
        assert_eq!(eval(".5 + 1.25e-1", &[]), Ok(0.625));
    }

    #[test]
    fn coalescing_binds_tighter_than_arithmetic() {
        // expr-lang gives `??` the highest precedence: (a ?? 1) + 2.
        assert_eq!(eval("a ?? 1 + 2", &[("a", None)]), Ok(3.0));
        assert_eq!(eval("a ?? 1 + 2", &[("a", Some(5.0))]), Ok(7.0));
        assert_eq!(eval("a ?? b ?? 4", &[("a", None), ("b", None)]), Ok(4.0));
    }

    #[test]
    fn conditions_and_logic() {
        let v = [("q", Some(5.0)), ("lat", Some(0.4))];
        assert_eq!(eval("q > 3 && lat < 0.5 ? 2 : 1", &v), Ok(2.0));
        assert_eq!(eval("q > 9 || lat >= 0.4 ? 2 : 1", &v), Ok(2.0));
        assert_eq!(eval("q > 9 or not (lat == 0.4) ? 2 : 1", &v), Ok(1.0));
        assert_eq!(
            eval("q != 5 ? 1 : q <= 5 ? 3 : 4", &v),
            Ok(3.0),
            "nested ternary"
        );
        assert_eq!(eval("x == nil ? 0 : x", &[("x", None)]), Ok(0.0));
        // Short-circuit: the division by zero is never evaluated.
        assert_eq!(eval("q > 0 ? 10 / q : 0", &[("q", Some(0.0))]), Ok(0.0));
        assert_eq!(eval("false && 1 / 0 > 1 ? 1 : 2", &[]), Ok(2.0));
    }

    #[test]
    fn evaluation_errors() {
        let err = eval("queue + backlog", &[("queue", Some(1.0))]).unwrap_err();
        assert_eq!(err, FormulaError::UnknownVariable("backlog".into()));
        assert_eq!(
            eval("1 / (q - 2)", &[("q", Some(2.0))]),
            Err(FormulaError::DivisionByZero { column: 3 })
        );
        assert_eq!(eval("gpu", &[("gpu", None)]), Err(FormulaError::NilResult));
        assert!(matches!(
            eval("gpu * 2", &[("gpu", None)]),
            Err(FormulaError::Type {
                column: 5,
                got: "nil",
                ..
            })
        ));
        assert_eq!(eval("1 < 2", &[]), Err(FormulaError::BoolResult));
        assert!(matches!(
            eval("10 ** 400", &[]),
            Err(FormulaError::NonFinite(_))
        ));
        assert!(matches!(
            eval("1 ? 2 : 3", &[]),
            Err(FormulaError::Type { .. })
        ));
        assert!(matches!(
            eval("max(true, 1)", &[]),
            Err(FormulaError::Type { .. })
        ));
        assert!(eval("1 && true ? 1 : 0", &[]).is_err());
        assert!(eval("!1", &[]).is_err());
        assert!(eval("-true", &[]).is_err());
    }

    #[test]
    fn syntax_errors_name_column_and_expectation() {
        let cases = [
            ("max(a, ", 8, "operand"),
            ("a +", 4, "operand"),
            ("(a + b", 7, "`)`"),
            ("a b", 3, "operator or the end"),
            ("q > 1 ? 2", 10, "`:`"),
            ("a = 1", 3, "`==`"),
            ("a # b", 3, "an operator"),
            ("foo(1)", 1, "known function"),
            ("abs(1, 2)", 1, "exactly one argument"),
            ("min()", 1, "at least one argument"),
            ("", 1, "operand"),
            (")", 1, "operand"),
            ("1..2", 3, "operator or the end"),
        ];
        for (src, column, needle) in cases {
            match Formula::parse(src) {
                Err(FormulaError::Syntax {
                    column: c,
                    ref expected,
                    ..
                }) => {
                    assert_eq!(c, column, "{src}");
                    assert!(expected.contains(needle), "{src}: {expected}");
                }
                other => panic!("{src}: {other:?}"),
            }
        }
        let msg = Formula::parse("a +").unwrap_err().to_string();
        assert!(
            msg.starts_with("syntax error at column 4: expected an operand"),
            "{msg}"
        );
        assert!(msg.ends_with("found the end of the formula"), "{msg}");
    }

    #[test]
    fn variables_in_order_of_appearance() {
        let f = Formula::parse("max(b, a) + b * (c ?? a)").unwrap();
        assert_eq!(f.variables(), vec!["b", "a", "c"]);
        assert!(
            Formula::parse("1 + max(2, 3)")
                .unwrap()
                .variables()
                .is_empty()
        );
        assert_eq!(f.to_string(), "max(b, a) + b * (c ?? a)");
        assert_eq!(f.source(), "max(b, a) + b * (c ?? a)");
        let parsed: Formula = "x ?? 1".parse().unwrap();
        assert_eq!(parsed.variables(), vec!["x"]);
    }

    #[test]
    fn deep_input_is_rejected_not_overflowed() {
        let nested = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(matches!(
            Formula::parse(&nested),
            Err(FormulaError::TooComplex { .. })
        ));
        let chain = vec!["1"; 10_000].join(" + ");
        assert!(matches!(
            Formula::parse(&chain),
            Err(FormulaError::TooComplex { .. })
        ));
        let unary = format!("{}1", "-".repeat(10_000));
        assert!(matches!(
            Formula::parse(&unary),
            Err(FormulaError::TooComplex { .. })
        ));
        // A long but shallow formula is fine.
        let ok = vec!["1"; 200].join(" + ");
        assert_eq!(
            Formula::parse(&ok).unwrap().eval(&HashMap::new()),
            Ok(200.0)
        );
    }

    #[test]
    fn serde_uses_the_text() {
        let f: Formula = serde_json::from_str(r#""max(a, b)""#).unwrap();
        assert_eq!(serde_json::to_string(&f).unwrap(), r#""max(a, b)""#);
        let err = serde_json::from_str::<Formula>(r#""max(a, ""#).unwrap_err();
        assert!(err.to_string().contains("column"), "{err}");
    }

    proptest! {
        #[test]
        fn parse_never_panics(src in "\\PC{0,80}") {
            let _ = Formula::parse(&src);
        }

        #[test]
        fn parse_and_eval_never_panic_on_formula_like_text(
            src in "[a-c0-9 .()+*/%^?:<>=!&|,-]{0,60}|(min|max|abs|ceil)\\([a-c0-9 ,+*/-]{0,20}\\)",
            a in proptest::option::of(-1e6f64..1e6),
        ) {
            if let Ok(f) = Formula::parse(&src) {
                let values = vals(&[("a", a), ("b", Some(0.0)), ("c", Some(2.5))]);
                let _ = f.eval(&values);
                let _ = f.variables();
            }
        }
    }
}
