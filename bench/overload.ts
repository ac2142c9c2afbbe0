/**
 * `npm run bench -- --overload`: how dkv holds its goodput past its capacity. It measures the
 * closed-loop capacity of a 3-node cluster on workload A's mix (one JSON request per operation),
 * then offers open-loop load at multiples of it for a fixed time each, and reports per step:
 * offered rate, goodput, the share of `ok` / `overloaded` / other errors / no answer, latency
 * percentiles of the accepted requests, the nodes' RSS, peer-down events, and how long after the
 * load stops normal service is back. Writes a table, the JSON and an SVG plot under bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { memoryOf } from './cpu.ts';
import { DkvTarget } from './targets/dkv.ts';
import { mulberry32 } from './random.ts';
import { keyName, OpStream, valueFor, WORKLOADS } from './workload.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import { table } from './report.ts';

export interface OverloadOptions {
  readonly dataDir: string;
  readonly out: string;
  readonly keys: number;
  readonly valueBytes: number;
  /** Multiples of the measured capacity to offer, one step each. */
  readonly steps: readonly number[];
  readonly stepSeconds: number;
  readonly capacitySeconds: number;
  /** What a client waits for one reply; past it the request counts as "no answer". */
  readonly deadlineMs: number;
  /** Offer multiples of this instead of the measured closed-loop capacity. */
  readonly capacityPerS?: number;
  /** `dkv node --client-ops-max` for the run (undefined: the node's default). */
  readonly clientOpsMax?: number;
  /** Requests sent at once after the steps (0: none), each waited for up to FLOOD_DEADLINE_MS. */
  readonly floodRequests?: number;
  readonly say: (line: string) => void;
}

/** A flood: every request published in one go, and what came back. */
export interface OverloadFlood {
  readonly requests: number;
  readonly ok: number;
  readonly overloaded: number;
  readonly otherErrors: number;
  readonly noAnswer: number;
  /** From the first request sent until the last answer came. */
  readonly lastAnswerMs: number;
  readonly rssMaxMb: number;
  readonly peerDown: number;
  /** Node processes still running after the flood, of those started. */
  readonly nodesRunning: number;
  readonly nodes: number;
}

export interface OverloadStep {
  readonly multiple: number;
  readonly offeredPerS: number;
  readonly sentPerS: number;
  readonly goodputPerS: number;
  readonly goodputShare: number;
  readonly ok: number;
  readonly overloaded: number;
  readonly otherErrors: number;
  readonly noAnswer: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly rssMaxMb: number;
  readonly peerDown: number;
  readonly recoveryMs: number;
}

export interface OverloadReport {
  readonly capacityPerS: number;
  readonly unloadedP99Ms: number;
  readonly steps: OverloadStep[];
  readonly flood?: OverloadFlood;
}

/** How long a flood's request is waited for: long enough that "no answer" means lost. */
const FLOOD_DEADLINE_MS = 30_000;
let openLoops = 0;

/**
 * The open-loop sender: requests published on the generator's connection with replies to one
 * inbox subscription, and one sweep for deadlines. nats.js's request() costs a subscription
 * entry, a timer and a promise per request, which caps one generator process near the rate it
 * is asked to offer here; this keeps the generator from being what the benchmark measures.
 */
class OpenLoop {
  readonly #pending = new Map<number, { sentMs: number; done: (reply: any) => void }>();
  #next = 0;
  readonly #prefix = `_INBOX.overload.${process.pid}.${++openLoops}`;
  readonly #sweep: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly deadlineMs: number,
  ) {
    nc.subscribe(`${this.#prefix}.*`, {
      callback: (_err, msg) => {
        const id = Number(msg.subject.slice(this.#prefix.length + 1));
        const p = this.#pending.get(id);
        if (!p) return;
        this.#pending.delete(id);
        let reply: any;
        try {
          reply = JSON.parse(msg.string());
        } catch {
          reply = { error: { code: 'bad_reply' } };
        }
        p.done(reply);
      },
    });
    this.#sweep = setInterval(() => {
      const now = performance.now();
      for (const [id, p] of this.#pending) {
        if (now - p.sentMs < this.deadlineMs) continue;
        this.#pending.delete(id);
        p.done(undefined);
      }
    }, 50);
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /** Resolves with the reply, or undefined when none came within the deadline. */
  send(subject: string, body: object): Promise<any> {
    const id = ++this.#next;
    return new Promise((done) => {
      this.#pending.set(id, { sentMs: performance.now(), done });
      this.nc.publish(subject, JSON.stringify(body), { reply: `${this.#prefix}.${id}` });
    });
  }

  close(): void {
    clearInterval(this.#sweep);
  }
}

/** Requests the generator keeps in flight at most: past it an offered request is not sent (counted). */
const GENERATOR_IN_FLIGHT_MAX = 50_000;
const TICK_MS = 5;
const CLOSED_LOOP_CONCURRENCY = 64;
const UNLOADED_CONCURRENCY = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runOverload(o: OverloadOptions): Promise<OverloadReport> {
  mkdirSync(o.dataDir, { recursive: true });
  const target = await DkvTarget.start({ via: 'protocol', nodes: 3, n: 3, r: 2, w: 2, storage: 'lmdb', sync: 'periodic', dataDir: o.dataDir, keys: o.keys, valueBytes: o.valueBytes, requestTimeoutMs: o.deadlineMs, ...(o.clientOpsMax !== undefined ? { nodeArgs: ['--client-ops-max', String(o.clientOpsMax)] } : {}) });
  try {
    o.say(`overload: preloading ${o.keys} keys of ${o.valueBytes} bytes`);
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < o.keys) await target.update(next++, 0);
    }));
    target.markPreloaded(o.keys);
    const stream = new OpStream(WORKLOADS.A, o.keys, mulberry32(1));
    const one = (version: number) => {
      const op = stream.next();
      return op.kind === 'read' ? target.read(op.keyIndex) : target.update(op.keyIndex, version);
    };

    // Capacity is what succeeds: an `overloaded` answer (a closed loop of 64 can pass a node's
    // bound now and then) is quick and would inflate it.
    const closedLoop = async (concurrency: number, seconds: number) => {
      const h = hdr.build();
      let done = 0;
      let ok = 0;
      const end = Date.now() + seconds * 1000;
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (Date.now() < end) {
          const t0 = performance.now();
          const outcome = await one(done);
          if (outcome === undefined) {
            h.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
            ok++;
          }
          done++;
        }
      }));
      return { perS: ok / seconds, p99Ms: h.getValueAtPercentile(99) / 1000 };
    };
    const unloaded = await closedLoop(UNLOADED_CONCURRENCY, Math.max(2, o.capacitySeconds / 2));
    const measured = await closedLoop(CLOSED_LOOP_CONCURRENCY, o.capacitySeconds);
    // A given capacity fixes the offered rates, to compare runs whose own measure differs.
    const capacity = o.capacityPerS !== undefined ? { ...measured, perS: o.capacityPerS } : measured;
    target.takeCounters();
    if (o.capacityPerS !== undefined) o.say(`overload: measured ${Math.round(measured.perS)} ops/s; offering multiples of the given ${o.capacityPerS}`);
    o.say(`overload: closed-loop capacity ${Math.round(capacity.perS)} ops/s (concurrency ${CLOSED_LOOP_CONCURRENCY}); unloaded p99 ${unloaded.p99Ms.toFixed(1)} ms (concurrency ${UNLOADED_CONCURRENCY})`);

    const steps: OverloadStep[] = [];
    const sender = new OpenLoop(target.nc, o.deadlineMs);
    const contexts = new Map<number, string>();
    /** One operation of workload A's mix, open loop: the outcome as the report counts it. */
    const openOne = async (version: number): Promise<string | undefined> => {
      const op = stream.next();
      const key = keyName(op.keyIndex);
      const context = contexts.get(op.keyIndex);
      const body = op.kind === 'read' ? { key } : { key, value: valueFor(key, version, o.valueBytes), ...(context !== undefined ? { context } : {}) };
      const reply = await sender.send(op.kind === 'read' ? 'dkv.local.get' : 'dkv.local.put', body);
      if (reply === undefined) return 'client_timeout';
      if (reply.error) return String(reply.error.code);
      if (typeof reply.context === 'string') contexts.set(op.keyIndex, reply.context);
      return undefined;
    };
    for (const multiple of o.steps) {
      const offered = capacity.perS * multiple;
      const h = hdr.build();
      const counts = { ok: 0, overloaded: 0, other: 0, noAnswer: 0, notSent: 0, sent: 0 };
      let inFlight = 0;
      const pending = new Set<Promise<void>>();
      let rssMaxBytes = 0;
      const rssTimer = setInterval(() => {
        for (const p of target.processes) if (p.role === 'dkv-nodes') rssMaxBytes = Math.max(rssMaxBytes, memoryOf(p.pid)?.rssBytes ?? 0);
      }, 250);
      const started = Date.now();
      const end = started + o.stepSeconds * 1000;
      let issued = 0;
      while (Date.now() < end) {
        const due = Math.floor(((Date.now() - started) / 1000) * offered);
        for (; issued < due; issued++) {
          if (inFlight >= GENERATOR_IN_FLIGHT_MAX) {
            counts.notSent++;
            continue;
          }
          inFlight++;
          counts.sent++;
          const t0 = performance.now();
          const p = openOne(issued).then((outcome) => {
            inFlight--;
            if (outcome === undefined) {
              counts.ok++;
              h.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
            } else if (outcome === 'overloaded') counts.overloaded++;
            else if (outcome === 'client_timeout') counts.noAnswer++;
            else counts.other++;
          });
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }
        await sleep(TICK_MS);
      }
      await Promise.all(pending);
      clearInterval(rssTimer);
      // Back to normal: a closed-loop probe whose requests all succeed within the unloaded p99 x 3.
      const stopped = Date.now();
      for (;;) {
        const t0 = performance.now();
        const outcome = await one(0);
        if (outcome === undefined && performance.now() - t0 <= Math.max(10, unloaded.p99Ms * 3)) break;
        if (Date.now() - stopped > 30_000) break;
        await sleep(10);
      }
      const recoveryMs = Date.now() - stopped;
      const { peerDown = 0 } = target.takeCounters();
      const step: OverloadStep = {
        multiple,
        offeredPerS: Math.round(offered),
        sentPerS: Math.round(counts.sent / o.stepSeconds),
        goodputPerS: Math.round(counts.ok / o.stepSeconds),
        goodputShare: counts.ok / o.stepSeconds / capacity.perS,
        ok: counts.ok,
        overloaded: counts.overloaded,
        otherErrors: counts.other,
        noAnswer: counts.noAnswer + counts.notSent,
        p50Ms: h.getValueAtPercentile(50) / 1000,
        p99Ms: h.getValueAtPercentile(99) / 1000,
        p999Ms: h.getValueAtPercentile(99.9) / 1000,
        rssMaxMb: Math.round(rssMaxBytes / 1024 / 1024),
        peerDown,
        recoveryMs,
      };
      steps.push(step);
      o.say(`overload: ${multiple}x offered ${step.offeredPerS}/s: goodput ${step.goodputPerS}/s (${(step.goodputShare * 100).toFixed(0)}% of capacity), ${counts.overloaded} overloaded, ${counts.other} other errors, ${step.noAnswer} no answer, p99 ${step.p99Ms.toFixed(1)} ms, RSS ${step.rssMaxMb} MB, ${peerDown} peer-down`);
    }
    sender.close();

    let flood: OverloadFlood | undefined;
    if ((o.floodRequests ?? 0) > 0) {
      const requests = o.floodRequests!;
      o.say(`overload: flood of ${requests} requests sent at once`);
      const floodSender = new OpenLoop(target.nc, FLOOD_DEADLINE_MS);
      let rssMaxBytes = 0;
      const rssTimer = setInterval(() => {
        for (const p of target.processes) if (p.role === 'dkv-nodes') rssMaxBytes = Math.max(rssMaxBytes, memoryOf(p.pid)?.rssBytes ?? 0);
      }, 100);
      const counts = { ok: 0, overloaded: 0, other: 0, noAnswer: 0 };
      const t0 = performance.now();
      let lastAnswerMs = 0;
      const sends: Promise<void>[] = [];
      for (let i = 0; i < requests; i++) {
        const op = stream.next();
        const key = keyName(op.keyIndex);
        const body = op.kind === 'read' ? { key } : { key, value: valueFor(key, i, o.valueBytes) };
        sends.push(
          floodSender.send(op.kind === 'read' ? 'dkv.local.get' : 'dkv.local.put', body).then((reply) => {
            if (reply === undefined) return void counts.noAnswer++;
            lastAnswerMs = performance.now() - t0;
            if (!reply.error) counts.ok++;
            else if (reply.error.code === 'overloaded') counts.overloaded++;
            else counts.other++;
          }),
        );
      }
      await Promise.all(sends);
      clearInterval(rssTimer);
      floodSender.close();
      const { peerDown = 0 } = target.takeCounters();
      const nodeProcesses = target.processes.filter((p) => p.role === 'dkv-nodes');
      const nodesRunning = nodeProcesses.filter((p) => memoryOf(p.pid) !== undefined).length;
      flood = { requests, ok: counts.ok, overloaded: counts.overloaded, otherErrors: counts.other, noAnswer: counts.noAnswer, lastAnswerMs: Math.round(lastAnswerMs), rssMaxMb: Math.round(rssMaxBytes / 1024 / 1024), peerDown, nodesRunning, nodes: nodeProcesses.length };
      o.say(`overload: flood: ${counts.ok} ok, ${counts.overloaded} overloaded, ${counts.other} other errors, ${counts.noAnswer} no answer; last answer after ${flood.lastAnswerMs} ms; RSS ${flood.rssMaxMb} MB; ${peerDown} peer-down; ${nodesRunning} of ${nodeProcesses.length} nodes running`);
    }
    const health = target.health();
    if (health.length > 0) o.say(`overload: NOT VALID: ${health.join('; ')}`);
    return { capacityPerS: Math.round(capacity.perS), unloadedP99Ms: unloaded.p99Ms, steps, ...(flood ? { flood } : {}) };
  } finally {
    await target.stop();
  }
}

export function overloadTable(r: OverloadReport): string {
  const pct = (n: number, of: number) => (of === 0 ? '-' : `${((n / of) * 100).toFixed(1)}%`);
  const f = r.flood;
  const floodLine = f
    ? `\nflood of ${f.requests} at once: ${f.ok} ok, ${f.overloaded} overloaded, ${f.otherErrors} other errors, ${f.noAnswer} no answer; last answer after ${f.lastAnswerMs} ms; node RSS at most ${f.rssMaxMb} MB; ${f.peerDown} peer-down; ${f.nodesRunning} of ${f.nodes} nodes running`
    : '';
  return table(
    r.steps.map((s) => {
      const all = s.ok + s.overloaded + s.otherErrors + s.noAnswer;
      return [`${s.multiple}x`, String(s.offeredPerS), String(s.goodputPerS), `${(s.goodputShare * 100).toFixed(0)}%`, pct(s.ok, all), pct(s.overloaded, all), pct(s.otherErrors, all), pct(s.noAnswer, all), s.p50Ms.toFixed(1), s.p99Ms.toFixed(1), s.p999Ms.toFixed(1), String(s.rssMaxMb), String(s.peerDown), String(s.recoveryMs)];
    }),
    ['load', 'offered/s', 'goodput/s', 'of capacity', 'ok', 'overloaded', 'other errors', 'no answer', 'p50 ms', 'p99 ms', 'p99.9 ms', 'RSS MB', 'peer down', 'recovery ms'],
    1,
  ) + floodLine;
}

/** Offered load against goodput, with the capacity as a line: a plain SVG, no library. */
export function overloadSvg(r: OverloadReport): string {
  const w = 640;
  const h = 360;
  const pad = 60;
  const xMax = Math.max(...r.steps.map((s) => s.offeredPerS), 1) * 1.05;
  const yMax = Math.max(r.capacityPerS, ...r.steps.map((s) => s.goodputPerS), 1) * 1.2;
  const x = (v: number) => pad + (v / xMax) * (w - 2 * pad);
  const y = (v: number) => h - pad - (v / yMax) * (h - 2 * pad);
  const points = r.steps.map((s) => `${x(s.offeredPerS).toFixed(1)},${y(s.goodputPerS).toFixed(1)}`).join(' ');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const xv = Math.round(xMax * f);
    const yv = Math.round(yMax * f);
    return `<text x="${x(xv)}" y="${h - pad + 18}" text-anchor="middle">${xv}</text><text x="${pad - 8}" y="${y(yv) + 4}" text-anchor="end">${yv}</text>`;
  });
  const labels = r.steps.map((s) => `<circle cx="${x(s.offeredPerS)}" cy="${y(s.goodputPerS)}" r="4" fill="#1f77b4"/><text x="${x(s.offeredPerS)}" y="${y(s.goodputPerS) - 10}" text-anchor="middle">${s.multiple}x: ${(s.goodputShare * 100).toFixed(0)}%</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">
<rect width="${w}" height="${h}" fill="white"/>
<text x="${w / 2}" y="20" text-anchor="middle" font-size="14">dkv under overload: goodput against offered load (3 nodes, workload A's mix)</text>
<line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="black"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" stroke="black"/>
<line x1="${pad}" y1="${y(r.capacityPerS)}" x2="${w - pad}" y2="${y(r.capacityPerS)}" stroke="#999" stroke-dasharray="4 3"/><text x="${w - pad}" y="${y(r.capacityPerS) - 5}" text-anchor="end" fill="#666">closed-loop capacity ${r.capacityPerS}/s</text>
<line x1="${pad}" y1="${y(r.capacityPerS * 0.8)}" x2="${w - pad}" y2="${y(r.capacityPerS * 0.8)}" stroke="#d62728" stroke-dasharray="2 3"/><text x="${w - pad}" y="${y(r.capacityPerS * 0.8) + 14}" text-anchor="end" fill="#d62728">target: 80%</text>
<polyline points="${points}" fill="none" stroke="#1f77b4" stroke-width="2"/>
${labels.join('\n')}
${ticks.join('\n')}
<text x="${w / 2}" y="${h - 15}" text-anchor="middle">offered load (requests/s)</text>
<text x="15" y="${h / 2}" text-anchor="middle" transform="rotate(-90 15 ${h / 2})">goodput (ok/s)</text>
</svg>
`;
}

export function writeOverload(dir: string, r: OverloadReport): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const json = join(dir, `overload-${stamp}.json`);
  const svg = join(dir, `overload-${stamp}.svg`);
  writeFileSync(json, JSON.stringify(r, null, 2));
  writeFileSync(svg, overloadSvg(r));
  return { json, svg };
}
