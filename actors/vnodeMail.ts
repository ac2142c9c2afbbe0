/**
 * Operations for this node's own vnodes, coalesced per vnode until the current run of
 * synchronous work and its microtasks is over. A nact mailbox takes one message per event-loop
 * turn, so twenty coordinators started by one socket read, each sending one operation to the
 * same vnode, would cost that vnode twenty turns; sent as one `many` message they cost one.
 * Order per vnode is arrival order, so writes to one key still apply in the order they came.
 */
import nact from 'nact';
import type { VnodeOp } from './vnode.ts';

export class VnodeMail {
  #queued = new Map<object, VnodeOp[]>();
  #scheduled = false;

  /** `vnode` undefined: the partition is not held here (it just moved away); the op is refused. */
  send(vnode: object | undefined, op: VnodeOp): void {
    if (vnode === undefined) return op.reply({ ok: false, error: 'partition not held by this node' });
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
    for (const [vnode, ops] of queued) nact.dispatch(vnode, ops.length === 1 ? ops[0]! : { type: 'many', ops });
  };
}
