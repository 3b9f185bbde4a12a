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

/// For an enum of unit variants, each named by a string: `as_str` (its doc given first), and
/// a `Display` that writes that name. The crate's own names: [`Kind`](crate::Kind) and
/// [`Status`](crate::Status).
macro_rules! named_enum {
    ($(#[$doc:meta])* $ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            $(#[$doc])*
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
