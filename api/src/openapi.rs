//! The OpenAPI document, generated from the code.
//!
//! Every route is registered through `utoipa_axum`'s `routes!`, which takes
//! the path and methods from the handler's `#[utoipa::path]`, so the router
//! and the document cannot disagree on what exists. The access level of a
//! route's group becomes its operations' `security` here, and every error
//! status an operation can answer gets its problem+json body (there is no
//! catch-all `default`). [`Identifier`] and [`Binary`] are the schemas of
//! identifier parts and artifact bytes.

use crate::auth::{ADMIN_TOKEN, Access, TENANT_TOKEN};
use crate::error::{PROBLEM_JSON, Problem};
use axum::Extension;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::Arc;
use std::sync::OnceLock;
use strata_core::artifact::Tier;
use strata_core::config::Config;
use utoipa::openapi::Required;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, Content, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, Ref, RefOr,
    ResponseBuilder, path::Operation,
};
use utoipa::{PartialSchema, ToSchema};

/// The document with no paths: info, security schemes, the problem schema.
pub fn base() -> OpenApi {
    let bearer = || SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer));
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("strata")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Artifacts, retention and restore jobs of a strata deployment."))
                .build(),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(TENANT_TOKEN, bearer())
                .security_scheme(ADMIN_TOKEN, bearer())
                .schema_from::<Problem>()
                .schema_from::<Identifier>()
                .schema_from::<Reason>()
                .build(),
        ))
        .build()
}

/// Every operation of a path item.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.head,
        &mut item.patch,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// The `Problem` body of every 4xx and 5xx answer.
fn problem_content() -> Content {
    ContentBuilder::new().schema(Some(RefOr::Ref(Ref::from_schema_name("Problem")))).build()
}

/// A string header.
fn string_header(description: &str) -> Header {
    HeaderBuilder::new().schema(string()).description(Some(description)).build()
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))
}

/// What a status means when the operation's own annotation does not say.
fn describe(status: &str) -> &'static str {
    match status {
        "400" => {
            "The request is malformed: a path identifier, a query parameter, a header or the body (problem `bad-request` or `invalid-identifier`)"
        }
        "401" => "No bearer token, or one that is not known (problem `unauthorized`)",
        "403" => "The token is valid but not allowed here (problem `forbidden`)",
        "404" => "Not found, or it belongs to another tenant (problem `not-found`)",
        "409" => "The request conflicts with the resource's state (problem `conflict`)",
        "413" => "The body is larger than the limit (problem `payload-too-large`)",
        "415" => "The body is not JSON (problem `unsupported-media-type`)",
        "416" => "The range lies outside the artifact (problem `range-not-satisfiable`)",
        "500" => "The server failed; it has been logged (problem `internal`)",
        "503" => "A backend (catalog, queue or tier) is unavailable; retry later (problem `unavailable`)",
        _ => "An error (problem+json)",
    }
}

/// The error statuses an operation can answer besides those its annotation
/// lists: from its access level (the middleware), its inputs (parsing) and
/// the server itself.
fn implied_statuses(op: &Operation, access: Access) -> Vec<&'static str> {
    let mut statuses = Vec::new();
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let json_body = op.request_body.as_ref().is_some_and(|b| b.content.contains_key("application/json"));
    if has_params || op.request_body.is_some() {
        statuses.push("400");
    }
    match access {
        Access::Public => {}
        Access::Caller | Access::Tenant => statuses.extend(["401", "404"]),
        Access::Admin => statuses.extend(["401", "403"]),
    }
    if json_body {
        statuses.extend(["413", "415"]);
    }
    if access != Access::Public {
        statuses.extend(["500", "503"]);
    }
    statuses
}

/// A `HEAD` operation for a `GET` one: axum answers `HEAD` on every `GET`
/// route with the same status and headers and no body (its successes are
/// documented without content; its errors keep the problem's media type).
fn head_of(get: &Operation) -> Operation {
    let mut head = get.clone();
    head.operation_id = get.operation_id.as_ref().map(|id| format!("head_{id}"));
    head.summary = get.summary.as_ref().map(|s| format!("Headers of: {s}"));
    for response in head.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            response.content.clear();
        }
    }
    head
}

/// States `access` on every operation of a group's document, documents the
/// `HEAD` of every `GET`, and gives every error status the operation can
/// answer its problem+json body: those its annotation lists and those its
/// access level and inputs imply. There is no catch-all `default`.
pub fn declare(doc: &mut OpenApi, access: Access) {
    for item in doc.paths.paths.values_mut() {
        if item.head.is_none() {
            item.head = item.get.as_ref().map(head_of);
        }
        for op in operations(item) {
            op.security =
                Some(access.schemes().iter().map(|s| SecurityRequirement::new(*s, Vec::<String>::new())).collect());
            for status in implied_statuses(op, access) {
                op.responses
                    .responses
                    .entry(status.into())
                    .or_insert_with(|| ResponseBuilder::new().description(describe(status)).build().into());
            }
            for (status, response) in &mut op.responses.responses {
                let RefOr::T(response) = response else { continue };
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                if response.description.is_empty() {
                    response.description = describe(status).into();
                }
                // A HEAD answer has the problem's Content-Type and no body.
                response.content.clear();
                response.content.insert(PROBLEM_JSON.into(), problem_content());
                match status.as_str() {
                    "401" => {
                        response.headers.insert("WWW-Authenticate".into(), string_header("`Bearer`"));
                    }
                    "416" => {
                        response
                            .headers
                            .insert("Content-Range".into(), string_header("`bytes */SIZE`: the artifact's size"));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A body whose `name` needs its `workflow`: the object's own schema, and
/// either no `name` (or a null one) or a `workflow` string.
fn name_needs_workflow(body: &str) -> Schema {
    let null = ObjectBuilder::new().schema_type(SchemaType::Type(Type::Null));
    let without_name = ObjectBuilder::new().property("name", null);
    let with_workflow = ObjectBuilder::new().property("workflow", string()).required("workflow");
    Schema::AllOf(
        AllOfBuilder::new()
            .item(Ref::from_schema_name(body))
            .item(Schema::AnyOf(AnyOfBuilder::new().item(without_name).item(with_workflow).build()))
            .build(),
    )
}

/// The pattern of a dead-letter cursor, `i` and the id the next page starts
/// at, as the configured queue writes its ids.
fn dead_letter_cursor(config: &Config) -> &'static str {
    if config.queue.redis_url.is_some() { "^i[^{}@]*@[0-9]{1,19}(?:-[0-9]{1,19})?$" } else { "^i[+-]?[0-9]{1,18}$" }
}

/// States what the configuration and the operations' shapes decide: the
/// plans a tenant may be added on, the retention classes an upload may
/// name, the dead-letter cursor of the configured queue, the bodies whose
/// `name` needs a `workflow`, and the upload body that may be empty.
pub fn configure(doc: &mut OpenApi, config: &Config) {
    let names = |keys: Vec<&str>| string().enum_values(Some(keys)).build();
    let classes = names(config.retention.classes.keys().map(String::as_str).collect());
    let plans: Vec<serde_json::Value> =
        config.retention.plans.keys().map(|p| p.as_str().into()).chain([serde_json::Value::Null]).collect();
    let plan = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(plans))
        .description(Some("Its plan (`free` when absent): one of the configured plans."))
        .build();
    if let Some(RefOr::T(Schema::Object(tenant))) = doc.components.as_mut().and_then(|c| c.schemas.get_mut("NewTenant"))
        && let Some(slot) = tenant.properties.get_mut("plan")
    {
        *slot = RefOr::T(Schema::Object(plan));
    }
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            let own = op.operation_id.clone().unwrap_or_default();
            let id = own.strip_prefix("head_").unwrap_or(&own).to_owned();
            for param in op.parameters.iter_mut().flatten() {
                match (id.as_str(), param.name.as_str()) {
                    (_, "class") => param.schema = Some(RefOr::T(Schema::Object(classes.clone()))),
                    ("list_dead_letters", "cursor") => {
                        let pattern = string().pattern(Some(dead_letter_cursor(config))).build();
                        param.schema = Some(RefOr::T(Schema::Object(pattern)));
                    }
                    _ => {}
                }
            }
            let Some(body) = op.request_body.as_mut() else { continue };
            match id.as_str() {
                "put_artifact" => body.required = Some(Required::False),
                "erase" | "place_hold" => {
                    let name = if id == "erase" { "EraseRequest" } else { "NewHold" };
                    if let Some(json) = body.content.get_mut("application/json") {
                        json.schema = Some(RefOr::T(name_needs_workflow(name)));
                    }
                }
                _ => {}
            }
        }
    }
}

/// An identifier part: a tenant, a workflow or an artifact name, as
/// [`strata_core::id`] parses it. The pattern is built from the same
/// predicates the parser uses, so the two cannot disagree on a character.
pub struct Identifier;

/// A character as a pattern writes it in a class: `\uXXXX` in the basic
/// plane, itself beyond (ECMA-262 and Python read both alike).
fn class_char(c: char) -> String {
    if u32::from(c) <= 0xFFFF { format!("\\u{:04X}", u32::from(c)) } else { c.to_string() }
}

/// The negated character class of every character `refused` names, plus `extra`.
fn negated_class(refused: impl Fn(char) -> bool, extra: &str) -> String {
    let mut runs: Vec<(char, char)> = Vec::new();
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32).filter(|&c| refused(c)) {
        match runs.last_mut() {
            Some((_, last)) if u32::from(*last) + 1 == u32::from(c) => *last = c,
            _ => runs.push((c, c)),
        }
    }
    runs.extend(extra.chars().map(|c| (c, c)));
    let mut class = String::from("[^");
    for (first, last) in runs {
        class.push_str(&class_char(first));
        if last != first {
            class.push('-');
            class.push_str(&class_char(last));
        }
    }
    class.push(']');
    class
}

/// An identifier part, unanchored: allowed characters only, no leading dot
/// or space, no trailing space.
fn identifier_part() -> &'static str {
    static PART: OnceLock<String> = OnceLock::new();
    PART.get_or_init(|| {
        let refused = |c: char| strata_core::id::is_reserved(c) || strata_core::id::is_invisible(c);
        let (first, middle, last) =
            (negated_class(refused, ". "), negated_class(refused, ""), negated_class(refused, " "));
        format!("{first}(?:{middle}*{last})?")
    })
}

/// The pattern of an identifier part.
pub fn identifier_pattern() -> &'static str {
    static PATTERN: OnceLock<String> = OnceLock::new();
    PATTERN.get_or_init(|| format!("^{}$", identifier_part()))
}

impl PartialSchema for Identifier {
    fn schema() -> RefOr<Schema> {
        string()
            .min_length(Some(1))
            .max_length(Some(strata_core::id::MAX_PART_LEN))
            .pattern(Some(identifier_pattern()))
            .examples(["acme", "nightly", "report-2027.json"])
            .description(Some(
                "An identifier part (tenant, workflow or artifact name), normalised to Unicode NFC: at most \
                 128 bytes of UTF-8; no control or invisible formatting characters, no whitespace but the \
                 space, none of / \\ : * ? \" < > | %; no leading dot or space, no trailing space.",
            ))
            .into()
    }
}

impl ToSchema for Identifier {}

/// A name pattern ([`strata_core::query::NamePattern`]): `*` and `?` as
/// wildcards, else the characters a name may hold.
pub struct NameGlob;

impl PartialSchema for NameGlob {
    fn schema() -> RefOr<Schema> {
        static PATTERN: OnceLock<String> = OnceLock::new();
        let pattern = PATTERN.get_or_init(|| {
            let refused =
                |c: char| c != '*' && c != '?' && (strata_core::id::is_reserved(c) || strata_core::id::is_invisible(c));
            format!("^{}+$", negated_class(refused, ""))
        });
        string()
            .min_length(Some(1))
            .max_length(Some(strata_core::id::MAX_PART_LEN))
            .pattern(Some(pattern.as_str()))
            .examples(["nightly-*.json", "v?.tar"])
            .description(Some(
                "A glob over artifact names: * any run of characters, ? one character, every other \
                 character itself (case-sensitive); at most 128 bytes.",
            ))
            .into()
    }
}

impl ToSchema for NameGlob {}

/// An artifact's key, `TENANT/WORKFLOW/NAME`: three identifier parts.
pub struct ArtifactKeyText;

impl PartialSchema for ArtifactKeyText {
    fn schema() -> RefOr<Schema> {
        static PATTERN: OnceLock<String> = OnceLock::new();
        let part = identifier_part();
        let pattern = PATTERN.get_or_init(|| format!("^{part}/{part}/{part}$"));
        string()
            .pattern(Some(pattern.as_str()))
            .description(Some("TENANT/WORKFLOW/NAME, each part an identifier (at most 128 bytes)"))
            .into()
    }
}

impl ToSchema for ArtifactKeyText {}

/// An artifact's bytes, as sent and as received.
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))).into()
    }
}

impl ToSchema for Binary {}

/// The rendered document, served by [`openapi_json`].
#[derive(Debug, Clone)]
pub struct Rendered(pub Arc<String>);

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_json(Extension(doc): Extension<Rendered>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc.0.as_str().to_owned())
}

/// A reason (for a hold, a release, an extension, an erasure): mandatory,
/// and more than whitespace.
pub struct Reason;

impl PartialSchema for Reason {
    fn schema() -> RefOr<Schema> {
        static PATTERN: OnceLock<String> = OnceLock::new();
        let pattern = PATTERN.get_or_init(|| negated_class(char::is_whitespace, ""));
        string()
            .min_length(Some(1))
            .pattern(Some(pattern.as_str()))
            .examples(["legal review 2027-04"])
            .description(Some("Why (mandatory): at least one character that is not whitespace."))
            .into()
    }
}

impl ToSchema for Reason {}

/// A tag or metadata entry, `key=value`: a non-empty key without `=`, no
/// control characters.
pub struct KeyValue;

impl PartialSchema for KeyValue {
    fn schema() -> RefOr<Schema> {
        static PATTERN: OnceLock<String> = OnceLock::new();
        let pattern = PATTERN.get_or_init(|| {
            let key = negated_class(char::is_control, "=");
            let value = negated_class(char::is_control, "");
            format!("^{key}+={value}*$")
        });
        string().pattern(Some(pattern.as_str())).examples(["branch=main"]).description(Some("`key=value`")).into()
    }
}

impl ToSchema for KeyValue {}

/// Repeatable `key=value` entries: at most 16 tags in a query.
pub struct KeyValues;

impl PartialSchema for KeyValues {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new().items(KeyValue::schema()).max_items(Some(strata_core::query::MAX_QUERY_TAGS)).into()
    }
}

impl ToSchema for KeyValues {}

/// A listing's sort order.
pub struct SortName;

impl PartialSchema for SortName {
    fn schema() -> RefOr<Schema> {
        string().enum_values(Some(["name", "created", "size"])).into()
    }
}

impl ToSchema for SortName {}

/// A tier's name.
pub struct TierName;

impl PartialSchema for TierName {
    fn schema() -> RefOr<Schema> {
        string().enum_values(Some(Tier::ALL.iter().map(|t| t.as_str()))).into()
    }
}

impl ToSchema for TierName {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_name_runs_of_refused_characters() {
        let class = negated_class(|c| matches!(c, 'a' | 'b' | 'z' | '\u{1F600}'), "-");
        assert_eq!(class, "[^\\u0061-\\u0062\\u007A\u{1F600}\\u002D]");
    }

    /// The characters a negated class `[^…]` leaves out, as ranges.
    fn ranges(class: &str) -> Vec<(u32, u32)> {
        let body = class.strip_prefix("[^").and_then(|c| c.strip_suffix(']')).expect("a negated class");
        let mut chars = body.chars().peekable();
        let item = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> u32 {
            match chars.next() {
                Some('\\') => {
                    assert_eq!(chars.next(), Some('u'));
                    let hex: String = chars.by_ref().take(4).collect();
                    u32::from_str_radix(&hex, 16).expect("four hex digits")
                }
                Some(c) => u32::from(c),
                None => panic!("a truncated class"),
            }
        };
        let mut out = Vec::new();
        while chars.peek().is_some() {
            let first = item(&mut chars);
            let last = if chars.peek() == Some(&'-') {
                chars.next();
                item(&mut chars)
            } else {
                first
            };
            out.push((first, last));
        }
        out
    }

    #[test]
    fn the_identifier_pattern_refuses_exactly_what_the_parser_refuses() {
        let pattern = identifier_pattern();
        let middle =
            format!("[^{}]", pattern.split("(?:[^").nth(1).and_then(|m| m.split(']').next()).expect("a middle class"));
        let refused = ranges(&middle);
        let in_class = |c: char| refused.iter().any(|&(a, b)| (a..=b).contains(&u32::from(c)));
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let parser = strata_core::id::TenantId::parse(&format!("a{c}a")).is_err();
            assert_eq!(in_class(c), parser, "U+{:04X}", u32::from(c));
        }
        assert!(pattern.starts_with("^[^") && pattern.ends_with(")?$"), "{pattern}");
    }
}
