//! Lexer and parser of formulas: precedence climbing with the operator table of expr-lang
//! (`parser/operator/operator.go`), ternaries at the top level as in its `parseConditional`.

use super::{BinOp, Func, Node, NodeKind, UnOp};
use crate::formula::FormulaError;

/// Deepest nesting of parentheses, unary operators, calls and ternary branches.
const MAX_NESTING: usize = 64;

/// Deepest expression tree (a chain `1 + 1 + ...` is as deep as it is long).
pub(super) const MAX_TREE_DEPTH: usize = 256;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Question,
    Colon,
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Self::Num(n) => format!("number `{n}`"),
            Self::Ident(s) => format!("`{s}`"),
            Self::Op(o) => format!("`{o}`"),
            Self::LParen => "`(`".into(),
            Self::RParen => "`)`".into(),
            Self::Comma => "`,`".into(),
            Self::Question => "`?`".into(),
            Self::Colon => "`:`".into(),
            Self::Eof => "the end of the formula".into(),
        }
    }
}

/// Multi-character operators first, so that `<=` is not read as `<`.
const OPERATORS: [&str; 18] = [
    "??", "**", "==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "%", "^", "<", ">", "!",
    "=",
];

/// Splits a formula into tokens, each with its 1-based character column.
fn lex(src: &str) -> Result<Vec<(Tok, usize)>, FormulaError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let (num, next) = lex_number(&chars, i)?;
            out.push((Tok::Num(num), col));
            i = next;
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let tok = match word.as_str() {
                "and" => Tok::Op("&&"),
                "or" => Tok::Op("||"),
                "not" => Tok::Op("!"),
                _ => Tok::Ident(word),
            };
            out.push((tok, col));
        } else {
            let single = match c {
                '(' => Some(Tok::LParen),
                ')' => Some(Tok::RParen),
                ',' => Some(Tok::Comma),
                ':' => Some(Tok::Colon),
                '?' if chars.get(i + 1) != Some(&'?') => Some(Tok::Question),
                _ => None,
            };
            if let Some(tok) = single {
                out.push((tok, col));
                i += 1;
                continue;
            }
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) else {
                return Err(syntax(
                    col,
                    "an operator, a number, a name or a parenthesis",
                    &format!("`{c}`"),
                ));
            };
            if *op == "=" {
                return Err(syntax(col, "`==` (comparison)", "`=`"));
            }
            out.push((Tok::Op(op), col));
            i += op.chars().count();
        }
    }
    out.push((Tok::Eof, chars.len() + 1));
    Ok(out)
}

/// A number: digits with `_` separators, an optional fraction and an optional exponent.
fn lex_number(chars: &[char], start: usize) -> Result<(f64, usize), FormulaError> {
    let mut i = start;
    let digits = |i: &mut usize| {
        while *i < chars.len() && (chars[*i].is_ascii_digit() || chars[*i] == '_') {
            *i += 1;
        }
    };
    digits(&mut i);
    if i < chars.len() && chars[i] == '.' {
        i += 1;
        digits(&mut i);
    }
    if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
        let mut j = i + 1;
        if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
            j += 1;
        }
        if j < chars.len() && chars[j].is_ascii_digit() {
            i = j;
            digits(&mut i);
        }
    }
    let text: String = chars[start..i].iter().filter(|c| **c != '_').collect();
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok((v, i)),
        _ => Err(syntax(start + 1, "a valid number", &format!("`{text}`"))),
    }
}

fn syntax(column: usize, expected: &str, found: &str) -> FormulaError {
    FormulaError::Syntax {
        column,
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

/// The binary operator a token stands for, with its expr-lang precedence and whether it is
/// right-associative.
fn binary(tok: &Tok) -> Option<(BinOp, u16, bool)> {
    let Tok::Op(op) = tok else {
        return None;
    };
    Some(match *op {
        "||" => (BinOp::Or, 10, false),
        "&&" => (BinOp::And, 15, false),
        "==" => (BinOp::Eq, 20, false),
        "!=" => (BinOp::Ne, 20, false),
        "<" => (BinOp::Lt, 20, false),
        "<=" => (BinOp::Le, 20, false),
        ">" => (BinOp::Gt, 20, false),
        ">=" => (BinOp::Ge, 20, false),
        "+" => (BinOp::Add, 30, false),
        "-" => (BinOp::Sub, 30, false),
        "*" => (BinOp::Mul, 60, false),
        "/" => (BinOp::Div, 60, false),
        "%" => (BinOp::Rem, 60, false),
        "**" | "^" => (BinOp::Pow, 100, true),
        "??" => (BinOp::Coalesce, 500, false),
        _ => return None,
    })
}

/// The parser: tokens in, an arena of nodes out.
pub(super) struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    nesting: usize,
    pub(super) nodes: Vec<Node>,
}

impl Parser {
    /// A parser over `src`, failing on a character no token starts with.
    pub(super) fn new(src: &str) -> Result<Self, FormulaError> {
        Ok(Self {
            toks: lex(src)?,
            pos: 0,
            nesting: 0,
            nodes: Vec::new(),
        })
    }

    /// Parses the whole input; returns the root node's index.
    pub(super) fn parse(&mut self) -> Result<usize, FormulaError> {
        let root = self.expression(0)?;
        match self.peek() {
            Tok::Eof => Ok(root),
            tok => Err(syntax(
                self.col(),
                "an operator or the end of the formula",
                &tok.describe(),
            )),
        }
    }

    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::Eof, |t| &t.0)
    }

    fn col(&self) -> usize {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(1, |t| t.1)
    }

    fn next(&mut self) -> (Tok, usize) {
        let tok = self
            .toks
            .get(self.pos)
            .cloned()
            .unwrap_or((Tok::Eof, self.col()));
        self.pos += 1;
        tok
    }

    fn expect(&mut self, want: &Tok, what: &str) -> Result<(), FormulaError> {
        if self.peek() == want {
            self.pos += 1;
            Ok(())
        } else {
            Err(syntax(self.col(), what, &self.peek().describe()))
        }
    }

    fn push(&mut self, kind: NodeKind, col: usize) -> Result<usize, FormulaError> {
        let depth = 1 + match &kind {
            NodeKind::Num(_) | NodeKind::Bool(_) | NodeKind::Nil | NodeKind::Var(_) => 0,
            NodeKind::Unary(_, a) => self.depth(*a),
            NodeKind::Binary(_, a, b) => self.depth(*a).max(self.depth(*b)),
            NodeKind::Ternary(a, b, c) => self.depth(*a).max(self.depth(*b)).max(self.depth(*c)),
            NodeKind::Call(_, args) => args.iter().map(|a| self.depth(*a)).max().unwrap_or(0),
        };
        if depth > MAX_TREE_DEPTH {
            return Err(FormulaError::TooComplex { column: col });
        }
        self.nodes.push(Node { kind, col, depth });
        Ok(self.nodes.len() - 1)
    }

    fn depth(&self, i: usize) -> usize {
        self.nodes.get(i).map_or(0, |n| n.depth)
    }

    /// Guards recursion: every nested sub-expression enters once.
    fn enter(&mut self) -> Result<(), FormulaError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(FormulaError::TooComplex { column: self.col() });
        }
        Ok(())
    }

    /// `parseExpression`: operators of precedence `>= min_prec`, then, at the top level
    /// (`min_prec == 0`), a ternary.
    fn expression(&mut self, min_prec: u16) -> Result<usize, FormulaError> {
        self.enter()?;
        let mut left = self.primary()?;
        while let Some((op, prec, right_assoc)) = binary(self.peek()) {
            if prec < min_prec {
                break;
            }
            let (_, col) = self.next();
            let right = self.expression(if right_assoc { prec } else { prec + 1 })?;
            left = self.push(NodeKind::Binary(op, left, right), col)?;
        }
        if min_prec == 0 && *self.peek() == Tok::Question {
            let (_, col) = self.next();
            let yes = self.expression(0)?;
            self.expect(&Tok::Colon, "`:` (the else branch of `?`)")?;
            let no = self.expression(0)?;
            left = self.push(NodeKind::Ternary(left, yes, no), col)?;
        }
        self.nesting -= 1;
        Ok(left)
    }

    /// `parsePrimary`: a unary operator, a parenthesized expression, a literal, a name or a
    /// call.
    fn primary(&mut self) -> Result<usize, FormulaError> {
        let (tok, col) = self.next();
        match tok {
            Tok::Op("-") => self.unary(UnOp::Neg, 90, col),
            Tok::Op("+") => self.unary(UnOp::Plus, 90, col),
            Tok::Op("!") => self.unary(UnOp::Not, 50, col),
            Tok::LParen => {
                let inner = self.expression(0)?;
                self.expect(&Tok::RParen, "`)` (to close the `(`)")?;
                Ok(inner)
            }
            Tok::Num(v) => self.push(NodeKind::Num(v), col),
            Tok::Ident(name) => match name.as_str() {
                "true" => self.push(NodeKind::Bool(true), col),
                "false" => self.push(NodeKind::Bool(false), col),
                "nil" => self.push(NodeKind::Nil, col),
                _ if *self.peek() == Tok::LParen => self.call(&name, col),
                _ => self.push(NodeKind::Var(name), col),
            },
            other => {
                self.pos -= 1;
                Err(syntax(
                    col,
                    "an operand (a number, a trigger name, a function call, `(` or `-`)",
                    &other.describe(),
                ))
            }
        }
    }

    fn unary(&mut self, op: UnOp, prec: u16, col: usize) -> Result<usize, FormulaError> {
        let operand = self.expression(prec)?;
        self.push(NodeKind::Unary(op, operand), col)
    }

    /// `name(arg, ...)` with the arity of the function checked.
    fn call(&mut self, name: &str, col: usize) -> Result<usize, FormulaError> {
        let Some(func) = Func::from_name(name) else {
            return Err(syntax(
                col,
                "a known function (abs, ceil, float, floor, int, max, min, round)",
                &format!("`{name}`"),
            ));
        };
        self.enter()?;
        self.pos += 1; // `(`
        let mut args = Vec::new();
        if *self.peek() != Tok::RParen {
            loop {
                args.push(self.expression(0)?);
                if *self.peek() == Tok::Comma {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        self.expect(&Tok::RParen, "`,` or `)` (in the argument list)")?;
        self.nesting -= 1;
        let ok = if func.variadic() {
            !args.is_empty()
        } else {
            args.len() == 1
        };
        if !ok {
            let want = if func.variadic() {
                "at least one argument"
            } else {
                "exactly one argument"
            };
            return Err(syntax(
                col,
                &format!("{want} for `{name}`"),
                &format!("{}", args.len()),
            ));
        }
        self.push(NodeKind::Call(func, args), col)
    }
}
