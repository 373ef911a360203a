/**
 * A private network for partition nemeses: one network namespace per node
 * (`xraft-<harness pid>-n<id>`), each with a veth into a bridge that lives
 * in a hub namespace (`xraft-<harness pid>-hub`), and one veth from the
 * hub to the harness's own namespace so the clients reach every node.
 * Faults are nftables rules in a node's namespace (`table inet xraft`,
 * chain `input`): a cut from A to B drops B's incoming packets from A.
 * Deleting the namespaces removes the veths and the bridge with them.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import type { NodePlace, NodePlacement } from "./node_placement.ts";
import { deleteNamespace, NETNS_PREFIX } from "./stale_cleanup.ts";

const _PORT = 21001;

function _run(args: readonly string[], input?: string): void {
  execFileSync(args[0]!, args.slice(1), {
    timeout: 10_000,
    stdio: ["pipe", "ignore", "pipe"],
    ...(input === undefined ? {} : { input }),
  });
}

/**
 * The network namespaces of one run, as a {@linkcode NodePlacement}, with
 * the cuts the partition nemesis makes.
 */
export class NetnsTopology implements NodePlacement {
  /** `netns`. */
  readonly kind = "netns";
  /** The `xraft-<pid>` prefix of this run's namespaces. */
  readonly tag: string;
  /** The /24 (first three octets) of this run. */
  readonly subnet: string;
  readonly #nodes = new Map<number, string>();
  readonly #cuts = new Set<string>();

  /** @param tag the namespace prefix; @param subnet e.g. "10.213.7" */
  constructor(tag: string, subnet: string) {
    this.tag = tag;
    this.subnet = subnet;
  }

  /** The hub namespace holding the bridge. */
  get hub(): string {
    return `${this.tag}-hub`;
  }

  /** Creates the hub, the bridge and the harness's veth. */
  create(): void {
    const hub = this.hub;
    _run(["ip", "netns", "add", hub]);
    _run(["ip", "-n", hub, "link", "set", "lo", "up"]);
    _run(["ip", "-n", hub, "link", "add", "br0", "type", "bridge"]);
    _run(["ip", "-n", hub, "link", "set", "br0", "up"]);
    const host = this.#hostIf();
    _run(["ip", "link", "add", host, "type", "veth", "peer", "name", "up0", "netns", hub]);
    _run(["ip", "-n", hub, "link", "set", "up0", "master", "br0", "up"]);
    _run(["ip", "addr", "add", `${this.subnet}.254/24`, "dev", host]);
    _run(["ip", "link", "set", host, "up"]);
  }

  #hostIf(): string {
    return `xr-${this.tag.slice(NETNS_PREFIX.length)}`.slice(0, 15);
  }

  /** The namespace of node `id`, created on first use, with its nftables table. */
  place(id: number): Promise<NodePlace> {
    if (id < 1 || id > 200) return Promise.reject(new RangeError(`node id ${id} out of range`));
    let ns = this.#nodes.get(id);
    if (ns === undefined) {
      ns = `${this.tag}-n${id}`;
      _run(["ip", "netns", "add", ns]);
      this.#nodes.set(id, ns);
      _run(["ip", "-n", ns, "link", "set", "lo", "up"]);
      _run([
        "ip",
        "-n",
        this.hub,
        "link",
        "add",
        `v${id}`,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        ns,
      ]);
      _run(["ip", "-n", this.hub, "link", "set", `v${id}`, "master", "br0", "up"]);
      _run(["ip", "-n", ns, "addr", "add", `${this.ip(id)}/24`, "dev", "eth0"]);
      _run(["ip", "-n", ns, "link", "set", "eth0", "up"]);
      _run(
        ["ip", "netns", "exec", ns, "nft", "-f", "-"],
        [
          "table inet xraft {",
          "  chain input { type filter hook input priority 0; policy accept; }",
          "}",
        ].join("\n"),
      );
    }
    return Promise.resolve({ host: this.ip(id), port: _PORT, netns: ns });
  }

  /** Node `id`'s address. */
  ip(id: number): string {
    return `${this.subnet}.${id}`;
  }

  /** Drops the packets `to` receives from `from` (one way). */
  cut(from: number, to: number): void {
    const ns = this.#nodes.get(to);
    if (ns === undefined || !this.#nodes.has(from) || from === to) return;
    const key = `${from}>${to}`;
    if (this.#cuts.has(key)) return;
    _run([
      "ip",
      "netns",
      "exec",
      ns,
      "nft",
      "add",
      "rule",
      "inet",
      "xraft",
      "input",
      "ip",
      "saddr",
      this.ip(from),
      "drop",
    ]);
    this.#cuts.add(key);
  }

  /** Cuts both ways between every node of `a` and every node of `b`. */
  split(a: readonly number[], b: readonly number[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cut(x, y);
        this.cut(y, x);
      }
    }
  }

  /** The cuts in force, as `from>to`. */
  cuts(): string[] {
    return [...this.#cuts];
  }

  /** Removes every cut. */
  healAll(): void {
    for (const ns of this.#nodes.values()) {
      try {
        _run(["ip", "netns", "exec", ns, "nft", "flush", "chain", "inet", "xraft", "input"]);
      } catch {
        // the namespace is gone
      }
    }
    this.#cuts.clear();
  }

  /** Deletes every namespace of the run (killing what runs in them). */
  destroy(): void {
    for (const ns of this.#nodes.values()) deleteNamespace(ns);
    this.#nodes.clear();
    deleteNamespace(this.hub);
    try {
      _run(["ip", "link", "delete", this.#hostIf()]);
    } catch {
      // gone with the hub's end
    }
  }
}

/**
 * Makes this run's namespaces, or says why it cannot (no root, no `ip`, no
 * `nft`: run `scripts/chaos_setup.sh`).
 */
export function openNetnsTopology(): Promise<NetnsTopology | string> {
  try {
    execFileSync("nft", ["--version"], { stdio: "ignore", timeout: 5000 });
  } catch {
    return Promise.resolve("nft (nftables) is not installed: run scripts/chaos_setup.sh");
  }
  let routes = "";
  try {
    routes = execFileSync("ip", ["-4", "addr"], { encoding: "utf8", timeout: 5000 });
  } catch {
    return Promise.resolve("the ip command is missing or fails");
  }
  let subnet = "";
  for (let i = 0; i < 250; i++) {
    const candidate = `10.213.${(process.pid + i) % 250 + 1}`;
    if (!routes.includes(candidate + ".")) {
      subnet = candidate;
      break;
    }
  }
  if (subnet === "") return Promise.resolve("no free 10.213.x.0/24 subnet");
  const topology = new NetnsTopology(`${NETNS_PREFIX}${process.pid}`, subnet);
  try {
    topology.create();
    return Promise.resolve(topology);
  } catch (e) {
    topology.destroy();
    const why = (e as { stderr?: Uint8Array }).stderr;
    const text = why === undefined ? String(e) : new TextDecoder().decode(why).trim();
    return Promise.resolve(`cannot create network namespaces (${text.slice(0, 200)})`);
  }
}
