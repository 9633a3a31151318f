#!/usr/bin/env python3
"""Makes Converse calls with boto3 (SigV4) through a running bedrock-gate and prints the
outcome of each as one JSON list: "ok", or the error code the proxy answered with
(e.g. "AccessDeniedException"). No retries: every call is one request.

Run by the dashboard's browser test (tests/js/dashboard.mjs, from tests/it/dashboard.rs).

Usage: converse.py COUNT [MODEL_ID]
Environment: GATE_URL, GATE_REGION, GATE_KEY_ID, GATE_SECRET.
"""

import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def main():
    count = int(sys.argv[1])
    model = sys.argv[2] if len(sys.argv) > 2 else "anthropic.claude-3-haiku-20240307-v1:0"
    client = boto3.session.Session().client(
        "bedrock-runtime",
        endpoint_url=os.environ["GATE_URL"],
        region_name=os.environ["GATE_REGION"],
        aws_access_key_id=os.environ["GATE_KEY_ID"],
        aws_secret_access_key=os.environ["GATE_SECRET"],
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )
    outcomes = []
    for _ in range(count):
        try:
            client.converse(
                modelId=model,
                messages=[{"role": "user", "content": [{"text": "hello"}]}],
                inferenceConfig={"maxTokens": 100},
            )
            outcomes.append("ok")
        except ClientError as e:
            outcomes.append(e.response.get("Error", {}).get("Code", "error"))
    print(json.dumps(outcomes), flush=True)


if __name__ == "__main__":
    main()
