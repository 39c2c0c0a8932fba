/**
 * Node logs: pino, pretty on a terminal, JSON lines otherwise, always on stderr (stdout carries
 * ready lines and --json results). The destination is asynchronous for speed, so the last lines
 * before a crash can be lost; nothing logs per message at info level.
 */
import { createRequire } from "node:module";
import pino, { type Logger } from "pino";

/**
 * pino-pretty's entry file, or null where it is not installed. It is a devDependency: a
 * production install (`npm ci --omit=dev`) logs JSON lines even on a terminal, rather than
 * failing to start because pino cannot find its pretty transport.
 */
function prettyTarget(): string | null {
  try {
    return createRequire(import.meta.url).resolve("pino-pretty");
  } catch {
    return null;
  }
}

export function makeLogger(name: string, level = process.env.LOCKSTEP_LOG ?? "info"): Logger {
  const pretty = process.stderr.isTTY ? prettyTarget() : null;
  if (pretty !== null) {
    return pino({ name, level }, pino.transport({ target: pretty, options: { destination: 2, colorize: true, translateTime: "HH:MM:ss.l" } }));
  }
  return pino({ name, level }, pino.destination({ dest: 2, sync: false }));
}
