/**
 * `dkv node`: one node in the foreground until SIGINT/SIGTERM. Here, not in src/cli/, since it
 * starts the actors: the CLI is handed it by the executable (actors/bin.mjs), so nothing in src/
 * imports actors/.
 */
import { startNode } from './node.ts';
import { settingsFrom } from '../src/config.ts';
import { natsAuthFrom } from '../src/nats/connectOptions.ts';
import type { Start } from './membership.ts';

function positiveInt(flag: string, raw: unknown): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${flag} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

function nonNegativeInt(flag: string, raw: unknown): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${flag} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** A TCP port to listen on; 0 lets the system pick one (said in the `metrics-listening` log line). */
function port(flag: string, raw: unknown): number {
  const n = nonNegativeInt(flag, raw);
  if (n > 65535) throw new RangeError(`${flag} must be a port number (0..65535), got ${JSON.stringify(raw)}`);
  return n;
}

export async function runNode(o: Record<string, any>): Promise<void> {
  if (o.join && o.members) throw new RangeError('--members and --join exclude each other: a new cluster or joining an existing one');
  const members = o.members ? String(o.members).split(',').map((s) => s.trim()).filter(Boolean) : [];
  const start: Start = o.join ? { kind: 'join', seed: String(o.join) } : members.length > 0 ? { kind: 'members', members } : { kind: 'wait' };
  const settings = settingsFrom({ cluster: o.cluster, n: o.n, r: o.r, w: o.w, q: o.q, timeoutMs: o.timeoutMs, valueBytesMax: o.valueBytesMax }, {});
  let node: Awaited<ReturnType<typeof startNode>> | undefined;
  // Before the start: a node still waiting for its nats-server stops at once on a signal.
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // A supervising parent (tests, the benchmark) may tie the node's life to its own: when the
  // parent dies, even by SIGKILL, the pipe closes and the node stops instead of lingering.
  if (process.env.DKV_EXIT_WITH_STDIN === '1') {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.resume();
  }
  const starting = async () => startNode({
    id: o.id,
    natsUrl: o.nats,
    natsAuth: natsAuthFrom(o, {}),
    settings: members.length > 0 && members.length < settings.n ? { ...settings, n: members.length, r: Math.min(settings.r, members.length), w: Math.min(settings.w, members.length) } : settings,
    start,
    ...(o.gossipMs !== undefined ? { gossipIntervalMs: positiveInt('--gossip-ms', o.gossipMs) } : {}),
    ...(o.transferKeysPerS !== undefined ? { transferKeysPerSecond: positiveInt('--transfer-keys-per-s', o.transferKeysPerS) } : {}),
    ...(o.transferPageKeys !== undefined ? { transferPageKeys: positiveInt('--transfer-page-keys', o.transferPageKeys) } : {}),
    ...(o.aeIntervalMs !== undefined ? { aeIntervalMs: nonNegativeInt('--ae-interval-ms', o.aeIntervalMs) } : {}),
    ...(o.aeKeysPerS !== undefined ? { aeKeysPerSecond: positiveInt('--ae-keys-per-s', o.aeKeysPerS) } : {}),
    ...(o.tombstoneGraceMs !== undefined ? { tombstoneGraceMs: nonNegativeInt('--tombstone-grace-ms', o.tombstoneGraceMs) } : {}),
    onLeft: () => stop('left the ring'),
    storage: o.storage,
    sync: o.sync,
    ...(o.syncMs !== undefined ? { syncIntervalMs: positiveInt('--sync-ms', o.syncMs) } : {}),
    dataDir: o.data,
    faultsEnabled: Boolean(o.faults) && o.faults !== '0',
    ...(o.hintsMax !== undefined ? { hintsMax: positiveInt('--hints-max', o.hintsMax) } : {}),
    ...(o.hintBytesMax !== undefined ? { hintBytesMax: positiveInt('--hint-bytes-max', o.hintBytesMax) } : {}),
    ...(o.clientOpsMax !== undefined ? { clientOpsMax: positiveInt('--client-ops-max', o.clientOpsMax) } : {}),
    ...(o.replicaOpsMax !== undefined ? { replicaOpsMax: positiveInt('--replica-ops-max', o.replicaOpsMax) } : {}),
    ...(o.rebuild === false ? { rebuild: false } : {}),
    ...(o.foregroundTargetMs !== undefined ? { foregroundTargetMs: positiveInt('--foreground-target-ms', o.foregroundTargetMs) } : {}),
    ...(o.metricsPort !== undefined ? { metricsPort: port('--metrics-port', o.metricsPort) } : {}),
    ...(o.metricsHost !== undefined ? { metricsHost: String(o.metricsHost) } : {}),
  });
  try {
    node = await starting();
  } catch (err) {
    // Nothing more to wait for: let the process end with the error.
    process.stdin.destroy();
    throw err;
  }
  function stop(signal: string): void {
    if (node === undefined) return process.exit(0);
    node.stop().then(() => process.exit(0), () => process.exit(1));
    setTimeout(() => process.exit(1), 10_000).unref();
    process.stderr.write(`${signal}: stopping node ${node.id}\n`);
  }
}
