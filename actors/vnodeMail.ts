/**
 * Operations for this node's own vnodes, held until the current run of synchronous work and its
 * microtasks is over, then run on each vnode in arrival order (vnode.ts `runInline`), so writes
 * to one key still apply in the order they came. Deferred rather than run at once so that an
 * operation never runs inside its sender's turn: a coordinator gets its local replica's answer
 * as a message of its own, never re-entrantly in the middle of handling another.
 */
import { NOT_HELD, runInline, type VnodeOp } from './vnode.ts';
import { refusal } from '../src/replicaResult.ts';

/**
 * Operations queued for one vnode within one turn. A turn's operations come from the messages
 * of that turn (a replica batch holds at most 256), so the bound is only reached by a flood; an
 * operation past it is answered `overloaded` and never applied.
 */
export const VNODE_MAIL_OPS_MAX = 4096;

export class VnodeMail {
  #queued = new Map<object, VnodeOp[]>();
  #scheduled = false;

  /** `run` applies a turn's operations to one vnode (vnode.ts runInline; a test passes its own). */
  constructor(private readonly run: (vnode: object, ops: VnodeOp[]) => void = runInline) {}

  /** `vnode` undefined: the partition is not held here (it just moved away); the op is refused. */
  send(vnode: object | undefined, op: VnodeOp): void {
    if (vnode === undefined) return op.reply(NOT_HELD);
    const list = this.#queued.get(vnode);
    if (list && list.length >= VNODE_MAIL_OPS_MAX) return op.reply({ ok: false, error: refusal('overloaded', `${VNODE_MAIL_OPS_MAX} operations already wait for this partition's vnode`) });
    if (list) list.push(op);
    else this.#queued.set(vnode, [op]);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const queued = this.#queued;
    this.#queued = new Map();
    for (const [vnode, ops] of queued) this.run(vnode, ops);
  };
}
