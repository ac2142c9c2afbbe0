/** `dkv node`: one node in the foreground until SIGINT/SIGTERM. */
import { startNode } from '../../actors/node.ts';
import { settingsFrom } from '../config.ts';

function positiveInt(flag: string, raw: unknown): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${flag} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

export async function runNode(o: Record<string, any>): Promise<void> {
  if (o.join) throw new Error('--join is not available yet: membership is static in this version; use --members a,b,c');
  const members = String(o.members ?? o.id).split(',').map((s) => s.trim()).filter(Boolean);
  const settings = settingsFrom({ cluster: o.cluster, n: o.n, r: o.r, w: o.w, q: o.q, timeoutMs: o.timeoutMs, valueBytesMax: o.valueBytesMax }, {});
  const node = await startNode({
    id: o.id,
    natsUrl: o.nats,
    settings: members.length < settings.n ? { ...settings, n: members.length, r: Math.min(settings.r, members.length), w: Math.min(settings.w, members.length) } : settings,
    members,
    storage: o.storage,
    dataDir: o.data,
    faultsEnabled: Boolean(o.faults) && o.faults !== '0',
    ...(o.hintsMax !== undefined ? { hintsMax: positiveInt('--hints-max', o.hintsMax) } : {}),
  });
  const stop = (signal: string) => {
    node.stop().then(() => process.exit(0), () => process.exit(1));
    setTimeout(() => process.exit(1), 10_000).unref();
    process.stderr.write(`${signal}: stopping node ${node.id}\n`);
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // A supervising parent (tests, the benchmark) may tie the node's life to its own: when the
  // parent dies, even by SIGKILL, the pipe closes and the node stops instead of lingering.
  if (process.env.DKV_EXIT_WITH_STDIN === '1') {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.resume();
  }
}
