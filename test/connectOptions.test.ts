import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeConnectError, inboxPrefixFor, natsAuthArgs, natsAuthFrom, natsConnectionOptions, NatsConfigError } from '../src/nats/connectOptions.ts';

test('connect options - credentials in the URL are lifted out, tls:// asks for TLS, several servers are kept', (t) => {
  const o = natsConnectionOptions('nats://alice:s%40cret@127.0.0.1:4333,127.0.0.1:4444');
  t.deepEqual(o.servers, ['127.0.0.1:4333', '127.0.0.1:4444']);
  t.is(o.user, 'alice');
  t.is(o.pass, 's@cret');
  t.is(o.inboxPrefix, '_INBOX_alice');
  t.is(o.tls, undefined);
  const secured = natsConnectionOptions('tls://127.0.0.1:4443');
  t.deepEqual(secured.servers, ['127.0.0.1:4443']);
  t.deepEqual(secured.tls, {});
  t.deepEqual(natsConnectionOptions('localhost').servers, ['localhost:4222']);
});

test('connect options - flags win over the environment; the args for a child process say the same', (t) => {
  const auth = natsAuthFrom({ natsUser: 'flag-user' }, { DKV_NATS_USER: 'env-user', DKV_NATS_PASS: 'env-pass', DKV_TLS_CA: '/ca.pem' });
  t.deepEqual(auth, { user: 'flag-user', pass: 'env-pass', tlsCa: '/ca.pem' });
  t.deepEqual(natsAuthArgs(auth), ['--nats-user', 'flag-user', '--nats-pass', 'env-pass', '--tls-ca', '/ca.pem']);
  t.deepEqual(natsAuthFrom({}, {}), {});
});

test('connect options - what cannot work is a clear error before connecting', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dkv-connopts-'));
  const bad = (servers: string, auth: object, pattern: RegExp) => t.throws(() => natsConnectionOptions(servers, auth), { instanceOf: NatsConfigError, message: pattern });
  bad('http://127.0.0.1:4222', {}, /nats:\/\/ or tls:\/\//);
  bad('', {}, /no NATS server URL/);
  bad('127.0.0.1', { creds: join(dir, 'missing.creds') }, /cannot read the credentials file .*missing\.creds: ENOENT/);
  bad('127.0.0.1', { user: 'a', token: 't' }, /one way to authenticate/);
  bad('127.0.0.1', { pass: 'p' }, /--nats-pass needs --nats-user/);
  bad('127.0.0.1', { tlsCert: '/c.pem' }, /--tls-cert and --tls-key go together/);
  bad('127.0.0.1', { tlsCa: join(dir, 'nope.pem') }, /cannot read the CA certificate/);
  writeFileSync(join(dir, 'seed'), 'not a seed\n');
  bad('127.0.0.1', { nkey: join(dir, 'seed') }, /does not hold an nkey seed/);
});

test('connect options - an inbox prefix per user, safe as a subject token', (t) => {
  t.is(inboxPrefixFor('dkv-client'), '_INBOX_dkv-client');
  t.is(inboxPrefixFor('a.b*c>'), '_INBOX_a_b_c_');
});

test('connect options - connection failures are named in one line', (t) => {
  t.regex(describeConnectError(Object.assign(new Error('Authorization Violation'), {}), 'nats://u:p@h:1'), /^NATS refused the credentials \(Authorization Violation\) at nats:\/\/h:1$/);
  t.regex(describeConnectError(Object.assign(new Error('x'), { cause: { message: 'self-signed certificate in certificate chain' } }), 'tls://h:1'), /certificate is not trusted.*--tls-ca/);
  t.regex(describeConnectError(new Error('connection refused'), 'nats://h:1'), /cannot reach NATS at nats:\/\/h:1: connection refused/);
  t.false(describeConnectError(new Error('Authorization Violation'), 'nats://u:secret@h:1').includes('secret'));
});
