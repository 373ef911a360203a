/**
 * Where a node of a chaos run listens: an address, a port and, for the
 * partition nemesis, a network namespace. {@linkcode loopbackPlacement}
 * puts every node on 127.0.0.1 on a free port.
 *
 * @module
 */

import { createServer } from "node:net";

/**
 * A node's place.
 *
 * @example
 * ```ts
 * import type { NodePlace } from "./node_placement.ts";
 * const p: NodePlace = { host: "127.0.0.1", port: 9001 };
 * ```
 */
export interface NodePlace {
  /** The address it listens on and advertises. */
  readonly host: string;
  /** Its port. */
  readonly port: number;
  /** The network namespace it runs in, if any. */
  readonly netns?: string;
}

/**
 * Gives each new node id a place (called once per id).
 */
export interface NodePlacement {
  /** What the placement is, for the summary. */
  readonly kind: "loopback" | "netns";
  /** The place of node `id`. */
  place(id: number): Promise<NodePlace>;
}

/**
 * Every node on 127.0.0.1, each on a port the OS says is free.
 *
 * @example
 * ```ts
 * import { loopbackPlacement } from "./node_placement.ts";
 * const place = await loopbackPlacement().place(1);
 * console.assert(place.host === "127.0.0.1" && place.port > 0);
 * ```
 */
export function loopbackPlacement(): NodePlacement {
  return { kind: "loopback", place: async () => ({ host: "127.0.0.1", port: await freePort() }) };
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago.
 *
 * @example
 * ```ts
 * import { freePort } from "./node_placement.ts";
 * console.assert((await freePort()) > 0);
 * ```
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => port > 0 ? resolve(port) : reject(new Error("no free port")));
    });
  });
}
