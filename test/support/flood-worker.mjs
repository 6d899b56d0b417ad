// A flood of one user's sockets, run as a child process by test/security/flood.int.test.ts
// so its own CPU does not count against the edge's: `node flood-worker.mjs URL TOKEN
// SOCKETS FRAMES_PER_SECOND SECONDS`. Each socket joins its own room and broadcasts to it,
// staying under the per-socket allowance; every 100 ms one message carries a tenth of
// its frames. Prints one JSON line when done: { opened, refused, sent }.
import { encode } from '@msgpack/msgpack';
import WebSocket from 'ws';

const [url, token, socketsArg, fpsArg, secondsArg] = process.argv.slice(2);
const sockets = Number(socketsArg);
const perTick = Math.max(1, Math.round(Number(fpsArg) / 10));
const until = Date.now() + Number(secondsArg) * 1000;
const PING = 8;
const HELLO = 1;
const ERROR = 7;
let opened = 0;
let refused = 0;
let sent = 0;

function open(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const room = `flood:${i}`;
    const frame = encode([4, 'spam', 'x'.repeat(8), 0, [room], 0]);
    const batch = Buffer.concat(Array.from({ length: perTick }, () => frame));
    let timer;
    ws.on('open', () => ws.send(encode([0, 1, { token }])));
    ws.on('message', (data) => {
      const type = data[1];
      if (type === PING) ws.send(encode([9]));
      else if (type === HELLO && !timer) {
        opened++;
        ws.send(encode([2, 1, room]));
        timer = setInterval(() => {
          if (Date.now() > until) {
            clearInterval(timer);
            ws.close();
            return;
          }
          if (ws.bufferedAmount < 1 << 20) {
            ws.send(batch);
            sent += perTick;
          }
        }, 100);
        resolve();
      } else if (type === ERROR && !timer) {
        refused++;
        resolve();
      }
    });
    ws.on('error', () => resolve());
    ws.on('close', () => {
      clearInterval(timer);
      resolve();
    });
  });
}

for (let i = 0; i < sockets; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, sockets - i) }, (_, j) => open(i + j)));
}
await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()) + 300));
process.stdout.write(`${JSON.stringify({ opened, refused, sent })}\n`);
process.exit(0);
