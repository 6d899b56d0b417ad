/** The demo page served at `/` by `roomfabric dev`: a chat room on the browser SDK. */
export function demoPage(wsPath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Roomfabric demo</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; }
  header { padding: 8px 12px; background: #1f2937; color: #f9fafb; display: flex; gap: 12px; align-items: center; flex-wrap: wrap; }
  header input { width: 9em; }
  #state { font-size: 13px; opacity: .8; }
  #log { flex: 1; overflow-y: auto; padding: 8px 12px; margin: 0; list-style: none; }
  #log li { padding: 2px 0; }
  #log .sys { color: #6b7280; font-style: italic; }
  #log .room { color: #2563eb; margin-right: 6px; }
  form#send { display: flex; gap: 8px; padding: 8px 12px; border-top: 1px solid #e5e7eb; }
  form#send input { flex: 1; }
</style>
</head>
<body>
<header>
  <strong>Roomfabric</strong>
  <form id="room">room <input id="roomName" value="lobby" aria-label="room"> <button>join</button></form>
  <label>name <input id="name" aria-label="name"></label>
  <span id="state">connecting</span>
</header>
<ul id="log" aria-live="polite"></ul>
<form id="send"><input id="text" autocomplete="off" placeholder="Say something" aria-label="message"><button>send</button></form>
<script type="module">
import { connect } from '/client.js';

const $ = (id) => document.getElementById(id);
const log = (text, room, cls) => {
  const li = document.createElement('li');
  if (cls) li.className = cls;
  if (room) { const r = document.createElement('span'); r.className = 'room'; r.textContent = '#' + room; li.append(r); }
  li.append(document.createTextNode(text));
  $('log').append(li);
  li.scrollIntoView({ block: 'end' });
};
$('name').value = 'guest-' + Math.random().toString(36).slice(2, 6);
const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + ${JSON.stringify(wsPath)};
const client = connect(url);
window.roomfabric = client;
let room = null;
client.on('state', (state, { code, reason }) => {
  $('state').textContent = state + (client.nodeId && state === 'connected' ? ' to ' + client.nodeId : '') + (code ? ' (' + code + ' ' + reason + ')' : '');
});
client.on('chat', (msg, meta) => log(msg.name + ': ' + msg.text, meta.room));
client.on('error', (err) => log('error ' + err.code + ': ' + err.message, null, 'sys'));
async function enter(next) {
  if (room === next) return;
  try {
    if (room) await client.leave(room);
    await client.join(next);
    room = next;
    log('joined #' + next, null, 'sys');
  } catch (err) { log('cannot join: ' + err.code, null, 'sys'); }
}
$('room').addEventListener('submit', (e) => { e.preventDefault(); enter($('roomName').value.trim()); });
$('send').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text || !room) return;
  const msg = { name: $('name').value, text };
  client.to(room).emit('chat', msg);
  log(msg.name + ': ' + text, room);
  $('text').value = '';
});
enter('lobby');
</script>
</body>
</html>
`;
}
