//! The crate's own macros, declared before the modules that use them.

/// Builder methods that store their one argument in a field of the same meaning, each with
/// its own docs: `name(arg: Type) => field;` becomes `pub fn name(mut self, arg: Type) -> Self`.
/// The argument goes in with `Into`, so an option left `None` until set takes the bare value.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) => $field:ident;)+) => {$(
        $(#[$doc])*
        #[allow(clippy::useless_conversion)]
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.$field = $arg.into();
            self
        }
    )+};
}
