import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CloseCode, ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
} from 'jose';

/**
 * How connections prove who they are: a JWT in the client's `auth` (`connect(url, { auth:
 * { token } })`, or `auth: token`). Exactly one key source: `secret` (HS256/384/512),
 * `publicKey` (PEM; RS256, ES256, PS256, EdDSA), `jwksUrl` or `jwksFile`.
 *
 * The token's `sub` is the user id (`socket.data.user`); its `rf` claim lists room
 * patterns the user may join and publish to, `*` matching any run of characters:
 * `{ "sub": "ada", "rf": { "join": ["doc:*", "lobby"], "publish": ["doc:*"] } }`.
 * Without an `rf` claim the user may join and publish nowhere on their own. `rf.info`, any
 * JSON value of at most `maxInfoBytes`, is the user's presence metadata (`socket.data.info`,
 * shown to presence rooms: docs/presence.md), e.g. `"info": { "name": "Ada" }`.
 */
export interface JwtAuthOptions {
  secret?: string | Uint8Array;
  publicKey?: string;
  jwksUrl?: string;
  jwksFile?: string;
  /** Accepted algorithms. Default: HS256/384/512 with `secret`, else RS256, ES256, PS256, EdDSA. */
  algorithms?: string[];
  issuer?: string;
  audience?: string;
  /** Leeway for `exp` and `nbf`, seconds. Default 5. */
  clockToleranceSec?: number;
  /**
   * Refuse tokens without `exp` (`RF_UNAUTHORIZED`). Default false: a token without `exp`
   * never expires, which suits a trusted issuer that keeps its tokens short-lived by other
   * means; turn this on when tokens may leak (they are bearer credentials).
   */
  requireExp?: boolean;
  /**
   * Largest `rf.info` claim, in bytes of JSON; a token with a larger one is refused with
   * `RF_TOKEN_INFO_TOO_LARGE`. Presence events carry it to every member of a presence room,
   * so keep it to a name and an avatar. Default 1024.
   */
  maxInfoBytes?: number;
}

/** Default of {@link JwtAuthOptions.maxInfoBytes}. */
export const DEFAULT_MAX_INFO_BYTES = 1024;

/** What a verified token grants. */
export interface AuthGrant {
  user: string;
  join: string[];
  publish: string[];
  /** The `rf.info` claim: presence metadata (`socket.data.info`); undefined when absent. */
  info?: unknown;
  /** When the token expires, ms since the epoch; undefined when it has no `exp`. */
  expiresAt: number | undefined;
}

type Key =
  | Uint8Array
  | KeyObject
  | ReturnType<typeof createRemoteJWKSet>
  | ReturnType<typeof createLocalJWKSet>;

/** Verifies tokens against one key source. */
export class JwtVerifier {
  private readonly key: Key;
  private readonly algorithms: string[];

  constructor(private readonly options: JwtAuthOptions) {
    const sources = ['secret', 'publicKey', 'jwksUrl', 'jwksFile'].filter(
      (k) => options[k as keyof JwtAuthOptions] !== undefined,
    );
    if (sources.length !== 1) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        `JWT auth needs exactly one of secret, publicKey, jwksUrl, jwksFile (got ${sources.length})`,
      );
    }
    if (options.secret !== undefined) {
      this.key =
        typeof options.secret === 'string'
          ? new TextEncoder().encode(options.secret)
          : options.secret;
      if (this.key.length < 32) {
        throw new RoomfabricError(
          ErrorCode.INVALID_ARGUMENT,
          'a JWT secret must be at least 32 bytes',
        );
      }
    } else if (options.publicKey !== undefined) {
      this.key = createPublicKey(options.publicKey);
    } else if (options.jwksUrl !== undefined) {
      this.key = createRemoteJWKSet(new URL(options.jwksUrl));
    } else {
      this.key = createLocalJWKSet(
        JSON.parse(readFileSync(options.jwksFile!, 'utf8')) as Parameters<
          typeof createLocalJWKSet
        >[0],
      );
    }
    this.algorithms =
      options.algorithms ??
      (options.secret !== undefined
        ? ['HS256', 'HS384', 'HS512']
        : ['RS256', 'ES256', 'PS256', 'EdDSA']);
  }

  /**
   * Verifies a token. Rejects with `RF_TOKEN_EXPIRED` (close 4002, the client may get a
   * fresh token and reconnect) or `RF_UNAUTHORIZED` (close 4500).
   */
  async verify(auth: unknown): Promise<AuthGrant> {
    const token = typeof auth === 'string' ? auth : (auth as { token?: unknown } | null)?.token;
    if (typeof token !== 'string' || token.length === 0) {
      throw new RoomfabricError(ErrorCode.UNAUTHORIZED, 'a token is required (auth: { token })', {
        closeCode: CloseCode.UNAUTHORIZED,
      });
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key as Uint8Array, {
        algorithms: this.algorithms,
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: this.options.clockToleranceSec ?? 5,
        ...(this.options.requireExp && { requiredClaims: ['exp'] }),
      }));
    } catch (cause) {
      if (cause instanceof joseErrors.JWTExpired) {
        throw new RoomfabricError(ErrorCode.TOKEN_EXPIRED, 'the token has expired', {
          cause,
          closeCode: CloseCode.TOKEN_EXPIRED,
        });
      }
      // jose's messages say which check failed without echoing the token.
      const why = cause instanceof Error ? cause.message : 'invalid token';
      throw new RoomfabricError(ErrorCode.UNAUTHORIZED, `invalid token: ${why}`, {
        cause,
        closeCode: CloseCode.UNAUTHORIZED,
      });
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
      throw new RoomfabricError(ErrorCode.UNAUTHORIZED, 'the token has no subject (sub)', {
        closeCode: CloseCode.UNAUTHORIZED,
      });
    }
    const rf = (payload.rf ?? {}) as { join?: unknown; publish?: unknown; info?: unknown };
    const grant: AuthGrant = {
      user: payload.sub,
      join: patterns(rf.join),
      publish: patterns(rf.publish),
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
    };
    if (rf.info !== undefined) {
      grant.info = checkInfo(rf.info, this.options.maxInfoBytes ?? DEFAULT_MAX_INFO_BYTES);
    }
    return grant;
  }
}

/** The `rf.info` claim, if it is at most `maxBytes` of JSON; else `RF_TOKEN_INFO_TOO_LARGE`. */
function checkInfo(info: unknown, maxBytes: number): unknown {
  // The claim is stored in the index and sent to presence rooms as msgpack: bound its
  // nesting as the wire bounds a frame's, before anything tries to encode it.
  const depth = jsonDepth(info);
  if (depth > MAX_INFO_DEPTH) {
    throw new RoomfabricError(
      ErrorCode.TOKEN_INFO_TOO_LARGE,
      `the token's rf.info claim nests ${depth} levels deep, over the limit of ${MAX_INFO_DEPTH}`,
      { closeCode: CloseCode.UNAUTHORIZED, details: { depth, maxDepth: MAX_INFO_DEPTH } },
    );
  }
  // A verified claim came out of JSON, so it goes back into JSON.
  const bytes = Buffer.byteLength(JSON.stringify(info));
  if (bytes > maxBytes) {
    throw new RoomfabricError(
      ErrorCode.TOKEN_INFO_TOO_LARGE,
      `the token's rf.info claim is ${bytes} bytes of JSON, over the limit of ${maxBytes}`,
      { closeCode: CloseCode.UNAUTHORIZED, details: { bytes, maxBytes } },
    );
  }
  return info;
}

/** How deep arrays and objects may nest in an `rf.info` claim. */
export const MAX_INFO_DEPTH = 16;

/** How deep arrays and objects nest in a JSON value (a scalar is 0), without recursion. */
function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d + 1 > max) max = d + 1;
    if (max > MAX_INFO_DEPTH) return max; // enough to refuse
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

function patterns(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((p): p is string => typeof p === 'string' && p.length > 0)
    : [];
}
