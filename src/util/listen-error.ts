/**
 * A node could not listen: the port is taken, or the address is not this machine's. Kept apart
 * from uws.ts so the CLI can name it without loading uWebSockets.js.
 */
export class ListenError extends Error {
  constructor(readonly what: string, readonly host: string, readonly port: number) {
    super(`${what}: cannot listen on ${host}:${port} (the port is in use, or the address is not this machine's)`);
  }
}
