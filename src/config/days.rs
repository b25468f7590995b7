//! Retention days: a number of days, never, or the tenant plan's.

use serde::Deserialize;

/// Retention days for a plan or class: a number of days, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Days {
    /// Expires this many days after creation.
    Days(u32),
    /// `"unlimited"` or `"never"`: never expires.
    Never(NeverWord),
}

/// The words accepted for "never expires".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NeverWord {
    /// Never expires.
    Unlimited,
    /// Never expires.
    Never,
}

impl Days {
    /// The number of days, or `None` for never.
    pub fn days(self) -> Option<u32> {
        match self {
            Days::Days(d) => Some(d),
            Days::Never(_) => None,
        }
    }

    /// Reads an environment variable's days: a number, `unlimited`,
    /// `never` or `-1`; the error says what was expected.
    pub(super) fn from_env(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "unlimited" | "never" | "-1" => Ok(Days::Never(NeverWord::Unlimited)),
            v => v.parse().map(Days::Days).map_err(|_| "expected a number of days or \"unlimited\"".to_owned()),
        }
    }
}

/// What a retention class does to expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassRule {
    /// A fixed number of days, or never.
    Fixed(Days),
    /// `"plan"`: the tenant plan's days.
    Plan(PlanWord),
}

/// The word `"plan"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanWord {
    /// Use the tenant plan's retention.
    Plan,
}

/// Reads a plan's or class's days: a number, `"unlimited"` or `"never"`,
/// and for a class also `"plan"`; anything else is refused saying so.
struct DaysVisitor {
    plan_word: bool,
}

impl serde::de::Visitor<'_> for DaysVisitor {
    type Value = ClassRule;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a number of days or \"unlimited\" (also \"never\")")?;
        if self.plan_word { f.write_str(" or \"plan\" (the tenant plan's days)") } else { Ok(()) }
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ClassRule, E> {
        u32::try_from(v)
            .map(|d| ClassRule::Fixed(Days::Days(d)))
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ClassRule, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
        }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ClassRule, E> {
        match v.trim().to_ascii_lowercase().as_str() {
            "unlimited" => Ok(ClassRule::Fixed(Days::Never(NeverWord::Unlimited))),
            "never" => Ok(ClassRule::Fixed(Days::Never(NeverWord::Never))),
            "plan" if self.plan_word => Ok(ClassRule::Plan(PlanWord::Plan)),
            _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
        }
    }
}

impl<'de> Deserialize<'de> for Days {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(DaysVisitor { plan_word: false })? {
            ClassRule::Fixed(days) => Ok(days),
            ClassRule::Plan(_) => Err(serde::de::Error::custom("\"plan\" is a class's word, not a number of days")),
        }
    }
}

impl<'de> Deserialize<'de> for ClassRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DaysVisitor { plan_word: true })
    }
}
