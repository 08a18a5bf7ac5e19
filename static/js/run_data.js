// Run page, Data section (templates/runs/_data.html): what tracker.log_dataset measured of
// each data set and split, from datasets.json. Per split: sizes, a feature table (worst
// first: NaN/inf, then the largest magnitudes; FEATURE_ROWS shown until "Show all"), class
// balance as bars; then the rows that two splits share. Links the Health panel's data
// findings here. Refetched when the page's socket says a data set was logged.
(function () {
  "use strict";

  const root = document.getElementById("data");
  if (!root) return;
  const URL_ = root.dataset.url;
  const FEATURE_ROWS = 50;
  const DATA_KINDS = new Set([
    "data_leakage", "split_mismatch", "nonfinite_inputs", "duplicate_rows", "unnormalized_features", "class_imbalance",
  ]);
  const SPLIT_COLORS = { train: "#2563eb", training: "#2563eb", val: "#ea580c", valid: "#ea580c",
    validation: "#ea580c", eval: "#ea580c", dev: "#ea580c", test: "#16a34a" };
  const PALETTE = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#db2777"];
  const CONFIG = { responsive: true, displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines", "zoom2d", "pan2d"] };
  const showAll = new Set(); // "name/split" whose every feature is shown

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === null || v === undefined) return;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = String(v);
      else node.setAttribute(k, v);
    });
    children.forEach((c) => node.append(c));
    return node;
  }
  const num = (v) => (v === null || v === undefined ? "—" : TrackerFmt.number(v));
  const int = (v) => TrackerFmt.integer(v);

  function fact(name, label, value, bad, title) {
    return el("div", { "data-fact": name, title: title },
      el("dt", { text: label }), el("dd", { class: bad ? "bad" : null, text: value }));
  }

  function facts(split) {
    const dl = el("dl", { class: "facts data-facts" });
    const sampled = split.sampled_from > split.rows ? ` (sampled from ${int(split.sampled_from)})` : "";
    dl.append(
      fact("rows", "Rows", int(split.rows) + sampled),
      fact("features", "Features", int(split.feature_count)),
      fact("duplicates", "Duplicate rows", int(split.duplicates), split.duplicates > 0),
      fact("nan", "NaN values", int(split.nan), split.nan > 0),
      fact("inf", "Inf values", int(split.inf), split.inf > 0),
    );
    if (split.y_nan) dl.append(fact("y_nan", "NaN labels", int(split.y_nan), true));
    if (split.scale_ratio !== null && split.scale_ratio !== undefined) {
      dl.append(fact("scale", "Scale ratio", `${num(split.scale_ratio)}×`, split.scale_ratio >= 100,
        "The largest feature magnitude over the smallest: 100× or more wants scaling (StandardScaler)"));
    }
    return dl;
  }

  function featureTable(dataset, split) {
    const key = `${dataset.name}/${split.split}`;
    const all = showAll.has(key);
    const rows = all ? split.features : split.features.slice(0, FEATURE_ROWS);
    const body = el("tbody");
    rows.forEach((f) => {
      const tr = el("tr", { "data-feature": f.name, class: f.flags.length ? "data-flagged" : null });
      tr.append(
        el("th", { scope: "row", text: f.name, title: f.flags.length ? f.flags.join(", ") : null }),
        el("td", { class: "num", text: num(f.min) }),
        el("td", { class: "num", text: num(f.max) }),
        el("td", { class: "num", text: num(f.mean) }),
        el("td", { class: f.flags.includes("constant") ? "num bad" : "num", text: num(f.std) }),
        el("td", { class: f.nan ? "num bad" : "num", "data-col": "nan", text: int(f.nan) }),
        el("td", { class: f.inf ? "num bad" : "num", "data-col": "inf", text: int(f.inf) }),
      );
      body.append(tr);
    });
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: "7", class: "empty-row", text: "No features." })));
    const head = el("thead", {}, el("tr", {},
      el("th", { text: "Feature" }), el("th", { class: "num", text: "Min" }), el("th", { class: "num", text: "Max" }),
      el("th", { class: "num", text: "Mean" }), el("th", { class: "num", text: "Std" }),
      el("th", { class: "num", text: "NaN" }), el("th", { class: "num", text: "Inf" })));
    const wrap = el("div", { class: "table-scroll data-features" },
      el("table", { class: "table compact" }, head, body));
    const box = el("div", {}, wrap);
    if (split.features.length > FEATURE_ROWS) {
      const button = el("button", {
        type: "button", class: "btn btn-small btn-quiet data-show-all",
        text: all ? `Show the worst ${FEATURE_ROWS}` : `Show all ${int(split.features.length)} features`,
      });
      button.addEventListener("click", () => {
        if (all) showAll.delete(key);
        else showAll.add(key);
        box.replaceWith(featureTable(dataset, split));
      });
      box.append(button);
    }
    return box;
  }

  function classChart(dataset) {
    const splits = dataset.splits.filter((s) => s.classes && Object.keys(s.classes).length);
    if (!splits.length || !window.Plotly) return null;
    const labels = [];
    splits.forEach((s) => Object.keys(s.classes).forEach((c) => { if (!labels.includes(c)) labels.push(c); }));
    labels.sort((a, b) => (isFinite(a) && isFinite(b) ? Number(a) - Number(b) : a.localeCompare(b)));
    const node = el("div", { class: "chart data-classes-chart" });
    const traces = splits.map((s, i) => {
      const total = Object.values(s.classes).reduce((a, b) => a + b, 0) || 1;
      const counts = labels.map((c) => s.classes[c] || 0);
      return {
        type: "bar", name: s.split, x: labels, y: counts.map((n) => (100 * n) / total), customdata: counts,
        marker: { color: SPLIT_COLORS[s.split.toLowerCase()] || PALETTE[i % PALETTE.length] },
        hovertemplate: `${s.split} · class %{x}: %{customdata} rows (%{y:.1f}%)<extra></extra>`,
        meta: { split: s.split },
      };
    });
    const layout = {
      barmode: "group", height: 220, margin: { l: 44, r: 10, t: 8, b: 32 },
      font: { size: 11 }, showlegend: splits.length > 1,
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom" },
      xaxis: { type: "category", title: { text: "class", standoff: 4 } },
      yaxis: { title: { text: "% of split" }, rangemode: "tozero" },
    };
    const figure = el("figure", { class: "data-classes" },
      el("figcaption", { class: "muted small", text: "Class balance (share of each split's rows; hover for counts)" }), node);
    // Drawn once the figure is in the page, so Plotly measures its width.
    window.requestAnimationFrame(() => window.Plotly.react(node, traces, layout, CONFIG));
    return figure;
  }

  function datasetCard(dataset) {
    const card = el("section", { class: "card card-flush data-set", "data-name": dataset.name });
    card.append(el("h3", { class: "card-title", text: dataset.name }));
    const grid = el("div", { class: "data-splits" });
    dataset.splits.forEach((split) => {
      const part = el("div", { class: "data-split", "data-split": split.split });
      part.append(el("h4", { class: "data-split-title" }, el("span", { class: "chip", text: split.split })), facts(split));
      part.append(featureTable(dataset, split));
      grid.append(part);
    });
    card.append(grid);
    const chart = classChart(dataset);
    if (chart) card.append(chart);
    return card;
  }

  function overlapRow(o) {
    const examples = o.examples.map((e) => `${o.b.split} ${e.b} = ${o.a.split} ${e.a}`).join(", ");
    const more = o.rows > o.examples.length ? ", …" : "";
    const name = (side) => (o.a.name === o.b.name ? side.split : `${side.name}/${side.split}`);
    return el("tr", { "data-a": `${o.a.name}/${o.a.split}`, "data-b": `${o.b.name}/${o.b.split}`, class: o.rows ? "data-flagged" : null },
      el("th", { scope: "row", text: `${o.b.name}/${o.b.split}` }),
      el("td", { text: name(o.a) }),
      el("td", { class: o.rows ? "num bad" : "num", "data-col": "rows", text: int(o.rows) }),
      el("td", { class: "num", text: `${TrackerFmt.fixed(o.pct, 1)}%` }),
      el("td", { class: "data-examples", text: o.rows ? examples + more : "none" }));
  }

  function render(data) {
    const sets = document.getElementById("data-sets");
    sets.replaceChildren(...data.datasets.map(datasetCard));
    const box = document.getElementById("data-overlaps");
    const body = box.querySelector("tbody");
    body.replaceChildren(...data.overlaps.map(overlapRow));
    if (data.overlaps_skipped) {
      body.append(el("tr", {}, el("td", { colspan: "5", class: "empty-row", text: "Too many splits to compare pairwise." })));
    }
    box.hidden = !data.overlaps.length && !data.overlaps_skipped;
    root.dataset.loaded = String(Number(root.dataset.loaded || 0) + 1);
  }

  async function load() {
    const error = document.getElementById("data-error");
    try {
      const response = await fetch(URL_, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      render(await response.json());
      error.hidden = true;
    } catch (exc) {
      error.hidden = false;
      error.textContent = `Could not load the data sets: ${exc.message}`;
    }
  }

  // The Health panel's data findings get a link here (run_health.js redraws its cards).
  function linkFindings() {
    document.querySelectorAll("#health-findings .finding[data-kind]").forEach((card) => {
      if (!DATA_KINDS.has(card.dataset.kind) || card.querySelector(".finding-data-link")) return;
      const target = card.dataset.kind === "data_leakage" ? "#data-overlaps" : "#data";
      const link = el("a", { class: "finding-data-link small", href: target, text: "See the Data section" });
      const more = card.querySelector(".finding-more");
      const head = card.querySelector(".finding-head");
      if (more) more.before(link);
      else if (head) head.append(link);
    });
  }

  let timer = 0;
  function start() {
    load();
    const findings = document.getElementById("health-findings");
    if (findings) new MutationObserver(linkFindings).observe(findings, { childList: true });
    linkFindings();
    if (window.TrackerLive) {
      TrackerLive.on("media", (message) => {
        if (!(message.kinds || []).includes("dataset")) return;
        window.clearTimeout(timer);
        timer = window.setTimeout(load, 500);
      });
      TrackerLive.onReconnect(load);
    }
  }

  // This script sits in the page's body, before the libraries it uses (fmt.js, live.js):
  // it starts once every deferred script has run.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
