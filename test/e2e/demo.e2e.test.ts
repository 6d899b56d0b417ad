import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from '@roomfabric/testkit';
import { chromium, type Browser, type Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';

// The browser demo served by `roomfabric edge --demo` (what `roomfabric cluster` runs), in
// Debian's Chromium driven by playwright-core: two pages on two different edge processes.
const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.log(
    `skipping the browser demo e2e test: ${CHROMIUM} not found (apt-get install chromium; .ci/run installs it)`,
  );
}
const OUT = fileURLToPath(new URL('../../test-results/e2e/', import.meta.url));

async function openDemo(browser: Browser, base: string, name: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  (page as Page & { errors?: string[] }).errors = errors;
  await page.goto(`${base}/?name=${name}`);
  return page;
}

const text = (page: Page, selector: string, expected: string) =>
  page.waitForFunction(
    ([sel, want]) => document.querySelector(sel!)?.textContent === want,
    [selector, expected] as const,
    { timeout: 10_000 },
  );

const logShows = (page: Page, fragment: string) =>
  page.locator('#log li', { hasText: fragment }).first().waitFor({ timeout: 10_000 });

async function say(page: Page, message: string): Promise<void> {
  await page.fill('#text', message);
  await page.press('#text', 'Enter');
}

/** Moves the mouse across the cursor board in small steps (the page coalesces them). */
async function wiggle(page: Page, dx: number): Promise<void> {
  const box = (await page.locator('#board').boundingBox())!;
  await page.mouse.move(box.x + 40 + dx, box.y + 40);
  await page.mouse.move(box.x + 160 + dx, box.y + 120, { steps: 8 });
}

describe.skipIf(!haveChromium)('browser demo on a 2-edge cluster (Chromium)', () => {
  it('chat, cursors and members cross nodes; a raid moves both pages', async () => {
    await using fabric = await startCluster({
      edges: 2,
      edgeArgs: ['--policy', 'open', '--insecure', '--demo'],
    });
    const [n1, n2] = fabric.edges;
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const alice = await openDemo(browser, n1!.httpUrl, 'alice');
      const bob = await openDemo(browser, n2!.httpUrl, 'bob');

      // Each page says which node it is on, and both are in the lobby.
      await text(alice, '#node', 'n1');
      await text(bob, '#node', 'n2');
      await text(alice, '#room', 'lobby');
      await text(bob, '#room', 'lobby');

      // The member list comes from the global index: both members, each with its node.
      for (const page of [alice, bob]) {
        await page.waitForFunction(() => document.querySelectorAll('#members li').length === 2);
      }
      const members = await alice.locator('#members li').allTextContents();
      expect(members.sort()).toEqual(['alice (you)n1', 'bobn2']);

      // Chat crosses the nodes both ways.
      await say(alice, 'hello from alice');
      await logShows(bob, 'alice @n1: hello from alice');
      await say(bob, 'hi alice, bob here');
      await logShows(alice, 'bob @n2: hi alice, bob here');

      // Cursors (volatile broadcasts) cross too, labelled with name and node.
      await wiggle(alice, 0);
      await bob.locator('#board .cursor', { hasText: 'alice @n1' }).waitFor({ timeout: 10_000 });
      await wiggle(bob, 300);
      await alice.locator('#board .cursor', { hasText: 'bob @n2' }).waitFor({ timeout: 10_000 });

      // The raid: alice moves everyone in the lobby, on both nodes, to "stage".
      await alice.fill('#raidTo', 'stage');
      await alice.click('#raidBtn');
      await text(alice, '#room', 'stage');
      await text(bob, '#room', 'stage');
      await logShows(bob, 'moved from #lobby to #stage by a raid');
      await logShows(alice, 'raid: 2 member(s) on 2 node(s) moved to #stage');

      // Both really are in the new room: chat and cursors still cross.
      await say(bob, 'made it to the stage');
      await logShows(alice, 'bob @n2: made it to the stage');
      await wiggle(bob, 200);
      await wiggle(alice, 0);
      await bob.locator('#board .cursor', { hasText: 'alice @n1' }).waitFor({ timeout: 10_000 });
      await alice.locator('#board .cursor', { hasText: 'bob @n2' }).waitFor({ timeout: 10_000 });

      await mkdir(OUT, { recursive: true });
      for (const [page, node] of [
        [alice, 'n1'],
        [bob, 'n2'],
      ] as const) {
        const path = join(OUT, `demo-${node}.png`);
        await page.screenshot({ path });
        expect((await stat(path)).size).toBeGreaterThan(10_000);
        console.log(`screenshot: ${path}`);
      }
      for (const page of [alice, bob]) {
        expect((page as Page & { errors?: string[] }).errors).toEqual([]);
      }
    } finally {
      await browser.close();
    }
  }, 60_000);
});
