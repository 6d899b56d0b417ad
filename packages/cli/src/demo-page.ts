/**
 * The browser demo served at `/` by `roomfabric dev` and `roomfabric edge --demo`: chat
 * rooms, live cursors (volatile, coalesced to 20 per second), the member list (from the
 * global index), a raid button, and the node each client is on. One self-contained page
 * (inline CSS and JS) that loads the SDK bundle from `/client.js` on the same server, so it
 * works offline. The server side is `installDemo` (demo-app.ts).
 */
export function demoPage(wsPath: string, mode = 'embedded'): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Roomfabric demo</title>
<style>
  * { box-sizing: border-box; }
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; color: #111827; }
  header { padding: 8px 12px; background: #1f2937; color: #f9fafb; display: flex; gap: 14px; align-items: center; flex-wrap: wrap; }
  header form { display: flex; gap: 6px; align-items: center; margin: 0; }
  header input { width: 8em; }
  .pill { background: #374151; border-radius: 10px; padding: 1px 8px; font-size: 13px; }
  #state { font-size: 13px; opacity: .8; }
  main { flex: 1; display: flex; min-height: 0; }
  #board { flex: 2; position: relative; overflow: hidden; margin: 8px; border: 1px dashed #9ca3af; border-radius: 6px; background: #f9fafb; cursor: crosshair; min-height: 160px; }
  #board .hint { position: absolute; inset: auto 8px 6px auto; font-size: 12px; color: #9ca3af; }
  .cursor { position: absolute; width: 12px; height: 12px; margin: -6px 0 0 -6px; border-radius: 50%; pointer-events: none; transition: left .05s linear, top .05s linear; }
  .cursor span { position: absolute; left: 14px; top: -4px; white-space: nowrap; font-size: 12px; background: #fff; border: 1px solid #e5e7eb; border-radius: 4px; padding: 0 4px; }
  aside { flex: 1; max-width: 260px; margin: 8px 8px 8px 0; border: 1px solid #e5e7eb; border-radius: 6px; padding: 8px; overflow-y: auto; }
  aside h2 { font-size: 14px; margin: 0 0 6px; }
  #members { list-style: none; margin: 0; padding: 0; }
  #members li { padding: 2px 0; }
  #members .node { font-size: 12px; color: #6b7280; margin-left: 6px; }
  #log { height: 30vh; overflow-y: auto; padding: 8px 12px; margin: 0; list-style: none; border-top: 1px solid #e5e7eb; }
  #log .sys { color: #6b7280; font-style: italic; }
  #log .room { color: #2563eb; margin-right: 6px; }
  form#send { display: flex; gap: 8px; padding: 8px 12px; border-top: 1px solid #e5e7eb; margin: 0; }
  form#send input { flex: 1; }
</style>
</head>
<body>
<header>
  <strong>Roomfabric</strong><span class="pill">${escapeHtml(mode)}</span>
  <span>you <b id="me"></b> on node <b id="node">-</b></span>
  <span>room <b id="room">-</b></span>
  <form id="joinForm">join <input id="roomName" value="lobby" aria-label="room to join"> <button>join</button></form>
  <form id="raidForm">raid everyone here to <input id="raidTo" value="stage" aria-label="raid target room"> <button id="raidBtn">raid</button></form>
  <span id="state">connecting</span>
</header>
<main>
  <div id="board" aria-label="cursor board"><span class="hint">move the mouse here: everyone in the room sees it</span></div>
  <aside><h2>Members (<span id="memberCount">0</span>)</h2><ul id="members"></ul></aside>
</main>
<ul id="log" aria-live="polite"></ul>
<form id="send"><input id="text" autocomplete="off" placeholder="Say something" aria-label="message"><button>send</button></form>
<script type="module">
import { connect } from '/client.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const name = (params.get('name') || 'guest-' + Math.random().toString(36).slice(2, 6)).slice(0, 32);
$('me').textContent = name;
const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + ${JSON.stringify(wsPath)};
const client = connect(url, { auth: () => ({ name }) });
window.roomfabric = client;
let room = null;

function log(text, where, cls) {
  const li = document.createElement('li');
  if (cls) li.className = cls;
  if (where) { const r = document.createElement('span'); r.className = 'room'; r.textContent = '#' + where; li.append(r); }
  li.append(document.createTextNode(text));
  $('log').append(li);
  li.scrollIntoView({ block: 'end' });
}
function showRoom() { $('room').textContent = room || '-'; }

client.on('state', (state, change) => {
  $('state').textContent = state + (change.code ? ' (' + change.code + ' ' + change.reason + ')' : '');
});
client.on('connected', (info) => {
  $('node').textContent = info.nodeId;
  log('connected to node ' + info.nodeId, null, 'sys');
  refreshMembers();
});
client.on('error', (err) => log('error ' + err.code + ': ' + err.message, null, 'sys'));
// Rooms that keep history (roomfabric dev --history 'lobby') replay what was missed.
client.on('rejoined', (r) => {
  if (r.recovered === true) log('back in #' + r.room + ': ' + r.missed + ' missed messages replayed', null, 'sys');
  if (r.recovered === false) log('back in #' + r.room + ': history gap, messages were lost', null, 'sys');
});

// Chat
client.on('chat', (m, meta) => log(String(m.name) + ' @' + String(m.node) + ': ' + String(m.text), meta.room));
$('send').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text || !room) return;
  client.to(room).emit('chat', { name, node: client.nodeId, text });
  log(name + ' @' + client.nodeId + ': ' + text, room);
  $('text').value = '';
});

// Rooms, members and presence
async function enter(next) {
  if (!next || room === next) return;
  try {
    if (room) await client.leave(room);
    await client.join(next);
    room = next;
    showRoom();
    clearCursors();
    log('joined #' + next, null, 'sys');
    announce();
  } catch (err) { log('cannot join: ' + err.code, null, 'sys'); }
}
function announce() {
  if (room) client.to(room).emit('presence', { name });
  refreshMembers();
}
let refreshing = false;
async function refreshMembers() {
  if (!room || client.state !== 'connected' || refreshing) return;
  refreshing = true;
  const asked = room;
  try {
    const list = await client.emitWithAck('members', asked, { timeout: 5000 });
    if (asked !== room || !Array.isArray(list)) return;
    $('members').replaceChildren(...list.map((m) => {
      const li = document.createElement('li');
      li.dataset.id = m.id;
      li.append(document.createTextNode(m.name + (m.id === client.id ? ' (you)' : '')));
      const node = document.createElement('span'); node.className = 'node'; node.textContent = m.nodeId;
      li.append(node);
      return li;
    }));
    $('memberCount').textContent = String(list.length);
  } catch { /* shown again on the next refresh */ } finally { refreshing = false; }
}
client.on('presence', () => refreshMembers());
setInterval(refreshMembers, 3000);
$('joinForm').addEventListener('submit', (e) => { e.preventDefault(); enter($('roomName').value.trim()); });

// Raids: everyone in this room, on every node, moves to another room
$('raidForm').addEventListener('submit', async (e) => {
  e.preventDefault();
  const to = $('raidTo').value.trim();
  if (!room || !to) return;
  try {
    const res = await client.emitWithAck('raid', { from: room, to }, { timeout: 10000 });
    if (res && res.error) log('raid refused: ' + res.error + ' ' + res.message, null, 'sys');
    else log('raid: ' + res.moved + ' member(s) on ' + res.nodes + ' node(s) moved to #' + to + ' in ' + res.totalMs + ' ms', null, 'sys');
  } catch (err) { log('raid failed: ' + err.code, null, 'sys'); }
});
client.on('moved', ({ from, to }) => {
  if (room === from) room = to;
  showRoom();
  clearCursors();
  log('moved from #' + from + ' to #' + to + ' by a raid', null, 'sys');
  announce();
});

// Live cursors: volatile, and coalesced (the latest position, at most every 50 ms)
const board = $('board');
const cursors = new Map();
let pending = null;
let drawQueued = false;
const clamp = (v) => Math.min(1, Math.max(0, v));
board.addEventListener('pointermove', (e) => {
  const r = board.getBoundingClientRect();
  pending = { x: clamp((e.clientX - r.left) / r.width), y: clamp((e.clientY - r.top) / r.height) };
});
setInterval(() => {
  if (!pending || !room || client.state !== 'connected') return;
  client.volatile.to(room).emit('cursor', { id: client.id, name, node: client.nodeId, x: pending.x, y: pending.y });
  pending = null;
}, 50);
client.on('cursor', (c, meta) => {
  if (meta.room !== room || typeof c.id !== 'string') return;
  let cur = cursors.get(c.id);
  if (!cur) {
    const el = document.createElement('div');
    el.className = 'cursor';
    el.dataset.id = c.id;
    el.style.background = 'hsl(' + (hash(c.id) % 360) + ' 70% 45%)';
    const label = document.createElement('span'); el.append(label);
    board.append(el);
    cur = { el, label };
    cursors.set(c.id, cur);
  }
  cur.label.textContent = String(c.name) + ' @' + String(c.node);
  cur.x = clamp(+c.x || 0); cur.y = clamp(+c.y || 0); cur.seen = Date.now();
  if (!drawQueued) { drawQueued = true; requestAnimationFrame(draw); }
});
function draw() {
  drawQueued = false;
  for (const cur of cursors.values()) { cur.el.style.left = cur.x * 100 + '%'; cur.el.style.top = cur.y * 100 + '%'; }
}
function clearCursors() { for (const cur of cursors.values()) cur.el.remove(); cursors.clear(); }
setInterval(() => {
  for (const [id, cur] of cursors) if (Date.now() - cur.seen > 10000) { cur.el.remove(); cursors.delete(id); }
}, 1000);
function hash(s) { let h = 0; for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) >>> 0; return h; }

enter('lobby');
</script>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
