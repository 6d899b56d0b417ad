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
