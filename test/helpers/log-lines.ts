import { logWriter, type LogWriter } from '../../src/ui/log-writer.js';

/**
 * The service's real log writer (ui/log-writer.ts), each line handed over as soon as it is written (a batch of one
 * byte, through the IO as on a terminal) and kept in `lines`: what the service logs, in order, as tests read it.
 */
export function logLines(lines: string[] = []): { sink: LogWriter; lines: string[] } {
  const sink = logWriter({ out: (text) => void lines.push(...text.split(/(?<=\n)/)), stdoutIsTTY: true }, { maxDelayMs: 0, maxBytes: 1 });
  return { sink, lines };
}
