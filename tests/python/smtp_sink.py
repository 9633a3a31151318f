"""A real SMTP server for the notification tests (aiosmtpd).

Usage: smtp_sink.py PORT [USER PASSWORD]

Listens on 127.0.0.1:PORT; with USER and PASSWORD it requires AUTH (PLAIN or LOGIN,
allowed without TLS for the test). Prints "ready" once listening, then one JSON line per
message accepted: envelope sender and recipients, headers, and the decoded text and HTML
parts, so the Rust test can check them.
"""

import email
import email.policy
import json
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {}
        for part in msg.walk():
            ctype = part.get_content_type()
            if ctype in ("text/plain", "text/html") and not part.is_multipart():
                parts[ctype] = part.get_content()
        print(
            json.dumps(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "from": str(msg["From"]),
                    "to": str(msg["To"]),
                    "subject": str(msg["Subject"]),
                    "content_type": msg.get_content_type(),
                    "text": parts.get("text/plain"),
                    "html": parts.get("text/html"),
                    "auth": session.authenticated,
                }
            ),
            flush=True,
        )
        return "250 OK"


def main():
    port = int(sys.argv[1])
    kwargs = {}
    if len(sys.argv) == 4:
        user, password = sys.argv[2].encode(), sys.argv[3].encode()

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and (
                auth_data.login == user and auth_data.password == password
            )
            return AuthResult(success=ok)

        kwargs = dict(
            authenticator=authenticator, auth_required=True, auth_require_tls=False
        )
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
