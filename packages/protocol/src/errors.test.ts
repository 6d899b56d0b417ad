import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CloseCode,
  ErrorCode,
  isReconnectable,
  isRoomfabricError,
  RoomfabricError,
} from './errors.js';
import { resolveLimits } from './limits.js';

describe('errors', () => {
  it('documents every error code and close code in docs/errors.md', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    for (const code of Object.values(ErrorCode)) expect(doc, code).toContain(`\`${code}\``);
    for (const code of Object.values(CloseCode)) expect(doc, String(code)).toContain(`| ${code} `);
  });

  it('has unique, prefixed codes', () => {
    const codes = Object.values(ErrorCode);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^RF_[A-Z_]+$/);
  });

  it('treats 4500-4999 as terminal and everything else as reconnectable', () => {
    expect(isReconnectable(CloseCode.GOING_AWAY)).toBe(true);
    expect(isReconnectable(CloseCode.SLOW_CONSUMER)).toBe(true);
    expect(isReconnectable(CloseCode.HEARTBEAT_TIMEOUT)).toBe(true);
    expect(isReconnectable(CloseCode.UNAUTHORIZED)).toBe(false);
    expect(isReconnectable(CloseCode.KICKED)).toBe(false);
    expect(isReconnectable(4999)).toBe(false);
  });

  it('carries code, cause, close code and temporary flag', () => {
    const cause = new Error('low level');
    const err = new RoomfabricError(ErrorCode.FRAME_MALFORMED, 'bad', {
      cause,
      closeCode: 1007,
      temporary: true,
    });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      name: 'RoomfabricError',
      code: 'RF_FRAME_MALFORMED',
      closeCode: 1007,
      temporary: true,
      cause,
    });
    expect(isRoomfabricError(err)).toBe(true);
    expect(isRoomfabricError(new Error('x'))).toBe(false);
  });

  it('rejects invalid limits with RF_INVALID_ARGUMENT', () => {
    expect(resolveLimits().maxFrameBytes).toBe(65536);
    expect(() => resolveLimits({ maxRoomsPerSocket: 0 })).toThrow(
      expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }),
    );
    expect(() => resolveLimits({ maxFrameBytes: 1.5 })).toThrow(
      expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }),
    );
  });
});
