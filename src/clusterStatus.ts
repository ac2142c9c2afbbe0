/**
 * The cluster-wide `status` reply (DESIGN.md §3, README "Status figures"): every member's own
 * figures, as gathered by the answering node (actors/figures.ts), joined with what the view and
 * the ring say of it, and the transfers of the whole cluster. Pure.
 */
import type { ClusterSettings } from './config.ts';
import { memberOf, type View } from './membership.ts';
import { ownedCounts, type Ring } from './ring.ts';

/** A member's figures as it reported them (`state: 'up'`), or why it did not (`unreachable`). */
export type MemberFigures = { node: string; state: 'up' | 'unreachable'; reason?: string; transfers?: unknown; [field: string]: unknown };

export function clusterStatus(settings: ClusterSettings, answeredBy: string, view: View, ring: Ring, figures: readonly MemberFigures[]): object {
  const owned = ownedCounts(ring.assignment);
  return {
    cluster: settings.cluster,
    answeredBy,
    settings: { n: settings.n, r: settings.r, w: settings.w, q: settings.q },
    members: figures.map((s) => {
      const m = memberOf(view, s.node);
      return { ...s, status: m?.status, inRing: view.ring.nodes.includes(s.node), downMarked: m?.downMarked, partitionsOwned: owned.get(s.node) ?? 0 };
    }),
    ring: { q: settings.q, version: view.ring.version, nodes: view.ring.nodes, owners: ring.assignment, history: view.ring.history.slice(-10) },
    transfers: figures.flatMap((s) => (Array.isArray(s.transfers) ? s.transfers.map((t: object) => ({ node: s.node, ...t })) : [])),
  };
}

/**
 * Whether a `status` reply shows a settled cluster: every member up and no partition still being
 * received (a new cluster settles that nobody has data to pull within a second or so). Tests and
 * the benchmark start from there.
 */
export function isSettled(status: unknown): boolean {
  const s = status as { members?: unknown; transfers?: unknown } | null;
  return Array.isArray(s?.members) && s.members.every((m: { state?: unknown }) => m?.state === 'up') && Array.isArray(s.transfers) && s.transfers.length === 0;
}
