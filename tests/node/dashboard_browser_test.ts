// The dashboard in a real browser: headless Chromium (Debian's `chromium`,
// installed by scripts/install_chromium.sh when missing and permitted; the
// test skips with the reason otherwise), driven over the Chrome DevTools
// Protocol by the small client below, against a 3-node cluster of
// examples/kv.ts processes with durable storage. The leader is killed with
// SIGKILL: the page must show the new leader within a few seconds, the
// killed node as down, then back once restarted. Screenshots go to .tmp/
// (and to docs/dashboard.png with UPDATE_DOCS_SCREENSHOT=1).
//
// Heavy (four processes and a browser): it runs under the Deno runner only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Child, http, IS_BUN, ROOT, run, tempDir, until, urlOf } from "./_process.ts";
import { freePort } from "../../chaos/node_placement.ts";

/** The browser's path, or why there is none. */
function findChromium(): { path: string } | { skip: string } {
  const which = (): string | null => {
    for (const name of [process.env.CHROMIUM, "chromium", "chromium-browser"]) {
      if (name === undefined || name === "") continue;
      try {
        return execFileSync("sh", ["-c", `command -v "$0"`, name], { encoding: "utf8" }).trim() ||
          null;
      } catch {
        // Not this one.
      }
    }
    return null;
  };
  const found = which();
  if (found !== null) return { path: found };
  // Installs Debian's chromium when this user may (root, or passwordless sudo).
  const install = spawnSync("bash", [join(ROOT, "scripts", "install_chromium.sh")], {
    encoding: "utf8",
    timeout: 300_000,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const said = `${install.stdout ?? ""}${install.stderr ?? ""}${install.error ?? ""}`;
  const installed = which();
  if (installed !== null) return { path: installed };
  return {
    skip: "no chromium, and scripts/install_chromium.sh could not install it " +
      `(${said.trim() || "not permitted"}): install Debian's chromium to run this test`,
  };
}

const CHROMIUM = IS_BUN ? { skip: "heavy: runs under deno test only" } : findChromium();
if ("skip" in CHROMIUM) console.warn(`dashboard browser test skipped: ${CHROMIUM.skip}`);

/** A minimal Chrome DevTools Protocol client over one WebSocket (flat sessions). */
class Cdp {
  readonly #ws: WebSocket;
  readonly #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  #next = 1;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.addEventListener("message", (ev) => {
      const msg = JSON.parse(String(ev.data)) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
      };
      if (msg.id === undefined) return; // an event
      const p = this.#pending.get(msg.id);
      if (p === undefined) return;
      this.#pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(`CDP: ${msg.error.message}`));
      else p.resolve(msg.result);
    });
    ws.addEventListener("close", () => {
      for (const p of this.#pending.values()) p.reject(new Error("CDP: connection closed"));
      this.#pending.clear();
    });
  }

  static connect(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const timer = setTimeout(() => reject(new Error("CDP: no connection in 10 s")), 10_000);
      ws.addEventListener("open", () => {
        clearTimeout(timer);
        resolve(new Cdp(ws));
      }, { once: true });
      ws.addEventListener("error", () => {
        clearTimeout(timer);
        reject(new Error(`CDP: cannot connect to ${url}`));
      }, { once: true });
    });
  }

  send<T>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`CDP: ${method} unanswered in 15 s`));
      }, 15_000);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  close(): void {
    this.#ws.close();
  }
}

/** A page of the browser. */
class Page {
  constructor(readonly cdp: Cdp, readonly session: string) {}

  /** Evaluates `expression` in the page; its value, by JSON. */
  async eval<T>(expression: string): Promise<T> {
    const r = await this.cdp.send<{
      result: { value?: unknown };
      exceptionDetails?: { text: string };
    }>("Runtime.evaluate", { expression, returnByValue: true }, this.session);
    if (r.exceptionDetails !== undefined) throw new Error(`page: ${r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  async screenshot(...paths: string[]): Promise<void> {
    const { data } = await this.cdp.send<{ data: string }>(
      "Page.captureScreenshot",
      { format: "png" },
      this.session,
    );
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    for (const path of paths) {
      await mkdir(join(path, ".."), { recursive: true });
      await writeFile(path, bytes);
    }
  }
}

/** Starts headless Chromium in its own process group; its DevTools URL from stderr. */
async function launch(
  path: string,
  profile: string,
): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const child = spawn(path, [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    `--user-data-dir=${profile}`,
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    "--window-size=1280,1100",
    "about:blank",
  ], { detached: true, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`chromium: no DevTools URL in 20 s:\n${err.slice(-2000)}`)),
      20_000,
    );
    child.stderr!.on("data", (d: Uint8Array) => {
      err += new TextDecoder().decode(d);
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited (${code}):\n${err.slice(-2000)}`));
    });
  });
  return { child, url, log: () => err };
}

/** Kills the process group we started (the browser and any helper left of it). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    try {
      child.kill("SIGKILL");
    } catch {
      // Gone.
    }
  }
}

/** What the page shows: each card's node id and state, and the summary's leader. */
interface Shown {
  cards: [string, string][];
  leader: string;
  connected: string;
}
const SECRET = "dashboard-test-secret";

/** The node shown as leader, or `null` unless exactly one is. */
function shownLeader(s: Shown): number | null {
  const leaders = s.cards.filter(([, state]) => state === "leader");
  return leaders.length === 1 ? Number(leaders[0]![0]) : null;
}

const SHOWN = `JSON.stringify({
  cards: Array.from(document.querySelectorAll(".card")).map((e) => [e.dataset.nodeId, e.dataset.state]),
  leader: document.getElementById("sum-leader").textContent,
  connected: document.getElementById("connection").textContent,
})`;

test(
  "dashboard in headless Chromium (heavy: Deno runner only): 3 kv.ts nodes, the leader killed -9 and restarted, leadership transferred from the page",
  { timeout: 90_000, ...("skip" in CHROMIUM ? { skip: CHROMIUM.skip } : {}) },
  async () => {
    if ("skip" in CHROMIUM) return;
    const started = Date.now();
    const dir = await tempDir("raft-dashboard-");
    const ports = [await freePort(), await freePort(), await freePort()];
    const timing = [
      "--heartbeat",
      "50",
      "--election-timeout",
      "400-800",
      "--snapshot-every",
      "40",
      "--keep-logs",
      "10",
      "--secret",
      SECRET,
    ];
    const argsOf = (id: number): string[] => [
      "--id",
      String(id),
      "--addr",
      `127.0.0.1:${ports[id - 1]}`,
      "--data",
      join(dir.path, `n${id}`),
      ...timing,
    ];
    const children = new Map<number, Child>();
    let browser: Awaited<ReturnType<typeof launch>> | null = null;
    let cdp: Cdp | null = null;
    let writing = true;
    let writer: Promise<void> = Promise.resolve();
    try {
      children.set(1, run([...argsOf(1), "--init"]));
      const url1 = urlOf(await children.get(1)!.line(/listening on/));
      for (const id of [2, 3]) {
        children.set(id, run([...argsOf(id), "--join", url1]));
        await children.get(id)!.line(/listening on/);
      }
      const urls = ports.map((p) => `http://127.0.0.1:${p}`);
      const leaderNow = (): Promise<number> =>
        until("a leader all agree on", async () => {
          const ms = await Promise.all(
            urls.map((u) => http(`${u}/metrics.json`).then((r) => r.json, () => null)),
          ) as ({ leader: number | null; membership: { voters: number[] } } | null)[];
          const live = ms.filter((m) => m !== null);
          const leader = live[0]?.leader ?? null;
          return leader !== null && live.length >= 2 &&
              live.every((m) => m.leader === leader && m.membership.voters.length === 3)
            ? leader
            : undefined;
        }, 15_000);
      const leader = await leaderNow();

      // A steady trickle of writes, for the commits/s sparkline and snapshots.
      writer = (async () => {
        let i = 0;
        while (writing) {
          for (const u of urls) {
            const r = await http(`${u}/kv/k${i % 20}`, { method: "PUT", body: String(i) }).catch(
              () => null,
            );
            if (r?.status === 200) break;
          }
          i++;
          await new Promise((r) => setTimeout(r, 40));
        }
      })();

      // The page, served by a node that will stay up.
      const host = [1, 2, 3].find((id) => id !== leader)!;
      const profile = join(dir.path, "chromium-profile");
      browser = await launch(CHROMIUM.path, profile);
      cdp = await Cdp.connect(browser.url);
      const { targetId } = await cdp.send<{ targetId: string }>("Target.createTarget", {
        url: "about:blank",
      });
      const { sessionId } = await cdp.send<{ sessionId: string }>("Target.attachToTarget", {
        targetId,
        flatten: true,
      });
      const page = new Page(cdp, sessionId);
      await cdp.send("Page.enable", {}, sessionId);
      await cdp.send("Emulation.setDeviceMetricsOverride", {
        width: 1280,
        height: 1100,
        deviceScaleFactor: 1,
        mobile: false,
      }, sessionId);
      await cdp.send("Page.navigate", { url: `${urls[host - 1]}/` }, sessionId);
      const shown = (): Promise<Shown> => page.eval<string>(SHOWN).then((s) => JSON.parse(s));

      // Three nodes and one leader.
      const first = await until("three nodes and one leader shown", async () => {
        const s = await shown().catch(() => null);
        if (s === null || s.cards.length !== 3) return undefined;
        const leaders = s.cards.filter(([, state]) => state === "leader");
        return leaders.length === 1 && s.cards.every(([, st]) => st !== "down") ? s : undefined;
      }, 15_000);
      assert.deepEqual(first.cards.map(([id]) => id), ["1", "2", "3"]);
      assert.deepEqual(first.cards.find(([, s]) => s === "leader")![0], String(leader));
      assert.equal(first.leader, `node ${leader}`);
      assert.equal(first.connected, "live");
      // A little history on the timeline (more for the docs' screenshot).
      const docs = process.env.UPDATE_DOCS_SCREENSHOT === "1"
        ? [join(ROOT, "docs", "dashboard.png")]
        : [];
      await new Promise((r) => setTimeout(r, docs.length > 0 ? 20_000 : 2500));

      // kill -9 the leader: a new leader shown within a few seconds, the old one down.
      children.get(leader)!.kill("SIGKILL");
      const killedAt = Date.now();
      const after = await until("a new leader shown, the killed node down", async () => {
        const s = await shown().catch(() => null);
        if (s === null) return undefined;
        const state = new Map(s.cards);
        const leaders = s.cards.filter(([, st]) => st === "leader");
        return state.get(String(leader)) === "down" && leaders.length === 1 &&
            leaders[0]![0] !== String(leader)
          ? s
          : undefined;
      }, 10_000);
      const tookMs = Date.now() - killedAt;
      assert.ok(tookMs < 8000, `the new leader was shown ${tookMs} ms after the kill`);
      const newLeader = Number(after.cards.find(([, s]) => s === "leader")![0]);
      assert.equal(after.leader, `node ${newLeader}`);
      const downText = await page.eval<string>(
        `document.querySelector('.card[data-node-id="${leader}"] .why').textContent`,
      );
      assert.match(downText, /^down: (unreachable|timeout)/);
      await new Promise((r) => setTimeout(r, 1500)); // the follower's lag shows
      await page.screenshot(join(ROOT, ".tmp", "dashboard_node_down.png"), ...docs);

      // Restarted (same id, address and data): shown back.
      await children.get(leader)!.exited;
      children.set(leader, run(argsOf(leader)));
      await children.get(leader)!.line(/listening on/);
      const back = await until("the restarted node shown back", async () => {
        const s = await shown().catch(() => null);
        if (s === null) return undefined;
        const state = new Map(s.cards);
        const st = state.get(String(leader));
        return st !== undefined && st !== "down" &&
            s.cards.filter(([, x]) => x === "leader").length === 1
          ? s
          : undefined;
      }, 15_000);
      assert.equal(back.cards.length, 3);
      const changes = await page.eval<number>(
        `document.querySelectorAll("#leader-changes li.ev-leader").length`,
      );
      assert.ok(changes >= 2, `leader changes listed: ${changes}`);
      await page.screenshot(join(ROOT, ".tmp", "dashboard.png"));

      // An admin action from the page: confirmation first, refused without the secret.
      const current = Number(back.cards.find(([, s]) => s === "leader")![0]);
      const target = [1, 2, 3].find((id) => id !== current)!;
      const transfer = async (secret: string): Promise<string> => {
        await page.eval(`(() => {
          document.getElementById("secret").value = ${JSON.stringify(secret)};
          document.getElementById("admin-result").textContent = "";
          document.getElementById("transfer-to").value = "${target}";
          document.querySelector('button[data-action="transfer-leader"]').click();
        })()`);
        const asked = await page.eval<string>(
          `document.getElementById("confirm").hidden ? "" : document.getElementById("confirm-text").textContent`,
        );
        assert.equal(asked, `Transfer leadership to node ${target}?`, "asked first");
        await page.eval(`document.getElementById("confirm-yes").click()`);
        return await until("the action's answer", async () => {
          const text = await page.eval<string>(
            `document.getElementById("admin-result").textContent`,
          );
          return /^(done|failed)/.test(text) ? text : undefined;
        }, 15_000);
      };
      assert.match(await transfer("wrong"), /^failed \(401\)/);
      assert.equal(shownLeader(await shown()), current, "nothing changed");
      assert.match(await transfer(SECRET), /^done: \{"leader":\d+\}/);
      await until(`node ${target} shown as leader`, async () => {
        return shownLeader(await shown()) === target ? true : undefined;
      }, 10_000);
      const total = Date.now() - started;
      assert.ok(total < 60_000, `took ${total} ms`);
    } finally {
      writing = false;
      await writer.catch(() => {});
      try {
        if (cdp !== null) await cdp.send("Browser.close").catch(() => {});
      } finally {
        cdp?.close();
        if (browser !== null) {
          const exited = browser.child.exitCode !== null
            ? Promise.resolve()
            : new Promise<void>((r) => browser!.child.once("exit", () => r()));
          await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
          killGroup(browser.child);
        }
        for (const c of children.values()) c.kill("SIGKILL");
        await Promise.race([
          Promise.all([...children.values()].map((c) => c.exited)),
          new Promise((r) => setTimeout(r, 10_000)),
        ]);
        await dir.remove();
      }
    }
  },
);
