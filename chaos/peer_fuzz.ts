/**
 * Peer-RPC fuzzing against a live cluster with a secret set: malformed
 * requests to the Raft routes — random bytes, truncated and deeply nested
 * CBOR, declared lengths of 2^64, wrong types, negative, NaN, fractional and
 * huge numbers, wrong headers and methods, oversized and slow bodies, bogus
 * snapshot frames — first without the secret, then with it. Afterwards:
 * no node crashed, no request got a 5xx, no request without the secret was
 * accepted or changed a term or a log (the fuzz's terms and indexes are
 * 10,000 above the cluster's, so a node that took one shows it), and the
 * cluster still commits a write readable on every node.
 *
 * @module
 */

import { decode, encode } from "cbor-x";
import { encodeMessage } from "../src/codec.ts";
import type { RaftMessage } from "../src/messages.ts";
import { SeededRandom } from "../src/random.ts";
import type { ChaosCluster } from "./chaos_cluster.ts";
import type { AdminMetrics } from "./admin_client.ts";
import { sleep } from "./sleep.ts";

/**
 * What a fuzz run found.
 *
 * @example
 * ```ts
 * import type { PeerFuzzResult } from "./peer_fuzz.ts";
 * const r: PeerFuzzResult = { requests: 10_000, byStatus: new Map([[400, 9000]]), anomalies: [] };
 * ```
 */
export interface PeerFuzzResult {
  /** Requests sent. */
  readonly requests: number;
  /** Answers by HTTP status (0: no answer, e.g. the server closed a slow body). */
  readonly byStatus: Map<number, number>;
  /** One line per anomaly. */
  readonly anomalies: string[];
}

const _ROUTES = [
  "/raft/append",
  "/raft/vote",
  "/raft/pre-vote",
  "/raft/timeout-now",
  "/raft/install-snapshot",
];

interface _Request {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array | null;
  readonly what: string;
}

/** Valid messages of every request type, with terms and indexes `far` above the cluster's. */
function _validMessages(clusterId: string, far: number, from: number): RaftMessage[] {
  return [
    {
      type: "append",
      clusterId,
      term: far,
      leaderId: from,
      prevLogId: { term: far, index: far },
      entries: [{ term: far, index: far + 1, type: "normal", data: new Uint8Array([1, 2, 3]) }],
      leaderCommit: far + 1,
      round: 1,
    },
    { type: "vote", clusterId, term: far, candidateId: from, lastLogId: null, transfer: false },
    {
      type: "pre-vote",
      clusterId,
      term: far,
      candidateId: from,
      lastLogId: { term: far, index: far },
      transfer: false,
    },
    { type: "timeout-now", clusterId, term: far, leaderId: from },
  ];
}

const _BAD_VALUES: readonly unknown[] = [
  -1,
  -(2 ** 53),
  1.5,
  NaN,
  Infinity,
  -Infinity,
  2 ** 53,
  2 ** 60,
  18446744073709551615n,
  "7",
  "",
  null,
  true,
  [],
  [[[[[]]]]],
  { term: 1 },
  new Uint8Array([1, 2]),
];

function _bytes(rnd: SeededRandom, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rnd.int(0, 256);
  return b;
}

/** One malformed body (and what it is). */
function _malformedBody(rnd: SeededRandom, valid: readonly Uint8Array[]): [Uint8Array, string] {
  const base = valid[rnd.int(0, valid.length)]!;
  switch (rnd.int(0, 8)) {
    case 0:
      return [_bytes(rnd, rnd.int(0, 2000)), "random bytes"];
    case 1:
      return [base.slice(0, rnd.int(0, base.length)), "truncated CBOR"];
    case 2: {
      const depth = rnd.int(100, 200_000);
      const b = new Uint8Array(depth + 1).fill(0x81);
      b[depth] = 0x00;
      return [b, `nested ${depth} deep`];
    }
    case 3: {
      const heads = [0x9b, 0xbb, 0x5b, 0x7b, 0xdb];
      const b = new Uint8Array(9 + rnd.int(0, 16)).fill(0xff);
      b[0] = heads[rnd.int(0, heads.length)]!;
      return [b, "declared length 2^64"];
    }
    case 4:
    case 5: {
      // A real message with one field replaced by a value of the wrong kind.
      let raw: unknown;
      try {
        raw = decode(base);
      } catch {
        return [base, "valid"];
      }
      if (!Array.isArray(raw)) return [base, "valid"];
      const at = rnd.int(0, raw.length);
      const bad = _BAD_VALUES[rnd.int(0, _BAD_VALUES.length)];
      const copy = [...raw];
      const inner = copy[at];
      if (Array.isArray(inner) && inner.length > 0 && rnd.next() < 0.5) {
        const deep = [...inner];
        deep[rnd.int(0, deep.length)] = bad;
        copy[at] = deep;
      } else copy[at] = bad;
      return [encode(copy), `field ${at} := ${String(bad).slice(0, 20)}`];
    }
    case 6:
      return [encode(_BAD_VALUES[rnd.int(0, _BAD_VALUES.length)]), "wrong top-level type"];
    default: {
      // A snapshot frame: a 4-byte length (often a lie), then a body.
      const body = rnd.next() < 0.5 ? base : _bytes(rnd, rnd.int(0, 300));
      const frame = new Uint8Array(4 + body.length + rnd.int(0, 100));
      const declared = rnd.next() < 0.5 ? 0xffffffff : rnd.int(0, body.length + 10);
      new DataView(frame.buffer).setUint32(0, declared);
      frame.set(body, 4);
      return [frame, `snapshot frame declaring ${declared}`];
    }
  }
}

/** The n-th request of a phase. */
function _request(
  rnd: SeededRandom,
  valid: readonly Uint8Array[],
  auth: Record<string, string>,
  authenticated: boolean,
  targetId: number,
  clusterId: string,
): _Request {
  const headers: Record<string, string> = {
    "content-type": "application/cbor",
    "x-raft-to": String(targetId),
    "x-raft-from": String(rnd.int(1, 5)),
    "x-raft-cluster": encodeURIComponent(clusterId),
    ...auth,
  };
  let path = _ROUTES[rnd.int(0, _ROUTES.length)]!;
  let method = "POST";
  let what = "";
  let body: Uint8Array | null;
  const x = rnd.next();
  if (!authenticated && x < 0.3) {
    // Well-formed messages without the secret: they must be refused all the same.
    body = valid[rnd.int(0, valid.length)]!;
    path = ["/raft/append", "/raft/vote", "/raft/pre-vote", "/raft/timeout-now"][
      valid.indexOf(body)
    ] ?? path;
    what = "valid message";
  } else {
    [body, what] = _malformedBody(rnd, valid);
  }
  const y = rnd.next();
  if (y < 0.05) {
    method = ["GET", "PUT", "DELETE", "PATCH"][rnd.int(0, 4)]!;
    if (method === "GET") body = null;
    what += `, method ${method}`;
  } else if (y < 0.1) {
    headers["content-type"] = ["text/plain", "application/json", "", "application/CBOR; x=1"][
      rnd.int(0, 4)
    ]!;
    what += `, content-type ${headers["content-type"]}`;
  } else if (y < 0.15) {
    headers["x-raft-to"] = ["0", "999", "-1", "abc", "1e3"][rnd.int(0, 5)]!;
    what += `, x-raft-to ${headers["x-raft-to"]}`;
  } else if (y < 0.2) {
    headers["x-raft-cluster"] = ["other", "", "%ZZ", "x".repeat(5000)][rnd.int(0, 4)]!;
    what += ", wrong x-raft-cluster";
  } else if (y < 0.22) {
    path = ["/raft/", "/raft/append/x", "/raft/../cluster/metrics", "/raft/APPEND"][rnd.int(0, 4)]!;
    what += `, path ${path}`;
  }
  if (!authenticated) {
    const z = rnd.next();
    if (z < 0.5) delete headers["authorization"];
    else {
      headers["authorization"] = [
        "Bearer wrong",
        "Bearer ",
        "Basic eDp5",
        "Bearer " + "a".repeat(9000),
      ][
        rnd.int(0, 4)
      ]!;
    }
  }
  return { method, path, headers, body, what };
}

async function _send(base: string, r: _Request, timeoutMs: number): Promise<number> {
  try {
    const res = await fetch(base + r.path, {
      method: r.method,
      headers: r.headers,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
      ...(r.body === null ? {} : { body: new Uint8Array(r.body) }),
    });
    await res.body?.cancel().catch(() => {});
    return res.status;
  } catch {
    return 0;
  }
}

/** A body that trickles `chunks` small chunks, one every `everyMs`. */
async function _slowBody(
  base: string,
  path: string,
  headers: Record<string, string>,
  chunks: number,
  everyMs: number,
): Promise<number> {
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i++ >= chunks) return controller.close();
      await sleep(everyMs);
      controller.enqueue(new Uint8Array([0x9f, 0x01]));
    },
  });
  try {
    const res = await fetch(base + path, {
      method: "POST",
      headers,
      body: stream,
      signal: AbortSignal.timeout(chunks * everyMs + 10_000),
      duplex: "half",
    } as RequestInit);
    await res.body?.cancel().catch(() => {});
    return res.status;
  } catch {
    return 0;
  }
}

function _snapshotOf(all: Map<number, AdminMetrics>): string {
  return [...all.values()].map((m) =>
    `${m.id}: term ${m.term} last ${m.lastLogIndex} committed ${m.committed}`
  ).join("; ");
}

/**
 * Fuzzes the running cluster: `requests` malformed requests, half without
 * the secret, half with it; returns what it saw.
 */
export async function runPeerFuzz(
  cluster: ChaosCluster,
  o: {
    readonly seed: number;
    readonly requests: number;
    readonly secret: string;
    readonly clusterId: string;
    readonly log?: (line: string) => void;
  },
): Promise<PeerFuzzResult> {
  const rnd = new SeededRandom(o.seed);
  const anomalies: string[] = [];
  const byStatus = new Map<number, number>();
  const count = (status: number): void => {
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  };
  const before = await cluster.allMetrics();
  const top = Math.max(...[...before.values()].map((m) => Math.max(m.term, m.lastLogIndex)));
  const far = top + 10_000;
  const members = cluster.members();
  const valid = _validMessages(o.clusterId, far, members[0]!.id).map((m) => {
    try {
      return encodeMessage(m);
    } catch {
      return encode(["bad"]);
    }
  });
  let sent = 0;
  for (const authenticated of [false, true]) {
    const auth: Record<string, string> = authenticated
      ? { authorization: `Bearer ${o.secret}` }
      : {};
    const phase = authenticated ? "with the secret" : "without the secret";
    const n = Math.ceil(o.requests / 2);
    // Slow and oversized bodies beside the stream of small ones.
    const side: Promise<void>[] = [];
    for (let i = 0; i < 4; i++) {
      const node = members[i % members.length]!;
      side.push(
        _slowBody(
          node.url,
          "/raft/append",
          {
            "content-type": "application/cbor",
            "x-raft-to": String(node.id),
            ...auth,
          },
          20,
          250,
        ).then((s) => {
          count(s);
          if (s >= 500) anomalies.push(`${phase}: slow body to node ${node.id} answered ${s}`);
        }),
      );
    }
    for (let i = 0; i < 2; i++) {
      const node = members[i % members.length]!;
      const body = new Uint8Array((64 << 20) + 1);
      side.push(
        _send(node.url, {
          method: "POST",
          path: "/raft/append",
          headers: { "content-type": "application/cbor", "x-raft-to": String(node.id), ...auth },
          body,
          what: "64 MiB body",
        }, 30_000).then((s) => {
          count(s);
          if (s >= 500) anomalies.push(`${phase}: 64 MiB body to node ${node.id} answered ${s}`);
        }),
      );
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < n; i = next++) {
        const node = members[rnd.int(0, members.length)]!;
        const r = _request(rnd, valid, auth, authenticated, node.id, o.clusterId);
        const status = await _send(node.url, r, 10_000);
        count(status);
        sent++;
        if (status >= 500) {
          anomalies.push(
            `${phase}: ${r.method} ${r.path} (${r.what}) to node ${node.id}: ${status}`,
          );
        } else if (!authenticated && status >= 200 && status < 300) {
          anomalies.push(
            `${phase}: ${r.method} ${r.path} (${r.what}) to node ${node.id} was accepted (${status})`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    await Promise.all(side);
    o.log?.(`fuzz ${phase}: ${n} requests sent`);
    for (const node of cluster.nodes.values()) {
      if (node.state !== "running" || node.unexpectedExits.length > 0) {
        anomalies.push(`${phase}: node ${node.id} crashed (${node.lastExit})`);
      }
    }
    if (!authenticated) {
      const after = await cluster.allMetrics();
      for (const m of after.values()) {
        if (m.term >= far || m.lastLogIndex >= far) {
          anomalies.push(
            `requests without the secret changed node ${m.id}: ${_snapshotOf(after)} ` +
              `(before: ${_snapshotOf(before)})`,
          );
        }
      }
    }
  }
  // The cluster still commits, and every node reads the write.
  const value = `after-fuzz-${o.seed}`;
  let committed = false;
  for (let i = 0; i < 20 && !committed; i++) {
    const leader = await cluster.leader();
    if (leader !== null) {
      const res = await fetch(`${cluster.nodes.get(leader)!.url}/kv/fuzz-check`, {
        method: "PUT",
        body: value,
        signal: AbortSignal.timeout(5000),
      }).catch(() => null);
      await res?.body?.cancel().catch(() => {});
      committed = res?.status === 200;
    }
    if (!committed) await sleep(500);
  }
  if (!committed) anomalies.push("after the fuzz, the cluster does not commit a write");
  else {
    for (const node of members) {
      let seen = "";
      for (let i = 0; i < 20 && seen !== value; i++) {
        const res = await fetch(`${node.url}/kv/fuzz-check?read=local`, {
          signal: AbortSignal.timeout(5000),
        }).catch(() => null);
        seen = res === null ? "" : await res.text().catch(() => "");
        if (seen !== value) await sleep(250);
      }
      if (seen !== value) anomalies.push(`after the fuzz, node ${node.id} does not read the write`);
    }
  }
  return { requests: sent, byStatus, anomalies };
}
