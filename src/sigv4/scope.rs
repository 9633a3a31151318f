//! The credential scope and dates of SigV4: `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`, UTC), the
//! `YYYYMMDD` day that starts it and names the scope, the scope
//! `DAY/REGION/bedrock/aws4_request`, and the string to sign made of them.

use std::fmt;
use std::time::SystemTime;

use chrono::{DateTime, Datelike as _, NaiveDateTime, Timelike as _, Utc};
use sha2::{Digest, Sha256};

use super::{ALGORITHM, SERVICE};
use crate::hash::push_hex;

/// The `X-Amz-Date` format, for parsing ([`amz_date`] writes the same by hand).
const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// `time` as `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`, UTC).
pub(crate) fn amz_date(time: SystemTime) -> String {
    let t: DateTime<Utc> = time.into();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an `X-Amz-Date` value.
pub(crate) fn parse_amz_date(value: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(value, AMZ_DATE_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// The `YYYYMMDD` day an `X-Amz-Date` starts with (the whole value if it is shorter).
pub(crate) fn day_of(amz_date: &str) -> &str {
    amz_date.get(..8).unwrap_or(amz_date)
}

/// The credential scope `DAY/REGION/bedrock/aws4_request`, written without allocating.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scope<'a> {
    /// `YYYYMMDD`.
    pub(crate) day: &'a str,
    /// The region signed for.
    pub(crate) region: &'a str,
}

impl fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{SERVICE}/aws4_request", self.day, self.region)
    }
}

/// The string to sign: algorithm, `X-Amz-Date`, scope and the hex SHA-256 of the
/// canonical request, one per line.
pub(crate) fn string_to_sign(amz_date: &str, scope: Scope<'_>, canonical_request: &str) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(ALGORITHM.len() + amz_date.len() + 160);
    let _ = write!(out, "{ALGORITHM}\n{amz_date}\n{scope}\n");
    push_hex(&Sha256::digest(canonical_request.as_bytes()), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn amz_date_is_written_and_parsed_the_same_way() {
        // 2015-08-30T12:36:00Z, the date of AWS's SigV4 test suite.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(t), "20150830T123600Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_599);
        assert_eq!(amz_date(t), "20251231T235959Z");
        assert_eq!(
            parse_amz_date("20251231T235959Z").map(SystemTime::from),
            Some(t)
        );
        assert_eq!(parse_amz_date("2025-12-31T23:59:59Z"), None);
        assert_eq!(day_of("20251231T235959Z"), "20251231");
        assert_eq!(day_of("2025"), "2025");
    }

    #[test]
    fn scope_and_string_to_sign_follow_the_aws_example() {
        let scope = Scope {
            day: "20150830",
            region: "us-east-1",
        };
        assert_eq!(scope.to_string(), "20150830/us-east-1/bedrock/aws4_request");
        let s = string_to_sign("20150830T123600Z", scope, "");
        assert_eq!(
            s,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/bedrock/aws4_request\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
