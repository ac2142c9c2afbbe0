/**
 * The node's first connection to NATS. A node started before its nats-server (a process manager
 * starting everything at once, `docker compose up`, a server restarting) waits for it with
 * backoff and says so at every attempt, as it does once running (nats.js reconnects forever).
 * Errors that waiting cannot mend (credentials refused, bad options) are thrown at once.
 */
import { connect, ConnectionError, TimeoutError, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { describeConnectError } from '../src/nats/connectOptions.ts';

/** First wait after a failed attempt; it doubles up to the maximum. */
export const NATS_CONNECT_RETRY_MS_MIN = 250;
export const NATS_CONNECT_RETRY_MS_MAX = 5_000;

function retryable(err: unknown): boolean {
  return err instanceof ConnectionError || err instanceof TimeoutError;
}

export async function connectWithRetry(options: ConnectionOptions, log: Logger, url: string, sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))): Promise<NatsConnection> {
  let waitMs = NATS_CONNECT_RETRY_MS_MIN;
  for (let attempt = 1; ; attempt++) {
    try {
      const nc = await connect(options);
      if (attempt > 1) log.info({ event: 'nats-connected', attempt, server: nc.getServer() }, `connected to NATS after ${attempt} attempts`);
      return nc;
    } catch (err) {
      if (!retryable(err)) {
        const line = describeConnectError(err, url);
        log.fatal({ event: 'nats-connect-failed', attempt, err: (err as Error).message }, line);
        throw new Error(line, { cause: err });
      }
      log.warn({ event: 'nats-connect-retry', attempt, retryInMs: waitMs, servers: options.servers, err: (err as Error).message }, `cannot reach NATS (${(err as Error).message}); attempt ${attempt}, next in ${waitMs} ms`);
      await sleep(waitMs);
      waitMs = Math.min(waitMs * 2, NATS_CONNECT_RETRY_MS_MAX);
    }
  }
}
