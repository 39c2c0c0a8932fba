/**
 * Node logs: pino, pretty on a terminal, JSON lines otherwise, always on stderr (stdout carries
 * ready lines and --json results). The destination is asynchronous for speed, so the last lines
 * before a crash can be lost; nothing logs per message at info level.
 */
import pino, { type Logger } from "pino";

export function makeLogger(name: string, level = process.env.LOCKSTEP_LOG ?? "info"): Logger {
  if (process.stderr.isTTY) {
    return pino({ name, level }, pino.transport({ target: "pino-pretty", options: { destination: 2, colorize: true, translateTime: "HH:MM:ss.l" } }));
  }
  return pino({ name, level }, pino.destination({ dest: 2, sync: false }));
}
