/**
 * membership: one per node. Holds this node's membership view (src/membership.ts), gossips it to
 * one random peer per round, and to a configured seed when that peer was none (push-pull: the
 * peer merges and answers with its merged view),
 * persists it so a restart resumes it, applies explicit changes (join, leave) and tells the node
 * when the view changed. Every node runs the same rules on the same converging view: the claimant
 * (lowest valid member) commits staged joins and leaves; a joiner marks itself valid once it holds
 * every partition it replicates; a leaver marks itself exited once it holds none.
 *
 * Policy: reset within the node's restart intensity. The state is reloaded from the persisted
 * view, so a reset loses at most a change not yet gossiped, which the requester retries.
 */
import nact from 'nact';
import { readStateFile, StateFileError } from './stateFiles.ts';
import { writeJsonAtomic } from '../src/storage/jsonFile.ts';
import { join } from 'node:path';
import type { Transport as NatsConnection } from './transport.ts';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import { decodeInternal, encodeInternal } from '../src/codec.ts';
import { DkvError, errorReply } from '../src/errors.ts';
import {
  applyChange,
  claimantOf,
  decodeView,
  equalViews,
  initialView,
  memberOf,
  merge,
  pendingChanges,
  qOf,
  type Change,
  type View,
} from '../src/membership.ts';
import * as VV from '../src/versionVector.ts';
import type { Subjects } from '../src/subjects.ts';
import { restartWithIntensity } from './supervision.ts';

export const GOSSIP_INTERVAL_MS = 1000;
const GOSSIP_TIMEOUT_MS = 1000;
const VIEW_FILE = 'membership.json';

/** How the node came to be in a cluster, when there is no persisted view. */
export type Start = { kind: 'members'; members: readonly string[] } | { kind: 'join'; seed: string } | { kind: 'wait' };

type Incoming = { type: 'gossip'; view: unknown } | { type: 'join'; node: string };

type MembershipMsg =
  | { type: 'tick' }
  | { type: 'incoming'; body: Incoming; respond: (body: object) => void }
  | { type: 'merge'; view: unknown; from: string }
  | { type: 'change'; change: Change; reply: (err: DkvError | undefined) => void };

export interface MembershipFigures {
  /** Gossip rounds (ticks) since this node started. */
  rounds: number;
  /** The round at which this node last learned a different view. */
  changedAtRound: number;
  /** The round at which this node last learned a different ring. */
  ringChangedAtRound: number;
  ringVersion: number;
  gossipSent: number;
  gossipReceived: number;
  gossipFailed: number;
}

export interface MembershipDeps {
  readonly clock: Clock;
  /** Uniform in [0, 1): which peer to gossip with. */
  random(): number;
  readonly nodeId: string;
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly log: Logger;
  readonly dataDir: string;
  /** The view the node's start read from dataDir (undefined: none there), so the first start does not read it again; a reset reads the disk. */
  readonly persistedView: View | undefined;
  readonly q: number;
  readonly n: number;
  readonly start: Start;
  readonly gossipIntervalMs?: number;
  isUp(node: string): boolean;
  /** Changes this node owes the view now (mark itself valid or exited), from its own state. */
  ownChanges(view: View): Change[];
  /** Called once per distinct view, after it is persisted. */
  onView(view: View): void;
  /** This node has handed everything over and its exit is gossiped: the process may stop. */
  onExited(): void;
}

export interface Membership {
  readonly ref: any;
  readonly figures: MembershipFigures;
  view(): View | undefined;
  /** Applies an explicit change here (validated); gossip spreads it. */
  change(change: Change): Promise<void>;
  incoming(body: Incoming, respond: (body: object) => void): void;
  stop(): void;
}

interface State {
  readonly view: View | undefined;
}

const VIEW_REMEDY = 'move it away and start the node again: it takes the view from its --members list and its peers\' gossip';

/** The persisted view; undefined on a first start; a StateFileError when it is there but unreadable. */
export function loadView(dataDir: string): View | undefined {
  const file = join(dataDir, VIEW_FILE);
  const raw = readStateFile(file, VIEW_REMEDY);
  if (raw === undefined) return undefined;
  try {
    return decodeView(raw);
  } catch (err) {
    throw new StateFileError(file, (err as Error).message, VIEW_REMEDY);
  }
}

export function spawnMembership(parent: any, deps: MembershipDeps): Membership {
  const { nodeId, log } = deps;
  const figures: MembershipFigures = { rounds: 0, changedAtRound: 0, ringChangedAtRound: 0, ringVersion: -1, gossipSent: 0, gossipReceived: 0, gossipFailed: 0 };
  let current: View | undefined;
  let exited = false;
  /** The nodes named in this node's configuration (its member list, or the seed it joins through). */
  const configuredSeeds: readonly string[] = (deps.start.kind === 'members' ? deps.start.members : deps.start.kind === 'join' ? [deps.start.seed] : []).filter((x) => x !== nodeId);

  /** Every view change goes through here: persisted before anyone acts on it. */
  const adopt = (before: View | undefined, after: View, why: string): View => {
    if (before !== undefined && (before === after || equalViews(before, after))) return before;
    writeJsonAtomic(join(deps.dataDir, VIEW_FILE), after);
    current = after;
    figures.changedAtRound = figures.rounds;
    if (after.ring.version !== figures.ringVersion) {
      log.info(
        { event: 'ring-changed', ringVersion: after.ring.version, nodes: after.ring.nodes, history: after.ring.history.slice(-3), round: figures.rounds, why },
        `ring version ${after.ring.version}: ${after.ring.nodes.join(',')}`,
      );
      figures.ringVersion = after.ring.version;
      figures.ringChangedAtRound = figures.rounds;
    }
    deps.onView(after);
    return after;
  };

  // The start's own reading serves the first state only: after a reset, the disk is what counts.
  let first = true;
  const initial = (): State => {
    const persisted = first ? deps.persistedView : loadView(deps.dataDir);
    first = false;
    if (persisted !== undefined) {
      if (qOf(persisted) !== deps.q) throw new Error(`persisted membership has Q=${qOf(persisted)}, this node is configured with Q=${deps.q}`);
      log.info({ event: 'membership-resumed', ringVersion: persisted.ring.version, members: persisted.members.length }, 'membership view resumed from disk');
      return { view: adopt(undefined, persisted, 'resumed') };
    }
    if (deps.start.kind === 'members') return { view: adopt(undefined, initialView(deps.start.members, deps.q), 'static member list') };
    return { view: undefined };
  };

  const peersOf = (view: View): string[] =>
    view.members.filter((m) => m.node !== nodeId && m.status !== 'removed').map((m) => m.node);

  const send = (peer: string, body: Incoming): void => {
    figures.gossipSent++;
    deps.nc.request(deps.subjects.membership(peer), encodeInternal(body), { timeout: GOSSIP_TIMEOUT_MS }).then(
      (reply) => {
        let answer: { view?: unknown } | null;
        try {
          answer = decodeInternal<{ view?: unknown } | null>(reply.data);
        } catch {
          figures.gossipFailed++; // an undecodable answer: a throw here would be an unhandled rejection
          return;
        }
        if (answer?.view !== undefined) nact.dispatch(ref, { type: 'merge', view: answer.view, from: peer });
      },
      () => void figures.gossipFailed++,
    );
  };

  /** The claimant's and this node's own duties; each is a no-op once done, so retries are free. */
  const duties = (view: View): View => {
    let next = view;
    const apply = (change: Change) => {
      try {
        next = applyChange(next, change, nodeId);
      } catch (err) {
        log.warn({ event: 'membership-change-refused', change, err: (err as Error).message }, 'membership change refused');
      }
    };
    for (const change of deps.ownChanges(next)) apply(change);
    if (claimantOf(next, deps.isUp) === nodeId) {
      if (pendingChanges(next).length > 0) apply({ kind: 'commit' });
      for (const m of next.members) if (m.status === 'exiting' && !deps.isUp(m.node)) apply({ kind: 'markRemoved', node: m.node });
    }
    return next;
  };

  const afterChange = (before: View | undefined, after: View): void => {
    const me = memberOf(after, nodeId);
    if (me?.status === 'exiting' && before !== undefined && memberOf(before, nodeId)?.status !== 'exiting' && !exited) {
      exited = true;
      // Everyone should hear it from this node before it goes: then nobody waits on it.
      for (const peer of peersOf(after)) send(peer, { type: 'gossip', view: after });
      log.info({ event: 'node-left', ringVersion: after.ring.version }, `node ${nodeId} handed over every partition and left the ring`);
      deps.clock.setTimeout(() => deps.onExited(), GOSSIP_TIMEOUT_MS).unref?.();
    }
  };

  const behaviour = (state: State, msg: MembershipMsg): State => {
    const before = state.view;
    switch (msg.type) {
      case 'tick': {
        figures.rounds++;
        if (before === undefined) {
          if (deps.start.kind === 'join') send(deps.start.seed, { type: 'join', node: nodeId });
          return state;
        }
        const after = adopt(before, duties(before), 'duties');
        afterChange(before, after);
        const peers = peersOf(after);
        if (peers.length > 0) {
          const peer = peers[Math.floor(deps.random() * peers.length)]!;
          send(peer, { type: 'gossip', view: after });
          // Cassandra's rule: a round that did not reach a seed also tells one, so every node's
          // view meets the seeds' often and no group of nodes can drift apart logically.
          const seeds = configuredSeeds.filter((x) => peers.includes(x));
          if (seeds.length > 0 && !seeds.includes(peer)) send(seeds[Math.floor(deps.random() * seeds.length)]!, { type: 'gossip', view: after });
        } else if (deps.start.kind === 'join' && memberOf(after, nodeId) === undefined) send(deps.start.seed, { type: 'join', node: nodeId });
        return { view: after };
      }
      case 'merge': {
        const theirs = checked(msg.view);
        if (theirs === undefined) return state;
        if (before === undefined && memberOf(theirs, nodeId) === undefined) return state; // not (yet) ours
        const after = adopt(before, before === undefined ? theirs : merge(before, theirs), `gossip from ${msg.from}`);
        afterChange(before, after);
        return { view: after };
      }
      case 'incoming': {
        figures.gossipReceived++;
        const body = msg.body;
        if (body.type === 'join') {
          if (before === undefined) return void msg.respond(errorReply(new DkvError('unavailable', `${nodeId} is not in a cluster yet`))), state;
          let after = before;
          try {
            after = applyChange(before, { kind: 'join', node: body.node }, nodeId);
          } catch (err) {
            msg.respond(errorReply(err));
            return state;
          }
          after = adopt(before, after, `join request from ${body.node}`);
          if (after !== before) log.info({ event: 'join-staged', node: body.node }, `${body.node} asked to join; staged`);
          msg.respond({ view: after });
          pushToClaimant(after);
          return { view: after };
        }
        const theirs = checked(body.view);
        if (theirs === undefined) return void msg.respond(errorReply(new DkvError('bad_request', 'invalid membership view'))), state;
        if (before === undefined) {
          if (memberOf(theirs, nodeId) === undefined) return void msg.respond({}), state;
          const adopted = adopt(undefined, theirs, 'first view');
          msg.respond({ view: adopted });
          return { view: adopted };
        }
        const after = adopt(before, merge(before, theirs), 'gossip');
        afterChange(before, after);
        // Push-pull: the sender learns what only this node knew. Nothing to send when it knows it all.
        msg.respond(VV.descends(theirs.vv, after.vv) ? {} : { view: after });
        return { view: after };
      }
      case 'change': {
        if (before === undefined) {
          msg.reply(new DkvError('unavailable', `${nodeId} is not in a cluster yet`));
          return state;
        }
        let after: View;
        try {
          after = applyChange(before, msg.change, nodeId);
        } catch (err) {
          msg.reply(err instanceof DkvError ? err : new DkvError('internal', (err as Error).message));
          return state;
        }
        after = adopt(before, after, `change ${msg.change.kind}`);
        log.info({ event: 'membership-change', change: msg.change }, `membership change ${msg.change.kind} ${'node' in msg.change ? msg.change.node : ''}`);
        msg.reply(undefined);
        pushToClaimant(after);
        afterChange(before, after);
        return { view: after };
      }
    }
  };

  const checked = (raw: unknown): View | undefined => {
    try {
      const view = decodeView(raw);
      if (qOf(view) !== deps.q) throw new DkvError('bad_request', `view has Q=${qOf(view)}, expected ${deps.q}`);
      return view;
    } catch (err) {
      log.warn({ event: 'gossip-refused', err: (err as Error).message }, 'refused a membership view');
      return undefined;
    }
  };

  /** A staged change waits for the claimant's next round; telling it now saves a few rounds. */
  const pushToClaimant = (view: View) => {
    const claimant = claimantOf(view, deps.isUp);
    if (claimant !== undefined && claimant !== nodeId) send(claimant, { type: 'gossip', view });
  };

  const ref = nact.spawn(parent, behaviour, 'membership', {
    initialState: undefined as unknown as State,
    initialStateFunc: () => initial(),
    onCrash: restartWithIntensity<MembershipMsg>(log, {
      now: () => deps.clock.now(),
      onMessageLost: (msg, err) => {
        if (msg.type === 'change') msg.reply(new DkvError('internal', `membership crashed: ${(err as Error).message}`));
        if (msg.type === 'incoming') msg.respond(errorReply(new DkvError('internal', `membership crashed: ${(err as Error).message}`)));
      },
    }),
  } as any);
  const timer = deps.clock.setInterval(() => nact.dispatch(ref, { type: 'tick' }), deps.gossipIntervalMs ?? GOSSIP_INTERVAL_MS);
  timer.unref?.();

  return {
    ref,
    figures,
    view: () => current,
    change: (change) =>
      new Promise((resolve, reject) => nact.dispatch(ref, { type: 'change', change, reply: (err) => (err ? reject(err) : resolve()) })),
    incoming: (body, respond) => nact.dispatch(ref, { type: 'incoming', body, respond }),
    stop: () => deps.clock.clearInterval(timer),
  };
}
