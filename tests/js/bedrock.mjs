// Drives the AWS SDK for JavaScript v3 (@aws-sdk/client-bedrock-runtime, as installed by
// `npm ci --prefix tests/js`) through a running bedrock-gate: Converse, ConverseStream,
// InvokeModel, InvokeModelWithResponseStream, and a ConverseStream whose answer breaks
// with a mid-stream exception. Run by tests/it/js_sdk.rs; can also be run by hand against a
// proxy whose upstream answers like the fake in tests/it/common/upstream.
//
// The client is configured the way users configure it, from the environment only:
//   AWS_ENDPOINT_URL_BEDROCK_RUNTIME  the proxy (http:// for h2c, https:// for TLS)
//   AWS_REGION                        the region to sign for
//   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY  a proxy key (SigV4), or
//   AWS_BEARER_TOKEN_BEDROCK          its bearer token (the SDK then sends only Bearer)
//   NODE_EXTRA_CA_CERTS               the CA to trust for https://
//
// Prints one line per check, then `N passed, M failed`, then one line
// `HTTP2 {"sessions": [...], "streams": [...]}`: every HTTP/2 session the SDK opened
// (its authority and protocol as Node negotiated it: `h2c` on plain TCP, `h2` by ALPN
// on TLS) and every request it sent on them (the `:authority` it carried, whether it
// had a `host` header, its authorization scheme, the answer's status and header names).
// Exits 1 when a check failed.

import http2 from "node:http2";

import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";

// What the fake upstream answers (tests/it/common/upstream/mod.rs).
const RESPONSE_TEXT = "Hello from fake Bedrock";
const INPUT_TOKENS = 120;
const OUTPUT_TOKENS = 45;

const BARE = "anthropic.claude-3-haiku-20240307-v1:0";
const PROFILE = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0";
const ARN = `arn:aws:bedrock:eu-west-1:123456789012:inference-profile/${PROFILE}`;
const MESSAGES = [{ role: "user", content: [{ text: "Hello" }] }];
const ANTHROPIC_BODY = JSON.stringify({
  anthropic_version: "bedrock-2023-05-31",
  max_tokens: 100,
  messages: [{ role: "user", content: "Hello" }],
});

// Every HTTP/2 session and stream the SDK opens, seen through node:http2 (the SDK's
// NodeHttp2Handler calls http2.connect on this very module object).
const sessions = [];
const streams = [];
const connect = http2.connect;
http2.connect = function (authority, ...rest) {
  const session = connect.call(this, authority, ...rest);
  const seen = { authority: String(authority), protocol: null };
  sessions.push(seen);
  session.once("connect", () => {
    seen.protocol = session.alpnProtocol ?? null;
  });
  const request = session.request;
  session.request = function (headers, ...more) {
    // Header names as the SDK set them (the bearer signer writes `Authorization`);
    // HTTP/2 sends them lowercase.
    const header = (name) =>
      Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1] ?? null;
    const seen = {
      authority: header(":authority"),
      host: header("host"),
      scheme: String(header("authorization") ?? "").split(" ")[0],
      status: null,
      responseHeaders: null,
    };
    streams.push(seen);
    const stream = request.call(this, headers, ...more);
    stream.once("response", (response) => {
      seen.status = response[":status"];
      seen.responseHeaders = Object.keys(response).sort();
    });
    return stream;
  };
  return session;
};

function need(condition, what) {
  if (!condition) {
    throw new Error(what);
  }
}

function expectUsage(usage, what) {
  need(
    usage?.inputTokens === INPUT_TOKENS && usage?.outputTokens === OUTPUT_TOKENS,
    `${what}: usage ${JSON.stringify(usage)}`,
  );
}

const client = new BedrockRuntimeClient({});

const checks = [
  [
    "Converse",
    async () => {
      const r = await client.send(new ConverseCommand({ modelId: BARE, messages: MESSAGES }));
      need(r.output.message.content[0].text === RESPONSE_TEXT, `text ${JSON.stringify(r.output)}`);
      expectUsage(r.usage, "Converse");
    },
  ],
  [
    "ConverseStream",
    async () => {
      const r = await client.send(new ConverseStreamCommand({ modelId: PROFILE, messages: MESSAGES }));
      let text = "";
      const kinds = [];
      let usage = null;
      for await (const event of r.stream) {
        const kind = Object.keys(event).find((k) => event[k] !== undefined);
        kinds.push(kind);
        if (event.contentBlockDelta) {
          text += event.contentBlockDelta.delta.text;
        }
        if (event.metadata) {
          usage = event.metadata.usage;
        }
      }
      need(text === RESPONSE_TEXT, `streamed text ${JSON.stringify(text)}`);
      need(
        JSON.stringify(kinds) ===
          JSON.stringify([
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata",
          ]),
        `events ${kinds}`,
      );
      expectUsage(usage, "ConverseStream metadata");
    },
  ],
  [
    "InvokeModel",
    async () => {
      const r = await client.send(
        new InvokeModelCommand({ modelId: ARN, contentType: "application/json", body: ANTHROPIC_BODY }),
      );
      const body = JSON.parse(new TextDecoder().decode(r.body));
      need(body.content[0].text === RESPONSE_TEXT, `body ${JSON.stringify(body)}`);
      need(body.usage.input_tokens === INPUT_TOKENS, `usage ${JSON.stringify(body.usage)}`);
    },
  ],
  [
    "InvokeModelWithResponseStream",
    async () => {
      const r = await client.send(
        new InvokeModelWithResponseStreamCommand({
          modelId: BARE,
          contentType: "application/json",
          body: ANTHROPIC_BODY,
        }),
      );
      let text = "";
      let metrics = null;
      const types = [];
      for await (const event of r.body) {
        need(event.chunk, `not a chunk: ${JSON.stringify(event)}`);
        const inner = JSON.parse(new TextDecoder().decode(event.chunk.bytes));
        types.push(inner.type);
        if (inner.type === "content_block_delta") {
          text += inner.delta.text;
        }
        metrics = inner["amazon-bedrock-invocationMetrics"] ?? metrics;
      }
      need(text === RESPONSE_TEXT, `streamed text ${JSON.stringify(text)} from ${types}`);
      need(types[0] === "message_start" && types.at(-1) === "message_stop", `events ${types}`);
      need(
        metrics?.inputTokenCount === INPUT_TOKENS && metrics?.outputTokenCount === OUTPUT_TOKENS,
        `invocation metrics ${JSON.stringify(metrics)}`,
      );
    },
  ],
  [
    "ConverseStream broken by a mid-stream exception",
    async () => {
      const r = await client.send(
        new ConverseStreamCommand({ modelId: `${BARE}-midstream`, messages: MESSAGES }),
      );
      const kinds = [];
      let error = null;
      try {
        for await (const event of r.stream) {
          kinds.push(Object.keys(event).find((k) => event[k] !== undefined));
        }
      } catch (e) {
        error = e;
      }
      need(kinds[0] === "messageStart", `events before the exception: ${kinds}`);
      need(error?.name === "ModelStreamErrorException", `error ${error?.name}: ${error?.message}`);
    },
  ],
];

let passed = 0;
let failed = 0;
for (const [name, run] of checks) {
  try {
    await run();
    passed += 1;
    console.log(`ok ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e?.name ?? "Error"}: ${e?.message ?? e}`);
  }
}
client.destroy();
console.log(`${passed} passed, ${failed} failed`);
console.log(`HTTP2 ${JSON.stringify({ sessions, streams })}`);
process.exitCode = failed === 0 ? 0 : 1;
