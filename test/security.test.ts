/**
 * dkv on a secured NATS: a real nats-server started with `dkv nats-config`'s users and TLS with
 * client certificates (made at test time with openssl); three nodes under the node role.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DkvClient } from '../src/client/client.ts';
import { startNatsServer, type NatsServerHandle } from '../src/cli/natsServer.ts';
import { NodeProcess } from './harness/nodeProcess.ts';
import { reapOnExit } from './harness/reaper.ts';
import { makeCerts, type TestCerts } from './harness/tls.ts';
import { waitFor } from './harness/wait.ts';

const BIN = fileURLToPath(new URL('../actors/bin.mjs', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function dkv(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DKV_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...base, ...env }, timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : null) : 0, stdout, stderr });
    });
  });
}

let dir: string;
let certs: TestCerts;
let nats: NatsServerHandle;
let url: string;
let passwords: { node: string; client: string; admin: string };
const nodes: NodeProcess[] = [];

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dkv-security-'));
  certs = makeCerts(dir);
  const config = await dkv(['nats-config', '--cluster', 'local']);
  if (config.code !== 0) throw new Error(`dkv nats-config failed: ${config.stderr}`);
  const pw = (role: string) => new RegExp(`user: "dkv-${role}"\\s+password: "([^"]+)"`).exec(config.stdout)![1]!;
  passwords = { node: pw('node'), client: pw('client'), admin: pw('admin') };
  writeFileSync(
    join(dir, 'nats.conf'),
    `${config.stdout}\ntls {\n  cert_file: "${certs.serverCert}"\n  key_file: "${certs.serverKey}"\n  ca_file: "${certs.ca}"\n  verify: true\n}\n`,
  );
  nats = await startNatsServer({ args: ['-c', join(dir, 'nats.conf')] });
  reapOnExit(nats.process);
  url = nats.url.replace('nats://', 'tls://');
  const members = ['n1', 'n2', 'n3'];
  const tlsArgs = ['--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey];
  for (const id of members) {
    nodes.push(new NodeProcess({ id, natsUrl: url, members, dataDir: join(dir, id), extraArgs: ['--nats-user', 'dkv-node', '--nats-pass', passwords.node, ...tlsArgs] }));
  }
  await Promise.all(nodes.map((n) => n.start()));
});

test.after.always(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const clientTls = () => ({ tlsCa: certs.ca, tlsCert: certs.clientCert, tlsKey: certs.clientKey });
const clientEnv = () => ({ DKV_NATS_URL: url, DKV_NATS_USER: 'dkv-client', DKV_NATS_PASS: passwords.client, DKV_TLS_CA: certs.ca, DKV_TLS_CERT: certs.clientCert, DKV_TLS_KEY: certs.clientKey });

test.serial('security - nodes serve under the node role; the library and the CLI read and write under the client role', async (t) => {
  const client = await DkvClient.connect({ servers: url, auth: { user: 'dkv-client', pass: passwords.client, ...clientTls() } });
  t.teardown(() => client.close());
  const changes: string[] = [];
  client.watch((e) => changes.push(`${e.key}=${e.values.join()}`));
  await client.nc.flush();
  await client.put('secured', 'v1', { w: 3 });
  t.deepEqual((await client.get('secured', { r: 3 })).values, ['v1']);
  await waitFor('the client role to see the change feed', () => changes.includes('secured=v1'), { timeoutMs: 10_000 });
  t.deepEqual((await client.peek('n2', 'secured')).values, ['v1']);

  const put = await dkv(['put', 'secured-cli', 'from the cli'], clientEnv());
  t.is(put.code, 0, put.stderr);
  const got = await dkv(['get', 'secured-cli', '--json'], clientEnv());
  t.is(got.code, 0, got.stderr);
  t.deepEqual(JSON.parse(got.stdout).values, ['from the cli']);
  // Credentials in the URL work too.
  const inUrl = await dkv(['get', 'secured', '--json', '--nats', url.replace('tls://', `tls://dkv-client:${encodeURIComponent(passwords.client)}@`), '--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey]);
  t.is(inUrl.code, 0, inUrl.stderr);
  t.deepEqual(JSON.parse(inUrl.stdout).values, ['v1']);
  t.deepEqual((await client.keys({ prefix: 'secured' })).keys, ['secured', 'secured-cli']);
  const keys = await dkv(['keys', '--prefix', 'secured'], clientEnv());
  t.is(keys.code, 0, keys.stderr);
  t.is(keys.stdout, 'secured\nsecured-cli\n');
  const status = await dkv(['status', '--json'], clientEnv());
  t.is(status.code, 0, status.stderr);
  t.deepEqual(JSON.parse(status.stdout).members.map((m: any) => m.state), ['up', 'up', 'up']);
});

test.serial('security - the client role is refused on internal and admin subjects; the admin role may leave', async (t) => {
  const client = await DkvClient.connect({ servers: url, auth: { user: 'dkv-client', pass: passwords.client, ...clientTls() } });
  t.teardown(() => client.close());
  // The change feed is the nodes' to publish: a client cannot forge an event.
  for (const subject of ['dkv.local.internal.n1.replica', 'dkv.local.internal.n1.membership', 'dkv.local.internal.n1.keys', 'dkv.local.admin.leave', 'dkv.local.admin.join', 'dkv.local.changes.0']) {
    const err = await client.raw(subject, { node: 'n3' }, Date.now() + 2_000).then(
      () => undefined,
      (e: Error) => e,
    );
    t.regex(String(err?.message) + String((err as any)?.cause?.message), /Permissions Violation for Publish/, subject);
  }
  const refused = await dkv(['leave', 'n3'], clientEnv());
  t.not(refused.code, 0);
  t.regex(refused.stderr, /Permissions Violation/);
  t.true(nodes.every((n) => n.running), 'no node left on a client request');

  // A fourth node joins under the admin role's request, then leaves again.
  const n4 = new NodeProcess({ id: 'n4', natsUrl: url, dataDir: join(dir, 'n4'), extraArgs: ['--nats-user', 'dkv-node', '--nats-pass', passwords.node, '--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey] });
  nodes.push(n4);
  await n4.start();
  const adminEnv = { ...clientEnv(), DKV_NATS_USER: 'dkv-admin', DKV_NATS_PASS: passwords.admin };
  const joined = await dkv(['join', 'n4'], adminEnv);
  t.is(joined.code, 0, joined.stderr);
  await waitFor('n4 to be valid in the ring', async () => {
    const s = JSON.parse((await dkv(['status', '--json'], adminEnv)).stdout);
    return s.members.some((m: any) => m.node === 'n4' && m.status === 'valid');
  }, { timeoutMs: 60_000, intervalMs: 500 });
  const left = await dkv(['leave', 'n4'], adminEnv);
  t.is(left.code, 0, left.stderr);
  const exit = await n4.exit;
  t.is(exit.code, 0, 'n4 left and exited');
});

test.serial('security - wrong credentials, an untrusted CA and a missing creds file are one-line errors', async (t) => {
  const wrong = await dkv(['get', 'secured'], { ...clientEnv(), DKV_NATS_PASS: 'not-the-password' });
  t.not(wrong.code, 0);
  t.regex(wrong.stderr.trim(), /^error: NATS refused the credentials \(Authorization Violation\)/);
  t.is(wrong.stderr.trim().split('\n').length, 1);

  const untrusted = await dkv(['get', 'secured'], { ...clientEnv(), DKV_TLS_CA: certs.otherCa });
  t.not(untrusted.code, 0);
  t.regex(untrusted.stderr.trim(), /^error: TLS: the NATS server's certificate is not trusted/);
  t.is(untrusted.stderr.trim().split('\n').length, 1);

  const missing = await dkv(['get', 'secured', '--nats-creds', join(dir, 'nope.creds')], { DKV_NATS_URL: url });
  t.not(missing.code, 0);
  t.regex(missing.stderr.trim(), /^error: cannot read the credentials file .*nope\.creds: ENOENT$/);

  // A node with a wrong password stops with the same words, instead of waiting forever.
  const bad = await dkv(['node', '--id', 'nx', '--nats', url, '--data', join(dir, 'nx'), '--nats-user', 'dkv-node', '--nats-pass', 'wrong', '--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey]);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /NATS refused the credentials/);
  t.false(/\n\s+at /.test(bad.stderr), 'no stack trace');
});
