//! The codec of the generated service and client: prost's, with buffers sized for health
//! messages. A `Watch` stream holds its encode buffer for its whole life, and tonic's default
//! is 8 KiB for messages of 7 bytes: 80 MB for 10,000 streams. The buffer still grows for a
//! larger message (a `List` answer, a long name in a request).

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// The first allocation of an encode or decode buffer, in bytes.
const BUFFER_SIZE: usize = 64;
/// tonic's default: how much a stream encodes before it hands a chunk to the transport.
const YIELD_THRESHOLD: usize = 32 * 1024;

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD)
}

/// The generated code's codec (`codec_path` in `build.rs`).
pub(crate) struct HealthCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for HealthCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for HealthCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(settings())
    }
}
