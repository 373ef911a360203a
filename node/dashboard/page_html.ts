/**
 * The dashboard's HTML: a static skeleton that `page_script.ts` fills in
 * from the server-sent events. No inline script or style (the page is served
 * with a strict content security policy).
 *
 * @module
 */

/**
 * The dashboard page served at `/`.
 *
 * @example
 * ```ts
 * import { DASHBOARD_HTML } from "./page_html.ts";
 * console.assert(DASHBOARD_HTML.startsWith("<!doctype html>"));
 * ```
 */
export const DASHBOARD_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Raft cluster</title>
<link rel="stylesheet" href="/dashboard/app.css">
<script src="/dashboard/app.js" defer></script>
</head>
<body>
<header>
  <h1>Raft cluster</h1>
  <span id="connection" class="pill down">connecting…</span>
  <span id="served-by"></span>
</header>
<section id="summary" class="summary">
  <div><span class="label">leader</span><span id="sum-leader" class="big">–</span></div>
  <div><span class="label">term</span><span id="sum-term" class="big">–</span></div>
  <div><span class="label">commits/s</span><span id="sum-rate" class="big">–</span></div>
  <div><span class="label">nodes up</span><span id="sum-up" class="big">–</span></div>
  <div><span class="label">committed</span><span id="sum-committed" class="big">–</span></div>
</section>
<section id="nodes" class="nodes"></section>
<section class="panel">
  <h2>Replication lag <small id="repl-from"></small></h2>
  <div id="replication"></div>
</section>
<section class="panel">
  <h2>Timeline <small>commits/s · <i class="key k-leader"></i>leader change
    · <i class="key k-snapshot"></i>snapshot · <i class="key k-purge"></i>purge</small></h2>
  <svg id="timeline" viewBox="0 0 600 90" preserveAspectRatio="none"></svg>
  <ol id="leader-changes" class="events"></ol>
</section>
<section class="panel admin">
  <h2>Admin <small>actions go to the leader; they need the cluster's secret</small></h2>
  <label>Secret <input id="secret" type="password" autocomplete="off" placeholder="--secret of the nodes (kept in this tab only)"></label>
  <div class="row">
    <button data-action="transfer-leader">Transfer leadership to</button>
    <select id="transfer-to"></select>
  </div>
  <div class="row">
    <button data-action="snapshot">Trigger snapshot</button>
    <span class="note">on the leader; its log is then purged behind it</span>
  </div>
  <div class="row">
    <button data-action="add-learner">Add learner</button>
    <input id="learner-id" type="number" min="0" placeholder="id">
    <input id="learner-addr" placeholder="host:port">
  </div>
  <div class="row">
    <button data-action="promote">Make voter</button>
    <select id="promote-id"></select>
  </div>
  <div class="row">
    <button data-action="remove">Remove voter</button>
    <select id="remove-id"></select>
  </div>
  <div id="confirm" class="confirm" hidden>
    <span id="confirm-text"></span>
    <button id="confirm-yes">Confirm</button>
    <button id="confirm-no">Cancel</button>
  </div>
  <pre id="admin-result"></pre>
</section>
</body>
</html>
`;
