/**
 * Runs `npm run paper -- <name> --quick` into a temporary directory (removed at teardown) and
 * checks what every experiment must do: exit 0, and write its figure and both data files.
 */
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface PaperRun {
  readonly stdout: string;
  readonly stderr: string;
  /** The contents of `<name>.<ext>` in the output directory. */
  read(ext: 'svg' | 'csv' | 'json'): string;
}

export async function runPaperQuick(t: ExecutionContext, name: string, timeoutMs: number): Promise<PaperRun> {
  t.timeout(timeoutMs + 10_000);
  const out = mkdtempSync(join(tmpdir(), `dkv-paper-${name}-`));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'bench/paper/run.ts', name, '--quick', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as any).code ?? null) : 0, stdout, stderr }),
    );
  });
  t.is(run.code, 0, run.stderr + run.stdout);
  for (const ext of ['svg', 'csv', 'json']) t.true(existsSync(join(out, `${name}.${ext}`)), `${name}.${ext}`);
  t.regex(run.stderr, new RegExp(`${name}: 100%`), 'progress, as plain lines off a terminal');
  return { stdout: run.stdout, stderr: run.stderr, read: (ext) => readFileSync(join(out, `${name}.${ext}`), 'utf8') };
}
