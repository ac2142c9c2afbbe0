/**
 * The chaos tier: a Jepsen-style run of real processes. Five `dkv node` processes on two
 * nats-servers joined by a route through a TCP proxy (test/harness/natsCluster.ts); clients on
 * both sides doing read-modify-write on a set per key (read, union the siblings, add one unique
 * element, write back with the read's context), while a seeded schedule of faults comes and goes:
 * SIGKILL and restart of a node, SIGSTOP/SIGCONT, the route cut and healed, a nats-server
 * restarted. At the end, with every fault undone, it waits for the replicas to converge and
 * checks what a user would:
 * - every acknowledged element is in the final r=3 read of its key;
 * - no element appears that no client tried to write;
 * - every node is up and never exited by itself (only the schedule's SIGKILLs end a node);
 * - no supervision decision escalated;
 * - siblings stay bounded (by the writers), and so do the clocks (src/clockBounds.ts);
 * - the owners of every key hold the same version set, and no hint is left.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DkvClient } from '../../src/client/client.ts';
import { STAND_IN_ENTRIES_IDLE_MAX } from '../../src/clockBounds.ts';
import { decodeContext } from '../../src/context.ts';
import { NatsPair, type Side } from '../harness/natsCluster.ts';
import { NodeProcess } from '../harness/nodeProcess.ts';
import { ringOf } from '../harness/replicas.ts';
import { waitFor } from '../harness/wait.ts';
import { waitSettled } from '../harness/cluster.ts';
import { mulberry32 } from '../../bench/random.ts';

export const MEMBERS = ['n1', 'n2', 'n3', 'n4', 'n5'] as const;
const SIDE_OF: Record<string, Side> = { n1: 'A', n2: 'A', n3: 'B', n4: 'B', n5: 'B' };
const CLIENTS_PER_SIDE = 2;
const KEYS = 6;
/** A fault every FAULT_GAP_MS_MIN..MAX, each lasting FAULT_MS_MIN..MAX. */
const FAULT_GAP_MS_MIN = 1_000;
const FAULT_GAP_MS_MAX = 3_000;
const FAULT_MS_MIN = 1_000;
const FAULT_MS_MAX = 4_000;
const CLIENT_TIMEOUT_MS = 3_000;
const CONVERGE_MS_MAX = 120_000;
/** Each client has at most one write in flight, and a write it gave up on may still land. */
export const SIBLINGS_MAX = 2 * CLIENTS_PER_SIDE * 2;

export interface ChaosOptions {
  readonly seed: number;
  readonly seconds: number;
  readonly say?: (line: string) => void;
}

export interface ChaosReport {
  readonly seed: number;
  readonly seconds: number;
  readonly faults: string[];
  readonly writesAcked: number;
  readonly writesFailed: number;
  readonly readsFailed: number;
  readonly siblingsMax: number;
  readonly clockEntriesMax: number;
  readonly convergedMs: number;
  readonly supervisionLines: number;
  /** Empty when every check held. */
  readonly problems: string[];
}

/** A seeded generator, so that a seed replays the same schedule. */
const prng = mulberry32;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ring = ringOf([...MEMBERS]);
const owners = (key: string) => [...ring.replicas(ring.partitionOf(key), 3)];

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const say = opts.say ?? (() => {});
  const random = prng(opts.seed);
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const started = Date.now();
  const at = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  const problems: string[] = [];
  const faults: string[] = [];
  const note = (line: string) => {
    faults.push(`[${at()}] ${line}`);
    say(`[${at()}] ${line}`);
  };
  say(`chaos: seed ${opts.seed}, ${opts.seconds} s of faults`);

  const pair = await NatsPair.start();
  const dir = mkdtempSync(join(tmpdir(), 'dkv-chaos-'));
  const nodes = MEMBERS.map((id) => new NodeProcess({ id, natsUrl: pair.url(SIDE_OF[id]!), members: MEMBERS, dataDir: join(dir, id), extraArgs: ['--ae-interval-ms', '250'] }));
  /** Node exits the schedule caused; any other exit is a problem. */
  const expectedExits = new Set<string>();
  const watchExit = (n: NodeProcess) => {
    void n.exit.then(({ code, signal }) => {
      if (expectedExits.has(n.id)) return;
      problems.push(`${n.id} exited by itself (${signal ?? `code ${code}`})`);
    });
  };
  const connections: NatsConnection[] = [];
  try {
    await pair.waitRouted();
    await Promise.all(nodes.map((n) => n.start()));
    nodes.forEach(watchExit);

    const clientOn = async (side: Side) => {
      // Reconnecting forever to its own side only: a nats-server restart must not end a client.
      const nc = await connect({ servers: pair.url(side), maxReconnectAttempts: -1, reconnectTimeWait: 100, ignoreClusterUpdates: true, noAsyncTraces: true });
      connections.push(nc);
      return DkvClient.over(nc, 'local', CLIENT_TIMEOUT_MS);
    };
    // Half the keys have every owner on side B, so that a cut leaves side A writing them through
    // stand-ins only; the other half have owners on both sides.
    const candidates = Array.from({ length: 1000 }, (_, i) => `chaos.key *${i}`);
    const allOnB = (k: string) => owners(k).every((o) => SIDE_OF[o] === 'B');
    const keys = [...candidates.filter(allOnB).slice(0, KEYS / 2), ...candidates.filter((k) => !allOnB(k)).slice(0, KEYS / 2)];
    const attempted = new Map(keys.map((k) => [k, new Set<string>()]));
    const acked = new Map(keys.map((k) => [k, new Set<string>()]));
    let writesAcked = 0;
    let writesFailed = 0;
    let readsFailed = 0;
    let running = true;

    const clientLoop = async (name: string, client: DkvClient, seed: number) => {
      const pick = prng(seed);
      for (let seq = 0; running; seq++) {
        const key = keys[Math.floor(pick() * keys.length)]!;
        let read;
        try {
          read = await client.get(key);
        } catch {
          readsFailed++;
          await sleep(50);
          continue;
        }
        const set = new Set<string>();
        for (const v of read.values as string[]) for (const e of JSON.parse(v) as string[]) set.add(e);
        const element = `${name}-${seq}`;
        set.add(element);
        attempted.get(key)!.add(element);
        try {
          await client.put(key, JSON.stringify([...set].sort()), { context: read.context });
          acked.get(key)!.add(element);
          writesAcked++;
        } catch {
          writesFailed++;
          await sleep(50);
        }
      }
    };
    // The clients and the faults begin once the brand-new cluster settled (nobody to pull from).
    await waitSettled(await clientOn('A'));
    const clients: Promise<void>[] = [];
    for (const side of ['A', 'B'] as const) {
      for (let i = 0; i < CLIENTS_PER_SIDE; i++) {
        const name = `c${side}${i}`;
        clients.push(clientOn(side).then((c) => clientLoop(name, c, opts.seed * 31 + clients.length)));
      }
    }

    // T seconds of faults from the moment the clients run, however long the start took.
    const faultsFrom = Date.now();
    const faultLoop = async () => {
      const deadline = faultsFrom + opts.seconds * 1000;
      while (Date.now() + FAULT_GAP_MS_MIN < deadline) {
        await sleep(between(FAULT_GAP_MS_MIN, FAULT_GAP_MS_MAX));
        const kind = ['kill', 'stop', 'cut', 'nats'][Math.floor(random() * 4)]!;
        const ms = between(FAULT_MS_MIN, FAULT_MS_MAX);
        if (kind === 'kill' || kind === 'stop') {
          const node = nodes[Math.floor(random() * nodes.length)]!;
          if (kind === 'kill') {
            note(`SIGKILL ${node.id}, restart after ${ms} ms`);
            expectedExits.add(node.id);
            await node.kill('SIGKILL');
            await sleep(ms);
            expectedExits.delete(node.id);
            await node.start();
            watchExit(node);
            note(`${node.id} serving again`);
          } else {
            note(`SIGSTOP ${node.id} for ${ms} ms`);
            node.child.kill('SIGSTOP');
            await sleep(ms);
            node.child.kill('SIGCONT');
            note(`SIGCONT ${node.id}`);
          }
        } else if (kind === 'cut') {
          note(`route cut for ${ms} ms`);
          pair.partition();
          await sleep(ms);
          pair.heal();
          note('route healed');
        } else {
          const side: Side = random() < 0.5 ? 'A' : 'B';
          note(`nats-server ${side} restarted (down ${ms} ms)`);
          await pair.server(side).stop();
          await sleep(ms);
          await pair.restart(side);
          note(`nats-server ${side} back`);
        }
      }
    };
    await faultLoop();
    running = false;
    await Promise.all(clients);
    note(`faults over: ${writesAcked} writes acknowledged, ${writesFailed} failed, ${readsFailed} reads failed`);

    // Healing: the route up, every node running and reachable.
    pair.heal();
    await pair.waitRouted();
    for (const n of nodes) if (!n.running) problems.push(`${n.id} not running at the end`);
    const checker = await clientOn('B');
    const healedAt = Date.now();
    let lastDisagreement = '';
    await waitFor(
      'every node up in every view, no hint left, and the owners of every key agreeing',
      async () => {
        const s = await checker.status();
        if (s.members.length !== MEMBERS.length || !s.members.every((m: any) => m.state === 'up' && m.backlog?.hints === 0 && (m.view ?? []).every((v: any) => v.status === 'up'))) {
          lastDisagreement = `status: ${s.members.map((m: any) => `${m.node} ${m.state} hints ${m.backlog?.hints}`).join(', ')}`;
          return false;
        }
        for (const key of keys) {
          const peeks = await Promise.all(owners(key).map((o) => checker.peek(o, key)));
          if (!peeks.every((p) => p.context === peeks[0]!.context)) {
            lastDisagreement = `owners of ${key} differ: ${peeks.map((p) => `${p.node}: ${p.values.length} values`).join(', ')}`;
            return false;
          }
        }
        return true;
      },
      { timeoutMs: CONVERGE_MS_MAX, intervalMs: 500 },
    ).catch((err) => problems.push(`no convergence: ${(err as Error).message}; last seen: ${lastDisagreement}`));
    const convergedMs = Date.now() - healedAt;
    note(`converged in ${convergedMs} ms`);

    let siblingsMax = 0;
    let clockEntriesMax = 0;
    for (const key of keys) {
      const got = await checker.get(key, { r: 3 });
      const have = new Set<string>();
      for (const v of got.values as string[]) for (const e of JSON.parse(v) as string[]) have.add(e);
      for (const e of acked.get(key)!) if (!have.has(e)) problems.push(`${key}: acknowledged element ${e} lost`);
      for (const e of have) if (!attempted.get(key)!.has(e)) problems.push(`${key}: element ${e} that no client wrote`);
      siblingsMax = Math.max(siblingsMax, got.values.length);
      clockEntriesMax = Math.max(clockEntriesMax, decodeContext(got.context).length);
    }
    if (siblingsMax > SIBLINGS_MAX) problems.push(`${siblingsMax} siblings, at most ${SIBLINGS_MAX}`);
    const entriesBound = MEMBERS.length + STAND_IN_ENTRIES_IDLE_MAX + SIBLINGS_MAX;
    if (clockEntriesMax > entriesBound) problems.push(`${clockEntriesMax} clock entries, at most ${entriesBound}`);
    const supervision = nodes.flatMap((n) => n.supervisionLines().map((l) => ({ node: n.id, ...l })));
    for (const l of supervision) if (l.decision === 'escalate' || l.decision === 'exit') problems.push(`${l.node}: supervision ${l.decision} of ${l.actor}: ${l.err?.message}`);
    say(`chaos: seed ${opts.seed}: ${faults.length} fault lines, ${writesAcked} writes acknowledged, siblings max ${siblingsMax}, clock entries max ${clockEntriesMax}, ${supervision.length} supervision lines, ${problems.length} problems`);
    return { seed: opts.seed, seconds: opts.seconds, faults, writesAcked, writesFailed, readsFailed, siblingsMax, clockEntriesMax, convergedMs, supervisionLines: supervision.length, problems };
  } finally {
    for (const n of nodes) expectedExits.add(n.id);
    await Promise.all(connections.map((nc) => nc.close().catch(() => {})));
    await Promise.all(nodes.map((n) => n.stop()));
    await pair.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
