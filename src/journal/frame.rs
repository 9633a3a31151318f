//! The journal's on-disk format: a segment is a header followed by frames, each
//! `[length: u32 LE][crc32: u32 LE][kind: u8][payload]`, the checksum over kind and
//! payload. A begin frame holds a whole request record, an outcome frame only what the
//! call's end changes in it ([`Outcome`]).
//!
//! Payloads are written in postcard (a compact binary serde format: varint integers,
//! length-prefixed strings, fields in declaration order without names), about a third
//! of the bytes of JSON and cheaper to produce; every byte saved is a byte the call's
//! `write` copies and the kernel writes back. Postcard names no fields, so the field
//! lists of [`RequestRecord`] and [`Outcome`] are part of the format: a change to
//! either needs new [`Kind`]s, and the old ones must still be read (the test
//! `packed_frames_of_this_format_still_read` holds bytes of this version). Frames of
//! earlier versions, in JSON, are still read: whole-record begin and end frames, and
//! JSON outcome frames.
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

/// What a frame says about a call, and how its payload is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// JSON, earlier versions: the call was admitted; its record as a worst-case
    /// estimate.
    JsonBegin = 1,
    /// JSON, earlier versions: the call ended; its final record.
    JsonEnd = 2,
    /// JSON, earlier versions: the call ended; its [`Outcome`].
    JsonOutcome = 3,
    /// The call was admitted and is about to go upstream; the payload is its record
    /// (postcard) as a worst-case estimate, written if the call never reports an end.
    Begin = 4,
    /// The call ended; the payload is its [`Outcome`] (postcard).
    Outcome = 5,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::JsonBegin),
            2 => Some(Self::JsonEnd),
            3 => Some(Self::JsonOutcome),
            4 => Some(Self::Begin),
            5 => Some(Self::Outcome),
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
/// (The field order is part of the journal format; see the module comment.)
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

/// Replaces `out` with one frame of `kind` holding `payload` in postcard, serialised in
/// place (the buffer is reused, not reallocated).
pub(crate) fn encode_packed<T: Serialize>(
    out: &mut Vec<u8>,
    kind: Kind,
    payload: &T,
) -> Result<(), postcard::Error> {
    let mut buf = std::mem::take(out);
    buf.clear();
    buf.resize(FRAME_HEAD, 0);
    let mut buf = postcard::to_extend(payload, buf)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind as u8]);
    crc.update(&buf[FRAME_HEAD..]);
    let len = u32::try_from(buf.len() - FRAME_HEAD).unwrap_or(u32::MAX);
    buf[..4].copy_from_slice(&len.to_le_bytes());
    buf[4..8].copy_from_slice(&crc.finalize().to_le_bytes());
    buf[8] = kind as u8;
    *out = buf;
    Ok(())
}

/// One frame read back.
#[derive(Debug)]
pub(crate) enum Entry {
    /// A begin frame, with the call's worst-case record.
    Begin(Box<RequestRecord>),
    /// An end frame of an earlier version, with the call's final record.
    End(Box<RequestRecord>),
    /// An outcome frame.
    Outcome(Outcome<'static>),
}

impl Entry {
    /// The call's id.
    pub(crate) fn request_uid(&self) -> &str {
        match self {
            Self::Begin(r) | Self::End(r) => &r.request_uid,
            Self::Outcome(o) => &o.request_uid,
        }
    }

    /// The entry a whole frame of `kind` holds, if its payload parses.
    fn read(kind: Kind, payload: &[u8]) -> Option<Self> {
        Some(match kind {
            Kind::JsonBegin => Self::Begin(serde_json::from_slice(payload).ok()?),
            Kind::JsonEnd => Self::End(serde_json::from_slice(payload).ok()?),
            Kind::JsonOutcome => Self::Outcome(serde_json::from_slice(payload).ok()?),
            Kind::Begin => Self::Begin(Box::new(unpack(payload)?)),
            Kind::Outcome => Self::Outcome(unpack(payload)?),
        })
    }
}

/// A postcard payload that is exactly one `T`.
fn unpack<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Option<T> {
    match postcard::take_from_bytes(payload) {
        Ok((value, [])) => Some(value),
        _ => None,
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
        match Entry::read(kind, payload) {
            Some(entry) => out.entries.push(entry),
            None => out.unreadable += 1,
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
            refused: None,
            refusal_message: None,
        }
    }

    /// `record` as a frame payload of `kind` (JSON for the JSON kinds).
    pub(crate) fn payload(kind: Kind, record: &RequestRecord) -> Vec<u8> {
        match kind {
            Kind::JsonBegin | Kind::JsonEnd => serde_json::to_vec(record).unwrap(),
            Kind::JsonOutcome => serde_json::to_vec(&Outcome::of(record)).unwrap(),
            Kind::Begin => postcard::to_allocvec(record).unwrap(),
            Kind::Outcome => postcard::to_allocvec(&Outcome::of(record)).unwrap(),
        }
    }

    fn segment(records: &[(Kind, &str)]) -> Vec<u8> {
        let mut out = HEADER.to_vec();
        for (kind, uid) in records {
            encode(&mut out, *kind, &payload(*kind, &record(uid)));
        }
        out
    }

    fn kinds(d: &Decoded) -> Vec<(&'static str, &str)> {
        d.entries
            .iter()
            .map(|e| match e {
                Entry::Begin(r) => ("begin", r.request_uid.as_str()),
                Entry::End(r) => ("end", r.request_uid.as_str()),
                Entry::Outcome(o) => ("outcome", &*o.request_uid),
            })
            .collect()
    }

    #[test]
    fn encode_packed_writes_the_frame_of_its_postcard_bytes() {
        let mut direct = Vec::new();
        encode(
            &mut direct,
            Kind::Begin,
            &payload(Kind::Begin, &record("q")),
        );
        let mut buf = vec![1, 2, 3];
        encode_packed(&mut buf, Kind::Begin, &record("q")).unwrap();
        assert_eq!(direct, buf);
    }

    #[test]
    fn frames_of_every_kind_read_back_in_order() {
        let bytes = segment(&[
            (Kind::Begin, "a"),
            (Kind::JsonEnd, "a"),
            (Kind::JsonBegin, "b"),
            (Kind::JsonOutcome, "b"),
            (Kind::Outcome, "a"),
        ]);
        let d = decode(&bytes);
        assert_eq!(d.torn_bytes, 0);
        assert_eq!(
            kinds(&d),
            [
                ("begin", "a"),
                ("end", "a"),
                ("begin", "b"),
                ("outcome", "b"),
                ("outcome", "a")
            ]
        );
        assert!(matches!(&d.entries[0], Entry::Begin(r) if **r == record("a")));
        assert!(matches!(&d.entries[2], Entry::Begin(r) if **r == record("b")));
    }

    #[test]
    fn packed_frames_are_a_third_of_json() {
        let r = record("0123456789abcdef0123456789abcdef");
        let packed = payload(Kind::Begin, &r).len() + payload(Kind::Outcome, &r).len();
        let json = payload(Kind::JsonBegin, &r).len() + payload(Kind::JsonOutcome, &r).len();
        assert!(packed * 3 < json + 30, "{packed} bytes against {json}");
    }

    /// A segment this version wrote (begin and outcome of call `g`), encoded by hand
    /// from postcard's specification: if a change to `RequestRecord` or `Outcome`
    /// breaks it, the change needs new frame kinds (see the module comment).
    const THIS_FORMAT: &str =
        "42474a524e4c30318b000000643fec2c04016780a0abfef9620e05616c69636503656e6705416c69\
        636503636c690442474b3118616e7468726f7069632e636c617564652d332d6861696b7508436f6e\
        766572736500093132372e302e302e310104746573740975732d656173742d310000148040000000\
        0000000000d03f000a776f7273745f6361736500010d70726f78795f637261736865640046000000\
        9ac4b054050167010475702d31da0601135468726f74746c696e67457863657074696f6e14280604\
        46d26ef4311f203f06087265706f7274656400010d636c69656e745f636c6f73656401";

    #[test]
    fn packed_frames_of_this_format_still_read() {
        let hex: String = THIS_FORMAT.split_whitespace().collect();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let mut begun = record("g");
        begun.status_code = 0;
        begun.output_tokens = 4096;
        begun.latency_ms = 0;
        begun.usage_source = UsageSource::WorstCase;
        begun.ended_early = Some(EndedEarly::ProxyCrashed);
        let mut last = record("g");
        last.upstream_request_id = Some("up-1".into());
        last.status_code = 429;
        last.error_type = Some("ThrottlingException".into());
        (last.cache_read_tokens, last.cache_write_tokens) = (3, 2);
        last.cost_usd = 0.000_123;
        last.ended_early = Some(EndedEarly::ClientClosed);
        last.usage_clamped = true;

        let d = decode(&bytes);
        assert_eq!((d.torn_bytes, d.unreadable), (0, 0));
        let [Entry::Begin(got), Entry::Outcome(outcome)] = &d.entries[..] else {
            panic!("{:?}", d.entries);
        };
        assert_eq!(**got, begun);
        assert_eq!(*outcome, Outcome::of(&last));
        // And this version writes exactly these bytes.
        let mut written = HEADER.to_vec();
        let mut buf = Vec::new();
        encode_packed(&mut buf, Kind::Begin, &begun).unwrap();
        written.extend_from_slice(&buf);
        encode_packed(&mut buf, Kind::Outcome, &Outcome::of(&last)).unwrap();
        written.extend_from_slice(&buf);
        assert_eq!(written, bytes);
    }

    #[test]
    fn a_torn_last_frame_is_ignored_at_every_cut() {
        let whole = segment(&[(Kind::Begin, "a"), (Kind::Outcome, "a")]);
        let first_len = segment(&[(Kind::Begin, "a")]).len();
        // Cut anywhere inside the second frame: the first survives, the rest is torn.
        for cut in first_len..whole.len() {
            let d = decode(&whole[..cut]);
            assert_eq!(kinds(&d), [("begin", "a")], "cut at {cut}");
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
        encode(&mut bytes, Kind::JsonEnd, b"{not json");
        encode(&mut bytes, Kind::Begin, b"\x05short");
        // A whole record with bytes after it is not one record.
        let mut long = payload(Kind::Begin, &record("y"));
        long.push(0);
        encode(&mut bytes, Kind::Begin, &long);
        encode(
            &mut bytes,
            Kind::Outcome,
            &payload(Kind::Begin, &record("y")),
        );
        encode(&mut bytes, Kind::Begin, &payload(Kind::Begin, &record("z")));
        let d = decode(&bytes);
        assert_eq!(d.unreadable, 4);
        assert_eq!(kinds(&d), [("begin", "z")]);
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
        last.not_sent = Some(NotSent::NoCredentials);
        last.usage_clamped = true;
        for (begin, outcome) in [
            (Kind::Begin, Kind::Outcome),
            (Kind::JsonBegin, Kind::JsonOutcome),
        ] {
            let mut bytes = HEADER.to_vec();
            encode(&mut bytes, begin, &payload(begin, &estimate));
            encode(&mut bytes, outcome, &payload(outcome, &last));
            let d = decode(&bytes);
            let [Entry::Begin(begun), Entry::Outcome(o)] = d.entries.as_slice() else {
                panic!("{:?}", d.entries);
            };
            let mut got = (**begun).clone();
            assert_eq!(o.request_uid, "o");
            Outcome::of(&last).apply(&mut got);
            assert_eq!(got, last);
        }
    }
}
