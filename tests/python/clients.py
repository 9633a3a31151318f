#!/usr/bin/env python3
"""Drives real AWS Python clients through a running bedrock-gate.

Run by tests/it/real_clients.rs; can also be run by hand against any proxy whose fake or
real upstream answers like the one in tests/it/common/upstream.rs.

Environment:
  GATE_URL      http://127.0.0.1:PORT of the proxy
  GATE_REGION   region to sign for
  GATE_KEY_ID   the proxy user's access key id
  GATE_SECRET   its secret access key
  GATE_BEARER   its bearer token (Bedrock API key)
  GATE_CA_BUNDLE  (optional) the CA certificate to trust when GATE_URL is https://;
                current botocore sends bearer tokens only over HTTPS

Uses boto3 (SigV4 and, through AWS_BEARER_TOKEN_BEDROCK, httpBearerAuth) and, when the
`awscli` module is importable, the AWS CLI v1. Prints each check's name as it runs and
ends with `N passed, 0 failed`; exits 1 at the first failure.
"""

import base64
import importlib.util
import json
import os
import subprocess
import sys
import traceback

MODEL_IDS = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/"
    "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
]
INPUT_TOKENS = 120
OUTPUT_TOKENS = 45
RESPONSE_TEXT = "Hello from fake Bedrock"
ANTHROPIC_EVENTS = {
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
}


class CheckFailed(Exception):
    pass


def need(cond, what):
    if not cond:
        raise CheckFailed(what)


def env(name):
    value = os.environ.get(name)
    if not value:
        print(f"FAIL: environment variable {name} is not set", flush=True)
        sys.exit(2)
    return value


GATE_URL = env("GATE_URL")
REGION = env("GATE_REGION")
KEY_ID = env("GATE_KEY_ID")
SECRET = env("GATE_SECRET")
BEARER = env("GATE_BEARER")
CA_BUNDLE = os.environ.get("GATE_CA_BUNDLE") or None

# Nothing from the machine's AWS configuration may leak into the clients.
for name in list(os.environ):
    if name.startswith("AWS_"):
        del os.environ[name]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import boto3  # noqa: E402  (after the environment is cleaned)
import botocore  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}", flush=True)

passed = 0


def check(name, fn):
    global passed
    print(f"check: {name} ...", flush=True)
    try:
        fn()
    except Exception as e:  # noqa: BLE001  (any failure ends the run)
        traceback.print_exc()
        print(f"FAIL: {name}: {type(e).__name__}: {e}", flush=True)
        print(f"{passed} passed, 1 failed", flush=True)
        sys.exit(1)
    passed += 1
    print(f"ok: {name}", flush=True)


class Client:
    """A bedrock-runtime client plus what it put on the wire."""

    def __init__(self, session, **kwargs):
        self.client = session.client(
            "bedrock-runtime",
            endpoint_url=GATE_URL,
            region_name=REGION,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
            verify=CA_BUNDLE,
            **kwargs,
        )
        self.sent = []
        self.client.meta.events.register("before-send.bedrock-runtime", self._sent)

    def _sent(self, request, **_):
        self.sent.append(request.headers.get("Authorization", b""))

    def last_auth(self):
        need(self.sent, "no request was sent")
        auth = self.sent[-1]
        return auth.decode() if isinstance(auth, bytes) else str(auth)


def sigv4_client(key_id=KEY_ID, secret=SECRET):
    return Client(
        boto3.session.Session(),
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def messages(text):
    return [{"role": "user", "content": [{"text": text}]}]


def anthropic_body():
    return json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "Say hello"}],
        }
    )


def check_usage(usage):
    need(usage.get("inputTokens") == INPUT_TOKENS, f"inputTokens in {usage}")
    need(usage.get("outputTokens") == OUTPUT_TOKENS, f"outputTokens in {usage}")


def converse(c, model):
    out = c.client.converse(modelId=model, messages=messages("hello"))
    check_usage(out["usage"])
    text = "".join(b.get("text", "") for b in out["output"]["message"]["content"])
    need(text == RESPONSE_TEXT, f"converse text {text!r}")
    need(out["ResponseMetadata"]["HTTPStatusCode"] == 200, "status")


def invoke_model(c, model):
    out = c.client.invoke_model(
        modelId=model,
        contentType="application/json",
        accept="application/json",
        body=anthropic_body(),
    )
    v = json.loads(out["body"].read())
    need(v["usage"]["input_tokens"] == INPUT_TOKENS, f"input_tokens in {v}")
    need(v["usage"]["output_tokens"] == OUTPUT_TOKENS, f"output_tokens in {v}")
    need(v["content"][0]["text"] == RESPONSE_TEXT, f"text in {v}")


def converse_stream(c, model):
    out = c.client.converse_stream(modelId=model, messages=messages("hello"))
    text = ""
    usage = None
    stop = None
    for event in out["stream"]:
        if "contentBlockDelta" in event:
            text += event["contentBlockDelta"]["delta"].get("text", "")
        elif "messageStop" in event:
            stop = event["messageStop"]["stopReason"]
        elif "metadata" in event:
            usage = event["metadata"]["usage"]
    need(text == RESPONSE_TEXT, f"streamed text {text!r}")
    need(stop == "end_turn", f"stop reason {stop!r}")
    need(usage is not None, "no metadata event")
    check_usage(usage)


def invoke_stream(c, model):
    out = c.client.invoke_model_with_response_stream(
        modelId=model, contentType="application/json", body=anthropic_body()
    )
    types = []
    text = ""
    metrics = None
    for event in out["body"]:
        need("chunk" in event, f"unexpected event {event}")
        v = json.loads(event["chunk"]["bytes"])
        types.append(v["type"])
        if v["type"] == "content_block_delta":
            text += v["delta"]["text"]
        if v["type"] == "message_stop":
            metrics = v.get("amazon-bedrock-invocationMetrics")
    need(len(types) >= 5, f"only {len(types)} chunks: {types}")
    need(types[0] == "message_start", f"first event {types}")
    need(types[-1] == "message_stop", f"last event {types}")
    need(set(types) <= ANTHROPIC_EVENTS, f"unknown events {types}")
    need(text == RESPONSE_TEXT, f"streamed text {text!r}")
    need(metrics is not None, "no invocation metrics on message_stop")
    need(metrics["inputTokenCount"] == INPUT_TOKENS, f"metrics {metrics}")


def signed_with_sigv4(c):
    auth = c.last_auth()
    need(auth.startswith("AWS4-HMAC-SHA256 Credential=" + KEY_ID + "/"), auth)


def expect_refusal(c, codes, send):
    try:
        send()
    except ClientError as e:
        err = e.response.get("Error", {})
        meta = e.response.get("ResponseMetadata", {})
        need(err.get("Code") in codes, f"error code {err} (wanted one of {codes})")
        need(meta.get("HTTPStatusCode") == 403, f"status {meta.get('HTTPStatusCode')}")
        need(meta.get("RetryAttempts") == 0, f"retried: {meta}")
        need(len(c.sent) == 1, f"{len(c.sent)} attempts on the wire")
        return
    raise CheckFailed("the request was accepted")


def run_boto3():
    c = sigv4_client()
    for model in MODEL_IDS:
        for name, fn in [
            ("InvokeModel", invoke_model),
            ("Converse", converse),
            ("ConverseStream", converse_stream),
            ("InvokeModelWithResponseStream", invoke_stream),
        ]:
            check(
                f"boto3 sigv4 {name} {model}",
                lambda fn=fn, model=model: (fn(c, model), signed_with_sigv4(c)),
            )
    need(len(c.sent) == 12, f"{len(c.sent)} requests sent for 12 calls (retries?)")

    def wrong_secret():
        bad = sigv4_client(secret=SECRET[:-4] + "XXXX")
        expect_refusal(
            bad,
            {"InvalidSignatureException"},
            lambda: bad.client.converse(modelId=MODEL_IDS[0], messages=messages("x")),
        )

    def unknown_key():
        bad = sigv4_client(key_id="AKIAUNKNOWNKEY000000")
        expect_refusal(
            bad,
            {"UnrecognizedClientException"},
            lambda: bad.client.converse(modelId=MODEL_IDS[0], messages=messages("x")),
        )

    check("boto3 wrong secret is refused and not retried", wrong_secret)
    check("boto3 unknown key id is refused and not retried", unknown_key)


def bearer_client(token):
    """A client with no credentials in code: botocore then prefers httpBearerAuth."""
    os.environ["AWS_BEARER_TOKEN_BEDROCK"] = token
    return Client(boto3.session.Session())


def run_bearer():
    def good():
        c = bearer_client(BEARER)
        converse(c, MODEL_IDS[0])
        auth = c.last_auth()
        need(auth == "Bearer " + BEARER, f"not bearer auth: {auth[:40]!r}")

    def wrong():
        c = bearer_client(BEARER[:-4] + "XXXX")
        expect_refusal(
            c,
            {"UnrecognizedClientException"},
            lambda: c.client.converse(modelId=MODEL_IDS[0], messages=messages("x")),
        )
        need(c.last_auth().startswith("Bearer "), "not bearer auth")

    try:
        check("boto3 bearer token Converse", good)
        check("boto3 wrong bearer token is refused and not retried", wrong)
    finally:
        os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)


def run_aws_cli():
    if importlib.util.find_spec("awscli") is None:
        print("skip: aws-cli (module awscli is not installed)", flush=True)
        return
    import awscli

    print(f"aws-cli {awscli.__version__}", flush=True)
    cli_env = dict(os.environ)
    cli_env.update(
        {
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_PAGER": "",
            "AWS_MAX_ATTEMPTS": "1",
        }
    )
    cli_env.pop("AWS_BEARER_TOKEN_BEDROCK", None)
    if CA_BUNDLE:
        cli_env["AWS_CA_BUNDLE"] = CA_BUNDLE

    def cli_converse(model):
        cmd = [
            sys.executable,
            "-m",
            "awscli",
            "bedrock-runtime",
            "converse",
            "--endpoint-url",
            GATE_URL,
            "--region",
            REGION,
            "--model-id",
            model,
            "--messages",
            json.dumps(messages("hello")),
            "--output",
            "json",
        ]
        p = subprocess.run(
            cmd, env=cli_env, capture_output=True, text=True, timeout=60, check=False
        )
        need(p.returncode == 0, f"aws exited {p.returncode}: {p.stderr}")
        out = json.loads(p.stdout)
        check_usage(out["usage"])
        text = out["output"]["message"]["content"][0]["text"]
        need(text == RESPONSE_TEXT, f"text {text!r}")

    for model in (MODEL_IDS[0], MODEL_IDS[2]):
        check(f"aws-cli converse {model}", lambda model=model: cli_converse(model))


def main():
    run_boto3()
    run_bearer()
    run_aws_cli()
    print(f"{passed} passed, 0 failed", flush=True)


if __name__ == "__main__":
    main()
