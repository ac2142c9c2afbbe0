/**
 * A conditional put or delete (`"if"`, src/conditions.ts): a quorum read of the key at the
 * write's W, the condition decided on its answer, then the write, with the context the decision
 * gives. Two coordinators in a row rather than a new kind: each keeps its own rules (sloppy
 * quorum, retries, read repair, hints), and the read's repair brings the replicas the write goes
 * to up to date first. A write sent on by another node (`forwarded`) was checked where it came in.
 */
import { checkCondition } from '../src/conditions.ts';
import { errorReply } from '../src/errors.ts';
import { spawnCoordinator, type CoordinatorDeps, type Job, type Respond } from './coordinator.ts';

export function spawnRequest(parentPath: string, deps: CoordinatorDeps, job: Job, respond: Respond): void {
  if (job.kind === 'get' || job.forwarded || job.req.condition === undefined) return spawnCoordinator(parentPath, deps, job, respond);
  const req = job.req;
  const condition = req.condition!;
  const read: Job = { kind: 'get', req: { key: req.key, r: req.w ?? deps.settings.w, encoding: req.encoding }, clientDeadlineMs: job.clientDeadlineMs };
  spawnCoordinator(parentPath, deps, read, (answer) => {
    try {
      const verdict = checkCondition(condition, req.context, answer);
      if (!verdict.ok) return respond(verdict.reply);
      spawnCoordinator(parentPath, deps, { ...job, req: { ...req, context: verdict.context } }, respond);
    } catch (err) {
      respond(errorReply(err));
    }
  });
}
