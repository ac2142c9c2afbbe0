/**
 * `dkv dashboard` in a real browser: headless Chromium (Debian's `chromium`, driven through
 * puppeteer-core) opens the page of a 3-node cluster, sees the three nodes up, sees a SIGKILLed
 * node down and the hint backlog of the survivors grow while writes go on, then sees the backlog
 * drain once the node is back. Screenshots go to a temp directory, or to docs/images with
 * DKV_SCREENSHOTS=1 (how docs/images/dashboard.png is made).
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { DkvClient } from '../src/client/client.ts';
import { TestCluster } from './harness/cluster.ts';
import { BIN } from './harness/nodeProcess.ts';
import { reapOnExit } from './harness/reaper.ts';
import { waitFor } from './harness/wait.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS_DIR = process.env.DKV_SCREENSHOTS === '1' ? fileURLToPath(new URL('../docs/images/', import.meta.url)) : undefined;

/** Starts `dkv dashboard` on a free port and returns its URL, read from its first line. */
async function startDashboard(natsUrl: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'dashboard', '--nats', natsUrl, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  reapOnExit(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await waitFor('the dashboard to print its URL', () => /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1] ?? (child.exitCode !== null ? Promise.reject(new Error(`dkv dashboard exited: ${out}`)) : undefined), { timeoutMs: 20_000 });
  return { child, url };
}

const hintsTotal = (page: Page) => page.$eval('#hints-total', (e: any) => Number(e.dataset.value));
const nodeStates = (page: Page) => page.$$eval('#nodes tbody tr', (rows: any[]) => Object.fromEntries(rows.map((r) => [r.dataset.node, r.dataset.state])));

test('dashboard - the page shows a node go down, its hint backlog grow, and drain once it is back', async (t) => {
  t.timeout(120_000);
  if (!existsSync(CHROMIUM)) t.fail(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`);
  if (!existsSync(CHROMIUM)) return;
  const startedMs = Date.now();
  const shots = SCREENSHOTS_DIR ?? mkdtempSync(join(tmpdir(), 'dkv-dashboard-'));
  mkdirSync(shots, { recursive: true });

  const cluster = await TestCluster.start({ nodes: 3, faults: true });
  t.teardown(() => cluster.stop());
  const dashboard = await startDashboard(cluster.nats.url);
  t.teardown(() => void dashboard.child.kill('SIGTERM'));
  const browser: Browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1100 });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(dashboard.url, { waitUntil: 'load' });

  const client = await DkvClient.connect({ servers: cluster.nats.url, attemptTimeoutMs: 1_000, timeoutMs: 20_000 });
  t.teardown(() => client.close());
  // A few writes and reads first, so the charts have something to show.
  for (let i = 0; i < 60; i++) {
    await client.put(`dash-${i}`, `v${i}`);
    await client.get(`dash-${i}`);
  }

  // Siblings: two writes without a context, then a read that returns both.
  await client.put('dash-siblings', 'a');
  await client.put('dash-siblings', 'b');
  t.is((await client.get('dash-siblings')).values.length, 2);
  // A supervision decision: n1's next coordinator crashes (the test fault switch), and is stopped.
  t.true((await client.raw('dkv.local.internal.n1.fault', { coordinatorCrashes: 1 })).ok);
  await waitFor('n1 to coordinate a put and crash', async () => (await client.raw('dkv.local.put', { key: `dash-crash-${Date.now()}`, value: 'v' })).error?.code === 'internal', { timeoutMs: 20_000, intervalMs: 1 });

  await waitFor('the page to show 3 nodes up', async () => {
    const states = await nodeStates(page);
    return Object.keys(states).length === 3 && Object.values(states).every((s) => s === 'up');
  }, { timeoutMs: 20_000, intervalMs: 200 });
  t.is(await page.$eval('#nodes-up', (e: any) => e.dataset.value), '3');
  t.is(await page.$$eval('#ring > div', (cells: any[]) => cells.length), 64, 'the ring strip has one cell per partition');
  t.is(await page.$$eval('#views td[data-view="up"]', (cells: any[]) => cells.length), 6, 'every node sees both others up');
  await waitFor('the page to show the sibling read and n1\'s supervision decision', async () => {
    const siblingReads = await page.$$eval('#nodes td[data-sibling-reads]', (cells: any[]) => cells.reduce((sum, c) => sum + Number(c.dataset.siblingReads || 0), 0));
    const decisions = await page.$$eval('#decisions tr[data-decision-node="n1"]', (rows: any[]) => rows.map((r) => r.textContent));
    return siblingReads >= 1 && decisions.some((d: string) => /coordinator-put-\d+stop/.test(d));
  }, { timeoutMs: 10_000, intervalMs: 200 });
  await page.screenshot({ path: join(shots, 'dashboard-up.png'), fullPage: true });
  t.log(`3 nodes up on the page ${Date.now() - startedMs} ms after the start`);

  const victim = cluster.node('n3');
  await victim.kill('SIGKILL');
  const killedMs = Date.now();
  // Writes go on while n3 is down: each has n3 among its owners (N=3 of 3), so the survivors keep hints.
  let writing = true;
  let written = 0;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      await client.put(`dash-down-${i}`, `v${i}`);
      written++;
    }
  })();
  await waitFor('the page to show n3 down', async () => (await nodeStates(page)).n3 === 'down', { timeoutMs: 20_000, intervalMs: 200 });
  t.log(`n3 down on the page ${Date.now() - killedMs} ms after SIGKILL`);
  const first = await waitFor('a hint backlog on the page', async () => {
    const h = await hintsTotal(page);
    return h > 0 ? h : undefined;
  }, { timeoutMs: 20_000, intervalMs: 200 });
  const grown = await waitFor('the hint backlog to grow', async () => {
    const h = await hintsTotal(page);
    return h > first ? h : undefined;
  }, { timeoutMs: 20_000, intervalMs: 200 });
  t.log(`hint backlog on the page grew from ${first} to ${grown}`);
  t.is(await page.$eval('#nodes tr[data-node="n3"]', (e: any) => e.dataset.state), 'down');
  t.true(await page.$$eval('#views td[data-peer="n3"][data-view="down"]', (cells: any[]) => cells.length) >= 1, 'a survivor sees n3 down');
  await page.screenshot({ path: join(shots, 'dashboard-down.png'), fullPage: true });
  if (SCREENSHOTS_DIR) await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
  writing = false;
  await writer;
  t.log(`${written} writes while n3 was down`);

  await victim.start();
  const restartedMs = Date.now();
  await waitFor('the page to show n3 up and no hint left', async () => (await nodeStates(page)).n3 === 'up' && (await hintsTotal(page)) === 0, { timeoutMs: 45_000, intervalMs: 200 });
  t.log(`backlog drained on the page ${Date.now() - restartedMs} ms after n3 restarted`);
  await page.screenshot({ path: join(shots, 'dashboard-drained.png'), fullPage: true });
  t.deepEqual(errors, [], 'no script error on the page');
  t.log(`screenshots in ${shots}; ${Date.now() - startedMs} ms in all`);
});
