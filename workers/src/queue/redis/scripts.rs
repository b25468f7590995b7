//! The Lua scripts that make each multi-step change atomic, from the `.lua`
//! files beside this one. Those that change leases start with the prelude's
//! shared function.

use redis::Script;

/// Shared by the scripts that change leases: `forget_if_empty`.
const PRELUDE: &str = include_str!("lua/prelude.lua");

/// The queue's scripts, loaded once per connection.
pub(super) struct Scripts {
    /// Due retries back, expired leases taken over (maintenance).
    pub(super) maintain: Script,
    /// New entries of a lane that was empty, writing nothing while it stays so.
    pub(super) read_if_new: Script,
    /// Acknowledgement of what a lease still holds.
    pub(super) ack: Script,
    /// A failed delivery: delayed retry or dead letter.
    pub(super) fail: Script,
    /// A lease extended.
    pub(super) extend: Script,
    /// Entries handed back without spending an attempt.
    pub(super) release: Script,
    /// One lane's depth.
    pub(super) stats: Script,
}

impl Scripts {
    /// Every script, with the prelude where it is needed.
    pub(super) fn load() -> Self {
        let with_prelude = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Self {
            maintain: with_prelude(include_str!("lua/maintain.lua")),
            read_if_new: Script::new(include_str!("lua/read_if_new.lua")),
            ack: with_prelude(include_str!("lua/ack.lua")),
            fail: with_prelude(include_str!("lua/fail.lua")),
            extend: with_prelude(include_str!("lua/extend.lua")),
            release: with_prelude(include_str!("lua/release.lua")),
            stats: Script::new(include_str!("lua/stats.lua")),
        }
    }
}
