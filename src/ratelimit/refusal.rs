//! [`Throttle`]: which short-term limit turned a call away and when it would fit, and
//! the error the client reads (429 `ThrottlingException` with `Retry-After`, or 400 when
//! the call can never fit under the limit).

use crate::error::GateError;
use crate::quota::Subject;

/// Which short-term limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateKind {
    /// Requests per minute.
    Rpm,
    /// Input plus output tokens per minute.
    Tpm,
    /// Calls in flight.
    Concurrent,
}

/// Why a call was throttled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// Whose limit.
    pub(crate) subject: Subject,
    /// Which limit.
    pub(crate) kind: RateKind,
    /// The limit this proxy enforces (its share).
    pub(crate) limit: u64,
    /// What the call asked (1 request or call, or its worst-case tokens).
    pub(crate) asked: u64,
    /// Whole seconds until the call would fit; `None` when it never can.
    pub(crate) retry_after: Option<u64>,
}

/// The seconds a call refused for calls in flight is asked to wait: when a call ends
/// is not known in advance.
pub(crate) const CONCURRENT_RETRY_AFTER: u64 = 1;

impl Throttle {
    /// The error for the client; `user` and `team` name the subjects.
    pub(crate) fn error(&self, user: &str, team: &str) -> GateError {
        let who = match self.subject {
            Subject::User(_) => format!("user {user}"),
            Subject::Team(_) => format!("team {team}"),
        };
        let what = match self.kind {
            RateKind::Rpm => format!("{} requests per minute", self.limit),
            RateKind::Tpm => format!("{} tokens per minute", self.limit),
            RateKind::Concurrent => format!("{} calls in flight", self.limit),
        };
        match self.retry_after {
            Some(secs) => GateError::Throttled {
                message: format!(
                    "Rate exceeded: the limit of {what} for {who} is reached. Retry after {secs} s."
                ),
                retry_after_secs: secs.max(1),
            },
            None if self.kind == RateKind::Tpm && self.limit > 0 => GateError::QuotaExceeded(format!(
                "This call may use up to {} tokens (prompt estimate plus maximum output), more than the limit of {what} for {who}; a call with a smaller maximum output (max_tokens) may fit.",
                self.asked
            )),
            None => GateError::QuotaExceeded(format!(
                "The limit of {what} for {who} allows no calls."
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_limit_and_the_wait() {
        let t = Throttle {
            subject: Subject::Team(3),
            kind: RateKind::Rpm,
            limit: 5,
            asked: 1,
            retry_after: Some(12),
        };
        match t.error("alice", "eng") {
            GateError::Throttled {
                message,
                retry_after_secs,
            } => {
                assert_eq!(retry_after_secs, 12);
                assert!(
                    message.contains("5 requests per minute for team eng"),
                    "{message}"
                );
            }
            e => panic!("{e:?}"),
        }
        let never = Throttle {
            kind: RateKind::Tpm,
            subject: Subject::User(1),
            limit: 100,
            asked: 4200,
            retry_after: None,
        };
        let e = never.error("alice", "eng");
        assert!(
            matches!(&e, GateError::QuotaExceeded(m) if m.contains("4200 tokens")),
            "{e:?}"
        );
    }
}
