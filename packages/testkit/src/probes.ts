import { request } from 'node:http';
import { connect } from 'node:net';

/** Status and body of one HTTP response. */
export interface HttpResult {
  status: number;
  body: string;
}

/**
 * One GET with no keep-alive agent (a pooled socket to a server that a chaos test just
 * killed would only confuse the next probe). Rejects on network errors and after `timeoutMs`.
 */
export function httpGet(url: string, timeoutMs = 1000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET that expects a 200 JSON answer. */
export async function httpJson(url: string, timeoutMs = 1000): Promise<Record<string, unknown>> {
  const { status, body } = await httpGet(url, timeoutMs);
  if (status !== 200) throw new Error(`GET ${url}: HTTP ${status}: ${body.slice(0, 200)}`);
  return JSON.parse(body) as Record<string, unknown>;
}

/** Whether `GET url` answers 200 within `timeoutMs`; any failure counts as "no". */
export async function httpOk(url: string, timeoutMs = 1000): Promise<boolean> {
  try {
    return (await httpGet(url, timeoutMs)).status === 200;
  } catch {
    return false;
  }
}

/**
 * Raw Redis readiness probe: TCP connect, send `PING`, expect `+PONG` (RESP simple string).
 * A Redis still loading answers `-LOADING ...`, which counts as not ready.
 */
export function redisPing(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/**
 * Pid of the Redis answering on `host:port` (`process_id` from `INFO server`), once it
 * answers `PING` with `+PONG`; `undefined` otherwise. Tells our redis-server apart from
 * another one that took the port first.
 */
export function redisServerPid(
  host: string,
  port: number,
  timeoutMs = 1000,
): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let reply = '';
    const done = (pid: number | undefined) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('PING\r\nINFO server\r\n'));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (!reply.includes('\r\n')) return;
      if (!reply.startsWith('+PONG\r\n')) return done(undefined);
      const pid = /\r\nprocess_id:(\d+)\r\n/.exec(reply)?.[1];
      if (pid !== undefined) done(Number(pid));
    });
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}

/** The `INFO {...}` greeting a NATS server sends on connect, parsed. */
export function natsInfo(host: string, port: number, timeoutMs = 1000): Promise<NatsInfo> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let text = '';
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`no INFO from ${host}:${port}`)));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\r\n');
      if (end < 0) return;
      socket.destroy();
      if (!text.startsWith('INFO ')) return reject(new Error(`not NATS: ${text.slice(0, 80)}`));
      try {
        resolve(JSON.parse(text.slice(5, end)) as NatsInfo);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('error', fail);
    socket.on('close', () => fail(new Error(`${host}:${port} closed before INFO`)));
  });
}

/** The fields of a NATS `INFO` greeting the testkit reads. */
export interface NatsInfo {
  server_id: string;
  server_name?: string;
  port?: number;
}
