// Every way this repository starts a Deno node — `deno task node`, `npm run node`
// (scripts/node.sh), examples/cluster.ts, docs/deploying.md's command lines and systemd unit,
// docs/operating.md, the chaos and benchmark harnesses — passes DENO_NODE_FLAGS, so what is
// measured and tested is what is deployed; and the flags do what they are there for: V8's
// young generation stays at 4 MB under an allocation load that grows it to 64 MB without them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DENO_NODE_FLAGS, runtimeCommand } from "../../chaos/node_contract.ts";
import { ROOT } from "./_doc_blocks.ts";

const read = (path: string): string => readFileSync(join(ROOT, path), "utf8");

/** The Deno command lines of `text` that run examples/kv.ts, continuation lines joined. */
function denoKvCommands(text: string): string[] {
  return text.replace(/ *\\\n */g, " ").split("\n")
    .filter((line) => /deno run .*examples\/kv\.ts/.test(line));
}

test("Deno nodes: every documented or scripted start passes DENO_NODE_FLAGS", () => {
  const tasks = (JSON.parse(read("deno.json")) as { tasks: Record<string, string> }).tasks;
  const places: [string, string[]][] = [
    ["deno.json task node", [tasks.node ?? ""]],
    ["scripts/node.sh", denoKvCommands(read("scripts/node.sh"))],
    ["docs/deploying.md", denoKvCommands(read("docs/deploying.md"))],
    ["docs/operating.md", denoKvCommands(read("docs/operating.md"))],
  ];
  for (const [where, commands] of places) {
    assert.ok(commands.length > 0, `${where}: no Deno command line running examples/kv.ts`);
    for (const command of commands) {
      for (const flag of DENO_NODE_FLAGS) {
        assert.ok(command.includes(` ${flag} `), `${where} lacks ${flag}: ${command}`);
      }
    }
  }
  // examples/cluster.ts spawns its nodes with an argument list.
  for (const flag of DENO_NODE_FLAGS) {
    assert.ok(
      read("examples/cluster.ts").includes(`"${flag}"`),
      `examples/cluster.ts lacks ${flag}`,
    );
  }
  const [, args] = runtimeCommand("/repo", "deno", "examples/kv.ts");
  assert.deepEqual(args, ["run", "-A", ...DENO_NODE_FLAGS, "examples/kv.ts"]);
  assert.deepEqual(runtimeCommand("/repo", "bun", "examples/kv.ts")[1], ["run", "examples/kv.ts"]);
  assert.ok(read("bench/_raft_cluster.ts").includes("...DENO_NODE_FLAGS"));
});

test("Deno nodes: DENO_NODE_FLAGS keep V8's young generation at 4 MB under allocation", () => {
  const dir = mkdtempSync(join(tmpdir(), "raft-deno-flags-"));
  try {
    const script = join(dir, "young.ts");
    // Objects that survive a while (a ring of 200,000), as a loaded node's requests do: V8
    // grows its new space as far as it may.
    writeFileSync(
      script,
      `import v8 from "node:v8";
const ring: unknown[] = new Array(200_000);
for (let i = 0; i < 4_000_000; i++) ring[i % 200_000] = { i, s: "v" + i };
const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
console.log(space?.space_size ?? -1);
`,
    );
    const deno = join(ROOT, "node_modules", ".bin", "deno");
    const size = (flags: readonly string[]): number =>
      Number(execFileSync(deno, ["run", "-A", ...flags, script], { encoding: "utf8" }).trim());
    const capped = size(DENO_NODE_FLAGS);
    const plain = size([]);
    assert.ok(capped > 0 && capped <= 4 * 1024 * 1024, `new space with the flags: ${capped} bytes`);
    assert.ok(plain > capped, `without the flags the new space grows (${plain} > ${capped})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
