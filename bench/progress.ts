/**
 * A one-line progress bar on stderr while a phase runs (redrawn in place on a terminal; on a
 * pipe or in CI, one line when each phase ends), so the table on stdout stays clean.
 */
const BAR_WIDTH = 24;

export interface Phase {
  update(done: number): void;
  end(note?: string): void;
}

export class Progress {
  private readonly tty: boolean;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    enabled = true,
  ) {
    this.tty = enabled && Boolean(stream.isTTY);
  }

  /** A plain line, above any bar. */
  say(line: string): void {
    if (this.tty) this.stream.write('\r\x1b[2K');
    this.stream.write(line + '\n');
  }

  phase(label: string, total: number): Phase {
    const startMs = performance.now();
    let last = 0;
    const draw = (done: number) => {
      const share = total > 0 && Number.isFinite(total) ? Math.min(1, done / total) : 0;
      const filled = Math.round(share * BAR_WIDTH);
      const seconds = (performance.now() - startMs) / 1000;
      const rate = seconds > 0 ? Math.round(done / seconds) : 0;
      this.stream.write(`\r\x1b[2K${label} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${Math.round(share * 100)}% ${done}/${total} ${rate} ops/s`);
    };
    return {
      update: (done) => {
        last = done;
        if (this.tty) draw(done);
      },
      end: (note) => {
        const seconds = (performance.now() - startMs) / 1000;
        const rate = seconds > 0 ? Math.round(last / seconds) : 0;
        const text = `${label}: ${last} ops in ${seconds.toFixed(1)} s (${rate} ops/s)${note ? `, ${note}` : ''}`;
        if (this.tty) this.stream.write('\r\x1b[2K');
        this.stream.write(text + '\n');
      },
    };
  }
}
