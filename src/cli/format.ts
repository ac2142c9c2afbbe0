/** Human-readable forms of protocol replies for the CLI. */

/** One member of a status reply. An unreachable member carries only `node` and `state`. */
interface StatusMember {
  node: string;
  state: string;
  partitionsOwned?: number;
  replicaPartitions?: number;
  uptimeMs?: number;
  backlog?: { hints: number; hintsMax?: number; full?: boolean; delivered?: number; deliveryFailures?: number };
  /** The member's own failure-detector view of its peers. */
  view?: readonly { node: string; status: string; sinceMs?: number; reason?: string; lastOkMs?: number }[];
  status?: string;
  inRing?: boolean;
  antiEntropy?: { exchanges: number; agreeing: number; keysRepaired: number; keysPushed: number; tombstonesReaped: number };
  admission?: { opsMax?: number; inProgress?: number; rejected?: number };
  background?: { allowance?: number; lastWindow?: { hurting?: string | null } };
  requests?: { gets?: number; writes?: number; forwardedWrites?: number; failures?: number; readRepairs?: number; sameReads?: number; batches?: number; batchedOps?: number; fastReads?: number; fastReadHandovers?: number };
  nats?: { disconnects?: number; reconnects?: number; lastDisconnectAt?: string | number; lastReconnectAt?: string | number; inMsgs?: number; outMsgs?: number; inBytes?: number; outBytes?: number };
  storage?: string;
  sync?: string;
  /** `periodic` and `one` only: fsyncs of the replica store since start. */
  syncs?: number;
}

/** Wall-clock time of day (local), "12:01:02", from epoch ms or an ISO string; as given when unreadable. */
function clock(at: string | number): string {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return String(at);
  const two = (x: number) => String(x).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function hintsCell(b: StatusMember['backlog']): string {
  if (b === undefined) return '-';
  const count = b.hintsMax !== undefined ? `${b.hints}/${b.hintsMax}` : String(b.hints);
  return b.full ? `${count} FULL` : count;
}

function deliveredCell(b: StatusMember['backlog']): string {
  if (b?.delivered === undefined) return '-';
  return b.deliveryFailures ? `${b.delivered} (${b.deliveryFailures} failed)` : String(b.delivered);
}

function reconnectsCell(nats: StatusMember['nats']): string {
  if (nats?.reconnects === undefined) return '-';
  return nats.reconnects > 0 && nats.lastReconnectAt !== undefined ? `${nats.reconnects} (last ${clock(nats.lastReconnectAt)})` : String(nats.reconnects);
}

/** "n2 sees: n1 up, n3 down (no-responders since 12:01:02, last ok 12:00:58)". */
function viewLine(m: StatusMember): string {
  if (m.view === undefined) return `${m.node} sees: nothing (${m.state === 'up' ? 'no view reported' : m.state})`;
  if (m.view.length === 0) return `${m.node} sees: no peers`;
  const peers = m.view.map((p) => {
    if (p.status === 'up') return `${p.node} up`;
    // "no-responders since 12:01:02", then when it last answered, if it ever did.
    const since = [p.reason, p.sinceMs !== undefined ? `since ${clock(p.sinceMs)}` : undefined].filter((x) => x !== undefined).join(' ');
    const why = [since, p.lastOkMs !== undefined ? `last ok ${clock(p.lastOkMs)}` : ''].filter((x) => x !== '');
    return why.length > 0 ? `${p.node} ${p.status} (${why.join(', ')})` : `${p.node} ${p.status}`;
  });
  return `${m.node} sees: ${peers.join(', ')}`;
}

export function formatStatus(s: any): string {
  const members: StatusMember[] = s.members ?? [];
  const rows: string[][] = [['NODE', 'STATE', 'MEMBER', 'PARTITIONS OWNED', 'REPLICA PARTITIONS', 'HINTS', 'DELIVERED', 'RECONNECTS', 'UPTIME']];
  for (const m of members) {
    rows.push([
      String(m.node),
      String(m.state),
      memberCell(m),
      String(m.partitionsOwned ?? '-'),
      String(m.replicaPartitions ?? '-'),
      hintsCell(m.backlog),
      deliveredCell(m.backlog),
      reconnectsCell(m.nats),
      m.uptimeMs !== undefined ? `${Math.round(m.uptimeMs / 1000)}s` : '-',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
  const st = s.settings ?? {};
  const views = members.map(viewLine);
  const ring = s.ring?.version !== undefined ? [`ring version ${s.ring.version}: ${(s.ring.nodes ?? []).join(', ')}`] : [];
  const repair = members.filter((m) => m.antiEntropy !== undefined).map(repairLine);
  const requests = members.filter((m) => m.requests?.gets !== undefined).map(requestsLine);
  const io = members.filter((m) => m.storage !== undefined).map(ioLine);
  return [`cluster ${s.cluster} (answered by ${s.answeredBy}): N=${st.n} R=${st.r} W=${st.w} Q=${st.q}`, table, ...ring, ...transferLines(s.transfers), ...requests, ...io, ...repair, ...views].join('\n');
}

/** "n1 repair: 120 exchanges (118 agreeing), 3 keys pulled, 2 pushed, 4 read repairs, 1 tombstone reaped". */
function repairLine(m: StatusMember): string {
  const ae = m.antiEntropy!;
  const reads = m.requests?.readRepairs ?? 0;
  return `${m.node} repair: ${ae.exchanges} exchanges (${ae.agreeing} agreeing), ${ae.keysRepaired} keys pulled, ${ae.keysPushed} pushed, ${reads} read repairs, ${ae.tombstonesReaped} tombstones reaped`;
}

/**
 * "n1 requests: 4489 gets (4401 fast, 2 handed over), 6283 writes (12 forwarded), 3 failed; 1303
 * batches of 10772 calls; 8012 replica reads answered same". Figures since the node started.
 */
function requestsLine(m: StatusMember): string {
  const r = m.requests!;
  const a = m.admission;
  const admission = a?.opsMax !== undefined ? `; ${a.inProgress ?? 0} of ${a.opsMax} in progress, ${a.rejected ?? 0} shed as overloaded` : '';
  const b = m.background;
  const background = b?.allowance !== undefined ? `; background at ${Math.round(b.allowance * 100)}% of its rate${b.lastWindow?.hurting ? ` (${b.lastWindow.hurting})` : ''}` : '';
  return `${m.node} requests: ${r.gets ?? 0} gets (${r.fastReads ?? 0} fast, ${r.fastReadHandovers ?? 0} handed over), ${r.writes ?? 0} writes (${r.forwardedWrites ?? 0} forwarded), ${r.failures ?? 0} failed; ${r.batches ?? 0} batches of ${r.batchedOps ?? 0} calls; ${r.sameReads ?? 0} replica reads answered same${admission}${background}`;
}

/**
 * "n1 storage lmdb (sync periodic, 310 fsyncs); NATS 1204 messages in, 1180 out, 0.3 MB in, 0.4 MB out".
 * The sync mode says what an acknowledged write survives (README, Storage).
 */
function ioLine(m: StatusMember): string {
  const n = m.nats;
  const mb = (bytes: number | undefined) => `${((bytes ?? 0) / 1e6).toFixed(1)} MB`;
  const traffic = n?.inMsgs !== undefined ? `; NATS ${n.inMsgs} messages in, ${n.outMsgs ?? 0} out, ${mb(n.inBytes)} in, ${mb(n.outBytes)} out` : '';
  const sync = m.sync === undefined ? '' : ` (sync ${m.sync}${m.syncs !== undefined ? `, ${m.syncs} fsyncs` : ''})`;
  return `${m.node} storage ${m.storage}${sync}${traffic}`;
}

/** "valid", "joining", "leaving (out of ring)"; "-" when the reply has no membership. */
function memberCell(m: StatusMember): string {
  if (m.status === undefined) return '-';
  return m.inRing === false && m.status !== 'joining' ? `${m.status} (out of ring)` : m.status;
}

/**
 * One line per node and direction: "n4 receiving 40 partitions (now partition 12 from n1; 120 keys
 * of unfinished partitions in)",
 * "n1 giving 14 partitions: waiting for their new replicas to confirm". `--json` has every one.
 */
function transferLines(transfers: unknown): string[] {
  if (!Array.isArray(transfers)) return [];
  if (transfers.length === 0) return ['transfers: none in progress'];
  type T = { node: string; partition: number; state: string; moved?: number; source?: string; rebuild?: boolean };
  const groups = new Map<string, T[]>();
  for (const x of transfers as T[]) {
    const id = `${x.node}\0${x.state}`;
    const list = groups.get(id);
    if (list) list.push(x);
    else groups.set(id, [x]);
  }
  const lines = [...groups.values()].map((list) => {
    const { node, state } = list[0]!;
    const count = `${list.length} partition${list.length === 1 ? '' : 's'}`;
    if (state !== 'receiving') return `  ${node} giving ${count}: waiting for their new replicas to confirm`;
    const moved = list.reduce((sum, x) => sum + (x.moved ?? 0), 0);
    const current = list.find((x) => (x.moved ?? 0) > 0) ?? list[0]!;
    const why = list.some((x) => x.rebuild) ? 'rebuilding its new store: receiving' : 'receiving';
    return `  ${node} ${why} ${count} (now partition ${current.partition} from ${current.source ?? '?'}${moved > 0 ? `; ${moved} keys of unfinished partitions in` : ''})`;
  });
  return [`transfers in progress (${transfers.length} partitions):`, ...lines];
}
