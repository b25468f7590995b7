//! Identifiers that can only be built by parsing: tenant, workflow and artifact
//! names, and the `TENANT/WORKFLOW/NAME` key that joins them.
//!
//! Every part is checked at the boundary so that nothing downstream ever has to
//! think about path traversal, control characters or unbounded lengths.

use std::fmt;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The longest accepted identifier part, in bytes.
pub const MAX_PART_LEN: usize = 128;

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The part is empty.
    #[error("{what} must not be empty")]
    Empty {
        /// Which identifier was being parsed.
        what: &'static str,
    },
    /// The part is longer than [`MAX_PART_LEN`].
    #[error("{what} {value:?} is longer than {MAX_PART_LEN} bytes")]
    TooLong {
        /// Which identifier was being parsed.
        what: &'static str,
        /// The offending value (truncated for display).
        value: String,
    },
    /// The part is `.` or `..`, or starts with a dot-dot sequence.
    #[error("{what} {value:?} is a relative path component")]
    Relative {
        /// Which identifier was being parsed.
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// The part holds a forbidden character.
    #[error("{what} {value:?} contains the forbidden character {ch:?}")]
    BadChar {
        /// Which identifier was being parsed.
        what: &'static str,
        /// The offending value.
        value: String,
        /// The first forbidden character found.
        ch: char,
    },
    /// The part holds an invisible formatting character (Unicode category
    /// Cf, such as the bidi override U+202E or the zero-width space U+200B),
    /// which would make two different names look alike.
    #[error("{what} {value:?} contains the invisible formatting character {code}")]
    Invisible {
        /// Which identifier was being parsed.
        what: &'static str,
        /// The offending value (the message shows it escaped).
        value: String,
        /// The character as `U+XXXX`.
        code: String,
    },
    /// The part starts or ends with a space, or starts with a dot.
    #[error("{what} {value:?} must not {rule}")]
    Edge {
        /// Which identifier was being parsed.
        what: &'static str,
        /// The offending value.
        value: String,
        /// Which edge rule it breaks.
        rule: &'static str,
    },
    /// A key did not have exactly the expected number of parts.
    #[error("{value:?} is not of the form {expected}")]
    Shape {
        /// The offending value.
        value: String,
        /// The expected form.
        expected: &'static str,
    },
}

/// Normalises an identifier part to Unicode NFC and checks it, so that the
/// composed and decomposed spellings of one name are one identifier.
fn normalize_part(what: &'static str, value: &str) -> Result<String, IdError> {
    let value: String = value.nfc().collect();
    check_part(what, &value)?;
    Ok(value)
}

/// Whether `c` is refused anywhere in an identifier part as a forbidden
/// character: a control character, whitespace other than the space, or one
/// of `/ \\ : * ? " < > | %`.
pub fn is_reserved(c: char) -> bool {
    c.is_control()
        || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '%')
        || c.is_whitespace() && c != ' '
}

/// Whether `c` is an invisible formatting character (Unicode category Cf),
/// refused anywhere in an identifier part.
pub fn is_invisible(c: char) -> bool {
    c.general_category() == GeneralCategory::Format
}

fn check_part(what: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { what });
    }
    if value.len() > MAX_PART_LEN {
        let shown: String = value.chars().take(32).collect();
        return Err(IdError::TooLong { what, value: format!("{shown}…") });
    }
    if value == "." || value == ".." || value.starts_with("..") {
        return Err(IdError::Relative { what, value: value.to_owned() });
    }
    if let Some(ch) = value.chars().find(|&c| is_reserved(c)) {
        return Err(IdError::BadChar { what, value: value.escape_debug().to_string(), ch });
    }
    if let Some(ch) = value.chars().find(|&c| is_invisible(c)) {
        let code = format!("U+{:04X}", u32::from(ch));
        return Err(IdError::Invisible { what, value: value.to_owned(), code });
    }
    let edge = if value.starts_with(' ') {
        Some("start with a space")
    } else if value.ends_with(' ') {
        Some("end with a space")
    } else if value.starts_with('.') {
        Some("start with a dot")
    } else {
        None
    };
    if let Some(rule) = edge {
        return Err(IdError::Edge { what, value: value.to_owned(), rule });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses and validates the identifier, normalised to Unicode NFC.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                normalize_part($what, value).map(Self)
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A tenant: the unit of isolation and of plan-based retention.
    TenantId,
    "tenant"
);
id_type!(
    /// A workflow: a namespace of artifacts inside a tenant.
    WorkflowName,
    "workflow"
);
id_type!(
    /// An artifact's name inside its workflow.
    ArtifactName,
    "artifact name"
);

/// The full address of an artifact: `TENANT/WORKFLOW/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ArtifactKey {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The workflow namespace.
    pub workflow: WorkflowName,
    /// The artifact's name.
    pub name: ArtifactName,
}

impl ArtifactKey {
    /// Parses `TENANT/WORKFLOW/NAME`.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let parts: Vec<&str> = value.split('/').collect();
        let [tenant, workflow, name] = parts.as_slice() else {
            return Err(IdError::Shape { value: value.escape_debug().to_string(), expected: "TENANT/WORKFLOW/NAME" });
        };
        Ok(Self {
            tenant: TenantId::parse(tenant)?,
            workflow: WorkflowName::parse(workflow)?,
            name: ArtifactName::parse(name)?,
        })
    }
}

impl fmt::Display for ArtifactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.tenant, self.workflow, self.name)
    }
}

impl std::str::FromStr for ArtifactKey {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

/// A scope for listings: a whole catalog, one tenant, or one workflow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Restrict to one tenant.
    pub tenant: Option<TenantId>,
    /// Restrict to one workflow (requires a tenant).
    pub workflow: Option<WorkflowName>,
}

impl Scope {
    /// Parses `""`, `TENANT` or `TENANT/WORKFLOW`.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        if value.is_empty() {
            return Ok(Self::default());
        }
        let mut parts = value.splitn(2, '/');
        let tenant = TenantId::parse(parts.next().unwrap_or_default())?;
        let workflow = parts.next().map(WorkflowName::parse).transpose()?;
        Ok(Self { tenant: Some(tenant), workflow })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        let key = ArtifactKey::parse("acme/nightly/report-2025.json").unwrap();
        assert_eq!(key.tenant.as_str(), "acme");
        assert_eq!(key.to_string(), "acme/nightly/report-2025.json");
    }

    #[test]
    fn rejects_bad_parts() {
        /// Whether an error is the one expected.
        type Reason<'a> = &'a dyn Fn(&IdError) -> bool;
        let shape = |e: &IdError| matches!(e, IdError::Shape { expected: "TENANT/WORKFLOW/NAME", .. });
        let relative = |part: &'static str| move |e: &IdError| matches!(e, IdError::Relative { what, value } if *what == part && value == "..");
        let bad_char = |c: char| move |e: &IdError| matches!(e, IdError::BadChar { ch, .. } if *ch == c);
        let bad: [(&str, Reason); 13] = [
            ("", &shape),
            ("acme", &shape),
            ("acme/wf", &shape),
            ("acme/wf/a/b", &shape),
            ("../wf/x", &relative("tenant")),
            ("acme/../x", &relative("workflow")),
            ("acme/wf/..", &relative("artifact name")),
            ("acme/wf/.hidden", &|e| matches!(e, IdError::Edge { rule: "start with a dot", .. })),
            ("acme/wf/a\u{0}b", &bad_char('\0')),
            ("acme/wf/a\nb", &bad_char('\n')),
            ("acme/wf/a\\b", &bad_char('\\')),
            ("acme/wf/%2e%2e", &bad_char('%')),
            ("acme//x", &|e| matches!(e, IdError::Empty { what: "workflow" })),
        ];
        for (value, expected) in bad {
            let err = ArtifactKey::parse(value).expect_err(value);
            assert!(expected(&err), "{value:?} is rejected for the wrong reason: {err:?}");
        }
        let long = format!("acme/wf/{}", "x".repeat(MAX_PART_LEN + 1));
        assert!(matches!(ArtifactKey::parse(&long), Err(IdError::TooLong { .. })));
    }

    #[test]
    fn composed_and_decomposed_spellings_are_one_identifier() {
        let composed = ArtifactKey::parse("acme/caf\u{e9}/r\u{e9}sum\u{e9}.pdf").unwrap();
        let decomposed = ArtifactKey::parse("acme/cafe\u{301}/re\u{301}sume\u{301}.pdf").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(decomposed.workflow.as_str(), "caf\u{e9}", "stored in NFC");
        assert_eq!(TenantId::parse("A\u{30a}").unwrap().as_str(), "\u{c5}");
    }

    #[test]
    fn invisible_formatting_characters_are_refused_by_code_point() {
        let cases = [
            ("acme/wf/invoice\u{202e}fdp.exe", "U+202E"),
            ("acme/wf/zero\u{200b}width", "U+200B"),
            ("\u{feff}acme/wf/x", "U+FEFF"),
            ("acme/wf/isolate\u{2066}x", "U+2066"),
            ("acme/wf/soft\u{ad}hyphen", "U+00AD"),
            ("acme/wf/tag\u{e0041}", "U+E0041"),
        ];
        for (value, code) in cases {
            let err = ArtifactKey::parse(value).unwrap_err();
            assert!(matches!(err, IdError::Invisible { .. }), "{value:?}: {err:?}");
            let message = err.to_string();
            assert!(message.contains(code), "{value:?}: {message}");
            assert!(message.is_ascii(), "the message shows the character escaped: {message}");
        }
    }

    #[test]
    fn edge_spaces_and_dots_are_reported_as_such() {
        let cases = [
            ("acme/wf/trailing ", "must not end with a space"),
            ("acme/wf/ leading", "must not start with a space"),
            ("acme/ wf/x", "must not start with a space"),
            ("acme/wf/.dot", "must not start with a dot"),
        ];
        for (value, want) in cases {
            let message = ArtifactKey::parse(value).unwrap_err().to_string();
            assert!(message.contains(want), "{value:?}: {message}");
            assert!(!message.contains("forbidden character"), "{value:?}: {message}");
        }
        assert_eq!(ArtifactKey::parse("acme/wf/inner space").unwrap().name.as_str(), "inner space");
    }

    #[test]
    fn scopes() {
        assert_eq!(Scope::parse("").unwrap(), Scope::default());
        let s = Scope::parse("acme/wf").unwrap();
        assert_eq!(s.workflow.unwrap().as_str(), "wf");
        let err = Scope::parse("acme/../x").unwrap_err();
        assert!(matches!(&err, IdError::Relative { what: "workflow", .. }), "{err:?}");
    }
}
