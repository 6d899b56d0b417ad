import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import { describe, expect, it } from 'vitest';
import { checkUrls } from './url.js';

/** The error `checkUrls(url)` throws (fails the test when it throws none). */
function refusal(url: unknown): RoomfabricError {
  try {
    checkUrls(url);
  } catch (err) {
    expect(err).toBeInstanceOf(RoomfabricError);
    return err as RoomfabricError;
  }
  throw new Error(`checkUrls accepted ${String(url)}`);
}

describe('checkUrls', () => {
  it('accepts ws:// and wss:// URLs as they are (normalised by the URL parser)', () => {
    expect(checkUrls('ws://127.0.0.1:3000/ws')).toEqual(['ws://127.0.0.1:3000/ws']);
    expect(checkUrls('wss://edge.example.com/ws?region=eu')).toEqual([
      'wss://edge.example.com/ws?region=eu',
    ]);
    // Case of scheme and host, and the default port, as the WHATWG parser does.
    expect(checkUrls('WS://Edge.Example.com:80/ws')).toEqual(['ws://edge.example.com/ws']);
    expect(checkUrls('ws://[::1]:3000/ws')).toEqual(['ws://[::1]:3000/ws']);
  });

  it('takes http:// as ws:// and https:// as wss://, keeping host, port, path and query', () => {
    expect(checkUrls('http://127.0.0.1:3000/ws')).toEqual(['ws://127.0.0.1:3000/ws']);
    expect(checkUrls('https://edge.example.com/ws?x=1')).toEqual(['wss://edge.example.com/ws?x=1']);
    // A default port stays the default of the new scheme; an explicit one stays as given.
    expect(checkUrls('https://edge.example.com:443/')).toEqual(['wss://edge.example.com/']);
    expect(checkUrls('http://h:8080')).toEqual(['ws://h:8080/']);
    expect(checkUrls('http://h:443/ws')).toEqual(['ws://h:443/ws']);
  });

  it('checks every URL of a list, keeping their order, and returns a new array', () => {
    const list = ['ws://a:1/ws', 'https://b/ws', 'wss://c/ws'];
    const out = checkUrls(list);
    expect(out).toEqual(['ws://a:1/ws', 'wss://b/ws', 'wss://c/ws']);
    expect(out).not.toBe(list);
    expect(list[1]).toBe('https://b/ws'); // the caller's list is not rewritten
  });

  it.each([
    ['a bare host:port', '127.0.0.1:3000'],
    ['a host:port/path (parsed as scheme "localhost:")', 'localhost:3000/ws'],
    ['ftp://', 'ftp://host/ws'],
    ['file://', 'file:///tmp/ws'],
    ['javascript:', 'javascript:alert(1)'],
    ['a missing colon', 'ws//host/ws'],
    ['a protocol-relative URL', '//host/ws'],
    ['ws:// without a host', 'ws://'],
    ['the empty string', ''],
  ])('refuses %s with RF_INVALID_ARGUMENT, naming the URL', (_what, url) => {
    const err = refusal(url);
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toContain(JSON.stringify(url));
    expect(err.message).toContain('ws://, wss://, http:// or https://');
  });

  it('refuses values that are not strings, alone or in a list', () => {
    for (const bad of [42, null, { href: 'ws://h/ws' }, new URL('ws://h/ws')]) {
      expect(refusal([bad]).code).toBe(ErrorCode.INVALID_ARGUMENT);
    }
    // One bad entry refuses the whole list.
    expect(refusal(['ws://ok/ws', 'nope']).message).toContain('"nope"');
  });

  it('refuses no URL at all: an empty list, undefined, a number, an object', () => {
    for (const none of [[], undefined, 42, {}]) {
      const err = refusal(none);
      expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(err.message).toMatch(/needs a URL/);
    }
  });

  it('cuts a huge refused value short in the message', () => {
    const err = refusal(`ftp://${'x'.repeat(5000)}`);
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message.length).toBeLessThan(400);
  });

  // WebSocket constructors refuse a URL with a fragment (`ws`: "The URL contains a fragment
  // identifier"; browsers: SyntaxError), so it would fail in every attempt, retried for ever.
  it('refuses a URL that WebSocket constructors refuse (a #fragment, even an empty one)', () => {
    for (const url of ['ws://127.0.0.1:3000/ws#room', 'ws://127.0.0.1:3000/ws#']) {
      const err = refusal(url);
      expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(err.message).toContain('#fragment');
    }
  });
});
