// rtsync.js: a browser client for rtsync's wire protocol v1
// (docs/protocol.md), small enough to copy into another page.
//
// It holds one WebSocket at a time. When that ends it reconnects with
// exponential backoff and jitter, says hello again and re-joins every room
// with `since` (the last seq it saw there) and `epoch`, so the server
// replays what was missed before live messages. The page never touches the
// socket: it calls the methods below and handles the events it subscribed
// to with on().
//
// Events (handler argument in parentheses):
//   status   ({state, delay?, code?, reason?}) state is "connecting",
//            "connected", "reconnecting" (next try in delay ms) or "closed"
//            (for good: a close code that says not to reconnect)
//   rtt      (ms) round-trip time of the last ping
//   identity ({client, uid, name}) who the server says we are, after hello
//   joined   ({room, reply, resumed}) a join reply; resumed is the
//            {seq, epoch} we asked to recover from, or null on a first join
//   refused  ({room, code, message}) a join the server refused; the room
//            is forgotten
//   msg, direct, join, leave, error: the server's events as they arrive

// Close codes after which reconnecting cannot help, and what to tell the
// user (docs/protocol.md, "Close codes").
const FINAL = new Map([
  [4001, "unauthorized: the token is missing, invalid or expired"],
  [4003, "refused by the application"],
  [4010, "kicked"],
]);

const BACKOFF_MIN = 500; // ms before the first retry
const BACKOFF_MAX = 30_000; // the delay doubles up to this
const STABLE = 10_000; // a connection that lasted this long resets the backoff
const PING_EVERY = 10_000; // measure the round trip this often

export class Client {
  constructor(url, { name = "", uid = "" } = {}) {
    this.url = url;
    this.name = name;
    this.uid = uid;
    // room -> {seq, epoch}: where to resume it after a reconnect. seq is
    // null until the first join reply.
    this.rooms = new Map();
    this.handlers = new Map();
    this.pending = new Map(); // reply id -> {resolve, reject}
    this.nextId = 1;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
  }

  on(type, fn) { this.handlers.set(type, fn); return this; }
  emit(type, ev) { this.handlers.get(type)?.(ev); }
  get connected() { return this.ws?.readyState === WebSocket.OPEN && this.ready; }

  connect() {
    this.emit("status", { state: this.attempt ? "reconnecting" : "connecting" });
    const ws = new WebSocket(this.url);
    this.ws = ws;
    this.ready = false;
    let opened = 0;
    ws.onopen = () => { opened = Date.now(); };
    // A frame may hold several objects, one per line (protocol: Batching).
    ws.onmessage = (e) => {
      for (const line of String(e.data).split("\n")) {
        if (!line.trim()) continue;
        let ev;
        try { ev = JSON.parse(line); } catch { console.error("rtsync: not JSON:", line); continue; }
        this.dispatch(ev);
      }
    };
    ws.onclose = (e) => this.lost(ws, e.code, e.reason, opened);
  }

  // lost handles the end of ws, from its close event or from a ping that
  // got no answer. Each socket is handled once.
  lost(ws, code, reason, opened) {
    if (this.ws !== ws) return;
    this.ws = null;
    this.ready = false;
    clearInterval(this.pinger);
    for (const p of this.pending.values()) p.reject(new Error("connection lost"));
    this.pending.clear();
    if (this.stopped) return;
    if (FINAL.has(code)) {
      this.stopped = true;
      this.emit("status", { state: "closed", code, reason: reason || FINAL.get(code) });
      return;
    }
    if (opened && Date.now() - opened > STABLE) this.attempt = 0;
    // "Equal jitter": half the delay is fixed, half random, so clients
    // cut off together do not all come back in the same instant.
    const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** this.attempt++);
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    this.emit("status", { state: "reconnecting", delay, code, reason });
    this.retry = setTimeout(() => this.connect(), delay);
  }

  dispatch(ev) {
    switch (ev.type) {
      case "welcome":
        if (ev.protocol !== 1) console.warn("rtsync: server speaks protocol", ev.protocol, "this page speaks 1");
        this.heartbeat = ev.heartbeat || 25_000;
        // A refusal is news; a connection lost meanwhile is reported by
        // the status event and retried.
        this.start(ev).catch((err) => err.code && this.emit("error", { code: err.code, message: err.message }));
        return;
      case "reply": {
        const p = this.pending.get(ev.id);
        if (!p) return;
        this.pending.delete(ev.id);
        if (ev.ok) p.resolve(ev);
        else p.reject(Object.assign(new Error(ev.error?.message ?? "request failed"), { code: ev.error?.code }));
        return;
      }
      case "msg": {
        // Remember the newest seq per room: it is what a re-join asks for.
        const r = this.rooms.get(ev.room);
        if (r && (r.epoch !== ev.epoch || (ev.seq ?? 0) > r.seq)) Object.assign(r, { seq: ev.seq ?? 0, epoch: ev.epoch });
        break;
      }
    }
    this.emit(ev.type, ev); // msg, direct, join, leave, error; unknown types too
  }

  // start runs on every new connection: hello, then re-join each room,
  // recovering from where its last message left off.
  async start(welcome) {
    const me = await this.request("hello", { name: this.name, ...(this.uid && { uid: this.uid }) });
    this.ready = true;
    // Send the joins before telling the page, so that a join the page asks
    // for in its handlers is not sent twice.
    const joins = [...this.rooms.keys()].map((room) => this.sendJoin(room));
    this.emit("identity", { client: me.client ?? welcome.client, uid: me.uid ?? "", name: me.name ?? "" });
    this.emit("status", { state: "connected" });
    this.pinger = setInterval(() => this.ping(), PING_EVERY);
    this.ping();
    await Promise.allSettled(joins); // refusals were reported as "refused"
  }

  async sendJoin(room) {
    const r = this.rooms.get(room);
    const resumed = r.seq === null ? null : { seq: r.seq, epoch: r.epoch };
    let reply;
    try {
      reply = await this.request("join", { room, ...(resumed && { since: resumed.seq, epoch: resumed.epoch }) });
    } catch (err) {
      // A refusal (bad_room, forbidden, too_many_rooms...) will not change
      // on a retry: forget the room. A lost connection re-joins it later;
      // so does a refused token (the close that follows says what to do).
      if (err.code && err.code !== "unauthorized" && this.rooms.get(room) === r) {
        this.rooms.delete(room);
        this.emit("refused", { room, code: err.code, message: err.message });
      }
      throw err;
    }
    // Omitted means zero (protocol: Encoding rules): an empty room has no seq.
    if (this.rooms.get(room) === r) Object.assign(r, { seq: reply.seq ?? 0, epoch: reply.epoch });
    this.emit("joined", { room, reply, resumed });
    return reply;
  }

  // request sends one command and resolves with its reply, or rejects with
  // an Error whose code is the protocol's error code.
  request(op, fields = {}) {
    return new Promise((resolve, reject) => {
      if (this.ws?.readyState !== WebSocket.OPEN) return reject(new Error("not connected; wait for the reconnect"));
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ op, id, ...fields }));
    });
  }

  // ping measures the round trip, and treats a server that stays silent
  // for a whole heartbeat interval as gone: a browser cannot see WebSocket
  // pings, and a dead peer may never send a close (protocol: Heartbeats).
  ping() {
    const ws = this.ws;
    const t0 = performance.now();
    const dead = setTimeout(() => { ws.close(); this.lost(ws, 1006, "no answer to ping"); }, this.heartbeat);
    this.request("ping").then(() => {
      clearTimeout(dead);
      this.emit("rtt", Math.round(performance.now() - t0));
    }, () => clearTimeout(dead));
  }

  // join adds room to the set this client keeps joined; while disconnected
  // it is joined on the next connection.
  join(room) {
    if (!this.rooms.has(room)) this.rooms.set(room, { seq: null, epoch: "" });
    return this.connected ? this.sendJoin(room) : Promise.resolve(null);
  }

  leave(room) {
    this.rooms.delete(room);
    return this.connected ? this.request("leave", { room }) : Promise.resolve(null);
  }

  // close ends the connection for good.
  close() {
    this.stopped = true;
    clearTimeout(this.retry);
    this.ws?.close(1000);
  }

  hello(name, uid) {
    Object.assign(this, { name, uid });
    return this.request("hello", { name, ...(uid && { uid }) });
  }

  publish(room, data) { return this.request("pub", { room, data }); }
  sendToUID(uid, data) { return this.request("send", { to_uid: uid, data }); }
  presence(room) { return this.request("presence", { room }); }
  history(room, limit = 50) { return this.request("history", { room, limit }); }
}
