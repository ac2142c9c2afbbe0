/**
 * Key listing's coordinator (`dkv.<cluster>.keys`): any node answers, in the client queue group.
 * For one page it asks each partition of one live replica, grouped by node (src/keyListing.ts
 * coveringPlan; itself first, since its own scan needs no round trip), each node once, for the
 * first `limit` live keys of its partitions; the pages are merged into one.
 *
 * A node that does not answer (down, overloaded, too slow, a malformed reply), or answers that it
 * holds no complete copy of some partitions (a transfer under way), has those partitions asked
 * of another replica in the next round; a partition no replica is left for fails the page as
 * `unavailable`, with how many partitions could not be covered: never a silently short page.
 *
 * At most LISTINGS_IN_PROGRESS_MAX pages are coordinated at once here; past that, overloaded.
 */
import type { Logger } from 'pino';
import { encodeInternal } from '../src/codec.ts';
import { DkvError, errorReply, isNoResponders } from '../src/errors.ts';
import { coveringPlan, mergePages, type KeysPage } from '../src/keyListing.ts';
import { parseKeys, parseNodeKeysReply, type KeysRequest, type NodeKeysReply, type NodeKeysRequest } from '../src/keysProtocol.ts';
import type { Limits } from '../src/protocol.ts';
import type { Ring } from '../src/ring.ts';
import type { Subjects } from '../src/subjects.ts';
import type { WireLimits } from '../src/wire.ts';
import type { EndpointTally } from '../src/microService.ts';
import type { Clock } from './clock.ts';
import { jsonResponder } from './gateway.ts';
import type { KeyScan } from './keyScan.ts';
import type { Outbox } from './outbox.ts';
import type { Transport, TransportMsg } from './transport.ts';

/** Pages coordinated at once by this node. */
export const LISTINGS_IN_PROGRESS_MAX = 8;
/**
 * How long a peer has to answer its part of a page. A scan is at most
 * SCAN_ENTRIES_PER_REQUEST_MAX entries (tens of milliseconds); two rounds fit in one of the
 * client library's attempts (half its 10 s deadline).
 */
export const NODE_KEYS_TIMEOUT_MS = 1500;

export interface KeyListingDeps {
  readonly id: string;
  readonly n: number;
  readonly clock: Clock;
  readonly limits: Limits;
  readonly wireLimits: WireLimits;
  readonly subjects: Subjects;
  readonly nc: Transport;
  readonly outbox: Outbox;
  readonly scanner: KeyScan;
  readonly log: Logger;
  ring(): Ring | undefined;
  isUp(node: string): boolean;
}

export interface KeyListing {
  handle(msg: TransportMsg, tally?: EndpointTally): void;
  readonly figures: { listings: number; fallbacks: number; unavailable: number };
}

export function keyListing(deps: KeyListingDeps): KeyListing {
  const figures = { listings: 0, fallbacks: 0, unavailable: 0 };
  let inProgress = 0;

  const askNode = async (node: string, req: NodeKeysRequest): Promise<NodeKeysReply> => {
    if (node === deps.id) return deps.scanner.scan(req);
    const reply = await deps.nc.request(deps.subjects.keysScan(node), encodeInternal(req), { timeout: NODE_KEYS_TIMEOUT_MS });
    return parseNodeKeysReply(reply.data, req, deps.wireLimits);
  };

  const page = async (req: KeysRequest): Promise<KeysPage> => {
    const ring = deps.ring();
    if (!ring) throw new DkvError('unavailable', `${deps.id} has no ring yet`);
    const tried = new Map<number, Set<string>>();
    const failedNodes = new Set<string>();
    const pages: KeysPage[] = [];
    let pending = Array.from({ length: ring.q }, (_, p) => p);
    let uncovered: number[] = [];
    // Each round tries a new replica for every partition still pending: at most n rounds.
    for (let round = 0; round < deps.n && pending.length > 0; round++) {
      const plan = coveringPlan(ring, deps.n, deps.id, (node) => deps.isUp(node) && !failedNodes.has(node), pending, (p, node) => tried.get(p)?.has(node) ?? false);
      uncovered.push(...plan.uncovered);
      const next: number[] = [];
      await Promise.all(
        [...plan.byNode].map(async ([node, ps]) => {
          for (const p of ps) {
            let t = tried.get(p);
            if (!t) tried.set(p, (t = new Set()));
            t.add(node);
          }
          try {
            const reply = await askNode(node, { ...req, ps });
            pages.push({ keys: reply.keys, next: reply.next });
            next.push(...reply.refused);
          } catch (err) {
            failedNodes.add(node);
            next.push(...ps);
            figures.fallbacks++;
            deps.log.debug({ event: 'keys-node-failed', node, partitions: ps.length, err: (err as Error).message, noResponders: isNoResponders(err) }, `key listing: ${node} did not answer for ${ps.length} partitions`);
          }
        }),
      );
      pending = next;
    }
    uncovered = [...new Set([...uncovered, ...pending])];
    if (uncovered.length > 0) {
      figures.unavailable++;
      throw new DkvError('unavailable', `${uncovered.length} of ${ring.q} partitions could not be covered: no live replica of them answered (tried ${[...failedNodes].join(', ') || 'none'} without an answer)`);
    }
    return mergePages(pages, req.limit);
  };

  const handle = (msg: TransportMsg, tally?: EndpointTally): void => {
    const respond = jsonResponder(msg, deps.outbox, tally, deps.clock);
    let req: KeysRequest;
    try {
      req = parseKeys(msg.data, deps.limits);
    } catch (err) {
      return respond(errorReply(err));
    }
    if (inProgress >= LISTINGS_IN_PROGRESS_MAX) return respond(errorReply(new DkvError('overloaded', `${deps.id} is coordinating ${inProgress} key listings, at most ${LISTINGS_IN_PROGRESS_MAX}; back off and retry`)));
    inProgress++;
    figures.listings++;
    page(req)
      .then((p) => respond({ keys: p.keys, next: p.next }), (err) => respond(errorReply(err)))
      .finally(() => inProgress--);
  };

  return { handle, figures };
}
