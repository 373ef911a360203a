/**
 * Network partitions over a {@linkcode NetnsTopology}: isolate the leader,
 * random halves, a one-way cut, and a bridge node (two sides that see the
 * bridge but not each other). Each lasts 1.5 to 4 election timeouts, then
 * every cut is removed.
 *
 * @module
 */

import type { Nemesis, NemesisContext } from "./nemesis.ts";
import type { NetnsTopology } from "./netns_topology.ts";
import { sleep } from "./sleep.ts";

function _shuffled(ids: readonly number[], c: NemesisContext): number[] {
  const a = [...ids];
  for (let i = a.length - 1; i > 0; i--) {
    const j = c.rnd.int(0, i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * The partition nemesis of `topology`.
 */
export function partitionNemesis(topology: NetnsTopology): Nemesis {
  return {
    name: "partition",
    async inject(c) {
      const ids = c.cluster.members().map((n) => n.id);
      if (ids.length < 3) return null;
      const leader = await c.cluster.leader();
      const kind = c.rnd.int(0, 4);
      let what: string;
      if (kind === 0 && leader !== null) {
        const rest = ids.filter((id) => id !== leader);
        topology.split([leader], rest);
        what = `isolate leader ${leader} from [${rest}]`;
      } else if (kind === 1 || (kind === 0 && leader === null)) {
        const s = _shuffled(ids, c);
        const cut = c.rnd.int(1, s.length);
        topology.split(s.slice(0, cut), s.slice(cut));
        what = `halves [${s.slice(0, cut)}] | [${s.slice(cut)}]`;
      } else if (kind === 2) {
        const from = leader ?? ids[0]!;
        const others = ids.filter((id) => id !== from);
        const to = others[c.rnd.int(0, others.length)]!;
        const reverse = c.rnd.next() < 0.5;
        if (reverse) topology.cut(to, from);
        else topology.cut(from, to);
        what = `one-way cut ${reverse ? `${to} -> ${from}` : `${from} -> ${to}`} ` +
          `(leader ${leader})`;
      } else {
        const s = _shuffled(ids, c);
        const bridge = s[0]!;
        const rest = s.slice(1);
        const half = Math.floor(rest.length / 2);
        topology.split(rest.slice(0, half), rest.slice(half));
        what = `bridge ${bridge} between [${rest.slice(0, half)}] and [${rest.slice(half)}]`;
      }
      c.cluster.event(`partition: ${what}; cuts ${topology.cuts().join(" ")}`);
      const max = c.electionTimeoutMs[1];
      const ms = c.rnd.int(Math.round(1.5 * max), 4 * max + 1);
      await sleep(ms);
      topology.healAll();
      return `${what} for ${ms} ms`;
    },
    heal() {
      topology.healAll();
      return Promise.resolve();
    },
  };
}
