import { describe, expect, it } from 'vitest';
import type { Bus } from './bus.js';

/**
 * The behaviour every Bus implementation must have. Run it with a factory that returns a
 * fresh pair of buses connected to the same fabric (two nodes), and a disposer.
 */
export function busContract(
  name: string,
  makePair: () => Promise<{ a: Bus; b: Bus; dispose(): Promise<void> }>,
): void {
  const settle = () => new Promise((r) => setTimeout(r, 20));
  const text = (p: Uint8Array) => Buffer.from(p).toString();

  describe(`Bus contract: ${name}`, () => {
    it('delivers a message published after subscribe resolved, to the other node', async () => {
      const { a, b, dispose } = await makePair();
      try {
        const got: string[] = [];
        await b.subscribe('rf.room.x', (p, s) => got.push(`${s}:${Buffer.from(p).toString()}`));
        await a.publish('rf.room.x', Buffer.from('hello'));
        await expect.poll(() => got).toEqual(['rf.room.x:hello']);
      } finally {
        await dispose();
      }
    });

    it('delivers only to subjects with interest', async () => {
      const { a, b, dispose } = await makePair();
      try {
        const got: string[] = [];
        await b.subscribe('rf.room.x', (_p, s) => got.push(s));
        await a.publish('rf.room.y', Buffer.from('1'));
        await a.publish('rf.room.x', Buffer.from('2'));
        await expect.poll(() => got).toEqual(['rf.room.x']);
      } finally {
        await dispose();
      }
    });

    it('keeps publish order across subjects from one publisher', async () => {
      const { a, b, dispose } = await makePair();
      try {
        const got: string[] = [];
        await b.subscribe('rf.room.p', (p) => got.push(Buffer.from(p).toString()));
        await b.subscribe('rf.room.q', (p) => got.push(Buffer.from(p).toString()));
        const sent: string[] = [];
        for (let i = 0; i < 200; i++) {
          const subject = i % 3 === 0 ? 'rf.room.q' : 'rf.room.p';
          sent.push(String(i));
          void a.publish(subject, Buffer.from(String(i)));
        }
        await expect.poll(() => got.length).toBe(200);
        expect(got).toEqual(sent);
      } finally {
        await dispose();
      }
    });

    it('matches * and > wildcards as NATS does', async () => {
      const { a, b, dispose } = await makePair();
      try {
        const star: string[] = [];
        const tail: string[] = [];
        await b.subscribe('rf.node.*', (_p, s) => star.push(s));
        await b.subscribe('rf.>', (_p, s) => tail.push(s));
        for (const s of ['rf.node.n1', 'rf.node.n1.x', 'rf.all', 'other.x'])
          await a.publish(s, Buffer.from('x'));
        await expect.poll(() => tail.length).toBe(3);
        expect(star).toEqual(['rf.node.n1']);
        expect(tail).toEqual(['rf.node.n1', 'rf.node.n1.x', 'rf.all']);
      } finally {
        await dispose();
      }
    });

    it('stops delivery to a handler as soon as unsubscribe returns', async () => {
      const { a, b, dispose } = await makePair();
      try {
        const got: number[] = [];
        const sub = await b.subscribe('rf.room.u', () => got.push(1));
        await a.publish('rf.room.u', Buffer.from('1'));
        await expect.poll(() => got.length).toBe(1);
        sub.unsubscribe();
        await a.publish('rf.room.u', Buffer.from('2'));
        await settle();
        expect(got.length).toBe(1);
      } finally {
        await dispose();
      }
    });

    it('delivers to every subscriber of a subject, the publisher node included', async () => {
      const { a, b, dispose } = await makePair();
      try {
        let count = 0;
        await a.subscribe('rf.all', () => count++);
        await b.subscribe('rf.all', () => count++);
        await b.subscribe('rf.all', () => count++);
        await a.publish('rf.all', Buffer.from('x'));
        await expect.poll(() => count).toBe(3);
      } finally {
        await dispose();
      }
    });

    it('gives each message to exactly one member of a queue group, and to every plain subscriber', async () => {
      const { a, b, dispose } = await makePair();
      try {
        const members: Record<string, string[]> = { a: [], b: [] };
        const plain: string[] = [];
        await a.subscribe('rf.svc.q', (p) => members.a!.push(text(p)), { queue: 'svc' });
        await b.subscribe('rf.svc.q', (p) => members.b!.push(text(p)), { queue: 'svc' });
        await b.subscribe('rf.svc.q', (p) => plain.push(text(p)));
        const sent = Array.from({ length: 40 }, (_, i) => String(i));
        for (const m of sent) await a.publish('rf.svc.q', Buffer.from(m));
        await expect.poll(() => members.a!.length + members.b!.length).toBe(40);
        await expect.poll(() => plain.length).toBe(40);
        await settle();
        expect([...members.a!, ...members.b!].sort()).toEqual([...sent].sort());
        expect(members.a!.length).toBeGreaterThan(0);
        expect(members.b!.length).toBeGreaterThan(0);
        expect(plain).toEqual(sent);
      } finally {
        await dispose();
      }
    });

    it('passes the reply subject of a publish to the handler', async () => {
      const { a, b, dispose } = await makePair();
      try {
        const got: Array<string | undefined> = [];
        const answers: string[] = [];
        await a.subscribe('rf.answer.1', (p) => answers.push(text(p)));
        await b.subscribe('rf.room.r', (p, _s, reply) => {
          got.push(reply);
          if (reply) void b.publish(reply, Buffer.from(`re:${text(p)}`));
        });
        await a.publish('rf.room.r', Buffer.from('plain'));
        await a.publish('rf.room.r', Buffer.from('ask'), { reply: 'rf.answer.1' });
        await expect.poll(() => answers).toEqual(['re:ask']);
        expect(got).toEqual([undefined, 'rf.answer.1']);
        await expect(a.publish('rf.x', Buffer.from('x'), { reply: 'rf.*' })).rejects.toMatchObject({
          code: 'RF_INVALID_ARGUMENT',
        });
      } finally {
        await dispose();
      }
    });

    it('answers a request from the other node through a private inbox', async () => {
      const { a, b, dispose } = await makePair();
      try {
        const replies: string[] = [];
        await b.subscribe('rf.svc.echo', (p, _s, reply) => {
          replies.push(reply ?? '');
          void b.publish(reply!, Buffer.from(`echo:${text(p)}`));
        });
        expect(text(await a.request('rf.svc.echo', Buffer.from('hi')))).toBe('echo:hi');
        const many = await Promise.all(
          [1, 2, 3].map((i) => a.request('rf.svc.echo', Buffer.from(String(i)))),
        );
        expect(many.map(text)).toEqual(['echo:1', 'echo:2', 'echo:3']);
        expect(replies.every((r) => r.startsWith('_INBOX.'))).toBe(true);
        expect(new Set(replies).size).toBe(4);
      } finally {
        await dispose();
      }
    });

    it('answers each request once when the responders form a queue group', async () => {
      const { a, b, dispose } = await makePair();
      try {
        let calls = 0;
        for (const [node, bus] of [
          ['a', a],
          ['b', b],
        ] as const) {
          await bus.subscribe(
            'rf.svc.who',
            (_p, _s, reply) => {
              calls++;
              void bus.publish(reply!, Buffer.from(node));
            },
            { queue: 'svc' },
          );
        }
        const answers = await Promise.all(
          Array.from({ length: 10 }, () => a.request('rf.svc.who', new Uint8Array())),
        );
        expect(answers.map(text).every((n) => n === 'a' || n === 'b')).toBe(true);
        await settle();
        expect(calls).toBe(10);
      } finally {
        await dispose();
      }
    });

    it('rejects a request nobody subscribes to with RF_NO_RESPONDERS', async () => {
      const { a, b, dispose } = await makePair();
      try {
        await b.subscribe('rf.svc.other', () => undefined);
        await expect(a.request('rf.svc.nobody', Buffer.from('x'))).rejects.toMatchObject({
          code: 'RF_NO_RESPONDERS',
        });
      } finally {
        await dispose();
      }
    });

    it('rejects an unanswered request with RF_REQUEST_TIMEOUT, a temporary error', async () => {
      const { a, b, dispose } = await makePair();
      try {
        await b.subscribe('rf.svc.silent', () => undefined);
        const started = Date.now();
        await expect(
          a.request('rf.svc.silent', Buffer.from('x'), { timeoutMs: 150 }),
        ).rejects.toMatchObject({ code: 'RF_REQUEST_TIMEOUT', temporary: true });
        expect(Date.now() - started).toBeGreaterThanOrEqual(140);
        await expect(
          a.request('rf.svc.silent', Buffer.from('x'), { timeoutMs: 0 }),
        ).rejects.toMatchObject({ code: 'RF_INVALID_ARGUMENT' });
      } finally {
        await dispose();
      }
    });

    it('flush resolves after the server handled everything published before it', async () => {
      const { a, b, dispose } = await makePair();
      try {
        await a.flush();
        const own: string[] = [];
        const other: string[] = [];
        await a.subscribe('rf.room.f', (p) => own.push(text(p)));
        await b.subscribe('rf.room.f', (p) => other.push(text(p)));
        for (let i = 0; i < 50; i++) void a.publish('rf.room.f', Buffer.from(String(i)));
        await a.flush();
        // The server answers the flush after routing those messages, and sends a node its
        // own messages before that answer: a's subscription has seen all of them.
        expect(own.length).toBe(50);
        await expect.poll(() => other.length).toBe(50);
      } finally {
        await dispose();
      }
    });

    it('reports connected, then closed to onStatus listeners', async () => {
      const { a, dispose } = await makePair();
      try {
        expect(a.status).toBe('connected');
        const seen: string[] = [];
        const off = a.onStatus((s) => seen.push(s));
        const offOther = a.onStatus(() => seen.push('removed listener called'));
        offOther();
        await a.close();
        expect(a.status).toBe('closed');
        await expect.poll(() => seen).toEqual(['closed']);
        off();
        await expect(a.flush()).rejects.toMatchObject({ code: 'RF_BUS_UNAVAILABLE' });
        await expect(a.request('rf.x', Buffer.from('x'))).rejects.toMatchObject({
          code: 'RF_BUS_UNAVAILABLE',
        });
        await expect(a.close()).resolves.toBeUndefined();
      } finally {
        await dispose();
      }
    });

    it('rejects invalid subjects and use after close with stable codes', async () => {
      const { a, dispose } = await makePair();
      try {
        await expect(a.publish('rf..x', Buffer.from('x'))).rejects.toMatchObject({
          code: 'RF_INVALID_ARGUMENT',
        });
        await expect(a.publish('rf.*', Buffer.from('x'))).rejects.toMatchObject({
          code: 'RF_INVALID_ARGUMENT',
        });
        await expect(a.subscribe('rf.>.x', () => undefined)).rejects.toMatchObject({
          code: 'RF_INVALID_ARGUMENT',
        });
        await expect(
          a.subscribe('rf.x', () => undefined, { queue: 'two words' }),
        ).rejects.toMatchObject({ code: 'RF_INVALID_ARGUMENT' });
        await a.close();
        await expect(a.publish('rf.x', Buffer.from('x'))).rejects.toMatchObject({
          code: 'RF_BUS_UNAVAILABLE',
        });
        await expect(a.subscribe('rf.x', () => undefined)).rejects.toMatchObject({
          code: 'RF_BUS_UNAVAILABLE',
        });
      } finally {
        await dispose();
      }
    });
  });
}
