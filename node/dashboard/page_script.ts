/**
 * The dashboard's script (plain browser JavaScript, no build step): it
 * listens to `/dashboard/events` (server-sent events of `ClusterView`s),
 * keeps two minutes of history in the tab (commits per second, leader
 * changes, snapshot and purge points) and draws every node, the replication
 * lag of each follower and the timeline; admin actions are posted to
 * `/dashboard/admin/<action>` after an in-page confirmation, with the secret
 * the operator typed as `authorization: Bearer`.
 *
 * @module
 */

/**
 * The JavaScript served at `/dashboard/app.js`.
 *
 * @example
 * ```ts
 * import { DASHBOARD_SCRIPT } from "./page_script.ts";
 * console.assert(DASHBOARD_SCRIPT.includes("EventSource"));
 * ```
 */
export const DASHBOARD_SCRIPT: string = String.raw`"use strict";
(function () {
  var HISTORY_MS = 120000;
  var st = { view: null, last: null, rates: [], marks: [], leaders: [], leader: undefined,
    snaps: {}, purges: {}, seen: {}, first: null, connected: false, pending: null };
  var byId = function (id) { return document.getElementById(id); };

  function h(tag, attrs, children) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) {
      if (k === "text") e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]);
    }
    return e;
  }
  function num(v) { return v === null || v === undefined ? "–" : String(v); }
  function time(at) { return new Date(at).toLocaleTimeString(); }

  /** The cluster's leader: a reachable node in state leader, of the highest term. */
  function leaderOf(view) {
    var best = null;
    view.nodes.forEach(function (n) {
      if (n.ok && n.metrics.state === "leader" &&
        (best === null || n.metrics.term > best.metrics.term)) best = n;
    });
    return best;
  }

  function onView(view) {
    var leader = leaderOf(view);
    var committed = 0;
    view.nodes.forEach(function (n) {
      if (n.ok) committed = Math.max(committed, n.metrics.committed || 0);
    });
    if (st.last !== null && view.at > st.last.at) {
      var rate = Math.max(0, committed - st.last.committed) * 1000 / (view.at - st.last.at);
      st.rates.push({ at: view.at, rate: rate });
    }
    st.last = { at: view.at, committed: committed };
    var lid = leader === null ? null : leader.id;
    if (lid !== st.leader) {
      if (st.leader !== undefined || lid !== null) {
        st.leaders.push({ at: view.at, id: lid, term: leader === null ? null : leader.metrics.term });
        st.marks.push({ at: view.at, kind: "leader", label: lid === null ? "no leader" : "leader → node " + lid });
      }
      st.leader = lid;
    }
    var snapped = [], purged = [];
    view.nodes.forEach(function (n) {
      if (!n.ok) return;
      st.seen[n.id] = view.at;
      var s = n.metrics.snapshot || 0, p = n.metrics.purged || 0;
      if (st.snaps[n.id] !== undefined && s > st.snaps[n.id]) snapped.push(n.id + "@" + s);
      if (st.purges[n.id] !== undefined && p > st.purges[n.id]) purged.push(n.id + "@" + p);
      st.snaps[n.id] = s;
      st.purges[n.id] = p;
    });
    if (snapped.length > 0) {
      st.marks.push({ at: view.at, kind: "snapshot", label: "snapshot on node " + snapped.join(", ") });
    }
    if (purged.length > 0) {
      st.marks.push({ at: view.at, kind: "purge", label: "log purged on node " + purged.join(", ") });
    }
    if (st.first === null) st.first = view.at;
    var since = view.at - HISTORY_MS;
    st.rates = st.rates.filter(function (r) { return r.at >= since; });
    st.marks = st.marks.filter(function (m) { return m.at >= since; });
    st.leaders = st.leaders.slice(-20);
    st.view = view;
    render();
  }

  function render() {
    var view = st.view;
    var conn = byId("connection");
    conn.textContent = st.connected ? "live" : "reconnecting…";
    conn.className = "pill " + (st.connected ? "up" : "down");
    if (view === null) return;
    byId("served-by").textContent = "served by node " + view.self;
    var leader = leaderOf(view);
    var up = view.nodes.filter(function (n) { return n.ok && n.metrics.state !== "shutdown"; });
    byId("sum-leader").textContent = leader === null ? "none" : "node " + leader.id;
    byId("sum-term").textContent = leader === null ? "–" : String(leader.metrics.term);
    var rate = st.rates.length === 0 ? null : st.rates[st.rates.length - 1].rate;
    byId("sum-rate").textContent = rate === null ? "–" : rate.toFixed(rate < 10 ? 1 : 0);
    byId("sum-up").textContent = up.length + " / " + view.nodes.length;
    byId("sum-committed").textContent = num(st.last && st.last.committed);
    renderNodes(view, leader);
    renderReplication(view, leader);
    renderTimeline(view.at);
    renderLeaders();
    renderAdmin(view, leader);
  }

  function membershipOf(view, leader) {
    var src = leader !== null ? leader : view.nodes.find(function (n) { return n.id === view.self && n.ok; });
    return src ? src.metrics.membership : { voters: [], learners: [], nodes: {} };
  }

  function renderNodes(view, leader) {
    var box = byId("nodes");
    var membership = membershipOf(view, leader);
    box.replaceChildren.apply(box, view.nodes.map(function (n) {
      var state = n.ok ? n.metrics.state : "down";
      var kind = membership.learners.indexOf(n.id) >= 0 ? "learner"
        : membership.voters.indexOf(n.id) >= 0 ? "voter" : "not a member";
      var rows = [];
      if (n.ok) {
        var m = n.metrics;
        [["term", m.term], ["leader", m.leader === null ? "none" : m.leader],
          ["last log", m.lastLogIndex], ["committed", m.committed], ["applied", m.applied],
          ["snapshot", m.snapshot], ["purged", m.purged]].forEach(function (r) {
          rows.push(h("dt", { text: r[0] }));
          rows.push(h("dd", { text: num(r[1]) }));
        });
      }
      return h("article", { "class": "card", "data-node-id": String(n.id), "data-state": state }, [
        h("h3", {}, [h("span", { text: "node " + n.id }),
          h("span", { "class": "role " + state, "data-role": state,
            text: n.ok ? state : "unreachable" })]),
        h("div", { "class": "addr", text: n.addr + " · " + kind +
          (n.ok && n.millis > 0 ? " · " + n.millis + " ms" : "") }),
        n.ok ? h("dl", {}, rows) : h("div", { "class": "why", text: "down: " + n.error }),
        !n.ok && st.seen[n.id] !== undefined
          ? h("div", { "class": "addr", text: "last seen " + time(st.seen[n.id]) }) : null,
      ]);
    }));
  }

  /** A bar of the given width (%); set through the CSSOM: the CSP refuses style attributes. */
  function bar(cls, width) {
    var i = h("i", { "class": cls });
    i.style.width = width.toFixed(1) + "%";
    return i;
  }

  function renderReplication(view, leader) {
    var box = byId("replication");
    byId("repl-from").textContent = leader === null ? "(no leader)" : "as node " + leader.id + " sees it";
    if (leader === null || leader.metrics.replication === null) {
      box.replaceChildren(h("div", { "class": "note", text: "no leader reachable" }));
      return;
    }
    var repl = leader.metrics.replication;
    var ids = Object.keys(repl);
    var max = 10;
    ids.forEach(function (id) { max = Math.max(max, repl[id].lag); });
    box.replaceChildren.apply(box, ids.map(function (id) {
      var r = repl[id];
      var cls = r.lag === 0 ? "" : r.lag < 100 ? "behind" : "far";
      var width = r.lag === 0 ? 0 : Math.max(2, 100 * r.lag / max);
      return h("div", { "class": "lag", "data-peer": id, "data-lag": String(r.lag) }, [
        h("span", { text: "node " + id }),
        h("div", { "class": "bar" }, [bar(cls, width)]),
        h("span", { text: (r.lag === 0 ? "in sync" : "lag " + r.lag) + " · matched " + num(r.matched) }),
      ]);
    }));
  }

  function renderTimeline(now) {
    var box = byId("timeline");
    var W = 600, H = 90, top = 14;
    var span = Math.min(HISTORY_MS, Math.max(30000, now - (st.first === null ? now : st.first)));
    var x = function (at) { return W - (now - at) * W / span; };
    var max = 1;
    st.rates.forEach(function (r) { max = Math.max(max, r.rate); });
    var y = function (rate) { return H - 2 - (rate / max) * (H - top - 4); };
    var children = [];
    st.marks.forEach(function (m) {
      var color = m.kind === "leader" ? (m.label === "no leader" ? "#e5484d" : "#f5b942")
        : m.kind === "snapshot" ? "#3fb97a" : "#b07cf0";
      var px = x(m.at);
      children.push(svg("line", { x1: px, x2: px, y1: top, y2: H, stroke: color,
        "stroke-width": 1.5, "stroke-dasharray": m.kind === "leader" ? "" : "3 2" }));
      if (m.kind === "leader" && m.label !== "no leader") {
        children.push(svg("text", { x: Math.max(2, px - 2), y: 11, fill: color, "font-size": 10,
          "text-anchor": px > W - 80 ? "end" : "start", text: m.label.replace("leader → ", "→ ") }));
      }
    });
    if (st.rates.length > 1) {
      children.push(svg("polyline", { fill: "none", stroke: "#4aa3f0", "stroke-width": 1.5,
        points: st.rates.map(function (r) { return x(r.at).toFixed(1) + "," + y(r.rate).toFixed(1); }).join(" ") }));
    }
    children.push(svg("text", { x: 4, y: H - 4, fill: "#8495a6", "font-size": 10,
      text: "max " + max.toFixed(max < 10 ? 1 : 0) + "/s · last " + Math.round(span / 1000) + " s" }));
    box.replaceChildren.apply(box, children);
  }

  function renderLeaders() {
    var box = byId("leader-changes");
    var items = st.leaders.map(function (l) {
      return { at: l.at, kind: "leader", text: l.id === null ? "no leader reachable"
        : "leader: node " + l.id + " (term " + l.term + ")" };
    }).concat(st.marks.filter(function (m) { return m.kind !== "leader"; }).map(function (m) {
      return { at: m.at, kind: m.kind, text: m.label };
    }));
    items.sort(function (a, b) { return b.at - a.at; });
    box.replaceChildren.apply(box, items.slice(0, 20).map(function (i) {
      return h("li", { "class": "ev-" + i.kind, text: time(i.at) + "  " + i.text });
    }));
  }

  function fill(select, ids) {
    var keep = select.value;
    select.replaceChildren.apply(select, ids.map(function (id) {
      return h("option", { value: String(id), text: "node " + id });
    }));
    if (ids.map(String).indexOf(keep) >= 0) select.value = keep;
  }

  function renderAdmin(view, leader) {
    var membership = membershipOf(view, leader);
    fill(byId("transfer-to"), membership.voters.filter(function (id) { return leader === null || id !== leader.id; }));
    fill(byId("promote-id"), membership.learners);
    fill(byId("remove-id"), membership.voters);
  }

  /** The request of an admin action, or an error message. */
  function actionOf(name) {
    var view = st.view, leader = view === null ? null : leaderOf(view);
    var membership = view === null ? { voters: [], learners: [] } : membershipOf(view, leader);
    if (name === "transfer-leader") {
      var to = Number(byId("transfer-to").value);
      if (byId("transfer-to").value === "") return "no voter to transfer to";
      return { path: "transfer-leader", body: { to: to }, text: "Transfer leadership to node " + to + "?" };
    }
    if (name === "snapshot") {
      if (leader === null) return "no leader to snapshot";
      return { path: "snapshot", body: {},
        text: "Build a snapshot on the leader (node " + leader.id + ") now?" };
    }
    if (name === "add-learner") {
      var id = byId("learner-id").value, addr = byId("learner-addr").value.trim();
      if (id === "" || addr === "") return "give the new node's id and address";
      return { path: "learners", body: { id: Number(id), addr: addr },
        text: "Add node " + id + " at " + addr + " as a learner (waits for it to catch up)?" };
    }
    if (name === "promote") {
      var p = byId("promote-id").value;
      if (p === "") return "no learner to promote";
      var voters = membership.voters.concat([Number(p)]);
      return { path: "membership", body: { voters: voters },
        text: "Make node " + p + " a voter (voters " + voters.join(", ") + ")?" };
    }
    if (name === "remove") {
      var r = Number(byId("remove-id").value);
      if (byId("remove-id").value === "") return "no voter to remove";
      var rest = membership.voters.filter(function (v) { return v !== r; });
      if (rest.length === 0) return "cannot remove the last voter";
      return { path: "membership", body: { voters: rest },
        text: "Remove node " + r + " from the cluster (voters " + rest.join(", ") + ")?" };
    }
    return "not available";
  }

  function ask(name) {
    var a = actionOf(name);
    if (typeof a === "string") { byId("admin-result").textContent = a; return; }
    st.pending = a;
    byId("confirm-text").textContent = a.text;
    byId("confirm").hidden = false;
  }

  function run() {
    var a = st.pending;
    st.pending = null;
    byId("confirm").hidden = true;
    if (a === null) return;
    var headers = { "content-type": "application/json" };
    var secret = byId("secret").value;
    if (secret !== "") headers.authorization = "Bearer " + secret;
    byId("admin-result").textContent = a.text + " …";
    fetch("/dashboard/admin/" + a.path, { method: "POST", headers: headers, body: JSON.stringify(a.body) })
      .then(function (res) {
        return res.text().then(function (text) {
          byId("admin-result").textContent = (res.ok ? "done: " : "failed (" + res.status + "): ") + text;
        });
      })
      .catch(function (e) { byId("admin-result").textContent = "failed: " + e; });
  }

  function connect() {
    var es = new EventSource("/dashboard/events");
    es.addEventListener("open", function () { st.connected = true; render(); });
    es.addEventListener("error", function () {
      st.connected = false;
      render();
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
    });
    es.addEventListener("cluster", function (ev) {
      st.connected = true;
      onView(JSON.parse(ev.data));
    });
  }

  document.querySelectorAll("button[data-action]").forEach(function (b) {
    b.addEventListener("click", function () { ask(b.getAttribute("data-action")); });
  });
  byId("confirm-yes").addEventListener("click", run);
  byId("confirm-no").addEventListener("click", function () {
    st.pending = null;
    byId("confirm").hidden = true;
  });
  window.raftDashboard = st;
  connect();
})();
`;
