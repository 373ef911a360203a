/**
 * How a node starts: validates its options and recovers its engine from
 * what storage holds (vote, log, commit index, the state machine's applied
 * state and snapshot), reading the log in chunks.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { SystemClock } from "../clock.ts";
import type { Config } from "../config.ts";
import { resolveConfig } from "../config.ts";
import { RaftEngine } from "../engine/engine.ts";
import { InvalidArgument, RaftError, StateMachineBehindLog, StorageError } from "../errors.ts";
import type { Random } from "../random.ts";
import { cryptoRandom } from "../random.ts";
import type { LogStore, StateMachine } from "../storage.ts";
import type { LogId, NodeId, StoredMembership } from "../types.ts";
import { INITIAL_VOTE, isNodeId } from "../types.ts";
import { CHUNK } from "./apply_worker.ts";

/**
 * The options recovery reads (a subset of `RaftOptions`).
 */
export interface RecoveryOptions {
  /** This node's id. */
  readonly id: NodeId;
  /** Options; missing ones take the defaults. */
  readonly config?: Partial<Config>;
  /** Durable vote and log. */
  readonly logStore: LogStore;
  /** The state machine: its applied state and current snapshot. */
  readonly stateMachine: Pick<StateMachine<unknown>, "appliedState" | "currentSnapshot">;
  /** Time source; default the system clock. */
  readonly clock?: Clock;
  /** Election jitter; default seeded from crypto.getRandomValues. */
  readonly random?: Random;
}

/**
 * A node recovered from storage, ready to start.
 */
export interface Recovered {
  /** The resolved configuration. */
  readonly config: Config;
  /** The clock (given or the system's). */
  readonly clock: Clock;
  /** The random source (given or seeded from crypto). */
  readonly random: Random;
  /** The engine, recovered. */
  readonly engine: RaftEngine;
  /** The state machine's last applied index. */
  readonly appliedIndex: number;
  /** The last index of the state machine's current snapshot. */
  readonly snapshotIndex: number;
}

/**
 * Recovers a node from storage and passes it to `start`; resolves with what
 * `start` returns. Rejects with `InvalidArgument` for a bad id, `ConfigError`
 * for bad options, `StateMachineBehindLog` when the state machine has not
 * applied up to the log's purge point (it lost what the purged entries
 * held: it must persist its snapshot), and `StorageError` (naming the call)
 * if storage cannot be read or an exception that is not a `RaftError`
 * escapes `start`.
 */
export async function recover<T>(
  opts: RecoveryOptions,
  start: (node: Recovered) => T,
): Promise<T> {
  if (!isNodeId(opts.id)) {
    throw new InvalidArgument("id", "node id must be a non-negative safe integer");
  }
  const config = resolveConfig(opts.config ?? {});
  const clock = opts.clock ?? new SystemClock();
  const random = opts.random ?? cryptoRandom();
  const store = opts.logStore;
  let op = "recover";
  try {
    op = "readVote";
    const vote = (await store.readVote()) ?? INITIAL_VOTE;
    op = "logState";
    const state = await store.logState();
    op = "readCommitted";
    const committed = await store.readCommitted();
    op = "appliedState";
    const applied = await opts.stateMachine.appliedState();
    op = "currentSnapshot";
    const snapshot = (await opts.stateMachine.currentSnapshot())?.meta ?? null;
    // Entries the state machine lacks are gone from the log: it can never catch up (a
    // state machine that does not persist its snapshot, on a durable log).
    const purged = state.lastPurged;
    if (purged !== null && (applied.lastApplied?.index ?? 0) < purged.index) {
      throw new StateMachineBehindLog(applied.lastApplied, purged);
    }
    const memberships: StoredMembership[] = [];
    const smm = applied.membership;
    if (smm.membership.configs.length > 0) memberships.push(smm);
    const logIds: LogId[] = [];
    const first = (state.lastPurged?.index ?? 0) + 1;
    const last = state.lastLogId?.index ?? 0;
    op = "entries";
    for (let from = first; from <= last; from += CHUNK) {
      const to = Math.min(last, from + CHUNK - 1);
      const entries = await store.entries(from, to);
      if (entries.length !== to - from + 1) {
        throw new RangeError(`log store returned ${entries.length} entries for ${from}..${to}`);
      }
      for (const e of entries) {
        logIds.push({ term: e.term, index: e.index });
        if (e.type === "membership" && e.index > (smm.logId?.index ?? 0)) {
          memberships.push({ logId: { term: e.term, index: e.index }, membership: e.membership });
        }
      }
    }
    const engine = new RaftEngine({
      id: opts.id,
      config,
      random,
      now: clock.now(),
      vote,
      logIds,
      purged: state.lastPurged,
      committed,
      applied: applied.lastApplied,
      memberships,
      snapshot,
      // A node with any history may have acknowledged a leader just before it stopped.
      ...(vote.term > 0 || last > 0 ? { heardFromLeaderAt: clock.now() } : {}),
    });
    return start({
      config,
      clock,
      random,
      engine,
      appliedIndex: applied.lastApplied?.index ?? 0,
      snapshotIndex: snapshot?.lastLogId?.index ?? 0,
    });
  } catch (e) {
    if (e instanceof RaftError) throw e;
    throw new StorageError(op, e);
  }
}
