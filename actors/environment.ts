/**
 * What a node runs on: the bus, time, randomness and its stores. A real node gets NATS, the system
 * clock and its data directory (natsEnvironment, for `dkv node`); the simulation (test/sim/) gives
 * the same composition (actors/node.ts composeNode) a simulated bus, virtual time, a seeded random
 * source and stores that outlive a simulated crash.
 */
import type { Logger } from 'pino';
import { natsConnectionOptions } from '../src/nats/connectOptions.ts';
import { systemClock, type Clock } from './clock.ts';
import { eventLoopProbe, type EventLoopProbe } from './foreground.ts';
import { connectWithRetry } from './natsConnect.ts';
import type { NodeOptions } from './nodeOptions.ts';
import { watchNats, type NatsFigures } from './status.ts';
import { loadStateFiles, openStores, type NodeStores, type StateFiles } from './store.ts';
import type { Transport } from './transport.ts';

export interface NodeEnvironment {
  readonly nc: Transport;
  /** Heartbeats and their answers travel on a connection of their own (actors/health.ts). */
  readonly liveness: Transport;
  readonly clock: Clock;
  /** Uniform in [0, 1). */
  random(): number;
  readonly eventLoop: EventLoopProbe;
  /** The connection's own figures for status (NATS: reconnects, bytes). */
  natsStats(): object;
  readonly natsFigures: NatsFigures;
  /** The state files, when the environment has read them already (a real node reads them before it waits for NATS). */
  readonly stateFiles?: StateFiles;
  /** Opens the stores, once the state files have been read and checked. */
  openStores(opts: NodeOptions, log: Logger): NodeStores;
  /** Ends the connections, once everything else has stopped. */
  close(): Promise<void>;
}

export async function natsEnvironment(opts: NodeOptions, log: Logger): Promise<NodeEnvironment> {
  const { id, settings } = opts;
  // Everything on disk is read and checked, and the stores opened, before the node waits for
  // NATS: a bad file or a damaged store stops the start at once, whether NATS is there or not.
  const stateFiles = loadStateFiles(log, opts.dataDir, settings.q);
  const stores = openStores(opts, log);
  // noAsyncTraces: nats.js would otherwise build an Error (a stack capture) for every request.
  const connection = { ...natsConnectionOptions(opts.natsUrl, opts.natsAuth), maxReconnectAttempts: -1, reconnectTimeWait: 250, noAsyncTraces: true };
  const nc = await connectWithRetry({ ...connection, name: `dkv-${settings.cluster}-${id}` }, log, opts.natsUrl);
  const liveness = await connectWithRetry({ ...connection, name: `dkv-${settings.cluster}-${id}-liveness` }, log, opts.natsUrl);
  return {
    nc,
    liveness,
    clock: systemClock,
    random: Math.random,
    eventLoop: eventLoopProbe(),
    natsStats: () => nc.stats(),
    natsFigures: watchNats(nc, log),
    stateFiles,
    openStores: () => stores,
    close: async () => {
      try {
        await nc.drain();
      } catch {
        // Already closed: nothing to drain.
      }
      await liveness.close().catch(() => {});
    },
  };
}
