/**
 * The node as a NATS micro service (src/microService.ts): it answers the discovery subjects
 * `$SRV.PING|INFO|STATS[.dkv[.<node ID>]]`, without a queue group so that every node answers,
 * with its identity and the endpoints actors/serveClients.ts subscribed, counted there and in the
 * gateway. `nats micro ls dkv`, `nats micro info dkv <ID>` and `nats micro stats dkv` read them.
 */
import { readFileSync } from 'node:fs';
import { infoResponse, MICRO_SERVICE_NAME, microSubjects, pingResponse, statsResponse, type MicroEndpoint, type MicroIdentity, type MicroVerb } from '../src/microService.ts';
import type { Subscribe } from './subscriptions.ts';

/** dkv's own version, from its package.json: the `version` the discovery responses carry. */
export const DKV_VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

const encoder = new TextEncoder();

export function serveMicroService(deps: {
  readonly id: string;
  readonly cluster: string;
  /** Epoch milliseconds the node started at: `started` of STATS. */
  readonly startedAtMs: number;
  readonly subscribe: Subscribe;
  /** The endpoints served so far; read at each request, since the client subjects come with the ring. */
  readonly endpoints: readonly MicroEndpoint[];
}): void {
  const { id, cluster, startedAtMs, endpoints } = deps;
  const who: MicroIdentity = { name: MICRO_SERVICE_NAME, id, version: DKV_VERSION, metadata: { node: id, cluster } };
  const description = `dkv node ${id} of cluster ${cluster}: a Dynamo-style key-value store`;
  const ping = encoder.encode(JSON.stringify(pingResponse(who)));
  const answer: Record<MicroVerb, () => Uint8Array> = {
    PING: () => ping,
    INFO: () => encoder.encode(JSON.stringify(infoResponse(who, description, endpoints))),
    STATS: () => encoder.encode(JSON.stringify(statsResponse(who, startedAtMs, endpoints))),
  };
  for (const { verb, subject } of microSubjects(MICRO_SERVICE_NAME, id)) {
    deps.subscribe(subject, {
      callback: (err, msg) => {
        if (!err && msg.reply) msg.respond(answer[verb]());
      },
    });
  }
}
