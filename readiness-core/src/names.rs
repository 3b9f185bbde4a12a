//! The name rules of checks and tenants: [`validate_name`], [`MAX_NAME_LEN`],
//! [`RESERVED_NAMES`] and the [`NameError`] of a name refused.

use std::fmt;

/// Names that no check or tenant may take.
pub const RESERVED_NAMES: &[&str] = &["tenants", "shutdown"];

/// The longest check or tenant name, in bytes.
///
/// ```
/// assert!(readiness_core::validate_name(&"a".repeat(readiness_core::MAX_NAME_LEN)).is_ok());
/// ```
pub const MAX_NAME_LEN: usize = 63;

/// Why a name is not a valid check or tenant name, if it is not.
///
/// Valid names match `[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?`: 1 to 63 characters, lower-case
/// letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit.
///
/// ```
/// use readiness_core::validate_name;
/// assert!(validate_name("db-primary").is_ok());
/// assert!(validate_name("DB").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err(NameError::Empty);
    }
    if bytes.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(bytes.len()));
    }
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let inner = |b: u8| edge(b) || matches!(b, b'.' | b'_' | b'-');
    if !edge(bytes[0]) || !edge(bytes[bytes.len() - 1]) || !bytes.iter().all(|&b| inner(b)) {
        return Err(NameError::BadCharacters);
    }
    Ok(())
}

/// Why a check or tenant name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than 63 bytes.
    TooLong(usize),
    /// The name has a character outside `[a-z0-9._-]`, or starts or ends with `.`, `_` or `-`.
    BadCharacters,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("name is empty"),
            NameError::TooLong(n) => {
                write!(f, "name is {n} bytes long, at most {MAX_NAME_LEN} are allowed")
            }
            NameError::BadCharacters => f.write_str(
                "name must match [a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])? (lower-case letters, digits, '.', '_', '-')",
            ),
        }
    }
}

impl std::error::Error for NameError {}
