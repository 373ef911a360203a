/**
 * The dashboard's stylesheet.
 *
 * @module
 */

/**
 * The CSS served at `/dashboard/app.css`.
 *
 * @example
 * ```ts
 * import { DASHBOARD_CSS } from "./page_style.ts";
 * console.assert(DASHBOARD_CSS.includes(".card"));
 * ```
 */
export const DASHBOARD_CSS: string = `
:root { --bg: #0f1419; --panel: #182029; --line: #2a3744; --text: #d8e0e8; --dim: #8495a6;
  --leader: #f5b942; --follower: #4aa3f0; --candidate: #f07b3f; --learner: #9aa7b4;
  --down: #e5484d; --ok: #3fb97a; --snapshot: #3fb97a; --purge: #b07cf0; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px; background: var(--bg); color: var(--text);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { display: flex; align-items: center; gap: 12px; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 15px; margin: 0 0 8px; }
small, .label, .note { color: var(--dim); font-weight: normal; }
.pill { padding: 2px 8px; border-radius: 10px; font-size: 12px; background: var(--line); }
.pill.up { background: var(--ok); color: #06140c; }
.pill.down { background: var(--down); color: #fff; }
#served-by { color: var(--dim); }
.summary { display: flex; gap: 28px; margin: 14px 0; flex-wrap: wrap; }
.summary div { display: flex; flex-direction: column; }
.big { font-size: 22px; font-variant-numeric: tabular-nums; }
.nodes { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-left: 5px solid var(--line);
  border-radius: 6px; padding: 10px 12px; }
.card[data-state="leader"] { border-left-color: var(--leader); }
.card[data-state="follower"] { border-left-color: var(--follower); }
.card[data-state="candidate"] { border-left-color: var(--candidate); }
.card[data-state="learner"] { border-left-color: var(--learner); }
.card[data-state="down"], .card[data-state="shutdown"] { border-left-color: var(--down); opacity: .75; }
.card h3 { margin: 0 0 4px; font-size: 16px; display: flex; justify-content: space-between; }
.role { font-size: 12px; padding: 1px 7px; border-radius: 9px; color: #0b0f13; }
.role.leader { background: var(--leader); } .role.follower { background: var(--follower); }
.role.candidate { background: var(--candidate); } .role.learner { background: var(--learner); }
.role.down, .role.shutdown { background: var(--down); color: #fff; }
.addr { color: var(--dim); font-size: 12px; word-break: break-all; }
.card dl { display: grid; grid-template-columns: auto 1fr; gap: 1px 10px; margin: 6px 0 0; }
.card dt { color: var(--dim); } .card dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
.card .why { color: var(--down); margin-top: 6px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 12px;
  margin-top: 14px; }
.lag { display: grid; grid-template-columns: 70px 1fr 150px; gap: 8px; align-items: center; margin: 3px 0; }
.bar { height: 10px; background: var(--line); border-radius: 5px; overflow: hidden; }
.bar i { display: block; height: 100%; background: var(--ok); }
.bar i.behind { background: var(--candidate); } .bar i.far { background: var(--down); }
svg { width: 100%; height: 90px; background: #10161d; border-radius: 4px; }
.key { display: inline-block; width: 10px; height: 10px; margin: 0 3px 0 6px; vertical-align: middle; }
.k-leader { background: var(--leader); } .k-snapshot { background: var(--snapshot); }
.k-purge { background: var(--purge); }
.events .ev-leader { color: var(--leader); } .events .ev-snapshot { color: var(--snapshot); }
.events .ev-purge { color: var(--purge); }
.events { margin: 8px 0 0; padding-left: 20px; color: var(--dim); max-height: 120px; overflow: auto; }
.admin .row { display: flex; gap: 8px; align-items: center; margin: 6px 0; }
input, select, button { background: #10161d; color: var(--text); border: 1px solid var(--line);
  border-radius: 4px; padding: 4px 8px; font: inherit; }
button { cursor: pointer; } button:disabled { opacity: .5; cursor: not-allowed; }
#secret { width: 320px; margin-left: 6px; }
.confirm { margin: 10px 0; padding: 8px; border: 1px solid var(--leader); border-radius: 4px; }
#admin-result { white-space: pre-wrap; color: var(--dim); margin: 8px 0 0; }
`;
