/**
 * One seeded run of the simulation: real dkv nodes (test/sim/cluster.ts) on the simulated bus,
 * clients doing read-modify-write on a set per key, and faults drawn from the seed: message
 * delays, drops, duplicates and reordering, partitions, node crashes and restarts on their disks.
 * Safety is checked after healing, TigerBeetle's VOPR style: no acknowledged add lost, no value
 * no client wrote, siblings bounded by the writers, the owners of every key converged, no hint
 * left behind. A failure names its seed; the same seed replays the same run (its trace hash).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SETTINGS, type ClusterSettings } from '../../src/config.ts';
import { Ring } from '../../src/ring.ts';
import type { TransportMsg } from '../../actors/transport.ts';
import { SimCluster } from './cluster.ts';
import type { Random } from './random.ts';
import { Simulation } from './scheduler.ts';
import type { SimConnection } from './bus.ts';

export interface WorldOptions {
  readonly seed: number;
  /** Events run while clients write and faults strike. */
  readonly steps: number;
  readonly nodes?: number;
  readonly clients?: number;
  readonly keys?: number;
  /** Print progress lines to stderr. */
  readonly verbose?: boolean;
}

export interface WorldResult {
  readonly seed: number;
  readonly trace: string;
  readonly steps: number;
  readonly virtualMs: number;
  readonly acknowledged: number;
  readonly attempted: number;
  readonly failedOps: number;
  readonly crashes: number;
  readonly partitions: number;
  readonly siblingsMax: number;
  readonly antiEntropy: boolean;
  /** Empty when every check held. */
  readonly violations: string[];
}

/** Virtual ms a client waits for a reply before it counts the operation as failed. */
const CLIENT_TIMEOUT_MS = 3_000;
/** Virtual ms between a client's operations. */
const THINK_MS_MAX = 40;
/** Events the healing phase may take to converge before the checks count it a failure. */
const HEAL_STEPS_MAX = 400_000;
/** Virtual ms after healing by which the owners must agree and the hints be delivered. */
const CONVERGE_MS_MAX = 120_000;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A set per key: values are JSON arrays of elements, siblings are merged by union. */
function elementsOf(values: readonly string[]): Set<string> {
  const all = new Set<string>();
  for (const v of values) for (const e of JSON.parse(v) as string[]) all.add(e);
  return all;
}

async function call(conn: SimConnection, subject: string, body: object, timeoutMs = CLIENT_TIMEOUT_MS): Promise<any> {
  const msg: TransportMsg = await conn.request(subject, enc.encode(JSON.stringify(body)), { timeout: timeoutMs });
  return JSON.parse(dec.decode(msg.data));
}

export async function runWorld(o: WorldOptions): Promise<WorldResult> {
  const nodeCount = o.nodes ?? 5;
  const ids = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const sim = new Simulation({ seed: o.seed, faults: { latencyMinMs: 1, latencyMaxMs: 6, dropP: 0.01, duplicateP: 0.01, delayP: 0.02, delayMaxMs: 200 } });
  const random = sim.random.fork('world');
  const settings: ClusterSettings = { ...DEFAULT_SETTINGS, cluster: 'sim', q: 16 };
  const dir = mkdtempSync(join(tmpdir(), `dkv-sim-${o.seed}-`));
  // Odd seeds run without anti-entropy, so that hinted handoff and read repair alone must bring
  // the replicas together: a mistake in either is then not mended behind its back.
  const antiEntropy = o.seed % 2 === 0;
  const cluster = new SimCluster({ sim, dir, ids, settings, nodeOptions: { gossipIntervalMs: 1_000, aeIntervalMs: antiEntropy ? 5_000 : 0 } });
  const log = (line: string) => o.verbose && process.stderr.write(`[sim ${o.seed}] ${line}\n`);
  const violations: string[] = [];
  const keys = Array.from({ length: o.keys ?? 6 }, (_, i) => `cart.${i} *>`);
  const attempted = new Set<string>();
  const acked = new Map<string, Set<string>>(keys.map((k) => [k, new Set()]));
  let failedOps = 0;
  let crashes = 0;
  let partitions = 0;
  let siblingsMax = 0;
  let writing = true;
  const startMs = sim.clock.now();
  try {
    await Promise.all(ids.map((id) => cluster.start(id)));
    // Every node sees the others up before the clients start.
    await sim.runFor(2_000, 100_000);

    const clientCount = o.clients ?? 4;
    const clients = Array.from({ length: clientCount }, (_, i) => {
      const name = `c${i + 1}`;
      return { name, conn: sim.bus.connect(name), random: random.fork(name) };
    });
    const sleep = (ms: number) => new Promise<void>((resolve) => sim.clock.setTimeout(resolve, ms));
    // Read-modify-write sessions: read the set, add one element, write it back with the context.
    const session = async (c: (typeof clients)[number]): Promise<void> => {
      let seq = 0;
      while (writing) {
        const key = c.random.pick(keys);
        const element = `${c.name}:${++seq}`;
        attempted.add(element);
        try {
          const read = await call(c.conn, 'dkv.sim.get', { key });
          if (read.error) throw new Error(read.error.code);
          siblingsMax = Math.max(siblingsMax, read.values.length);
          const next = [...elementsOf(read.values), element].sort();
          const put = await call(c.conn, 'dkv.sim.put', { key, value: JSON.stringify(next), context: read.context });
          if (put.error) throw new Error(put.error.code);
          acked.get(key)!.add(element);
        } catch {
          failedOps++;
        }
        await sleep(1 + c.random.int(THINK_MS_MAX));
      }
    };
    const sessions = clients.map((c) => session(c));

    // Faults: at most one node down and one partition at a time, so that most writes can succeed.
    const down = new Set<string>();
    const faultRandom = random.fork('faults');
    let nextFaultMs = sim.clock.now() + 500;
    for (let taken = 0; taken < o.steps; taken++) {
      if (sim.clock.now() >= nextFaultMs) {
        nextFaultMs = sim.clock.now() + 300 + faultRandom.int(2_000);
        const roll = faultRandom.next();
        if (roll < 0.3 && down.size === 0) {
          const victim = faultRandom.pick(cluster.up());
          down.add(victim);
          crashes++;
          log(`crash ${victim} at ${sim.clock.now()}`);
          await cluster.crash(victim);
          const restartMs = 200 + faultRandom.int(3_000);
          sim.clock.setTimeout(() => {
            log(`restart ${victim} at ${sim.clock.now()}`);
            void cluster.start(victim).then(() => down.delete(victim));
          }, restartMs);
        } else if (roll < 0.5) {
          const shuffled = shuffle(ids, faultRandom);
          const cut = 1 + faultRandom.int(nodeCount - 1);
          const side = (names: string[]) => names.flatMap((n) => [n, `${n}-liveness`]);
          // Clients stay with the bigger side.
          sim.bus.partition([[...side(shuffled.slice(0, cut))], [...side(shuffled.slice(cut)), ...clients.map((c) => c.name)]]);
          partitions++;
          log(`partition ${shuffled.slice(0, cut)} | ${shuffled.slice(cut)} at ${sim.clock.now()}`);
          sim.clock.setTimeout(() => sim.bus.heal(), 300 + faultRandom.int(3_000));
        }
      }
      if (!(await sim.step())) break;
    }
    const writeSteps = sim.steps;

    // Heal: no more faults, every node up, the clients stop.
    writing = false;
    sim.bus.heal();
    sim.bus.setFaults({ dropP: 0, duplicateP: 0, delayP: 0 });
    await sim.runUntil(() => down.size === 0, HEAL_STEPS_MAX);
    await settled(sim, Promise.all(sessions));
    await sim.runFor(CLIENT_TIMEOUT_MS + 1_000, HEAL_STEPS_MAX);
    log(`healed at ${sim.clock.now()} after ${writeSteps} steps; ${[...acked.values()].reduce((a, s) => a + s.size, 0)} adds acknowledged`);

    // Converged: every owner of every key holds the same version set, and no hint is left.
    const checker = sim.bus.connect('checker');
    const ringInfo = await settled(sim, call(checker, 'dkv.sim.ring', {}));
    const ring = new Ring(ringInfo.assignment);
    const deadlineMs = sim.clock.now() + CONVERGE_MS_MAX;
    let lastDifference = '';
    for (;;) {
      lastDifference = '';
      for (const key of keys) {
        const owners = ring.replicas(ring.partitionOf(key), settings.n);
        const seen = await settled(sim, Promise.all(owners.map((node) => call(checker, `dkv.sim.node.${node}.peek`, { key }))));
        const sets = seen.map((p: any) => JSON.stringify([...elementsOf(p.values ?? [])].sort()));
        if (new Set(sets).size > 1) lastDifference = `${key}: owners ${owners.join(',')} hold ${sets.join(' / ')}`;
      }
      const status = await settled(sim, call(checker, 'dkv.sim.status', {}));
      const hints = (status.members ?? []).reduce((a: number, m: any) => a + (m.backlog?.hints ?? 0), 0);
      if (hints > 0) lastDifference ||= `${hints} hints not delivered`;
      if (!lastDifference || sim.clock.now() >= deadlineMs) break;
      await sim.runFor(1_000, HEAL_STEPS_MAX);
    }
    if (lastDifference) violations.push(`not converged ${CONVERGE_MS_MAX} ms after healing: ${lastDifference}`);

    // Every acknowledged add is there, nothing else is, and siblings stay within the writers.
    for (const key of keys) {
      const read = await settled(sim, call(checker, 'dkv.sim.get', { key, r: settings.n }));
      if (read.error) {
        violations.push(`final read of ${key} failed: ${read.error.code} ${read.error.message}`);
        continue;
      }
      siblingsMax = Math.max(siblingsMax, read.values.length);
      if (read.values.length > clientCount) violations.push(`${key} has ${read.values.length} siblings with ${clientCount} writers`);
      const held = elementsOf(read.values);
      for (const e of acked.get(key)!) if (!held.has(e)) violations.push(`${key}: acknowledged add ${e} lost`);
      for (const e of held) if (!attempted.has(e)) violations.push(`${key}: ${e} was never written by a client`);
    }
    for (const node of cluster.nodes.values()) {
      for (const line of node.lines) if (line.event === 'fatal' || line.decision === 'escalate' || line.decision === 'exit') violations.push(`${node.id}: ${JSON.stringify(line)}`);
    }
    for (const e of sim.errors) violations.push(`error in ${e.where} at ${e.timeMs}: ${(e.err as Error)?.message ?? String(e.err)}`);
    return {
      seed: o.seed,
      trace: sim.trace.hash,
      steps: sim.steps,
      virtualMs: sim.clock.now() - startMs,
      acknowledged: [...acked.values()].reduce((a, s) => a + s.size, 0),
      attempted: attempted.size,
      failedOps,
      crashes,
      partitions,
      siblingsMax,
      antiEntropy,
      violations,
    };
  } finally {
    writing = false;
    await cluster.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the simulation until `p` settles, and returns its value. */
async function settled<T>(sim: Simulation, p: Promise<T>): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  p.then(
    (v) => ((done = true), (value = v)),
    (e) => ((done = true), (error = e)),
  );
  await sim.runUntil(() => done, HEAL_STEPS_MAX);
  if (error !== undefined) throw error;
  return value as T;
}

function shuffle<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
