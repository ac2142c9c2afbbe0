/**
 * Child processes of the harness: spawned with a clean environment, their stdout read line by
 * line until a readiness line, then drained (never retained) so a chatty child cannot block on
 * a full pipe or grow the load generator's memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** How long a child may take to announce readiness (tsx compiles the sources on first start). */
export const START_TIMEOUT_MS = 60_000;
/** How long a child may take to exit after SIGTERM before it is killed. */
export const STOP_TIMEOUT_MS = 15_000;
/** Lines of output kept for error messages. */
const TAIL_LINES_MAX = 40;

export interface ChildOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** True for the stdout line that means "ready". */
  readonly ready: (line: string) => boolean;
  /** Sees every stdout line after readiness (e.g. to count warnings). */
  readonly onLine?: (line: string) => void;
}

export class Child {
  readonly tail: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly name: string, readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(opts: ChildOptions): Promise<Child> {
    const proc = spawn(opts.command, [...opts.args], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    const c = new Child(opts.name, proc);
    const keep = (line: string) => {
      c.tail.push(line);
      if (c.tail.length > TAIL_LINES_MAX) c.tail.shift();
    };
    let isReady = false;
    let markReady!: () => void;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    let buffer = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        keep(line);
        if (!isReady && opts.ready(line)) {
          isReady = true;
          markReady();
        } else if (isReady) opts.onLine?.(line);
      }
    });
    proc.stderr!.on('data', (d: Buffer) => keep(d.toString().trimEnd()));
    let timer: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      void c.exited.then(({ code, signal }) => reject(new Error(`${opts.name} exited during start (code ${code}, signal ${signal}):\n${c.tail.join('\n')}`)));
      timer = setTimeout(() => reject(new Error(`${opts.name} not ready after ${START_TIMEOUT_MS} ms:\n${c.tail.join('\n')}`)), START_TIMEOUT_MS);
    });
    failed.catch(() => {});
    try {
      await Promise.race([ready, failed]);
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return c;
  }

  /** Undefined while running; otherwise how it ended and its last lines of output. */
  death(): string | undefined {
    if (this.running) return undefined;
    return `${this.name} exited (code ${this.child.exitCode}, signal ${this.child.signalCode}); last output:\n${this.tail.slice(-10).join('\n')}`;
  }

  /** SIGTERM, then SIGKILL after STOP_TIMEOUT_MS. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(t);
  }
}

/** The parent's environment without the settings that would change a child's behaviour. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('DKV_') || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}
