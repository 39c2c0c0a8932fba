/** How a long-running command (a node, a relay) waits for the signal that stops it. */

/**
 * Runs until SIGTERM or SIGINT, then calls stop(). A node started by `lockstep start` or a drill
 * (LOCKSTEP_SUPERVISED=1) ignores SIGINT: Ctrl-C in a terminal reaches the whole process group,
 * and the supervisor must be the one to stop its nodes, after it has drained them.
 */
export function untilSignal(stop: () => void): Promise<number> {
  const supervised = process.env.LOCKSTEP_SUPERVISED === "1";
  return new Promise((done) => {
    const ignoreInt = (): void => undefined;
    const handler = (): void => {
      process.off("SIGTERM", handler);
      process.off("SIGINT", supervised ? ignoreInt : handler);
      stop();
      done(0);
    };
    process.on("SIGTERM", handler);
    process.on("SIGINT", supervised ? ignoreInt : handler);
  });
}
