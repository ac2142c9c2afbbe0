/**
 * The outbox holds a turn's replica batches in a Map it empties every turn. A batch answered
 * must be garbage for the next scavenge: one kept alive until a full GC (V8 links a cleared
 * Map's old table, entries and all, to its new one) promoted every turn's batches, and the
 * coordinators their callbacks hold, 2 MB per scavenge on workload C. Measured here as the
 * old space's growth over many turns, on a real nats-server, with V8's own minor GC.
 */
import test from 'ava';
import v8 from 'node:v8';
import vm from 'node:vm';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../src/cli/natsServer.ts';
import { Outbox } from '../actors/outbox.ts';
import { decodeInternal, encodeInternal } from '../src/codec.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as (opts?: { type: 'minor' | 'major' }) => void;
const oldSpaceBytes = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;

const TURNS = 300;
/** Each turn's callback holds this many doubles (64 KB): 300 turns kept would be about 19 MB. */
const PAYLOAD_DOUBLES = 8_000;

test('outbox memory - a turn of answered batches is not kept past the next scavenge', async (t) => {
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  nc.subscribe('peer.x', {
    callback: (_err, msg) => {
      const { ops } = decodeInternal<{ ops: unknown[] }>(msg.data);
      msg.respond(encodeInternal({ results: ops.map(() => ({ ok: true, clock: null })) }));
    },
  });
  await nc.flush();
  const outbox = new Outbox(nc, '_test.outbox');
  t.teardown(() => outbox.close());
  const turn = (round: number) =>
    new Promise<number>((resolve) => {
      const payload = new Array<number>(PAYLOAD_DOUBLES).fill(round + 0.5);
      outbox.call('peer.x', { op: 'read', p: 0, k: `k${round}` }, Date.now() + 5_000, () => resolve(payload.length));
      outbox.flush();
    });
  // The outbox and its Map are old by the time it serves: as in a node that has run a while.
  await turn(-1);
  gc();
  gc();
  const before = oldSpaceBytes();
  let held = 0;
  for (let round = 0; round < TURNS; round++) {
    held += await turn(round);
    if (round % 25 === 24) gc({ type: 'minor' });
  }
  gc({ type: 'minor' });
  gc({ type: 'minor' });
  const grewMb = (oldSpaceBytes() - before) / 1e6;
  t.is(held, TURNS * PAYLOAD_DOUBLES);
  t.true(grewMb < 4, `old space grew by ${grewMb.toFixed(1)} MB over ${TURNS} turns of about 64 KB each`);
  t.log(`old space grew by ${grewMb.toFixed(2)} MB over ${TURNS} turns`);
});
