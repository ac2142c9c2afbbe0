/**
 * The Docker files, checked without a Docker engine (none on this machine): the compose file's
 * node commands must be ones the real CLI accepts, and the image's entry point must exist.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));
const compose = parse(readFileSync(root('docker-compose.yml'), 'utf8'));
const NODES = ['n1', 'n2', 'n3'];

function nodeCommand(service: string): string[] {
  const command = compose.services[service].command;
  if (!Array.isArray(command) || !command.every((c) => typeof c === 'string')) throw new Error(`${service}: command must be a list of strings`);
  return command;
}

/** `--flag value` pairs after the subcommand (every node flag in compose takes a value). */
function flags(command: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 1; i < command.length; i += 2) {
    const flag = command[i]!;
    if (!flag.startsWith('--') || command[i + 1] === undefined) throw new Error(`expected "--flag value" at ${i} in ${command.join(' ')}`);
    out.set(flag, command[i + 1]!);
  }
  return out;
}

test('compose - a nats service and three node services built from the Dockerfile', (t) => {
  t.deepEqual(Object.keys(compose.services).sort(), ['nats', ...NODES].sort());
  t.regex(compose.services.nats.image, /^nats:2\.10/);
  t.regex(String(compose.services.nats.command), /-js/);
  for (const id of NODES) {
    const s = compose.services[id];
    t.is(s.build, '.', `${id} is built from the Dockerfile`);
    t.deepEqual(s.depends_on, ['nats'], `${id} depends on nats`);
    t.is(s.restart, 'unless-stopped', `${id} comes back after its supervisor gives up`);
  }
});

test('compose - every node command uses only flags the real `dkv node` accepts', (t) => {
  const help = execFileSync(process.execPath, [root('actors/bin.mjs'), 'node', '--help'], { encoding: 'utf8', timeout: 20_000 });
  const accepted = new Set(help.match(/--[a-z][a-z-]*/g));
  for (const id of NODES) {
    const command = nodeCommand(id);
    t.is(command[0], 'node', `${id} runs the node subcommand`);
    const f = flags(command);
    for (const flag of f.keys()) t.true(accepted.has(flag), `${id}: ${flag} is a dkv node option`);
    t.is(f.get('--id'), id, `${id} runs as node ${id}`);
    t.is(f.get('--nats'), 'nats://nats:4222');
    t.is(f.get('--data'), '/data');
    t.is(f.get('--cluster'), 'local');
    t.deepEqual(f.get('--members')?.split(','), NODES, `${id}: the member list is the node services, in one order`);
  }
});

test('compose - each node has its own named volume at /data', (t) => {
  const declared = Object.keys(compose.volumes ?? {});
  const used = NODES.map((id) => {
    const volumes: string[] = compose.services[id].volumes;
    const data = volumes.find((v) => v.endsWith(':/data'));
    t.truthy(data, `${id} mounts a volume at /data`);
    const name = data!.split(':')[0]!;
    t.true(declared.includes(name), `${name} is a declared named volume`);
    return name;
  });
  t.is(new Set(used).size, NODES.length, 'no two nodes share a volume');
});

test('compose - the Dockerfile entry point is the CLI bin, which exists; .dockerignore keeps node_modules out', (t) => {
  const dockerfile = readFileSync(root('Dockerfile'), 'utf8');
  t.regex(dockerfile, /^FROM node:20-bookworm-slim\b/m);
  t.regex(dockerfile, /^RUN npm ci --omit=dev\b/m);
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile);
  t.truthy(entry, 'an exec-form ENTRYPOINT');
  const argv = JSON.parse(entry![1]!) as string[];
  t.deepEqual(argv, ['node', 'actors/bin.mjs']);
  t.true(existsSync(root(argv[1]!)));
  // The bin runs on the runtime dependencies alone: tsx loads the sources.
  const pkg = JSON.parse(readFileSync(root('package.json'), 'utf8'));
  t.truthy(pkg.dependencies.tsx, 'tsx is a runtime dependency, so npm ci --omit=dev keeps it');
  for (const dir of ['src', 'actors']) t.regex(dockerfile, new RegExp(`^COPY ${dir} `, 'm'));
  const ignored = readFileSync(root('.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  t.true(ignored.includes('node_modules'));
});
