/**
 * handoff: the hinted-handoff buffer of a node (Dynamo §4.6). When this node stands in for an
 * unreachable owner, the copy goes to a durable hint store of its own (a separate lmdb
 * environment under <data>/hints), tagged with the owner. Every round it hands a bounded batch
 * of hints to owners the failure detector sees up, and deletes a hint only after the owner
 * acknowledged it, and only if no newer copy arrived meanwhile. All hint-store writes go through
 * this actor's mailbox, which is what makes that check safe.
 *
 * Policy: reset (the state is the store plus counters rebuilt from it), within the node's
 * restart intensity; a lost request is answered as a failed replica.
 */
import nact from 'nact';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import { encodeInternal } from '../src/codec.ts';
import { sync } from '../src/dvvset.ts';
import { clockBytes, tooLargeToReplicate } from '../src/wire.ts';
import { HANDOFF_BATCH_MAX, HANDOFF_INTERVAL_MS, HINT_BYTES_MAX, hintKey, isStandInRecord, parseHintKey, STAND_IN_RECORDS_MAX, standInRecordKey } from '../src/hints.ts';
import { coordinateWrite, reconcile, type StoredClock, type StoredValue } from '../src/replica.ts';
import type { StorageEngine } from '../src/storage/engine.ts';
import { get as counterOf, type VersionVector } from '../src/versionVector.ts';
import type { StandInEpochs } from './identity.ts';
import type { Health } from './health.ts';
import type { Outbox } from './outbox.ts';
import { restartWithIntensity } from './supervision.ts';
import type { Reply } from './vnode.ts';

const DURABLE = { durable: true } as const;

export type HandoffMsg =
  /** `durable`: the hinted copies are fsynced before the reply (sync mode `one`'s durable replica, see src/writeCore.ts). */
  | { type: 'hint'; partition: number; key: string; owners: readonly string[]; clock: StoredClock; reply: Reply; durable?: boolean }
  | {
      type: 'coordinate';
      partition: number;
      key: string;
      owners: readonly string[];
      context: VersionVector | undefined;
      value: StoredValue;
      computed: (clock: StoredClock, actor: string) => void;
      reply: Reply;
      /** As for `hint`: this stand-in coordinates the durable copy. */
      durable?: boolean;
    }
  | { type: 'read'; partition: number; key: string; owners: readonly string[]; reply: Reply }
  | { type: 'tick' }
  | { type: 'delivered'; partition: number; stored: string; sent: Uint8Array; ok: boolean };

/**
 * The reply for a hint kept outside the quorum count (an owner that also keeps hints, or a node
 * keeping orphaned hints): nobody waits for it, so a refusal is only logged, where an operator
 * looks for a copy that an owner will not get back.
 */
export function hintLostLogger(log: Logger, key: string, owners: readonly string[], keeper: string): Reply {
  return (r) => {
    if (!r.ok) log.warn({ event: 'hint-lost', key, owners, keeper, error: r.error }, 'could not keep hints for unreachable owners');
  };
}

export interface HandoffDeps {
  readonly clock: Clock;
  readonly nodeId: string;
  /** The actor id of this node's stand-in writes (actors/identity.ts). */
  readonly standIn: StandInEpochs;
  readonly store: StorageEngine<StoredClock>;
  readonly q: number;
  readonly hintsMax: number;
  /** Bound of the hint backlog in estimated bytes (src/wire.ts clockBytes), beside the count. */
  readonly hintBytesMax?: number;
  readonly health: Health;
  readonly outbox: Outbox;
  replicaSubject(node: string): string;
  /** Where a hint kept for `owner` goes now: the owner while it replicates the partition, else its current replicas. */
  deliverTo(partition: number, owner: string): string[];
  readonly log: Logger;
  /** The largest version set a replica message can carry (src/wire.ts tooLargeToReplicate). */
  readonly versionSetBytesMax?: () => number;
  /** The share of a full delivery round the foreground leaves now (src/backgroundControl.ts). */
  readonly allowance?: () => number;
}

export interface HandoffFigures {
  hints: number;
  hintsMax: number;
  /** Estimated bytes of the hinted copies held, and their bound. */
  hintBytes: number;
  hintBytesMax: number;
  full: boolean;
  delivered: number;
  deliveryFailures: number;
  /** The current stand-in epoch, and the keys it keeps a record of. */
  standInEpoch: number;
  standInRecords: number;
}

export function spawnHandoff(parent: any, deps: HandoffDeps): { ref: any; figures: HandoffFigures; stop(): void } {
  const { store } = deps;
  const figures: HandoffFigures = { hints: 0, hintsMax: deps.hintsMax, hintBytes: 0, hintBytesMax: deps.hintBytesMax ?? HINT_BYTES_MAX, full: false, delivered: 0, deliveryFailures: 0, standInEpoch: deps.standIn.epoch, standInRecords: 0 };
  /** Hinted copies per owner, so a round is only scanned for when some hinted owner is up. */
  const byOwner = new Map<string, number>();
  const bump = (owner: string, by: number) => {
    const n = (byOwner.get(owner) ?? 0) + by;
    if (n > 0) byOwner.set(owner, n);
    else byOwner.delete(owner);
    figures.hints += by;
  };
  /** Drops every stand-in record: they belong to an epoch that will never write again. */
  const clearRecords = () => {
    for (let p = 0; p < deps.q; p++) {
      const stale = [...store.entries(p)].filter(([stored]) => isStandInRecord(stored)).map(([stored]) => stored);
      for (const stored of stale) void store.remove(p, stored).catch((err: Error) => deps.log.warn({ event: 'stand-in-record-remove-failed', err: err.message }, 'could not remove a stand-in record'));
    }
    figures.standInRecords = 0;
  };
  // Rebuilt from the store at start: hints survive a restart of this node. This start opened a
  // new stand-in epoch (actors/identity.ts), so the records of the last one go.
  clearRecords();
  for (let p = 0; p < deps.q; p++) {
    for (const [stored, clock] of store.entries(p)) {
      if (isStandInRecord(stored)) continue;
      bump(parseHintKey(stored).owner, 1);
      figures.hintBytes += clockBytes(clock);
    }
  }
  let roundInFlight = 0;
  let warnedFull = false;

  const newEpoch = (reason: string, key: string) => {
    const from = deps.standIn.actorId;
    const to = deps.standIn.next();
    clearRecords();
    figures.standInEpoch = deps.standIn.epoch;
    deps.log.info({ event: 'stand-in-epoch', from, to, reason, key }, `stand-in writes now version as ${to}: ${reason}`);
  };

  /**
   * A stand-in write (dvvset update as `standIn.actorId`) on the hinted copies merged with this
   * epoch's record of the key, which holds the counter it reached and the values it still holds
   * of its own, so a dot is never issued twice, also after the hints were handed off. Returns the
   * version set and the id it was versioned under (a new epoch may begin here), or a refusal.
   */
  const coordinate = (partition: number, key: string, owners: readonly string[], context: VersionVector | undefined, value: StoredValue): { next: StoredClock; actorId: string } | string => {
    const recordKey = standInRecordKey(key);
    let record = store.get(partition, recordKey);
    const known = record?.e.find((e) => e[0] === deps.standIn.actorId)?.[1] ?? 0;
    if (context !== undefined && counterOf(context, deps.standIn.actorId) > known) {
      // Only a lost record explains a client knowing more of this epoch than the record: never
      // build on it (kv679); a new epoch cannot collide.
      newEpoch('a context names dots of this epoch that its record lacks', key);
      record = undefined;
    } else if (record === undefined && figures.standInRecords >= STAND_IN_RECORDS_MAX) {
      newEpoch(`the epoch keeps records of ${STAND_IN_RECORDS_MAX} keys`, key);
    }
    const actorId = deps.standIn.actorId;
    const hinted = merged(partition, key, owners);
    const base = record === undefined ? hinted : hinted === undefined ? record : sync(hinted, record);
    const next = coordinateWrite(base, context, value, actorId, deps.clock.now());
    // Refused before the record moves: a write that was never made must not come back from it.
    const refusal = tooLargeToReplicate(next, deps.versionSetBytesMax?.());
    if (refusal !== undefined) return refusal;
    const own = next.e.find((e) => e[0] === actorId)!;
    if (record === undefined) figures.standInRecords++;
    void store.put(partition, recordKey, { e: [own], a: [] }).catch((err: Error) => deps.log.warn({ event: 'stand-in-record-write-failed', err: err.message }, 'could not write a stand-in record'));
    return { next, actorId };
  };

  const stage = (partition: number, key: string, owners: readonly string[], clock: StoredClock, durable = false): Promise<void> | string => {
    const writes = owners.map((o) => {
      const k = hintKey(o, key);
      const current = store.get(partition, k);
      const next = current ? sync(current, clock) : clock;
      return { owner: o, k, next, fresh: current === undefined, bytes: clockBytes(next) - (current ? clockBytes(current) : 0) };
    });
    const fresh = writes.filter((w) => w.fresh).length;
    const bytes = writes.reduce((sum, w) => sum + w.bytes, 0);
    if (figures.hints + fresh > deps.hintsMax || figures.hintBytes + bytes > figures.hintBytesMax) {
      figures.full = true;
      const held = `${figures.hints} of ${deps.hintsMax} copies, ${figures.hintBytes} of ${figures.hintBytesMax} bytes`;
      if (!warnedFull) {
        warnedFull = true;
        deps.log.warn({ event: 'hint-backlog-full', hints: figures.hints, hintsMax: deps.hintsMax, hintBytes: figures.hintBytes, hintBytesMax: figures.hintBytesMax }, `hint backlog full (${held}): refusing to stand in for unreachable owners`);
      }
      return `hint backlog of ${deps.nodeId} is full (${held})`;
    }
    for (const w of writes) if (w.fresh) bump(w.owner, 1);
    figures.hintBytes += bytes;
    return Promise.all(writes.map((w) => store.put(partition, w.k, w.next, durable ? DURABLE : undefined))).then(() => undefined);
  };

  const answer = (staged: Promise<void> | string, reply: Reply) => {
    if (typeof staged === 'string') return reply({ ok: false, error: staged });
    staged.then(
      () => reply({ ok: true, clock: null }),
      (err: Error) => reply({ ok: false, error: `hint store write failed: ${err.message}` }),
    );
  };

  const merged = (partition: number, key: string, owners: readonly string[]): StoredClock | undefined => {
    const found = owners.map((o) => store.get(partition, hintKey(o, key))).filter((c): c is StoredClock => c !== undefined);
    return found.length === 0 ? undefined : reconcile(found);
  };

  const deliverRound = (self: any) => {
    const batch: Array<{ partition: number; stored: string; owner: string; key: string; clock: StoredClock }> = [];
    // The foreground's share: a busy node delivers hints in smaller rounds (src/backgroundControl.ts).
    const batchMax = Math.max(1, Math.floor(HANDOFF_BATCH_MAX * (deps.allowance?.() ?? 1)));
    for (let p = 0; p < deps.q && batch.length < batchMax; p++) {
      for (const [stored, clock] of store.entries(p)) {
        if (isStandInRecord(stored)) continue;
        const { owner, key } = parseHintKey(stored);
        if (!deps.health.isUp(owner)) continue;
        batch.push({ partition: p, stored, owner, key, clock });
        if (batch.length >= batchMax) break;
      }
    }
    roundInFlight = batch.length;
    for (const h of batch) {
      const sent = encodeInternal(h.clock);
      // The ring may have moved the partition away from the owner the hint was kept for: the
      // copy then goes to the partition's replicas now, and is dropped once they all have it.
      const targets = deps.deliverTo(h.partition, h.owner);
      let pending = targets.length;
      let ok = pending > 0;
      if (pending === 0) nact.dispatch(self, { type: 'delivered', partition: h.partition, stored: h.stored, sent, ok: false });
      for (const target of targets) {
        deps.outbox.call(deps.replicaSubject(target), { op: 'replicate', p: h.partition, k: h.key, c: h.clock }, deps.clock.now() + 5_000, (r) => {
          if (!r.ok && r.unreachable) deps.health.observe(target, r.unreachable);
          ok &&= r.ok;
          if (--pending === 0) nact.dispatch(self, { type: 'delivered', partition: h.partition, stored: h.stored, sent, ok });
        });
      }
    }
  };

  const ref = nact.spawn(
    parent,
    (state: null, msg: HandoffMsg, ctx: any) => {
      switch (msg.type) {
        case 'hint':
          answer(stage(msg.partition, msg.key, msg.owners, msg.clock, msg.durable), msg.reply);
          break;
        case 'coordinate': {
          const made = coordinate(msg.partition, msg.key, msg.owners, msg.context, msg.value);
          if (typeof made === 'string') {
            msg.reply({ ok: false, error: made });
            break;
          }
          msg.computed(made.next, made.actorId);
          answer(stage(msg.partition, msg.key, msg.owners, made.next, msg.durable), msg.reply);
          break;
        }
        case 'read':
          msg.reply({ ok: true, clock: merged(msg.partition, msg.key, msg.owners) ?? null });
          break;
        case 'tick':
          if (roundInFlight === 0 && [...byOwner.keys()].some((o) => deps.health.isUp(o))) deliverRound(ctx.self);
          break;
        case 'delivered': {
          roundInFlight--;
          if (!msg.ok) {
            figures.deliveryFailures++;
            break;
          }
          const current = store.get(msg.partition, msg.stored);
          // A newer copy arrived while this one was in flight: keep it for the next round.
          if (current === undefined || !Buffer.from(encodeInternal(current)).equals(msg.sent)) break;
          bump(parseHintKey(msg.stored).owner, -1);
          figures.hintBytes = Math.max(0, figures.hintBytes - clockBytes(current));
          figures.delivered++;
          if (figures.hints < deps.hintsMax && figures.hintBytes < figures.hintBytesMax) {
            figures.full = false;
            warnedFull = false;
          }
          void store.remove(msg.partition, msg.stored);
          break;
        }
      }
      return state;
    },
    'handoff',
    {
      initialState: null,
      onCrash: restartWithIntensity<HandoffMsg>(deps.log, {
        now: () => deps.clock.now(),
        onMessageLost: (msg, err) => {
          if ('reply' in msg) msg.reply({ ok: false, error: `handoff crashed: ${(err as Error).message}` });
          if (msg.type === 'delivered') roundInFlight--;
        },
      }),
    },
  );
  const timer = deps.clock.setInterval(() => nact.dispatch(ref, { type: 'tick' }), HANDOFF_INTERVAL_MS);
  timer.unref?.();
  return { ref, figures, stop: () => deps.clock.clearInterval(timer) };
}
