#!/usr/bin/env node
// A real OpenID Connect provider for paminn's sign-in tests: the npm package
// oidc-provider (panva), configured with one confidential client and a
// minimal interaction of its own that signs in a given account without a
// password.
//
//   node launch.mjs --redirect-uri URL [--redirect-uri URL ...]
//                   [--post-logout-redirect-uri URL] [--port N]
//                   [--client-id paminn] [--client-secret S] [--ignore-stdin]
//
// Prints exactly one line, `READY <port>`, on stdout once it listens on
// 127.0.0.1 (with `--port 0`, the default, the OS picks the port; the issuer
// is `http://127.0.0.1:<port>`), and exits when stdin closes (unless
// --ignore-stdin) or on SIGTERM/SIGINT.
//
// The provider: discovery, JWKS (a fresh RSA key per run), authorization
// code flow with PKCE required (S256), client_secret_basic/post at the token
// endpoint, RP-initiated logout (end_session_endpoint), id_tokens carrying
// the scopes' claims (conformIdTokenClaims off). Consent is granted at once
// for the one client (a first-party application).
//
// Accounts: whoever signs in at the interaction page. Its form takes
// `login` (the account id = `sub`) and `groups` (comma-separated). Claims:
//   sub, preferred_username = login, email = <login>@kommun.example,
//   email_verified, name = "Test <login>", groups = [...],
//   hsa_id = "SE2321000016-<login>".
//
// One misbehaviour on purpose, for the relying party's checks: the account
// `other-audience` gets id_tokens addressed to another client
// (`aud: "another-client"`), signed and otherwise valid, as a mixed-up or
// hostile provider would send them.
import http from 'node:http';
import crypto from 'node:crypto';
import { URLSearchParams } from 'node:url';
import Provider from 'oidc-provider';

// ---------------------------------------------------------------- arguments
const args = process.argv.slice(2);
const opt = { port: 0, redirect: [], postLogout: [], clientId: 'paminn', clientSecret: 'paminn-test-client-secret-0123456789', ignoreStdin: false };
for (let i = 0; i < args.length; i += 1) {
  const a = args[i];
  const v = () => { i += 1; if (i >= args.length) throw new Error(`${a} needs a value`); return args[i]; };
  if (a === '--port') opt.port = Number(v());
  else if (a === '--redirect-uri') opt.redirect.push(v());
  else if (a === '--post-logout-redirect-uri') opt.postLogout.push(v());
  else if (a === '--client-id') opt.clientId = v();
  else if (a === '--client-secret') opt.clientSecret = v();
  else if (a === '--ignore-stdin') opt.ignoreStdin = true;
  else throw new Error(`unknown argument ${a}`);
}
if (opt.redirect.length === 0) {
  process.stderr.write('launch.mjs: at least one --redirect-uri is needed\n');
  process.exit(2);
}

// ---------------------------------------------------------------- accounts
const groupsOf = new Map();

async function findAccount(ctx, sub) {
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        preferred_username: sub,
        email: `${sub}@kommun.example`,
        email_verified: true,
        name: `Test ${sub}`,
        groups: groupsOf.get(sub) || [],
        hsa_id: `SE2321000016-${sub}`,
      };
    },
  };
}

// ---------------------------------------------------------------- provider
const server = http.createServer();
await new Promise((resolve) => server.listen(opt.port, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: opt.clientId,
    client_secret: opt.clientSecret,
    redirect_uris: opt.redirect,
    post_logout_redirect_uris: opt.postLogout,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  findAccount,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'groups', 'hsa_id'],
  },
  conformIdTokenClaims: false,
  ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 3600, Interaction: 600, Session: 3600 },
  pkce: { required: () => true },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    // The one client is first-party: consent without asking.
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});
provider.proxy = false;

// The misbehaving account (see the header).
const issue = provider.IdToken.prototype.issue;
provider.IdToken.prototype.issue = async function issueMaybeForAnother(o) {
  if (o?.use === 'idtoken' && this.available?.sub === 'other-audience') {
    const real = this.client;
    this.client = new Proxy(real, {
      get: (t, p) => (p === 'clientId' ? 'another-client' : Reflect.get(t, p)),
    });
    try {
      return await issue.call(this, o);
    } finally {
      this.client = real;
    }
  }
  return issue.call(this, o);
};

// ---------------------------------------------------------------- interaction
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(uid) {
  return `<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Testleverantörens inloggning</title></head>
<body><main><h1>Testleverantörens inloggning</h1>
<form method="post" action="/interaction/${esc(uid)}/login">
<label for="login">Konto</label> <input id="login" name="login" autocomplete="username" required>
<label for="groups">Grupper</label> <input id="groups" name="groups">
<button type="submit" id="sign-in">Logga in</button>
</form></main></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const oidc = provider.callback();
server.on('request', async (req, res) => {
  try {
    const m = /^\/interaction\/([^/?]+)(\/login)?(?:\?.*)?$/.exec(req.url);
    if (m) {
      const details = await provider.interactionDetails(req, res);
      if (details.uid !== m[1]) throw new Error('interaction mismatch');
      if (!m[2] && req.method === 'GET') {
        res.setHeader('Content-Type', 'text/html; charset=utf-8');
        res.end(page(details.uid));
        return;
      }
      if (m[2] && req.method === 'POST') {
        const form = await readForm(req);
        const login = (form.get('login') || '').trim();
        if (!login) {
          res.statusCode = 400;
          res.end('login missing');
          return;
        }
        const groups = (form.get('groups') || '').split(',').map((g) => g.trim()).filter(Boolean);
        groupsOf.set(login, groups);
        await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
        return;
      }
      res.statusCode = 405;
      res.end();
      return;
    }
    oidc(req, res);
  } catch (e) {
    process.stderr.write(`oidc test provider: ${e.stack || e}\n`);
    if (!res.headersSent) res.statusCode = 500;
    res.end('error');
  }
});

process.stdout.write(`READY ${port}\n`);

const stop = () => { server.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (!opt.ignoreStdin) {
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
}
