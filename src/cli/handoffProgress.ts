/**
 * The progress of a join or a leave as `dkv join|leave ID --wait` shows it: from successive
 * `status` replies, the keys moved since the wait began, the partitions still moving, the rate and
 * the time to go, and when the change is done. Pure: the caller polls and passes the time.
 */

export interface HandoffGoal {
  readonly kind: 'join' | 'leave';
  readonly node: string;
}

/** What the wait remembers between polls. */
export interface HandoffWatch {
  readonly goal: HandoffGoal;
  readonly startedMs: number;
  /** Keys every member had received when the wait began (transfer figures only grow). */
  readonly keysAtStart: number;
  /** The most partitions seen moving at once: the whole of the work, as far as anyone can tell. */
  partitionsMax: number;
}

export interface HandoffProgress {
  readonly keysMoved: number;
  readonly partitionsLeft: number;
  /** 0..1, by partitions. */
  readonly fraction: number;
  readonly keysPerSecond: number;
  /** Undefined while there is no rate to go by. */
  readonly secondsToGo: number | undefined;
  readonly done: boolean;
  /** Why it is not done yet, in a few words. */
  readonly waitingFor: string;
}

interface StatusLike {
  members?: Array<{ node?: string; inRing?: boolean; state?: string; transfer?: { keysReceived?: number }; membership?: { ringVersion?: number } }>;
  transfers?: unknown[];
  ring?: { version?: number };
}

/**
 * Members that answered but hold another ring than the one status was answered from: `inRing`
 * is the answering node's view, and a member still on an older ring would answer otherwise.
 */
function behind(s: StatusLike): string[] {
  const version = s.ring?.version;
  return (s.members ?? []).filter((m) => m.state === 'up' && typeof m.membership?.ringVersion === 'number' && m.membership.ringVersion !== version).map((m) => String(m.node));
}

function keysReceived(status: StatusLike): number {
  return (status.members ?? []).reduce((sum, m) => sum + (typeof m.transfer?.keysReceived === 'number' ? m.transfer.keysReceived : 0), 0);
}

export function watchHandoff(goal: HandoffGoal, status: unknown, nowMs: number): HandoffWatch {
  return { goal, startedMs: nowMs, keysAtStart: keysReceived(status as StatusLike), partitionsMax: 0 };
}

export function handoffProgress(watch: HandoffWatch, status: unknown, nowMs: number): HandoffProgress {
  const s = status as StatusLike;
  const partitionsLeft = Array.isArray(s.transfers) ? s.transfers.length : 0;
  watch.partitionsMax = Math.max(watch.partitionsMax, partitionsLeft);
  // A member that left (or restarted) takes its counts with it: never show keys moving backwards.
  const keysMoved = Math.max(0, keysReceived(s) - watch.keysAtStart);
  const elapsedS = Math.max(0.001, (nowMs - watch.startedMs) / 1000);
  const keysPerSecond = keysMoved / elapsedS;
  const partitionsDone = watch.partitionsMax - partitionsLeft;
  const fraction = watch.partitionsMax === 0 ? 0 : partitionsDone / watch.partitionsMax;
  const secondsToGo = partitionsDone > 0 ? (partitionsLeft * elapsedS) / partitionsDone : undefined;
  const member = (s.members ?? []).find((m) => m.node === watch.goal.node);
  const inRing = member?.inRing === true;
  let waitingFor = '';
  if (watch.goal.kind === 'join' && !inRing) waitingFor = `${watch.goal.node} to enter the ring`;
  else if (watch.goal.kind === 'leave' && inRing) waitingFor = `${watch.goal.node} to leave the ring`;
  else if (partitionsLeft > 0) waitingFor = `${partitionsLeft} partitions to move`;
  else if (behind(s).length > 0) waitingFor = `${behind(s).join(', ')} to learn the new ring`;
  const done = waitingFor === '';
  return { keysMoved, partitionsLeft, fraction: done ? 1 : fraction, keysPerSecond, secondsToGo: done ? 0 : secondsToGo, done, waitingFor };
}

const BAR_CELLS = 24;

function seconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '?';
  return s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`;
}

/** One line: a bar on a terminal, plain words elsewhere (a log file, a CI job). */
export function renderProgress(p: HandoffProgress, terminal: boolean): string {
  const figures = `${p.keysMoved.toLocaleString('en-US')} keys moved, ${p.partitionsLeft} partitions left, ${Math.round(p.keysPerSecond).toLocaleString('en-US')} keys/s`;
  if (p.done) return `done: ${figures.replace(/, \d+ partitions left/, '')}`;
  const eta = `~${seconds(p.secondsToGo)} to go`;
  if (!terminal) return `${Math.round(p.fraction * 100)}%: ${figures}, ${eta} (waiting for ${p.waitingFor})`;
  const filled = Math.round(p.fraction * BAR_CELLS);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_CELLS - filled)}] ${String(Math.round(p.fraction * 100)).padStart(3)}%  ${figures}, ${eta}`;
}
