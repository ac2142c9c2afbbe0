/**
 * A loopback TCP proxy that tests can cut: every connection it accepts is piped to a fixed
 * target, and cut() tears down every live pair at once. Placed on a NATS route it is the network
 * partition between two servers; heal() lets the next connection attempt through.
 */
import net from 'node:net';

const HOST = '127.0.0.1';

/** One accepted connection and the connection it opened to the target. */
interface Pair {
  readonly inbound: net.Socket;
  readonly outbound: net.Socket;
}

export interface TcpProxyCounters {
  /** Connections accepted and forwarded to the target (not counting those refused while cut). */
  accepted: number;
  /** Live pairs destroyed by cut(). */
  cut: number;
  /** Connections destroyed on arrival because the proxy was cut. */
  refused: number;
  /** Pairs that ended because the target refused or dropped its side. */
  targetFailed: number;
}

export class TcpProxy {
  /** Invariant: holds exactly the pairs whose two sockets are both still open. */
  private readonly pairs = new Set<Pair>();
  private isCut = false;
  readonly counters: TcpProxyCounters = { accepted: 0, cut: 0, refused: 0, targetFailed: 0 };

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    readonly targetPort: number,
    readonly targetHost: string,
  ) {}

  /** Listens on a free loopback port (or `listenPort`) and forwards to targetHost:targetPort. */
  static async start(targetPort: number, opts: { targetHost?: string; listenPort?: number } = {}): Promise<TcpProxy> {
    const targetHost = opts.targetHost ?? HOST;
    let proxy: TcpProxy | undefined;
    const server = net.createServer((socket) => proxy!.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.listenPort ?? 0, HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (typeof addr !== 'object' || addr === null) throw new Error(`proxy listener has no port: ${String(addr)}`);
    proxy = new TcpProxy(server, addr.port, targetPort, targetHost);
    return proxy;
  }

  get cutNow(): boolean {
    return this.isCut;
  }

  /** Pairs currently forwarding. */
  get live(): number {
    return this.pairs.size;
  }

  /** Destroys every live pair at once; connections arriving while cut are destroyed on arrival. */
  cut(): void {
    this.isCut = true;
    for (const pair of this.pairs) {
      this.counters.cut++;
      this.drop(pair);
    }
  }

  heal(): void {
    this.isCut = false;
  }

  /** Stops listening and destroys every live pair. */
  async close(): Promise<void> {
    this.isCut = true;
    for (const pair of this.pairs) this.drop(pair);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(inbound: net.Socket): void {
    if (this.isCut) {
      this.counters.refused++;
      inbound.destroy();
      return;
    }
    this.counters.accepted++;
    // No Nagle delay on either hop: the proxy must not add latency of its own to the route.
    inbound.setNoDelay(true);
    const outbound = net.connect({ port: this.targetPort, host: this.targetHost });
    outbound.setNoDelay(true);
    const pair: Pair = { inbound, outbound };
    this.pairs.add(pair);
    // Either side ending or failing ends both: a half-open route would hide the partition.
    const end = (fromTarget: boolean) => () => {
      if (!this.pairs.has(pair)) return;
      if (fromTarget) this.counters.targetFailed++;
      this.drop(pair);
    };
    inbound.on('error', end(false));
    inbound.on('close', end(false));
    outbound.on('error', end(true));
    outbound.on('close', end(true));
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  }

  private drop(pair: Pair): void {
    this.pairs.delete(pair);
    pair.inbound.destroy();
    pair.outbound.destroy();
  }
}
