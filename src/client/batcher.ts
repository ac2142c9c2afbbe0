/**
 * The client library's pipelining (src/client/client.ts): the get, put and delete calls made in
 * one event-loop turn are sent together as batches on `dkv.<cluster>.batch` (the queue group) or
 * on one node's batch subject, and each call gets its own result back. Where each batch goes is
 * decided here, from the ring the client knows (routing) and the nodes writes' contexts name
 * (Dynamo's write coordinator, §6.4); sending a batch is the client's.
 */
import { DkvError, isErrorCode } from '../errors.ts';
import { BATCH_OPS_MAX } from '../protocol.ts';
import type { Ring } from '../ring.ts';

/** One call waiting for this turn's batch. */
export interface Queued {
  readonly read: boolean;
  readonly key: string;
  /** Writes only: the node the context names to coordinate it (coordinator hints), if any. */
  readonly coordinator: string | undefined;
  /** The single request's JSON body plus "op", ready to be joined into the batch. */
  readonly json: string;
  readonly resolve: (reply: any) => void;
  readonly reject: (err: unknown) => void;
}

/** A batch stays well under NATS's max_payload (1 MiB by default): JSON characters, up to 3 UTF-8 bytes each. */
export const BATCH_CHARS_MAX = 256 * 1024;

/** The ring as a routing client keeps it: a key's owners are the first N of its preference list. */
export interface KnownRing {
  readonly version: number;
  readonly n: number;
  readonly ring: Ring;
}

export class Batcher {
  #queue: Queued[] = [];
  #scheduled = false;
  /** This client's batched operations in flight, per node they were sent to (routing only). */
  readonly #inFlight = new Map<string, number>();

  constructor(
    /** The ring the client routes by now; undefined while none is known (the queue group). */
    private readonly ring: () => KnownRing | undefined,
    /** Sends one batch to `node`'s batch subject, or to the queue group; resolves with the reply as is. */
    private readonly sendTo: (node: string | undefined, data: Uint8Array) => Promise<any>,
  ) {}

  /** Queues a call for this turn's batch; the batches go once the turn is over. */
  add(q: Queued): void {
    this.#queue.push(q);
    if (this.#scheduled) return;
    this.#scheduled = true;
    // After this turn's other calls (and the microtasks they set off) have queued theirs.
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    // A known ring whose every node holds every key: the whole turn is one batch, reads and
    // writes together, to the least loaded node. A hint saves no hop there; followed, hints
    // piled a client's writes on the node that coordinated their last write (on workload B,
    // 1,485 of 3,000 writes refused `overloaded` there while the other nodes idled). And every
    // batch costs each node a round of messages: on workload B one batch measured 0.90x the peer's
    // throughput against 0.85x with reads and writes apart (medians of 5 runs), at 0.9x against
    // 1.3x its CPU per operation, and the same with --sync always (docs/performance.md).
    if (this.ring() !== undefined && this.#spreadRing() === undefined) return this.#chunk(queue, this.#leastLoaded());
    // Otherwise reads and writes travel apart: writes follow their hints, and a read should not
    // wait for the writes' disk commits in a batch answered once all of it is done.
    const reads = queue.filter((q) => q.read);
    if (reads.length === queue.length) return this.#route(queue);
    if (reads.length > 0) this.#route(reads);
    this.#routeWrites(reads.length === 0 ? queue : queue.filter((q) => !q.read));
  }

  /**
   * Writes whose context names a node. With a ring of more nodes than N: one batch per node
   * named, the others as `#route` says, joining those batches where the node is one of their
   * key's owners (fewer, fuller batches). Without a ring, one batch, to the node most of them
   * name. (With a known ring of N nodes or fewer, `#flush` sends the turn as one batch.)
   */
  #routeWrites(writes: Queued[]): void {
    if (writes.every((q) => q.coordinator === undefined)) return this.#route(writes);
    if (this.#spreadRing() === undefined) {
      // No ring: one batch per node named would cost a message each (0.85x of the throughput
      // before hints on workload A, against 1.00x with one batch, docs/performance.md). A lone
      // write, as the CLI's, still goes where it names.
      return this.#chunk(writes, mostNamed(writes));
    }
    const byNode = new Map<string, Queued[]>();
    const rest: Queued[] = [];
    for (const q of writes) {
      if (q.coordinator === undefined) {
        rest.push(q);
        continue;
      }
      const batch = byNode.get(q.coordinator);
      if (batch === undefined) byNode.set(q.coordinator, [q]);
      else batch.push(q);
    }
    this.#route(rest, byNode);
  }

  /** The ring, when one is known with more nodes than N: only then does where a batch goes save a hop. */
  #spreadRing(): KnownRing | undefined {
    const known = this.ring();
    return known !== undefined && known.ring.members().length > known.n ? known : undefined;
  }

  /**
   * Without a ring, one batch for the queue group. With a ring of more nodes than N, each call
   * joins the largest batch already bound for one of its key's owners (`byNode`: those bound so
   * far), or starts one at a random owner. (A known ring of N nodes or fewer never gets here:
   * `#flush` sends the turn as one batch.)
   */
  #route(queue: Queued[], byNode = new Map<string, Queued[]>()): void {
    const known = this.#spreadRing();
    if (known === undefined) return this.#chunk(queue, undefined);
    for (const q of queue) {
      const owners = known.ring.replicas(known.ring.partitionOf(q.key), known.n);
      let best: Queued[] | undefined;
      for (const o of owners) {
        const batch = byNode.get(o);
        if (batch && (best === undefined || batch.length > best.length)) best = batch;
      }
      if (best === undefined) byNode.set(owners[Math.floor(Math.random() * owners.length)]!, (best = []));
      best.push(q);
    }
    for (const [node, batch] of byNode) this.#chunk(batch, node);
  }

  /**
   * The member with the fewest of this client's operations in flight (a random one of those
   * tied), when a ring is known; else undefined, for the queue group. The queue group picks at
   * random, so a client's batches piled up on one node past its admission bound (`overloaded`,
   * then a backoff) while another idled: 1.05x the throughput on workload B with this instead
   * (docs/performance.md). A turn's batch is not split over the nodes: each batch costs every
   * node a round of messages, which cost more than the parallel coordinators saved.
   */
  #leastLoaded(): string | undefined {
    const members = this.ring()?.ring.members();
    if (members === undefined) return undefined;
    let best: string | undefined;
    let bestLoad = Infinity;
    let tied = 0;
    for (const m of members) {
      const load = this.#inFlight.get(m) ?? 0;
      if (load < bestLoad) {
        best = m;
        bestLoad = load;
        tied = 1;
      } else if (load === bestLoad && Math.random() * ++tied < 1) {
        best = m;
      }
    }
    return best;
  }

  #chunk(queue: Queued[], node: string | undefined): void {
    let start = 0;
    let chars = 0;
    queue.forEach((q, i) => {
      if (i > start && (i - start >= BATCH_OPS_MAX || chars + q.json.length > BATCH_CHARS_MAX)) {
        void this.#send(queue.slice(start, i), node);
        start = i;
        chars = 0;
      }
      chars += q.json.length + 1;
    });
    if (start < queue.length) void this.#send(queue.slice(start), node);
  }

  async #send(batch: Queued[], node: string | undefined): Promise<void> {
    let reply: any;
    if (node !== undefined) this.#inFlight.set(node, (this.#inFlight.get(node) ?? 0) + batch.length);
    try {
      reply = await this.sendTo(node, encoder.encode(`{"ops":[${batch.map((q) => q.json).join(',')}]}`));
      if (reply?.error) replyOrThrow(reply);
      if (!Array.isArray(reply?.results) || reply.results.length !== batch.length) throw new DkvError('internal', `batch reply holds ${reply?.results?.length} results for ${batch.length} requests`);
    } catch (err) {
      for (const q of batch) q.reject(err);
      return;
    } finally {
      if (node !== undefined) this.#inFlight.set(node, this.#inFlight.get(node)! - batch.length);
    }
    batch.forEach((q, i) => {
      try {
        q.resolve(replyOrThrow(reply.results[i]));
      } catch (err) {
        q.reject(err);
      }
    });
  }
}

const encoder = new TextEncoder();

/** The node most writes name (the first to reach that count on a tie); undefined when none names one. */
function mostNamed(writes: readonly Queued[]): string | undefined {
  const counts = new Map<string, number>();
  let best: string | undefined;
  let bestCount = 0;
  for (const q of writes) {
    if (q.coordinator === undefined) continue;
    const n = (counts.get(q.coordinator) ?? 0) + 1;
    counts.set(q.coordinator, n);
    if (n > bestCount) {
      best = q.coordinator;
      bestCount = n;
    }
  }
  return best;
}

/** A protocol reply, or the DkvError its error stands for. */
export function replyOrThrow(reply: any): any {
  if (reply && typeof reply === 'object' && reply.error) {
    const code = isErrorCode(reply.error.code) ? reply.error.code : 'internal';
    throw new DkvError(code, String(reply.error.message));
  }
  return reply;
}
