/**
 * Progress for a batch: on a TTY one redrawn line with the file's bar and the whole batch's
 * bar and ETA; otherwise (a log file, CI) a plain line every 25 %.
 */
export interface BatchProgress {
  file(index: number, name: string): void;
  update(fraction: number): void;
  /** Print a line that stays (above the bar). */
  log(line: string): void;
  done(): void;
}

const BAR = 20;

export function batchProgress(total: number, stream: NodeJS.WriteStream = process.stderr): BatchProgress {
  const tty = stream.isTTY === true;
  const started = performance.now();
  let index = 0;
  let name = '';
  let lastPlain = -1;
  let drawn = false;

  const bar = (f: number) => {
    const n = Math.round(Math.max(0, Math.min(1, f)) * BAR);
    return `${'█'.repeat(n)}${'░'.repeat(BAR - n)}`;
  };
  const eta = (f: number) => {
    if (f <= 0.001) return '--:--';
    const s = Math.round(((performance.now() - started) / 1000) * ((1 - f) / f));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };
  const clear = () => {
    if (tty && drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };

  return {
    file(i, n) {
      index = i;
      name = n;
      lastPlain = -1;
    },
    update(f) {
      const overall = (index + f) / total;
      if (tty) {
        const width = Math.max(10, (stream.columns ?? 100) - 70);
        const shown = name.length > width ? `…${name.slice(-width + 1)}` : name;
        stream.write(
          `\r\x1b[2K[${index + 1}/${total}] ${shown} ${bar(f)} ${Math.floor(f * 100)}% | all ${bar(overall)} ${Math.floor(overall * 100)}% ETA ${eta(overall)}`,
        );
        drawn = true;
      } else {
        const step = Math.floor(f * 4);
        if (step > lastPlain) {
          lastPlain = step;
          stream.write(
            `[${index + 1}/${total}] ${name}: ${Math.floor(f * 100)}% (batch ${Math.floor(overall * 100)}%, ETA ${eta(overall)})\n`,
          );
        }
      }
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
