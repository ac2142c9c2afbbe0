/**
 * `dkv watch [--prefix P] [--json]`: the change feed, one line per change, until Ctrl-C. The
 * subscription is in place (flushed to the server) before "watching" is printed, so a script can
 * start writing once it sees that line.
 */
import { formatChange } from '../changeFeed.ts';
import type { DkvClient } from '../client/client.ts';

export async function watchChanges(client: DkvClient, opts: { prefix?: string | undefined; json: boolean }): Promise<void> {
  const stop = client.watch((e) => process.stdout.write((opts.json ? JSON.stringify(e) : formatChange(e)) + '\n'), opts.prefix !== undefined ? { prefix: opts.prefix } : {});
  await client.nc.flush();
  process.stderr.write(`watching ${client.subjects.changesAll}${opts.prefix ? ` for keys starting with ${JSON.stringify(opts.prefix)}` : ''} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    client.nc.closed().then(done, done);
  });
  stop();
}
