//! Fuzzing the crash journal's segment reader: any bytes read as a segment (a torn or
//! corrupted file after a crash) yield frames and a torn tail, never a panic; the frames
//! read back, written again in the current format, read back to the same frames.

use crate::journal::frame::{self, Entry, Kind, HEADER};

/// The input's first byte chooses whether the segment header is put in front of the
/// rest (odd: most inputs then reach the frames); the rest is the segment file.
pub fn journal(data: &[u8]) {
    let Some((&flag, rest)) = data.split_first() else {
        return;
    };
    let segment = if flag & 1 == 1 {
        [HEADER.as_slice(), rest].concat()
    } else {
        rest.to_vec()
    };
    let decoded = frame::decode(&segment);
    assert!(decoded.torn_bytes <= segment.len());
    if !segment.starts_with(HEADER) {
        assert!(decoded.entries.is_empty(), "frames read without the header");
        return;
    }
    let again = rewrite(&decoded.entries);
    let reread = frame::decode(&again);
    assert_eq!((reread.torn_bytes, reread.unreadable), (0, 0));
    assert_eq!(reread.entries.len(), decoded.entries.len());
    // Compared as bytes: costs are rounded when written, and NaN equals itself there.
    assert_eq!(
        rewrite(&reread.entries),
        again,
        "frames changed on a second write"
    );
}

/// A segment holding `entries` in this version's frame kinds (an old end frame becomes
/// the outcome it implies).
fn rewrite(entries: &[Entry]) -> Vec<u8> {
    let mut out = HEADER.to_vec();
    let mut buf = Vec::new();
    for entry in entries {
        let encoded = match entry {
            Entry::Begin(r) => frame::encode_packed(&mut buf, Kind::Begin, &**r),
            Entry::End(r) => frame::encode_packed(&mut buf, Kind::Outcome, &frame::Outcome::of(r)),
            Entry::Outcome(o) => frame::encode_packed(&mut buf, Kind::Outcome, o),
        };
        if let Err(e) = encoded {
            panic!("a record read back does not encode: {e}");
        }
        out.extend_from_slice(&buf);
    }
    out
}
