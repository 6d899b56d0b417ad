import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector';

/*
 * Preloaded into a server under test (`node --expose-gc --import <this file>`, or through
 * NODE_OPTIONS for `roomfabric edge`) when RF_BENCH_PROBE_PORT is set: a tiny HTTP server on
 * 127.0.0.1 that reports memory after a full GC and records CPU profiles, so the benchmark
 * can look inside processes it did not write. It allocates nothing per connection.
 *
 *   GET /memory                     process.memoryUsage() after gc(), as JSON
 *   GET /profile/start              starts the V8 CPU profiler
 *   GET /profile/stop?file=PATH     stops it and writes a .cpuprofile to PATH
 */

const port = Number(process.env.RF_BENCH_PROBE_PORT);
if (port > 0) {
  let session: Session | undefined;
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session!.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))),
    );
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://probe');
    const answer = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const fail = (err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    };
    if (url.pathname === '/memory') {
      const gc = (globalThis as { gc?: () => void }).gc;
      for (let i = 0; i < 3; i++) gc?.();
      answer({ ...process.memoryUsage(), gc: gc !== undefined });
    } else if (url.pathname === '/profile/start') {
      session = new Session();
      session.connect();
      post('Profiler.enable')
        .then(() => post('Profiler.setSamplingInterval', { interval: 200 }))
        .then(() => post('Profiler.start'))
        .then(() => answer({ started: true }), fail);
    } else if (url.pathname === '/profile/stop') {
      post('Profiler.stop').then((result) => {
        writeFileSync(
          url.searchParams.get('file')!,
          JSON.stringify((result as { profile: unknown }).profile),
        );
        session?.disconnect();
        answer({ written: url.searchParams.get('file') });
      }, fail);
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(port, '127.0.0.1');
  server.unref();
}
