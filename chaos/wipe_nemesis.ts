/**
 * The operator's mistake: a voter's data directory wiped and the node
 * restarted with the same id and the same command line. Watches for two
 * leaders at once (an anomaly when it lasts longer than two election
 * timeouts), notes whether the node refused or was refused (its last line;
 * an anomaly when it is back as a voter: issue 15 wants it refused), then
 * applies the documented recovery: remove it from the membership and add a
 * fresh node under a new id with `--join`. Lost acknowledged writes and
 * stale reads show in the history and the final checks.
 *
 * @module
 */

import { mkdir, rm } from "node:fs/promises";
import type { Nemesis } from "./nemesis.ts";
import type { NodeEndpoint } from "./node_contract.ts";
import { sleep } from "./sleep.ts";

/**
 * Wipes the data directory of a voter and restarts it as it was: with
 * `initNode`, the node that formed the cluster (its command line has
 * `--init`, and `--join <the other first members>` where the node supports
 * it: injected only while one of those is a running member, else the
 * wiped node would rightly wait for them); otherwise a random voter that
 * joined (`--join`).
 *
 * @example
 * ```ts
 * import { wipeNemesis } from "./wipe_nemesis.ts";
 * console.assert(wipeNemesis(false).name === "wipe" && wipeNemesis(true).name === "wipe-init");
 * ```
 */
export function wipeNemesis(initNode: boolean): Nemesis {
  return {
    name: initNode ? "wipe-init" : "wipe",
    async inject(c) {
      const members = c.cluster.members();
      if (members.length < 3 || members.some((n) => n.state !== "running")) return null;
      const running = new Set(members.map((n) => `${n.launch.host}:${n.launch.port}`));
      const listed = (join: NodeEndpoint | readonly NodeEndpoint[] | undefined) =>
        join === undefined ? [] : "host" in join ? [join] : join;
      const candidates = members.filter((n) =>
        (n.launch.init === true) === initNode &&
        (!initNode || n.launch.join === undefined ||
          listed(n.launch.join).some((p) => running.has(`${p.host}:${p.port}`)))
      );
      if (candidates.length === 0) return null;
      const victim = candidates[c.rnd.int(0, candidates.length)]!;
      const leaderBefore = await c.cluster.leader();
      await victim.kill9();
      await rm(victim.launch.data, { recursive: true, force: true });
      await mkdir(victim.launch.data, { recursive: true });
      victim.start();
      victim.allowExit();
      // Half of the time, the leader crashes meanwhile: the wiped node may now
      // help elect a node that lacks entries it had acknowledged.
      let crash = "";
      if (c.rnd.next() < 0.5) {
        await sleep(c.rnd.int(200, 1000));
        const leader = await c.cluster.leader();
        const node = leader === null || leader === victim.id
          ? undefined
          : c.cluster.nodes.get(leader);
        if (node !== undefined) {
          await node.kill9();
          crash = `; then kill -9 leader ${leader}`;
          setTimeout(() => node.start(), c.rnd.int(500, 1500));
        }
      }
      // Watch for two leaders at once.
      const max = c.electionTimeoutMs[1];
      const watchMs = 4 * max;
      let twoSince: number | null = null;
      let worst = "";
      const deadline = Date.now() + watchMs;
      for (let i = 0; Date.now() < deadline && i < 1000; i++) {
        const all = await Promise.all(
          c.cluster.members().filter((n) => n.state === "running").map((n) =>
            c.cluster.admin.metrics(n.url)
          ),
        );
        const leaders = all.filter((m) => m !== null && m.state === "leader");
        if (leaders.length >= 2) {
          twoSince ??= Date.now();
          const list = leaders.map((m) =>
            `${m!.id} (term ${m!.term}, voters [${m!.membership.voters}])`
          );
          worst = `${list.join(" and ")} for ${Date.now() - twoSince} ms`;
        } else twoSince = null;
        if (twoSince !== null && Date.now() - twoSince > 2 * max) break;
        await sleep(200);
      }
      const stuck = twoSince !== null && Date.now() - twoSince > 2 * max;
      if (stuck) {
        c.anomaly?.(
          `after wiping node ${victim.id}'s data and restarting it: two leaders at once: ${worst}`,
        );
      }
      const now = victim.state === "stopped" ? null : await c.cluster.admin.metrics(victim.url);
      const back = now !== null && now.membership.voters.includes(victim.id) &&
        (now.state === "follower" || now.state === "leader");
      if (back) {
        c.anomaly?.(
          `node ${victim.id}, wiped and restarted with its command line, is back as a voter ` +
            `(${now.state}): it forgot its vote; it must be refused`,
        );
      }
      const fate = victim.state === "stopped"
        ? `exited: ${victim.lastLines.at(-1) ?? "(no output)"}`
        : `${back ? "ACCEPTED BACK SILENTLY as a voter" : "still running"} (${
          now?.state ?? "no metrics"
        }; last line: ${victim.lastLines.at(-1) ?? "(none)"})`;
      // The documented recovery: remove it, then a fresh node under a new id.
      const removed = await c.cluster.removeNode(victim.id);
      await victim.kill9();
      const fresh = removed ? await c.cluster.addNode() : null;
      return `wiped ${victim.id === leaderBefore ? "leader" : "voter"} ${victim.id}, restarted ` +
        `with the same id${crash}: ${fate}; two leaders ${
          stuck ? "YES: " + worst : "no"
        }; recovery: ` +
        (removed ? `removed ${victim.id}, added ${fresh?.id}` : `removing ${victim.id} FAILED`);
    },
    async heal(c) {
      for (const node of c.cluster.members()) {
        if (node.state === "paused") node.resume();
        if (node.state === "stopped") node.start();
      }
      await Promise.resolve();
    },
  };
}
