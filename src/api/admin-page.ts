/**
 * The admin page (`GET /admin`): one self-contained HTML document, its script and style inline under a
 * per-response nonce, so the Content-Security-Policy allows nothing else (no external assets, no inline
 * handlers, no eval). The page signs in with the API secret, keeps it in `sessionStorage` and sends it
 * as the bearer of every `/api` request; it never puts it in a URL. Every user-supplied string is shown
 * through `textContent`.
 */

/** The page's Content-Security-Policy for `nonce`. */
export function adminCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

const STYLE = `
body{font:14px system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#1b1f24;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header h1{font-size:16px;margin:0;flex:1}
main{display:grid;grid-template-columns:minmax(280px,1fr) 2fr;gap:16px;padding:16px;align-items:start}
main>div{display:grid;gap:16px;min-width:0}
section{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:12px;min-width:0}
h2{font-size:14px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:4px 6px;border-bottom:1px solid #eef0f3;vertical-align:top;word-break:break-all}
tr[data-room]{cursor:pointer}tr[data-room]:hover,tr.sel{background:#eef4ff}
input,select,button{font:inherit;padding:3px 6px}
button{cursor:pointer}
.row{display:flex;gap:6px;margin:6px 0;flex-wrap:wrap}
.muted{color:#6a737d}.err{color:#b00020}
#tail{height:220px;overflow:auto;background:#0d1117;color:#c9d1d9;font:12px ui-monospace,monospace;padding:6px;white-space:pre-wrap;margin:0}
ul{list-style:none;padding:0;margin:0}li{padding:3px 0;border-bottom:1px solid #eef0f3}
#signin-view{max-width:420px;margin:60px auto}
#instance{grid-column:1/-1}
#charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:12px}
figure{margin:0}figcaption{display:flex;justify-content:space-between;gap:6px;font-size:12px;white-space:nowrap}
svg.chart{width:100%;height:64px;background:#fafbfc;border:1px solid #eef0f3;border-radius:4px}
`;

const SCRIPT = `
"use strict";
const $ = (s) => document.querySelector(s);
const KEY = "openlivesync.admin.secret";
const state = { room: null, offset: 0, limit: 50, total: 0, tail: null };
const el = (tag, text, attrs) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; for (const k in attrs || {}) e.setAttribute(k, attrs[k]); return e; };
const secret = () => sessionStorage.getItem(KEY);
async function api(method, path, body) {
  const res = await fetch("/api" + path, { method, headers: Object.assign({ authorization: "Bearer " + secret() }, body === undefined ? {} : { "content-type": "application/json" }), body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) { signOut("The secret was refused"); throw new Error("unauthorized"); }
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new Error((data && data.error && data.error.message) || ("HTTP " + res.status));
  return data;
}
const enc = encodeURIComponent;
function say(text, bad) { const s = $("#status"); s.textContent = text; s.className = bad ? "err" : "muted"; }
function signOut(why) { sessionStorage.removeItem(KEY); stopTail(); $("#app").hidden = true; $("#signin-view").hidden = false; $("#signin-error").textContent = why || ""; }
async function signIn(ev) {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $("#secret").value);
  $("#secret").value = "";
  try { await api("GET", "/rooms?limit=1"); } catch { return; }
  $("#signin-view").hidden = true; $("#app").hidden = false; loadRooms(); loadInstance();
}
let searchTimer;
async function loadRooms() {
  const q = $("#search").value, [sort, order] = $("#sort").value.split(":");
  const t0 = performance.now();
  const data = await api("GET", "/rooms?q=" + enc(q) + "&sort=" + sort + "&order=" + order + "&offset=" + state.offset + "&limit=" + state.limit);
  state.total = data.total;
  const body = $("#rooms tbody"); body.replaceChildren();
  for (const r of data.rooms) {
    const tr = el("tr", undefined, { "data-room": r.roomId });
    if (r.roomId === state.room) tr.className = "sel";
    tr.append(el("td", r.roomId), el("td", String(r.members)));
    tr.addEventListener("click", () => openRoom(r.roomId));
    body.append(tr);
  }
  const last = Math.min(state.offset + state.limit, state.total);
  $("#page").textContent = (state.total ? state.offset + 1 : 0) + "–" + last + " of " + state.total;
  $("#rooms").dataset.loadedMs = String(Math.round(performance.now() - t0));
}
async function openRoom(roomId) {
  if (state.room !== roomId) stopTail();
  state.room = roomId;
  $("#room").hidden = false; $("#room-title").textContent = roomId;
  for (const tr of document.querySelectorAll("tr[data-room]")) tr.className = tr.dataset.room === roomId ? "sel" : "";
  await Promise.all([loadMembers(), loadChat()]);
}
async function loadMembers() {
  const { presence } = await api("GET", "/rooms/" + enc(state.room) + "/presence");
  const body = $("#members tbody"); body.replaceChildren();
  for (const id in presence) {
    const m = presence[id], tr = el("tr", undefined, { "data-conn": id });
    const who = [m.userId, m.name].filter(Boolean).join(" · ") || "anonymous";
    const kick = el("button", "Kick", { class: "kick" }), ban = el("button", "Ban", { class: "ban" });
    kick.addEventListener("click", () => act(() => api("DELETE", "/rooms/" + enc(state.room) + "/connections/" + enc(id)), "Kicked " + id));
    if (m.userId) ban.addEventListener("click", () => act(() => api("POST", "/rooms/" + enc(state.room) + "/bans", { userId: m.userId, reason: "admin page" }), "Banned " + m.userId));
    else ban.disabled = true;
    const actions = el("td"); actions.append(kick, ban);
    tr.append(el("td", who), el("td", id), el("td", JSON.stringify(m.presence)), actions);
    body.append(tr);
  }
}
async function loadChat() {
  const { messages } = await api("GET", "/rooms/" + enc(state.room) + "/chat?limit=50");
  const list = $("#chat"); list.replaceChildren();
  for (const m of messages) {
    const li = el("li", undefined, { "data-id": m.id });
    const del = el("button", "Delete", { class: "delete" });
    del.addEventListener("click", () => act(() => api("DELETE", "/rooms/" + enc(state.room) + "/chat/" + enc(m.id)), "Deleted a message"));
    li.append(el("span", new Date(m.createdAt).toLocaleTimeString() + " " + (m.name || m.userId || m.connectionId) + ": ", { class: "muted" }), el("span", m.message), " ", del);
    list.append(li);
  }
}
async function act(run, done) {
  try { await run(); say(done); } catch (e) { say(String(e.message), true); }
  if (state.room) await Promise.all([loadMembers(), loadChat()]).catch(() => {});
  loadRooms().catch(() => {});
}
function stopTail() { if (state.tail) { state.tail.abort(); state.tail = null; } const b = $("#tail-toggle"); if (b) b.textContent = "Open live tail"; }
async function toggleTail() {
  if (state.tail) return stopTail();
  const ctl = new AbortController(); state.tail = ctl; $("#tail-toggle").textContent = "Close live tail";
  const out = $("#tail"); out.textContent = "";
  try {
    const res = await fetch("/api/rooms/" + enc(state.room) + "/tail", { headers: { authorization: "Bearer " + secret() }, signal: ctl.signal });
    const reader = res.body.getReader(), dec = new TextDecoder(); let buf = "";
    for (;;) {
      const { value, done } = await reader.read(); if (done) break;
      buf += dec.decode(value, { stream: true });
      let at; while ((at = buf.indexOf("\\n\\n")) >= 0) {
        const ev = buf.slice(0, at); buf = buf.slice(at + 2);
        const data = ev.split("\\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\\n");
        if (!data) continue;
        const line = el("div", new Date().toLocaleTimeString() + " " + data, { class: "frame" });
        out.append(line); while (out.childElementCount > 300) out.firstChild.remove(); out.scrollTop = out.scrollHeight;
        if (/"type":"(chat_message|chat_deleted|presence_updated)"/.test(data)) { loadChat().catch(() => {}); loadMembers().catch(() => {}); }
      }
    }
  } catch (e) { if (e.name !== "AbortError") say("Tail stopped: " + e.message, true); }
  if (state.tail === ctl) stopTail();
}
/** The charts' svg, parsed from the page's template (so its namespace comes from the HTML parser). */
const chartSvg = () => $("#chart-svg").content.firstElementChild.cloneNode(true);
/** The charts: a title, a unit, and each line's field and colour. */
const CHARTS = [
  ["connections", "Connections", "", [["connections", "#0969da"]]],
  ["messages", "Messages in / out", "/s", [["receivedPerSecond", "#8250df"], ["sentPerSecond", "#0969da"]]],
  ["errors", "Errors/s", "/s", [["errorsPerSecond", "#cf222e"]]],
  ["storage", "Storage latency", " ms", [["storageMs", "#9a6700"]]],
];
const num = (n) => n >= 100 ? String(Math.round(n)) : n >= 1 || n === 0 ? String(Math.round(n * 10) / 10) : String(Math.round(n * 100) / 100);
function svgEl(svg, tag, attrs) { const e = document.createElementNS(svg.namespaceURI, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; }
/** One chart: each field of the samples as a line over the kept window, scaled to the largest value. */
function drawChart(fig, samples, span, fields, unit) {
  const W = 240, H = 60, svg = fig.querySelector("svg"), end = samples.length ? samples[samples.length - 1].at : Date.now();
  let max = 0;
  for (const s of samples) for (const [f] of fields) if (s[f] !== null && s[f] > max) max = s[f];
  const top = max > 0 ? max * 1.1 : 1;
  svg.replaceChildren(svgEl(svg, "line", { x1: 0, y1: H - 1, x2: W, y2: H - 1, stroke: "#d8dde3" }));
  for (const [f, colour] of fields) {
    const points = samples.filter((s) => s[f] !== null).map((s) => (W - ((end - s.at) / span) * W).toFixed(1) + "," + (H - 2 - (s[f] / top) * (H - 4)).toFixed(1));
    if (points.length === 1) points.unshift(points[0].replace(/^[^,]+/, "0"));
    svg.append(svgEl(svg, "polyline", { points: points.join(" "), fill: "none", stroke: colour, "stroke-width": 1.5, "data-field": f }));
  }
  const last = samples[samples.length - 1];
  fig.querySelector(".now").textContent = last ? fields.map(([f]) => last[f] === null ? "–" : num(last[f])).join(" / ") + unit + " · max " + num(max) + unit : "no samples yet";
}
function buildCharts() {
  const box = $("#charts"); if (box.childElementCount) return;
  for (const [id, title] of CHARTS) {
    const fig = el("figure", undefined, { "data-chart": id }), cap = el("figcaption");
    cap.append(el("span", title), el("span", "", { class: "now muted" }));
    const svg = chartSvg(); svg.setAttribute("aria-label", title);
    fig.append(cap, svg);
    box.append(fig);
  }
}
async function loadMetrics() {
  const data = await api("GET", "/admin/metrics");
  buildCharts();
  // The window kept (an hour), or what has been sampled so far when that is shorter (5 min at least).
  const kept = data.capacity * data.intervalMs, mins = Math.round(kept / 60000);
  const span = Math.max(Math.min(kept, data.samples.length ? data.samples[data.samples.length - 1].at - data.samples[0].at : 0), Math.min(kept, 300000), 1);
  $("#scope").textContent = "This instance" + (data.instanceId ? " (" + data.instanceId.slice(0, 8) + ")" : "") + ", last " + mins + " min, a sample every " + data.intervalMs / 1000 + " s";
  for (const [id, , unit, fields] of CHARTS) drawChart($('figure[data-chart="' + id + '"]'), data.samples, span, fields, unit);
  $("#charts").dataset.samples = String(data.samples.length);
}
const bytes = (n) => n < 1024 ? n + " B" : n < 1048576 ? num(n / 1024) + " KB" : num(n / 1048576) + " MB";
async function loadDocuments() {
  const data = await api("GET", "/admin/documents?limit=50&q=" + enc($("#doc-search").value));
  const body = $("#documents tbody"); body.replaceChildren();
  for (const d of data.documents) {
    const tr = el("tr", undefined, { "data-doc": d.name });
    tr.append(el("td", d.name), el("td", bytes(d.bytes)), el("td", String(d.clients)));
    body.append(tr);
  }
  $("#doc-count").textContent = data.enabled ? data.documents.length + " of " + data.total : "documents are off";
}
function loadInstance() { loadMetrics().catch(() => {}); loadDocuments().catch(() => {}); }
function send(kind) {
  const text = $("#send-text").value; if (!text) return;
  const body = kind === "chat" ? { message: text, name: "Admin" } : { event: text };
  act(() => api("POST", "/rooms/" + enc(state.room) + (kind === "chat" ? "/chat" : "/events"), body), kind === "chat" ? "Chat message sent" : "Event sent");
  $("#send-text").value = "";
}
$("#signin").addEventListener("submit", signIn);
$("#signout").addEventListener("click", () => signOut());
$("#search").addEventListener("input", () => { clearTimeout(searchTimer); state.offset = 0; searchTimer = setTimeout(() => loadRooms().catch(() => {}), 120); });
$("#sort").addEventListener("change", () => { state.offset = 0; loadRooms().catch(() => {}); });
$("#prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); loadRooms().catch(() => {}); });
$("#next").addEventListener("click", () => { if (state.offset + state.limit < state.total) { state.offset += state.limit; loadRooms().catch(() => {}); } });
$("#tail-toggle").addEventListener("click", toggleTail);
$("#send-chat").addEventListener("click", () => send("chat"));
$("#send-event").addEventListener("click", () => send("event"));
let docTimer;
$("#doc-search").addEventListener("input", () => { clearTimeout(docTimer); docTimer = setTimeout(() => loadDocuments().catch(() => {}), 120); });
setInterval(() => { if (secret() && !$("#app").hidden) { loadRooms().catch(() => {}); if (state.room) loadMembers().catch(() => {}); } }, 3000);
setInterval(() => { if (secret() && !$("#app").hidden) loadInstance(); }, 5000);
if (secret()) { $("#signin-view").hidden = true; $("#app").hidden = false; loadRooms().catch(() => {}); loadInstance(); }
`;

/** The admin page's HTML with `nonce` on its one script and one style. */
export function adminPage(nonce: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>openlivesync admin</title><style nonce="${nonce}">${STYLE}</style></head>
<body>
<div id="signin-view"><section><h2>openlivesync admin</h2>
<form id="signin"><p class="muted">Sign in with the server's API secret (kept in this tab only).</p>
<div class="row"><input id="secret" type="password" autocomplete="off" placeholder="API secret" required><button type="submit">Sign in</button></div>
<p id="signin-error" class="err"></p></form></section></div>
<div id="app" hidden>
<header><h1>openlivesync admin</h1><span id="status" class="muted"></span><button id="signout">Sign out</button></header>
<main>
<section id="instance"><h2>Metrics <span id="scope" class="muted"></span></h2><div id="charts"></div>
<template id="chart-svg"><svg class="chart" viewBox="0 0 240 60" preserveAspectRatio="none" role="img"></svg></template></section>
<div>
<section><h2>Rooms</h2>
<div class="row"><input id="search" type="search" placeholder="Search room id"><select id="sort">
<option value="members:desc">Most members</option><option value="roomId:asc">Room id A–Z</option><option value="roomId:desc">Room id Z–A</option><option value="members:asc">Fewest members</option></select></div>
<table id="rooms"><thead><tr><th>Room</th><th>Members</th></tr></thead><tbody></tbody></table>
<div class="row"><button id="prev">‹</button><span id="page" class="muted"></span><button id="next">›</button></div>
</section>
<section id="documents-panel"><h2>Documents <span id="doc-count" class="muted"></span></h2>
<div class="row"><input id="doc-search" type="search" placeholder="Search document name"></div>
<table id="documents"><thead><tr><th>Document</th><th>Size</th><th>Clients here</th></tr></thead><tbody></tbody></table>
</section>
</div>
<section id="room" hidden><h2>Room <span id="room-title"></span></h2>
<h2>Members</h2><table id="members"><thead><tr><th>Who</th><th>Connection</th><th>Presence</th><th></th></tr></thead><tbody></tbody></table>
<h2>Chat</h2><ul id="chat"></ul>
<div class="row"><input id="send-text" placeholder="Chat message, or event name"><button id="send-chat">Send chat</button><button id="send-event">Send event</button></div>
<h2>Live tail <button id="tail-toggle">Open live tail</button></h2><pre id="tail"></pre>
</section>
</main></div>
<script nonce="${nonce}">${SCRIPT}</script>
</body></html>`;
}
