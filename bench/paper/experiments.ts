/**
 * The experiments `npm run paper` knows, in the order it runs them. Another figure or table of
 * the paper is a module implementing Experiment (./experiment.ts), added here.
 */
import type { Experiment, Params } from './experiment.ts';
import { fig5 } from './fig5.ts';
import { fig8 } from './fig8.ts';
import { table2 } from './table2.ts';
import { versions } from './versions.ts';

export const EXPERIMENTS: readonly Experiment<Params>[] = [fig8 as unknown as Experiment<Params>, versions as unknown as Experiment<Params>, table2 as unknown as Experiment<Params>, fig5 as unknown as Experiment<Params>];

export function experimentNamed(name: string): Experiment<Params> | undefined {
  return EXPERIMENTS.find((e) => e.name === name);
}
