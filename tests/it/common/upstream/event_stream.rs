//! The AWS event-stream wire format as the tests see it: encoding a message with string
//! headers (the fake's stream frames) and decoding a whole stream with both CRCs checked
//! (what tests read back from the proxy).

use serde_json::Value;

/// Encodes one event-stream message with string-typed (type 7) headers.
pub fn encode_event_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut hdrs = Vec::new();
    for (name, value) in headers {
        hdrs.push(name.len() as u8);
        hdrs.extend_from_slice(name.as_bytes());
        hdrs.push(7);
        hdrs.extend_from_slice(&(value.len() as u16).to_be_bytes());
        hdrs.extend_from_slice(value.as_bytes());
    }
    let total = 12 + hdrs.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(hdrs.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&hdrs);
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// One decoded event-stream message. Non-string header values are rendered as text.
#[derive(Clone, Debug)]
pub struct EventFrame {
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

impl EventFrame {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn payload_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.payload).ok()
    }
}

/// Decodes a whole event stream, checking both CRCs of every message.
/// Errors on a bad CRC, a bad length or trailing partial data.
pub fn decode_event_stream(mut data: &[u8]) -> Result<Vec<EventFrame>, String> {
    let mut frames = Vec::new();
    while !data.is_empty() {
        if data.len() < 16 {
            return Err(format!("truncated prelude ({} bytes left)", data.len()));
        }
        let total = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let headers_len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
        let prelude_crc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
        if crc32fast::hash(&data[..8]) != prelude_crc {
            return Err("prelude CRC mismatch".to_owned());
        }
        if total < 16 + headers_len || total > data.len() {
            return Err(format!(
                "bad lengths: total {total}, headers {headers_len}, available {}",
                data.len()
            ));
        }
        let message_crc = u32::from_be_bytes([
            data[total - 4],
            data[total - 3],
            data[total - 2],
            data[total - 1],
        ]);
        if crc32fast::hash(&data[..total - 4]) != message_crc {
            return Err("message CRC mismatch".to_owned());
        }
        let headers = decode_headers(&data[12..12 + headers_len])?;
        let payload = data[12 + headers_len..total - 4].to_vec();
        frames.push(EventFrame { headers, payload });
        data = &data[total..];
    }
    Ok(frames)
}

fn decode_headers(mut h: &[u8]) -> Result<Vec<(String, String)>, String> {
    fn take<'a>(h: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if h.len() < n {
            return Err("truncated header".to_owned());
        }
        let (a, b) = h.split_at(n);
        *h = b;
        Ok(a)
    }
    let mut out = Vec::new();
    while !h.is_empty() {
        let name_len = take(&mut h, 1)?[0] as usize;
        let name = String::from_utf8_lossy(take(&mut h, name_len)?).into_owned();
        let ty = take(&mut h, 1)?[0];
        let value = match ty {
            0 => "true".to_owned(),
            1 => "false".to_owned(),
            2 => (take(&mut h, 1)?[0] as i8).to_string(),
            3 => i16::from_be_bytes(take(&mut h, 2)?.try_into().expect("2 bytes")).to_string(),
            4 => i32::from_be_bytes(take(&mut h, 4)?.try_into().expect("4 bytes")).to_string(),
            5 | 8 => i64::from_be_bytes(take(&mut h, 8)?.try_into().expect("8 bytes")).to_string(),
            6 | 7 => {
                let len =
                    u16::from_be_bytes(take(&mut h, 2)?.try_into().expect("2 bytes")) as usize;
                let v = take(&mut h, len)?;
                if ty == 7 {
                    String::from_utf8_lossy(v).into_owned()
                } else {
                    hex::encode(v)
                }
            }
            9 => hex::encode(take(&mut h, 16)?),
            other => return Err(format!("unknown header type {other}")),
        };
        out.push((name, value));
    }
    Ok(out)
}
