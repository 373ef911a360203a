/**
 * The full disk: the data directory of one node is a small tmpfs
 * (`ChaosClusterOptions.smallDisk`); this nemesis fills it while writes
 * flow. The node must stop with a clear storage error (it is not counted as
 * an unexpected exit), restart once the space is freed, and lose nothing
 * acknowledged (the history and the final checks tell). A node that keeps
 * running on a full disk, or stops without naming the storage, is noted in
 * the fault's description.
 *
 * @module
 */

import type { Nemesis } from "./nemesis.ts";
import { sleep } from "./sleep.ts";
import { fillDisk, freeDisk } from "./small_disk.ts";

/**
 * Fills a small disk, waits for its node to stop, frees it, restarts the node.
 *
 * @example
 * ```ts
 * import { diskNemesis } from "./disk_nemesis.ts";
 * console.assert(diskNemesis.name === "disk");
 * ```
 */
export const diskNemesis: Nemesis = {
  name: "disk",
  async inject(c) {
    const candidates = c.cluster.members().filter((n) =>
      c.cluster.smallDisks.has(n.id) && n.state === "running"
    );
    if (candidates.length === 0) return null;
    const node = candidates[c.rnd.int(0, candidates.length)]!;
    const dir = c.cluster.smallDisks.get(node.id)!;
    node.allowExit();
    const mib = await fillDisk(dir, 1024);
    c.cluster.event(`disk: filled node ${node.id}'s disk with ${mib} MiB`);
    const deadline = Date.now() + 15_000;
    for (let i = 0; Date.now() < deadline && node.state !== "stopped" && i < 1000; i++) {
      await sleep(100);
    }
    const stopped = node.state === "stopped";
    const said = node.lastLines.slice(-3).join(" | ").slice(0, 300);
    let fate: string;
    if (!stopped) {
      const m = await c.cluster.admin.metrics(node.url);
      fate = `STILL RUNNING 15 s after its disk filled (state ${m?.state ?? "no metrics"})`;
    } else {
      const clear = /storage/i.test(said);
      fate = `stopped (${node.lastExit})${clear ? "" : " WITHOUT naming the storage"}: ${said}`;
    }
    await freeDisk(dir);
    if (!stopped) await node.kill9();
    await sleep(c.rnd.int(200, 1000));
    node.start();
    return `node ${node.id}'s disk full: ${fate}; space freed, restarted`;
  },
  async heal(c) {
    for (const [id, dir] of c.cluster.smallDisks) {
      await freeDisk(dir);
      const node = c.cluster.nodes.get(id);
      if (node !== undefined && c.cluster.voters.includes(id) && node.state === "stopped") {
        node.start();
      }
    }
  },
};
