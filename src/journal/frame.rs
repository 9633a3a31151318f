//! The journal's on-disk format: a segment is a header followed by frames, each
//! `[length: u32 LE][crc32: u32 LE][kind: u8][payload]`, the checksum over kind and
//! payload, the payload JSON: a whole request record in a begin frame, only what the
//! call's end changes in it ([`Outcome`]) in an outcome frame. (Journals written before
//! outcome frames existed end calls with `End` frames holding the whole final record;
//! they are still read.)
//!
//! Reading stops at the first frame that is short or whose checksum does not match: the
//! tail of the last segment a power loss tore mid-write. Everything before it was made
//! durable by an fsync that completed, so nothing after it can have been acknowledged.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::domain::{EndedEarly, NotSent, UsageSource};
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
    /// The call ended; the payload is its final record (journals of earlier versions).
    End = 2,
    /// The call ended; the payload is its [`Outcome`].
    Outcome = 3,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Begin),
            2 => Some(Self::End),
            3 => Some(Self::Outcome),
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

/// What a call's end changes in the record its begin frame holds: the final record is
/// the begin frame's with these fields replaced. Borrowed when written, owned when read.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Outcome<'a> {
    #[serde(rename = "u")]
    pub(crate) request_uid: Cow<'a, str>,
    upstream_request_id: Option<Cow<'a, str>>,
    status_code: i64,
    error_type: Option<Cow<'a, str>>,
    input_tokens: i64,
    output_tokens: i64,
    cache_read_tokens: i64,
    cache_write_tokens: i64,
    #[serde(serialize_with = "crate::domain::money::serialize_usd")]
    cost_usd: f64,
    latency_ms: i64,
    usage_source: UsageSource,
    not_sent: Option<NotSent>,
    ended_early: Option<EndedEarly>,
    usage_clamped: bool,
}

impl<'a> Outcome<'a> {
    /// The outcome of the call whose final record is `record`.
    pub(crate) fn of(record: &'a RequestRecord) -> Self {
        Self {
            request_uid: Cow::Borrowed(&record.request_uid),
            upstream_request_id: record.upstream_request_id.as_deref().map(Cow::Borrowed),
            status_code: record.status_code,
            error_type: record.error_type.as_deref().map(Cow::Borrowed),
            input_tokens: record.input_tokens,
            output_tokens: record.output_tokens,
            cache_read_tokens: record.cache_read_tokens,
            cache_write_tokens: record.cache_write_tokens,
            cost_usd: record.cost_usd,
            latency_ms: record.latency_ms,
            usage_source: record.usage_source,
            not_sent: record.not_sent,
            ended_early: record.ended_early,
            usage_clamped: record.usage_clamped,
        }
    }

    /// Turns the begin frame's `record` into the call's final record.
    pub(crate) fn apply(self, record: &mut RequestRecord) {
        record.upstream_request_id = self.upstream_request_id.map(Cow::into_owned);
        record.status_code = self.status_code;
        record.error_type = self.error_type.map(Cow::into_owned);
        record.input_tokens = self.input_tokens;
        record.output_tokens = self.output_tokens;
        record.cache_read_tokens = self.cache_read_tokens;
        record.cache_write_tokens = self.cache_write_tokens;
        record.cost_usd = self.cost_usd;
        record.latency_ms = self.latency_ms;
        record.usage_source = self.usage_source;
        record.not_sent = self.not_sent;
        record.ended_early = self.ended_early;
        record.usage_clamped = self.usage_clamped;
    }
}

/// Replaces `out` with one frame holding `payload` as JSON, serialised in place (no
/// other buffer).
pub(crate) fn encode_json<T: Serialize>(
    out: &mut Vec<u8>,
    kind: Kind,
    payload: &T,
) -> Result<(), serde_json::Error> {
    out.clear();
    out.resize(FRAME_HEAD, 0);
    serde_json::to_writer(&mut *out, payload)?;
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
pub(crate) enum Entry {
    /// A begin frame (`Kind::Begin`) or an end frame of an earlier version (`Kind::End`)
    /// with its record.
    Record(Kind, Box<RequestRecord>),
    /// An outcome frame.
    Outcome(Outcome<'static>),
}

impl Entry {
    /// The call's id.
    pub(crate) fn request_uid(&self) -> &str {
        match self {
            Self::Record(_, r) => &r.request_uid,
            Self::Outcome(o) => &o.request_uid,
        }
    }
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
        let entry = match kind {
            Kind::Outcome => serde_json::from_slice(payload).map(Entry::Outcome),
            Kind::Begin | Kind::End => {
                serde_json::from_slice(payload).map(|r| Entry::Record(kind, Box::new(r)))
            }
        };
        match entry {
            Ok(entry) => out.entries.push(entry),
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
        encode_json(&mut buf, Kind::End, &record("q")).unwrap();
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
            .map(|e| match e {
                Entry::Record(kind, r) => (*kind, r.request_uid.as_str()),
                Entry::Outcome(o) => (Kind::Outcome, &*o.request_uid),
            })
            .collect();
        assert_eq!(
            got,
            [(Kind::Begin, "a"), (Kind::End, "a"), (Kind::Begin, "b")]
        );
        assert!(matches!(&d.entries[0], Entry::Record(_, r) if **r == record("a")));
    }

    #[test]
    fn a_torn_last_frame_is_ignored_at_every_cut() {
        let whole = segment(&[(Kind::Begin, "a"), (Kind::End, "a")]);
        let first_len = segment(&[(Kind::Begin, "a")]).len();
        // Cut anywhere inside the second frame: the first survives, the rest is torn.
        for cut in first_len..whole.len() {
            let d = decode(&whole[..cut]);
            assert_eq!(d.entries.len(), 1, "cut at {cut}");
            assert!(matches!(d.entries[0], Entry::Record(Kind::Begin, _)));
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

    #[test]
    fn an_outcome_turns_the_begin_record_into_the_final_one() {
        let mut estimate = record("o");
        estimate.usage_source = UsageSource::WorstCase;
        estimate.output_tokens = 4096;
        estimate.ended_early = Some(EndedEarly::ProxyCrashed);
        let mut last = record("o");
        last.upstream_request_id = Some("up-1".into());
        last.error_type = Some("ThrottlingException".into());
        last.cost_usd = 0.000_123_4;
        last.ended_early = Some(EndedEarly::ClientClosed);
        last.usage_clamped = true;
        let mut bytes = HEADER.to_vec();
        let mut buf = Vec::new();
        for (kind, json) in [
            (Kind::Begin, serde_json::to_vec(&estimate).unwrap()),
            (
                Kind::Outcome,
                serde_json::to_vec(&Outcome::of(&last)).unwrap(),
            ),
        ] {
            encode(&mut bytes, kind, &json);
        }
        encode_json(&mut buf, Kind::Outcome, &Outcome::of(&last)).unwrap();
        assert!(bytes.ends_with(&buf), "encode_json writes the same frame");
        let d = decode(&bytes);
        let [Entry::Record(Kind::Begin, begun), Entry::Outcome(outcome)] = &d.entries[..] else {
            panic!("{:?}", d.entries);
        };
        let mut got = (**begun).clone();
        assert_eq!(outcome.request_uid, "o");
        Outcome::of(&last).apply(&mut got);
        assert_eq!(got, last);
        // The outcome frame is much smaller than a whole record.
        assert!(
            buf.len() * 3 < serde_json::to_vec(&last).unwrap().len() * 2,
            "{}",
            buf.len()
        );
    }
}
