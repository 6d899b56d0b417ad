import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';

const SCHEMES: Record<string, string> = {
  'ws:': 'ws:',
  'wss:': 'wss:',
  'http:': 'ws:',
  'https:': 'wss:',
};

/**
 * The URLs of `connect()`, each checked: `ws://`, `wss://`, or `http(s)://` (taken as
 * `ws(s)://`). Anything else, a bare `host:port` included, throws `RF_INVALID_ARGUMENT`
 * at once instead of failing later in the WebSocket.
 */
export function checkUrls(url: unknown): string[] {
  const list = typeof url === 'string' ? [url] : Array.isArray(url) ? [...(url as unknown[])] : [];
  if (list.length === 0) {
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      'connect() needs a URL such as ws://127.0.0.1:3000/ws, or a list of them',
    );
  }
  return list.map((u) => {
    let parsed: URL | undefined;
    try {
      parsed = typeof u === 'string' ? new URL(u) : undefined;
    } catch {
      parsed = undefined;
    }
    const scheme = parsed && SCHEMES[parsed.protocol];
    if (!parsed || !scheme) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        `connect() needs ws://, wss://, http:// or https:// URLs, got ${JSON.stringify(String(u)).slice(0, 200)} (e.g. ws://127.0.0.1:3000/ws)`,
      );
    }
    // WebSocket constructors refuse a fragment (`ws` and browsers alike), and every attempt
    // would fail the same way: refuse it here, where it is still an argument error.
    if (parsed.hash !== '' || String(u).includes('#')) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        `connect() URLs cannot have a #fragment (WebSocket refuses them), got ${JSON.stringify(String(u)).slice(0, 200)}`,
      );
    }
    parsed.protocol = scheme;
    return parsed.href;
  });
}
