// Runs every script in testdata/*.txt (one test each), and tests the runner itself.
// REWRITE=1 writes the actual output into the scripts instead of failing.
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { formatMismatches, runScript, runScriptFile } from "./_scenario.ts";

const dir = fileURLToPath(new URL("./testdata/", import.meta.url));
const rewrite = process.env.REWRITE === "1" || process.env.REWRITE === "true";

for (const file of readdirSync(dir).filter((f) => f.endsWith(".txt")).sort()) {
  test(`engine/scenario: ${file.replace(/\.txt$/, "")}`, () => {
    runScriptFile(`${dir}${file}`, rewrite);
  });
}

// ---- the runner --------------------------------------------------------------------------

const ELECTION = `# 1 campaigns and wins.
cluster 1 2 3
----
node  role      term  vote  lead  commit  applied  log
1     follower  0     -     -     0       0        []
2     follower  0     -     -     0       0        []
3     follower  0     -     -     0       0        []

elect 1
----
node  role      term  vote  lead  commit  applied  log
1     leader    1     1     1     1       1        [1]
2     follower  1     1     1     1       1        [1]
3     follower  1     1     1     1       1        [1]
`;

test("engine/scenario runner: a script whose output matches passes and rewrites to itself", () => {
  const r = runScript(ELECTION);
  assert.deepEqual(r.mismatches, []);
  assert.equal(r.rewritten, ELECTION);
});

test("engine/scenario runner: a wrong expectation fails with the expected and actual table", () => {
  const wrong = ELECTION.replace(
    "1     leader    1     1     1     1       1        [1]",
    [
      "1     leader    2     1     1     1       1        [1]",
    ].join(""),
  );
  const r = runScript(wrong, "wrong.txt");
  assert.equal(r.mismatches.length, 1);
  const m = r.mismatches[0]!;
  assert.equal(m.line, 9);
  assert.equal(m.command, "elect 1");
  const report = formatMismatches("wrong.txt", r.mismatches);
  assert.match(report, /^wrong\.txt:9: elect 1$/m);
  assert.match(report, /expected:\n {4}node {2}role/);
  assert.match(report, /^ {4}- 1 {5}leader {4}2 /m);
  assert.match(report, /^ {4}\+ 1 {5}leader {4}1 /m);
  assert.match(report, /REWRITE=1/);
  // The rewritten script is the correct one.
  assert.equal(r.rewritten, ELECTION);
});

test("engine/scenario runner: REWRITE fills in missing and stale output, keeping comments", () => {
  const bare = [
    "# 1 campaigns and wins.",
    "cluster 1 2 3",
    "",
    "elect 1",
    "----",
    "stale output",
    "",
    "# Nothing changes on a partition alone: no output.",
    "isolate 3",
    "status 3",
    "",
  ].join("\n");
  const r = runScript(bare);
  assert.equal(r.mismatches.length, 3);
  const want = ELECTION + [
    "",
    "# Nothing changes on a partition alone: no output.",
    "isolate 3",
    "status 3",
    "----",
    "node  role      term  vote  lead  commit  applied  log",
    "3     follower  1     1     1     1       1        [1]",
    "",
  ].join("\n");
  assert.equal(r.rewritten, want);
  assert.deepEqual(runScript(r.rewritten).mismatches, []);
});

test("engine/scenario runner: an unknown command or option names the line", () => {
  assert.throws(
    () => runScript("cluster 1 2 3\n\nelekt 1\n", "x.txt"),
    /x\.txt:3: elekt 1\n.*unknown command elekt/,
  );
  assert.throws(
    () => runScript("cluster 1 2 3 prevote=off\n", "x.txt"),
    /x\.txt:1: .*unknown option prevote/s,
  );
});

test("engine/scenario runner: a broken invariant stops the script", () => {
  // Forged appends make 1 and 2 apply different entries at index 1: impossible in Raft.
  const script = [
    "cluster 1 2 3 term=4",
    "send 3 1 append term=5 prev=none entries=[5] commit=1",
    "send 3 2 append term=5 prev=none entries=[4] commit=1",
    "",
  ].join("\n");
  assert.throws(() => runScript(script, "x.txt"), /x\.txt:3: .*invariant violated/s);
});
