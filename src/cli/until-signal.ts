/** How a long-running command (a node, a relay) waits for the signal that stops it. */

/**
 * After a node has stopped (every connection closed or cut), what is left (an etcd client's
 * sockets, timers of libraries) gets this long to wind down before the process exits anyway.
 */
const EXIT_GRACE_MS = 1_000;

/**
 * Runs until SIGTERM or SIGINT, then calls stop() and exits: within the node's own close grace
 * plus EXIT_GRACE_MS, whatever clients stay connected. A node started by `lockstep start` or a
 * drill (LOCKSTEP_SUPERVISED=1) ignores SIGINT: Ctrl-C in a terminal reaches the whole process
 * group, and the supervisor must be the one to stop its nodes, after it has drained them.
 */
export function untilSignal(stop: () => Promise<void> | void): Promise<number> {
  const supervised = process.env.LOCKSTEP_SUPERVISED === "1";
  return new Promise((done) => {
    const ignoreInt = (): void => undefined;
    const handler = (): void => {
      process.off("SIGTERM", handler);
      process.off("SIGINT", supervised ? ignoreInt : handler);
      void Promise.resolve(stop()).finally(() => {
        setTimeout(() => process.exit(0), EXIT_GRACE_MS).unref();
        done(0);
      });
    };
    process.on("SIGTERM", handler);
    process.on("SIGINT", supervised ? ignoreInt : handler);
  });
}
