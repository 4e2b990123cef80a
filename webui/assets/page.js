// Marmot's dashboard page: polls api/series (relative, so the page works under any prefix), draws the
// charts with the embedded uPlot and fills the tables from the newest sample. It writes data into the
// page with textContent only, never as HTML: app and agent names come from the cluster.
"use strict";
(function () {
  const body = document.body;
  const statusPath = body.dataset.statusPath || "";
  const refreshMs = Number(body.dataset.refreshMs) || 5000;
  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  let samples = []; // oldest first, as api/series gives them
  let capacity = 1440;
  const plots = {}; // figure id -> {plot, key}

  const money = (v) => (v == null ? "–" : "$" + v.toFixed(2));
  const when = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "");

  async function poll() {
    let url = "api/series";
    const since = samples.length > 0 ? Date.parse(samples[samples.length - 1].at) : null;
    if (since !== null) {
      url += "?since=" + since;
    }
    try {
      const resp = await fetch(url, { cache: "no-store" });
      if (!resp.ok) {
        throw new Error(resp.status + " " + resp.statusText);
      }
      const s = await resp.json();
      merge(s, since);
      render(s.latest);
    } catch (e) {
      document.getElementById("asof").textContent = "cannot read api/series: " + e.message;
    }
    if (statusPath) {
      pollStatus();
    }
    setTimeout(poll, refreshMs);
  }

  // merge adds the answer to what the page holds. An answer to ?since= starts at the page's newest
  // sample or at the one that replaced it (a sample within the daemon's resolution replaces the
  // newest), so the page drops its own from since on.
  function merge(s, since) {
    capacity = s.capacity || capacity;
    if (since === null) {
      samples = s.samples;
    } else {
      samples = samples.filter((x) => Date.parse(x.at) < since).concat(s.samples);
    }
    if (samples.length > capacity) {
      samples = samples.slice(samples.length - capacity);
    }
  }

  async function pollStatus() {
    const pre = document.querySelector("#status pre");
    try {
      const resp = await fetch(statusPath, { cache: "no-store" });
      const text = await resp.text();
      try {
        pre.textContent = JSON.stringify(JSON.parse(text), null, 2);
      } catch (e) {
        pre.textContent = text;
      }
    } catch (e) {
      pre.textContent = "cannot read " + statusPath + ": " + e.message;
    }
  }

  function render(latest) {
    if (!latest) {
      return;
    }
    document.getElementById("asof").textContent = "as of " + when(latest.at) + " · " + samples.length + " samples";
    renderCards(latest);
    renderCharts();
    renderTables(latest);
    body.dataset.rendered = String(Number(body.dataset.rendered || 0) + 1);
  }

  function renderCards(latest) {
    const cards = [];
    if (latest.pools) {
      const agents = latest.pools.reduce((n, p) => n + p.agents, 0);
      cards.push(["agents", String(agents), latest.pools.length + " pools"]);
    }
    if (latest.apps) {
      const a = latest.apps;
      cards.push(["apps asleep", String(a.asleep), "of " + (a.awake + a.asleep + a.waking) + " opted in"]);
    }
    if (latest.cost) {
      const c = latest.cost;
      cards.push(["cost per hour", money(c.per_hour), "instances running now"]);
      if (c.saved_hibernation == null) {
        cards.push(["saved by autoscaling", money(c.saved_autoscaling), "since the ledger began"]);
      } else {
        cards.push(["saved so far", money(c.saved_autoscaling + c.saved_hibernation),
          "autoscaling " + money(c.saved_autoscaling) + " · hibernation " + money(c.saved_hibernation)]);
      }
      cards.push(["cost so far", money(c.total), "since the ledger began"]);
    }
    if (latest.hibernation_savings) {
      const h = latest.hibernation_savings;
      cards.push(["hibernation saves", money(h.per_hour) + "/h", "what the apps asleep now would cost"]);
      cards.push(["saved by hibernation", money(h.total), "since the hibernator started"]);
    }
    const el = document.getElementById("cards");
    el.replaceChildren(...cards.map(([label, value, note]) => {
      const d = document.createElement("div");
      d.className = "card";
      for (const [cls, text] of [["label", label], ["value", value], ["note", note]]) {
        const s = document.createElement("span");
        s.className = cls;
        s.textContent = text;
        d.append(s);
      }
      return d;
    }));
  }

  // poolNames lists every pool any sample has, so a pool that disappears keeps its line until it
  // leaves the buffer.
  function poolNames() {
    const names = new Set();
    for (const s of samples) {
      for (const p of s.pools || []) {
        names.add(p.name);
      }
    }
    return [...names].sort();
  }

  function poolSeries(field, dashedField, labels) {
    const names = poolNames();
    const series = [];
    const data = [];
    names.forEach((name, i) => {
      const color = palette[i % palette.length];
      const pick = (f) => samples.map((s) => {
        const p = (s.pools || []).find((x) => x.name === name);
        return p ? p[f] : null;
      });
      series.push({ label: name + " " + labels[0], stroke: color, width: 2 });
      data.push(pick(field));
      series.push({ label: name + " " + labels[1], stroke: color, width: 1, dash: [6, 4] });
      data.push(pick(dashedField));
    });
    return { series, data };
  }

  function fieldSeries(part, fields) {
    if (!samples.some((s) => s[part])) {
      return { series: [], data: [] };
    }
    return {
      series: fields.map(([, label], i) => ({ label, stroke: palette[i % palette.length], width: 2 })),
      data: fields.map(([f]) => samples.map((s) => (s[part] ? s[part][f] : null))),
    };
  }

  function renderCharts() {
    const xs = samples.map((s) => Date.parse(s.at) / 1000);
    const usd = (u, vals) => vals.map((v) => (v == null ? "" : v === 0 ? "$0" : "$" + v.toFixed(Math.abs(v) < 1 ? 3 : Math.abs(v) < 10 ? 2 : 0)));
    draw("chart-agents", xs, poolSeries("agents", "desired", ["agents", "desired"]));
    draw("chart-cpus", xs, poolSeries("cpus_allocated", "cpus", ["allocated", "offered"]));
    draw("chart-apps", xs, fieldSeries("apps", [["awake", "awake"], ["asleep", "asleep"], ["waking", "waking"]]));
    draw("chart-cost-rate", xs, fieldSeries("cost", [["per_hour", "USD per hour"]]), usd);
    const totals = [["total", "cost"], ["saved_autoscaling", "saved by autoscaling"]];
    if (samples.some((s) => s.cost && s.cost.saved_hibernation != null)) {
      totals.push(["saved_hibernation", "saved by hibernation"]);
    }
    draw("chart-cost-total", xs, fieldSeries("cost", totals), usd);
    draw("chart-hibernation", xs, fieldSeries("hibernation_savings", [["per_hour", "saved per hour"]]), usd);
  }

  // draw updates a chart in place, or builds it anew when its set of lines changed (uPlot's series
  // are fixed at construction).
  function draw(id, xs, spec, yValues) {
    const fig = document.getElementById(id);
    if (spec.series.length === 0 || xs.length === 0) {
      fig.hidden = true;
      return;
    }
    fig.hidden = false;
    const data = [xs, ...spec.data];
    const key = spec.series.map((s) => s.label).join("\n");
    const have = plots[id];
    if (have && have.key === key) {
      have.plot.setData(data);
      return;
    }
    if (have) {
      have.plot.destroy();
    }
    const el = fig.querySelector(".plot");
    const opts = {
      width: plotWidth(el),
      height: 220,
      scales: { x: { time: true } },
      series: [{ label: "time" }, ...spec.series],
      axes: [{}, { size: 60, values: yValues }],
    };
    plots[id] = { key, plot: new uPlot(opts, data, el) };
  }

  function plotWidth(el) {
    return Math.max(300, el.clientWidth || 600);
  }

  window.addEventListener("resize", () => {
    for (const id of Object.keys(plots)) {
      const el = document.querySelector("#" + id + " .plot");
      plots[id].plot.setSize({ width: plotWidth(el), height: 220 });
    }
  });

  function fillTable(id, rows) {
    const box = document.getElementById(id);
    box.hidden = rows.length === 0;
    box.querySelector("tbody").replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = c;
        tr.append(td);
      }
      return tr;
    }));
  }

  function renderTables(latest) {
    fillTable("pools", (latest.pools || []).map((p) => [
      p.name, p.agents, p.desired, p.cpus_allocated.toFixed(1) + " / " + p.cpus.toFixed(1),
      p.cpus > 0 ? Math.round((100 * p.cpus_allocated) / p.cpus) + "%" : "–", p.waiting,
    ]));
    fillTable("agents", (latest.agents || []).map((a) => [a.id, a.hostname || "", a.pool, a.state || "", a.reason || "", a.tasks]));
    fillTable("sleeping", (latest.sleeping_apps || []).map((a) => [
      a.app, when(a.since), a.instances, a.cpus.toFixed(2), Math.round(a.mem_mb) + " MiB",
    ]));
  }

  poll();
})();
