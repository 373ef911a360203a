import { test } from "node:test";
import assert from "node:assert/strict";
import { memoryUsage } from "node:process";
import parsePrometheusText from "parse-prometheus-text-format";
import {
  PROMETHEUS_CONTENT_TYPE,
  prometheusMetrics,
} from "../../src/transport/prometheus_metrics.ts";
import { kvSet } from "../../kv/mod.ts";
import { FAST, RuntimeCluster, sleep } from "../runtime/_cluster.ts";

/** A metric family as the parser returns it. */
interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly metrics: readonly {
    readonly value?: string;
    readonly labels?: Record<string, string>;
    readonly buckets?: Record<string, string>;
    readonly count?: string;
    readonly sum?: string;
  }[];
}

const parse = parsePrometheusText as (text: string) => Family[];

/** The families by name, after checking what the parser does not. */
function families(text: string): Map<string, Family> {
  assert.ok(text.endsWith("\n"), "the exposition ends with a newline");
  const declared = new Set<string>();
  const histograms = new Set<string>();
  for (const line of text.trimEnd().split("\n")) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter|histogram)$/.exec(line);
    if (type !== null) {
      assert.ok(!declared.has(type[1]!), `${type[1]} declared once`);
      declared.add(type[1]!);
      if (type[2] === "histogram") histograms.add(type[1]!);
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="[^"\n]*"(,[a-z_]+="[^"\n]*")*\})? (\S+)$/
      .exec(line);
    assert.ok(sample !== null, `a well-formed sample line: ${line}`);
    const base = sample[1]!.replace(/_(bucket|sum|count)$/, "");
    const family = histograms.has(base) ? base : sample[1]!;
    assert.ok(declared.has(family), `${sample[1]} has its # TYPE first`);
    if (family !== sample[1]) {
      assert.equal(
        sample[1] === `${base}_bucket`,
        /\ble="/.test(line),
        `le only on buckets: ${line}`,
      );
    }
    assert.ok(Number.isFinite(Number(sample[4])), `a finite value: ${line}`);
  }
  const parsed = parse(text);
  const byName = new Map(parsed.map((f) => [f.name, f]));
  assert.equal(byName.size, declared.size, "the parser found every family");
  for (const f of parsed) {
    assert.ok(f.name.startsWith("raft_") || f.name.startsWith("process_"), f.name);
    assert.ok(f.help.length > 0, `${f.name} has a help text`);
    const counter = f.name.endsWith("_total");
    const histogram = histograms.has(f.name);
    assert.equal(
      f.type,
      counter ? "COUNTER" : histogram ? "HISTOGRAM" : "GAUGE",
      `${f.name}: counters end in _total`,
    );
    if (histogram) {
      assert.ok(f.name.endsWith("_seconds"), `${f.name}: histograms in seconds`);
      checkHistogram(text, f);
    }
  }
  return byName;
}

/**
 * Checks a histogram family's series in the text: each has buckets up to `+Inf`, cumulative, the
 * `+Inf` bucket equal to `_count`, and a `_sum`. (parse-prometheus-text-format keeps one series of
 * a histogram only: it is compared with the parser for an unlabelled one.)
 */
function checkHistogram(text: string, f: Family): void {
  const series = new Map<
    string,
    { les: string[]; counts: number[]; sum?: number; count?: number }
  >();
  const re = new RegExp(`^${f.name}_(bucket|sum|count)(?:\\{(.*)\\})? (\\S+)$`, "gm");
  for (const m of text.matchAll(re)) {
    const labels = (m[2] ?? "").split(",").filter((l) => l !== "" && !l.startsWith("le="));
    const key = labels.join(",");
    const s = series.get(key) ?? { les: [], counts: [] };
    series.set(key, s);
    if (m[1] === "bucket") {
      s.les.push(/le="([^"]*)"/.exec(m[2]!)![1]!);
      s.counts.push(Number(m[3]));
    } else if (m[1] === "sum") s.sum = Number(m[3]);
    else s.count = Number(m[3]);
  }
  assert.ok(series.size > 0, `${f.name} has series`);
  for (const [key, s] of series) {
    const what = `${f.name}{${key}}`;
    assert.ok(s.les.length > 1 && s.les.at(-1) === "+Inf", `${what}: buckets up to +Inf`);
    for (let i = 1; i < s.counts.length; i++) {
      assert.ok(s.counts[i]! >= s.counts[i - 1]!, `${what}: cumulative buckets`);
      if (i < s.les.length - 1) assert.ok(Number(s.les[i]) > Number(s.les[i - 1]), what);
    }
    assert.equal(s.counts.at(-1), s.count, `${what}: +Inf is the count`);
    assert.ok(s.sum !== undefined && s.sum >= 0, `${what}: a sum`);
    if (key === "") assert.equal(Number(f.metrics[0]?.count), s.count, `${what}: as parsed`);
  }
}

/** A histogram's sample count (`labels` pick the series), from the text. */
function histogramCount(text: string, name: string, labels: Record<string, string> = {}): number {
  const selector = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",");
  const line = text.split("\n").find((l) =>
    l.startsWith(selector === "" ? `${name}_count ` : `${name}_count{${selector}} `)
  );
  assert.ok(line !== undefined, `${name}_count{${selector}}`);
  return Number(line.split(" ").at(-1));
}

function value(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}) {
  const f = fams.get(name);
  assert.ok(f !== undefined, `family ${name}`);
  const m = f.metrics.find((s) =>
    Object.entries(labels).every(([k, v]) => s.labels?.[k] === v) &&
    Object.keys(s.labels ?? {}).length === Object.keys(labels).length
  );
  return m === undefined ? undefined : Number(m.value);
}

test("prometheusMetrics: a live 3-node cluster, parsed by a real parser", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    const leaderId = await c.bootstrap([1, 2, 3]);
    const leader = c.node(leaderId);
    for (let i = 0; i < 20; i++) await leader.clientWrite(kvSet(`k${i}`, `v${i}`));
    await leader.trigger.snapshot();
    const last = leader.metrics.current.lastLogIndex;
    for (const id of [1, 2, 3]) {
      await c.node(id).metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
    }
    // The leader sees every follower caught up once they acknowledged.
    await leader.metrics.wait({ timeout: 5000 }).metrics((m) =>
      [...(m.replication ?? new Map()).values()].every((r) => r.lag === 0)
    );

    const text = prometheusMetrics(leader, { memory: memoryUsage });
    const fams = families(text);
    assert.equal(value(fams, "raft_node_id"), leaderId);
    assert.equal(value(fams, "raft_term"), leader.metrics.current.currentTerm);
    assert.equal(value(fams, "raft_state", { state: "leader" }), 1);
    for (const s of ["follower", "candidate", "learner", "shutdown"]) {
      assert.equal(value(fams, "raft_state", { state: s }), 0, s);
    }
    assert.equal(value(fams, "raft_has_leader"), 1);
    assert.equal(value(fams, "raft_leader_id"), leaderId);
    assert.equal(value(fams, "raft_last_log_index"), last);
    assert.equal(value(fams, "raft_committed_index"), last);
    assert.equal(value(fams, "raft_applied_index"), last);
    assert.ok(value(fams, "raft_snapshot_index")! >= 20, "a snapshot was built");
    assert.equal(value(fams, "raft_snapshot_index"), leader.metrics.current.snapshot?.index);
    assert.equal(value(fams, "raft_purged_index"), leader.metrics.current.purged?.index ?? 0);
    assert.equal(value(fams, "raft_membership_voters"), 3);
    assert.equal(value(fams, "raft_membership_learners"), 0);
    assert.equal(value(fams, "raft_membership_joint"), 0);
    const peers = [1, 2, 3].filter((id) => id !== leaderId).map(String);
    assert.deepEqual(
      fams.get("raft_replication_lag_entries")!.metrics.map((m) => m.labels?.peer).sort(),
      peers,
      "one lag sample per follower",
    );
    for (const peer of peers) {
      assert.equal(value(fams, "raft_replication_matched_index", { peer }), last);
      assert.equal(value(fams, "raft_replication_lag_entries", { peer }), 0);
    }
    const ack = value(fams, "raft_quorum_ack_age_seconds")!;
    assert.ok(ack >= 0 && ack < 5, `quorum ack age ${ack} s`);
    assert.equal(fams.get("raft_stopped_by_error")!.metrics.length, 0);
    for (const peer of peers) {
      const age = value(fams, "raft_replication_ack_age_seconds", { peer });
      if (age !== undefined) assert.ok(age >= 0 && age < 5, `peer ${peer} answered ${age} s ago`);
    }
    // The event counters, where the runtime has them (Raft.counters()).
    if (typeof (leader as { counters?: unknown }).counters === "function") {
      assert.ok(value(fams, "raft_proposals_total")! >= 20, "the 20 writes were proposed");
      assert.ok(value(fams, "raft_append_requests_sent_total")! > 0);
      assert.ok(value(fams, "raft_snapshots_built_total")! >= 1, "the triggered snapshot");
      assert.ok(value(fams, "raft_leader_changes_total")! >= 1);
      assert.ok(value(fams, "raft_elections_started_total")! >= 1, "the leader campaigned");
      assert.equal(value(fams, "raft_snapshots_sent_total"), 0);
      assert.equal(value(fams, "raft_snapshots_installed_total"), 0);
      // Issue 18's RPC, storage, proposal and snapshot byte families.
      assert.ok(value(fams, "raft_snapshot_bytes_total", { kind: "built" })! > 100);
      assert.equal(value(fams, "raft_snapshot_bytes_total", { kind: "sent" }), 0);
      assert.equal(value(fams, "raft_snapshot_bytes_total", { kind: "installed" }), 0);
      assert.equal(value(fams, "raft_proposals_pending"), 0, "every write was answered");
      assert.equal(value(fams, "raft_log_reversions_total"), 0);
      assert.equal(value(fams, "raft_follower_reads_total"), 0);
      const sentOk = value(fams, "raft_rpcs_sent_total", { type: "append", outcome: "ok" })!;
      assert.ok(sentOk > 0);
      assert.equal(
        fams.get("raft_rpcs_sent_total")!.metrics.length,
        6 * 4,
        "every type × outcome, bounded",
      );
      const appendCount = histogramCount(text, "raft_rpc_duration_seconds", { type: "append" });
      const appendsSent = ["ok", "rejected", "refused", "error"]
        .map((outcome) => value(fams, "raft_rpcs_sent_total", { type: "append", outcome })!)
        .reduce((a, b) => a + b);
      assert.equal(appendCount, appendsSent, "one latency sample per append answered or failed");
      assert.ok(histogramCount(text, "raft_storage_append_duration_seconds") > 0);
    } else {
      assert.equal(fams.has("raft_proposals_total"), false, "no counters, no counter families");
    }
    assert.ok(value(fams, "process_resident_memory_bytes")! > 1e6);
    assert.ok(value(fams, "process_heap_used_bytes")! > 0);

    // A follower: no replication samples, its leader named.
    const follower = c.node(Number(peers[0]));
    const f = families(prometheusMetrics(follower));
    assert.equal(value(f, "raft_state", { state: "follower" }), 1);
    assert.equal(value(f, "raft_state", { state: "leader" }), 0);
    assert.equal(value(f, "raft_leader_id"), leaderId);
    assert.equal(f.get("raft_replication_lag_entries")!.metrics.length, 0);
    assert.equal(f.get("raft_quorum_ack_age_seconds")!.metrics.length, 0);
    assert.equal(f.has("process_resident_memory_bytes"), false, "no memory without the option");
    if (typeof (follower as { counters?: unknown }).counters === "function") {
      assert.ok(value(f, "raft_append_requests_received_total")! > 0);
      assert.equal(value(f, "raft_proposals_total"), 0, "a follower proposes nothing");
      assert.ok(value(f, "raft_rpcs_received_total", { type: "append", outcome: "ok" })! > 0);
    }

    // Lag shows while a follower is cut off.
    const cut = Number(peers[1]);
    c.net.isolate(cut);
    for (let i = 0; i < 5; i++) await leader.clientWrite(kvSet(`lag${i}`, "x"));
    const lagged = families(prometheusMetrics(leader));
    assert.ok(value(lagged, "raft_replication_lag_entries", { peer: String(cut) })! >= 5);
    c.net.heal();

    // The size of a scrape does not grow with the log.
    const lines = text.split("\n").length;
    for (let i = 0; i < 200; i++) leader.clientWrite(kvSet(`more${i}`, "y")).catch(() => {});
    await sleep(50);
    const memoryLines = 3 * 3; // the process_* families, left out here
    assert.equal(prometheusMetrics(leader).split("\n").length, lines - memoryLines);
  } finally {
    await c.shutdown();
  }
});

test("prometheusMetrics: a node not in a cluster, a stopped node, a throwing memory reader", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    const raft = await c.startNode(1);
    const fams = families(prometheusMetrics(raft, {
      memory: () => {
        throw new Error("not available");
      },
    }));
    assert.equal(value(fams, "raft_has_leader"), 0);
    assert.equal(fams.get("raft_leader_id")!.metrics.length, 0, "no leader id sample");
    assert.equal(value(fams, "raft_membership_voters"), 0);
    assert.equal(value(fams, "raft_committed_index"), 0);
    assert.equal(fams.has("process_resident_memory_bytes"), false);
    await raft.shutdown();
    const down = families(prometheusMetrics(raft));
    assert.equal(value(down, "raft_state", { state: "shutdown" }), 1);
    assert.ok(PROMETHEUS_CONTENT_TYPE.includes("version=0.0.4"));
  } finally {
    await c.shutdown();
  }
});
