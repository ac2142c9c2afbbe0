/**
 * Operations for this node's own vnodes, held until the current run of synchronous work and its
 * microtasks is over, then run on each vnode in arrival order (vnode.ts `runInline`), so writes
 * to one key still apply in the order they came. Deferred rather than run at once so that an
 * operation never runs inside its sender's turn: a coordinator gets its local replica's answer
 * as a message of its own, never re-entrantly in the middle of handling another.
 */
import { NOT_HELD, runInline, type VnodeOp } from './vnode.ts';

export class VnodeMail {
  #queued = new Map<object, VnodeOp[]>();
  #scheduled = false;

  /** `vnode` undefined: the partition is not held here (it just moved away); the op is refused. */
  send(vnode: object | undefined, op: VnodeOp): void {
    if (vnode === undefined) return op.reply(NOT_HELD);
    const list = this.#queued.get(vnode);
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
    for (const [vnode, ops] of queued) runInline(vnode, ops);
  };
}
