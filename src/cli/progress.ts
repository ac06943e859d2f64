/**
 * Progress for a batch that may run several files at once: on a TTY one redrawn line with the
 * newest running file's bar and the whole batch's bar and ETA; otherwise (a log file, CI) a
 * plain line per file every 25 %.
 */
export interface BatchProgress {
  start(index: number, name: string): void;
  update(index: number, fraction: number): void;
  finish(index: number): void;
  /** Print a line that stays (above the bar). */
  log(line: string): void;
  done(): void;
}

const BAR = 20;

export function batchProgress(total: number, stream: NodeJS.WriteStream = process.stderr): BatchProgress {
  const tty = stream.isTTY === true;
  const started = performance.now();
  const running = new Map<number, { name: string; fraction: number; plain: number }>();
  let finished = 0;
  let drawn = false;

  const bar = (f: number) => {
    const n = Math.round(Math.max(0, Math.min(1, f)) * BAR);
    return `${'█'.repeat(n)}${'░'.repeat(BAR - n)}`;
  };
  const overall = () => (finished + [...running.values()].reduce((a, r) => a + r.fraction, 0)) / total;
  const eta = (f: number) => {
    if (f <= 0.001) return '--:--';
    const s = Math.round(((performance.now() - started) / 1000) * ((1 - f) / f));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };
  const clear = () => {
    if (tty && drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  const draw = (index: number) => {
    const r = running.get(index);
    if (!r) return;
    const all = overall();
    if (tty) {
      const width = Math.max(10, (stream.columns ?? 100) - 75);
      const shown = r.name.length > width ? `…${r.name.slice(-width + 1)}` : r.name;
      const more = running.size > 1 ? ` +${running.size - 1}` : '';
      stream.write(
        `\r\x1b[2K[${index + 1}/${total}]${more} ${shown} ${bar(r.fraction)} ${Math.floor(r.fraction * 100)}% | all ${bar(all)} ${Math.floor(all * 100)}% ETA ${eta(all)}`,
      );
      drawn = true;
    } else {
      const step = Math.floor(r.fraction * 4);
      if (step > r.plain) {
        r.plain = step;
        stream.write(
          `[${index + 1}/${total}] ${r.name}: ${Math.floor(r.fraction * 100)}% (batch ${Math.floor(all * 100)}%, ETA ${eta(all)})\n`,
        );
      }
    }
  };

  return {
    start(index, name) {
      running.set(index, { name, fraction: 0, plain: -1 });
    },
    update(index, fraction) {
      const r = running.get(index);
      if (!r) return;
      r.fraction = fraction;
      draw(index);
    },
    finish(index) {
      if (running.delete(index)) finished++;
    },
    log(line) {
      clear();
      stream.write(`${line}\n`);
    },
    done() {
      clear();
    },
  };
}
