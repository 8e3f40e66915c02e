// rtsync.js: a browser client for rtsync's wire protocol v1
// (docs/protocol.md), small enough to copy into another page.
//
// It holds one WebSocket at a time. When that ends it reconnects with
// exponential backoff and jitter, says hello again and re-joins every room
// with `since` and `epoch`, so the server replays what was missed before
// live messages (all that history holds: the server streams the replay as
// the connection drains). `since` is the seq of the last message of the
// room this client handed to the page, never a join reply's seq: a reply
// announces messages that follow it, and the connection may end before
// they come.
// Room messages reach the page once each and in seq order: duplicates (a
// recovery overlapping what was delivered) are dropped, and a gap (a seq
// that skips, after a recovery the server could not complete) is filled
// from the room's history, or reported as a "gap" event when history no
// longer holds it. Direct messages the server kept while this user had no
// connection come when the uid is bound, marked with their inbox id; each
// reaches the page once, and one ack after each burst confirms them to the
// server, which then drops them (and sends the next page). The page never
// touches the socket: it calls the methods below and handles the events it
// subscribed to with on().
//
// Events (handler argument in parentheses):
//   status   ({state, delay?, code?, reason?}) state is "connecting",
//            "connected", "reconnecting" (next try in delay ms) or "closed"
//            (for good: a close code that says not to reconnect)
//   rtt      (ms) round-trip time of the last ping
//   identity ({client, uid, name}) who the server says we are, after hello
//   joined   ({room, reply, resumed, reset}) a join reply, before any
//            message that follows it; resumed is the {seq, epoch} we asked
//            to recover from, or null on a first join; reset is true when
//            the room's history restarted meanwhile (a new epoch): what was
//            missed is gone, and older messages of the new epoch are the
//            page's to load with history(), as after a first join
//   gap      ({room, epoch, from, to}) messages from..to (seqs, inclusive)
//            of the room were missed and are no longer in its history
//   refused  ({room, code, message}) a join the server refused; the room
//            is forgotten
//   msg      a room message: each once, in seq order within an epoch
//   direct   a direct message. One kept while this user was offline has
//            inbox (its id in the user's inbox) and, if the server handed
//            it out before without an ack (another tab, or a connection
//            lost first), redelivered: the page may have shown it already
//   join, leave, error: the server's events as they arrive

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
// The server's heartbeat interval is taken within these bounds, so that a
// welcome with a silly value can neither make every ping "dead" at once
// nor keep a dead connection for hours.
const HEARTBEAT_MIN = 1_000;
const HEARTBEAT_MAX = 300_000;
const FILL_LIMIT = 100; // messages asked for per history page when filling a gap
const FILL_PAGES = 20; // history pages one gap may take; the rest is reported
// The one ack for a burst of offline direct messages goes this long after
// the last of them: a page of the inbox costs one ack, and the server,
// which sends the next page after it, waits no longer than this.
const ACK_DELAY = 5;

// seqOf reads a seq as the protocol writes it: omitted means 0; anything
// but a whole number is not a seq.
const seqOf = (v) => (v === undefined ? 0 : Number.isSafeInteger(v) && v >= 0 ? v : null);

export class Client {
  constructor(url, { name = "", uid = "" } = {}) {
    this.url = url;
    this.name = name;
    this.uid = uid;
    // room -> {epoch, last, gen, hold}, for each room this client keeps
    // joined. last is the seq of the last message handed to the page, in
    // epoch; after a first join (or a reset) it is the seq the room was at,
    // older messages being the page's to load with history. It is null
    // until the first join reply. A re-join recovers from it. gen counts
    // join replies: a gap fill started before the latest is abandoned.
    // hold is null, or the room's messages waiting while a gap is filled.
    this.rooms = new Map();
    this.handlers = new Map();
    this.pending = new Map(); // reply id -> {resolve, reject, settle?}
    this.nextId = 1;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    // The user's offline inbox: whose it is, the highest id handed to the
    // page (acked, or about to be), and the highest id owed an ack.
    this.inbox = { uid: "", handed: 0, owed: 0, timer: null };
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
      if (this.ws !== ws) return; // a socket already given up on
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
        this.heartbeat = Math.min(HEARTBEAT_MAX, Math.max(HEARTBEAT_MIN, Number(ev.heartbeat) || 25_000));
        if (ev.uid) this.inboxOf(ev.uid); // a uid from a token: its inbox may come before hello's reply
        // A refusal is news; a connection lost meanwhile is reported by
        // the status event and retried.
        this.start(ev).catch((err) => err.code && this.emit("error", { code: err.code, message: err.message }));
        return;
      case "reply": {
        const p = this.pending.get(ev.id);
        if (!p) return;
        this.pending.delete(ev.id);
        // settle runs now, before the events that follow the reply in
        // this frame; a promise's handlers would run only after them.
        if (ev.ok) {
          try { p.settle?.(ev); } finally { p.resolve(ev); }
        }
        else p.reject(Object.assign(new Error(ev.error?.message ?? "request failed"), { code: ev.error?.code }));
        return;
      }
      case "msg":
        this.received(ev);
        return;
      case "direct":
        if (ev.inbox !== undefined) return this.offline(ev);
        break;
    }
    this.emit(ev.type, ev); // direct, join, leave, error; unknown types too
  }

  // inboxOf starts counting inbox ids afresh when the uid changes: the ids
  // of one user's inbox mean nothing in another's.
  inboxOf(uid) {
    if (uid === this.inbox.uid) return;
    clearTimeout(this.inbox.timer);
    this.inbox = { uid, handed: 0, owed: 0, timer: null };
  }

  // offline takes a direct message from the user's inbox: to the page
  // once, then acked with the rest of its burst.
  offline(ev) {
    const id = seqOf(ev.inbox);
    if (!id) {
      console.warn("rtsync: a direct message with a bad inbox id, dropped:", ev.inbox);
      return;
    }
    // At or below handed: shown and acked before, but the connection
    // ended before the server recorded the ack. Ack it again, or the
    // server sends no further page.
    if (id > this.inbox.handed) {
      this.inbox.handed = id;
      this.emit("direct", ev);
    }
    const box = this.inbox;
    box.owed = Math.max(box.owed, id);
    clearTimeout(box.timer);
    box.timer = setTimeout(() => this.ack(box), ACK_DELAY);
  }

  // ack confirms box's messages up to the highest owed. Without a
  // connection it waits: the next one hands them out again, and they are
  // acked then. A refused ack (store_unavailable) leaves them for the next
  // connection too.
  ack(box) {
    if (box !== this.inbox || !box.owed || !this.connected) return;
    const inbox = box.owed;
    box.owed = 0;
    this.request("ack", { inbox }).catch(() => {});
  }

  // received takes a room message off the wire.
  received(ev) {
    const r = this.rooms.get(ev.room);
    const seq = seqOf(ev.seq);
    if (seq === null) {
      console.warn("rtsync: a msg with a bad seq, dropped:", ev.seq);
      return;
    }
    // A room not joined through this client (the server API can join it),
    // or whose first join reply has not come yet: nothing to compare with.
    if (!r || r.last === null) return this.emit("msg", ev);
    if (r.hold) return void r.hold.push(ev);
    this.deliver(ev.room, r, ev, seq);
  }

  // deliver hands ev to the page unless it was delivered before; a seq
  // that skips starts a gap fill, and ev waits for it.
  deliver(room, r, ev, seq = seqOf(ev.seq)) {
    if (ev.epoch !== r.epoch) {
      // Another generation of history: seqs do not compare; start over.
      Object.assign(r, { epoch: ev.epoch, last: seq });
      return this.emit("msg", ev);
    }
    if (seq <= r.last) return; // a recovery overlapping what was delivered
    if (seq > r.last + 1) {
      r.hold = [ev];
      this.fill(room, r, seq);
      return;
    }
    r.last = seq;
    this.emit("msg", ev);
  }

  // fill pages the messages between r.last and target (exclusive) in from
  // the room's history, hands them to the page, reports what history no
  // longer holds as a gap, then delivers the messages held meanwhile.
  async fill(room, r, target) {
    const gen = r.gen;
    const current = () => this.rooms.get(room) === r && r.gen === gen;
    try {
      for (let page = 0; page < FILL_PAGES && r.last + 1 < target; page++) {
        const limit = Math.min(FILL_LIMIT, target - r.last - 1);
        const h = await this.request("history", { room, since: r.last, limit });
        if (!current()) return;
        if (h.epoch !== r.epoch) break;
        const before = r.last;
        for (const m of h.messages ?? []) {
          const seq = seqOf(m.seq);
          if (seq === null || seq <= r.last || seq >= target || (m.epoch ?? h.epoch) !== r.epoch) continue;
          this.skip(room, r, seq - 1);
          r.last = seq;
          this.emit("msg", { ...m, type: "msg", room, epoch: r.epoch });
        }
        if (r.last === before || !h.more) break;
      }
    } catch (err) {
      if (!current()) return;
      if (!err.code) {
        // The connection ended: the re-join replays from r.last, the
        // held messages included.
        r.hold = null;
        return;
      }
      // Refused (history off, say): what is missing stays missing.
    }
    if (!current()) return;
    this.skip(room, r, target - 1);
    const held = r.hold;
    r.hold = null;
    for (let i = 0; i < held.length; i++) {
      if (r.hold) { r.hold.push(...held.slice(i)); break; } // another gap
      this.deliver(room, r, held[i]);
    }
  }

  // skip reports the seqs after r.last up to upTo as a gap, and moves past
  // them.
  skip(room, r, upTo) {
    if (upTo <= r.last) return;
    this.emit("gap", { room, epoch: r.epoch, from: r.last + 1, to: upTo });
    r.last = upTo;
  }

  // start runs on every new connection: hello, then re-join each room,
  // recovering from where its last message left off.
  async start(welcome) {
    // The inbox of the uid comes right after the reply, in the same frame
    // maybe: settle sees the uid before those messages are dispatched.
    const me = await this.request("hello", { name: this.name, ...(this.uid && { uid: this.uid }) }, (r) => this.inboxOf(r.uid ?? ""));
    this.ready = true;
    this.ack(this.inbox); // what an earlier connection could not ack
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
    const resumed = r.last === null ? null : { seq: r.last, epoch: r.epoch };
    // joined runs as the reply is read, before the replayed messages that
    // follow it, so they meet the room's new state and the page's handler.
    const joined = (reply) => {
      if (this.rooms.get(room) !== r) return; // left meanwhile
      const seq = seqOf(reply.seq) ?? 0;
      const reset = Boolean(resumed?.epoch) && reply.epoch !== resumed.epoch;
      r.gen++;
      r.hold = null; // held on a connection that is gone; replayed again
      r.epoch = reply.epoch;
      // A first join, or history restarted: messages up to the reply's seq
      // are the page's to load with history. Otherwise recover from what
      // was delivered, not from the reply's seq: the replay follows, and a
      // lost connection may cut it short.
      const fresh = !resumed || reset || seq < resumed.seq;
      r.last = fresh ? seq : resumed.seq;
      this.emit("joined", { room, reply, resumed, reset });
      if (!fresh && reply.recovered === false && !(reply.replayed > 0)) {
        // Nothing is replayed, so no message will show the gap: say it now.
        this.skip(room, r, seq);
      }
    };
    try {
      return await this.request("join", { room, ...(resumed && { since: resumed.seq, epoch: resumed.epoch }) }, joined);
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
  }

  // request sends one command and resolves with its reply, or rejects with
  // an Error whose code is the protocol's error code. settle, if given, is
  // called with a successful reply as soon as it is read.
  request(op, fields = {}, settle = undefined) {
    return new Promise((resolve, reject) => {
      if (this.ws?.readyState !== WebSocket.OPEN) return reject(new Error("not connected; wait for the reconnect"));
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject, settle });
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
    if (!this.rooms.has(room)) this.rooms.set(room, { epoch: "", last: null, gen: 0, hold: null });
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
    return this.request("hello", { name, ...(uid && { uid }) }, (r) => this.inboxOf(r.uid ?? ""));
  }

  publish(room, data) { return this.request("pub", { room, data }); }
  sendToUID(uid, data) { return this.request("send", { to_uid: uid, data }); }
  presence(room) { return this.request("presence", { room }); }
  history(room, limit = 50) { return this.request("history", { room, limit }); }
}
