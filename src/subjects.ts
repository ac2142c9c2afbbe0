/**
 * Every NATS subject dkv uses is built here and nowhere else, so that NATS permissions can let
 * clients reach the public subjects (DESIGN.md §3) and keep `dkv.<cluster>.internal.>` for nodes.
 * Keys never appear in a subject: they are opaque and may contain dots and wildcards.
 */
/**
 * Optional NATS header on a client request: the epoch milliseconds after which the client no
 * longer waits for the reply. A node drops a request whose deadline has passed. Headers are
 * transport metadata: the JSON bodies of DESIGN.md §3 are unchanged.
 */
export const DEADLINE_HEADER = 'Dkv-Deadline';

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Cluster names and node IDs become subject tokens, so they are restricted to safe characters. */
export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

export function assertValidName(kind: 'cluster' | 'node', name: string): void {
  if (!isValidName(name)) {
    throw new RangeError(`${kind} name ${JSON.stringify(name)} must be 1..64 characters of A-Z a-z 0-9 _ -`);
  }
}

export interface Subjects {
  readonly get: string;
  readonly put: string;
  readonly delete: string;
  /** Several get/put/delete requests in one message (the client library's pipeline). */
  readonly batch: string;
  /** The ring as the nodes see it, for clients that send each request to a node that holds its key. */
  readonly ring: string;
  readonly status: string;
  /** Key listing, a page at a time (src/keyListing.ts). */
  readonly keys: string;
  readonly adminJoin: string;
  readonly adminLeave: string;
  /** The change feed: every subject of it, for a subscriber. */
  readonly changesAll: string;
  /** The change feed of one partition (src/changeFeed.ts). */
  changes(partition: number): string;
  /** Queue group shared by every node for the public request subjects. */
  readonly queue: string;
  peek(node: string): string;
  /** The node's Prometheus metrics, as text (actors/metrics.ts); answers any request. */
  metrics(node: string): string;
  /** A batch for this node to coordinate (a ring-aware client picks a node that holds the keys). */
  nodeBatch(node: string): string;
  /** Replica reads and writes addressed to one node (one subscription per node, not per partition). */
  replica(node: string): string;
  /** Puts forwarded to a node of the key's preference list (Dynamo §6.4). */
  coordinate(node: string): string;
  /** A node's own figures, gathered by whichever node answers `status`. */
  stats(node: string): string;
  /** Heartbeats of the failure detector. */
  ping(node: string): string;
  /** Replies to a node's batched replica requests: `<inbox(node)>.<batch number>`. */
  inbox(node: string): string;
  /** Test-only fault switches; subscribed only when faults are enabled on the node. */
  fault(node: string): string;
  /** Gossip of the membership view, and join requests to a seed. */
  membership(node: string): string;
  /** Partition transfers: pages of a partition's keys, and "is your copy complete?". */
  transfer(node: string): string;
  /** A key listing's scan of some partitions this node holds (actors/keyScan.ts). */
  keysScan(node: string): string;
  /** Anti-entropy: Merkle tree hashes, the keys of some buckets, version sets of some keys. */
  antiEntropy(node: string): string;
}

export function subjectsFor(cluster: string): Subjects {
  assertValidName('cluster', cluster);
  const root = `dkv.${cluster}`;
  const internal = `${root}.internal`;
  return {
    get: `${root}.get`,
    put: `${root}.put`,
    delete: `${root}.delete`,
    batch: `${root}.batch`,
    ring: `${root}.ring`,
    status: `${root}.status`,
    keys: `${root}.keys`,
    adminJoin: `${root}.admin.join`,
    adminLeave: `${root}.admin.leave`,
    queue: `dkv-${cluster}`,
    changesAll: `${root}.changes.>`,
    changes: (partition) => `${root}.changes.${partition}`,
    peek: (node) => `${root}.node.${node}.peek`,
    metrics: (node) => `${root}.node.${node}.metrics`,
    nodeBatch: (node) => `${root}.node.${node}.batch`,
    replica: (node) => `${internal}.${node}.replica`,
    coordinate: (node) => `${internal}.${node}.coordinate`,
    stats: (node) => `${internal}.${node}.stats`,
    fault: (node) => `${internal}.${node}.fault`,
    inbox: (node) => `${internal}.${node}.inbox`,
    ping: (node) => `${internal}.${node}.ping`,
    membership: (node) => `${internal}.${node}.membership`,
    transfer: (node) => `${internal}.${node}.transfer`,
    antiEntropy: (node) => `${internal}.${node}.ae`,
    keysScan: (node) => `${internal}.${node}.keys`,
  };
}
