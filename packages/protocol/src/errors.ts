/**
 * Stable error codes. Every code is listed in `docs/errors.md`; tests assert on `code`,
 * never on message text. Codes are never renamed or reused.
 */
export const ErrorCode = {
  // Wire protocol (the edge rejects a frame or closes the connection).
  FRAME_MALFORMED: 'RF_FRAME_MALFORMED',
  FRAME_INVALID: 'RF_FRAME_INVALID',
  FRAME_UNKNOWN_TYPE: 'RF_FRAME_UNKNOWN_TYPE',
  FRAME_TOO_LARGE: 'RF_FRAME_TOO_LARGE',
  FRAME_TOO_DEEP: 'RF_FRAME_TOO_DEEP',
  FRAME_TEXT: 'RF_FRAME_TEXT',
  HANDSHAKE_REQUIRED: 'RF_HANDSHAKE_REQUIRED',
  HANDSHAKE_TIMEOUT: 'RF_HANDSHAKE_TIMEOUT',
  PROTOCOL_VERSION: 'RF_PROTOCOL_VERSION',
  // Rooms and events.
  ROOM_INVALID: 'RF_ROOM_INVALID',
  ROOM_RESERVED: 'RF_ROOM_RESERVED',
  ROOM_LIMIT: 'RF_ROOM_LIMIT',
  NOT_IN_ROOM: 'RF_NOT_IN_ROOM',
  EVENT_INVALID: 'RF_EVENT_INVALID',
  EVENT_RESERVED: 'RF_EVENT_RESERVED',
  ACK_UNKNOWN: 'RF_ACK_UNKNOWN',
  ACK_TIMEOUT: 'RF_ACK_TIMEOUT',
  NO_HANDLER: 'RF_NO_HANDLER',
  HANDLER_FAILED: 'RF_HANDLER_FAILED',
  FORBIDDEN: 'RF_FORBIDDEN',
  RATE_LIMITED: 'RF_RATE_LIMITED',
  // Connection lifecycle.
  UNAUTHORIZED: 'RF_UNAUTHORIZED',
  TOKEN_EXPIRED: 'RF_TOKEN_EXPIRED',
  TOKEN_INFO_TOO_LARGE: 'RF_TOKEN_INFO_TOO_LARGE',
  KICKED: 'RF_KICKED',
  HEARTBEAT_TIMEOUT: 'RF_HEARTBEAT_TIMEOUT',
  SLOW_CONSUMER: 'RF_SLOW_CONSUMER',
  SERVER_SHUTDOWN: 'RF_SERVER_SHUTDOWN',
  DISCONNECTED: 'RF_DISCONNECTED',
  CLIENT_CLOSED: 'RF_CLIENT_CLOSED',
  QUEUE_FULL: 'RF_QUEUE_FULL',
  CONNECT_FAILED: 'RF_CONNECT_FAILED',
  UPGRADE_REFUSED: 'RF_UPGRADE_REFUSED',
  CONNECTION_LIMIT: 'RF_CONNECTION_LIMIT',
  // Node and backing services.
  INVALID_ARGUMENT: 'RF_INVALID_ARGUMENT',
  EDGE_CLOSED: 'RF_EDGE_CLOSED',
  LISTEN_FAILED: 'RF_LISTEN_FAILED',
  BUS_UNAVAILABLE: 'RF_BUS_UNAVAILABLE',
  REQUEST_TIMEOUT: 'RF_REQUEST_TIMEOUT',
  NO_RESPONDERS: 'RF_NO_RESPONDERS',
  RAID_FAILED: 'RF_RAID_FAILED',
  MEMBERSHIP_UNAVAILABLE: 'RF_MEMBERSHIP_UNAVAILABLE',
  HISTORY_UNAVAILABLE: 'RF_HISTORY_UNAVAILABLE',
  HISTORY_GAP: 'RF_HISTORY_GAP',
  // Persistent channels (docs/channels.md).
  CHANNEL_NOT_FOUND: 'RF_CHANNEL_NOT_FOUND',
  CHANNEL_EXISTS: 'RF_CHANNEL_EXISTS',
  CHANNEL_CONFLICT: 'RF_CHANNEL_CONFLICT',
  CHANNEL_STORE_UNAVAILABLE: 'RF_CHANNEL_STORE_UNAVAILABLE',
  INTERNAL: 'RF_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const TEMPORARY_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  ErrorCode.ACK_TIMEOUT,
  ErrorCode.RATE_LIMITED,
  ErrorCode.HEARTBEAT_TIMEOUT,
  ErrorCode.SLOW_CONSUMER,
  ErrorCode.SERVER_SHUTDOWN,
  ErrorCode.DISCONNECTED,
  ErrorCode.QUEUE_FULL,
  ErrorCode.CONNECT_FAILED,
  ErrorCode.CONNECTION_LIMIT,
  ErrorCode.BUS_UNAVAILABLE,
  ErrorCode.REQUEST_TIMEOUT,
  ErrorCode.NO_RESPONDERS,
  ErrorCode.MEMBERSHIP_UNAVAILABLE,
  ErrorCode.HISTORY_UNAVAILABLE,
  ErrorCode.HISTORY_GAP,
  ErrorCode.CHANNEL_STORE_UNAVAILABLE,
]);

/**
 * True for codes that say "not now": a backing service or the connection is down for the
 * moment, and the same call may succeed later (the SDK retries a rejoin refused so). An
 * error received from the server carries no flag of its own; this decides it.
 */
export function isTemporaryCode(code: string): boolean {
  return TEMPORARY_CODES.has(code);
}

/**
 * WebSocket close codes used by Roomfabric (RFC 6455 section 7.4 plus the 3000-4999
 * application range). Codes 4500-4999 are terminal: a client must not reconnect
 * automatically after one of them. Every other code allows a reconnect.
 */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SLOW_CONSUMER: 3008,
  HEARTBEAT_TIMEOUT: 4000,
  HANDSHAKE_TIMEOUT: 4001,
  TOKEN_EXPIRED: 4002,
  REJOIN_TIMEOUT: 4003,
  HISTORY_GAP: 4004,
  UNAUTHORIZED: 4500,
  KICKED: 4501,
  PROTOCOL_VERSION: 4502,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** True when a client may reconnect after the connection closed with `code`. */
export function isReconnectable(code: number): boolean {
  return code < 4500 || code > 4999;
}

export interface RoomfabricErrorOptions {
  cause?: unknown;
  /** The WebSocket close code this error leads to, for protocol errors. */
  closeCode?: number;
  /** True when retrying the same operation later may succeed. */
  temporary?: boolean;
  /** Extra machine-readable context (room id, limit value, ...). */
  details?: Record<string, unknown>;
}

/**
 * The one error type Roomfabric throws or rejects with. `code` is stable (see
 * `docs/errors.md`); `message` is for humans and may change.
 */
export class RoomfabricError extends Error {
  override readonly name = 'RoomfabricError';
  readonly code: ErrorCode;
  readonly closeCode: number | undefined;
  readonly temporary: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: RoomfabricErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.closeCode = options.closeCode;
    this.temporary = options.temporary ?? false;
    this.details = options.details;
  }
}

const knownCodes: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** True when `code` is one of the stable codes in {@link ErrorCode}. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && knownCodes.has(code);
}

/** True when `err` is a {@link RoomfabricError}, across package copies too. */
export function isRoomfabricError(err: unknown): err is RoomfabricError {
  return (
    err instanceof RoomfabricError ||
    (err instanceof Error &&
      err.name === 'RoomfabricError' &&
      isErrorCode((err as RoomfabricError).code))
  );
}
