// docs/state_machine.md shows examples/inventory.ts whole: the page's block must be
// the example's code (from its first import on), with the example's relative imports
// written as the published package's specifiers. The example itself is tested in
// tests/examples/inventory_test.ts; the page's other blocks run in docs_snippets_test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./_doc_blocks.ts";

const IMPORTS: readonly [string, string][] = [
  ['"../mod.ts"', '"jsr:@x/raft"'],
  ['"../adapters/mod.ts"', '"jsr:@x/raft/adapters"'],
  ['"../testing/mod.ts"', '"jsr:@x/raft/testing"'],
];

test("docs/state_machine.md: its inventory block is examples/inventory.ts, imports as published", () => {
  const page = readFileSync(join(ROOT, "docs", "state_machine.md"), "utf8");
  const blocks = [...page.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  const shown = blocks.filter((b) => b.includes("export class InventoryStateMachine"));
  assert.equal(shown.length, 1, "one block shows the inventory state machine");
  const source = readFileSync(join(ROOT, "examples", "inventory.ts"), "utf8");
  let expected = source.slice(source.indexOf("\nimport {") + 1);
  for (const [relative, published] of IMPORTS) {
    assert.ok(expected.includes(relative), `the example imports ${relative}`);
    expected = expected.replaceAll(relative, published);
  }
  assert.equal(shown[0], expected, "update the page's block from examples/inventory.ts");
});
