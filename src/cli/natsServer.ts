/**
 * Finding and running a nats-server child process on a free loopback port. Used by `dkv dev`,
 * the tests and the benchmark harness, so that nothing assumes a server already running.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pollUntil } from '../pollUntil.ts';

export const INSTALL_HINT = 'nats-server is not installed. On Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y nats-server (or download it from the NATS project and put it on PATH, or set DKV_NATS_SERVER=/path/to/nats-server)';

export function findNatsServer(): string | undefined {
  const explicit = process.env.DKV_NATS_SERVER;
  if (explicit) return existsSync(explicit) ? explicit : undefined;
  const found = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : undefined;
}

/** As root on Debian, installs the package (saying so); otherwise explains how. */
export function ensureNatsServer(say: (line: string) => void = console.error): string {
  const found = findNatsServer();
  if (found) return found;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && existsSync('/usr/bin/apt-get')) {
    say('nats-server is missing: installing the Debian package (apt-get install -y nats-server) ...');
    const res = spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server'], { stdio: 'inherit' });
    const again = findNatsServer();
    if (res.status === 0 && again) return again;
  }
  throw new Error(INSTALL_HINT);
}

/**
 * A loopback port nothing listens on, taken below the kernel's ephemeral range: a port the kernel
 * handed out for `listen(0)` can be given to some process's outgoing connection before the server
 * it was meant for binds it (seen as "address already in use" with many processes connecting),
 * while ports below the range are only ever taken by a listener asking for them.
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  const top = Math.max(PORT_FLOOR + 1000, low);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = PORT_FLOOR + Math.floor(Math.random() * (top - PORT_FLOOR));
    if (await canListen(port)) return port;
  }
  return listenAny();
}

const PORT_FLOOR = 10_000;

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // Not Linux: the usual default.
  }
  return [32768, 60999];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function listenAny(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export interface NatsServerOptions {
  port?: number;
  /** Extra arguments, e.g. ['-js', '-sd', dir] for JetStream or cluster routes. */
  args?: string[];
  startTimeoutMs?: number;
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts, opts.port ?? (await freePort()));
    } catch (err) {
      // Someone took the port between choosing it and the bind: choose again (only if it was ours to choose).
      if (opts.port !== undefined || attempt >= 5 || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startOnce(opts: NatsServerOptions, port: number): Promise<NatsServerHandle> {
  const bin = ensureNatsServer();
  const child = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), ...(opts.args ?? [])], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const accepting = await pollUntil(
    async () => {
      if (await canConnect(port)) return true;
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${stderr}`);
      return false;
    },
    { deadlineMs: Date.now() + (opts.startTimeoutMs ?? 10_000), intervalMs: 25, now: Date.now, sleep },
  );
  if (!accepting) {
    child.kill('SIGKILL');
    throw new Error(`nats-server did not accept connections on port ${port} in time: ${stderr}`);
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}
