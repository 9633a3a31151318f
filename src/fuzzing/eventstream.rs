//! Fuzzing the event-stream decoder: any bytes, fed in pieces of a size the input
//! chooses, decode to the same messages and the same error as when fed at once, and a
//! failed decoder stays failed and holds nothing.

use crate::usage::eventstream::{Decoder, Message};

/// Byte 0 chooses the piece size (1..=256); the rest is the stream.
pub fn eventstream(data: &[u8]) {
    let Some((&size, stream)) = data.split_first() else {
        return;
    };
    let whole = decode(stream, stream.len().max(1));
    let pieces = decode(stream, usize::from(size) + 1);
    assert_eq!(whole, pieces, "the decoder depends on how the bytes arrive");
}

/// Every message and the error (if any) of `stream` fed `size` bytes at a time.
fn decode(stream: &[u8], size: usize) -> (Vec<Message>, Option<String>) {
    let mut decoder = Decoder::default();
    let mut messages = Vec::new();
    for piece in stream.chunks(size) {
        decoder.feed(piece);
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(decoder.buffered(), 0, "a failed decoder keeps bytes");
                    decoder.feed(piece);
                    assert_eq!(decoder.next_message(), Err(e.clone()));
                    return (messages, Some(e.to_string()));
                }
            }
        }
    }
    (messages, None)
}
