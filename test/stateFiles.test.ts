/**
 * The state files beside a node's stores: one that is there but unreadable stops the node with a
 * fatal line and the way back, instead of being taken as absent.
 */
import test from 'ava';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

for (const [file, junk] of [
  ['partitions.json', '[{"partition": 1, "state": "compl'],
  ['membership.json', '{"members": "not a list"}'],
] as const) {
  test(`state files - an unreadable ${file} stops the node with a fatal line; moved away, the node serves again`, async (t) => {
    const cluster = await TestCluster.start({ nodes: 3 });
    t.teardown(() => cluster.stop());
    await cluster.client.put(`state-${file}`, 'kept', { w: 3 });
    const n2 = cluster.node('n2');
    await n2.stop();
    writeFileSync(join(cluster.dir, 'n2', file), junk);
    const logsBefore = n2.logs.length;
    await t.throwsAsync(() => n2.start(), { message: /exited during start \(1\)/ });
    await waitFor('the fatal line and the error', () => n2.logs.slice(logsBefore).some((l) => l.event === 'state-file-unreadable') && /move it away/.test(n2.stderr.join('')), { timeoutMs: 5_000, intervalMs: 20 }).catch(() => undefined);
    const fatal = n2.logs.slice(logsBefore).find((l) => l.event === 'state-file-unreadable');
    t.truthy(fatal, 'a state-file-unreadable line');
    t.is(fatal.level, 60);
    t.is(fatal.file, join(cluster.dir, 'n2', file));
    t.regex(n2.stderr.join(''), new RegExp(`error: .*${file.replace('.', '\\.')} is unreadable \\(.*\\); move it away and start the node again`));

    renameSync(join(cluster.dir, 'n2', file), join(cluster.dir, 'n2', `${file}.damaged`));
    await n2.start();
    t.deepEqual((await cluster.client.peek('n2', `state-${file}`)).values, ['kept']);
    t.deepEqual((await cluster.client.get(`state-${file}`, { r: 3 })).values, ['kept']);
  });
}
