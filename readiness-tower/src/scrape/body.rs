//! [`MetricsBody`]: the `/metrics` exposition, produced in chunks as it is read.

use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body::{Body, Frame};
use readiness_core::TenantCollector;

use super::CHUNK;

/// The body of a `GET /metrics` answer: the recorder's text, then the per-tenant families
/// rendered from the engine's state, a chunk of about 32 KiB of text each time it is polled
/// (gzip-compressed when the scraper asked for it). It never waits: every poll is answered at
/// once, with no lock taken. Dropping it (a scraper that goes away) frees what it holds.
///
/// The layer hands it to the inner service's body type with
/// [`ProbeBody::from_metrics`](crate::ProbeBody::from_metrics); it is an
/// [`http_body::Body`] of `Bytes` that never fails, `Send + Sync + Unpin + 'static`.
pub struct MetricsBody {
    inner: Box<Inner>,
}

struct Inner {
    /// What is left of the recorder's text.
    recorder: Bytes,
    /// The per-tenant families, until they are all written.
    collector: Option<TenantCollector>,
    gzip: Option<Gzip>,
    done: bool,
}

struct Gzip {
    encoder: GzEncoder<Vec<u8>>,
    /// Text waiting to be compressed (reused from chunk to chunk).
    text: String,
}

impl std::fmt::Debug for MetricsBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsBody")
            .field("gzip", &self.inner.gzip.is_some())
            .field("done", &self.inner.done)
            .finish_non_exhaustive()
    }
}

impl MetricsBody {
    pub(crate) fn new(recorder: String, collector: TenantCollector, gzip: bool) -> Self {
        Self {
            inner: Box::new(Inner {
                recorder: Bytes::from(recorder),
                collector: Some(collector),
                // Level 1: a scrape is on the hot path of every pod, and the text's long runs of
                // repeated names compress well even at the fastest level.
                gzip: gzip.then(|| Gzip {
                    encoder: GzEncoder::new(Vec::with_capacity(CHUNK / 4), Compression::fast()),
                    text: String::new(),
                }),
                done: false,
            }),
        }
    }

    /// The whole body at once, for body types that cannot stream (`Full`, `String`).
    pub(crate) fn collect_now(mut self) -> Bytes {
        let mut all = BytesMut::new();
        while let Some(chunk) = self.inner.next_chunk() {
            all.extend_from_slice(&chunk);
        }
        all.freeze()
    }
}

impl Inner {
    /// The next chunk of the body, or `None` once it is all written.
    fn next_chunk(&mut self) -> Option<Bytes> {
        while !self.done {
            let Some(gzip) = &mut self.gzip else {
                match self.next_text() {
                    Some(text) => return Some(text),
                    None => self.done = true,
                }
                continue;
            };
            // Compress text until the encoder gives something out, or the end.
            gzip.text.clear();
            let more = if !self.recorder.is_empty() {
                let n = self.recorder.len().min(CHUNK);
                let part = self.recorder.split_to(n);
                gzip.encoder.write_all(&part).is_ok()
            } else if let Some(c) = &mut self.collector {
                let more = c.render_next(&mut gzip.text, CHUNK);
                if !more {
                    self.collector = None;
                }
                gzip.encoder.write_all(gzip.text.as_bytes()).is_ok() && more
            } else {
                false
            };
            if !more {
                self.done = true;
                // Writing into a `Vec` cannot fail.
                let _ = gzip.encoder.try_finish();
            }
            let out = std::mem::take(gzip.encoder.get_mut());
            if !out.is_empty() {
                return Some(Bytes::from(out));
            }
        }
        None
    }

    /// The next chunk of text: the recorder's, then the collector's.
    fn next_text(&mut self) -> Option<Bytes> {
        if !self.recorder.is_empty() {
            let n = self.recorder.len().min(CHUNK);
            return Some(self.recorder.split_to(n));
        }
        while let Some(c) = &mut self.collector {
            let mut text = String::with_capacity(CHUNK + 256);
            if !c.render_next(&mut text, CHUNK) {
                self.collector = None;
            }
            if !text.is_empty() {
                return Some(Bytes::from(text));
            }
        }
        None
    }
}

impl Body for MetricsBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.get_mut()
                .inner
                .next_chunk()
                .map(|c| Ok(Frame::data(c))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.inner.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_unpin<T: Send + Sync + Unpin + 'static>() {}

    #[test]
    fn the_body_can_go_anywhere() {
        assert_send_sync_unpin::<MetricsBody>();
    }
}
