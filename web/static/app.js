// app.js: the chat page. It turns rtsync.js's events into DOM and the
// user's input into commands; everything about the wire lives there.
//
// Each room has a view: its log (an <ol>), its entry in the room list, its
// unread count, its members, and the set of messages it shows, keyed by
// epoch/seq, which is what keeps a message from ever showing twice (a
// history reply and live messages overlap; a recovery may too).
import { Client } from "./rtsync.js";

const $ = (id) => document.getElementById(id);
// "*" is not allowed in room names, so this view cannot clash with a room.
const DIRECT = "*direct";
const HISTORY = 50; // messages shown when a room is first opened

const views = new Map(); // key (room name, or DIRECT) -> view
let current = null; // the view on screen
let client = null;
let me = { uid: "", name: "" };
const mine = new Set(); // every client id this page has had: marks own messages, also replayed ones
let dmPeer = ""; // the uid plain text goes to in the direct view
let online = false;
// The line that counts the direct messages kept for us while we were
// offline, and how many; a lost connection starts a new count.
let away = null;
let awayCount = 0;

// --- helpers ---------------------------------------------------------------

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; // always text, never HTML
  return e;
}

// A stable hue per user, so a name keeps its colour across messages and
// tabs: FNV-1a of the uid, then one of 12 hues 30° apart (neighbouring
// hues are hard to tell apart). style.css picks the lightness for light
// or dark backgrounds.
function hue(s) {
  let h = 0x811c9dc5;
  for (const c of s) h = Math.imul(h ^ c.codePointAt(0), 0x01000193) >>> 0;
  return (h % 12) * 30;
}

function who(from = {}) {
  if (from.client === "$server") return from.name || "server";
  return from.name || from.uid || (from.client ?? "?").slice(0, 6);
}

function textOf(data) {
  return typeof data?.text === "string" ? data.text : JSON.stringify(data);
}

// Names may not hold control characters (protocol: Names of things); the
// uid is the name with white space replaced, as uids may not hold any.
const cleanName = (s) => s.replace(/\p{Cc}/gu, "").replace(/\s+/g, " ").trim();
const uidOf = (name) => name.replace(/\s/g, "_");
const ROOM = /^[A-Za-z0-9_.:@\/#-]{1,128}$/;
// The page shows rooms as #name, so people type that: drop one leading #.
const roomOf = (s) => s.trim().replace(/^#/, "");

function wsURL() {
  const u = new URL("/ws", location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const token = new URLSearchParams(location.search).get("token");
  if (token) u.searchParams.set("token", token);
  return u.href;
}

// --- views -----------------------------------------------------------------

function addView(key, title) {
  const log = el("ol", "log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-label", title);
  log.hidden = true;
  $("logs").append(log);
  const item = el("li");
  const open = el("button", "room", title);
  const badge = el("span", "badge");
  badge.hidden = true;
  open.append(badge);
  open.addEventListener("click", () => { show(view); $("text").focus(); });
  item.append(open);
  if (key !== DIRECT) {
    const leave = el("button", "leave", "×");
    leave.title = `leave ${title}`;
    leave.setAttribute("aria-label", leave.title);
    leave.addEventListener("click", () => { closeRoom(view); $("text").focus(); });
    item.append(leave);
  }
  (key === DIRECT ? $("direct") : $("rooms")).append(item);
  const view = { key, title, log, item, open, badge, unread: 0, seen: new Set(), members: new Map(), loading: false, needHistory: false, pending: [] };
  views.set(key, view);
  return view;
}

function show(view) {
  current = view;
  for (const v of views.values()) {
    v.log.hidden = v !== view;
    v.open.setAttribute("aria-current", v === view ? "page" : "false");
  }
  view.unread = 0;
  renderBadges();
  $("room-title").textContent = view.title;
  renderMembers();
  placeholder();
  const s = $("logs");
  s.scrollTop = s.scrollHeight;
}

function placeholder() {
  $("text").placeholder = current.key !== DIRECT ? `Message ${current.title}` :
    dmPeer ? `Message ${dmPeer} directly` : "/msg USER TEXT, or click a member of a room";
}

function renderBadges() {
  let total = 0;
  for (const v of views.values()) {
    v.badge.textContent = v.unread;
    v.badge.hidden = !v.unread;
    v.open.setAttribute("aria-label", v.unread ? `${v.title}, ${v.unread} unread` : v.title);
    total += v.unread;
  }
  document.title = (total ? `(${total}) ` : "") + "rtsync chat";
}

function append(view, li, live) {
  const s = $("logs");
  const atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < 40;
  view.log.append(li);
  if (view === current && atBottom) s.scrollTop = s.scrollHeight;
  if (live && view !== current) { view.unread++; renderBadges(); }
}

function line(ts, from, text, cls) {
  const li = el("li", cls);
  const d = new Date(ts);
  const time = el("time", "", d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  time.dateTime = d.toISOString();
  time.title = d.toLocaleString();
  const name = el("span", "who", who(from));
  name.style.setProperty("--hue", hue(from.uid || from.name || from.client || ""));
  li.append(time, name, el("span", "text", text));
  return li;
}

// sys writes a system line (joins, leaves, connection news) to view.
function sys(view, text) {
  const li = el("li", "sys");
  li.append(el("time", "", new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })), el("span", "text", text));
  append(view ?? current, li, false);
}

function addMsg(view, m, live) {
  const key = `${m.epoch}/${m.seq}`;
  if (view.seen.has(key)) return;
  view.seen.add(key);
  const own = mine.has(m.from?.client);
  append(view, line(m.ts, m.from ?? {}, textOf(m.data), own ? "msg own" : "msg"), live && !own);
}

function addDirect(from, ts, data, to) {
  const view = views.get(DIRECT);
  const li = line(ts, from, textOf(data), to ? "msg direct own" : "msg direct");
  if (to) li.querySelector(".who").textContent = `you → ${to}`;
  append(view, li, !to);
  return li;
}

// addOffline shows a direct message the server kept while we were
// offline: marked, under a line that counts them. A redelivered one was
// handed out before (another tab, or a connection lost before the ack),
// so it may be on screen already.
function addOffline(d) {
  const view = views.get(DIRECT);
  if (!away) {
    sys(view, "");
    away = view.log.lastElementChild.querySelector(".text");
  }
  awayCount++;
  away.textContent = `${awayCount} message${awayCount === 1 ? "" : "s"} arrived while you were away`;
  const li = addDirect(d.from ?? {}, d.ts, d.data);
  li.classList.add("offline");
  const tag = el("span", "tag", d.redelivered ? "offline, redelivered" : "offline");
  tag.title = d.redelivered ? "sent while you were away; shown before, maybe in another tab" : "sent while you were away";
  li.querySelector(".text").prepend(tag, " ");
}

function renderMembers() {
  const list = $("members");
  list.replaceChildren();
  const members = [...current.members.values()].sort((a, b) => who(a).localeCompare(who(b)));
  $("count").textContent = current.key === DIRECT ? "" : `(${members.length})`;
  for (const m of members) {
    const b = el("button", "who", who(m));
    b.style.setProperty("--hue", hue(m.uid || m.name || m.client));
    if (mine.has(m.client)) b.append(el("span", "you", " (you)"));
    if (m.uid) {
      b.title = `write to ${m.uid} directly`;
      b.addEventListener("click", () => { const t = $("text"); t.value = `/msg ${m.uid} `; t.focus(); });
    } else b.disabled = true; // no uid: cannot be written to
    const li = el("li");
    li.append(b);
    list.append(li);
  }
}

// --- rooms -----------------------------------------------------------------

function saveRooms() {
  localStorage.setItem("rtsync.rooms", JSON.stringify([...views.keys()].filter((k) => k !== DIRECT)));
}

function openRoom(room, focus = true) {
  let view = views.get(room);
  if (!view) {
    view = addView(room, `#${room}`);
    saveRooms();
    // A refusal comes as a "refused" event; a lost connection re-joins
    // on the reconnect.
    client.join(room).catch(() => {});
  }
  if (focus) show(view);
}

function closeRoom(view, refused) {
  if (!refused) client.leave(view.key).catch(() => {});
  views.delete(view.key);
  view.log.remove();
  view.item.remove();
  saveRooms();
  if (current === view) show(views.values().next().value);
}

// loadHistory shows a room's last messages. Live ones arriving meanwhile
// wait in view.pending, so the log stays in seq order; the seen set drops
// those that were in the history too. A load cut short by a lost
// connection is tried again when the room is re-joined: recovery resumes
// after the join, so only history can show what came before it.
async function loadHistory(view) {
  view.loading = true;
  view.needHistory = true;
  try {
    const h = await client.history(view.key, HISTORY);
    view.needHistory = false;
    if (h.more) sys(view, `older messages are in the room's history; showing the last ${h.messages?.length ?? 0}`);
    for (const m of h.messages ?? []) addMsg(view, m, false);
  } catch (err) {
    sys(view, err.code ? `could not load history: ${err.message}` : "could not load history: the connection was lost; trying again when back online");
    if (err.code) view.needHistory = false;
  } finally {
    view.loading = false;
    for (const m of view.pending.splice(0)) addMsg(view, m, true);
  }
}

// joined runs as a join reply is read, before the messages that follow it.
function joined({ room, reply, resumed, reset }) {
  const view = views.get(room);
  if (!view) return;
  if (reset) sys(view, "back online, but the server's history of this room was lost or reset (a new epoch); showing what it holds now");
  else if (resumed && reply.recovered) sys(view, reply.replayed ? `back online; ${reply.replayed} missed message(s) recovered` : "back online; nothing missed");
  else if (resumed && reply.replayed > 0) sys(view, `back online; ${reply.replayed} missed message(s) recovered, but older ones are no longer in the room's history`);
  else if (resumed) sys(view, "back online, but the missed messages are no longer in the room's history");
  if (!resumed || reset || view.needHistory) loadHistory(view);
  client.presence(room).then((p) => {
    view.members = new Map((p.members ?? []).map((m) => [m.client, m]));
    if (view === current) renderMembers();
  }, () => {});
}

// gap says which messages of a room were missed for good.
function gap({ room, from, to }) {
  const view = views.get(room);
  if (!view) return;
  const n = to - from + 1;
  sys(view, `${n} message(s) missed here (seq ${from === to ? from : `${from}–${to}`}) are no longer in the room's history`);
}

function presenceEvent(ev, joining) {
  const view = views.get(ev.room);
  if (!view || mine.has(ev.client)) return;
  if (joining) view.members.set(ev.client, ev);
  else view.members.delete(ev.client);
  if (view === current) renderMembers();
  sys(view, `${who(ev)} ${joining ? "joined" : "left"}`);
}

// --- commands ----------------------------------------------------------------

const HELP = [
  "Enter sends to the open room. Alt+↑ and Alt+↓ switch rooms.",
  "/join ROOM: join a room (letters, digits and - _ . : @ / #)",
  "/leave: leave the open room",
  "/msg USER TEXT: a direct message to a user (click a member to start one)",
  "/nick NAME: change your name",
  "//text: send a message starting with /",
];

// sendDirect opens the direct view at once, so the conversation is on
// screen while the message is on its way.
async function sendDirect(uid, text) {
  dmPeer = uid;
  show(views.get(DIRECT));
  let r;
  try {
    r = await client.sendToUID(uid, { text });
  } catch (err) {
    throw err.code === "offline" ? new Error(`${uid} is not online, and the server could not keep the message for them`) : err;
  }
  addDirect({ uid: me.uid, name: me.name }, Date.now(), { text }, uid);
  if (r.stored) sys(views.get(DIRECT), `${uid} is offline: the server keeps the message and delivers it when they next connect`);
}

async function run(input) {
  const cmd = input.match(/^\/(\w+)\s*(.*)$/s);
  if (!cmd) {
    const text = input.replace(/^\/\//, "/");
    if (current.key !== DIRECT) return client.publish(current.key, { text });
    if (!dmPeer) throw new Error("whom to? type /msg USER TEXT, or click a member of a room");
    return sendDirect(dmPeer, text);
  }
  const [, name, arg] = cmd;
  switch (name) {
    case "join": {
      const room = roomOf(arg);
      if (!ROOM.test(room)) throw new Error(`"${room}" is not a room name: use letters, digits and - _ . : @ / #`);
      return openRoom(room);
    }
    case "leave":
      if (current.key === DIRECT) throw new Error("this is not a room");
      return closeRoom(current);
    case "msg": {
      const m = arg.match(/^(\S+)\s+(.+)$/s);
      if (!m) throw new Error("usage: /msg USER TEXT");
      return sendDirect(m[1], m[2]);
    }
    case "nick": {
      const nick = cleanName(arg);
      if (!nick) throw new Error("usage: /nick NAME");
      const r = await client.hello(nick, uidOf(nick));
      localStorage.setItem("rtsync.name", nick);
      return identity(r);
    }
    case "help":
      return HELP.forEach((h) => sys(current, h));
    default:
      throw new Error(`unknown command /${name}; /help lists them`);
  }
}

// --- connection ----------------------------------------------------------------

function identity({ client: id, uid, name }) {
  if (id) mine.add(id);
  me = { uid: uid ?? "", name: name ?? "" };
  $("me").textContent = me.name || me.uid || "anonymous";
  $("me").title = me.uid ? `uid ${me.uid}` : "no uid: others cannot write to you directly";
}

function status({ state, delay, code, reason }) {
  const text = {
    connecting: "connecting…",
    connected: "connected",
    reconnecting: delay ? `reconnecting in ${(delay / 1000).toFixed(1)} s…` : "reconnecting…",
    closed: `disconnected: ${reason} (${code})`,
  }[state];
  $("status").dataset.state = state;
  $("status-text").textContent = text;
  if (state !== "connected") $("rtt").textContent = "";
  // One line per outage in each room, not one per failed attempt.
  if (state === "reconnecting" && online) {
    const why = reason ? `${reason}, code ${code}` : `code ${code}`;
    for (const v of views.values()) sys(v, `connection lost (${why}); reconnecting…`);
  }
  if (state === "closed") {
    for (const v of views.values()) sys(v, `disconnected for good: ${reason}. Reload the page to try again.`);
    $("text").disabled = true;
  }
  online = state === "connected";
  if (state === "reconnecting") { away = null; awayCount = 0; }
}

function start(name) {
  $("login").hidden = true;
  $("chat").hidden = false;
  client = new Client(wsURL(), { name, uid: uidOf(name) });
  client.on("status", status)
    .on("identity", identity)
    .on("rtt", (ms) => { $("rtt").textContent = `${ms} ms`; })
    .on("joined", joined)
    .on("gap", gap)
    .on("refused", ({ room, message }) => {
      const view = views.get(room);
      if (view) closeRoom(view, true);
      sys(current, `cannot join ${room}: ${message}`);
    })
    .on("msg", (m) => {
      const view = views.get(m.room);
      if (view?.loading) view.pending.push(m);
      else if (view) addMsg(view, m, true);
    })
    .on("direct", (d) => {
      if (d.from?.uid) dmPeer = d.from.uid;
      if (d.inbox !== undefined) addOffline(d);
      else addDirect(d.from ?? {}, d.ts, d.data);
      if (current.key === DIRECT) placeholder();
    })
    .on("join", (ev) => presenceEvent(ev, true))
    .on("leave", (ev) => presenceEvent(ev, false))
    .on("error", (e) => sys(current, `error: ${e.message}${e.code ? ` (${e.code})` : ""}`));

  addView(DIRECT, "Direct messages");
  let rooms;
  try { rooms = JSON.parse(localStorage.getItem("rtsync.rooms")); } catch { /* start afresh */ }
  if (!Array.isArray(rooms) || !rooms.some((r) => ROOM.test(r))) rooms = ["lobby"];
  rooms = rooms.filter((r) => ROOM.test(r));
  for (const room of rooms) openRoom(room, false);
  show(views.get(rooms[0]) ?? views.get(DIRECT));
  client.connect();
  $("text").focus();
}

// --- wiring ----------------------------------------------------------------

const nameInput = $("name");
nameInput.value = localStorage.getItem("rtsync.name") || `guest-${Math.floor(1000 + Math.random() * 9000)}`;
nameInput.select();
$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = cleanName(nameInput.value);
  if (!name) return nameInput.focus();
  localStorage.setItem("rtsync.name", name);
  start(name);
});

$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("text");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  try {
    await run(text);
  } catch (err) {
    if (!input.value) input.value = text; // give it back to retry or fix
    sys(current, `not sent: ${err.message}`);
  }
});

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("join-room");
  const room = roomOf(input.value);
  if (!ROOM.test(room)) return sys(current, `"${room}" is not a room name: use letters, digits and - _ . : @ / #`);
  input.value = "";
  openRoom(room);
  $("text").focus();
});

// Alt+↑ / Alt+↓ move between rooms without leaving the keyboard.
document.addEventListener("keydown", (e) => {
  if (!e.altKey || !current || (e.key !== "ArrowUp" && e.key !== "ArrowDown")) return;
  const order = [...document.querySelectorAll("#rooms .room, #direct .room")];
  const keys = order.map((b) => [...views.values()].find((v) => v.open === b));
  const i = keys.indexOf(current) + (e.key === "ArrowUp" ? -1 : 1);
  if (keys[i]) { show(keys[i]); e.preventDefault(); }
});
