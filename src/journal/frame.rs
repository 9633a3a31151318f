//! The journal's on-disk format: a segment is a header followed by frames, each
//! `[length: u32 LE][crc32: u32 LE][kind: u8][payload]`, the checksum over kind and
//! payload, the payload one request record as JSON.
//!
//! Reading stops at the first frame that is short or whose checksum does not match: the
//! tail of the last segment a power loss tore mid-write. Everything before it was made
//! durable by an fsync that completed, so nothing after it can have been acknowledged.

use crate::store::RequestRecord;

/// The first bytes of every segment (format version 1).
pub(crate) const HEADER: &[u8; 8] = b"BGJRNL01";
/// Length, checksum and kind.
const FRAME_HEAD: usize = 9;
/// Larger frames are taken for garbage (a record is a few hundred bytes).
const MAX_PAYLOAD: usize = 1 << 20;

/// What a frame says about a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The call was admitted and is about to go upstream; the payload is its record as
    /// a worst-case estimate, written if the call never reports an end.
    Begin = 1,
    /// The call ended; the payload is its final record.
    End = 2,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Begin),
            2 => Some(Self::End),
            _ => None,
        }
    }
}

/// Appends one frame holding `payload` to `out`.
#[cfg(test)]
pub(crate) fn encode(out: &mut Vec<u8>, kind: Kind, payload: &[u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind as u8]);
    crc.update(payload);
    // Payloads are bounded by MAX_PAYLOAD in practice (a record); a longer one would be
    // read back as the torn end of its segment, never misread.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(payload);
}

/// Replaces `out` with one frame holding `record`, serialised in place (no other
/// buffer).
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    kind: Kind,
    record: &RequestRecord,
) -> Result<(), serde_json::Error> {
    out.clear();
    out.resize(FRAME_HEAD, 0);
    serde_json::to_writer(&mut *out, record)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind as u8]);
    crc.update(&out[FRAME_HEAD..]);
    let len = u32::try_from(out.len() - FRAME_HEAD).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&len.to_le_bytes());
    out[4..8].copy_from_slice(&crc.finalize().to_le_bytes());
    out[8] = kind as u8;
    Ok(())
}

/// One frame read back.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) kind: Kind,
    pub(crate) record: RequestRecord,
}

/// What reading a segment found.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub(crate) entries: Vec<Entry>,
    /// Bytes at the end that were not a whole, valid frame (a torn write), if any.
    pub(crate) torn_bytes: usize,
    /// Whole frames whose checksum matched but whose record did not parse.
    pub(crate) unreadable: usize,
}

/// Reads the frames of one segment's bytes.
pub(crate) fn decode(bytes: &[u8]) -> Decoded {
    let mut out = Decoded::default();
    let Some(mut rest) = bytes.strip_prefix(HEADER.as_slice()) else {
        out.torn_bytes = bytes.len();
        return out;
    };
    while !rest.is_empty() {
        let Some(frame) = whole_frame(rest) else {
            out.torn_bytes = rest.len();
            break;
        };
        let (kind, payload, used) = frame;
        rest = &rest[used..];
        match serde_json::from_slice::<RequestRecord>(payload) {
            Ok(record) => out.entries.push(Entry { kind, record }),
            Err(_) => out.unreadable += 1,
        }
    }
    out
}

/// The kind, payload and length of the whole valid frame at the start of `b`.
fn whole_frame(b: &[u8]) -> Option<(Kind, &[u8], usize)> {
    let head = b.get(..FRAME_HEAD)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_PAYLOAD {
        return None;
    }
    let kind = Kind::from_byte(head[8])?;
    let payload = b.get(FRAME_HEAD..FRAME_HEAD + len)?;
    let mut check = crc32fast::Hasher::new();
    check.update(&[head[8]]);
    check.update(payload);
    (check.finalize() == crc).then_some((kind, payload, FRAME_HEAD + len))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::UsageSource;

    pub(crate) fn record(uid: &str) -> RequestRecord {
        RequestRecord {
            request_uid: uid.into(),
            created_at: 1_700_000_000_000,
            user_id: 7,
            username: "alice".into(),
            team: "eng".into(),
            person: "Alice".into(),
            tool: "cli".into(),
            access_key_id: "BGK1".into(),
            model_id: "anthropic.claude-3-haiku".into(),
            operation: "Converse".into(),
            upstream_request_id: None,
            source_ip: "127.0.0.1".into(),
            user_agent: Some("test".into()),
            region: "us-east-1".into(),
            status_code: 200,
            error_type: None,
            input_tokens: 10,
            output_tokens: 20,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: 0.25,
            latency_ms: 3,
            usage_source: UsageSource::Reported,
            not_sent: None,
            ended_early: None,
            usage_clamped: false,
        }
    }

    fn segment(records: &[(Kind, &str)]) -> Vec<u8> {
        let mut out = HEADER.to_vec();
        for (kind, uid) in records {
            let json = serde_json::to_vec(&record(uid)).unwrap();
            encode(&mut out, *kind, &json);
        }
        out
    }

    #[test]
    fn an_encoded_record_equals_the_frame_of_its_json() {
        let mut direct = HEADER.to_vec();
        encode(
            &mut direct,
            Kind::End,
            &serde_json::to_vec(&record("q")).unwrap(),
        );
        let mut buf = vec![1, 2, 3];
        encode_record(&mut buf, Kind::End, &record("q")).unwrap();
        assert_eq!(&direct[HEADER.len()..], &buf[..]);
    }

    #[test]
    fn frames_read_back_in_order() {
        let bytes = segment(&[(Kind::Begin, "a"), (Kind::End, "a"), (Kind::Begin, "b")]);
        let d = decode(&bytes);
        assert_eq!(d.torn_bytes, 0);
        let got: Vec<_> = d
            .entries
            .iter()
            .map(|e| (e.kind, e.record.request_uid.as_str()))
            .collect();
        assert_eq!(
            got,
            [(Kind::Begin, "a"), (Kind::End, "a"), (Kind::Begin, "b")]
        );
        assert_eq!(d.entries[0].record, record("a"));
    }

    #[test]
    fn a_torn_last_frame_is_ignored_at_every_cut() {
        let whole = segment(&[(Kind::Begin, "a"), (Kind::End, "a")]);
        let first_len = segment(&[(Kind::Begin, "a")]).len();
        // Cut anywhere inside the second frame: the first survives, the rest is torn.
        for cut in first_len..whole.len() {
            let d = decode(&whole[..cut]);
            assert_eq!(d.entries.len(), 1, "cut at {cut}");
            assert_eq!(d.entries[0].kind, Kind::Begin);
            assert_eq!(d.torn_bytes, cut - first_len);
            assert_eq!(d.unreadable, 0);
        }
    }

    #[test]
    fn a_flipped_byte_ends_the_segment_there() {
        let mut bytes = segment(&[(Kind::Begin, "a"), (Kind::Begin, "b"), (Kind::Begin, "c")]);
        let first_len = segment(&[(Kind::Begin, "a")]).len();
        bytes[first_len + FRAME_HEAD + 5] ^= 0x40;
        let d = decode(&bytes);
        assert_eq!(d.entries.len(), 1);
        assert!(d.torn_bytes > 0);
    }

    #[test]
    fn a_segment_without_its_header_yields_nothing() {
        assert!(decode(b"BGJR").entries.is_empty());
        assert!(decode(b"").entries.is_empty());
        let d = decode(HEADER);
        assert!(d.entries.is_empty());
        assert_eq!(d.torn_bytes, 0);
    }

    #[test]
    fn a_valid_frame_with_an_unparsable_record_is_counted_and_skipped() {
        let mut bytes = HEADER.to_vec();
        encode(&mut bytes, Kind::End, b"{not json");
        encode(
            &mut bytes,
            Kind::End,
            &serde_json::to_vec(&record("z")).unwrap(),
        );
        let d = decode(&bytes);
        assert_eq!(d.unreadable, 1);
        assert_eq!(d.entries.len(), 1);
    }
}
