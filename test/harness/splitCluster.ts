/**
 * Five node processes on the two nats-servers of a NatsPair (n1, n2 on side A, the rest on B),
 * with a client on each side: the setting of every test that cuts the NATS route.
 */
import type { ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DkvClient } from '../../src/client/client.ts';
import { waitSettled } from './cluster.ts';
import { NatsPair } from './natsCluster.ts';
import { NodeProcess } from './nodeProcess.ts';

export interface SplitCluster {
  readonly pair: NatsPair;
  readonly nodes: NodeProcess[];
  readonly a: DkvClient;
  readonly b: DkvClient;
}

/** Started and routed; everything is stopped and removed at the test's teardown. */
export async function startSplitCluster(t: ExecutionContext, members: readonly string[], sideA: ReadonlySet<string>, clientTimeoutMs?: number): Promise<SplitCluster> {
  const pair = await NatsPair.start();
  const dir = mkdtempSync(join(tmpdir(), 'dkv-split-'));
  const nodes = members.map((id) => new NodeProcess({ id, natsUrl: sideA.has(id) ? pair.urlA : pair.urlB, members, dataDir: join(dir, id) }));
  t.teardown(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await pair.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await pair.waitRouted();
  await Promise.all(nodes.map((n) => n.start()));
  const timeout = clientTimeoutMs !== undefined ? { timeoutMs: clientTimeoutMs } : {};
  const a = await DkvClient.connect({ servers: pair.urlA, ...timeout });
  const b = await DkvClient.connect({ servers: pair.urlB, ...timeout });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  await waitSettled(a);
  return { pair, nodes, a, b };
}
