/**
 * The spine of the layout (DESIGN.md §1): the top level of `src/` holds rules only, with no clock,
 * no randomness, no timers, no NATS, no nact and no file system; the edges that do I/O live in
 * its subfolders; and nothing in `src/` imports `actors/`. Read from the files themselves.
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|mjs)$/.test(name) ? [path] : [];
  });
}

/** Code without comments, so that a rule may be named in a comment. */
const code = (path: string) => readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

test('layout - the top level of src/ has no clock, randomness, timers, NATS, nact or file system', (t) => {
  const top = readdirSync(SRC).filter((n) => n.endsWith('.ts')).map((n) => join(SRC, n));
  t.true(top.length > 20, `${top.length} files read`);
  const forbidden: Array<[string, RegExp]> = [
    ['a clock', /\bDate\.now\(|\bperformance\.now\(|new Date\(\)/],
    ['randomness', /\bMath\.random\(|randomBytes|randomUUID/],
    ['a timer', /\bset(Timeout|Interval|Immediate)\(/],
    ['NATS', /from '@nats-io\//],
    ['nact', /from 'nact'/],
    ['the file system or processes', /from 'node:(fs|child_process|net)'/],
  ];
  const found = top.flatMap((path) => forbidden.filter(([, re]) => re.test(code(path))).map(([what]) => `${relative(ROOT, path)}: ${what}`));
  t.deepEqual(found, []);
});

test('layout - nothing in src/ imports actors/: the executable (actors/bin.mjs) hands the CLI the node command', (t) => {
  const all = sources(SRC);
  const importers = all.filter((path) => /from '(\.\.\/)+actors\/|import\('(\.\.\/)+actors\//.test(code(path))).map((path) => relative(ROOT, path));
  t.true(all.length > 40, `read ${all.length} files of src/`);
  t.deepEqual(importers, []);
});
