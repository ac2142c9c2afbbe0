/**
 * Two nats-servers, A and B, forming one NATS cluster whose only route runs through a TcpProxy,
 * so that a test can partition the NATS layer itself: clients of A and clients of B stay
 * connected to their own server and simply stop seeing each other's interest.
 *
 * Topology: A solicits its route to the proxy, the proxy forwards to B's cluster port, and B
 * solicits nothing. B advertises the proxy as its cluster URL, so that even if its address were
 * gossiped (a third server, a later change) every dial towards B still goes through the proxy.
 * `--no_advertise` keeps each server from telling its clients about the other one: a client of A
 * must not fail over to B behind the test's back.
 */
import { connect, RequestError, TimeoutError, type NatsConnection } from '@nats-io/transport-node';
import { freePort, startNatsServer, type NatsServerHandle } from '../../src/cli/natsServer.ts';
import { TcpProxy } from './proxy.ts';
import { reapOnExit } from './reaper.ts';
import { waitFor } from './wait.ts';

export type Side = 'A' | 'B';

/** What became of one request from a client of one side to a responder on the other side. */
export type Crossing = 'crossed' | 'no-responders' | 'timeout';

export const CLUSTER_NAME = 'dkv-test';
const PROBE_PREFIX = '_dkv_test.probe';
const PROBE_TIMEOUT_MS = 250;
const WAIT_TIMEOUT_MS = 15_000;

interface ServerSpec {
  readonly clientPort: number;
  readonly monitorPort: number;
  readonly args: readonly string[];
}

export interface RouteInfo {
  /** Port of the route's remote end as the server sees it (the proxy's port on A). */
  readonly port: number;
  readonly didSolicit: boolean;
  readonly remoteId: string;
}

export class NatsPair {
  private readonly servers: Record<Side, NatsServerHandle>;
  /** One long-lived client per side, reconnecting forever, answering probes for its side. */
  private readonly probes: Partial<Record<Side, NatsConnection>> = {};

  private constructor(
    readonly proxy: TcpProxy,
    private readonly specs: Record<Side, ServerSpec>,
    a: NatsServerHandle,
    b: NatsServerHandle,
  ) {
    this.servers = { A: a, B: b };
  }

  /**
   * Every port is chosen free, but another process may bind one before nats-server does (the
   * client port is retried inside startNatsServer; the route and monitor ports are retried here).
   */
  static async start(): Promise<NatsPair> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await NatsPair.startOnce();
      } catch (err) {
        if (attempt >= 5 || !/address already in use/.test((err as Error).message)) throw err;
      }
    }
  }

  private static async startOnce(): Promise<NatsPair> {
    const clusterPortB = await freePort();
    const proxy = await TcpProxy.start(clusterPortB);
    const clusterPortA = await freePort();
    const common = ['--cluster_name', CLUSTER_NAME, '--no_advertise'];
    const specA: ServerSpec = {
      clientPort: await freePort(),
      monitorPort: await freePort(),
      args: [...common, '--cluster', `nats://127.0.0.1:${clusterPortA}`, '--routes', `nats://127.0.0.1:${proxy.port}`],
    };
    const specB: ServerSpec = {
      clientPort: await freePort(),
      monitorPort: await freePort(),
      args: [...common, '--cluster', `nats://127.0.0.1:${clusterPortB}`, '--cluster_advertise', `127.0.0.1:${proxy.port}`],
    };
    const started: NatsServerHandle[] = [];
    try {
      started.push(await launch(specB));
      started.push(await launch(specA));
      const pair = new NatsPair(proxy, { A: specA, B: specB }, started[1]!, started[0]!);
      await pair.connectProbes();
      return pair;
    } catch (err) {
      await Promise.all(started.map((s) => s.stop()));
      await proxy.close();
      throw err;
    }
  }

  get urlA(): string {
    return this.servers.A.url;
  }

  get urlB(): string {
    return this.servers.B.url;
  }

  url(side: Side): string {
    return this.servers[side].url;
  }

  server(side: Side): NatsServerHandle {
    return this.servers[side];
  }

  /** Destroys the route (and any other connection through the proxy) and refuses new ones. */
  partition(): void {
    this.proxy.cut();
  }

  /** Lets A's next route attempt through; A re-dials on its own (about once a second). */
  heal(): void {
    this.proxy.heal();
  }

  /**
   * One request from a client of `from` to the responder on the other side. "no-responders"
   * means `from` knows of no interest on the other side at all, i.e. there is no route.
   */
  async probe(from: Side, timeoutMs = PROBE_TIMEOUT_MS): Promise<Crossing> {
    const nc = this.probes[from];
    if (!nc) throw new Error(`no probe client on ${from}`);
    const to = other(from);
    try {
      const reply = await nc.request(`${PROBE_PREFIX}.${to}`, from, { timeout: timeoutMs });
      const answeredBy = reply.string();
      if (answeredBy !== to) throw new Error(`probe from ${from} answered by ${answeredBy}, expected ${to}`);
      return 'crossed';
    } catch (err) {
      if (err instanceof TimeoutError) return 'timeout';
      if (err instanceof RequestError && err.isNoResponders()) return 'no-responders';
      throw err;
    }
  }

  /** Until a request from each side is answered by the other side. */
  async waitRouted(timeoutMs = WAIT_TIMEOUT_MS): Promise<void> {
    await waitFor('A and B to be routed', async () => (await this.probe('A')) === 'crossed' && (await this.probe('B')) === 'crossed', { timeoutMs, intervalMs: 25 });
  }

  /** Until neither side's requests reach the other side; returns what the last probes saw. */
  async waitPartitioned(timeoutMs = WAIT_TIMEOUT_MS): Promise<Record<Side, Crossing>> {
    return waitFor(
      'A and B to be partitioned',
      async () => {
        const seen = { A: await this.probe('A'), B: await this.probe('B') };
        return seen.A !== 'crossed' && seen.B !== 'crossed' ? seen : undefined;
      },
      { timeoutMs, intervalMs: 25 },
    );
  }

  /** The server's routes as its monitoring endpoint reports them. */
  async routes(side: Side): Promise<RouteInfo[]> {
    const res = await fetch(`http://127.0.0.1:${this.specs[side].monitorPort}/routez`);
    if (!res.ok) throw new Error(`routez of ${side}: HTTP ${res.status}`);
    const body = (await res.json()) as { routes?: { port: number; did_solicit: boolean; remote_id: string }[] };
    return (body.routes ?? []).map((r) => ({ port: r.port, didSolicit: r.did_solicit, remoteId: r.remote_id }));
  }

  /** Stops that server and starts it again on the same ports with the same arguments. */
  async restart(side: Side): Promise<NatsServerHandle> {
    await this.servers[side].stop();
    this.servers[side] = await launch(this.specs[side]);
    return this.servers[side];
  }

  async stop(): Promise<void> {
    await Promise.all(Object.values(this.probes).map((nc) => nc.close().catch(() => {})));
    await Promise.all([this.servers.A.stop(), this.servers.B.stop()]);
    await this.proxy.close();
  }

  private async connectProbes(): Promise<void> {
    for (const side of ['A', 'B'] as const) {
      const nc = await connect({
        servers: this.servers[side].url,
        name: `dkv-test-probe-${side}`,
        // Only ever this side's server, and back quickly after restart(side).
        ignoreClusterUpdates: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 50,
        waitOnFirstConnect: true,
      });
      nc.subscribe(`${PROBE_PREFIX}.${side}`, {
        callback: (_err, msg) => {
          msg.respond(side);
        },
      });
      this.probes[side] = nc;
    }
  }
}

function other(side: Side): Side {
  return side === 'A' ? 'B' : 'A';
}

async function launch(spec: ServerSpec): Promise<NatsServerHandle> {
  const handle = await startNatsServer({ port: spec.clientPort, args: ['-m', String(spec.monitorPort), ...spec.args] });
  reapOnExit(handle.process);
  return handle;
}
