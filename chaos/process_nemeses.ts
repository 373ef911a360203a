/**
 * The nemeses that need no network namespaces: kill -9 and restart (any
 * node, the leader, or a majority one at a time), SIGSTOP/SIGCONT pauses
 * longer than the election timeout, leadership transfer, and membership
 * changes (remove a voter, then add a fresh node with `--join`).
 *
 * @module
 */

import type { Nemesis, NemesisContext } from "./nemesis.ts";
import type { NodeProcess } from "./node_process.ts";
import { sleep } from "./sleep.ts";

/** A running member: the leader with probability `leaderShare`, else any. */
async function _victim(c: NemesisContext, leaderShare: number): Promise<NodeProcess | null> {
  const running = c.cluster.members().filter((n) => n.state === "running");
  if (running.length === 0) return null;
  if (c.rnd.next() < leaderShare) {
    const leader = await c.cluster.leader();
    const node = leader === null ? undefined : c.cluster.nodes.get(leader);
    if (node !== undefined && node.state === "running") return node;
  }
  return running[c.rnd.int(0, running.length)]!;
}

/** Restarts every member that is not running, resumes every paused one. */
async function _reviveAll(c: NemesisContext): Promise<void> {
  for (const node of c.cluster.members()) {
    if (node.state === "paused") node.resume();
    if (node.state === "stopped") node.start();
  }
  await Promise.resolve();
}

/**
 * kill -9 and restart on the same data directory: a random member, the
 * leader, or (one time in five) a majority, one at a time, then all back.
 *
 * @example
 * ```ts
 * import { killNemesis } from "./process_nemeses.ts";
 * console.assert(killNemesis.name === "kill");
 * ```
 */
export const killNemesis: Nemesis = {
  name: "kill",
  async inject(c) {
    const size = c.cluster.members().length;
    if (c.rnd.next() < 0.2 && size >= 3) {
      const majority = Math.floor(size / 2) + 1;
      const killed: number[] = [];
      for (let i = 0; i < majority; i++) {
        const node = await _victim(c, 0.5);
        if (node === null) break;
        await node.kill9();
        killed.push(node.id);
        await sleep(c.rnd.int(200, 800));
      }
      const down = c.rnd.int(500, 2000);
      await sleep(down);
      for (const id of killed) {
        c.cluster.nodes.get(id)?.start();
        await sleep(c.rnd.int(100, 500));
      }
      return `kill -9 a majority one at a time [${killed}], down ~${down} ms`;
    }
    const leader = await c.cluster.leader();
    const node = await _victim(c, 0.5);
    if (node === null) return null;
    await node.kill9();
    const down = c.rnd.int(200, 3000);
    await sleep(down);
    node.start();
    return `kill -9 ${node.id === leader ? "leader " : "node "}${node.id}, down ${down} ms`;
  },
  heal: _reviveAll,
};

/**
 * SIGSTOP a member (the leader half of the time) for 1.5 to 3 election
 * timeouts, then SIGCONT.
 *
 * @example
 * ```ts
 * import { pauseNemesis } from "./process_nemeses.ts";
 * console.assert(pauseNemesis.name === "pause");
 * ```
 */
export const pauseNemesis: Nemesis = {
  name: "pause",
  async inject(c) {
    const leader = await c.cluster.leader();
    const node = await _victim(c, 0.5);
    if (node === null) return null;
    const max = c.electionTimeoutMs[1];
    const ms = c.rnd.int(Math.round(1.5 * max), 3 * max + 1);
    node.pause();
    await sleep(ms);
    node.resume();
    return `SIGSTOP ${node.id === leader ? "leader " : "node "}${node.id} for ${ms} ms`;
  },
  heal: _reviveAll,
};

/**
 * Leadership transfer to a random other voter.
 *
 * @example
 * ```ts
 * import { transferNemesis } from "./process_nemeses.ts";
 * console.assert(transferNemesis.name === "transfer");
 * ```
 */
export const transferNemesis: Nemesis = {
  name: "transfer",
  async inject(c) {
    const leader = await c.cluster.leader();
    if (leader === null) return null;
    const others = c.cluster.members().filter((n) => n.id !== leader && n.state === "running");
    if (others.length === 0) return null;
    const to = others[c.rnd.int(0, others.length)]!.id;
    const ok = await c.cluster.transferLeader(to);
    return `transfer leader ${leader} -> ${to}${ok ? "" : " (not confirmed)"}`;
  },
  heal: () => Promise.resolve(),
};

/**
 * Removes a random voter (the leader too, sometimes) from the membership,
 * stops it, then adds a fresh node (new id, empty data) with `--join`.
 *
 * @example
 * ```ts
 * import { membershipNemesis } from "./process_nemeses.ts";
 * console.assert(membershipNemesis.name === "membership");
 * ```
 */
export const membershipNemesis: Nemesis = {
  name: "membership",
  async inject(c) {
    const members = c.cluster.members();
    if (members.some((n) => n.state !== "running") || members.length < 3) return null;
    const victim = members[c.rnd.int(0, members.length)]!;
    const removed = await c.cluster.removeNode(victim.id);
    if (!removed) return null;
    const fresh = await c.cluster.addNode();
    return `removed voter ${victim.id}, added node ${fresh.id} with --join`;
  },
  heal: _reviveAll,
};

/**
 * The loopback nemeses by name.
 *
 * @example
 * ```ts
 * import { PROCESS_NEMESES } from "./process_nemeses.ts";
 * console.assert(PROCESS_NEMESES.has("pause"));
 * ```
 */
export const PROCESS_NEMESES: ReadonlyMap<string, Nemesis> = new Map(
  [killNemesis, pauseNemesis, transferNemesis, membershipNemesis].map((n) => [n.name, n]),
);
