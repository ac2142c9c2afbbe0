/**
 * `--baseline REF`: another version of dkv, checked out as a git worktree, whose nodes run next to
 * this checkout's in the same benchmark run. On this shared 2-core VM two runs of one command
 * differ by 10-20%, more than most single changes gain; two versions measured round by round in
 * one run see the same load and can be told apart (report.ts `baselineLines`).
 *
 * The worktree borrows this checkout's node_modules: fine for a nearby revision, wrong for one
 * with other dependencies.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Checks REF out under `parentDir` (removed when the process exits); returns its `dkv` bin. */
export function baselineCheckout(ref: string, parentDir: string): { bin: string; commit: string } {
  const git = (...args: string[]) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  let commit: string;
  try {
    commit = git('rev-parse', '--short', `${ref}^{commit}`);
  } catch (err) {
    throw new Error(`--baseline ${ref}: not a revision of this repository (${String((err as { stderr?: string }).stderr ?? err).trim()})`);
  }
  mkdirSync(parentDir, { recursive: true });
  const dir = mkdtempSync(join(parentDir, 'dkv-baseline-'));
  git('worktree', 'add', '--detach', dir, commit);
  process.once('exit', () => {
    try {
      git('worktree', 'remove', '--force', dir);
    } catch {
      // Left for `git worktree prune`; nothing else depends on it.
    }
  });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  // The executable moved from src/cli/ to actors/; a baseline may be from before.
  const bin = [join(dir, 'actors', 'bin.mjs'), join(dir, 'src', 'cli', 'bin.mjs')].find((path) => existsSync(path));
  if (bin === undefined) throw new Error(`--baseline ${ref}: ${commit} has neither actors/bin.mjs nor src/cli/bin.mjs`);
  return { bin, commit };
}
