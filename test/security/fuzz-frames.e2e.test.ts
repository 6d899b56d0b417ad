/*
 * Wire-level fuzzing that enumerates instead of sampling: every client frame type, every
 * field position, every msgpack type (and nesting depth), sent before and after HELLO,
 * each on a connection of its own, with the edge's answer checked against docs/errors.md
 * and printed as a table. The process-crash checks run against `roomfabric dev` as a child
 * process, whose death is observable; the in-process edges carry the per-frame detail.
 *
 * Contract (docs/protocol.md, docs/errors.md):
 * - a frame nesting arrays and maps at most 32 deep (its own array is level 1) is accepted;
 *   deeper is refused with ERROR [7, 0, 'RF_FRAME_TOO_DEEP', msg] and close 1007, in any
 *   frame type and field, before and after the handshake;
 * - any other bad input gets documented codes only (never RF_INTERNAL), a close, if any,
 *   with a documented code, and the node keeps serving everyone else.
 */
import { decode, encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { eventually, signTestToken, TEST_JWT_SECRET } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { startTestEdge, type TestEdge } from '../support/edge.js';
import {
  answerTable,
  caseOf,
  depthOf,
  frameTemplates,
  holeDepth,
  label,
  MAX_DEPTH,
  nested,
  notTooDeep,
  pack,
  runCases,
  startDevChild,
  TOO_DEEP,
  undocumented,
  unknownTypeTemplates,
  valueKinds,
  WireClient,
  type CaseResult,
  type FrameCase,
  type Shape,
} from '../support/fuzz.js';

function token(): Promise<string> {
  return signTestToken('fuzzer', { rf: { join: ['*'], publish: ['*'] } });
}

/** An edge with limits high enough that no case is rate limited; `ask` makes it wait for an ACK. */
async function fuzzEdge(mode: 'open' | 'jwt'): Promise<TestEdge> {
  const t = await startTestEdge({
    ...(mode === 'open' ? { policy: 'open' as const } : { auth: { secret: TEST_JWT_SECRET } }),
    limits: { maxFramesPerSecond: 1_000_000, maxBytesPerSecond: 1 << 30 },
    handshakeTimeoutMs: 5000,
  });
  t.edge.on('connection', (socket) => {
    socket.on('ask', () => {
      socket.emitWithAck('q', 1, { timeout: 5000 }).catch(() => undefined);
    });
  });
  return t;
}

/** The node still serves, and a member of `safe` from before got nothing bad. */
async function stillServes(url: string, auth: unknown, bystander: WireClient): Promise<string[]> {
  const problems: string[] = [];
  try {
    const probe = await WireClient.open(url, auth);
    if ((await probe.join('safe', 1))?.[0] !== 6) problems.push('a new client cannot join');
    const n = bystander.frames(5).length;
    probe.send(encode([4, 'after-fuzz', 1, 0, ['safe'], 0]));
    const got = await bystander.until(
      () =>
        bystander
          .frames(5, 0)
          .slice(n)
          .some((f) => f[1] === 'after-fuzz'),
      3000,
    );
    if (!got) problems.push('the bystander did not get a broadcast after the fuzzing');
    probe.terminate();
  } catch (err) {
    problems.push(`a new client cannot connect: ${String(err)}`);
  }
  if (bystander.frames(7).length) {
    problems.push(`the bystander got ERROR frames ${JSON.stringify(bystander.frames(7))}`);
  }
  if (bystander.closed) problems.push(`the bystander was closed: ${bystander.closed.code}`);
  return problems;
}

const allTemplates = () => [...frameTemplates(), ...unknownTypeTemplates()];

/** Every template with every value kind. */
function typeMatrix(): FrameCase[] {
  return allTemplates().flatMap((t) => valueKinds.map((k) => caseOf(t, k.kind, k.value)));
}

const DEEP_DEPTHS = [MAX_DEPTH + 1, 100, 101, 10_000];

/** Every template with values making the frame exactly `depths` deep. */
function depthMatrix(depths: number[], shapes: Shape[]): FrameCase[] {
  return allTemplates().flatMap((t) => {
    const around = holeDepth(t.tree({ id: 1, ackId: 1, auth: null }));
    return depths.flatMap((d) =>
      shapes.map((s) => caseOf(t, `depth ${d} ${s}`, nested(d - around, s))),
    );
  });
}

/** What is wrong with one case's answer under the depth contract ([] when right). */
function depthWrong(r: CaseResult): string[] {
  if (r.depth > MAX_DEPTH) return notTooDeep(r.answer);
  const wrong = undocumented(r.answer);
  if (r.answer.errors.some((e) => e[2] === TOO_DEEP)) wrong.push(`refused at depth ${r.depth}`);
  return wrong;
}

/**
 * One line per (phase, frame.field) with a wrong answer: each wrong case's value kind and
 * what the edge answered, so that the failure reads as a bug list.
 */
function summarize(results: CaseResult[], wrong: (r: CaseResult) => string[]): string[] {
  const rows = new Map<string, string[]>();
  for (const r of results) {
    const problems = wrong(r);
    if (problems.length === 0) continue;
    const key = `${r.phase === 'handshake' ? 'before HELLO' : 'after HELLO'}: ${r.frame}.${r.field}`;
    const list = rows.get(key) ?? [];
    const extra = problems.filter((p) => !p.startsWith('answer ')).join('; ');
    list.push(`${r.kind} -> ${label(r.answer)}${extra ? ` (${extra})` : ''}`);
    rows.set(key, list);
  }
  return [...rows].map(([key, list]) => `${key}: ${list.join(', ')}`);
}

describe('fuzz: frames (in-process edge)', () => {
  it('nesting depth 32 is accepted and delivered intact; 33 is refused with RF_FRAME_TOO_DEEP and close 1007', async () => {
    await using t = await fuzzEdge('open');
    const auths: unknown[] = [];
    const acks: unknown[] = [];
    t.edge.use((socket, next) => {
      auths.push(socket.handshake.auth);
      next();
    });
    t.edge.on('connection', (socket) => {
      socket.on('echo', (data, ack) => ack?.(data));
      socket.on('ask-deep', () => {
        socket.emitWithAck('q2', null, { timeout: 3000 }).then(
          (d) => acks.push(d),
          () => undefined,
        );
      });
    });
    const receiver = await WireClient.open(t.url, null);
    const sender = await WireClient.open(t.url, null);
    expect((await receiver.join('deep', 1))?.[0]).toBe(6);
    expect((await sender.join('deep', 1))?.[0]).toBe(6);
    const problems: string[] = [];
    let id = 10;
    for (const shape of ['array', 'map', 'mixed'] as const) {
      // A frame [4, event, data, ...] is one level more than its data.
      const data = nested(MAX_DEPTH - 1, shape);
      const expected = decode(data.bytes);
      expect(depthOf([expected])).toBe(MAX_DEPTH);
      // EMIT to a room: the other member gets it intact, the sender an ACK.
      const event = `deep-${shape}`;
      sender.send(pack([4, event, data, ++id, ['deep'], 0]));
      const acked = await sender.until(() => sender.answer(id) !== undefined, 2000);
      if (!acked || sender.answer(id)![0] !== 6) {
        problems.push(`EMIT to a room, ${shape}: answer ${JSON.stringify(sender.answer(id))}`);
      }
      await receiver.until(() => receiver.frames(5).some((f) => f[1] === event), 2000);
      const delivered = receiver.frames(5).find((f) => f[1] === event);
      if (!delivered) problems.push(`EMIT to a room, ${shape}: not delivered`);
      else expect(delivered[2], `delivered ${shape}`).toEqual(expected);
      // EMIT with ack to a handler, which acks the data back: ACK [6, id, data].
      sender.send(pack([4, 'echo', data, ++id, null, 0]));
      await sender.until(() => sender.answer(id) !== undefined, 2000);
      const echo = sender.answer(id);
      if (echo?.[0] !== 6) problems.push(`EMIT to a handler, ${shape}: ${JSON.stringify(echo)}`);
      else expect(echo[2], `echoed ${shape}`).toEqual(expected);
      // ACK from the client with deep data: the server's emitWithAck gets it intact.
      const before = acks.length;
      const n = sender.frames(5).length;
      sender.send(encode([4, 'ask-deep', null, 0, null, 0]));
      await sender.until(
        () =>
          sender
            .frames(5)
            .slice(n)
            .some((f) => f[1] === 'q2'),
        2000,
      );
      const ev = sender
        .frames(5)
        .slice(n)
        .find((f) => f[1] === 'q2');
      if (!ev) problems.push(`${shape}: the server's emitWithAck never came`);
      else {
        sender.send(pack([6, ev[4], data]));
        const resolved = await eventually(() => acks.length > before, {
          timeoutMs: 2000,
          everyMs: 20,
          soft: true,
        });
        if (resolved === undefined) {
          problems.push(`ACK data, ${shape}: the server's emitWithAck did not resolve`);
        } else expect(acks[before], `acked ${shape}`).toEqual(expected);
      }
      // CONNECT auth: HELLO, and middleware sees it intact.
      const c = await WireClient.open(t.url);
      c.send(pack([0, 1, data]));
      await c.until(() => !!c.hello() || !!c.closed, 2000);
      if (!c.hello())
        problems.push(`CONNECT auth, ${shape}: no HELLO (${JSON.stringify(c.values)})`);
      else expect(auths.at(-1), `auth ${shape}`).toEqual(expected);
      c.terminate();
    }
    expect(sender.frames(7), 'no error for a 32-deep frame').toEqual([]);
    expect(sender.closed).toBeUndefined();
    // One level more: refused, and nothing reaches the room.
    sender.send(pack([4, 'too-deep', nested(MAX_DEPTH, 'array'), ++id, ['deep'], 0]));
    await sender.until(() => !!sender.closed, 2000);
    const refused = sender.frames(7).at(-1);
    expect
      .soft(refused, 'ERROR frame for a 33-deep EMIT')
      .toEqual([7, 0, TOO_DEEP, expect.any(String)]);
    expect.soft(sender.closed, 'close after a 33-deep EMIT').toEqual({
      code: 1007,
      reason: TOO_DEEP,
    });
    await receiver.until(() => receiver.frames(5).some((f) => f[1] === 'too-deep'), 300);
    expect.soft(receiver.frames(5).some((f) => f[1] === 'too-deep')).toBe(false);
    expect(problems).toEqual([]);
    expect(receiver.closed).toBeUndefined();
  });

  it('random trees around the limit (fast-check, fixed seed): depth <= 32 delivered intact, deeper refused', async () => {
    await using t = await fuzzEdge('open');
    const scalar = fc.oneof(
      fc.integer(),
      fc.string({ maxLength: 6 }),
      fc.boolean(),
      fc.constant(null),
    );
    // A spine of `levels` containers (each an array or a map, with scalar siblings), so the
    // depth is exact; EMIT's frame adds one level.
    const level = fc.record({
      map: fc.boolean(),
      siblings: fc.array(scalar, { maxLength: 3 }),
      at: fc.nat({ max: 3 }),
    });
    const tree = fc
      .integer({ min: MAX_DEPTH - 4, max: MAX_DEPTH + 3 })
      .chain((levels) => fc.array(level, { minLength: levels, maxLength: levels }))
      .map((levels) =>
        levels.reduceRight<unknown>((inner, l) => {
          const items: unknown[] = [...l.siblings];
          items.splice(l.at % (items.length + 1), 0, inner);
          return l.map ? Object.fromEntries(items.map((v, i) => [`k${i}`, v])) : items;
        }, 0),
      );
    const samples = fc.sample(tree, { numRuns: 160, seed: 42 });
    const receiver = await WireClient.open(t.url, null);
    expect((await receiver.join('deep', 1))?.[0]).toBe(6);
    const bystander = await WireClient.open(t.url, null);
    await bystander.join('safe', 1);
    let sender = await WireClient.open(t.url, null);
    await sender.join('deep', 1);
    const problems: string[] = [];
    const tally = { accepted: 0, refused: 0 };
    for (const [i, data] of samples.entries()) {
      const depth = 1 + depthOf(data);
      const id = 100 + i;
      const from = sender.values.length;
      sender.send(encode([4, `r${i}`, data, id, ['deep'], 0]));
      await sender.until(() => !!sender.closed || sender.answer(id, from) !== undefined, 2000);
      if (depth <= MAX_DEPTH) {
        await receiver.until(() => receiver.frames(5).some((f) => f[1] === `r${i}`), 2000);
        const got = receiver.frames(5).find((f) => f[1] === `r${i}`);
        if (sender.answer(id, from)?.[0] !== 6 || !got) {
          problems.push(
            `depth ${depth}: not delivered (${JSON.stringify(sender.frames(7, from))})`,
          );
        } else {
          expect(got[2]).toEqual(decode(encode(data)));
          tally.accepted++;
        }
      } else {
        // Refused: the close follows the ERROR frame (a close frame makes readyState CLOSING).
        if (sender.ws.readyState !== sender.ws.OPEN)
          await sender.until(() => !!sender.closed, 1500);
        const answer = {
          errors: sender.frames(7, from),
          close: sender.closed,
          hello: false,
          acked: sender.answer(id, from)?.[0] === 6,
          silent: false,
          undecodable: 0,
        };
        const wrong = notTooDeep(answer);
        if (wrong.length) problems.push(`depth ${depth}: ${wrong.join('; ')}`);
        else tally.refused++;
      }
      if (sender.closed || sender.ws.readyState !== sender.ws.OPEN) {
        sender.terminate();
        sender = await WireClient.open(t.url, null);
        await sender.join('deep', 1);
      }
    }
    await receiver.until(() => false, 100);
    const leaked = receiver
      .frames(5)
      .filter((f) => 1 + depthOf(f[2]) > MAX_DEPTH && String(f[1]).startsWith('r'));
    console.log(
      `depth property: ${samples.length} random trees of depth ${MAX_DEPTH - 3}..${MAX_DEPTH + 4}: ` +
        `${tally.accepted} delivered intact, ${tally.refused} refused as ${TOO_DEEP}/1007, ` +
        `${problems.length} wrong, ${leaked.length} too-deep events delivered`,
    );
    expect.soft(leaked.length, 'too-deep events delivered to the room').toBe(0);
    expect(problems.slice(0, 20)).toEqual([]);
    expect(await stillServes(t.url, null, bystander)).toEqual([]);
  }, 60_000);

  it('depth 32 accepted, 33 / 100 / 101 / 10,000 refused in every frame type and field, before and after HELLO', async () => {
    await using t = await fuzzEdge('open');
    const bystander = await WireClient.open(t.url, null);
    await bystander.join('safe', 1);
    const cases = [
      ...depthMatrix([MAX_DEPTH], ['array', 'map']),
      ...depthMatrix(DEEP_DEPTHS, ['array', 'map']),
    ];
    const results: CaseResult[] = [];
    for (const phase of ['handshake', 'open'] as const) {
      results.push(...(await runCases(cases, { url: t.url, auth: null, phase, pendingAck: true })));
    }
    for (const phase of ['handshake', 'open'] as const) {
      console.log(
        answerTable(
          `depth, ${phase === 'handshake' ? 'before HELLO' : 'after HELLO'}`,
          results.filter((r) => r.phase === phase),
        ),
      );
    }
    const problems = summarize(results, depthWrong);
    const deep = results.filter((r) => r.depth > MAX_DEPTH);
    const shallow = results.filter((r) => r.depth <= MAX_DEPTH);
    console.log(
      `depth: ${deep.filter((r) => depthWrong(r).length === 0).length}/${deep.length} too-deep cases refused as the contract says; ` +
        `${shallow.filter((r) => depthWrong(r).length === 0).length}/${shallow.length} 32-deep cases answered without ${TOO_DEEP} and with documented codes`,
    );
    expect.soft(await stillServes(t.url, null, bystander)).toEqual([]);
    expect(problems).toEqual([]);
  }, 120_000);

  for (const mode of ['open', 'jwt'] as const) {
    it(`every frame type x field x msgpack type, before and after HELLO (${mode === 'open' ? 'open policy' : 'JWT auth'}): documented answers only, the node keeps serving`, async () => {
      await using t = await fuzzEdge(mode);
      const auth = mode === 'jwt' ? await token() : null;
      const bystander = await WireClient.open(t.url, auth);
      expect((await bystander.join('safe', 1))?.[0]).toBe(6);
      const cases = typeMatrix();
      const results: CaseResult[] = [];
      for (const phase of ['handshake', 'open'] as const) {
        results.push(...(await runCases(cases, { url: t.url, auth, phase, pendingAck: true })));
        console.log(
          answerTable(
            `${mode} edge, ${phase === 'handshake' ? 'before HELLO' : 'after HELLO'}`,
            results.filter((r) => r.phase === phase),
          ),
        );
      }
      const problems = summarize(results, (r) => undocumented(r.answer));
      // Every fuzz connection is gone from the node: only the bystander is left.
      const onlyBystander =
        (await eventually(() => t.edge.sockets.size === 1, {
          timeoutMs: 3000,
          everyMs: 20,
          soft: true,
        })) !== undefined;
      expect.soft(onlyBystander, `sockets left: ${t.edge.sockets.size}`).toBe(true);
      expect.soft(await stillServes(t.url, auth, bystander)).toEqual([]);
      expect(problems).toEqual([]);
    }, 120_000);
  }
});

describe('fuzz: frames against `roomfabric dev` (child process)', () => {
  it('deep frames are refused and never kill the process; after the whole matrix it still serves and exits on SIGTERM', async () => {
    const log: string[] = [];
    const deaths: string[] = [];
    let dev = await startDevChild();
    try {
      // The attacker's frame first, exactly: EMIT to a room, data = 100 nested arrays.
      const bystander = await WireClient.open(dev.wsUrl, null);
      await bystander.join('safe', 1);
      const attacker = await WireClient.open(dev.wsUrl, null);
      expect((await attacker.join('r', 1))?.[0]).toBe(6);
      attacker.send(pack([4, 'ev', nested(100, 'array'), 0, ['r'], 0]));
      await attacker.until(() => !!attacker.closed, 2000);
      await eventually(() => !dev.alive(), { timeoutMs: 300, everyMs: 20, soft: true });
      const survived = dev.alive();
      log.push(
        `attacker EMIT (100 nested arrays to a room): answer ${JSON.stringify(attacker.frames(7))} ` +
          `close ${JSON.stringify(attacker.closed)}; process ${survived ? 'alive' : 'DIED'}`,
      );
      expect.soft(survived, 'roomfabric dev survives one EMIT with 100 nested arrays').toBe(true);
      expect
        .soft(attacker.frames(7)[0], 'the attacker is told')
        .toEqual([7, 0, TOO_DEEP, expect.any(String)]);
      expect.soft(attacker.closed?.code, 'the attacker is closed with 1007').toBe(1007);
      if (survived) {
        expect.soft(bystander.closed, 'the bystander is not closed').toBeUndefined();
        expect.soft(bystander.frames(7)).toEqual([]);
      }

      // Every frame and field at depths 33, 101 and 10,000, one at a time, restarting the
      // process whenever a case kills it (each death is a finding).
      const deep = depthMatrix([MAX_DEPTH + 1, 101, 10_000], ['array']);
      const results: CaseResult[] = [];
      for (const phase of ['handshake', 'open'] as const) {
        for (const c of deep) {
          if (!dev.alive()) {
            await dev[Symbol.asyncDispose]();
            dev = await startDevChild();
          }
          const [r] = await runCases([c], { url: dev.wsUrl, auth: null, phase, concurrency: 1 });
          results.push(r!);
          if (r!.answer.close?.code === 1006 || r!.answer.silent) {
            await eventually(() => !dev.alive(), { timeoutMs: 500, everyMs: 20, soft: true });
          }
          if (!dev.alive()) {
            const last = dev
              .output()
              .split('\n')
              .find((l) => /^\w*Error\b/.test(l));
            deaths.push(`${phase}: ${c.frame}.${c.field} ${c.kind} killed it (${last ?? '?'})`);
          }
        }
      }
      console.log(answerTable('roomfabric dev, deep frames, both phases', results));
      if (!dev.alive()) {
        await dev[Symbol.asyncDispose]();
        dev = await startDevChild();
      }

      // The type matrix, both phases, stopping if the process dies.
      const typed: CaseResult[] = [];
      for (const phase of ['handshake', 'open'] as const) {
        typed.push(
          ...(await runCases(typeMatrix(), {
            url: dev.wsUrl,
            auth: null,
            phase,
            concurrency: 6,
            abort: () => !dev.alive(),
          })),
        );
      }
      console.log(answerTable('roomfabric dev, msgpack types, both phases', typed));
      if (!dev.alive()) deaths.push(`the type matrix killed it:\n${dev.output().slice(-2000)}`);
      console.log(log.join('\n'));
      const typeWrong = summarize(typed, (r) => undocumented(r.answer));
      expect.soft(deaths, 'cases that killed roomfabric dev').toEqual([]);
      expect.soft(summarize(results, depthWrong), 'deep frames on roomfabric dev').toEqual([]);
      expect.soft(typeWrong, 'undocumented answers on roomfabric dev').toEqual([]);

      // Still serving: a new client gets HELLO, a broadcast goes through.
      expect(dev.alive(), 'roomfabric dev is alive at the end').toBe(true);
      const a = await WireClient.open(dev.wsUrl, null);
      const b = await WireClient.open(dev.wsUrl, null);
      expect((await a.join('end', 1))?.[0]).toBe(6);
      expect((await b.join('end', 1))?.[0]).toBe(6);
      a.send(encode([4, 'bye', 1, 0, ['end'], 0]));
      expect(await b.until(() => b.frames(5).some((f) => f[1] === 'bye'), 2000)).toBe(true);
      const took = await dev.stop(3000);
      expect(took, 'roomfabric dev exits within 3 s of SIGTERM').toBeDefined();
      expect((await dev.exit).code).toBe(0);
    } finally {
      await dev[Symbol.asyncDispose]();
    }
  }, 180_000);
});
