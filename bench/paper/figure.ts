/**
 * A result to files: the figure as SVG (vega-lite compiled to vega, rendered headless with
 * renderer 'none', so no canvas and no native parts), and the data beside it as CSV (one row per
 * point) and JSON (seed, parameters, summary and series), so the figure can be redrawn or checked.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { rows, type FigureSpec, type Params, type Result } from './experiment.ts';

export async function renderSvg(spec: FigureSpec, data: ReadonlyArray<Record<string, number | string>>): Promise<string> {
  const full = { ...spec, data: { values: data } } as unknown as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(full).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function toCsv(data: ReadonlyArray<Record<string, number | string>>): string {
  const columns = [...new Set(data.flatMap((row) => Object.keys(row)))];
  const cell = (v: number | string | undefined): string => {
    if (v === undefined) return '';
    const text = String(v);
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns.join(','), ...data.map((row) => columns.map((c) => cell(row[c])).join(','))].join('\n') + '\n';
}

export interface Written {
  readonly svg: string;
  readonly csv: string;
  readonly json: string;
}

/** Writes `<name>.svg`, `<name>.csv` and `<name>.json` into `outDir` (made if absent). */
export async function writeResult(
  outDir: string,
  name: string,
  meta: { readonly title: string; readonly seed: number; readonly params: Params },
  result: Result,
  spec: FigureSpec,
): Promise<Written> {
  mkdirSync(outDir, { recursive: true });
  const data = rows(result);
  const files = { svg: join(outDir, `${name}.svg`), csv: join(outDir, `${name}.csv`), json: join(outDir, `${name}.json`) };
  writeFileSync(files.svg, (await renderSvg(spec, data)) + '\n');
  writeFileSync(files.csv, toCsv(data));
  writeFileSync(files.json, JSON.stringify({ experiment: name, ...meta, summary: result.summary, series: result.series }, null, 2) + '\n');
  return files;
}
