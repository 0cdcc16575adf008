import { NOTES_SCRIPT } from "./demo-notes.ts";

/**
 * The demo's single page: plain HTML, CSS and a module script built on the client. Everything the page shows
 * comes from `client.subscribe(state)`: cursors and members from `state.presence`, the chat from
 * `state.chatMessages`, `pendingMessages` and `chatGaps`, the badge from `state.status`. The notes pad is a
 * Y.Text of the shared document named after the room, bound to a text area through `createDocumentProvider`.
 */
export function demoPage(settings: { wsPath: string; docsPath: string | null; clientUrl: string; importMap: string }): string {
  const { importMap, ...shown } = settings;
  const config = JSON.stringify(shown).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>OpenLiveSync demo</title>
<link rel="icon" href="${FAVICON}">
<script type="importmap">${importMap.replace(/</g, "\\u003c")}</script>
<style>
${STYLE}</style>
</head>
<body>
${BODY}<script type="module">
import { createLiveSyncClient, createDocumentProvider } from ${JSON.stringify(settings.clientUrl)};

const config = ${config};
${SCRIPT}${NOTES_SCRIPT}</script>
</body>
</html>
`;
}

/** An inline SVG icon (two overlapping cursors' circles): the page loads nothing but itself and the client. */
const FAVICON = `data:image/svg+xml,${encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="12" cy="16" r="9" fill="#2563eb"/><circle cx="20" cy="16" r="9" fill="#e11d48" fill-opacity=".85"/></svg>',
)}`;

/** The page's CSS. */
const STYLE = `  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2937; background: #f3f4f6; height: 100vh; display: flex; flex-direction: column; }
  header { display: flex; align-items: center; gap: 12px; padding: 10px 16px; background: #111827; color: #f9fafb; }
  header h1 { font-size: 16px; margin: 0; font-weight: 600; }
  header .spacer { flex: 1; }
  .badge { padding: 2px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; background: #6b7280; }
  .badge[data-status="open"] { background: #059669; }
  .badge[data-status="connecting"], .badge[data-status="reconnecting"] { background: #d97706; }
  .badge[data-status="stopped"], .badge[data-status="unreachable"] { background: #dc2626; }
  #name { width: 9em; padding: 2px 6px; border: 1px solid #4b5563; border-radius: 4px; background: #1f2937; color: #f9fafb; font: inherit; }
  .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; vertical-align: middle; }
  main { flex: 1; display: flex; min-height: 0; }
  #board { flex: 1; position: relative; overflow: hidden; margin: 12px; border-radius: 12px; background: #fff;
    background-image: radial-gradient(#e5e7eb 1px, transparent 1px); background-size: 20px 20px; border: 1px solid #e5e7eb; cursor: crosshair; }
  #board .hint { position: absolute; left: 16px; top: 12px; color: #9ca3af; pointer-events: none; }
  .cursor { position: absolute; left: 0; top: 0; pointer-events: none; transition: transform 90ms linear; }
  .cursor svg { display: block; filter: drop-shadow(0 1px 1px rgba(0,0,0,.3)); }
  .cursor span { position: absolute; left: 14px; top: 16px; white-space: nowrap; color: #fff; font-size: 12px; padding: 1px 6px; border-radius: 4px; }
  aside { width: 340px; display: flex; flex-direction: column; margin: 12px 12px 12px 0; gap: 12px; min-height: 0; }
  .panel { background: #fff; border: 1px solid #e5e7eb; border-radius: 12px; padding: 10px 12px; }
  .panel h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #6b7280; margin: 0 0 6px; }
  #members { list-style: none; margin: 0; padding: 0; }
  #members li { padding: 2px 0; }
  .chat { flex: 1; display: flex; flex-direction: column; min-height: 0; }
  #messages { list-style: none; margin: 0; padding: 0; flex: 1; overflow-y: auto; }
  #messages li { padding: 3px 0; word-wrap: break-word; }
  #messages li b { margin-right: 4px; }
  #messages li time { color: #9ca3af; font-size: 11px; margin-left: 4px; }
  #messages li.pending { color: #9ca3af; font-style: italic; }
  #messages li.gap { color: #6b7280; font-size: 12px; text-align: center; border-top: 1px dashed #d1d5db; margin: 4px 0; }
  #load-older { align-self: center; margin-bottom: 6px; font-size: 12px; }
  #history-end { align-self: center; margin-bottom: 6px; font-size: 12px; color: #9ca3af; }
  #chat-form { display: flex; gap: 6px; margin-top: 8px; }
  #chat-input { flex: 1; padding: 6px 8px; border: 1px solid #d1d5db; border-radius: 6px; font: inherit; }
  button { padding: 6px 12px; border: 0; border-radius: 6px; background: #2563eb; color: #fff; font: inherit; cursor: pointer; }
  button[disabled] { background: #9ca3af; cursor: default; }
  #note { color: #dc2626; font-size: 12px; min-height: 1em; }
  #notes { width: 100%; resize: vertical; padding: 6px 8px; border: 1px solid #d1d5db; border-radius: 6px; font: 13px/1.4 ui-monospace, monospace; }
  #notes-status { text-transform: none; letter-spacing: 0; color: #fff; margin-left: 4px; }
  #notes-status[data-status="synced"] { background: #059669; }
  #notes-status[data-status="connecting"], #notes-status[data-status="offline"] { background: #d97706; }
  #notes-status[data-status="stopped"] { background: #dc2626; }
`;

/** The page's markup: the header badge, the board for cursors, members and chat. */
const BODY = `<header>
  <h1>OpenLiveSync demo</h1>
  <span>room <b id="room"></b></span>
  <span class="spacer"></span>
  <label>you: <span id="me"></span><input id="name" maxlength="40" title="Your name (also ?name= in the URL)"></label>
  <span id="status" class="badge" data-status="idle">idle</span>
</header>
<main>
  <section id="board"><div class="hint">Move your mouse here. Open this page in a second tab to see each other.
    Change your name at the top right (or with ?name= in the URL).</div></section>
  <aside>
    <div class="panel"><h2>Members (<span id="count">0</span>)</h2><ul id="members"></ul></div>
    <div class="panel" id="notes-panel" hidden><h2>Notes <span id="notes-status" class="badge" data-status="connecting">connecting</span></h2>
      <textarea id="notes" rows="6" placeholder="Shared notes: everyone in this room edits this text (a Yjs document)"></textarea></div>
    <div class="panel chat">
      <h2>Chat</h2>
      <button id="load-older" hidden>Load older</button>
      <div id="history-end" hidden>No older messages</div>
      <ol id="messages"></ol>
      <div id="note"></div>
      <form id="chat-form"><input id="chat-input" autocomplete="off" placeholder="Say something" maxlength="2000"><button id="send">Send</button></form>
    </div>
  </aside>
</main>
`;

/** The module script after its import and config: joins the room and renders every state the client hands it. */
const SCRIPT = `const params = new URLSearchParams(location.search);
const room = params.get("room") || "lobby";
let name = params.get("name") || "Guest " + Math.floor(100 + Math.random() * 900);
const palette = ["#e11d48", "#2563eb", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];
let hash = 0;
for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) | 0;
const color = params.get("color") || palette[Math.abs(hash) % palette.length];

const $ = (id) => document.getElementById(id);
$("room").textContent = room;
$("me").innerHTML = '<span class="swatch"></span>';
$("me").firstChild.style.background = color;
$("name").value = name;

const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + config.wsPath;
const client = createLiveSyncClient({ url, reconnectIntervalMs: 500, maxReconnectIntervalMs: 5000, presenceThrottleMs: 50 });
window.liveSync = client;
let cursor = null;
client.connect();
client.joinRoom(room, { name, color, cursor }, { name });

// A new name: kept in the URL (a reload keeps it) and sent by joining the room again, which keeps the chat.
$("name").addEventListener("change", () => {
  const given = $("name").value.trim();
  if (!given || given === name) return void ($("name").value = name);
  name = given;
  params.set("name", name);
  history.replaceState(null, "", "?" + params);
  client.joinRoom(room, { name, color, cursor }, { name });
});

const board = $("board");
board.addEventListener("pointermove", (event) => {
  const box = board.getBoundingClientRect();
  cursor = { x: (event.clientX - box.left) / box.width, y: (event.clientY - box.top) / box.height };
  client.updatePresence({ name, color, cursor });
});

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("chat-input").value.trim();
  if (!text) return;
  try {
    client.sendChat(text, { color });
    $("chat-input").value = "";
    $("note").textContent = "";
  } catch (error) {
    $("note").textContent = error.message;
  }
});

let loadingOlder = false;
$("load-older").addEventListener("click", () => {
  const list = $("messages");
  const fromBottom = list.scrollHeight - list.scrollTop;
  loadingOlder = true;
  render();
  client.loadOlderMessages().then(
    () => { list.scrollTop = list.scrollHeight - fromBottom; },
    (error) => { $("note").textContent = "Could not load older messages: " + error.message; },
  ).finally(() => { loadingOlder = false; render(); });
});

const arrow = (fill) =>
  '<svg width="18" height="22" viewBox="0 0 18 22"><path d="M1 1 L1 17 L5.5 13 L8.5 20 L11 19 L8 12 L14 12 Z" fill="' + fill + '" stroke="#fff" stroke-width="1.5"/></svg>';
const cursors = new Map();
let scheduled = false;
client.subscribe(() => {
  if (!scheduled) { scheduled = true; requestAnimationFrame(render); }
});
render();

function render() {
  scheduled = false;
  const state = client.getState();
  const status = state.status === "open" && !state.inRoom ? "connecting" : state.status;
  const label =
    status === "reconnecting" ? "reconnecting (attempt " + state.reconnectAttempt + ")"
    : status === "unreachable" ? "cannot reach the server, retrying"
    : status === "open" ? "connected" : status;
  $("status").dataset.status = status;
  $("status").textContent = label;
  // Why the page cannot connect, in the client's words (an HTTP status when the browser tells, else the URL).
  if (state.lastError && (status === "unreachable" || status === "stopped")) $("note").textContent = state.lastError.message;
  else if (status === "open" && state.lastError && state.lastError.code === "CONNECT_FAILED") $("note").textContent = "";

  const entries = Object.values(state.presence);
  $("count").textContent = String(entries.length);
  const members = $("members");
  members.replaceChildren(...entries.map((entry) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = entry.presence.color || "#9ca3af";
    li.append(swatch, String(entry.presence.name || entry.name || entry.connectionId.slice(0, 8)) + (entry.connectionId === state.connectionId ? " (you)" : ""));
    li.dataset.connectionId = entry.connectionId;
    return li;
  }));

  const box = board.getBoundingClientRect();
  const live = new Set();
  for (const entry of entries) {
    const at = entry.presence.cursor;
    if (entry.connectionId === state.connectionId || !at) continue;
    live.add(entry.connectionId);
    let el = cursors.get(entry.connectionId);
    if (!el) {
      el = document.createElement("div");
      el.className = "cursor";
      el.innerHTML = arrow(entry.presence.color || "#111827") + "<span></span>";
      board.append(el);
      cursors.set(entry.connectionId, el);
    }
    el.dataset.name = String(entry.presence.name || "");
    el.querySelector("span").textContent = String(entry.presence.name || "");
    el.querySelector("span").style.background = entry.presence.color || "#111827";
    el.style.transform = "translate(" + Math.round(at.x * box.width) + "px," + Math.round(at.y * box.height) + "px)";
  }
  for (const [id, el] of cursors) if (!live.has(id)) { el.remove(); cursors.delete(id); }

  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
  const gaps = new Set(state.chatGaps);
  const items = [];
  for (const m of state.chatMessages) {
    const li = document.createElement("li");
    li.className = "msg";
    li.dataset.id = m.id;
    const who = document.createElement("b");
    who.textContent = (m.name || "anonymous") + ":";
    who.style.color = (m.metadata && m.metadata.color) || "#374151";
    const when = document.createElement("time");
    when.textContent = new Date(m.createdAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    li.append(who, m.message, when);
    items.push(li);
    if (gaps.has(m.id)) {
      const gap = document.createElement("li");
      gap.className = "gap";
      gap.textContent = "Some messages sent while you were away may not be shown here.";
      items.push(gap);
    }
  }
  for (const p of state.pendingMessages) {
    const li = document.createElement("li");
    li.className = "pending";
    li.textContent = name + ": " + p.message + " (sending…)";
    items.push(li);
  }
  list.replaceChildren(...items);
  if (atBottom) list.scrollTop = list.scrollHeight;
  // The button stays until the server says there is nothing older; then a line says so instead.
  $("load-older").hidden = !state.inRoom || !state.hasMoreHistory;
  $("load-older").disabled = loadingOlder;
  $("load-older").textContent = loadingOlder ? "Loading…" : "Load older";
  $("history-end").hidden = !state.inRoom || state.hasMoreHistory;
}
`;
