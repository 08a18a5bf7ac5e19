// Compare page: the comparison is judged on the metrics the reader picks (the project's
// main metrics unless they chose others; the choice is remembered per project in
// localStorage), the rest listed under "Other metrics". One chart per judged metric with
// every side's curve overlaid (the reference grey and dashed; groups and multi-rank runs
// as mean ± std bands) and, below it, each side's difference to the reference at the
// steps both logged.
(function () {
  "use strict";

  const page = JSON.parse(document.getElementById("page-data").textContent);
  const CONTROLS_KEY = "tracker:compare-controls";
  const PLOT_CONFIG = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
  };
  const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 11 };
  const METRICS_KEY = `tracker:compare-metrics:${page.project}`;

  const charts = new Map(); // metric key -> chart
  const colors = new Map([[page.reference.token, page.reference.color]]);
  page.sides.forEach((side) => colors.set(side.token, side.color));
  const controls = TrackerControls.bind({
    storageKey: CONTROLS_KEY,
    defaults: { smoothing: 0, logY: false, xAxis: "step", delta: true },
    inputs: { smoothing: "smoothing", logY: "log-y", delta: "show-delta", xAxis: "x-axis" },
    onChange: redrawAll,
  });
  const state = controls.state;

  function withAlpha(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  function xOf(line) {
    if (state.xAxis === "relative") return line.elapsed;
    // Relative step: each line from its own first step, so a run resumed or forked at
    // step 5,000 lines up with one that started at 0.
    if (state.xAxis === "relstep") return line.step.map((s) => s - (line.step.length ? line.step[0] : 0));
    return line.step;
  }

  function describe(line) {
    if (line.kind === "group") return `${line.label} (mean of ${line.runs})`;
    if (line.ranks > 1) return `${line.label} (mean of ${line.ranks} ranks)`;
    return line.label;
  }

  // --- Traces ---------------------------------------------------------------------

  function curveTraces(chart) {
    const traces = [];
    // The reference first, so the sides are drawn over it.
    chart.data.lines.forEach((line) => {
      const color = colors.get(line.side) || "#6b7482";
      const isRef = line.role === "reference";
      const xs = xOf(line);
      const meta = { side: line.side, role: line.role };
      if (line.std) {
        const upper = line.value.map((v, i) => (v === null || line.std[i] === null ? null : v + line.std[i]));
        const lower = line.value.map((v, i) => (v === null || line.std[i] === null ? null : v - line.std[i]));
        traces.push({ x: xs, y: lower, mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false,
          legendgroup: line.side, meta: Object.assign({ kind: "band" }, meta) });
        traces.push({ x: xs, y: upper, mode: "lines", line: { width: 0 }, fill: "tonexty",
          fillcolor: withAlpha(color, isRef ? 0.12 : 0.16), hoverinfo: "skip", showlegend: false,
          legendgroup: line.side, meta: Object.assign({ kind: "band" }, meta) });
      }
      const ys = state.smoothing > 0 ? TrackerSmooth.ema(line.value, state.smoothing) : line.value;
      const name = (isRef ? "◌ " : "") + describe(line);
      traces.push({
        x: xs, y: ys, name: name, mode: "lines", type: "scatter", connectgaps: false,
        line: { color: color, width: isRef ? 2 : 2.2, dash: isRef ? "dash" : "solid" },
        legendgroup: line.side, customdata: line.value,
        hovertemplate: `${line.label}: %{y:.4g}` + (state.smoothing > 0 ? " <span style=\"color:#888\">(raw %{customdata:.4g})</span>" : "") + "<extra></extra>",
        meta: Object.assign({ kind: "line", label: line.label }, meta),
      });
    });
    return traces;
  }

  function deltaTraces(chart) {
    return chart.data.deltas.map((d) => ({
      x: d.step, y: state.smoothing > 0 ? TrackerSmooth.ema(d.value, state.smoothing) : d.value, name: `${d.label} − ${page.reference.label}`, mode: "lines", connectgaps: false,
      line: { color: colors.get(d.side) || "#4f46e5", width: 1.8 },
      hovertemplate: `Δ ${d.label}: %{y:+.4g}<extra></extra>`,
      meta: { kind: "delta", side: d.side, role: "side" },
    }));
  }

  function baseLayout(height) {
    // Colours come from the page's theme (static/js/lib/theme.js), light or dark.
    return TrackerTheme.layout({
      margin: { l: 56, r: 14, t: 8, b: 34 },
      height: height,
      font: Object.assign({}, FONT),
      hovermode: "x unified",
      xaxis: { zeroline: false, ticks: "outside" },
      yaxis: { zeroline: false, exponentformat: "e", tickformat: "~g" },
    });
  }

  function curveLayout(chart) {
    const layout = baseLayout(290);
    layout.uirevision = `${chart.key}:${state.xAxis}:${state.logY}`;
    layout.showlegend = true;
    layout.legend = { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" };
    layout.margin.t = 26;
    const titles = { relative: "time since start (s)", relstep: "steps since the line's first" };
    layout.xaxis.title = { text: titles[state.xAxis] || "step", standoff: 6 };
    layout.yaxis.type = state.logY ? "log" : "linear";
    if (state.logY) layout.yaxis.tickformat = "";
    return layout;
  }

  function deltaLayout(chart) {
    const layout = baseLayout(150);
    const better = page.directions[chart.key] === "min" ? "below 0 is better" : "above 0 is better";
    layout.uirevision = `${chart.key}:delta`;
    layout.showlegend = false;
    layout.margin.t = 6;
    layout.xaxis.title = { text: "step", standoff: 4 };
    layout.yaxis.title = { text: `Δ (${better})`, standoff: 4, font: { size: 10 } };
    layout.yaxis.zeroline = true;
    layout.yaxis.zerolinecolor = TrackerTheme.colors().muted;
    layout.yaxis.zerolinewidth = 1.2;
    return layout;
  }

  function note(chart) {
    const parts = [];
    if (chart.data.lines.some((l) => l.downsampled)) parts.push("downsampled");
    if (chart.data.lines.some((l) => l.std)) parts.push("bands: ± 1 std");
    const shared = chart.data.deltas.map((d) => d.step.length);
    if (shared.length && shared.every((n) => n === 0)) parts.push("no step in common: no Δ curve");
    return parts.join(" · ");
  }

  function draw(chart) {
    if (!chart.data || !window.Plotly) return;
    const loading = chart.el.querySelector(".chart-loading");
    if (loading) loading.remove();
    window.Plotly.react(chart.el, curveTraces(chart), curveLayout(chart), PLOT_CONFIG);
    const showDelta = state.delta && chart.data.deltas.some((d) => d.step.length);
    chart.deltaEl.hidden = !showDelta;
    if (showDelta) window.Plotly.react(chart.deltaEl, deltaTraces(chart), deltaLayout(chart), PLOT_CONFIG);
    chart.noteEl.textContent = note(chart);
    chart.el.dataset.revision = String(Number(chart.el.dataset.revision || 0) + 1);
  }

  // --- Fetching -------------------------------------------------------------------

  async function load(chart) {
    if (chart.loading || chart.data) return;
    chart.loading = true;
    const sep = page.curvesUrl.includes("?") ? "&" : "?";
    try {
      const response = await fetch(`${page.curvesUrl}${sep}key=${encodeURIComponent(chart.key)}`, {
        credentials: "same-origin", headers: { Accept: "application/json" },
      });
      const type = response.headers.get("Content-Type") || "";
      if (!response.ok || !type.includes("application/json")) {
        throw new Error(response.redirected ? "session expired: reload the page" : `HTTP ${response.status}`);
      }
      const body = await response.json();
      chart.data = body.curves[0];
      draw(chart);
    } catch (error) {
      chart.noteEl.textContent = `could not load: ${error.message}`;
      chart.noteEl.classList.add("chart-error");
    } finally {
      chart.loading = false;
    }
  }

  const observer = "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting || !entry.target.__chart) continue;
        observer.unobserve(entry.target);
        load(entry.target.__chart);
      }
    }, { rootMargin: "400px" })
    : null;

  // --- Controls -------------------------------------------------------------------

  function redrawAll() {
    charts.forEach((chart) => {
      if (!chart.figure.hidden) draw(chart);
    });
  }

  // --- Which metrics are judged -------------------------------------------------------

  const rows = new Map(); // metric key -> its row in the summary or the other-metrics table
  document.querySelectorAll("#summary-table tr[data-key], #other-table tr[data-key]").forEach((row) => {
    rows.set(row.dataset.key, row);
  });
  const mainBody = document.querySelector("#summary-table tbody");
  const otherBody = document.querySelector("#other-table tbody");
  const emptyMain = document.getElementById("no-judged");
  const chartGrid = document.getElementById("charts");
  const chartTemplate = document.getElementById("chart-template");
  const menu = document.getElementById("metrics-menu");
  const boxes = Array.from(menu.querySelectorAll("input[name=metric]"));
  let chosen = initialChoice();

  function storedChoice() {
    try {
      const saved = JSON.parse(window.localStorage.getItem(METRICS_KEY) || "null");
      return Array.isArray(saved) ? saved.filter((k) => typeof k === "string") : null;
    } catch (error) {
      return null;
    }
  }

  // Keys named in the URL win; then the choice remembered for this project (when any of
  // it applies to these runs); then the project's main metrics.
  function initialChoice() {
    if (page.fixedKeys) return new Set(page.mainKeys);
    const saved = storedChoice();
    if (saved !== null && (saved.length === 0 || saved.some((k) => rows.has(k)))) return new Set(saved);
    return new Set(page.mainKeys);
  }

  function remember() {
    if (page.fixedKeys) return;
    try {
      // Keys these runs lack are kept: they count again when comparing runs that have them.
      const saved = storedChoice() || [];
      const elsewhere = saved.filter((k) => !rows.has(k));
      const mine = page.keys.filter((k) => chosen.has(k));
      window.localStorage.setItem(METRICS_KEY, JSON.stringify(elsewhere.concat(mine)));
    } catch (error) {
      /* storage full or disabled: the choice lasts for this page only */
    }
  }

  function toggleButton(row) {
    let button = row.querySelector(".judge-toggle");
    if (!button) {
      button = document.createElement("button");
      button.type = "button";
      button.className = "judge-toggle";
      button.addEventListener("click", () => {
        const key = row.dataset.key;
        if (chosen.has(key)) chosen.delete(key);
        else chosen.add(key);
        remember();
        apply();
      });
      row.querySelector(".metric-key").prepend(button);
    }
    const judged = chosen.has(row.dataset.key);
    button.textContent = judged ? "−" : "+";
    button.title = judged ? "Stop judging on this metric" : "Judge on this metric (and draw it)";
    button.setAttribute("aria-label", `${judged ? "Stop judging on" : "Judge on"} ${row.dataset.key}`);
  }

  // Each side's headline counts over the judged metrics only.
  function recount() {
    const cards = document.querySelectorAll("#compare-sides .side-card:not(.side-ref)");
    cards.forEach((card, index) => {
      const counts = { better: 0, worse: 0, noise: 0, same: 0 };
      chosen.forEach((key) => {
        const row = rows.get(key);
        const cell = row && row.querySelectorAll("td[data-field=verdict]")[index];
        const verdict = cell ? cell.dataset.verdict.replace("within noise", "noise") : "";
        if (verdict in counts) counts[verdict] += 1;
      });
      card.querySelectorAll("[data-count]").forEach((badge) => {
        const name = badge.dataset.count;
        badge.textContent = `${counts[name]} ${name === "noise" ? "within noise" : name}`;
        badge.hidden = counts[name] === 0;
      });
    });
  }

  function describeChoice() {
    const keys = page.keys.filter((k) => chosen.has(k));
    document.getElementById("judged-count").textContent = String(keys.length);
    const list = document.getElementById("judged-keys");
    list.replaceChildren();
    keys.forEach((key, i) => {
      const code = document.createElement("code");
      code.textContent = key;
      list.append(code);
      if (i < keys.length - 1) list.append(" ");
    });
    document.getElementById("metrics-menu-count").textContent = `${keys.length} of ${page.keys.length}`;
    const others = page.keys.length - keys.length;
    document.getElementById("other-count").textContent = String(others);
    document.getElementById("other-metrics").hidden = others === 0;
    emptyMain.hidden = keys.length > 0;
  }

  function chartFor(key) {
    let chart = charts.get(key);
    if (chart) return chart;
    const figure = chartTemplate.content.firstElementChild.cloneNode(true);
    figure.dataset.chart = key;
    figure.querySelector(".chart-key").textContent = key;
    figure.querySelector(".dir").textContent = page.directions[key] === "min" ? "↓" : "↑";
    figure.querySelector(".delta-chart").setAttribute("aria-label", `${key}: difference to ${page.reference.label}`);
    chart = {
      key: key, figure: figure, el: figure.querySelector(".chart"), deltaEl: figure.querySelector(".delta-chart"),
      noteEl: figure.querySelector(".chart-note"), data: null, loading: false,
    };
    figure.__chart = chart;
    charts.set(key, chart);
    return chart;
  }

  function apply() {
    page.keys.forEach((key) => {
      const row = rows.get(key);
      if (row) {
        if (chosen.has(key)) mainBody.append(row);
        else otherBody.append(row);
        toggleButton(row);
      }
      const judged = chosen.has(key);
      if (!judged && !charts.has(key)) return;
      const chart = chartFor(key);
      const wasHidden = chart.figure.hidden || !chart.figure.isConnected;
      chart.figure.hidden = !judged;
      chartGrid.append(chart.figure); // page order
      if (judged && wasHidden) {
        if (chart.data) draw(chart);
        else if (observer) observer.observe(chart.figure);
        else load(chart);
      }
    });
    boxes.forEach((box) => {
      box.checked = chosen.has(box.value);
    });
    recount();
    describeChoice();
  }

  boxes.forEach((box) => {
    box.addEventListener("change", () => {
      if (box.checked) chosen.add(box.value);
      else chosen.delete(box.value);
      remember();
      apply();
    });
  });

  document.getElementById("metrics-default").addEventListener("click", () => {
    chosen = new Set(page.mainKeys);
    try {
      window.localStorage.removeItem(METRICS_KEY);
    } catch (error) {
      /* nothing stored */
    }
    apply();
  });

  const search = document.getElementById("metrics-search");
  search.addEventListener("input", () => {
    const needle = search.value.trim().toLowerCase();
    let shown = 0;
    menu.querySelectorAll(".menu-group").forEach((group) => {
      let inGroup = 0;
      group.querySelectorAll("label").forEach((label) => {
        const match = !needle || label.textContent.toLowerCase().includes(needle);
        label.hidden = !match;
        if (match) inGroup += 1;
      });
      group.hidden = inGroup === 0;
      if (needle && inGroup) group.open = true;
      shown += inGroup;
    });
    document.getElementById("metrics-none").hidden = shown > 0;
  });

  apply();
})();
