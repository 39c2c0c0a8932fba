/**
 * The shard map in etcd: one key (SHARD_MAP_KEY) holding the whole map as JSON, so a reader
 * always sees one version whole.
 *
 *  - read    the map and the key's mod revision, or null when there is none; a value that is
 *            not JSON or not a valid map is a ShardMapError with the reason, never a crash.
 *  - write   compare-and-swap: a map of version v is written only if etcd holds version v−1
 *            (or nothing, for v = 1) and the key has not changed since that was read (one etcd
 *            transaction on its mod revision). A stale writer gets STALE, saying which version
 *            etcd has.
 *  - watch   calls back with every map written after a given revision, and with a
 *            ShardMapError for a value it cannot use or a deleted key; the watch goes on.
 */
import { Etcd3, type IKeyValue, type Watcher } from "etcd3";
import { encodeShardMap, parseShardMap, SHARD_MAP_KEY, ShardMapError, ShardMapProblem, type ShardMap } from "./map.js";

/** How long one etcd call may take before it is reported as etcd not answering, in ms. */
export const ETCD_CALL_MS_MAX = 5_000;
/** How long the client waits to connect to an etcd member, in ms. */
const DIAL_MS_MAX = 2_000;

export interface StoredShardMap {
  readonly map: ShardMap;
  /** The key's mod revision in etcd (a decimal string, as etcd3 gives it). */
  readonly rev: string;
}

export class ShardMapStore {
  private readonly client: Etcd3;
  private readonly hosts: string;

  constructor(hosts: readonly string[], private readonly key: string = SHARD_MAP_KEY) {
    this.client = new Etcd3({ hosts: [...hosts], dialTimeout: DIAL_MS_MAX });
    this.hosts = hosts.join(", ");
  }

  private where(): string {
    return `etcd key ${this.key}`;
  }

  /** `op`, or a ShardMapError(ETCD) if etcd fails or does not answer within ETCD_CALL_MS_MAX. */
  private async call<T>(what: string, op: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ETCD_CALL_MS_MAX} ms`)), ETCD_CALL_MS_MAX);
    });
    try {
      return await Promise.race([op(), late]);
    } catch (err) {
      throw new ShardMapError(ShardMapProblem.ETCD, `cannot ${what} the shard map in etcd at ${this.hosts}: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  private async readRaw(): Promise<IKeyValue | undefined> {
    return (await this.call("read", () => this.client.get(this.key).exec())).kvs[0];
  }

  /** The map and its revision, or null when etcd has no map. */
  async read(): Promise<StoredShardMap | null> {
    const kv = await this.readRaw();
    return kv === undefined ? null : { map: parseShardMap(kv.value.toString("utf8"), this.where()), rev: String(kv.mod_revision) };
  }

  /** The map, or a ShardMapError(MISSING) that says how to write one. */
  async readOrFail(): Promise<StoredShardMap> {
    const r = await this.read();
    if (r === null) throw new ShardMapError(ShardMapProblem.MISSING, `there is no shard map in etcd at ${this.hosts} (${this.where()}); write the first with \`lockstep shards init\``);
    return r;
  }

  /** Writes `next` over version next.version − 1 (see the opening comment); returns the new revision. */
  async write(next: ShardMap): Promise<string> {
    const text = encodeShardMap(next);
    const kv = await this.readRaw();
    const current = kv === undefined ? null : parseShardMap(kv.value.toString("utf8"), this.where());
    const expected = next.version - 1;
    if (current === null && expected !== 0) throw new ShardMapError(ShardMapProblem.STALE, `version ${next.version} was written against version ${expected}, but etcd has no shard map`);
    if (current !== null && expected === 0) throw new ShardMapError(ShardMapProblem.EXISTS, `a shard map already exists in etcd (version ${current.version}); change it rather than writing a first one`);
    if (current !== null && current.version !== expected) throw stale(next.version, current.version);
    const guard = kv === undefined ? this.client.if(this.key, "Create", "==", 0) : this.client.if(this.key, "Mod", "==", String(kv.mod_revision));
    const r = await this.call("write", () => guard.then(this.client.put(this.key).value(text)).commit());
    if (!r.succeeded) {
      const now = await this.read();
      throw stale(next.version, now?.map.version ?? 0);
    }
    return String(r.header.revision);
  }

  /**
   * Calls `onMap` with every map written after revision `afterRev` (every one from now when
   * absent), `onError` with a ShardMapError for a value that is not a valid map, a deleted key
   * or a failing watch. Resolves once the watch is in place, with a function that ends it.
   */
  async watch(onMap: (m: StoredShardMap) => void, onError: (err: ShardMapError) => void, afterRev?: string): Promise<() => Promise<void>> {
    let b = this.client.watch().key(this.key);
    if (afterRev !== undefined) b = b.startRevision(String(BigInt(afterRev) + 1n));
    const w: Watcher = await this.call("watch", () => b.create());
    w.on("put", (kv) => {
      let map: ShardMap;
      try {
        map = parseShardMap(kv.value.toString("utf8"), this.where());
      } catch (err) {
        // parseShardMap throws only ShardMapErrors; anything else is a bug and is thrown on.
        if (!(err instanceof ShardMapError)) throw err;
        onError(err);
        return;
      }
      onMap({ map, rev: String(kv.mod_revision) });
    });
    w.on("delete", () => onError(new ShardMapError(ShardMapProblem.DELETED, `${this.where()} was deleted`)));
    w.on("error", (err) => onError(new ShardMapError(ShardMapProblem.ETCD, `the watch of ${this.where()} failed: ${err.message}`, { cause: err })));
    return () => w.cancel();
  }

  close(): void {
    this.client.close();
  }
}

function stale(writing: number, current: number): ShardMapError {
  return new ShardMapError(ShardMapProblem.STALE, `stale shard map: version ${writing} was made from version ${writing - 1}, but etcd now has version ${current}; read the map again and redo the change`);
}
