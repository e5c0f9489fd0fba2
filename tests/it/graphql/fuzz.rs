//! GraphQL fuzz: documents generated from the schema (`ats::graphql::sdl()`)
//! by proptest, sent to `/graphql` on both backends. Valid ones pick random
//! fields with arguments of the right types (aliased, so any mix is legal);
//! invalid ones take wrong argument types, unknown fields and arguments,
//! garbage text, deep nesting of selections, lists, objects and fragments,
//! NUL bytes, huge strings and numbers, and malformed request bodies.
//!
//! The property: the server answers every one (no dropped connection), never
//! with a 5xx, and every GraphQL error carries an `extensions.code` other than
//! `INTERNAL`.
//!
//! Each case is a choice tape (a `Vec<u32>` the generator reads its decisions
//! from, 0 when it runs out) and a kind, so proptest shrinks a failure
//! towards the shortest tape: the simplest document that still fails.
//! `ATS_GQL_FUZZ_CASES` (default [`DEFAULT_CASES`]) and `ATS_GQL_FUZZ_SEED`
//! (default a fixed seed, so CI runs are repeatable) change the run.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use serde_json::{Value, json};

use crate::common::{Role, TestApp};
use crate::on_both_backends;

/// Cases per backend unless `ATS_GQL_FUZZ_CASES` says otherwise.
const DEFAULT_CASES: u32 = 300;
/// The seed unless `ATS_GQL_FUZZ_SEED` says otherwise.
const DEFAULT_SEED: u64 = 0x0a75_f022;

on_both_backends!(graphql_fuzz_never_answers_internal_errors);

async fn graphql_fuzz_never_answers_internal_errors(app: TestApp) {
    // Something to find: an org and project of the caller's, tasks in it
    // and in `default/main`, a message and a claim.
    let me = app
        .user("fuzzer")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    for i in 0..3 {
        me.post(
            "/orgs/acme/projects/web/tasks",
            json!({"title": format!("acme task {i}"), "channel": "c", "type": "t"}),
        )
        .await
        .expect(201);
        me.create_task(json!({"title": format!("task {i}"), "channel": "c", "type": "t"}))
            .await;
    }
    me.act(1, "claim", json!({})).await.expect(200);
    me.post(
        "/tasks/2/messages",
        json!({"parts": [{"type": "text", "content": "hello"}]}),
    )
    .await
    .expect(201);

    let schema = Schema::load();
    let cases = env_or("ATS_GQL_FUZZ_CASES", DEFAULT_CASES as u64) as u32;
    let seed = env_or("ATS_GQL_FUZZ_SEED", DEFAULT_SEED);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let url = format!("{}/graphql", app.base);
    let handle = tokio::runtime::Handle::current();
    let backend = format!("{:?}", app.backend);
    let started = Instant::now();

    let result = tokio::task::spawn_blocking(move || {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            rng_seed: RngSeed::Fixed(seed),
            max_shrink_iters: 2_000,
            ..Config::default()
        });
        let strategy = (0u32..100, prop::collection::vec(any::<u32>(), 0..160));
        let sent = std::cell::Cell::new(0u32);
        let outcome = runner.run(&strategy, |(kind, tape)| {
            sent.set(sent.get() + 1);
            let request = schema.request(kind, tape.clone());
            if std::env::var_os("ATS_GQL_FUZZ_TRACE").is_some() {
                eprintln!(
                    "case: kind {kind}, tape {tape:?}\n  request: {}",
                    clip(&format!("{request:?}"))
                );
            }
            let t = Instant::now();
            let r = handle.block_on(check(&http, &url, &request));
            if t.elapsed() > Duration::from_millis(500) {
                eprintln!(
                    "slow case: kind {kind}, tape {:?}…: {:?}",
                    &tape[..tape.len().min(4)],
                    t.elapsed()
                );
            }
            r
        });
        // On a failure, the shrunk case's request too (clipped).
        let outcome = outcome.map_err(|e| match &e {
            TestError::Fail(_, (kind, tape)) => format!(
                "{e}\nits request: {}",
                clip(&format!("{:?}", schema.request(*kind, tape.clone())))
            ),
            TestError::Abort(_) => e.to_string(),
        });
        (outcome, sent.get())
    })
    .await
    .unwrap();

    let (outcome, sent) = result;
    eprintln!(
        "graphql fuzz ({backend}): {cases} cases ({sent} requests, shrinking included) in {:.1} s, seed {seed}",
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = outcome {
        panic!("graphql fuzz ({backend}, seed {seed}) found: {e}");
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One HTTP request to `/graphql`.
#[derive(Debug)]
enum Request {
    /// `POST` of `{"query": …, "variables": …}` (and whatever else it holds).
    Json(Value),
    /// `POST` of these bytes as `application/json`.
    Raw(Vec<u8>),
    /// `GET /graphql?query=…`.
    Get(String),
}

/// Sends `request`; fails the case on a dropped connection, a 5xx, or an
/// error without a code or with `INTERNAL`.
async fn check(http: &reqwest::Client, url: &str, request: &Request) -> Result<(), TestCaseError> {
    let req = match request {
        Request::Json(body) => http
            .post(url)
            .header("X-Actor-Type", "human")
            .header("X-Actor-ID", "fuzzer")
            .json(body),
        Request::Raw(bytes) => http
            .post(url)
            .header("X-Actor-Type", "human")
            .header("X-Actor-ID", "fuzzer")
            .header("content-type", "application/json")
            .body(bytes.clone()),
        Request::Get(query) => http
            .get(reqwest::Url::parse_with_params(url, [("query", query)]).unwrap())
            .header("X-Actor-Type", "human")
            .header("X-Actor-ID", "fuzzer"),
    };
    let resp = req
        .send()
        .await
        .map_err(|e| TestCaseError::fail(format!("no answer: {}", clip(&e.to_string()))))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let shown = || clip(&text);
    if status >= 500 {
        return Err(TestCaseError::fail(format!("HTTP {status}: {}", shown())));
    }
    let Ok(body) = serde_json::from_str::<Value>(&text) else {
        return Ok(()); // a transport refusal (e.g. 400/413/415 in plain text)
    };
    if body.get("code").and_then(Value::as_str) == Some("INTERNAL") {
        return Err(TestCaseError::fail(format!("HTTP {status}: {}", shown())));
    }
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        for err in errors {
            match err["extensions"]["code"].as_str() {
                None => {
                    return Err(TestCaseError::fail(format!(
                        "an error without extensions.code: {}",
                        shown()
                    )));
                }
                Some("INTERNAL") => {
                    return Err(TestCaseError::fail(format!("INTERNAL: {}", shown())));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// The schema, as the generator needs it.
struct Schema {
    types: HashMap<String, Def>,
}

enum Def {
    Object(Vec<Field>),
    /// Interfaces and unions: the object types a fragment may name.
    Abstract(Vec<String>, Vec<Field>),
    Enum(Vec<String>),
    Input(Vec<Arg>),
    Scalar,
}

struct Field {
    name: String,
    args: Vec<Arg>,
    ty: Type,
}

#[derive(Clone)]
struct Arg {
    name: String,
    ty: Type,
}

impl Schema {
    fn load() -> Self {
        let doc = async_graphql::parser::parse_schema(ats::graphql::sdl()).expect("the SDL parses");
        let mut types = HashMap::new();
        let mut implementors: HashMap<String, Vec<String>> = HashMap::new();
        let fields =
            |fs: &[async_graphql::Positioned<async_graphql::parser::types::FieldDefinition>]| {
                fs.iter()
                    .map(|f| Field {
                        name: f.node.name.node.to_string(),
                        args: f
                            .node
                            .arguments
                            .iter()
                            .map(|a| Arg {
                                name: a.node.name.node.to_string(),
                                ty: a.node.ty.node.clone(),
                            })
                            .collect(),
                        ty: f.node.ty.node.clone(),
                    })
                    .collect::<Vec<_>>()
            };
        for def in &doc.definitions {
            let TypeSystemDefinition::Type(t) = def else {
                continue;
            };
            let name = t.node.name.node.to_string();
            let d = match &t.node.kind {
                TypeKind::Scalar => Def::Scalar,
                TypeKind::Object(o) => {
                    for i in &o.implements {
                        implementors
                            .entry(i.node.to_string())
                            .or_default()
                            .push(name.clone());
                    }
                    Def::Object(fields(&o.fields))
                }
                TypeKind::Interface(i) => Def::Abstract(Vec::new(), fields(&i.fields)),
                TypeKind::Union(u) => Def::Abstract(
                    u.members.iter().map(|m| m.node.to_string()).collect(),
                    Vec::new(),
                ),
                TypeKind::Enum(e) => Def::Enum(
                    e.values
                        .iter()
                        .map(|v| v.node.value.node.to_string())
                        .collect(),
                ),
                TypeKind::InputObject(i) => Def::Input(
                    i.fields
                        .iter()
                        .map(|a| Arg {
                            name: a.node.name.node.to_string(),
                            ty: a.node.ty.node.clone(),
                        })
                        .collect(),
                ),
            };
            types.insert(name, d);
        }
        for (iface, objects) in implementors {
            if let Some(Def::Abstract(members, _)) = types.get_mut(&iface) {
                *members = objects;
            }
        }
        for builtin in ["Int", "Float", "String", "Boolean", "ID"] {
            types.entry(builtin.to_owned()).or_insert(Def::Scalar);
        }
        Self { types }
    }

    /// The request for a case: `kind` (0–99) chooses what sort of document,
    /// `tape` every decision within it.
    fn request(&self, kind: u32, tape: Vec<u32>) -> Request {
        let mut g = Gen {
            schema: self,
            tape,
            pos: 0,
            alias: 0,
            wrong_types: false,
            unknown_names: false,
        };
        let query = match kind {
            // Valid documents, the most of them.
            0..=54 => g.document(),
            // Arguments of the wrong type.
            55..=64 => {
                g.wrong_types = true;
                g.document()
            }
            // Unknown fields and arguments.
            65..=71 => {
                g.unknown_names = true;
                g.document()
            }
            72..=77 => g.garbage(),
            78..=84 => g.deep(),
            85..=89 => g.with_nul(),
            90..=93 => g.huge(),
            _ => return g.malformed_request(),
        };
        match kind % 7 {
            // Sometimes over GET (queries only are allowed there), when
            // the URL stays a reasonable length.
            0 if query.len() < 4_000 => Request::Get(query),
            _ => Request::Json(json!({ "query": query })),
        }
    }
}

/// The generator: reads its decisions from the tape.
struct Gen<'s> {
    schema: &'s Schema,
    tape: Vec<u32>,
    pos: usize,
    alias: u32,
    wrong_types: bool,
    unknown_names: bool,
}

/// Strings arguments take: names that exist (so reads find something) and
/// awkward ones.
const STRINGS: &[&str] = &[
    "acme",
    "web",
    "default",
    "main",
    "fuzzer",
    "human",
    "agent",
    "c",
    "t",
    "",
    " ",
    "a",
    "Ünïcødé ✓ 🦀",
    "x@example.com",
    "fuzzer@example.com",
    "password-1234",
    "1",
    "-1",
    "null",
    "acme/web",
    "*",
    "rw",
    "\\\" quoted \\\"",
    "\\n\\t",
    "%00",
    "' OR 1=1 --",
];
const IDS: &[&str] = &[
    "1",
    "2",
    "3",
    "4",
    "7",
    "0",
    "-1",
    "abc",
    "",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999",
    "1.5",
    " 1",
];
const INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "5",
    "10",
    "50",
    "100",
    "500",
    "1000",
    "-1",
    "30000",
    "2147483647",
    "-2147483648",
];
const FLOATS: &[&str] = &["0.0", "1.5", "-1", "1e300", "3"];
const DATES: &[&str] = &[
    "\"2026-01-01T00:00:00Z\"",
    "\"1970-01-01T00:00:00Z\"",
    "\"9999-12-31T23:59:59Z\"",
    "\"2026-12-02T08:00:00.123+05:30\"",
    "\"yesterday\"",
    "\"\"",
];
const JSONS: &[&str] = &[
    "{}",
    "{a: 1}",
    "{pr: 42, tags: [\"x\", \"y\"], nested: {deep: {er: null}}}",
    "[]",
    "[1, 2, 3]",
    "\"text\"",
    "1",
    "true",
    "null",
];
/// Literals of every kind, for arguments of the wrong type.
const WRONG: &[&str] = &[
    "\"string\"",
    "1",
    "-5",
    "1.5",
    "true",
    "null",
    "SOME_ENUM",
    "[1, \"a\"]",
    "{x: 1}",
    "[]",
    "{}",
    "$undeclared",
    "\"\"",
    "99999999999999999999999",
];

impl Gen<'_> {
    /// The next decision, 0..n (0 once the tape runs out).
    fn pick(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let v = self.tape.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v as usize % n
    }

    /// True `percent` % of the time (false once the tape runs out).
    fn chance(&mut self, percent: usize) -> bool {
        let v = self.tape.get(self.pos).copied();
        self.pos += 1;
        v.is_some_and(|v| (v % 100) as usize >= 100 - percent)
    }

    fn one<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[self.pick(of.len())]
    }

    fn next_alias(&mut self) -> String {
        self.alias += 1;
        format!("f{}", self.alias)
    }

    /// A query or mutation (now and then a subscription) of 1–3 root fields.
    fn document(&mut self) -> String {
        let (op, root) = match self.pick(10) {
            0..=5 => ("query", "Query"),
            6..=8 => ("mutation", "Mutation"),
            _ => ("subscription", "Subscription"),
        };
        let sel = self.selection(root, 0, 3);
        format!("{op} {sel}")
    }

    /// `{ … }` of 1..=max fields of the object type `ty`.
    fn selection(&mut self, ty: &str, depth: usize, max: usize) -> String {
        let schema = self.schema;
        let (fields, members): (&[Field], &[String]) = match schema.types.get(ty) {
            Some(Def::Object(f)) => (f, &[]),
            Some(Def::Abstract(m, f)) => (f, m),
            _ => return String::new(),
        };
        let mut out = String::from("{ ");
        let n = 1 + self.pick(max);
        for _ in 0..n {
            if self.unknown_names && self.chance(20) {
                let _ = write!(out, "{}: noSuchField{} ", self.next_alias(), self.pick(5));
                continue;
            }
            if fields.is_empty() || self.chance(8) {
                out.push_str("__typename ");
                continue;
            }
            let field = &fields[self.pick(fields.len())];
            let _ = write!(out, "{}: {}", self.next_alias(), field.name);
            let args = self.arguments(&field.args);
            out.push_str(&args);
            let named = named(&field.ty);
            if let Some(Def::Object(_) | Def::Abstract(..)) = schema.types.get(named) {
                if depth >= 5 {
                    // Deep enough: the type's name is always selectable.
                    out.push_str(" { __typename }");
                } else {
                    out.push(' ');
                    let sub = self.selection(named, depth + 1, 3);
                    out.push_str(&sub);
                }
            }
            out.push(' ');
        }
        // Fragments on the possible types of an interface or union.
        if !members.is_empty() && self.chance(60) {
            let member = members[self.pick(members.len())].clone();
            let sub = if depth >= 5 {
                "{ __typename }".to_owned()
            } else {
                self.selection(&member, depth + 1, 2)
            };
            let _ = write!(out, "... on {member} {sub} ");
        }
        out.push('}');
        out
    }

    /// `(a: …, b: …)`: every required argument, some optional ones.
    fn arguments(&mut self, args: &[Arg]) -> String {
        let mut parts = Vec::new();
        for arg in args {
            if arg.ty.nullable && !self.chance(50) {
                continue;
            }
            let v = self.value(&arg.ty, 0);
            parts.push(format!("{}: {v}", arg.name));
        }
        if self.unknown_names && self.chance(30) {
            parts.push(format!("bogus{}: 1", self.pick(3)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("({})", parts.join(", "))
        }
    }

    /// A literal of type `ty` (of another type now and then, when fuzzing
    /// wrong types).
    fn value(&mut self, ty: &Type, depth: usize) -> String {
        if self.wrong_types && self.chance(25) {
            return self.one(WRONG).to_owned();
        }
        if ty.nullable && self.chance(10) {
            return "null".to_owned();
        }
        match &ty.base {
            BaseType::List(inner) => {
                let n = self.pick(4);
                let items: Vec<String> = (0..n).map(|_| self.value(inner, depth + 1)).collect();
                format!("[{}]", items.join(", "))
            }
            BaseType::Named(name) => self.named_value(name, depth),
        }
    }

    fn named_value(&mut self, name: &str, depth: usize) -> String {
        match name {
            "Int" => self.one(INTS).to_owned(),
            "Float" => self.one(FLOATS).to_owned(),
            "Boolean" => ["true", "false"][self.pick(2)].to_owned(),
            "ID" => format!("\"{}\"", self.one(IDS)),
            "String" => format!("\"{}\"", self.one(STRINGS)),
            "DateTime" => self.one(DATES).to_owned(),
            "JSON" => self.one(JSONS).to_owned(),
            _ => {
                let schema = self.schema;
                match schema.types.get(name) {
                    Some(Def::Enum(values)) => values[self.pick(values.len())].clone(),
                    Some(Def::Input(fields)) => {
                        let mut parts = Vec::new();
                        for f in fields {
                            // Required fields always; optional ones half
                            // the time, and none past a few levels.
                            if f.ty.nullable && (depth > 4 || !self.chance(50)) {
                                continue;
                            }
                            let v = self.value(&f.ty, depth + 1);
                            parts.push(format!("{}: {v}", f.name));
                        }
                        format!("{{{}}}", parts.join(", "))
                    }
                    _ => format!("\"{}\"", self.one(STRINGS)),
                }
            }
        }
    }

    /// Text that is mostly not GraphQL.
    fn garbage(&mut self) -> String {
        const ALPHABET: &[&str] = &[
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            ":",
            "$",
            "@",
            "!",
            "...",
            "\"",
            "\"\"\"",
            "#",
            ",",
            "=",
            "|",
            "&",
            "query",
            "mutation",
            "fragment",
            "on",
            "task",
            "tasks",
            "id",
            " ",
            "\n",
            "\\",
            "\\u",
            "\u{0}",
            "é",
            "🦀",
            "\u{feff}",
            "0",
            "-",
            "1e",
            "__schema",
            "__type",
            "subscription",
        ];
        let n = self.pick(120);
        (0..n).map(|_| self.one(ALPHABET)).collect()
    }

    /// Nesting past every limit: selections, list and object values,
    /// fragments spreading each other, many aliases.
    fn deep(&mut self) -> String {
        let n = [13, 64, 65, 300, 5_000, 50_000][self.pick(6)];
        match self.pick(7) {
            0 => format!("{{{}{}", "task(id: \"1\") { ".repeat(n), "}".repeat(n + 1)),
            1 => format!("{{{}}}", "{".repeat(n)),
            2 => format!(
                "{{ tasks(filter: {{statuses: {}PENDING{}}}) {{ totalCount }} }}",
                "[".repeat(n),
                "]".repeat(n)
            ),
            3 => format!(
                "mutation {{ createTask(input: {{title: \"t\", payload: {}1{}}}) {{ task {{ id }} }} }}",
                "{a: ".repeat(n),
                "}".repeat(n)
            ),
            4 => {
                let mut q = String::from("query { ...F0 }\n");
                for i in 0..n.min(2_000) {
                    let _ = writeln!(q, "fragment F{i} on Query {{ ...F{} }}", i + 1);
                }
                let _ = writeln!(q, "fragment F{} on Query {{ ...F0 }}", n.min(2_000));
                q
            }
            5 => {
                let mut q = String::from("{ ");
                for i in 0..n.min(20_000) {
                    let _ = write!(q, "a{i}: tasks {{ totalCount }} ");
                }
                q.push('}');
                q
            }
            _ => format!(
                "{{ task(id: \"1\") {{ {}id{} }} }}",
                "... on Task { ".repeat(n),
                " }".repeat(n)
            ),
        }
    }

    /// NUL characters, raw and escaped, in strings, names and variables.
    fn with_nul(&mut self) -> String {
        match self.pick(5) {
            0 => "{ organization(slug: \"ac\\u0000me\") { slug } }".to_owned(),
            1 => {
                "mutation { createTask(input: {title: \"a\\u0000b\"}) { task { id } } }".to_owned()
            }
            2 => "{ task(id: \"1\u{0}\") { id } }".to_owned(),
            3 => "{ health\u{0} { status } }".to_owned(),
            _ => {
                let doc = self.document();
                doc.replacen('"', "\"\\u0000", 1)
            }
        }
    }

    /// Huge strings, numbers and lists.
    fn huge(&mut self) -> String {
        let n = [10_000, 100_000, 1_000_000][self.pick(3)];
        match self.pick(5) {
            0 => format!(
                "mutation {{ createTask(input: {{title: \"{}\"}}) {{ task {{ id }} }} }}",
                "x".repeat(n)
            ),
            1 => format!("{{ task(id: \"{}\") {{ id }} }}", "9".repeat(n)),
            2 => format!(
                "{{ tasks(first: {}) {{ totalCount }} }}",
                "9".repeat(n.min(100_000))
            ),
            3 => format!(
                "{{ tasks(filter: {{channels: [{}]}}) {{ totalCount }} }}",
                vec!["\"c\""; n / 10].join(",")
            ),
            _ => format!(
                "{{ organization(slug: \"{}\") {{ slug }} }}",
                "é".repeat(n / 2)
            ),
        }
    }

    /// Bodies that are not a proper GraphQL request.
    fn malformed_request(&mut self) -> Request {
        let doc = self.document();
        match self.pick(9) {
            0 => Request::Raw(b"{\"query\": ".to_vec()),
            1 => Request::Raw(b"not json at all".to_vec()),
            2 => Request::Json(json!({ "query": 42 })),
            3 => Request::Json(json!({ "query": doc, "variables": "nope" })),
            4 => Request::Json(json!({ "query": doc, "operationName": "Missing" })),
            5 => Request::Json(json!({
                "query": "query($id: ID!, $n: Int) { task(id: $id) { id } tasks(first: $n) { totalCount } }",
                "variables": { "id": ["1"], "n": "ten" },
            })),
            6 => Request::Json(json!({
                "query": "query($s: String!) { organization(slug: $s) { slug } }",
                "variables": { "s": "a\u{0}b" },
            })),
            7 => Request::Json(json!([{ "query": doc }, { "query": "{ health { status } }" }])),
            _ => Request::Raw(vec![0xff, 0xfe, b'{', 0, b'}']),
        }
    }
}

/// At most 600 bytes of `s` (the documents and answers can be megabytes).
fn clip(s: &str) -> String {
    let mut end = s.len().min(600);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// The named type at the bottom of `ty`'s lists.
fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => named(inner),
    }
}
