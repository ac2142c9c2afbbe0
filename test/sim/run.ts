/**
 * `npm run sim -- --seed S --steps K [--nodes 5] [--seeds N]`: runs the simulation (test/sim/world.ts)
 * and prints what each seed did and whether every check held. A failing seed prints itself; run
 * it again with the same flags to replay it exactly (the trace hash must match).
 */
import { Command } from 'commander';
import { runWorld } from './world.ts';

const program = new Command('sim')
  .option('--seed <seed>', 'first seed', (v) => Number(v), Date.now() % 1_000_000)
  .option('--seeds <count>', 'seeds to run, from --seed on', (v) => Number(v), 1)
  .option('--steps <count>', 'events to run while clients write and faults strike', (v) => Number(v), 20_000)
  .option('--nodes <count>', 'nodes', (v) => Number(v), 5)
  .option('--verbose', 'print the faults as they strike')
  .parse();
const o = program.opts();
let failed = 0;
for (let seed = o.seed; seed < o.seed + o.seeds; seed++) {
  const started = performance.now();
  const r = await runWorld({ seed, steps: o.steps, nodes: o.nodes, verbose: Boolean(o.verbose) });
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    `seed ${seed}: ${r.violations.length === 0 ? 'ok' : 'FAILED'} in ${secs} s; trace ${r.trace}, ${r.steps} events, ${(r.virtualMs / 1000).toFixed(1)} s virtual; ` +
      `${r.acknowledged} of ${r.attempted} adds acknowledged, ${r.failedOps} failed; ${r.crashes} crashes, ${r.partitions} partitions; siblings at most ${r.siblingsMax}; anti-entropy ${r.antiEntropy ? 'on' : 'off'}\n`,
  );
  for (const v of r.violations) process.stdout.write(`  ${v}\n`);
  if (r.violations.length > 0) {
    failed++;
    process.stdout.write(`  replay: npm run sim -- --seed ${seed} --steps ${o.steps} --nodes ${o.nodes}\n`);
  }
}
process.exit(failed > 0 ? 1 : 0);
