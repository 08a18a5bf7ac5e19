// Compare page: one chart per shared metric with every side's curve overlaid (the
// reference grey and dashed; groups and multi-rank runs as mean ± std bands) and, below
// it, each side's difference to the reference at the steps both logged.
(function () {
  "use strict";

  const page = JSON.parse(document.getElementById("page-data").textContent);
  const CONTROLS_KEY = "tracker:compare-controls";
  const PLOT_CONFIG = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
  };
  const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 11, color: "#4b5463" };

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
    return state.xAxis === "relative" ? line.elapsed : line.step;
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
    return {
      margin: { l: 56, r: 14, t: 8, b: 34 },
      height: height,
      font: FONT,
      paper_bgcolor: "#fff",
      plot_bgcolor: "#fff",
      hovermode: "x unified",
      hoverlabel: { bgcolor: "#fff", bordercolor: "#d0d5dd" },
      xaxis: { gridcolor: "#eef0f3", zeroline: false, linecolor: "#d0d5dd", ticks: "outside", tickcolor: "#d0d5dd" },
      yaxis: { gridcolor: "#eef0f3", zeroline: false, linecolor: "#d0d5dd", exponentformat: "e", tickformat: "~g" },
    };
  }

  function curveLayout(chart) {
    const layout = baseLayout(290);
    layout.uirevision = `${chart.key}:${state.xAxis}:${state.logY}`;
    layout.showlegend = true;
    layout.legend = { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" };
    layout.margin.t = 26;
    layout.xaxis.title = { text: state.xAxis === "relative" ? "time since start (s)" : "step", standoff: 6 };
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
    layout.yaxis.zerolinecolor = "#9aa1ad";
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
    charts.forEach(draw);
  }

  function start() {
    // Figures come in page.keys order; keys come from JSON (they may hold any character).
    const figures = document.querySelectorAll("#charts .compare-chart");
    page.keys.forEach((key, i) => {
      const figure = figures[i];
      if (!figure) return;
      const chart = {
        key: key, figure: figure, el: figure.querySelector(".chart"), deltaEl: figure.querySelector(".delta-chart"),
        noteEl: figure.querySelector(".chart-note"), data: null, loading: false,
      };
      figure.__chart = chart;
      charts.set(key, chart);
      if (observer) observer.observe(figure);
      else load(chart);
    });
  }

  start();
})();
