/**
 * Restarting a single nats-server on the same port with the same arguments, as a server crash and
 * recovery looks to its clients: their connections drop, and they reconnect to the same URL.
 */
import { startNatsServer, type NatsServerHandle } from '../../src/cli/natsServer.ts';
import { reapOnExit } from './reaper.ts';

/**
 * Stops the server (SIGTERM, SIGKILL after 3 s) and starts it again on the same port; resolves
 * once it accepts connections. The old handle is spent: use the returned one from now on.
 * `args` replaces the arguments given after `-a 127.0.0.1 -p PORT`; by default they are reused.
 */
export async function restartNatsServer(handle: NatsServerHandle, opts: { args?: string[] } = {}): Promise<NatsServerHandle> {
  const args = opts.args ?? argsOf(handle);
  await handle.stop();
  const next = await startNatsServer({ port: handle.port, args });
  reapOnExit(next.process);
  return next;
}

/** The extra arguments the server was started with, read back from its command line. */
function argsOf(handle: NatsServerHandle): string[] {
  // startNatsServer spawns [bin, '-a', '127.0.0.1', '-p', PORT, ...args].
  const [, a, host, p, port, ...rest] = handle.process.spawnargs;
  if (a !== '-a' || host !== '127.0.0.1' || p !== '-p' || port !== String(handle.port)) {
    throw new Error(`cannot recover the arguments of nats-server on port ${handle.port} from its command line: ${handle.process.spawnargs.join(' ')}`);
  }
  return rest;
}
