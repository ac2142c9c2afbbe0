/** What the numbers were measured on: every result file and every quoted figure carries it. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { findNatsServer } from '../src/cli/natsServer.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PACKAGES = ['@nats-io/transport-node', '@nats-io/kv', '@nats-io/jetstream', 'lmdb', 'nact', 'msgpackr', 'pino', 'hdr-histogram-js'];

export interface Machine {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly totalMemoryBytes: number;
  readonly os: string;
  readonly node: string;
  readonly natsServer: string;
  /** Filesystem type under the data directory (tmpfs, ext4, overlay ...): it moves fsync costs. */
  readonly dataFilesystem: string;
  readonly packages: Record<string, string>;
}

function packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(`${ROOT}node_modules/${name}/package.json`, 'utf8')).version ?? '?';
  } catch {
    return 'absent';
  }
}

export function describeMachine(dataDir: string): Machine {
  const nats = findNatsServer();
  const natsVersion = nats ? spawnSync(nats, ['--version'], { encoding: 'utf8' }).stdout.trim() : 'not found';
  // findmnt names ext4 as such; statfs's magic number cannot tell ext2, ext3 and ext4 apart.
  const mnt = spawnSync('findmnt', ['-n', '-o', 'FSTYPE', '-T', dataDir], { encoding: 'utf8' });
  const fs = mnt.status === 0 && mnt.stdout.trim() ? mnt : spawnSync('stat', ['-f', '-c', '%T', dataDir], { encoding: 'utf8' });
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    totalMemoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    natsServer: natsVersion,
    dataFilesystem: fs.status === 0 ? fs.stdout.trim() : 'unknown',
    packages: Object.fromEntries(PACKAGES.map((p) => [p, packageVersion(p)])),
  };
}

export function machineLine(m: Machine): string {
  return `${m.nproc} CPUs (${m.cpuModel}), ${(m.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB, ${m.os}, node ${m.node}, ${m.natsServer}, data on ${m.dataFilesystem}`;
}
