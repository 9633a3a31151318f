#!/usr/bin/env python3
"""Memory under hostile uploads: N connections each announce and send a large body signed
by a real proxy key over a *different* body (so each fails its signature check only after
the body is read, the worst case for memory), all at once. Prints the answers by status
and the proxy's RSS before and at its peak (VmHWM).

    hostile_memory.py GATE_URL ACCESS_KEY_ID SECRET PID [CONNECTIONS] [MB]

The key must exist: an unknown key is refused from the request head, before any body.
"""
import collections
import socket
import sys
import threading
import time
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

url, key, secret, pid = sys.argv[1:5]
conns = int(sys.argv[5]) if len(sys.argv) > 5 else 40
mb = int(sys.argv[6]) if len(sys.argv) > 6 else 20
path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
host = urllib.parse.urlparse(url).netloc
size = mb << 20


def rss(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def head():
    req = AWSRequest("POST", url + path, data=b"{}", headers={"content-type": "application/json"})
    SigV4Auth(Credentials(key, secret), "bedrock", "eu-west-1").add_auth(req)
    lines = [f"POST {path} HTTP/1.1", f"host: {host}", f"content-length: {size}"]
    for k, v in req.headers.items():
        if k.lower() not in ("content-length", "host"):
            lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


statuses = collections.Counter()
lock = threading.Lock()
chunk = b" " * (1 << 20)


def one():
    s = socket.create_connection(("127.0.0.1", int(host.split(":")[1])))
    s.settimeout(120)
    status = "closed"
    try:
        s.sendall(head())
        for _ in range(mb):
            s.sendall(chunk)
        data = s.recv(4096)
        status = data.split(b" ", 2)[1].decode() if data else "closed"
    except OSError as e:
        # Refused early: the proxy answered and closed while the body was still going.
        try:
            data = s.recv(4096)
            status = data.split(b" ", 2)[1].decode() if data else type(e).__name__
        except OSError:
            status = type(e).__name__
    finally:
        s.close()
    with lock:
        statuses[status] += 1


before = rss("VmRSS")
threads = [threading.Thread(target=one) for _ in range(conns)]
start = time.time()
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{conns} connections x {mb} MB, signed over another body: answers {dict(statuses)} "
      f"in {time.time() - start:.1f} s; RSS before {before:.0f} MB, peak {rss('VmHWM'):.0f} MB")
