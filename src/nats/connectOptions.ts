/**
 * How dkv connects to a secured NATS: the same options for `dkv node`, `dkv dev --nats`, every
 * client command, the benchmark and the client library (DESIGN.md §4). A flag wins over its
 * environment variable. Credentials in the URL (`nats://user:pass@host:port`, `tls://...`) work
 * too: nats.js takes neither from a URL, so they are lifted out here.
 */
import { readFileSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';

export interface NatsAuth {
  /** A `.creds` file (JWT and nkey seed), as `nsc` writes them. */
  readonly creds?: string;
  /** A file holding an nkey seed (`SU...`). */
  readonly nkey?: string;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  /** TLS: the CA that signed the server's certificate, and a client certificate and key. */
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
}

/** Each option's flag and environment variable. */
export const NATS_AUTH_OPTIONS = [
  { key: 'creds', flag: '--nats-creds <file>', env: 'DKV_NATS_CREDS', help: 'NATS credentials file (.creds)' },
  { key: 'nkey', flag: '--nats-nkey <seedfile>', env: 'DKV_NATS_NKEY', help: 'file with an nkey seed' },
  { key: 'user', flag: '--nats-user <name>', env: 'DKV_NATS_USER', help: 'NATS user name' },
  { key: 'pass', flag: '--nats-pass <password>', env: 'DKV_NATS_PASS', help: 'NATS password' },
  { key: 'token', flag: '--nats-token <token>', env: 'DKV_NATS_TOKEN', help: 'NATS token' },
  { key: 'tlsCa', flag: '--tls-ca <file>', env: 'DKV_TLS_CA', help: 'CA certificate to trust for the NATS server (PEM)' },
  { key: 'tlsCert', flag: '--tls-cert <file>', env: 'DKV_TLS_CERT', help: 'client certificate for NATS (PEM)' },
  { key: 'tlsKey', flag: '--tls-key <file>', env: 'DKV_TLS_KEY', help: 'client certificate key for NATS (PEM)' },
] as const satisfies ReadonlyArray<{ key: keyof NatsAuth; flag: string; env: string; help: string }>;

/** A connection setting that cannot work, found before connecting. */
export class NatsConfigError extends Error {
  override readonly name = 'NatsConfigError';
}

/** The options of `o` (commander's camelCase of the flags above), else of `env`. */
export function natsAuthFrom(o: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): NatsAuth {
  const out: Record<string, string> = {};
  for (const { key, env: name } of NATS_AUTH_OPTIONS) {
    const flagKey = { creds: 'natsCreds', nkey: 'natsNkey', user: 'natsUser', pass: 'natsPass', token: 'natsToken', tlsCa: 'tlsCa', tlsCert: 'tlsCert', tlsKey: 'tlsKey' }[key];
    const v = o[flagKey] ?? o[key] ?? env[name];
    if (typeof v === 'string' && v !== '') out[key] = v;
  }
  return out as NatsAuth;
}

/** The same options as command-line arguments, for a child process (`dkv dev` starting nodes). */
export function natsAuthArgs(auth: NatsAuth): string[] {
  const args: string[] = [];
  for (const { key, flag } of NATS_AUTH_OPTIONS) {
    const v = auth[key];
    if (v !== undefined) args.push(flag.split(' ')[0]!, v);
  }
  return args;
}

function readFile(what: string, file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new NatsConfigError(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * nats.js connection options for `servers` (one URL or several, comma-separated) and `auth`.
 * Reads the files it names now, so that a missing one is a clear error before any connection.
 */
export function natsConnectionOptions(servers: string, auth: NatsAuth = {}): ConnectionOptions {
  let user = auth.user;
  let pass = auth.pass;
  let tls = false;
  const urls = servers
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((raw) => {
      const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `nats://${raw}`;
      let url: URL;
      try {
        url = new URL(withScheme);
      } catch {
        throw new NatsConfigError(`not a NATS URL: ${raw}`);
      }
      if (url.protocol === 'tls:') tls = true;
      else if (url.protocol !== 'nats:') throw new NatsConfigError(`NATS URL scheme must be nats:// or tls://, got ${url.protocol}//`);
      if (url.username !== '') {
        user ??= decodeURIComponent(url.username);
        if (url.password !== '') pass ??= decodeURIComponent(url.password);
      }
      return `${url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname}:${url.port || '4222'}`;
    });
  if (urls.length === 0) throw new NatsConfigError('no NATS server URL given');
  const ways = [auth.creds && '--nats-creds', auth.nkey && '--nats-nkey', auth.token && '--nats-token', user !== undefined && 'a user'].filter(Boolean);
  if (ways.length > 1) throw new NatsConfigError(`give one way to authenticate to NATS, got ${ways.join(' and ')}`);
  if (pass !== undefined && user === undefined) throw new NatsConfigError('--nats-pass needs --nats-user');
  if ((auth.tlsCert === undefined) !== (auth.tlsKey === undefined)) throw new NatsConfigError('--tls-cert and --tls-key go together');
  const options: ConnectionOptions = { servers: urls };
  if (user !== undefined) {
    options.user = user;
    if (pass !== undefined) options.pass = pass;
  }
  if (auth.token !== undefined) options.token = auth.token;
  if (auth.creds !== undefined) options.authenticator = credsAuthenticator(readFile('credentials file', auth.creds));
  if (auth.nkey !== undefined) {
    const seed = new TextDecoder().decode(readFile('nkey seed file', auth.nkey)).trim();
    if (!/^S[A-Z2-7]{57}$/.test(seed)) throw new NatsConfigError(`${auth.nkey} does not hold an nkey seed (a line of 58 characters starting with S)`);
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (tls || auth.tlsCa !== undefined || auth.tlsCert !== undefined) {
    for (const [what, file] of [['CA certificate', auth.tlsCa], ['client certificate', auth.tlsCert], ['client key', auth.tlsKey]] as const) if (file !== undefined) readFile(what, file);
    options.tls = { ...(auth.tlsCa !== undefined ? { caFile: auth.tlsCa } : {}), ...(auth.tlsCert !== undefined ? { certFile: auth.tlsCert, keyFile: auth.tlsKey! } : {}) };
  }
  // Each client user reads replies only under its own prefix (dkv nats-config grants no other).
  if (user !== undefined) options.inboxPrefix = inboxPrefixFor(user);
  return options;
}

/** The reply-inbox prefix of a NATS user: `_INBOX_<user>`, so users cannot read each other's replies. */
export function inboxPrefixFor(user: string): string {
  return `_INBOX_${user.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** One line naming the cause of a failed connection, for the CLI (no stack trace). */
export function describeConnectError(err: unknown, servers: string): string {
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  const text = `${e?.message ?? String(err)} ${e?.cause?.message ?? ''}`;
  const host = servers.replace(/\/\/[^@/]*@/, '//');
  if (err instanceof NatsConfigError) return err.message;
  if (/authorization|authentication|user.*password|permissions? violation/i.test(text)) return `NATS refused the credentials (${e.message}) at ${host}`;
  if (/self.signed|unable to verify|certificate|CERT_|DEPTH_ZERO|UNABLE_TO_GET_ISSUER/i.test(text)) return `TLS: the NATS server's certificate is not trusted (${e.message}); give its CA with --tls-ca`;
  if (/tls|ssl|handshake/i.test(text)) return `TLS with the NATS server failed: ${e.message}`;
  if (/ECONNREFUSED|connection refused/i.test(text)) return `cannot reach NATS at ${host}: connection refused`;
  return `cannot connect to NATS at ${host}: ${e?.message ?? String(err)}`;
}
