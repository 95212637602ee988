//! Docker's `--format` / `-f` templates: the part of Go's text/template that people type,
//! evaluated over a command's JSON (`{{.Id}}`, `{{.Config.Env}}`, `{{json .}}`,
//! `{{index .Config.Labels "k"}}`, `{{range .Mounts}}…{{end}}`, `{{if …}}…{{else}}…{{end}}`,
//! pipes such as `{{.Name | upper}}`), printed as Go prints values (`[a b]`, `map[k:v]`).

use std::fmt::Write as _;

use serde_json::Value;

/// A template that could not be parsed or run, with Docker's wording.
#[derive(Debug)]
pub(crate) struct TemplateError(pub(crate) String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Literal text.
    Text(String),
    /// `{{ pipeline }}`: its value printed.
    Action(Pipeline),
    /// `{{range P}}body{{else}}empty{{end}}`.
    Range(Pipeline, Vec<Node>, Vec<Node>),
    /// `{{if P}}then{{else}}otherwise{{end}}`.
    If(Pipeline, Vec<Node>, Vec<Node>),
}

/// Commands joined by `|`: each one's value is the last argument of the next.
type Pipeline = Vec<Vec<Operand>>;

/// An argument or a function name.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `.A.B` (empty path: `.`), from the dot.
    Field(Vec<String>),
    /// `$.A.B`, from the template's root.
    Root(Vec<String>),
    /// `"text"`.
    Str(String),
    /// A number, `true`, `false`.
    Literal(Value),
    /// A function name (`json`, `index`, `join`, `upper`, `lower`, `len`, `println`, …).
    Func(String),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    nodes: Vec<Node>,
}

impl Template {
    /// Parses `text` as Docker's CLI does (`template: :1: …` errors).
    pub(crate) fn parse(text: &str) -> Result<Template, TemplateError> {
        let tokens = lex(text)?;
        let mut pos = 0;
        let (nodes, end) = parse_nodes(&tokens, &mut pos)?;
        if let Some(end) = end {
            return Err(err(format!("unexpected {{{{{end}}}}}")));
        }
        Ok(Template { nodes })
    }

    /// Runs the template over `data`.
    pub(crate) fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        exec(&self.nodes, data, data, &mut out)?;
        Ok(out)
    }
}

fn err(message: String) -> TemplateError {
    TemplateError(format!("template: :1: {message}"))
}

/// A lexed piece: literal text or the inside of `{{ }}` (trim markers applied).
#[derive(Debug)]
enum Token {
    Text(String),
    Action(String),
}

fn lex(text: &str) -> Result<Vec<Token>, TemplateError> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let mut literal = &rest[..start];
        let after = &rest[start + 2..];
        let trim_left = after.starts_with("- ");
        if trim_left {
            literal = literal.trim_end();
        }
        if !literal.is_empty() {
            tokens.push(Token::Text(literal.to_owned()));
        }
        let end = after
            .find("}}")
            .ok_or_else(|| err("unclosed action".into()))?;
        let mut inner = &after[..end];
        rest = &after[end + 2..];
        if trim_left {
            inner = &inner[1..];
        }
        if inner.ends_with(" -") {
            inner = &inner[..inner.len() - 1];
            rest = rest.trim_start();
        }
        tokens.push(Token::Action(inner.trim().to_owned()));
    }
    if !rest.is_empty() {
        tokens.push(Token::Text(rest.to_owned()));
    }
    Ok(tokens)
}

/// Parses nodes up to `{{end}}` or `{{else}}` (returned as the second value).
fn parse_nodes(
    tokens: &[Token],
    pos: &mut usize,
) -> Result<(Vec<Node>, Option<String>), TemplateError> {
    let mut nodes = Vec::new();
    while let Some(token) = tokens.get(*pos) {
        *pos += 1;
        match token {
            Token::Text(t) => nodes.push(Node::Text(t.clone())),
            Token::Action(a) if a == "end" || a == "else" => return Ok((nodes, Some(a.clone()))),
            Token::Action(a) if a.starts_with("/*") => {}
            Token::Action(a) => {
                let (keyword, rest) = a.split_once(char::is_whitespace).unwrap_or((a, ""));
                match keyword {
                    "range" | "if" => {
                        let pipeline = parse_pipeline(rest)?;
                        let (body, end) = parse_nodes(tokens, pos)?;
                        let other = match end.as_deref() {
                            Some("else") => match parse_nodes(tokens, pos)? {
                                (other, Some(e)) if e == "end" => other,
                                _ => return Err(err(format!("unexpected EOF in {keyword}"))),
                            },
                            Some(_) => Vec::new(),
                            None => return Err(err(format!("unexpected EOF in {keyword}"))),
                        };
                        nodes.push(if keyword == "range" {
                            Node::Range(pipeline, body, other)
                        } else {
                            Node::If(pipeline, body, other)
                        });
                    }
                    _ => nodes.push(Node::Action(parse_pipeline(a)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn parse_pipeline(text: &str) -> Result<Pipeline, TemplateError> {
    let words = split_words(text)?;
    let mut pipeline = vec![Vec::new()];
    for word in words {
        if word == "|" {
            pipeline.push(Vec::new());
            continue;
        }
        let operand = parse_operand(&word)?;
        if let Some(last) = pipeline.last_mut() {
            last.push(operand);
        }
    }
    if pipeline.iter().any(Vec::is_empty) {
        return Err(err(format!("missing value for command in {text:?}")));
    }
    Ok(pipeline)
}

/// Splits on spaces, keeping quoted strings (with Go's escapes) and `|` apart.
fn split_words(text: &str) -> Result<Vec<String>, TemplateError> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '|' {
            chars.next();
            words.push("|".to_owned());
        } else if c == '"' || c == '`' {
            chars.next();
            let mut s = String::from('"');
            loop {
                match chars.next() {
                    None => return Err(err("unterminated quoted string".into())),
                    Some(q) if q == c => break,
                    Some('\\') if c == '"' => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(other) => s.push(other),
                        None => return Err(err("unterminated quoted string".into())),
                    },
                    Some(other) => s.push(other),
                }
            }
            words.push(s);
        } else {
            let mut w = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() || d == '|' {
                    break;
                }
                w.push(d);
                chars.next();
            }
            words.push(w);
        }
    }
    Ok(words)
}

fn parse_operand(word: &str) -> Result<Operand, TemplateError> {
    let path = |s: &str| -> Vec<String> {
        s.split('.')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Ok(if let Some(s) = word.strip_prefix('"') {
        Operand::Str(s.to_owned())
    } else if word.starts_with('.') {
        Operand::Field(path(word))
    } else if let Some(rest) = word.strip_prefix('$') {
        Operand::Root(path(rest))
    } else if word == "true" || word == "false" {
        Operand::Literal(Value::Bool(word == "true"))
    } else if let Ok(n) = word.parse::<i64>() {
        Operand::Literal(Value::from(n))
    } else if word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Operand::Func(word.to_owned())
    } else {
        return Err(err(format!("bad character in {word:?}")));
    })
}

fn exec(nodes: &[Node], dot: &Value, root: &Value, out: &mut String) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&go_string(&eval_pipeline(p, dot, root)?)),
            Node::If(p, then, other) => {
                let v = eval_pipeline(p, dot, root)?;
                exec(if truthy(&v) { then } else { other }, dot, root, out)?;
            }
            Node::Range(p, body, other) => {
                let items: Vec<Value> = match eval_pipeline(p, dot, root)? {
                    Value::Array(a) => a,
                    Value::Object(o) => o.into_iter().map(|(_, v)| v).collect(),
                    Value::Null => Vec::new(),
                    v => return Err(err(format!("range can't iterate over {}", go_string(&v)))),
                };
                if items.is_empty() {
                    exec(other, dot, root, out)?;
                }
                for item in &items {
                    exec(body, item, root, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(p: &Pipeline, dot: &Value, root: &Value) -> Result<Value, TemplateError> {
    let mut last: Option<Value> = None;
    for command in p {
        let (head, args) = command
            .split_first()
            .ok_or_else(|| err("empty command".into()))?;
        let mut values = args
            .iter()
            .map(|a| operand(a, dot, root))
            .collect::<Result<Vec<_>, _>>()?;
        values.extend(last.take());
        last = Some(match head {
            Operand::Func(name) => call(name, &values)?,
            other if values.is_empty() => operand(other, dot, root)?,
            _ => return Err(err("can't give argument to non-function".into())),
        });
    }
    last.ok_or_else(|| err("empty pipeline".into()))
}

fn operand(op: &Operand, dot: &Value, root: &Value) -> Result<Value, TemplateError> {
    Ok(match op {
        Operand::Field(path) => field(dot, path),
        Operand::Root(path) => field(root, path),
        Operand::Str(s) => Value::String(s.clone()),
        Operand::Literal(v) => v.clone(),
        Operand::Func(name) => call(name, &[])?,
    })
}

/// A field path; a key is matched exactly, else ignoring case. Missing: `<no value>` as Go.
fn field(value: &Value, path: &[String]) -> Value {
    let mut v = value;
    for key in path {
        let next = v.as_object().and_then(|o| {
            o.get(key).or_else(|| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
        });
        match next {
            Some(n) => v = n,
            None => return Value::String("<no value>".to_owned()),
        }
    }
    v.clone()
}

fn call(name: &str, args: &[Value]) -> Result<Value, TemplateError> {
    let one = || {
        args.first()
            .ok_or_else(|| err(format!("wrong number of args for {name}: want 1 got 0")))
    };
    Ok(match name {
        "json" => Value::String(serde_json::to_string(one()?).unwrap_or_default()),
        "upper" => Value::String(go_string(one()?).to_uppercase()),
        "lower" => Value::String(go_string(one()?).to_lowercase()),
        "title" => Value::String(title(&go_string(one()?))),
        "len" => Value::from(match one()? {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            Value::String(s) => s.len(),
            _ => 0,
        }),
        "println" => Value::String(format!(
            "{}\n",
            args.iter().map(go_string).collect::<Vec<_>>().join(" ")
        )),
        "print" => Value::String(args.iter().map(go_string).collect()),
        "join" => match args {
            [Value::Array(items), Value::String(sep)] => {
                Value::String(items.iter().map(go_string).collect::<Vec<_>>().join(sep))
            }
            _ => return Err(err("join takes a list and a separator".into())),
        },
        "split" => match args {
            [Value::String(s), Value::String(sep)] => {
                Value::Array(s.split(sep.as_str()).map(Value::from).collect())
            }
            _ => return Err(err("split takes a string and a separator".into())),
        },
        "index" => {
            let (first, keys) = args
                .split_first()
                .ok_or_else(|| err("wrong number of args for index".into()))?;
            let mut v = first.clone();
            for k in keys {
                v = match (&v, k) {
                    (Value::Object(o), Value::String(s)) => {
                        o.get(s).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize))
                        .cloned()
                        .ok_or_else(|| err(format!("index out of range: {n}")))?,
                    _ => return Err(err(format!("can't index item of type {}", kind(&v)))),
                };
            }
            v
        }
        "eq" => Value::Bool(args.len() >= 2 && args[1..].iter().any(|a| a == &args[0])),
        "ne" => Value::Bool(args.len() == 2 && args[0] != args[1]),
        "not" => Value::Bool(!truthy(one()?)),
        "and" => args
            .iter()
            .find(|a| !truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => args
            .iter()
            .find(|a| truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        _ => return Err(err(format!("function {name:?} not defined"))),
    })
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    out
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

/// Go's truth: false, 0, nil, and empty strings, slices and maps are false.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A value as Go's `fmt` prints it with `%v`: `[a b]` for slices, `map[k:v]` with sorted keys.
pub(crate) fn go_string(v: &Value) -> String {
    let mut out = String::new();
    write_go(v, &mut out);
    out
}

fn write_go(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_go(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_go(&map[k], out);
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> String {
        Template::parse(t).and_then(|t| t.render(v)).unwrap()
    }

    #[test]
    fn docker_forms() {
        let v = json!({"Id": "sha256:ab", "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v"}},
                       "State": {"Status": "running", "Running": true}, "Mounts": [{"Name": "m"}]});
        assert_eq!(render("{{.Id}}", &v), "sha256:ab");
        assert_eq!(render("{{.Config.Env}}", &v), "[A=1 B=2]");
        assert_eq!(render("{{json .Config.Env}}", &v), r#"["A=1","B=2"]"#);
        assert_eq!(
            render("{{.State.Status}} {{.State.Running}}", &v),
            "running true"
        );
        assert_eq!(render(r#"{{index .Config.Labels "k"}}"#, &v), "v");
        assert_eq!(render("{{.Config.Labels}}", &v), "map[k:v]");
        assert_eq!(render("{{range .Mounts}}<{{.Name}}>{{end}}", &v), "<m>");
        assert_eq!(
            render("{{if .State.Running}}up{{else}}down{{end}}", &v),
            "up"
        );
        assert_eq!(render("{{.State.Status | upper}}", &v), "RUNNING");
        assert_eq!(render(r#"{{join .Config.Env ","}}"#, &v), "A=1,B=2");
        assert_eq!(render("{{.Nope}}", &v), "<no value>");
        assert_eq!(render("a {{- .Id -}} b", &v), "asha256:abb");
        assert_eq!(render("{{json .}}", &json!({"a": 1})), r#"{"a":1}"#);
    }

    #[test]
    fn errors() {
        assert!(Template::parse("{{.Id").is_err());
        assert!(Template::parse("{{range .X}}").is_err());
        assert!(Template::parse("{{nope .X}}")
            .and_then(|t| t.render(&json!({})))
            .is_err());
    }
}
