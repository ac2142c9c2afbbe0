/**
 * `npm run paper [-- <experiment...>] [--out DIR] [--seed S] [--quick]`: runs the paper's
 * experiments (all of them by default) and writes each one's figure and data into DIR
 * (docs/paper/ by default). Prints each experiment's seed and parameters first, so a run can be
 * repeated, and a progress bar while it runs (on a terminal; plain lines every 20% otherwise).
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { EXPERIMENTS, experimentNamed } from './experiments.ts';
import type { ProgressFn } from './experiment.ts';
import { writeResult } from './figure.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BAR_WIDTH = 30;

function usage(): string {
  return [
    'usage: npm run paper [-- <experiment...>] [--out DIR] [--seed S] [--quick]',
    `experiments: ${EXPERIMENTS.map((e) => e.name).join(', ')}`,
    '  --out DIR   where the figures and data go (default docs/paper/)',
    "  --seed S    an integer seed instead of each experiment's own",
    '  --quick     a tiny size (seconds): the same series, noisier numbers',
  ].join('\n');
}

function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): { update: ProgressFn; end(): void } {
  const tty = Boolean(stream.isTTY);
  const start = performance.now();
  let lastShownFifth = -1;
  return {
    update(done, total) {
      const share = total > 0 ? Math.min(1, done / total) : 0;
      const seconds = ((performance.now() - start) / 1000).toFixed(1);
      if (tty) {
        const filled = Math.round(share * BAR_WIDTH);
        stream.write(`\r\x1b[2K${label} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${Math.round(share * 100)}% ${done}/${total} ${seconds} s`);
      } else {
        const fifth = Math.floor(share * 5);
        if (fifth > lastShownFifth) {
          lastShownFifth = fifth;
          stream.write(`${label}: ${Math.round(share * 100)}% (${done}/${total}) ${seconds} s\n`);
        }
      }
    },
    end() {
      if (tty) stream.write('\r\x1b[2K');
    },
  };
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { out: { type: 'string' }, seed: { type: 'string' }, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage()}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(usage());
    return 0;
  }
  const unknown = positionals.filter((name) => !experimentNamed(name));
  if (unknown.length > 0) {
    console.error(`unknown experiment: ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  let seedOverride: number | undefined;
  if (values.seed !== undefined) {
    seedOverride = Number(values.seed);
    if (!Number.isSafeInteger(seedOverride)) {
      console.error(`--seed must be an integer, got ${values.seed}`);
      return 2;
    }
  }
  const out = values.out ?? `${ROOT}docs/paper`;
  const chosen = positionals.length > 0 ? positionals.map((name) => experimentNamed(name)!) : EXPERIMENTS;

  for (const experiment of chosen) {
    const params = values.quick ? experiment.quickParams : experiment.params;
    const seed = seedOverride ?? experiment.defaultSeed;
    console.log(`# ${experiment.name}: ${experiment.title}`);
    console.log(`seed ${seed}${values.quick ? ' (quick)' : ''}`);
    console.log(`params ${JSON.stringify(params)}`);
    const started = performance.now();
    const bar = progressBar(experiment.name);
    const result = await experiment.run(params, seed, bar.update);
    bar.end();
    const files = await writeResult(out, experiment.name, { title: experiment.title, seed, params }, result, experiment.figure(result, params));
    for (const line of result.summary) console.log(line);
    const shown = (path: string) => (relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path));
    console.log(`wrote ${shown(files.svg)}, ${shown(files.csv)}, ${shown(files.json)} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
