/** Human-readable forms of protocol replies for the CLI. */
export function formatStatus(s: any): string {
  const rows: string[][] = [['NODE', 'STATE', 'PARTITIONS OWNED', 'REPLICA PARTITIONS', 'HINT BACKLOG', 'UPTIME']];
  for (const m of s.members ?? []) {
    rows.push([
      String(m.node),
      String(m.state),
      String(m.partitionsOwned ?? '-'),
      String(m.replicaPartitions ?? '-'),
      String(m.backlog?.hints ?? '-'),
      m.uptimeMs !== undefined ? `${Math.round(m.uptimeMs / 1000)}s` : '-',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
  const st = s.settings ?? {};
  return `cluster ${s.cluster} (answered by ${s.answeredBy}): N=${st.n} R=${st.r} W=${st.w} Q=${st.q}\n${table}`;
}
