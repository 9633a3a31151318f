// A real OpenID provider (npm `oidc-provider`, pinned in package.json) for
// tests/it/oidc_credentials.rs. It listens on 127.0.0.1 port 0 and prints one JSON line,
// {"issuer": URL}, then serves until stdin closes.
//
// Clients: `gate` (the proxy's audience) and `other-app` (another audience). Accounts are
// scripted: `<name>` has email `<name>@corp.example`, and groups from GROUPS below.
// `GET /test/id-token?user=NAME&client=ID&ttl=SECONDS[&groups=A,B]` obtains an ID token for that user
// through the provider's own authorization code flow, driven here with HTTP requests:
// /auth -> /interaction/:uid (finished by this script as the user's login and consent)
// -> /auth/:uid -> redirect_uri?code=... -> /token. The ID token's lifetime is `ttl`.
//
// Dashboard single sign-on (tests/dashboard_sso.rs): the client `dashboard` (secret
// `dashboard-secret`, client_secret_basic, PKCE) is a native client whose redirect URI
// `http://127.0.0.1/auth/oidc/callback` matches the gate's callback on any loopback
// port (RFC 8252 7.3, as oidc-provider implements it), so the gate's port chosen at
// run time needs no registration. `GET /test/login-as?user=NAME[&groups=A,B]` picks who
// the next browser sign-in is (the interaction is finished as that user, no form).
// `POST /test/next-token` (body: an ID token) makes the next code exchange at /token
// answer that ID token instead of the real one, to test a gate that gets a substituted
// token (another issuer's, or one with another nonce).
// Device flow (RFC 8628, for tests/oidc_login.rs): the public client `gate-cli` (no secret;
// grants device_code and refresh_token; `offline_access` gives a refresh token, rotated on
// use). Revocation (RFC 7009) is on at /token/revocation. Scripted user actions:
// `GET /test/device-approve?user_code=CODE&user=NAME` enters the code at /device, confirms
// it and finishes the login and consent as NAME; `GET /test/device-deny?user_code=CODE`
// aborts it at the confirmation page; `GET /test/device-ttl?secs=N` makes later device
// codes expire after N seconds.
import http from 'node:http';
import Provider from 'oidc-provider';

const GROUPS = { alice: ['ml-devs', 'everyone'], bob: ['everyone'], carol: ['data-devs'] };
const REDIRECT = 'http://127.0.0.1/callback';
let idTokenTtl = 3600;
// Per-request override of a user's groups (`groups=` on /test/id-token).
let groupsNow = null;
// Lifetime of new device codes (`/test/device-ttl`).
let deviceCodeTtl = 600;

const server = http.createServer();
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const issuer = `http://127.0.0.1:${server.address().port}`;

const client = (id) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  redirect_uris: [REDIRECT],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_post',
});

const dashboardClient = {
  client_id: 'dashboard',
  client_secret: 'dashboard-secret',
  application_type: 'native',
  redirect_uris: ['http://127.0.0.1/auth/oidc/callback', REDIRECT],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
};
// The ID token the next /token answers instead of the real one (POST /test/next-token).
let nextToken = null;
// Who the next interaction signs in, with which groups (GET /test/login-as).
let loginAs = null;

const provider = new Provider(issuer, {
  clients: [client('gate'), client('other-app'), dashboardClient, {
    client_id: 'gate-cli',
    token_endpoint_auth_method: 'none',
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  }],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@corp.example`, email_verified: true, name: id, groups: groupsNow ?? GROUPS[id] ?? [] };
      },
    };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
  },
  pkce: { required: () => false },
  ttl: { IdToken: () => idTokenTtl, DeviceCode: () => deviceCodeTtl },
});
provider.on('server_error', (ctx, err) => console.error('provider error', err));
const callback = provider.callback();

let pendingAccount = null;

async function finishInteraction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (loginAs) {
    pendingAccount = loginAs.user;
    groupsNow = loginAs.groups;
    loginAs = null;
  }
  const accountId = pendingAccount;
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  // A device-flow request may also ask for `offline_access` (a refresh token).
  const asked = String(details.params.scope ?? '').split(' ');
  grant.addOIDCScope(asked.includes('offline_access')
    ? 'openid email profile groups offline_access' : 'openid email profile groups');
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } },
    { mergeWithLastSubmission: false });
}

async function idToken(user, clientId, ttl) {
  pendingAccount = user;
  idTokenTtl = ttl;
  const jar = new Map();
  const get = async (url) => {
    const r = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return r;
  };
  const q = new URLSearchParams({
    client_id: clientId, response_type: 'code', scope: 'openid email profile groups',
    redirect_uri: REDIRECT, nonce: 'n-0S6_WzA2Mj', state: 'st',
  });
  let url = `${issuer}/auth?${q}`;
  for (let hop = 0; hop < 10; hop++) {
    const r = await get(url);
    const loc = r.headers.get('location');
    if (!loc) throw new Error(`no redirect from ${url}: ${r.status} ${await r.text()}`);
    const next = new URL(loc, url);
    if (next.href.startsWith(REDIRECT)) {
      const code = next.searchParams.get('code');
      if (!code) throw new Error(`no code: ${next.href}`);
      const t = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code', code, redirect_uri: REDIRECT,
          client_id: clientId, client_secret: `${clientId}-secret`,
        }),
        ...(clientId === 'dashboard' ? {
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: `Basic ${Buffer.from('dashboard:dashboard-secret').toString('base64')}`,
          },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT }),
        } : {}),
      });
      const body = await t.json();
      if (!body.id_token) throw new Error(`no id_token: ${JSON.stringify(body)}`);
      return body.id_token;
    }
    url = next.href;
  }
  throw new Error('too many redirects');
}

// Drives the provider's own device pages (/device) with HTTP requests as a browser
// would: the code entry form, the confirmation form (confirm or abort), then for a
// confirmation the login and consent interaction finished as `user`.
async function deviceAction(userCode, user, approve) {
  pendingAccount = user;
  const jar = new Map();
  const send = async (url, form) => {
    const r = await fetch(new URL(url, issuer), {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: {
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: form ? new URLSearchParams(form) : undefined,
    });
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return r;
  };
  const xsrfOf = (html) => {
    const m = html.match(/name="xsrf" value="([^"]+)"/);
    if (!m) throw new Error(`no xsrf in the device page: ${html.slice(0, 200)}`);
    return m[1];
  };
  const entry = await send('/device');
  const xsrf = xsrfOf(await entry.text());
  const confirmPage = await send('/device', { xsrf, user_code: userCode });
  const html = await confirmPage.text();
  if (confirmPage.status !== 200 || !html.includes('op.deviceConfirmForm')) {
    throw new Error(`the code was not accepted: ${confirmPage.status} ${html.slice(0, 300)}`);
  }
  const form = { xsrf: xsrfOf(html), user_code: userCode };
  if (!approve) {
    const r = await send('/device', { ...form, abort: 'yes' });
    return `aborted ${r.status}`;
  }
  let r = await send('/device', { ...form, confirm: 'yes' });
  for (let hop = 0; hop < 10; hop++) {
    const loc = r.headers.get('location');
    if (!loc) {
      const body = await r.text();
      if (r.status !== 200) throw new Error(`device approval ended with ${r.status}: ${body.slice(0, 300)}`);
      return 'approved';
    }
    r = await send(loc);
  }
  throw new Error('too many redirects');
}

server.on('request', async (req, res) => {
  try {
    if (req.url.startsWith('/test/device-')) {
      const p = new URL(req.url, issuer).searchParams;
      let text;
      if (req.url.startsWith('/test/device-ttl')) {
        deviceCodeTtl = Number(p.get('secs'));
        text = 'ok';
      } else {
        groupsNow = p.has('groups') ? p.get('groups').split(',').filter(Boolean) : null;
        text = await deviceAction(p.get('user_code'), p.get('user') ?? 'alice',
          req.url.startsWith('/test/device-approve'));
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(text);
      return;
    }
    if (req.url.startsWith('/interaction/')) {
      await finishInteraction(req, res);
      return;
    }
    if (req.url.startsWith('/test/login-as')) {
      const p = new URL(req.url, issuer).searchParams;
      loginAs = { user: p.get('user'), groups: p.has('groups') ? p.get('groups').split(',').filter(Boolean) : null };
      res.writeHead(204);
      res.end();
      return;
    }
    if (req.url.startsWith('/test/next-token') && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      nextToken = body.trim();
      res.writeHead(204);
      res.end();
      return;
    }
    if (req.url.startsWith('/token') && nextToken) {
      const token = nextToken;
      nextToken = null;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ access_token: 'substituted', token_type: 'Bearer', expires_in: 60, id_token: token }));
      return;
    }
    if (req.url.startsWith('/test/id-token')) {
      const p = new URL(req.url, issuer).searchParams;
      groupsNow = p.has('groups') ? p.get('groups').split(',').filter(Boolean) : null;
      const token = await idToken(p.get('user'), p.get('client') ?? 'gate', Number(p.get('ttl') ?? 3600));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(token);
      return;
    }
    callback(req, res);
  } catch (e) {
    console.error(e);
    res.writeHead(500);
    res.end(String(e));
  }
});

console.log(JSON.stringify({ issuer }));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
