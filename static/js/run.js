// Run page: learning curves from series.json, drawn with Plotly and kept live from the
// run's websocket. One chart per metric name; train/x and val/x share the chart "x".
(function () {
  "use strict";

  const page = JSON.parse(document.getElementById("page-data").textContent);
  const CONTROLS_KEY = "tracker:run-controls";
  const REFRESH_MS = 1000; // at most one refetch per chart per second
  const SPLIT_COLORS = {
    train: "#2563eb", training: "#2563eb",
    val: "#ea580c", valid: "#ea580c", validation: "#ea580c", eval: "#ea580c",
    test: "#16a34a",
  };
  const PALETTE = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#ca8a04"];
  const PLOT_CONFIG = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
  };

  const charts = new Map(); // chart name -> chart
  const grid = document.getElementById("charts");
  const controls = TrackerControls.bind({
    storageKey: CONTROLS_KEY,
    defaults: { smoothing: 0.6, logY: false, xAxis: "step", perRank: false },
    inputs: { smoothing: "smoothing", logY: "log-y", xAxis: "x-axis", perRank: "per-rank" },
    onChange: onControl,
  });
  const state = controls.state;

  // --- Pure helpers -------------------------------------------------------------

  function chartName(key) {
    const i = key.indexOf("/");
    return i < 0 ? key : key.slice(i + 1);
  }
  function splitName(key) {
    const i = key.indexOf("/");
    return i < 0 ? key : key.slice(0, i);
  }

  function xValues(series) {
    if (state.xAxis === "wall") return series.wall_time.map((t) => new Date(t * 1000));
    if (state.xAxis === "relative") return series.wall_time.map((t) => t - page.startedAt);
    return series.step;
  }

  function withAlpha(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  function colorFor(chart, key, index) {
    if (chart.keys.length > 1 && SPLIT_COLORS[splitName(key)]) return SPLIT_COLORS[splitName(key)];
    return PALETTE[index % PALETTE.length];
  }

  // --- Traces and layout ----------------------------------------------------------

  function tracesFor(chart) {
    const traces = [];
    const markers = { x: [], text: [] };
    const multi = chart.keys.length > 1;
    chart.keys.forEach((key, index) => {
      const s = chart.series[key];
      if (!s) return;
      const color = colorFor(chart, key, index);
      const label = multi ? splitName(key) : key;
      const xs = xValues(s);
      const perRank = state.perRank && s.by_rank;
      if (perRank) {
        // Each rank's own line, thin and dashed, under the mean.
        s.by_rank.forEach((line, r) => {
          traces.push({
            x: xValues(line), y: line.value, name: multi ? `${label} · rank ${line.rank}` : `rank ${line.rank}`, mode: "lines",
            line: { color: withAlpha(color, 0.75), width: 1, dash: ["dot", "dash", "dashdot", "longdash"][r % 4] },
            legendgroup: `${key}:rank`, showlegend: true, connectgaps: false,
            hovertemplate: `rank ${line.rank}: %{y:.4g}<extra></extra>`, meta: { key: key, kind: "rank", rank: line.rank },
          });
        });
      }
      if (s.std && !perRank) {
        const upper = s.value.map((v, i) => (v === null || s.std[i] === null ? null : v + s.std[i]));
        const lower = s.value.map((v, i) => (v === null || s.std[i] === null ? null : v - s.std[i]));
        traces.push({ x: xs, y: lower, mode: "lines", line: { width: 0 }, hoverinfo: "skip",
          showlegend: false, legendgroup: key, meta: { key: key, kind: "band" } });
        traces.push({ x: xs, y: upper, mode: "lines", line: { width: 0 }, fill: "tonexty",
          fillcolor: withAlpha(color, 0.15), hoverinfo: "skip", showlegend: false, legendgroup: key,
          meta: { key: key, kind: "band" } });
      }
      const smoothed = state.smoothing > 0;
      // With each rank drawn, the thick line is their mean: the legend says so.
      const meanLabel = perRank ? (multi ? `${label} · mean` : "mean of ranks") : label;
      traces.push({
        x: xs, y: s.value, name: meanLabel, mode: "lines", type: "scatter",
        line: { color: smoothed ? withAlpha(color, 0.25) : color, width: smoothed ? 1 : 1.8 },
        legendgroup: key, showlegend: !smoothed, hoverinfo: smoothed ? "skip" : undefined,
        hovertemplate: smoothed ? undefined : `${label}: %{y:.4g}<extra></extra>`,
        connectgaps: false, meta: { key: key, kind: "raw" },
      });
      if (smoothed) {
        traces.push({
          x: xs, y: TrackerSmooth.ema(s.value, state.smoothing), name: meanLabel, mode: "lines",
          line: { color: color, width: 2 }, legendgroup: key, customdata: s.value,
          hovertemplate: `${label}: %{y:.4g} <span style="color:#888">(raw %{customdata:.4g})</span><extra></extra>`,
          connectgaps: false, meta: { key: key, kind: "smoothed" },
        });
      }
      const where = new Map(s.step.map((step, i) => [step, i]));
      s.nonfinite.step.forEach((step, i) => {
        markers.x.push(xs[where.get(step)]);
        markers.text.push(`${key}: ${s.nonfinite.value[i]} at step ${step}`);
      });
    });
    if (markers.x.length) {
      // On a second y axis fixed to [0, 1], so the ✕ sit at the top edge whatever the data.
      traces.push({
        x: markers.x, y: markers.x.map(() => 0.97), yaxis: "y2", mode: "markers", name: "NaN/inf",
        marker: { symbol: "x-thin-open", size: 10, color: "#dc2626", line: { width: 2.5, color: "#dc2626" } },
        text: markers.text, hovertemplate: "%{text}<extra></extra>", meta: { kind: "nonfinite" },
      });
    }
    return traces;
  }

  function layoutFor(chart) {
    const xTitle = { step: "step", wall: "", relative: "time (s)" }[state.xAxis];
    return {
      uirevision: `${chart.name}:${state.xAxis}:${state.logY}`,
      margin: { l: 52, r: 14, t: 8, b: 36 },
      height: 300,
      font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 11, color: "#4b5463" },
      paper_bgcolor: "#fff",
      plot_bgcolor: "#fff",
      hovermode: "x unified",
      hoverlabel: { bgcolor: "#fff", bordercolor: "#d0d5dd" },
      // A legend whenever a chart has several lines to tell apart: keys, or each rank's line.
      showlegend: chart.keys.length > 1 || (state.perRank && chart.keys.some((k) => {
        const s = chart.series[k];
        return Boolean(s && s.by_rank && s.by_rank.length > 1);
      })),
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" },
      xaxis: {
        title: { text: xTitle, standoff: 6 }, type: state.xAxis === "wall" ? "date" : "linear",
        gridcolor: "#eef0f3", zeroline: false, linecolor: "#d0d5dd", ticks: "outside", tickcolor: "#d0d5dd",
      },
      yaxis: {
        type: state.logY ? "log" : "linear", gridcolor: "#eef0f3", zeroline: false,
        linecolor: "#d0d5dd", exponentformat: "e", tickformat: state.logY ? "" : "~g",
      },
      yaxis2: { overlaying: "y", range: [0, 1], visible: false, fixedrange: true },
    };
  }

  function note(chart) {
    const parts = [];
    const shown = chart.keys.map((k) => chart.series[k]).filter(Boolean);
    const sampled = shown.filter((s) => s.downsampled);
    if (sampled.length) {
      const total = sampled.reduce((a, s) => a + s.total, 0);
      parts.push(`downsampled from ${TrackerFmt.integer(total)} points`);
    }
    if (chart.range) parts.push(`steps ${Math.round(chart.range[0])}–${Math.round(chart.range[1])}`);
    if (shown.some((s) => s.ranks > 1)) {
      const ranks = Math.max(...shown.map((s) => s.ranks));
      parts.push(state.perRank ? `${ranks} ranks and their mean` : `mean ± std over ${ranks} ranks`);
      const control = document.getElementById("per-rank-control");
      if (control) control.hidden = false;
    }
    return parts.join(" · ");
  }

  function draw(chart) {
    if (!chart.loaded || !window.Plotly) return;
    const loading = chart.el.querySelector(".chart-loading");
    if (loading) loading.remove();
    window.Plotly.react(chart.el, tracesFor(chart), layoutFor(chart), PLOT_CONFIG);
    chart.noteEl.textContent = note(chart);
    chart.el.dataset.revision = String(Number(chart.el.dataset.revision || 0) + 1);
    if (!chart.bound) {
      chart.bound = true;
      chart.el.on("plotly_relayout", (event) => onRelayout(chart, event));
    }
  }

  // --- Fetching -------------------------------------------------------------------

  async function fetchChart(chart) {
    if (chart.inflight) {
      chart.pending = true;
      return;
    }
    chart.inflight = true;
    chart.lastFetch = Date.now();
    const params = new URLSearchParams();
    chart.keys.forEach((k) => params.append("key", k));
    if (state.perRank) params.set("ranks", "each");
    if (chart.range) {
      params.set("step_min", String(Math.floor(chart.range[0])));
      params.set("step_max", String(Math.ceil(chart.range[1])));
    }
    try {
      const response = await fetch(`${page.seriesUrl}?${params}`, {
        credentials: "same-origin", headers: { Accept: "application/json" },
      });
      const type = response.headers.get("Content-Type") || "";
      if (!response.ok || !type.includes("application/json")) {
        throw new Error(response.redirected ? "session expired: reload the page" : `HTTP ${response.status}`);
      }
      const body = await response.json();
      for (const s of body.series) {
        chart.series[s.key] = s;
        updateMetricRow(s.key, s.stats);
      }
      chart.loaded = true;
      draw(chart);
    } catch (error) {
      chart.noteEl.textContent = `could not load: ${error.message}`;
      chart.noteEl.classList.add("chart-error");
    } finally {
      chart.inflight = false;
      if (chart.pending) {
        chart.pending = false;
        schedule(chart);
      }
    }
  }

  // Throttled refetch: immediately when the last fetch is over a second old, else once
  // at the end of that second, however many messages arrive meanwhile.
  function schedule(chart) {
    if (!chart.visible) {
      chart.stale = true;
      return;
    }
    if (chart.timer) return;
    const wait = Math.max(0, chart.lastFetch + REFRESH_MS - Date.now());
    chart.timer = window.setTimeout(() => {
      chart.timer = null;
      fetchChart(chart);
    }, wait);
  }

  function onRelayout(chart, event) {
    if (state.xAxis !== "step") return;
    let range = null;
    if (event["xaxis.range[0]"] !== undefined) range = [event["xaxis.range[0]"], event["xaxis.range[1]"]];
    else if (Array.isArray(event["xaxis.range"])) range = event["xaxis.range"];
    else if (!event["xaxis.autorange"]) return;
    const sampled = chart.keys.some((k) => chart.series[k] && chart.series[k].downsampled);
    if (!sampled && !chart.range) return; // already every point: nothing finer to fetch
    chart.range = range ? [Math.max(0, range[0]), range[1]] : null;
    fetchChart(chart);
  }

  // --- Page parts -------------------------------------------------------------------

  function updateMetricRow(key, stats) {
    const row = document.querySelector(`#metrics-table tr[data-key="${CSS.escape(key)}"]`);
    if (!row || !stats) return;
    for (const field of ["count", "last", "min", "max"]) {
      const cell = row.querySelector(`[data-field="${field}"]`);
      if (cell) cell.textContent = String(stats[field]);
    }
    const last = row.querySelector('[data-field="last"]');
    if (last) last.classList.toggle("bad", /nan|inf/i.test(String(stats.last)));
  }

  function setStatus(status) {
    const badge = document.getElementById("run-status");
    if (!badge || !status) return;
    badge.className = `badge badge-${status}`;
    badge.textContent = status;
    badge.dataset.status = status;
  }

  const observer = "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const chart = entry.target.__chart;
        if (!entry.isIntersecting || !chart) continue;
        chart.visible = true;
        observer.unobserve(entry.target);
        if (!chart.loaded || chart.stale) {
          chart.stale = false;
          fetchChart(chart);
        }
      }
    }, { rootMargin: "300px" })
    : null;

  function register(name, keys, figure) {
    const el = figure.querySelector(".chart");
    const chart = {
      name: name, keys: keys, el: el, figure: figure, noteEl: figure.querySelector(".chart-note"),
      series: {}, range: null, loaded: false, visible: !observer, stale: false,
      inflight: false, pending: false, timer: null, lastFetch: 0, bound: false,
    };
    el.__chart = chart;
    figure.__chart = chart;
    charts.set(name, chart);
    if (observer) observer.observe(figure);
    else fetchChart(chart);
    return chart;
  }

  function addChart(name, keys) {
    const empty = grid.querySelector(".empty");
    if (empty) empty.remove();
    const figure = document.createElement("figure");
    figure.className = "card chart-card";
    figure.dataset.chart = name;
    figure.innerHTML = '<figcaption><span class="chart-title"></span><span class="chart-note muted small"></span>' +
      '</figcaption><div class="chart"><div class="chart-loading muted">Loading…</div></div>';
    figure.querySelector(".chart-title").textContent = keys.length > 1 ? name : keys[0];
    grid.appendChild(figure);
    return register(name, keys, figure);
  }

  const internal = page.internalPrefixes || [];

  function onPoints(keys) {
    const touched = new Set();
    for (const key of keys) {
      if (internal.some((prefix) => key.startsWith(prefix))) continue; // drawn by run_media.js
      const name = chartName(key);
      let chart = charts.get(name);
      if (!chart) chart = addChart(name, [key]);
      else if (!chart.keys.includes(key)) {
        chart.keys = [...chart.keys, key].sort();
        chart.figure.querySelector(".chart-title").textContent = name;
      }
      touched.add(chart);
    }
    touched.forEach(schedule);
  }

  function refreshAll() {
    charts.forEach(schedule);
  }

  // --- Controls ---------------------------------------------------------------------

  function redrawAll() {
    charts.forEach(draw);
  }

  function onControl(name) {
    if (name === "perRank") {
      charts.forEach((chart) => {
        if (chart.visible) fetchChart(chart);
        else chart.stale = true;
      });
    } else if (name === "xAxis") {
      // A zoomed step range means nothing on a time axis: go back to the whole run.
      charts.forEach((chart) => {
        if (chart.range) {
          chart.range = null;
          if (chart.visible) fetchChart(chart);
        }
      });
      redrawAll();
    } else {
      redrawAll();
    }
  }

  function start() {
    // Figures are rendered in page.charts order; keys come from JSON (they may hold commas).
    const figures = grid.querySelectorAll(".chart-card[data-chart]");
    page.charts.forEach((spec, i) => register(spec.name, spec.keys, figures[i]));
    TrackerLive.on("points", (message) => onPoints(message.keys || []));
    TrackerLive.on("status", (message) => setStatus(message.status));
    TrackerLive.onReconnect(refreshAll); // points may have arrived while we were away
    TrackerLive.connect(page.wsPath, { indicator: "live-indicator" });
  }

  start();
})();
