/**
 * Asks every member for its own figures (`dkv.<cluster>.internal.<ID>.stats`), at once, each
 * within `timeoutMs`: a member that does not answer, or answers with figures that are not its
 * own, shows as unreachable with the reason (src/clusterStatus.ts joins the rest).
 */
import type { Transport as NatsConnection } from './transport.ts';
import { encodeInternal } from '../src/codec.ts';
import type { MemberFigures } from '../src/clusterStatus.ts';
import type { Subjects } from '../src/subjects.ts';
import { parseStats, WireError } from '../src/wire.ts';

export function gatherFigures(nc: NatsConnection, subjects: Subjects, members: readonly string[], timeoutMs: number): Promise<MemberFigures[]> {
  return Promise.all(
    members.map(async (m): Promise<MemberFigures> => {
      try {
        const reply = await nc.request(subjects.stats(m), encodeInternal({}), { timeout: timeoutMs });
        const figures = parseStats(reply.data);
        if (figures.node !== m) throw new WireError(`figures of ${String(figures.node)} came from ${m}'s subject`);
        return { ...figures, node: m, state: 'up' };
      } catch (err) {
        return { node: m, state: 'unreachable', reason: (err as Error).message };
      }
    }),
  );
}
