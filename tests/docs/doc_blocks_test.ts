// The docs harness's helper (tests/docs/_doc_blocks.ts) on made-up pages: it finds the
// blocks, refuses `skip` and unknown directives, maps specifiers (refusing unknown
// subpaths), and extracts commands and markers as docs/*.md conventions say.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { commandsOf, mapSpecifiers, markersIn, parsePage, ROOT } from "./_doc_blocks.ts";

const FENCE = "```";

test("doc blocks: ts blocks with their fence line, language and directive", () => {
  const page = [
    "# Page", //
    "",
    `${FENCE}ts`,
    'console.log("a");',
    FENCE,
    "<!-- snippet: check-only -->",
    `${FENCE}ts`,
    "Deno.serve(() => new Response());",
    FENCE,
    "<!-- snippet: bun-only -->",
    `${FENCE}typescript title="x"`,
    "1;",
    FENCE,
    `${FENCE}json`,
    "{}",
    FENCE,
  ].join("\n");
  const { blocks, problems } = parsePage("docs/p.md", page);
  assert.deepEqual(problems, []);
  assert.deepEqual(
    blocks.map((b) => [b.line, b.lang, b.directive, b.directiveError, b.code]),
    [
      [3, "ts", null, null, 'console.log("a");\n'],
      [7, "ts", "check-only", null, "Deno.serve(() => new Response());\n"],
      [11, "typescript", "bun-only", null, "1;\n"],
      [14, "json", null, null, "{}\n"],
    ],
  );
});

test("doc blocks: `skip`, unknown and malformed directives are errors naming page and line", () => {
  const page = [
    "<!-- snippet: skip -->",
    `${FENCE}ts`,
    "1;",
    FENCE,
    "<!-- snippet: node-only -->",
    `${FENCE}ts`,
    "2;",
    FENCE,
    "<!-- snippet check-only -->",
    `${FENCE}ts`,
    "3;",
    FENCE,
  ].join("\n");
  const { blocks } = parsePage("docs/p.md", page);
  assert.match(blocks[0]!.directiveError!, /^docs\/p\.md:1: <!-- snippet: skip --> is not allowed/);
  assert.match(blocks[1]!.directiveError!, /^docs\/p\.md:5: unknown snippet directive "node-only"/);
  assert.match(blocks[2]!.directiveError!, /^docs\/p\.md:9: malformed snippet directive/);
  assert.ok(blocks.every((b) => b.directive === null));
});

test("doc blocks: a directive not on the line right before a ts block is a page problem", () => {
  const page = [
    "<!-- snippet: check-only -->",
    "",
    `${FENCE}ts`,
    "1;",
    FENCE,
    "<!-- snippet: deno-only -->",
    `${FENCE}sh`,
    "ls",
    FENCE,
  ].join("\n");
  const { problems } = parsePage("docs/p.md", page);
  assert.deepEqual(problems.map((p) => p.line), [1, 6]);
  assert.match(problems[0]!.message, /docs\/p\.md:1: .* right before a ```ts block/);
});

test("doc blocks: jsr:@x/raft specifiers map to deno.json exports; an unknown subpath throws", () => {
  const exports = { ".": "./mod.ts", "./kv": "./kv/mod.ts" };
  const code = [
    'import { Raft } from "jsr:@x/raft";',
    "import { kvSet } from 'jsr:@x/raft@^0.1.0/kv';",
  ].join("\n");
  assert.equal(
    mapSpecifiers(code, exports, { name: "@x/raft" }),
    [
      `import { Raft } from "${pathToFileURL(join(ROOT, "mod.ts")).href}";`,
      `import { kvSet } from '${pathToFileURL(join(ROOT, "kv/mod.ts")).href}';`,
    ].join("\n"),
  );
  assert.throws(
    () => mapSpecifiers('import "jsr:@x/raft/nope";', exports, { name: "@x/raft" }),
    /unknown subpath: jsr:@x\/raft\/nope is not in deno.json "exports" \(known: jsr:@x\/raft, jsr:@x\/raft\/kv\)/,
  );
  assert.throws(
    () => mapSpecifiers('import "jsr:@std/path";', exports, { name: "@x/raft" }),
    /"jsr:@std\/path": only jsr:@x\/raft specifiers are mapped/,
  );
  assert.equal(
    mapSpecifiers('import "jsr:@std/path";', exports, { name: "@x/raft", allowOtherJsr: true }),
    'import "jsr:@std/path";',
  );
  // The real deno.json maps every export the docs may import.
  assert.match(mapSpecifiers('import "jsr:@x/raft/adapters/memory";'), /adapters\/memory\.ts"/);
});

test("doc blocks: commands skip blanks and comments, join continuations, drop trailing comments", () => {
  const page = [
    `${FENCE}sh`,
    "# a comment",
    "npm run node   # starts node 1",
    "",
    "curl -s -X PUT http://127.0.0.1:21001/kv/greeting \\",
    "  -d 'hello # not a comment'",
    'echo "#x" # y',
    FENCE,
    `${FENCE}ts`,
    "not a command",
    FENCE,
  ].join("\n");
  const { blocks } = parsePage("docs/p.md", page);
  assert.deepEqual(commandsOf(blocks), [
    { page: "docs/p.md", line: 3, command: "npm run node" },
    {
      page: "docs/p.md",
      line: 5,
      command: "curl -s -X PUT http://127.0.0.1:21001/kv/greeting -d 'hello # not a comment'",
    },
    { page: "docs/p.md", line: 7, command: 'echo "#x"' },
  ]);
});

test("doc blocks: markers are whole `// exercises:` lines (`# exercises:` in .ci/run)", () => {
  const text = [
    "  // exercises: npm run node",
    "const x = 1; // exercises: not a marker",
    "// exercises: deno task node  ",
  ].join("\n");
  assert.deepEqual(markersIn("tests/x_test.ts", text).map((m) => [m.line, m.command]), [
    [1, "npm run node"],
    [3, "deno task node"],
  ]);
  assert.deepEqual(markersIn(".ci/run", "# exercises: npm test\n", true).map((m) => m.command), [
    "npm test",
  ]);
});
