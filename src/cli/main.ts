/** The `dkv` command line (DESIGN.md §4). */
import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { NATS_AUTH_OPTIONS, natsAuthFrom } from '../nats/connectOptions.ts';
import { natsConfig } from '../natsPermissions.ts';
import { DkvClient } from '../client/client.ts';
import { DkvError } from '../errors.ts';
import { SYNC_MODES } from '../storage/lmdb.ts';
import { runDashboard } from './dashboard.ts';
import { runDev } from './dev.ts';
import { runLogs } from './logs.ts';
import { waitHandoff } from './waitHandoff.ts';
import { formatStatus } from './format.ts';
import { parseDurationMs } from './duration.ts';
import { watchChanges } from './watch.ts';

/** Sent as a number when it is one, else as given, so the node's validation answers it. */
const quorumArg = (v: string): number | string => (/^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v);

const natsOption = () => new Option('--nats <url>', 'NATS server URL').env('DKV_NATS_URL').default('nats://127.0.0.1:4222');
const clusterOption = () => new Option('--cluster <name>', 'cluster name').env('DKV_CLUSTER').default('local');
const syncOption = () =>
  new Option('--sync <mode>', 'lmdb: a write is durable once fsynced (always), once committed, fsynced within --sync-ms (periodic), or as periodic with one replica of each write fsynced before it is acknowledged (one)')
    .choices(SYNC_MODES)
    .env('DKV_SYNC')
    .default('always');

function ttlArg(v: string): number {
  try {
    return parseDurationMs(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function portArg(v: string, flag: string): number {
  const port = Number(v);
  if (!/^\d+$/.test(v) || port > 65_535) throw new Error(`${flag} must be 0..65535, got ${v}`);
  return port;
}

/** The connection options of DESIGN.md §4 (credentials, TLS), each also from its environment variable. */
function withNatsAuth(cmd: Command): Command {
  for (const { flag, env, help } of NATS_AUTH_OPTIONS) cmd.addOption(new Option(flag, help).env(env));
  return cmd;
}

async function withClient<T>(opts: { nats: string; cluster: string } & Record<string, unknown>, fn: (c: DkvClient) => Promise<T>): Promise<T> {
  const client = await DkvClient.connect({ servers: opts.nats, cluster: opts.cluster, auth: natsAuthFrom(opts, {}) });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Human output by default; `--json` prints the protocol reply as is (errors included). */
async function clientCommand(opts: { nats: string; cluster: string; json?: boolean } & Record<string, unknown>, subject: (c: DkvClient) => string, body: object, human: (reply: any) => string): Promise<void> {
  await clientReply(opts, (c) => c.rawRetrying(subject(c), body), human);
}

/** A put or delete: to the node its context names, if it names one (DkvClient.rawWriteRetrying). */
async function writeCommand(opts: { nats: string; cluster: string; json?: boolean } & Record<string, unknown>, op: 'put' | 'delete', body: Record<string, unknown>, human: (reply: any) => string): Promise<void> {
  await clientReply(opts, (c) => c.rawWriteRetrying(op, body), human);
}

async function clientReply(opts: { nats: string; cluster: string; json?: boolean } & Record<string, unknown>, send: (c: DkvClient) => Promise<any>, human: (reply: any) => string): Promise<void> {
  const reply = await withClient(opts, send);
  if (opts.json) {
    process.stdout.write(JSON.stringify(reply) + '\n');
  } else if (reply?.error) {
    process.stderr.write(`error (${reply.error.code}): ${reply.error.message}\n`);
  } else {
    process.stdout.write(human(reply) + '\n');
  }
  if (reply?.error) process.exitCode = 1;
}

/**
 * `dkv keys`: pages through the listing. A key is printed as it is, one a line, unless a line
 * could not carry it plainly (a control character, or a leading `"`): then as a JSON string, so
 * every line that starts with `"` is JSON. `--json` prints each page's protocol reply, a line each.
 */
async function listKeys(c: DkvClient, body: { prefix?: string; limit?: number | string }, json: boolean): Promise<void> {
  let after: string | undefined;
  for (;;) {
    const reply = await c.rawRetrying(c.subjects.keys, { ...body, ...(after !== undefined ? { after } : {}) });
    if (json) process.stdout.write(JSON.stringify(reply) + '\n');
    if (reply?.error) {
      if (!json) process.stderr.write(`error (${reply.error.code}): ${reply.error.message}\n`);
      process.exitCode = 1;
      return;
    }
    if (!json && reply.keys.length > 0) process.stdout.write(reply.keys.map(keyLine).join('\n') + '\n');
    if (reply.next === null) return;
    after = reply.next;
  }
}

/** A key as one line of `dkv keys` (see listKeys). */
export function keyLine(key: string): string {
  return /[\u0000-\u001f\u007f\u2028\u2029]/.test(key) || key.startsWith('"') ? JSON.stringify(key) : key;
}

/** What the CLI is handed by the executable (actors/bin.mjs): the command that starts a node's actors. */
export interface Commands {
  runNode(options: Record<string, any>): Promise<void>;
}

export async function main(argv: string[], commands: Commands): Promise<void> {
  const program = new Command('dkv').description('dkv: a Dynamo-style key-value store on NATS').showHelpAfterError();

  withNatsAuth(program
    .command('dev'))
    .description('run a local cluster: an embedded nats-server plus node processes')
    .option('--nodes <count>', 'node processes to start', '3')
    .option('--data <dir>', 'data directory', './data')
    .option('--nats <url>', 'use this NATS server instead of starting one')
    .addOption(clusterOption())
    .addOption(new Option('--storage <engine>', 'storage engine').choices(['lmdb', 'memory']).default('lmdb'))
    .addOption(syncOption())
    .option('--follow-logs', "print every node's supervision decisions as they happen, in human form")
    .option('--dashboard-port <port>', 'also serve the dashboard (`dkv dashboard`) on this loopback port')
    .option('--metrics-port <port>', 'each node serves Prometheus metrics on loopback: node n<i> at http://127.0.0.1:<port + i - 1>/metrics (0: each on a free port, printed)')
    .action(async (o) => {
      const dashboardPort = o.dashboardPort === undefined ? undefined : portArg(o.dashboardPort, '--dashboard-port');
      const metricsPort = o.metricsPort === undefined ? undefined : portArg(o.metricsPort, '--metrics-port');
      await runDev({ nodes: Number(o.nodes), data: o.data, nats: o.nats, cluster: o.cluster, storage: o.storage, sync: o.sync, auth: natsAuthFrom(o, {}), followLogs: Boolean(o.followLogs), ...(dashboardPort !== undefined ? { dashboardPort } : {}), ...(metricsPort !== undefined ? { metricsPort } : {}) });
    });

  program
    .command('logs')
    .description("print the nodes' log lines of a dkv dev cluster in human form, in time order")
    .option('--data <dir>', 'the data directory dkv dev runs with', './data')
    .option('--node <id>', 'only this node')
    .option('--follow', 'keep printing new lines until Ctrl-C')
    .option('--events <names>', 'only these events, comma-separated (supervision for every supervision decision, or event names such as peer-status)')
    .option('--json', 'print the raw JSON lines')
    .action(async (o) => {
      const events = o.events ? String(o.events).split(',').map((e) => e.trim()).filter(Boolean) : undefined;
      await runLogs({ data: o.data, ...(o.node ? { node: o.node } : {}), follow: Boolean(o.follow), ...(events ? { events } : {}), json: Boolean(o.json) });
    });

  withNatsAuth(program
    .command('node'))
    .description('run one node in the foreground (pino JSON logs on stdout)')
    .requiredOption('--id <id>', 'node ID (A-Z a-z 0-9 _ -)')
    .addOption(natsOption())
    .addOption(clusterOption())
    .option('--data <dir>', 'data directory', './data')
    .option('--members <ids>', 'start a new cluster with this static member list, same order on every node: a,b,c')
    .option('--join <id>', 'join a running cluster through this seed node (without either flag: wait for `dkv join ID`)')
    .addOption(new Option('--gossip-ms <ms>', 'membership gossip interval').env('DKV_GOSSIP_MS'))
    .addOption(new Option('--transfer-keys-per-s <n>', 'pace of partition transfers, in keys per second').env('DKV_TRANSFER_KEYS_PER_S'))
    .addOption(new Option('--transfer-page-keys <n>', 'keys per transfer page (at most 200)').env('DKV_TRANSFER_PAGE_KEYS'))
    .addOption(new Option('--ae-interval-ms <ms>', 'anti-entropy: one Merkle exchange per interval (0: off)').env('DKV_AE_INTERVAL_MS'))
    .addOption(new Option('--ae-keys-per-s <n>', 'anti-entropy: repaired keys per second at most').env('DKV_AE_KEYS_PER_S'))
    .addOption(new Option('--tombstone-grace-ms <ms>', 'a tombstone every replica holds is reaped after this long').env('DKV_TOMBSTONE_GRACE_MS'))
    .addOption(new Option('--storage <engine>', 'storage engine').choices(['lmdb', 'memory']).default('lmdb'))
    .addOption(syncOption())
    .addOption(new Option('--sync-ms <ms>', 'with --sync periodic: fsync interval').env('DKV_SYNC_MS'))
    .addOption(new Option('--n <n>', 'replicas per key').env('DKV_N'))
    .addOption(new Option('--r <r>', 'read quorum').env('DKV_R'))
    .addOption(new Option('--w <w>', 'write quorum').env('DKV_W'))
    .addOption(new Option('--q <q>', 'ring partitions (power of two)').env('DKV_Q'))
    .addOption(new Option('--timeout-ms <ms>', 'request deadline').env('DKV_TIMEOUT_MS'))
    .addOption(new Option('--value-bytes-max <bytes>', 'largest value accepted').env('DKV_VALUE_BYTES_MAX'))
    .addOption(new Option('--hints-max <count>', 'bound of the hinted-handoff backlog, in hinted copies').env('DKV_HINTS_MAX'))
    .addOption(new Option('--hint-bytes-max <bytes>', 'bound of the hinted-handoff backlog in bytes (estimated), beside --hints-max').env('DKV_HINT_BYTES_MAX'))
    .addOption(new Option('--client-ops-max <count>', 'bound on client operations in progress; past it requests are answered overloaded').env('DKV_CLIENT_OPS_MAX'))
    .addOption(new Option('--replica-ops-max <count>', 'bound on replica operations from peers in progress; past it a batch is answered overloaded').env('DKV_REPLICA_OPS_MAX'))
    .addOption(new Option('--no-rebuild', 'with a new (empty) store, count its partitions complete and leave the refill to read repair and anti-entropy, instead of pulling them from the other replicas'))
    .addOption(new Option('--foreground-target-ms <ms>', 'client operations slower than this (p90) hold background work (transfers, anti-entropy, hint deliveries) back').env('DKV_FOREGROUND_TARGET_MS'))
    .addOption(new Option('--metrics-port <port>', 'serve Prometheus metrics at http://<metrics-host>:<port>/metrics (0: any free port)').env('DKV_METRICS_PORT'))
    .addOption(new Option('--metrics-host <host>', 'address the metrics HTTP server listens on (with --metrics-port)').env('DKV_METRICS_HOST').default('127.0.0.1'))
    .addOption(new Option('--faults', 'enable the test-only fault switches').env('DKV_FAULTS').hideHelp())
    .action(async (o) => {
      await commands.runNode(o);
    });

  const client = (name: string, description: string) => withNatsAuth(program.command(name).description(description).addOption(natsOption()).addOption(clusterOption()).option('--json', 'print the protocol reply as is'));

  program
    .command('nats-config')
    .description('print a nats-server configuration with the node, client and admin roles of a cluster (new random passwords)')
    .addOption(clusterOption())
    .action((o) => {
      const password = () => randomBytes(18).toString('base64url');
      process.stdout.write(natsConfig(o.cluster, { node: { user: 'dkv-node', password: password() }, client: { user: 'dkv-client', password: password() }, admin: { user: 'dkv-admin', password: password() } }));
    });

  client('get', 'read a key').argument('<key>').option('--r <r>', 'read quorum', quorumArg).action(async (key, o) => {
    await clientCommand(o, (c) => c.subjects.get, { key, ...(o.r !== undefined ? { r: o.r } : {}) }, (reply) => {
      if (!reply.found) return `(not found)\ncontext: ${reply.context}`;
      const lines = reply.values.length > 1 ? reply.values.map((v: string, i: number) => `sibling ${i + 1}: ${v}`) : reply.values;
      return [...lines, `context: ${reply.context}`].join('\n');
    });
  });

  const ifHelp = 'absent: only if the key has no value; current: only if --context covers every version (else error conflict)';
  const conditional = (o: { context?: string; w?: number | string; if?: string }) => ({ ...(o.context ? { context: o.context } : {}), ...(o.w !== undefined ? { w: o.w } : {}), ...(o.if !== undefined ? { if: o.if } : {}) });
  client('put', 'write a value')
    .argument('<key>')
    .argument('<value>')
    .option('--context <c>', 'context from a get')
    .option('--w <w>', 'write quorum', quorumArg)
    .option('--if <condition>', ifHelp)
    .option('--ttl <duration>', 'the value expires this long after it is written: 500ms, 30s, 5m, 2h, 7d', ttlArg)
    .action(async (key, value, o) => {
      await writeCommand(o, 'put', { key, value, ...conditional(o), ...(o.ttl !== undefined ? { ttl_ms: o.ttl } : {}) }, (reply) => `ok\ncontext: ${reply.context}`);
    });

  client('delete', 'delete a key').argument('<key>').option('--context <c>', 'context from a get').option('--w <w>', 'write quorum', quorumArg).option('--if <condition>', ifHelp).action(async (key, o) => {
    await writeCommand(o, 'delete', { key, ...conditional(o) }, () => 'ok');
  });

  client('watch', 'print changes as writes reach their quorum (at most once: see the README)')
    .option('--prefix <p>', 'only keys that start with this')
    .action(async (o) => {
      await withClient(o, (c) => watchChanges(c, { prefix: o.prefix, json: Boolean(o.json) }));
    });

  client('status', 'show the cluster view').action(async (o) => {
    await clientCommand(o, (c) => c.subjects.status, {}, formatStatus);
  });

  client('keys', 'list every live key in key order (keys with control characters, or starting with ", print as JSON strings)')
    .option('--prefix <p>', 'only keys that start with this')
    .option('--limit <n>', 'keys per page (1..1000)', quorumArg)
    .action(async (o) => {
      await withClient(o, (c) => listKeys(c, { ...(o.prefix !== undefined ? { prefix: o.prefix } : {}), ...(o.limit !== undefined ? { limit: o.limit } : {}) }, Boolean(o.json)));
    });

  const waitOption = '--wait';
  const waitHelp = 'wait until the ring has changed and every partition has moved, showing the progress';
  client('join', 'add a node to the ring').argument('<id>').option(waitOption, waitHelp).action(async (id, o) => {
    await clientCommand(o, (c) => c.subjects.adminJoin, { node: id }, () => 'ok');
    if (o.wait && !process.exitCode) await withClient(o, (c) => waitHandoff(c, { kind: 'join', node: id }));
  });

  client('leave', 'remove a node from the ring after handing off its data').argument('<id>').option(waitOption, waitHelp).action(async (id, o) => {
    await clientCommand(o, (c) => c.subjects.adminLeave, { node: id }, () => 'ok');
    if (o.wait && !process.exitCode) await withClient(o, (c) => waitHandoff(c, { kind: 'leave', node: id }));
  });

  withNatsAuth(program
    .command('dashboard'))
    .description('serve a web page that shows the cluster live: nodes, ring, backlogs, throughput and latency, supervision')
    .addOption(natsOption())
    .addOption(clusterOption())
    .addOption(new Option('--port <port>', 'HTTP port (0: a free one)').env('DKV_DASHBOARD_PORT').default('8080'))
    .addOption(new Option('--host <host>', 'address to listen on (the page is not protected: keep it on loopback unless you mean it)').env('DKV_DASHBOARD_HOST').default('127.0.0.1'))
    .action(async (o) => {
      await runDashboard({ servers: o.nats, cluster: o.cluster, auth: natsAuthFrom(o, {}), host: o.host, port: portArg(o.port, '--port') });
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    const text = err instanceof DkvError ? `error (${err.code}): ${err.message}` : `error: ${(err as Error).message}`;
    process.stderr.write(text + '\n');
    process.exitCode = process.exitCode || 1;
  }
}

