//! Macros the crate's modules share (textually scoped: `mod macros` comes first in `lib.rs`).

/// `get_ref`, `get_mut` and `into_inner` of a service wrapping an inner service `S` in a field
/// `inner`, as tower-http writes them (its `define_inner_service_accessors!`).
macro_rules! inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// The inner service, consuming this one.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}
