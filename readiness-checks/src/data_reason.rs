//! placeholder for the shared reason vocabulary
use std::error::Error;
use std::io;
pub(crate) fn io_source<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a io::Error> {
    let mut cur: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}
pub(crate) fn io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        io::ErrorKind::TimedOut => "timeout".into(),
        io::ErrorKind::UnexpectedEof => "connection closed".into(),
        k => format!("{k}"),
    }
}
