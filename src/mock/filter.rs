//! The mock tenant's own OData `$filter` parser and evaluator.
//!
//! Written from the reference, not from the client: it accepts exactly the forms known to have
//! worked (TimeStamp compared with unquoted ISO 8601 literals, ActivityIdType/AppIdType compared
//! with quoted string literals, `and`, `or`, `not`, parentheses) and rejects the rest with the
//! 400 a strict server would give.

use chrono::DateTime;

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Time(Comparison, i64),
    Text(TextProperty, bool, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProperty {
    ActivityIdType,
    AppIdType,
}

/// The fields a filter can see.
pub struct Fields<'a> {
    pub time_nanos: i64,
    pub activity_type: &'a str,
    pub app_type: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Quoted(String),
}

pub fn parse(text: &str) -> Result<Expr, String> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
        comparisons: 0,
    };
    let expr = parser.or()?;
    if parser.at != parser.tokens.len() {
        return Err(format!(
            "unexpected {:?} after a complete expression",
            parser.tokens[parser.at]
        ));
    }
    Ok(expr)
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '\'' => {
                chars.next();
                let mut literal = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            literal.push('\'');
                        }
                        Some('\'') => break,
                        Some(other) => literal.push(other),
                        None => return Err("unterminated string literal".into()),
                    }
                }
                tokens.push(Token::Quoted(literal));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '\'' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Parentheses and `not`s open around the current token.
    depth: usize,
    comparisons: usize,
}

/// Limits that keep a hostile `$filter` from exhausting the server's stack (parsing and
/// evaluating are recursive): far beyond anything a client sends.
const MAX_DEPTH: usize = 64;
const MAX_COMPARISONS: usize = 500;

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w == word)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!(
                "the expression is nested more than {MAX_DEPTH} deep"
            ));
        }
        if self.peek_word("not") {
            self.at += 1;
            self.depth += 1;
            let inner = self.unary();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner?)));
        }
        match self.next() {
            Some(Token::Open) => {
                self.depth += 1;
                let inner = self.or();
                self.depth -= 1;
                let inner = inner?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    other => Err(format!("expected ')' but found {other:?}")),
                }
            }
            Some(Token::Word(property)) => {
                self.comparisons += 1;
                if self.comparisons > MAX_COMPARISONS {
                    return Err(format!(
                        "the expression has more than {MAX_COMPARISONS} comparisons"
                    ));
                }
                self.comparison(&property)
            }
            other => Err(format!("expected a comparison but found {other:?}")),
        }
    }

    fn comparison(&mut self, property: &str) -> Result<Expr, String> {
        let operator = match self.next() {
            Some(Token::Word(op)) => match op.as_str() {
                "eq" => Comparison::Eq,
                "ne" => Comparison::Ne,
                "ge" => Comparison::Ge,
                "gt" => Comparison::Gt,
                "le" => Comparison::Le,
                "lt" => Comparison::Lt,
                _ => return Err(format!("unknown operator '{op}'")),
            },
            other => {
                return Err(format!(
                    "expected an operator after {property} but found {other:?}"
                ))
            }
        };
        let value = self.next();
        match property {
            "TimeStamp" => match value {
                Some(Token::Word(literal)) => {
                    let instant = DateTime::parse_from_rfc3339(&literal)
                        .map_err(|_| format!("'{literal}' is not an ISO 8601 date-time literal"))?;
                    let nanos = instant
                        .timestamp_nanos_opt()
                        .ok_or_else(|| format!("'{literal}' is out of range"))?;
                    Ok(Expr::Time(operator, nanos))
                }
                other => Err(format!(
                    "TimeStamp must be compared with an unquoted date-time literal, not {other:?}"
                )),
            },
            "ActivityIdType" | "AppIdType" => {
                let property = if property == "AppIdType" {
                    TextProperty::AppIdType
                } else {
                    TextProperty::ActivityIdType
                };
                let equal = match operator {
                    Comparison::Eq => true,
                    Comparison::Ne => false,
                    _ => return Err("only eq and ne apply to string properties".into()),
                };
                match value {
                    Some(Token::Quoted(text)) => Ok(Expr::Text(property, equal, text)),
                    other => Err(format!(
                        "expected a quoted string literal but found {other:?}"
                    )),
                }
            }
            other => Err(format!("the property '{other}' cannot be filtered on")),
        }
    }
}

impl Expr {
    pub fn matches(&self, fields: &Fields<'_>) -> bool {
        match self {
            Expr::And(a, b) => a.matches(fields) && b.matches(fields),
            Expr::Or(a, b) => a.matches(fields) || b.matches(fields),
            Expr::Not(a) => !a.matches(fields),
            Expr::Time(op, bound) => {
                let t = fields.time_nanos;
                match op {
                    Comparison::Eq => t == *bound,
                    Comparison::Ne => t != *bound,
                    Comparison::Ge => t >= *bound,
                    Comparison::Gt => t > *bound,
                    Comparison::Le => t <= *bound,
                    Comparison::Lt => t < *bound,
                }
            }
            Expr::Text(property, equal, value) => {
                let actual = match property {
                    TextProperty::ActivityIdType => fields.activity_type,
                    TextProperty::AppIdType => fields.app_type,
                };
                (actual == value) == *equal
            }
        }
    }

    /// The inclusive time range every match must fall in, from the `and`-chain's TimeStamp
    /// bounds (for the time index), and whether those bounds are the whole expression.
    pub fn time_range(&self) -> (i64, i64, bool) {
        match self {
            Expr::And(a, b) => {
                let (alo, ahi, aexact) = a.time_range();
                let (blo, bhi, bexact) = b.time_range();
                (alo.max(blo), ahi.min(bhi), aexact && bexact)
            }
            Expr::Time(Comparison::Ge, t) => (*t, i64::MAX, true),
            Expr::Time(Comparison::Gt, t) => (t.saturating_add(1), i64::MAX, true),
            Expr::Time(Comparison::Le, t) => (i64::MIN, *t, true),
            Expr::Time(Comparison::Lt, t) => (i64::MIN, t.saturating_sub(1), true),
            Expr::Time(Comparison::Eq, t) => (*t, *t, true),
            _ => (i64::MIN, i64::MAX, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(t: i64, ty: &'static str, app: &'static str) -> Fields<'static> {
        Fields {
            time_nanos: t,
            activity_type: ty,
            app_type: app,
        }
    }

    #[test]
    fn parses_the_blogs_filter() {
        let e = parse("(TimeStamp ge 2018-01-01T00:00:00Z and TimeStamp le 2018-01-31T23:59:59Z)")
            .unwrap();
        let jan = DateTime::parse_from_rfc3339("2018-01-15T00:00:00Z")
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        assert!(e.matches(&fields(jan, "Move", "Web")));
        assert!(!e.matches(&fields(jan * 2, "Move", "Web")));
        assert!(e.time_range().2);
    }

    #[test]
    fn doubled_quotes_stay_inside_the_literal() {
        let e = parse("ActivityIdType eq 'x'' or 1 eq 1'").unwrap();
        assert_eq!(
            e,
            Expr::Text(TextProperty::ActivityIdType, true, "x' or 1 eq 1".into())
        );
        assert!(!e.matches(&fields(0, "Move", "Web")));
    }

    #[test]
    fn not_and_or_precedence() {
        let e =
            parse("not AppIdType eq 'Web' and (ActivityIdType eq 'A' or ActivityIdType ne 'B')")
                .unwrap();
        assert!(e.matches(&fields(0, "A", "IMAP4")));
        assert!(!e.matches(&fields(0, "A", "Web")));
        assert!(!e.time_range().2);
    }

    #[test]
    fn rejects_what_a_strict_server_rejects() {
        for bad in [
            "TimeStamp ge '2018-01-01T00:00:00Z'",
            "ActivityIdType eq Move",
            "ActivityIdType gt 'A'",
            "Subject eq 'x'",
            "TimeStamp ge 2018-01-01",
            "(TimeStamp ge 2018-01-01T00:00:00Z",
            "AppIdType eq 'Web' extra",
            "ActivityIdType eq 'unterminated",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostile_nesting_and_length_are_refused_not_overflowed() {
        let deep = format!(
            "{}TimeStamp ge 2018-01-01T00:00:00Z{}",
            "(".repeat(5000),
            ")".repeat(5000)
        );
        assert!(parse(&deep).unwrap_err().contains("nested more than"));
        let nots = format!("{}TimeStamp ge 2018-01-01T00:00:00Z", "not ".repeat(5000));
        assert!(parse(&nots).unwrap_err().contains("nested more than"));
        let long = vec!["AppIdType eq 'Web'"; 5000].join(" or ");
        assert!(parse(&long).unwrap_err().contains("comparisons"));
        let ordinary = format!("{}AppIdType eq 'Web'{}", "(".repeat(10), ")".repeat(10));
        assert!(parse(&ordinary).is_ok());
    }
}
