// rtsync event hooks in plain Node.js (the http and crypto modules only):
// the business logic of examples/embed, as an HTTP application that
// rtsync POSTs its connect, message, rpc and close events to.
//
//   RTSYNC_HOOK_SECRET=change-me node hooks.js          # listens on 127.0.0.1:8080 (PORT to change)
//   rtsync serve --hook-url http://127.0.0.1:8080/rtsync --hook-secret change-me
//   npx wscat -c 'ws://127.0.0.1:7000/ws?user=ann'
//
// docs/hooks.md describes every event, field and result.
'use strict';

const http = require('http');
const crypto = require('crypto');

const SECRET = process.env.RTSYNC_HOOK_SECRET || '';
const PORT = Number(process.env.PORT || 8080);
// Requests signed longer ago than this (or this far in the future) are
// refused, so a recorded request cannot be replayed later.
const MAX_SKEW_SECONDS = 300;
const MAX_BODY_BYTES = 2 << 20;
const CENSORED = ['darn', 'heck'];
const USER = /^[A-Za-z0-9_-]{1,32}$/;

// verify checks X-Rtsync-Signature: "sha256=" + hex HMAC-SHA256 of
// timestamp + "." + the raw body, keyed with the shared secret.
function verify(req, body) {
  if (!SECRET) return true; // unsigned: only on a network you trust
  const ts = String(req.headers['x-rtsync-timestamp'] || '');
  const sig = String(req.headers['x-rtsync-signature'] || '');
  if (!/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > MAX_SKEW_SECONDS) return false;
  const want = 'sha256=' + crypto.createHmac('sha256', SECRET).update(ts + '.').update(body).digest('hex');
  const a = Buffer.from(sig);
  const b = Buffer.from(want);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

const censorRe = new RegExp('\\b(' + CENSORED.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|') + ')\\b', 'gi');

function censor(text) {
  return text.replace(censorRe, (m) => '*'.repeat(m.length));
}

// Each handler returns the result object, or null to accept the event
// unchanged (answered with 204).
const handlers = {
  connect(ev) {
    const user = (ev.query && ev.query.user && ev.query.user[0]) || '';
    if (!USER.test(user)) {
      return { refuse: true, reason: 'connect with ?user=NAME (letters, digits, - and _, at most 32)' };
    }
    return {
      uid: user,
      name: user,
      session: { since: ev.time, remote: ev.remote_addr },
      rooms: ['lobby', 'user:' + user],
    };
  },

  message(ev) {
    const d = ev.data;
    if (!d || typeof d !== 'object' || Array.isArray(d) || typeof d.text !== 'string') {
      return { refuse: true, reason: 'messages here are objects with a "text" string, like {"text":"hi"}' };
    }
    const clean = censor(d.text);
    if (clean === d.text) return null;
    return { data: Object.assign({}, d, { text: clean }) };
  },

  rpc(ev) {
    switch (ev.method) {
      case 'time':
        return { data: { unix_ms: Date.now(), rfc3339: new Date().toISOString() } };
      case 'whoami':
        return { data: { client: ev.client, uid: ev.uid, name: ev.name, session: ev.session } };
      default:
        return { error: { code: 'unknown_method', message: `no method ${JSON.stringify(ev.method)}; try time or whoami` } };
    }
  },

  close(ev) {
    console.log(`left: client=${ev.client} uid=${ev.uid || ''} code=${ev.code} reason=${ev.reason || ''}`);
    return null;
  },
};

function reply(res, status, result) {
  if (result == null) {
    res.writeHead(status).end();
    return;
  }
  const out = JSON.stringify(result);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) }).end(out);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') return reply(res, 405);
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) req.destroy();
    else chunks.push(chunk);
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    // A refused signature is a failure for rtsync: its failure policy
    // applies, and the log says "status 401".
    if (!verify(req, body)) return reply(res, 401);
    let ev;
    try {
      ev = JSON.parse(body.toString('utf8'));
    } catch {
      return reply(res, 400);
    }
    const handle = handlers[ev.event];
    // An event this application does not know: accept it unchanged.
    if (!handle) return reply(res, 204);
    try {
      const result = handle(ev);
      return result == null ? reply(res, 204) : reply(res, 200, result);
    } catch (err) {
      console.error(`${ev.event} handler:`, err);
      return reply(res, 500);
    }
  });
});

// rtsync keeps connections alive between calls; keep them longer than it
// waits before reusing one.
server.keepAliveTimeout = 120 * 1000;
server.listen(PORT, '127.0.0.1', () => {
  console.log(`rtsync hooks on http://127.0.0.1:${PORT}/ (signed: ${SECRET ? 'yes' : 'no'})`);
});
