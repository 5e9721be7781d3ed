//! ONDC's own retail 1.2.5 validator rules, applied to the callbacks Haat sends.
//!
//! The rules are ONDC's automation-specifications rule trees (protocol/rules-1.2.5/*.yaml),
//! turned into JSON by protocol/tools/build_rules.py and embedded here. The semantics follow
//! the code ONDC generates from them (automation-validation-compiler, TypeScript templates):
//!
//! * A rule is a group (`_RETURN_` is a list of rules) or a leaf (`_RETURN_` is a condition).
//!   Every other key that is not `_UPPER_` is a variable: a JSONPath string (its value is the
//!   list of everything the path selects, arrays flattened) or a literal list. A rule sees
//!   its own variables and those of the groups above it (its own win).
//! * `_SCOPE_` (default `$`) is a path; the rule runs once per selected element, its paths
//!   read from that element. A group's children still read the whole body (ONDC calls them
//!   with the original input), so on a group `_SCOPE_` only decides whether they run.
//! * `_CONTINUE_` is a condition; when it holds for an element, the rule is skipped there.
//! * Conditions: `x are present` (at least one value, and none null, "", "null" or
//!   "undefined"), `x are unique`, `x all in y` / `x any in y` (fail when x selects nothing
//!   and y is not empty), `x none in y`, `x equal to y` (same values in the same order),
//!   `x follow regex r` (fails when x selects nothing; every value must match every
//!   pattern), joined by `&&`, `||`, `!( )` and parentheses. Scalars compare as text, so an
//!   enum's `true` accepts "true".
//! * So "optional" is spelled out: a rule that may meet an absent field carries
//!   `_CONTINUE_: "!(attr are present)"`; without it, an absent field fails regex and enum
//!   checks (226 of the 270 `_CONTINUE_`s in RET16's callback rules are exactly that guard).
//!
//! JSONPath subset: `$`, `.key`, `['key']`, `[0]`, `[*]` / `.*`, `[?(@.a.b=='x')]` and `!=`.
//! Regexes are ONDC's JavaScript patterns: `\\` is read as `\` (see build_rules.py), `\d` and
//! `\w` are ASCII, a `{` that starts no quantifier is a literal, and the ISO 8601 duration
//! patterns' look-aheads are replaced by equivalents the regex crate accepts. A rule whose
//! path, condition or pattern this file cannot read (other look-arounds, back-references,
//! `greater than` / `less than`, `$._EXTERNAL` session data) is skipped and counted, never
//! failed: see `coverage`.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// The node's known breaks.

/// Rules Haat's callbacks break today, as (action, rule path), skipped by `assert_valid` in
/// orders.rs so the order tests stay green while the node is fixed. Remove entries as the
/// node complies (`rule_problems` still reports them).
const KNOWN_NODE_BREAKS: &[(&str, &str)] = &[
    // Ids with a hyphen. ONDC writes `^[0-9a-zA-Z/-_]{1,36}$`, where `/-_` is the range
    // U+002F..U+005F, so "-" itself is refused (JavaScript reads it the same way). Haat sends
    // the catalogue's ids: "molela-terracotta-artisans", "molela-terracotta-artisans-store",
    // "molela-terracotta-artisans-1".
    ("on_select", "ON_SELECT_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_ID"),
    ("on_select", "ON_SELECT_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_LOCATIONS_ID"),
    ("on_select", "ON_SELECT_ORDER/ORDER_ITEMS/ITEMS_ID"),
    ("on_init", "ON_INIT_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_ID"),
    ("on_init", "ON_INIT_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_LOCATIONS_ID"),
    ("on_init", "ON_INIT_ORDER/ORDER_ITEMS/ON_SELECT_ITEMS/ITEMS_ID"),
    ("on_confirm", "ON_CONFIRM_ORDER/CONFIRM_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_ID"),
    ("on_confirm", "ON_CONFIRM_ORDER/CONFIRM_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_LOCATIONS_ID"),
    ("on_confirm", "ON_CONFIRM_ORDER/CONFIRM_ORDER/ORDER_ITEMS/ON_SELECT_ITEMS/ITEMS_ID"),
    ("on_status", "ON_STATUS_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_ID"),
    ("on_status", "ON_STATUS_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_LOCATIONS_ID"),
    ("on_status", "ON_STATUS_ORDER/ORDER_ITEMS/ON_SELECT_ITEMS/ITEMS_ID"),
    ("on_cancel", "ON_CANCEL_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_ID"),
    ("on_cancel", "ON_CANCEL_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_LOCATIONS_ID"),
    ("on_cancel", "ON_CANCEL_ORDER/ORDER_ITEMS/ON_SELECT_ITEMS/ITEMS_ID"),
    ("on_cancel", "ON_CANCEL_ORDER/ORDER_FULFILLMENTS/FULFILLMENTS_START/FULFILLMENTS_START_LOCATION/FULFILLMENTS_START_LOCATION_ID"),
    ("on_update", "ON_UPDATE_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_ID"),
    ("on_update", "ON_UPDATE_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_LOCATIONS_ID"),
    ("on_update", "ON_UPDATE_ORDER/ORDER_ITEMS/ON_SELECT_ITEMS/ITEMS_ID"),
    ("on_update", "ON_UPDATE_ORDER/ORDER_FULFILLMENTS/FULFILLMENTS_START/FULFILLMENTS_START_LOCATION/FULFILLMENTS_START_LOCATION_ID"),
    // The same ids in the requests of `haat buyer`, which names what the catalogue offers.
    ("select", "SELECT_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_ID"),
    ("select", "SELECT_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_LOCATIONS_ID"),
    ("select", "SELECT_ORDER/ORDER_ITEMS/ITEMS_ID"),
    ("select", "SELECT_ORDER/ORDER_ITEMS/ITEMS_LOCATION_ID"),
    ("init", "INIT_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_ID"),
    ("init", "INIT_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_LOCATIONS_ID"),
    ("init", "INIT_ORDER/ORDER_ITEMS/ON_SELECT_ITEMS/ITEMS_ID"),
    ("confirm", "CONFIRM_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_ID"),
    ("confirm", "CONFIRM_ORDER/ORDER_PROVIDER/ORDER_PROVIDER_LOCATIONS_ID"),
    ("confirm", "CONFIRM_ORDER/ORDER_ITEMS/ON_SELECT_ITEMS/ITEMS_ID"),
    // Routing "P2H2P" (the 1.2.0 OpenAPI's value); the rule lists only "P2P" and "H2P2P".
    ("on_status", "ON_STATUS_ORDER/ORDER_FULFILLMENTS/FULFILLMENTS_TAGS/TAGS_ROUTING/ROUTING_TYPE"),
    // Fulfillment states "In-transit", "At-destination-hub", "Delivery-failed" (1.2.0's
    // P2H2P states); the rule lists Pending, Packed, Agent-assigned, Order-picked-up,
    // Out-for-delivery, Order-delivered, Cancelled and RTO-Initiated/-Disposed/-Delivered.
    ("on_status", "ON_STATUS_ORDER/ORDER_FULFILLMENTS/FULFILLMENTS_STATE_DESCRIPTOR_CODE"),
    // Seller cancellation reason "024" (store rush; in log-validation-utility's 1.2.5 list),
    // which this rule's list (001-005, 009-011, 013, 014, 016-018, 020, 051-053, 998, 999)
    // leaves out.
    ("on_cancel", "ON_CANCEL_ORDER/ORDER_CANCELLATION_REASON_ID"),
    // A link-only on_track (tracking.url, no tracking.location): the rules require
    // location.gps, location.time.timestamp and location.updated_at.
    ("on_track", "ON_TRACK_TRACKING/TRACKING_LOCATION/TRACKING_LOCATION_GPS"),
    ("on_track", "ON_TRACK_TRACKING/TRACKING_LOCATION/TRACKING_LOCATION_TIME_TIMESTAMP"),
    ("on_track", "ON_TRACK_TRACKING/TRACKING_LOCATION/TRACKING_LOCATION_UPDATED_AT"),
];

/// Error callbacks (a body with `error`) whose message breaks the rules today, as (action,
/// error code). RET16's rule trees have no error gate, so an error callback must carry a
/// complete order too; for these Haat sends none or a partial one. Their message rules are
/// skipped; the context rules still apply.
const KNOWN_ERROR_CALLBACK_BREAKS: &[(&str, &str)] = &[
    // Unknown item: no quote, no fulfillments, no fulfillment_id on items.
    ("on_select", "30004"),
    // Bad billing phone: the buyer's bad phone "12345" is echoed in billing.
    ("on_init", "31002"),
    // Quote or payment differs from on_init: the confirm's order is echoed with the error;
    // it has no @ondc/org/TAT and no fulfilment state, which only a confirmed order gets.
    ("on_confirm", "31002"),
    // Store closed / out of stock: order "Cancelled" (rule: Created or Accepted), a "Cancel"
    // fulfillment (rule: Delivery, Self-Pickup, Buyer-Delivery), fulfillment state
    // "Cancelled" (rule: Pending).
    ("on_confirm", "30017"),
    ("on_confirm", "40002"),
    // Cancel refused: the order as it stands, "Created" with a "Pending" fulfillment (rule:
    // "Cancelled"; fulfillment Cancelled or RTO-*).
    ("on_cancel", "30012"),
    ("on_cancel", "30014"),
    // Late delivery-detail change refused: fulfillment state "Order-picked-up", not in
    // on_update's list.
    ("on_update", "50002"),
    // Unknown order: no order at all (31 rules).
    ("on_status", "30018"),
];

// ---------------------------------------------------------------------------------------------
// Public entry points.

/// Every rule of ONDC's 1.2.5 rule tree for `domain` (e.g. "ONDC:RET16") and `action` that
/// `body` breaks, each naming the rule's `_NAME_` path and the values it saw. Empty when the
/// body complies, or when there are no rules for that domain or action.
pub fn rule_problems(domain: &str, action: &str, body: &Value) -> Vec<String> {
    match book(domain) {
        Some(book) => book
            .problems(action, body)
            .iter()
            .map(|p| p.to_string())
            .collect(),
        None => Vec::new(),
    }
}

/// `rule_problems` without the breaks listed in `KNOWN_NODE_BREAKS` and
/// `KNOWN_ERROR_CALLBACK_BREAKS`.
pub fn unexpected_rule_problems(domain: &str, action: &str, body: &Value) -> Vec<String> {
    let error_code = body["error"]["code"].as_str().unwrap_or("");
    let known_error = KNOWN_ERROR_CALLBACK_BREAKS.contains(&(action, error_code));
    match book(domain) {
        Some(book) => book
            .problems(action, body)
            .iter()
            .filter(|p| !KNOWN_NODE_BREAKS.contains(&(action, p.rule.as_str())))
            // For a known error callback only the context rules (ON_X_CONTEXT/...,
            // REQUIRED_CONTEXT_FIELDS/...) still count.
            .filter(|p| !known_error || p.rule.split('/').next().unwrap_or("").contains("CONTEXT"))
            .map(|p| p.to_string())
            .collect(),
        None => Vec::new(),
    }
}

/// How many leaf rules of an action this file evaluates, and the ones it skips with why.
pub struct Coverage {
    pub checked: usize,
    pub skipped: Vec<(String, String)>,
}

pub fn coverage(domain: &str, action: &str) -> Option<Coverage> {
    let rules = book(domain)?.actions.get(action)?;
    let mut coverage = Coverage {
        checked: 0,
        skipped: Vec::new(),
    };
    fn count(rule: &Rule, parent_skipped: Option<&str>, coverage: &mut Coverage) {
        let why = parent_skipped.or(rule.unreadable.as_deref());
        match &rule.body {
            Body::Group(children) => {
                for child in children {
                    count(child, why, coverage);
                }
            }
            Body::Leaf { .. } => match why {
                Some(why) => coverage.skipped.push((rule.name.clone(), why.to_owned())),
                None => coverage.checked += 1,
            },
        }
    }
    for rule in rules {
        count(rule, None, &mut coverage);
    }
    Some(coverage)
}

fn book(domain: &str) -> Option<&'static Book> {
    static RET10: OnceLock<Book> = OnceLock::new();
    static RET12: OnceLock<Book> = OnceLock::new();
    static RET16: OnceLock<Book> = OnceLock::new();
    let (cell, text) = match domain {
        "ONDC:RET10" => (
            &RET10,
            include_str!("../../protocol/rules-1.2.5/RET10.validations.json"),
        ),
        "ONDC:RET12" => (
            &RET12,
            include_str!("../../protocol/rules-1.2.5/RET12.validations.json"),
        ),
        "ONDC:RET16" => (
            &RET16,
            include_str!("../../protocol/rules-1.2.5/RET16.validations.json"),
        ),
        _ => return None,
    };
    Some(cell.get_or_init(|| {
        let file: Value = serde_json::from_str(text).expect("the rules JSON parses");
        Book::new(&file["_TESTS_"])
    }))
}

// ---------------------------------------------------------------------------------------------
// Rules, compiled once per domain.

struct Book {
    actions: HashMap<String, Vec<Rule>>,
}

struct Rule {
    /// `_NAME_`s from the top of the action's tree down to this rule, joined by "/".
    name: String,
    scope: Option<Path>,
    /// Every variable this rule's own conditions use, resolved through the groups above.
    vars: HashMap<String, Var>,
    skip: Option<Expr>,
    body: Body,
    /// Why this file cannot evaluate the rule (it and, for a group, everything below it).
    unreadable: Option<String>,
}

enum Body {
    Leaf {
        condition: String,
        check: Option<Expr>,
    },
    Group(Vec<Rule>),
}

enum Var {
    Path(String, Path),
    List(Vec<Value>),
    Patterns(Vec<String>, Vec<Regex>),
}

struct Problem {
    action: String,
    rule: String,
    text: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.action, self.rule, self.text)
    }
}

const RESERVED: [&str; 7] = [
    "_NAME_",
    "_DESCRIPTION_",
    "_SCOPE_",
    "_CONTINUE_",
    "_RETURN_",
    "_ERROR_CODE_",
    "_SUCCESS_CODE_",
];

impl Book {
    fn new(tests: &Value) -> Book {
        let mut actions = HashMap::new();
        for (action, rules) in tests.as_object().into_iter().flatten() {
            let compiled = rules
                .as_array()
                .into_iter()
                .flatten()
                .map(|rule| compile(rule, "", &HashMap::new()))
                .collect();
            actions.insert(action.clone(), compiled);
        }
        Book { actions }
    }

    fn problems(&self, action: &str, body: &Value) -> Vec<Problem> {
        let mut problems = Vec::new();
        for rule in self.actions.get(action).into_iter().flatten() {
            run(rule, action, body, &mut problems);
        }
        let mut seen = std::collections::HashSet::new();
        problems.retain(|p| seen.insert(p.to_string()));
        problems
    }
}

fn compile<'r>(node: &'r Value, prefix: &str, inherited: &HashMap<&'r str, &'r Value>) -> Rule {
    let name = node["_NAME_"].as_str().unwrap_or("?");
    let name = if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    };
    let mut declared = inherited.clone();
    for (key, value) in node.as_object().into_iter().flatten() {
        if !RESERVED.contains(&key.as_str()) {
            declared.insert(key.as_str(), value);
        }
    }
    let mut unreadable = None;
    let mut note = |why: String| {
        unreadable.get_or_insert(why);
    };
    let scope = match node
        .get("_SCOPE_")
        .map(|s| s.as_str().ok_or("a _SCOPE_ that is not text"))
    {
        None => None,
        Some(Ok(text)) => parse_path(text)
            .map_err(|e| note(format!("_SCOPE_ {text}: {e}")))
            .ok(),
        Some(Err(e)) => {
            note(e.into());
            None
        }
    };
    let skip = match node.get("_CONTINUE_") {
        None => None,
        Some(Value::String(text)) => parse_condition(text)
            .map_err(|e| note(format!("_CONTINUE_ {text:?}: {e}")))
            .ok(),
        Some(other) => {
            note(format!("_CONTINUE_ {other} is not a condition"));
            None
        }
    };
    let body = match &node["_RETURN_"] {
        Value::Array(children) => Body::Group(
            children
                .iter()
                .map(|child| compile(child, &name, &declared))
                .collect(),
        ),
        Value::String(text) => Body::Leaf {
            condition: text.clone(),
            check: parse_condition(text)
                .map_err(|e| note(format!("_RETURN_ {text:?}: {e}")))
                .ok(),
        },
        other => {
            note(format!("_RETURN_ {other} is neither a condition nor rules"));
            Body::Group(Vec::new())
        }
    };
    let mut uses = Vec::new();
    if let Some(skip) = &skip {
        skip.names(&mut uses);
    }
    if let Body::Leaf {
        check: Some(check), ..
    } = &body
    {
        check.names(&mut uses);
    }
    let mut vars = HashMap::new();
    for (var, as_patterns) in uses {
        match resolve(var, as_patterns, &declared) {
            Ok(resolved) => {
                vars.insert(var.to_owned(), resolved);
            }
            Err(e) => note(format!("variable {var}: {e}")),
        }
    }
    Rule {
        name,
        scope,
        vars,
        skip,
        body,
        unreadable,
    }
}

fn resolve(name: &str, as_patterns: bool, declared: &HashMap<&str, &Value>) -> Result<Var, String> {
    let value = declared.get(name).ok_or("not declared")?;
    match value {
        Value::String(text) if !as_patterns => {
            if text.starts_with("$._EXTERNAL") {
                return Err("session data ($._EXTERNAL) is not available here".into());
            }
            Ok(Var::Path(text.clone(), parse_path(text)?))
        }
        Value::Array(list) if as_patterns => {
            // Kept as read (`\\` → `\`), for messages.
            let texts: Vec<String> = list
                .iter()
                .map(|p| {
                    p.as_str()
                        .map(|p| p.replace(r"\\", r"\"))
                        .ok_or("a pattern that is not text")
                })
                .collect::<Result<_, _>>()?;
            let compiled = list
                .iter()
                .map(|p| js_regex(p.as_str().unwrap_or_default()))
                .collect::<Result<_, _>>()?;
            Ok(Var::Patterns(texts, compiled))
        }
        Value::Array(list) => Ok(Var::List(list.clone())),
        other => Err(format!("{other} is not a path or a list here")),
    }
}

// ---------------------------------------------------------------------------------------------
// Running rules.

fn run(rule: &Rule, action: &str, root: &Value, problems: &mut Vec<Problem>) {
    if rule.unreadable.is_some() {
        return;
    }
    let elements = match &rule.scope {
        Some(scope) => select(root, scope),
        None => vec![root],
    };
    for element in elements {
        let values: HashMap<&str, Vec<&Value>> = rule
            .vars
            .iter()
            .map(|(name, var)| {
                let values = match var {
                    Var::Path(_, path) => flatten(select(element, path)),
                    Var::List(list) => list.iter().collect(),
                    Var::Patterns(..) => Vec::new(),
                };
                (name.as_str(), values)
            })
            .collect();
        if rule
            .skip
            .as_ref()
            .is_some_and(|skip| skip.holds(&values, &rule.vars))
        {
            continue;
        }
        match &rule.body {
            Body::Group(children) => {
                for child in children {
                    run(child, action, root, problems);
                }
            }
            Body::Leaf {
                condition,
                check: Some(check),
            } => {
                if !check.holds(&values, &rule.vars) {
                    problems.push(Problem {
                        action: action.to_owned(),
                        rule: rule.name.clone(),
                        text: describe(condition, check, &values, &rule.vars),
                    });
                    return;
                }
            }
            Body::Leaf { check: None, .. } => {}
        }
    }
}

fn describe(
    condition: &str,
    check: &Expr,
    values: &HashMap<&str, Vec<&Value>>,
    vars: &HashMap<String, Var>,
) -> String {
    let mut names = Vec::new();
    check.names(&mut names);
    let mut seen = Vec::new();
    let mut parts = Vec::new();
    for (name, _) in names {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let shown = |list: Vec<String>| {
            let more = list.len().saturating_sub(12);
            let mut list: Vec<String> = list.into_iter().take(12).collect();
            if more > 0 {
                list.push(format!("… {more} more"));
            }
            format!("[{}]", list.join(", "))
        };
        let json = |v: &&Value| v.to_string();
        parts.push(match &vars[name] {
            Var::Path(text, _) => format!(
                "{name} = {text} → {}",
                shown(values[name].iter().map(json).collect())
            ),
            Var::List(list) => format!(
                "{name} = {}",
                shown(list.iter().map(|v| v.to_string()).collect())
            ),
            Var::Patterns(texts, _) => format!(
                "{name} = {}",
                shown(texts.iter().map(|t| format!("/{t}/")).collect())
            ),
        });
    }
    format!("wants `{condition}`; {}", parts.join("; "))
}

// ---------------------------------------------------------------------------------------------
// Conditions.

#[derive(Debug)]
enum Expr {
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Present(String),
    Unique(String),
    AllIn(String, String),
    AnyIn(String, String),
    NoneIn(String, String),
    EqualTo(String, String),
    FollowRegex(String, String),
}

impl Expr {
    /// Every variable the condition uses, and whether it is used as a list of patterns.
    fn names<'e>(&'e self, out: &mut Vec<(&'e str, bool)>) {
        match self {
            Expr::Not(e) => e.names(out),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.names(out);
                b.names(out);
            }
            Expr::Present(x) | Expr::Unique(x) => out.push((x, false)),
            Expr::AllIn(x, y) | Expr::AnyIn(x, y) | Expr::NoneIn(x, y) | Expr::EqualTo(x, y) => {
                out.push((x, false));
                out.push((y, false));
            }
            Expr::FollowRegex(x, r) => {
                out.push((x, false));
                out.push((r, true));
            }
        }
    }

    fn holds(&self, values: &HashMap<&str, Vec<&Value>>, vars: &HashMap<String, Var>) -> bool {
        let get = |name: &str| values[name].as_slice();
        match self {
            Expr::Not(e) => !e.holds(values, vars),
            Expr::And(a, b) => a.holds(values, vars) && b.holds(values, vars),
            Expr::Or(a, b) => a.holds(values, vars) || b.holds(values, vars),
            Expr::Present(x) => {
                let x = get(x);
                !x.is_empty() && x.iter().all(|v| !absent(v))
            }
            Expr::Unique(x) => {
                let x = get(x);
                let keys: std::collections::HashSet<String> = x.iter().map(|v| key(v)).collect();
                keys.len() == x.len()
            }
            Expr::AllIn(x, y) => {
                let (x, y) = (get(x), get(y));
                !nothing_against_some(x, y.len()) && x.iter().all(|v| y.iter().any(|w| same(v, w)))
            }
            Expr::AnyIn(x, y) => {
                let (x, y) = (get(x), get(y));
                !nothing_against_some(x, y.len()) && x.iter().any(|v| y.iter().any(|w| same(v, w)))
            }
            Expr::NoneIn(x, y) => {
                let (x, y) = (get(x), get(y));
                x.iter().all(|v| !y.iter().any(|w| same(v, w)))
            }
            Expr::EqualTo(x, y) => {
                let (x, y) = (get(x), get(y));
                x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
            }
            Expr::FollowRegex(x, r) => {
                let x = get(x);
                let Some(Var::Patterns(_, patterns)) = vars.get(r.as_str()) else {
                    return false;
                };
                !nothing_against_some(x, patterns.len())
                    && patterns
                        .iter()
                        .all(|p| x.iter().all(|v| p.is_match(&text(v))))
            }
        }
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Not,
    And,
    Or,
    Word(String),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            '!' => out.push(Token::Not),
            '&' | '|' => {
                if chars.next() != Some(c) {
                    return Err(format!("a lone {c}"));
                }
                out.push(if c == '&' { Token::And } else { Token::Or });
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let mut word = c.to_string();
                while let Some(&n) = chars.peek() {
                    if !(n.is_ascii_alphanumeric() || n == '_') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
            c => return Err(format!("unexpected {c:?}")),
        }
    }
    Ok(out)
}

fn parse_condition(text: &str) -> Result<Expr, String> {
    let tokens = tokens(text)?;
    let mut at = 0;
    let expr = parse_or(&tokens, &mut at)?;
    if at != tokens.len() {
        return Err(format!("unexpected {:?}", tokens[at]));
    }
    Ok(expr)
}

fn parse_or(tokens: &[Token], at: &mut usize) -> Result<Expr, String> {
    let mut left = parse_and(tokens, at)?;
    while tokens.get(*at) == Some(&Token::Or) {
        *at += 1;
        left = Expr::Or(Box::new(left), Box::new(parse_and(tokens, at)?));
    }
    Ok(left)
}

fn parse_and(tokens: &[Token], at: &mut usize) -> Result<Expr, String> {
    let mut left = parse_unary(tokens, at)?;
    while tokens.get(*at) == Some(&Token::And) {
        *at += 1;
        left = Expr::And(Box::new(left), Box::new(parse_unary(tokens, at)?));
    }
    Ok(left)
}

fn parse_unary(tokens: &[Token], at: &mut usize) -> Result<Expr, String> {
    match tokens.get(*at) {
        Some(Token::Not) => {
            *at += 1;
            Ok(Expr::Not(Box::new(parse_unary(tokens, at)?)))
        }
        Some(Token::Open) => {
            *at += 1;
            let inner = parse_or(tokens, at)?;
            if tokens.get(*at) != Some(&Token::Close) {
                return Err("a ( without its )".into());
            }
            *at += 1;
            Ok(inner)
        }
        _ => parse_test(tokens, at),
    }
}

fn parse_test(tokens: &[Token], at: &mut usize) -> Result<Expr, String> {
    let mut word = || match tokens.get(*at) {
        Some(Token::Word(w)) => {
            *at += 1;
            Ok(w.clone())
        }
        other => Err(format!("expected a word, found {other:?}")),
    };
    let left = word()?;
    let (first, second) = (word()?, word()?);
    Ok(match (first.as_str(), second.as_str()) {
        ("are", "present") => Expr::Present(left),
        ("are", "unique") => Expr::Unique(left),
        ("all", "in") => Expr::AllIn(left, word()?),
        ("any", "in") => Expr::AnyIn(left, word()?),
        ("none", "in") => Expr::NoneIn(left, word()?),
        ("equal", "to") => Expr::EqualTo(left, word()?),
        ("follow", "regex") => Expr::FollowRegex(left, word()?),
        (a, b) => return Err(format!("the operator `{a} {b}` is not supported")),
    })
}

/// ONDC's `all in`, `any in` and `follow regex` fail when the left side selects nothing
/// and the right side is not empty.
fn nothing_against_some(left: &[&Value], right: usize) -> bool {
    left.is_empty() && right > 0
}

// ---------------------------------------------------------------------------------------------
// Values.

/// What ONDC's `are present` counts as missing.
fn absent(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty() || s == "null" || s == "undefined",
        _ => false,
    }
}

/// A value as JavaScript's String() writes it, which is what RegExp.test sees.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 1e21 => {
                format!("{f:.0}")
            }
            _ => n.to_string(),
        },
        Value::Array(items) => items
            .iter()
            .map(|v| if v.is_null() { String::new() } else { text(v) })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// Scalars compare as text (an enum's `true` accepts "true"); objects and arrays as JSON.
fn same(a: &Value, b: &Value) -> bool {
    key(a) == key(b)
}

fn key(value: &Value) -> String {
    match value {
        Value::Object(_) | Value::Array(_) => format!("json:{value}"),
        _ => text(value),
    }
}

fn flatten(values: Vec<&Value>) -> Vec<&Value> {
    let mut out = Vec::new();
    fn push<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
        match value {
            Value::Array(items) => items.iter().for_each(|v| push(v, out)),
            v => out.push(v),
        }
    }
    for value in values {
        push(value, &mut out);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// JSONPath, the subset the rules use.

type Path = Vec<Step>;

#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    All,
    Filter {
        field: Vec<String>,
        equal: bool,
        value: String,
    },
}

fn parse_path(text: &str) -> Result<Path, String> {
    let rest = text
        .strip_prefix('$')
        .ok_or_else(|| format!("{text} does not start with $"))?;
    let mut steps = Vec::new();
    let mut rest = rest;
    while !rest.is_empty() {
        if rest.starts_with("..") {
            return Err("deep scan (..) is not supported".into());
        } else if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            if key.is_empty() {
                return Err(format!("an empty key in {text}"));
            }
            steps.push(if key == "*" {
                Step::All
            } else {
                Step::Key(key.to_owned())
            });
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let (step, after) = parse_bracket(after).map_err(|e| format!("{e} in {text}"))?;
            steps.push(step);
            rest = after;
        } else {
            return Err(format!("cannot read {rest:?} in {text}"));
        }
    }
    Ok(steps)
}

fn parse_bracket(after: &str) -> Result<(Step, &str), String> {
    if let Some(after) = after.strip_prefix("*]") {
        return Ok((Step::All, after));
    }
    for quote in ['\'', '"'] {
        if let Some(inner) = after.strip_prefix(quote) {
            let end = inner
                .find(&format!("{quote}]"))
                .ok_or("an unclosed quoted key")?;
            return Ok((Step::Key(inner[..end].to_owned()), &inner[end + 2..]));
        }
    }
    if let Some(inner) = after.strip_prefix("?(") {
        let end = inner.find(")]").ok_or("an unclosed filter")?;
        let filter = &inner[..end];
        let (field, value, equal) = if let Some((f, v)) = filter.split_once("==") {
            (f, v, true)
        } else if let Some((f, v)) = filter.split_once("!=") {
            (f, v, false)
        } else {
            return Err(format!("the filter {filter} is not supported"));
        };
        let field = field
            .trim()
            .strip_prefix("@.")
            .ok_or_else(|| format!("the filter {filter} is not supported"))?;
        let value = value.trim();
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
            .ok_or_else(|| format!("the filter {filter} does not compare with a quoted text"))?;
        let field = field.split('.').map(str::to_owned).collect();
        let step = Step::Filter {
            field,
            equal,
            value: value.to_owned(),
        };
        return Ok((step, &inner[end + 2..]));
    }
    let end = after.find(']').ok_or("an unclosed [")?;
    let index = after[..end]
        .parse()
        .map_err(|_| format!("[{}] is not supported", &after[..end]))?;
    Ok((Step::Index(index), &after[end + 1..]))
}

fn select<'a>(root: &'a Value, path: &[Step]) -> Vec<&'a Value> {
    let mut current = vec![root];
    for step in path {
        let mut next = Vec::new();
        for value in current {
            let children = || -> Box<dyn Iterator<Item = &'a Value>> {
                match value {
                    Value::Array(items) => Box::new(items.iter()),
                    Value::Object(map) => Box::new(map.values()),
                    _ => Box::new(std::iter::empty()),
                }
            };
            match step {
                Step::Key(key) => next.extend(value.as_object().and_then(|m| m.get(key))),
                Step::Index(i) => next.extend(value.as_array().and_then(|a| a.get(*i))),
                Step::All => next.extend(children()),
                Step::Filter {
                    field,
                    equal,
                    value: wanted,
                } => next.extend(children().filter(|child| {
                    let found = field
                        .iter()
                        .try_fold(*child, |v, k| v.as_object().and_then(|m| m.get(k)));
                    let matches = found.is_some_and(|v| !v.is_object() && text(v) == *wanted);
                    matches == *equal
                })),
            }
        }
        current = next;
    }
    current
}

// ---------------------------------------------------------------------------------------------
// ONDC's JavaScript patterns as Rust regexes.

/// The ISO 8601 duration, as ONDC writes it with look-aheads ("P" must be followed by a
/// digit or "T", and "T" by a digit) and as an equivalent without them.
const DURATION: &str = concat!(
    r"^P(?:(?:[0-9]+Y(?:[0-9]+M)?(?:[0-9]+W)?(?:[0-9]+D)?|[0-9]+M(?:[0-9]+W)?(?:[0-9]+D)?",
    r"|[0-9]+W(?:[0-9]+D)?|[0-9]+D)(?:T(?:[0-9]+H(?:[0-9]+M)?(?:[0-9]+S)?|[0-9]+M(?:[0-9]+S)?",
    r"|[0-9]+S))?|T(?:[0-9]+H(?:[0-9]+M)?(?:[0-9]+S)?|[0-9]+M(?:[0-9]+S)?|[0-9]+S))$"
);

/// Patterns (after `\\` → `\`) that need look-around, and equivalents without it.
const REWRITES: &[(&str, &str)] = &[
    (
        r"^P(?=\d|T)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$",
        DURATION,
    ),
    (
        r"^P(?=\d|T)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$",
        DURATION,
    ),
    // No `$` after the first branch: any text that starts with P and a digit or T, or "".
    (
        r"^P(?=\d|T)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?|^$",
        r"^P[0-9T]|^$",
    ),
];

fn js_regex(pattern: &str) -> Result<Regex, String> {
    let pattern = pattern.replace(r"\\", r"\");
    if let Some((_, rewrite)) = REWRITES.iter().find(|(js, _)| *js == pattern) {
        return Regex::new(rewrite).map_err(|e| e.to_string());
    }
    let mut out = String::new();
    let mut in_class = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('d') => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                Some('w') => out.push_str(if in_class {
                    "0-9A-Za-z_"
                } else {
                    "[0-9A-Za-z_]"
                }),
                Some('D') if !in_class => out.push_str("[^0-9]"),
                Some('W') if !in_class => out.push_str("[^0-9A-Za-z_]"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => return Err(format!("/{pattern}/ ends in a backslash")),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A ']' right after '[' or '[^' is literal in Rust but closes the class in
                // JavaScript; no rule writes one.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap());
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '{' if !in_class => {
                // JavaScript reads a brace that starts no {n}, {n,} or {n,m} as a literal.
                let rest: String = chars.clone().collect();
                let quantifier = rest.split_once('}').is_some_and(|(inside, _)| {
                    let (low, high) = inside.split_once(',').unwrap_or((inside, "0"));
                    !low.is_empty()
                        && low.bytes().all(|b| b.is_ascii_digit())
                        && high.bytes().all(|b| b.is_ascii_digit())
                });
                out.push_str(if quantifier { "{" } else { r"\{" });
            }
            c => out.push(c),
        }
    }
    Regex::new(&out).map_err(|e| {
        let why = e.to_string();
        let why = why
            .lines()
            .last()
            .unwrap_or("")
            .trim_start_matches("error: ");
        format!("/{pattern}/: {why}")
    })
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The problems a hand-written rule list finds in `body`, as `rule: text` lines.
    fn check(rules: Value, body: Value) -> Vec<String> {
        let book = Book::new(&json!({ "on_x": rules }));
        book.problems("on_x", &body)
            .iter()
            .map(|p| format!("{}: {}", p.rule, p.text))
            .collect()
    }

    fn leaf(condition: &str, vars: Value) -> Value {
        let mut rule = json!({"_NAME_": "R", "_RETURN_": condition});
        rule.as_object_mut()
            .unwrap()
            .extend(vars.as_object().unwrap().clone());
        json!([rule])
    }

    fn passes(rules: &Value, body: Value) -> bool {
        check(rules.clone(), body).is_empty()
    }

    #[test]
    fn a_presence_rule_wants_at_least_one_value_and_no_null_or_empty_one() {
        let rule = leaf("attr are present", json!({"attr": "$.order.items[*].id"}));
        assert!(passes(
            &rule,
            json!({"order": {"items": [{"id": "a"}, {"id": "b"}]}})
        ));
        assert!(passes(
            &rule,
            json!({"order": {"items": [{"id": "a"}, {"x": 1}]}})
        ));
        assert!(!passes(&rule, json!({"order": {"items": []}})));
        assert!(!passes(&rule, json!({"order": {}})));
        assert!(!passes(
            &rule,
            json!({"order": {"items": [{"id": "a"}, {"id": null}]}})
        ));
        assert!(!passes(&rule, json!({"order": {"items": [{"id": ""}]}})));
        // An empty array selects nothing; a non-empty one counts by its elements.
        let tags = leaf("attr are present", json!({"attr": "$.tags"}));
        assert!(!passes(&tags, json!({"tags": []})));
        assert!(passes(&tags, json!({"tags": [{"code": "x"}]})));
        let problems = check(rule, json!({"order": {}}));
        assert_eq!(
            problems,
            ["R: wants `attr are present`; attr = $.order.items[*].id → []"]
        );
    }

    #[test]
    fn a_regex_rule_wants_every_value_to_match_every_pattern() {
        let rule = leaf(
            "attr follow regex reg",
            json!({"attr": "$.items[*].price", "reg": ["^[0-9]+\\.[0-9]{2}$"]}),
        );
        assert!(passes(
            &rule,
            json!({"items": [{"price": "10.00"}, {"price": "3.50"}]})
        ));
        assert!(!passes(
            &rule,
            json!({"items": [{"price": "10.00"}, {"price": "3.5"}]})
        ));
        let problems = check(rule, json!({"items": [{"price": "3.5"}]}));
        assert_eq!(
            problems,
            [
                r#"R: wants `attr follow regex reg`; attr = $.items[*].price → ["3.5"]; reg = [/^[0-9]+\.[0-9]{2}$/]"#
            ]
        );
        let both = leaf(
            "attr follow regex reg",
            json!({"attr": "$.a", "reg": ["^a", "b$"]}),
        );
        assert!(passes(&both, json!({"a": "ab"})));
        assert!(!passes(&both, json!({"a": "a"})));
        // Numbers and booleans are matched as JavaScript writes them.
        let digits = leaf(
            "attr follow regex reg",
            json!({"attr": "$.n", "reg": ["^[0-9]+$"]}),
        );
        assert!(passes(&digits, json!({"n": 5})));
        assert!(passes(&digits, json!({"n": 5.0})));
        assert!(!passes(&digits, json!({"n": 5.5})));
    }

    #[test]
    fn a_regex_or_enum_rule_fails_on_an_absent_field_unless_its_continue_skips_it() {
        let required = leaf(
            "attr follow regex reg",
            json!({"attr": "$.a", "reg": ["^x$"]}),
        );
        assert!(!passes(&required, json!({})));
        let optional = json!([{
            "_NAME_": "R", "attr": "$.a", "reg": ["^x$"],
            "_CONTINUE_": "!(attr are present)", "_RETURN_": "attr follow regex reg"
        }]);
        assert!(passes(&optional, json!({})));
        assert!(passes(&optional, json!({"a": null})));
        assert!(passes(&optional, json!({"a": "x"})));
        assert!(!passes(&optional, json!({"a": "y"})));
        let enumerated = leaf(
            "attr all in var_enum",
            json!({"attr": "$.a", "var_enum": ["x"]}),
        );
        assert!(!passes(&enumerated, json!({})));
    }

    #[test]
    fn doubled_backslashes_in_ondc_patterns_are_single_regex_escapes() {
        // As written in the YAML (and so in the JSON): `\\d`, `\\.`, `\\/`.
        let uri = js_regex(r"^(https?:\\/\\/)?([\\w.-]+)(:[0-9]+)?(\\/.*)?$").unwrap();
        assert!(uri.is_match("https://bap.example.com/ondc"));
        assert!(!uri.is_match("https://bap example"));
        let amount = js_regex(r"^[0-9]+(\\.[0-9]{2})?$").unwrap();
        assert!(amount.is_match("12.50") && !amount.is_match("12x50"));
        // A lone backslash keeps its regex meaning.
        let stamp = js_regex(r"^[0-9]{2}\.[0-9]{3}Z$").unwrap();
        assert!(stamp.is_match("00.000Z") && !stamp.is_match("00,000Z"));
        // \d and \w are ASCII, as in JavaScript.
        assert!(!js_regex(r"^\\d{6}$").unwrap().is_match("१२३४५६"));
        // A brace that starts no quantifier is a literal, as in JavaScript.
        let brace = js_regex(r"^a/.[0-9]{,3}Z$").unwrap();
        assert!(brace.is_match("a/x1{,3}Z") && !brace.is_match("a/x1Z"));
    }

    #[test]
    fn iso_durations_are_checked_without_look_ahead() {
        let written =
            r"^P(?=\\d|T)(\\d+Y)?(\\d+M)?(\\d+W)?(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+S)?)?$";
        let duration = js_regex(written).unwrap();
        for good in [
            "P1D",
            "PT30S",
            "P1Y2M3W4DT5H6M7S",
            "PT1H30M",
            "P3D",
            "P1M",
            "PT0S",
        ] {
            assert!(duration.is_match(good), "{good}");
        }
        for bad in [
            "P", "PT", "P1DT", "P1", "PT1", "1D", "P1H", "P1D ", "p1d", "",
        ] {
            assert!(!duration.is_match(bad), "{bad}");
        }
        let single = r"^P(?=\d|T)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$";
        assert!(js_regex(single).unwrap().is_match("PT15M"));
        // ONDC's on_select TAT pattern has no `$` after its first branch.
        let tat = js_regex(&format!("{}|^$", written.trim_end_matches('$'))).unwrap();
        for good in ["P1D", "PT", "P1Dx", ""] {
            assert!(tat.is_match(good), "{good}");
        }
        for bad in ["P", "PX", "1D"] {
            assert!(!tat.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn an_enum_rule_wants_every_value_in_the_list() {
        let rule = leaf(
            "attr all in var_enum",
            json!({"attr": "$.f[*].type", "var_enum": ["Delivery", "Self-Pickup"]}),
        );
        assert!(passes(
            &rule,
            json!({"f": [{"type": "Delivery"}, {"type": "Self-Pickup"}]})
        ));
        assert!(!passes(
            &rule,
            json!({"f": [{"type": "Delivery"}, {"type": "Pickup"}]})
        ));
        // Booleans written unquoted in the YAML accept the JSON boolean and its text.
        let flag = leaf(
            "attr all in var_enum",
            json!({"attr": "$.b", "var_enum": [true, false]}),
        );
        assert!(passes(&flag, json!({"b": true})));
        assert!(passes(&flag, json!({"b": "false"})));
        assert!(!passes(&flag, json!({"b": "yes"})));
    }

    #[test]
    fn an_enum_var_id_rule_wants_every_value_among_those_another_path_selects() {
        let rule = leaf(
            "attr all in enum_var_id",
            json!({"attr": "$.items[*].fulfillment_id", "enum_var_id": "$.fulfillments[*].id"}),
        );
        let body = |ids: Value| json!({"items": ids, "fulfillments": [{"id": "F1"}, {"id": "F2"}]});
        assert!(passes(
            &rule,
            body(json!([{"fulfillment_id": "F1"}, {"fulfillment_id": "F2"}]))
        ));
        assert!(!passes(
            &rule,
            body(json!([{"fulfillment_id": "F1"}, {"fulfillment_id": "F9"}]))
        ));
        assert!(!passes(&rule, body(json!([]))));
    }

    #[test]
    fn conditions_combine_with_and_or_not_and_parentheses() {
        let vars = json!({"a": "$.a", "b": "$.b", "e": ["x"]});
        let and = leaf("a are present && a all in e", vars.clone());
        assert!(passes(&and, json!({"a": "x"})));
        assert!(!passes(&and, json!({"a": "y"})));
        let or = leaf("(a are present) || (b are present)", vars.clone());
        assert!(passes(&or, json!({"b": 1})));
        assert!(!passes(&or, json!({})));
        let not = leaf("!(a equal to b)", vars.clone());
        assert!(passes(&not, json!({"a": "x", "b": "y"})));
        assert!(!passes(&not, json!({"a": "x", "b": "x"})));
        // && binds tighter than ||; `||!(` needs no space.
        let mixed = leaf(
            "!(a are present) ||!(b are present) || a all in e && b all in e",
            vars,
        );
        assert!(passes(&mixed, json!({"a": "x", "b": "x"})));
        assert!(passes(&mixed, json!({"a": "z"})));
        assert!(!passes(&mixed, json!({"a": "x", "b": "z"})));
        let unique = leaf("a are unique", json!({"a": "$.l[*]"}));
        assert!(passes(&unique, json!({"l": ["x", "y"]})));
        assert!(!passes(&unique, json!({"l": ["x", "x"]})));
    }

    #[test]
    fn paths_read_keys_quoted_keys_indexes_stars_and_filters() {
        let body = json!({"order": {
            "fulfillments": [{"id": "F1", "@ondc/org/TAT": "P1D", "tags": [
                {"code": "routing", "list": [{"code": "type", "value": "P2P"}]},
                {"code": "tracking", "list": [{"code": "gps_enabled", "value": "false"}]}]}],
            "items": [{"id": "a"}, {"id": "b"}]}});
        let get = |path: &str| -> Vec<Value> {
            flatten(select(&body, &parse_path(path).unwrap()))
                .into_iter()
                .cloned()
                .collect()
        };
        assert_eq!(get("$.order.items[*].id"), [json!("a"), json!("b")]);
        assert_eq!(get("$.order.items[1].id"), [json!("b")]);
        assert_eq!(
            get("$.order.fulfillments[*]['@ondc/org/TAT']"),
            [json!("P1D")]
        );
        assert_eq!(
            get("$.order.fulfillments[*].tags[?(@.code=='routing')].list[?(@.code=='type')].value"),
            [json!("P2P")]
        );
        assert_eq!(
            get("$.order.fulfillments[0].tags[?(@.code!='routing')].code"),
            [json!("tracking")]
        );
        assert_eq!(
            get("$.order.items"),
            [json!({"id": "a"}), json!({"id": "b"})]
        );
        assert!(get("$.order.nothing[*].id").is_empty());
        assert!(parse_path("$..id").is_err());
        assert!(parse_path("$.a[?(@.n>1)]").is_err());
    }

    #[test]
    fn groups_pass_their_variables_down_and_their_continue_and_scope_gate_the_children() {
        let rules = json!([{
            "_NAME_": "G", "action": ["on_x"], "err": "$.error.code",
            "_CONTINUE_": "err are present",
            "_RETURN_": [
                {"_NAME_": "ACTION", "attr": "$.context.action", "_RETURN_": "attr equal to action"},
                {"_NAME_": "ONLY_WITH_ISSUE", "_SCOPE_": "$.issue", "_RETURN_": [
                    {"_NAME_": "ID", "attr": "$.issue.id", "_RETURN_": "attr are present"}]}
            ]
        }]);
        assert!(check(rules.clone(), json!({"context": {"action": "on_x"}})).is_empty());
        assert_eq!(
            check(
                rules.clone(),
                json!({"context": {"action": "on_y"}, "issue": {}})
            ),
            [
                r#"G/ACTION: wants `attr equal to action`; attr = $.context.action → ["on_y"]; action = ["on_x"]"#,
                "G/ONLY_WITH_ISSUE/ID: wants `attr are present`; attr = $.issue.id → []"
            ]
        );
        assert!(check(
            rules,
            json!({"context": {"action": "on_y"}, "error": {"code": "1"}})
        )
        .is_empty());
        // A leaf's own _SCOPE_ makes its paths relative to each element.
        let scoped = json!([{"_NAME_": "S", "_SCOPE_": "$.items[*]", "q": "$.quantity.count",
            "_RETURN_": "q are present"}]);
        assert!(passes(
            &scoped,
            json!({"items": [{"quantity": {"count": 1}}]})
        ));
        assert!(!passes(
            &scoped,
            json!({"items": [{"quantity": {"count": 1}}, {"quantity": {}}]})
        ));
    }

    #[test]
    fn rules_this_file_cannot_read_are_skipped_and_counted_never_failed() {
        let rules = json!([
            {"_NAME_": "LOOK_BEHIND", "attr": "$.a", "reg": ["(?<=x)y"], "_RETURN_": "attr follow regex reg"},
            {"_NAME_": "GREATER", "a": "$.a", "b": "$.b", "_RETURN_": "a greater than b"},
            {"_NAME_": "SESSION", "a": "$._EXTERNAL.x", "_RETURN_": "a are present"},
            {"_NAME_": "UNDECLARED", "_RETURN_": "nothing are present"},
            {"_NAME_": "DEEP", "a": "$..id", "_RETURN_": "a are present"},
            {"_NAME_": "GROUP", "_CONTINUE_": "a < b", "_RETURN_": [
                {"_NAME_": "CHILD", "a": "$.a", "_RETURN_": "a are present"}]},
            {"_NAME_": "FINE", "a": "$.a", "_RETURN_": "a are present"}
        ]);
        assert_eq!(
            check(rules.clone(), json!({})),
            ["FINE: wants `a are present`; a = $.a → []"]
        );
        let book = Book::new(&json!({ "on_x": rules }));
        let skipped: Vec<&str> = book.actions["on_x"]
            .iter()
            .filter(|r| r.unreadable.is_some())
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(
            skipped,
            [
                "LOOK_BEHIND",
                "GREATER",
                "SESSION",
                "UNDECLARED",
                "DEEP",
                "GROUP"
            ]
        );
    }

    /// Leaf rules per callback action: evaluated, and skipped with why. Printed with
    /// `cargo test --test api rules:: -- --nocapture`. The one callback rule skipped in the
    /// three domains is RET10 on_search's LOCATIONS_TIME_DAYS: its pattern
    /// `^(?!.*\b([1-7]),.*\b\1\b)([1-7](,[1-7]){0,6})$` ("no day twice") needs look-ahead and
    /// a back-reference.
    #[test]
    fn every_callback_action_loads_and_skips_only_rules_it_cannot_read() {
        let mut skipped = Vec::new();
        for domain in ["ONDC:RET10", "ONDC:RET12", "ONDC:RET16"] {
            for action in [
                "on_search",
                "on_select",
                "on_init",
                "on_confirm",
                "on_status",
                "on_cancel",
                "on_track",
                "on_update",
                "on_issue",
                "on_issue_status",
            ] {
                let c = coverage(domain, action).unwrap_or_else(|| panic!("{domain} {action}"));
                println!(
                    "{domain} {action}: {} checked, {} skipped",
                    c.checked,
                    c.skipped.len()
                );
                assert!(c.checked > 20, "{domain} {action}");
                for (name, why) in c.skipped {
                    println!("    skipped {name}: {why}");
                    skipped.push(format!("{domain} {action} {name}"));
                }
            }
        }
        assert_eq!(
            skipped,
            ["ONDC:RET10 on_search ON_SEARCH_CATALOG/CATALOG_BPP_PROVIDERS/PROVIDERS_LOCATIONS/LOCATIONS_TIME_DAYS"]
        );
    }

    fn example(name: &str) -> Value {
        let path = format!(
            "{}/protocol/examples/sabhyasha-RET16-1.2.0/flow2-order-to-delivered/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    /// A live RET16 seller's callbacks (Sabhyasha, core 1.2.0, with a pre-production buyer app)
    /// against the 1.2.5 rules. They break only these:
    /// * BREAKUP_PRICE_VALUE (on_select, on_confirm, every on_status): breakup prices
    ///   "1200.0", "25.0" have one decimal; 1.2.5 wants `^[0-9]+(\.[0-9]{2,})?$`.
    /// * on_confirm ORDER_ID: "2024-06-24-364348" has hyphens, which ONDC's
    ///   `^[0-9a-zA-Z/-_]{1,36}$` refuses (`/-_` is a range that leaves "-" out).
    #[test]
    fn a_live_sellers_order_callbacks_break_only_rules_we_can_explain() {
        let breakup = "BREAKUP_PRICE_VALUE: wants `attr follow regex reg`; \
            attr = $.message.order.quote.breakup[*].price.value → [\"1200.0\", \"1200.0\", \"25.0\"]; \
            reg = [/^[0-9]+(\\.[0-9]{2,})?$/]";
        let expected = [
            ("04_on_select.json", "on_select", vec![format!("ON_SELECT_ORDER/ORDER_QUOTE/QUOTE_BREAKUP/BREAKUP_PRICE/{breakup}")]),
            ("08_on_confirm.json", "on_confirm", vec![
                "ON_CONFIRM_ORDER/CONFIRM_ORDER/ORDER_ID: wants `attr follow regex reg`; \
                 attr = $.message.order.id → [\"2024-06-24-364348\"]; reg = [/^[0-9a-zA-Z/-_]{1,36}$/]".to_owned(),
                format!("ON_CONFIRM_ORDER/CONFIRM_ORDER/ORDER_QUOTE/QUOTE_BREAKUP/BREAKUP_PRICE/{breakup}"),
            ]),
            ("09_on_status_pending.json", "on_status", vec![]),
            ("10_on_status_packed.json", "on_status", vec![]),
            ("11_on_status_picked.json", "on_status", vec![]),
            ("12_on_status_out_for_delivery.json", "on_status", vec![]),
            ("13_on_status_delivered.json", "on_status", vec![]),
        ];
        for (file, action, mut wanted) in expected {
            if action == "on_status" {
                wanted.push(format!(
                    "ON_STATUS_ORDER/ORDER_QUOTE/QUOTE_BREAKUP/BREAKUP_PRICE/{breakup}"
                ));
            }
            let wanted: Vec<String> = wanted.iter().map(|w| format!("{action} {w}")).collect();
            assert_eq!(
                rule_problems("ONDC:RET16", action, &example(file)),
                wanted,
                "{file}"
            );
        }
    }
}
