/**
 * `dkv logs [--data DIR] [--node ID] [--follow] [--events supervision,...] [--json]`: the log lines
 * of a `dkv dev` cluster's nodes (`<data>/<ID>/node.log`), merged in time order and printed in
 * human form (src/cli/logFormat.ts), or raw with --json. --follow keeps printing what the nodes
 * append, as `tail -f` does, until Ctrl-C.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatLogLine, matchesEvents, parseLogLine, type LogLine } from './logFormat.ts';

/** How often --follow looks for new lines. */
const FOLLOW_POLL_MS = 250;
/** The most read from one file at a time, so a huge log never sits in memory whole. */
const READ_CHUNK_BYTES_MAX = 1 << 20;

export interface LogsOptions {
  readonly data: string;
  readonly node?: string;
  readonly follow: boolean;
  readonly events?: readonly string[];
  readonly json: boolean;
  /** Where lines go (stdout by default). */
  readonly print?: (line: string) => void;
  /** Ends --follow (Ctrl-C by default). */
  readonly signal?: AbortSignal;
}

/** One node's log file, read from `offset` on; `rest` is a line not finished yet. */
interface Tail {
  readonly node: string;
  readonly path: string;
  offset: number;
  rest: string;
}

export function logFiles(data: string, node?: string): Array<{ node: string; path: string }> {
  const dir = resolve(data);
  if (!existsSync(dir)) throw new Error(`no data directory ${dir}: run dkv logs where dkv dev runs, or give --data`);
  const nodes = node !== undefined ? [node] : readdirSync(dir).filter((n) => existsSync(join(dir, n, 'node.log'))).sort();
  const files = nodes.map((n) => ({ node: n, path: join(dir, n, 'node.log') }));
  const missing = files.filter((f) => !existsSync(f.path));
  if (missing.length > 0) throw new Error(`no log of node ${missing[0]!.node} (${missing[0]!.path})`);
  if (files.length === 0) throw new Error(`no node logs under ${dir}`);
  return files;
}

/** The complete lines appended since the last read. */
function readNew(t: Tail): string[] {
  const size = statSync(t.path).size;
  if (size < t.offset) {
    // Truncated or replaced: start again from its beginning.
    t.offset = 0;
    t.rest = '';
  }
  const lines: string[] = [];
  if (size === t.offset) return lines;
  const fd = openSync(t.path, 'r');
  try {
    const buffer = Buffer.alloc(Math.min(READ_CHUNK_BYTES_MAX, size - t.offset));
    while (t.offset < size) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, size - t.offset), t.offset);
      if (n === 0) break;
      t.offset += n;
      const parts = (t.rest + buffer.subarray(0, n).toString('utf8')).split('\n');
      t.rest = parts.pop()!;
      lines.push(...parts);
    }
  } finally {
    closeSync(fd);
  }
  return lines;
}

export async function runLogs(o: LogsOptions): Promise<void> {
  const print = o.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const tails: Tail[] = logFiles(o.data, o.node).map((f) => ({ ...f, offset: 0, rest: '' }));
  const show = (batch: Array<{ node: string; text: string }>) => {
    const parsed = batch.map(({ node, text }) => ({ text, line: parseLogLine(text) ?? ({ node, msg: text } as LogLine) }));
    // Lines of several nodes in time order; a line without a time keeps its place after the last.
    parsed.sort((a, b) => (a.line.time ?? Infinity) - (b.line.time ?? Infinity));
    for (const { text, line } of parsed) {
      if (!matchesEvents(line, o.events)) continue;
      print(o.json ? text : formatLogLine({ node: line.node ?? '?', ...line }));
    }
  };
  const round = () => show(tails.flatMap((t) => readNew(t).filter((text) => text.length > 0).map((text) => ({ node: t.node, text }))));
  round();
  if (!o.follow) return;
  const signal = o.signal ?? abortOnSigint();
  while (!signal.aborted) {
    await new Promise<void>((done) => {
      const timer = setTimeout(done, FOLLOW_POLL_MS);
      signal.addEventListener('abort', () => (clearTimeout(timer), done()), { once: true });
    });
    round();
  }
}

function abortOnSigint(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  return controller.signal;
}
