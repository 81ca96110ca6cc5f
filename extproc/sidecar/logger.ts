// Structured logs: one JSON object per line on stderr, so log shippers need no parsing rules.

export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(min: Level = "info", write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  return {
    log(level, msg, fields) {
      if (ORDER[level] < ORDER[min]) return;
      write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + "\n");
    },
  };
}

/** A logger that keeps lines in memory (tests, embedding). */
export function memoryLogger(): Logger & { lines: { level: Level; msg: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: Level; msg: string; fields?: Record<string, unknown> }[] = [];
  return { lines, log: (level, msg, fields) => void lines.push({ level, msg, fields }) };
}
