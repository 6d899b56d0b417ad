import { connect } from 'node:net';

/**
 * A RESP2 reply: simple and bulk strings as `string`, integers as `number`, nil as `null`,
 * arrays as arrays. An error nested in an array (e.g. in an `EXEC` reply) is a
 * {@link RespReplyError}; a top-level error rejects instead.
 */
export type RespValue = string | number | null | RespReplyError | RespValue[];

/** An error reply (`-ERR ...`, `-MOVED 3999 127.0.0.1:7002`, ...). */
export class RespReplyError extends Error {
  override readonly name = 'RespReplyError';
}

/**
 * Sends one command to `host:port` on a fresh connection and resolves with its reply; a
 * tiny RESP2 client so the testkit needs no Redis library. Rejects on an error reply (the
 * message names the server and the command), a network error, or no complete reply in
 * `timeoutMs`. It does not follow `MOVED` redirects.
 *
 * @example
 * await redisCommand('127.0.0.1', port, ['CLUSTER', 'INFO']);
 */
export function redisCommand(
  host: string,
  port: number,
  args: readonly (string | number)[],
  timeoutMs = 1000,
): Promise<RespValue> {
  const what = `${host}:${port} ${String(args[0])}`;
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let received = Buffer.alloc(0);
    let settled = false;
    const settle = (err: Error | undefined, value?: RespValue) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(value ?? null);
    };
    socket.setTimeout(timeoutMs, () =>
      settle(new Error(`${what}: no complete reply in ${timeoutMs} ms`)),
    );
    socket.on('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      let parsed: Parsed | undefined;
      try {
        parsed = parseReply(received, 0);
      } catch (err) {
        return settle(err instanceof Error ? err : new Error(String(err)));
      }
      if (parsed === undefined) return;
      if (parsed.value instanceof RespReplyError) {
        settle(new RespReplyError(`${what}: ${parsed.value.message}`));
      } else {
        settle(undefined, parsed.value);
      }
    });
    socket.on('error', (err) => settle(new Error(`${what}: ${err.message}`)));
    socket.on('close', () => settle(new Error(`${what}: connection closed before a reply`)));
  });
}

/** A command as a RESP array of bulk strings. */
function encodeCommand(args: readonly (string | number)[]): Buffer {
  const parts = args.map((arg) => {
    const text = String(arg);
    return `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
  });
  return Buffer.from(`*${args.length}\r\n${parts.join('')}`);
}

interface Parsed {
  value: RespValue;
  next: number;
}

/** The reply that starts at `at`, or `undefined` while it is incomplete. */
function parseReply(buf: Buffer, at: number): Parsed | undefined {
  const end = buf.indexOf('\r\n', at);
  if (end < 0) return undefined;
  const line = buf.toString('utf8', at + 1, end);
  const next = end + 2;
  switch (String.fromCharCode(buf[at] as number)) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: new RespReplyError(line), next };
    case ':':
      return { value: Number(line), next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next };
      if (buf.length < next + length + 2) return undefined;
      return { value: buf.toString('utf8', next, next + length), next: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items: RespValue[] = [];
      let cursor = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, cursor);
        if (item === undefined) return undefined;
        items.push(item.value);
        cursor = item.next;
      }
      return { value: items, next: cursor };
    }
    default:
      throw new Error(`not a RESP2 reply: ${JSON.stringify(buf.toString('utf8', at, end))}`);
  }
}
