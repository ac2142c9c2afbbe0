/**
 * `npm run bench -- --rebuild [--rebuild-keys 100000]`: how fast a node that lost its disk is
 * whole again. A 3-node cluster (default flags) is loaded with the keys at w=3; n2 is SIGKILLed,
 * its data directory removed, and n2 started again. While it rebuilds, a writer keeps putting
 * new keys; nobody reads. Reported: when n2 said every partition complete, when a `peek` of every
 * key on n2 found it (each read from n2's own store, since its partitions are complete), and the
 * writer's figures during the rebuild.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { TestCluster } from '../test/harness/cluster.ts';
import { table } from './report.ts';

export interface RebuildOptions {
  readonly keys: number;
  readonly valueBytes: number;
  /** Puts in flight of the writer that runs during the rebuild. */
  readonly writers: number;
  readonly out: string;
  readonly say: (line: string) => void;
}

export interface RebuildReport {
  readonly keys: number;
  readonly valueBytes: number;
  readonly loadMs: number;
  /** From n2's restart until its status shows no partition receiving. */
  readonly completeMs: number;
  /** From n2's restart until a peek of every key found it on n2. */
  readonly verifiedMs: number;
  readonly missingAtComplete: number;
  readonly keysPulled: number;
  readonly writesDuring: number;
  readonly writeFailuresDuring: number;
  readonly writeP50Ms: number;
  readonly writeP99Ms: number;
  readonly allowanceMin: number;
}

const LOAD_IN_FLIGHT = 1000;
const PEEKS_IN_FLIGHT = 200;
const DEADLINE_MS = 180_000;

export async function runRebuild(o: RebuildOptions): Promise<RebuildReport> {
  const cluster = await TestCluster.start({ nodes: 3 });
  try {
    const value = 'v'.repeat(o.valueBytes);
    const keyOf = (i: number) => `rebuild-${i}`;
    const loadStart = Date.now();
    for (let i = 0; i < o.keys; i += LOAD_IN_FLIGHT) {
      const puts = [];
      for (let j = i; j < Math.min(o.keys, i + LOAD_IN_FLIGHT); j++) puts.push(cluster.client.put(keyOf(j), value, { w: 3 }));
      const results = await Promise.all(puts);
      if (!results.every((r) => r.ok)) throw new Error('a put of the load failed');
      if ((i / LOAD_IN_FLIGHT) % 20 === 0) o.say(`loaded ${Math.min(o.keys, i + LOAD_IN_FLIGHT)} of ${o.keys} keys`);
    }
    const loadMs = Date.now() - loadStart;
    o.say(`loaded ${o.keys} keys of ${o.valueBytes} bytes at w=3 in ${loadMs} ms`);

    const n2 = cluster.node('n2');
    await n2.kill('SIGKILL');
    rmSync(join(cluster.dir, 'n2'), { recursive: true, force: true });
    const logsBefore = n2.logs.length;
    const restartAt = Date.now();
    await n2.start();
    o.say(`n2 restarted on an empty data directory after ${Date.now() - restartAt} ms`);

    // The writer: new keys only, so that what it writes never changes what is checked.
    const latency = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000, numberOfSignificantValueDigits: 3 });
    let writing = true;
    let writes = 0;
    let writeFailures = 0;
    const writer = async (w: number) => {
      for (let i = 0; writing; i++) {
        const t0 = performance.now();
        const r = await cluster.client.put(`rebuild-live-${w}-${i}`, value).catch(() => ({ ok: false }));
        latency.recordValue(Math.max(1, Math.round(performance.now() - t0)));
        if (r.ok) writes++;
        else writeFailures++;
      }
    };
    const writersDone = Promise.all(Array.from({ length: o.writers }, (_, w) => writer(w)));

    let completeMs = -1;
    let allowanceMin = 1;
    while (Date.now() - restartAt < DEADLINE_MS) {
      const status = await cluster.client.status();
      const mine = (status.transfers as Array<{ node: string; moved?: number }>).filter((x) => x.node === 'n2');
      const me = status.members.find((m: any) => m.node === 'n2');
      if (me?.background?.allowance !== undefined) allowanceMin = Math.min(allowanceMin, me.background.allowance);
      if (mine.length === 0 && me !== undefined) {
        completeMs = Date.now() - restartAt;
        break;
      }
      o.say(`  ${((Date.now() - restartAt) / 1000).toFixed(1)} s: n2 still receiving ${mine.length} partitions, ${me?.transfer?.keysReceived ?? 0} keys pulled, background at ${Math.round((me?.background?.allowance ?? 1) * 100)}%`);
      await new Promise((r) => setTimeout(r, 500));
    }
    writing = false;
    await writersDone;
    if (completeMs < 0) throw new Error(`n2 was not complete within ${DEADLINE_MS} ms`);

    const missing = async (): Promise<number> => {
      let count = 0;
      for (let i = 0; i < o.keys; i += PEEKS_IN_FLIGHT) {
        const peeks = [];
        for (let j = i; j < Math.min(o.keys, i + PEEKS_IN_FLIGHT); j++) peeks.push(cluster.client.peek('n2', keyOf(j)));
        for (const p of await Promise.all(peeks)) if (p.values.length !== 1) count++;
      }
      return count;
    };
    const missingAtComplete = await missing();
    let verifiedMs = Date.now() - restartAt;
    while (missingAtComplete > 0 && (await missing()) > 0) {
      if (Date.now() - restartAt > DEADLINE_MS) throw new Error('keys still missing on n2 at the deadline');
    }
    if (missingAtComplete > 0) verifiedMs = Date.now() - restartAt;
    const keysPulled = n2.logs.slice(logsBefore).filter((l) => l.event === 'transfer-complete').reduce((s, l) => s + (l.keys ?? 0), 0);
    return {
      keys: o.keys,
      valueBytes: o.valueBytes,
      loadMs,
      completeMs,
      verifiedMs,
      missingAtComplete,
      keysPulled,
      writesDuring: writes,
      writeFailuresDuring: writeFailures,
      writeP50Ms: latency.getValueAtPercentile(50),
      writeP99Ms: latency.getValueAtPercentile(99),
      allowanceMin,
    };
  } finally {
    await cluster.stop();
  }
}

export function rebuildTable(r: RebuildReport): string {
  return table(
    [[
      String(r.keys),
      String(r.valueBytes),
      `${(r.completeMs / 1000).toFixed(1)} s`,
      `${(r.verifiedMs / 1000).toFixed(1)} s`,
      String(r.missingAtComplete),
      String(r.keysPulled),
      `${r.writesDuring} (${r.writeFailuresDuring})`,
      `${r.writeP50Ms}/${r.writeP99Ms} ms`,
      `${Math.round(r.allowanceMin * 100)}%`,
    ]],
    ['keys', 'value B', 'complete after', 'every key peeked on n2 after', 'missing at complete', 'keys pulled', 'writes during (failed)', 'write p50/p99', 'lowest allowance'],
    0,
  );
}

export function writeRebuild(out: string, r: RebuildReport): string {
  mkdirSync(out, { recursive: true });
  const file = join(out, `rebuild-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(r, null, 2));
  return file;
}
