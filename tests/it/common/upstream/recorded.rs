//! What the fake upstream received: one [`ReceivedRequest`] per request, signature
//! verdict included, kept in arrival order in a [`RequestLog`] the tests inspect.

use parking_lot::Mutex;

/// One request as the fake upstream received it.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub method: String,
    /// Raw path and query as on the wire.
    pub path: String,
    /// Header names are lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub signature_valid: bool,
    /// Why the request was refused, if it was.
    pub rejection: Option<String>,
}

impl ReceivedRequest {
    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Every request received, in arrival order.
#[derive(Default)]
pub(super) struct RequestLog {
    requests: Mutex<Vec<ReceivedRequest>>,
}

impl RequestLog {
    /// Appends one request.
    pub(super) fn push(&self, request: ReceivedRequest) {
        self.requests.lock().push(request);
    }

    /// A copy of every request so far.
    pub(super) fn all(&self) -> Vec<ReceivedRequest> {
        self.requests.lock().clone()
    }

    /// How many requests arrived, valid or not.
    pub(super) fn count(&self) -> usize {
        self.requests.lock().len()
    }

    /// Requests whose signature verified and that were not refused.
    pub(super) fn valid_count(&self) -> usize {
        self.requests
            .lock()
            .iter()
            .filter(|r| r.signature_valid && r.rejection.is_none())
            .count()
    }
}
