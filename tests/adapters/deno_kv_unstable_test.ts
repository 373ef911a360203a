// Deno KV is an unstable API: without --unstable-kv, DenoKvLogStore.open and openStorage
// reject with a StorageError that says what to add, rather than "Deno.openKv is not a
// function". Checked by running deno on a tiny script with --no-config (deno.json's
// "unstable": ["kv"] would otherwise apply), under both test runners.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { StorageError } from "../../src/errors.ts";
import { requireDenoKv } from "../../adapters/deno_kv.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DENO = join(ROOT, "node_modules", ".bin", "deno");

/** Runs `deno run` on `script` with `flags`, from the repository root; resolves with its output. */
function deno(flags: string[], script: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(DENO, ["run", ...flags, script], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += String(d)));
    child.stderr.on("data", (d) => (out += String(d)));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}

const SCRIPT = (root: string, dir: string) => `
import { openStorage } from ${JSON.stringify(new URL("adapters/mod.ts", `file://${root}`).href)};
import { DenoKvLogStore } from ${
  JSON.stringify(new URL("adapters/deno_kv.ts", `file://${root}`).href)
};
const report = async (what, open) => {
  try {
    const store = await open();
    await store.close();
    console.log(JSON.stringify({ what, opened: true }));
  } catch (e) {
    console.log(JSON.stringify({ what, name: e?.name, code: e?.code, operation: e?.operation, message: e?.message }));
  }
};
await report("open", () => DenoKvLogStore.open(${JSON.stringify(join(dir, "direct.kv"))}));
await report("openStorage", () => openStorage({ path: ${JSON.stringify(join(dir, "data"))} }));
`;

test("deno_kv: without --unstable-kv, open and openStorage say to add it (StorageError), creating nothing", async () => {
  const dir = await mkdtemp(join(tmpdir(), "raft-kv-unstable-"));
  try {
    // deno.json's import map, without its "unstable" setting.
    const config = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
    const map = join(dir, "import_map.json");
    await writeFile(map, JSON.stringify({ imports: config.imports }));
    const script = join(dir, "open.js");
    await writeFile(script, SCRIPT(ROOT, dir));
    const base = [
      "--no-config",
      `--import-map=${map}`,
      "--node-modules-dir=manual",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
    ];

    const without = await deno(base, script);
    assert.equal(without.code, 0, without.out);
    const lines = without.out.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 2, without.out);
    for (const r of lines) {
      assert.equal(r.name, "StorageError", `${r.what}: ${without.out}`);
      assert.equal(r.code, "StorageError");
      assert.equal(r.operation, "open");
      assert.match(r.message, /--unstable-kv/, r.what);
      assert.ok(r.message.includes('"unstable": ["kv"]'), r.message);
      assert.match(r.message, /deno\.json/);
    }
    await assert.rejects(stat(join(dir, "data")), "openStorage created no data directory");
    await assert.rejects(stat(join(dir, "direct.kv")));

    // The same script with the flag opens both.
    const withFlag = await deno([...base, "--unstable-kv"], script);
    assert.equal(withFlag.code, 0, withFlag.out);
    for (const line of withFlag.out.trim().split("\n")) {
      assert.equal(JSON.parse(line).opened, true, withFlag.out);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("deno_kv: requireDenoKv passes where Deno KV is enabled, and says it needs Deno elsewhere", () => {
  const deno = (globalThis as { Deno?: { openKv?: unknown } }).Deno;
  if (typeof deno?.openKv === "function") {
    assert.doesNotThrow(() => requireDenoKv());
    return;
  }
  assert.throws(() => requireDenoKv(), (e: unknown) => {
    assert.ok(e instanceof StorageError, String(e));
    assert.equal(e.operation, "open");
    assert.match(e.message, deno === undefined ? /needs Deno/ : /--unstable-kv/);
    return true;
  });
});

test("bun_sqlite: opened elsewhere than Bun, it says which store to use instead", async () => {
  if ("Bun" in globalThis) return;
  const { BunSqliteLogStore } = await import("../../adapters/bun_sqlite.ts");
  await assert.rejects(BunSqliteLogStore.open(join(tmpdir(), "never-created.sqlite")), (e) => {
    assert.ok(e instanceof Error);
    assert.match(
      e.message,
      /needs Bun \(bun:sqlite\), and this is not Bun: under Deno use DenoKvLogStore/,
    );
    assert.match(e.message, /openStorage/);
    return true;
  });
});
