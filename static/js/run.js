// Run page: learning curves from series.json, drawn with Plotly and kept live from the
// run's websocket. One chart per metric name; train/x and val/x share the chart "x".
//
// A run may have 10,000 keys, so nothing is built up front: charts sit in collapsible
// sections (one per key namespace, page.sections), a section's cards are built only as it
// comes near the viewport, a card fetches its data only when it is about to be seen, and
// the panel search narrows every section (and the Metrics table) as the reader types.
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

  const SECTIONS_KEY = "tracker:run-sections"; // namespace -> open, for every run
  const BUILD_BATCH = 6; // cards built per step while a section's end is near the viewport
  const BUILD_MARGIN = 900; // px below the viewport within which cards are built
  const SECTION_PAGE = 24; // cards a section shows before its "Show more" (sections below stay reachable)
  const LEGEND_MAX = 12; // more lines than this: no legend (hover names them)
  const METRIC_ROWS = 200; // Metrics table rows drawn at once
  const charts = new Map(); // section + chart name -> chart (built cards only)
  const grid = document.getElementById("charts");
  const controls = TrackerControls.bind({
    storageKey: CONTROLS_KEY,
    defaults: { smoothing: 0.6, logY: false, logX: false, xAxis: "step", perRank: false },
    inputs: { smoothing: "smoothing", logY: "log-y", logX: "log-x", xAxis: "x-axis", perRank: "per-rank" },
    onChange: onControl,
  });
  const state = controls.state;
  const openedAt = stepFromQuery(); // ?step=N: an alert's link to the step that fired

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
    if (xMetricKey() && xMetric.key === xMetricKey() && xMetric.step.length) {
      return series.step.map(xAtStep);
    }
    return series.step;
  }

  // --- A logged metric as the x-axis (tokens, epoch, samples seen) -------------------
  // Each point's x is that metric's value at the point's step, interpolated between the
  // steps it was logged at; outside its range there is no x (the point is not drawn).

  const xMetric = { key: null, step: [], value: [], loading: null };

  function xMetricKey() {
    return state.xAxis.startsWith("metric:") ? state.xAxis.slice("metric:".length) : null;
  }

  function xAtStep(step) {
    const steps = xMetric.step;
    if (step < steps[0] || step > steps[steps.length - 1]) return null;
    let lo = 0;
    let hi = steps.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (steps[mid] <= step) lo = mid;
      else hi = mid;
    }
    if (steps[lo] === step || hi === lo) return xMetric.value[lo];
    if (steps[hi] === step) return xMetric.value[hi];
    const t = (step - steps[lo]) / (steps[hi] - steps[lo]);
    return xMetric.value[lo] + t * (xMetric.value[hi] - xMetric.value[lo]);
  }

  async function loadXMetric() {
    const key = xMetricKey();
    if (!key || xMetric.key === key || xMetric.loading === key) return;
    xMetric.loading = key;
    try {
      const params = new URLSearchParams({ key: key });
      const response = await fetch(`${page.seriesUrl}?${params}`, {
        credentials: "same-origin", headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const series = (await response.json()).series.find((s) => s.key === key);
      const pairs = series ? series.step.map((st, i) => [st, Number(series.value[i])])
        .filter(([, v]) => Number.isFinite(v)).sort((a, b) => a[0] - b[0]) : [];
      xMetric.step = pairs.map((p) => p[0]);
      xMetric.value = pairs.map((p) => p[1]);
      xMetric.key = key;
    } catch (error) {
      xMetric.key = null;
    } finally {
      xMetric.loading = null;
    }
    if (xMetricKey() === key) redrawAll();
  }

  function withAlpha(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  function colorFor(chart, key, index) {
    if (chart.keys.length > 1 && SPLIT_COLORS[splitName(key)]) return SPLIT_COLORS[splitName(key)];
    return PALETTE[index % PALETTE.length];
  }

  // The step in ?step=N, or null: anything but an integer is ignored (a hand-edited link).
  function stepFromQuery() {
    const raw = (new URLSearchParams(window.location.search).get("step") || "").trim();
    if (!/^-?\d+$/.test(raw)) return null;
    const step = Number(raw);
    return Number.isSafeInteger(step) ? step : null;
  }

  // A dashed line at ?step=N on every chart; steps mean nothing on a time axis.
  function openedAtMarks() {
    if (openedAt === null || state.xAxis !== "step") return { shapes: [], annotations: [] };
    return {
      shapes: [{
        type: "line", name: "opened-at-step", xref: "x", yref: "paper", x0: openedAt, x1: openedAt, y0: 0, y1: 1,
        line: { color: "#9333ea", width: 1.5, dash: "dash" },
      }],
      annotations: [{
        name: "opened-at-step", xref: "x", yref: "paper", x: openedAt, y: 1, xanchor: "right", yanchor: "top",
        text: `step ${openedAt}`, showarrow: false, font: { size: 10, color: "#9333ea" }, captureevents: false,
      }],
    };
  }

  function showOpenedAt() {
    if (openedAt === null) return;
    let banner = document.getElementById("step-banner");
    if (!banner) {
      banner = document.createElement("div");
      banner.id = "step-banner";
      banner.className = "alert alert-info step-banner";
      banner.setAttribute("role", "status");
      grid.closest(".charts-section").before(banner);
    }
    banner.dataset.step = String(openedAt);
    banner.textContent = `Opened at step ${openedAt} (from an alert): a dashed line marks it on every chart.` +
      (state.xAxis === "step" ? "" : " Set the x-axis to Step to see it.");
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
      const weight = TrackerSmooth.weightFor(state.smoothing, s.value.length);
      const smoothed = weight > 0;
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
          x: xs, y: TrackerSmooth.ema(s.value, weight), name: meanLabel, mode: "lines",
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
    const xTitle = xMetricKey() || { step: "step", wall: "", relative: "time (s)" }[state.xAxis];
    return {
      uirevision: `${chart.name}:${state.xAxis}:${state.logY}:${state.logX}`,
      margin: { l: 52, r: 14, t: 8, b: 36 },
      height: 300,
      font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 11, color: "#4b5463" },
      paper_bgcolor: "#fff",
      plot_bgcolor: "#fff",
      hovermode: "x unified",
      hoverlabel: { bgcolor: "#fff", bordercolor: "#d0d5dd" },
      // A legend whenever a chart has several lines to tell apart: keys, or each rank's line.
      // Never a legend of hundreds of entries: past LEGEND_MAX lines, hovering names them.
      showlegend: (chart.keys.length > 1 || (state.perRank && chart.keys.some((k) => {
        const s = chart.series[k];
        return Boolean(s && s.by_rank && s.by_rank.length > 1);
      }))) && lineCount(chart) <= LEGEND_MAX,
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" },
      xaxis: {
        title: { text: xTitle, standoff: 6 },
        type: state.xAxis === "wall" ? "date" : (state.logX ? "log" : "linear"),
        gridcolor: "#eef0f3", zeroline: false, linecolor: "#d0d5dd", ticks: "outside", tickcolor: "#d0d5dd",
      },
      yaxis: {
        type: state.logY ? "log" : "linear", gridcolor: "#eef0f3", zeroline: false,
        linecolor: "#d0d5dd", exponentformat: "e", tickformat: state.logY ? "" : "~g",
      },
      yaxis2: { overlaying: "y", range: [0, 1], visible: false, fixedrange: true },
      shapes: openedAtMarks().shapes,
      annotations: openedAtMarks().annotations,
    };
  }

  function lineCount(chart) {
    return chart.keys.reduce((n, k) => {
      const s = chart.series[k];
      return n + (state.perRank && s && s.by_rank ? s.by_rank.length + 1 : 1);
    }, 0);
  }

  function note(chart) {
    const parts = [];
    const shown = chart.keys.map((k) => chart.series[k]).filter(Boolean);
    if (state.smoothing > 0 && shown.length) {
      // Short series are smoothed less (or not at all): say so, the slider says more.
      const n = Math.min(...shown.map((s) => s.value.length));
      const weight = TrackerSmooth.weightFor(state.smoothing, n);
      if (weight === 0) parts.push(`not smoothed (${n} points)`);
      else if (weight < state.smoothing) parts.push(`smoothing ${weight.toFixed(2)} (${n} points)`);
    }
    if (lineCount(chart) > LEGEND_MAX) parts.push(`${lineCount(chart)} lines: hover to name them`);
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
    if (!firstDrawn) {
      firstDrawn = true;
      if (window.performance && performance.mark) performance.mark("tracker:first-chart");
    }
    chart.noteEl.textContent = note(chart);
    chart.el.dataset.revision = String(Number(chart.el.dataset.revision || 0) + 1);
    if (!chart.bound) {
      chart.bound = true;
      chart.el.on("plotly_relayout", (event) => onRelayout(chart, event));
    }
  }

  let firstDrawn = false;

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

  // --- Metrics table ------------------------------------------------------------------

  // page.metrics rows: [key, count, last, min, max, lastBad, direction, nonfinite].
  const metricRows = new Map(page.metrics.map((row) => [row[0], row]));
  let metricLimit = METRIC_ROWS;

  function metricRow(row) {
    const [key, count, last, min, max, lastBad, direction, nonfinite] = row;
    const tr = document.createElement("tr");
    tr.dataset.key = key;
    const name = document.createElement("td");
    name.textContent = key;
    if (nonfinite) {
      const badge = document.createElement("span");
      badge.className = "badge badge-failed";
      badge.title = "NaN/inf values";
      badge.textContent = `${nonfinite} non-finite`;
      name.append(" ", badge);
    }
    tr.append(name);
    [["count", count], ["last", last], ["min", min], ["max", max]].forEach(([field, value]) => {
      const td = document.createElement("td");
      td.className = "num";
      if (field === "last" && lastBad) td.classList.add("bad");
      if ((field === "min" && direction === "min") || (field === "max" && direction === "max")) td.classList.add("best");
      td.dataset.field = field;
      td.textContent = String(value);
      tr.append(td);
    });
    return tr;
  }

  function drawMetricsTable() {
    const body = document.querySelector("#metrics-table tbody");
    const more = document.getElementById("metrics-more");
    const count = document.getElementById("metrics-count");
    if (!body || !metricRows.size) return;
    const rows = [...metricRows.values()].filter((row) => search.matches(row[0]));
    const shown = rows.slice(0, metricLimit);
    body.replaceChildren(...shown.map(metricRow));
    if (!rows.length) {
      const tr = document.createElement("tr");
      tr.innerHTML = '<td colspan="5" class="empty-row"></td>';
      tr.firstChild.textContent = "No metric matches the search.";
      body.append(tr);
    }
    count.textContent = search.active() ? `${rows.length.toLocaleString()} of ${metricRows.size.toLocaleString()}`
      : (metricRows.size > 10 ? metricRows.size.toLocaleString() : "");
    more.hidden = rows.length <= shown.length;
    more.textContent = `Show ${Math.min(METRIC_ROWS * 5, rows.length - shown.length).toLocaleString()} more ` +
      `(${(rows.length - shown.length).toLocaleString()} not shown)`;
  }

  function updateMetricRow(key, stats) {
    if (!stats) return;
    const known = metricRows.get(key);
    if (known) {
      known[1] = stats.count; known[2] = stats.last; known[3] = stats.min; known[4] = stats.max;
      known[5] = /nan|inf/i.test(String(stats.last)); known[7] = stats.nonfinite || 0;
    } else {
      metricRows.set(key, [key, stats.count, stats.last, stats.min, stats.max, /nan|inf/i.test(String(stats.last)), "", stats.nonfinite || 0]);
      scheduleTable();
      return;
    }
    const row = document.querySelector(`#metrics-table tr[data-key="${CSS.escape(key)}"]`);
    if (!row) return;
    for (const field of ["count", "last", "min", "max"]) {
      const cell = row.querySelector(`[data-field="${field}"]`);
      if (cell) cell.textContent = String(stats[field]);
    }
    const last = row.querySelector('[data-field="last"]');
    if (last) last.classList.toggle("bad", /nan|inf/i.test(String(stats.last)));
  }

  let tableFrame = 0;
  function scheduleTable() {
    window.cancelAnimationFrame(tableFrame);
    tableFrame = window.requestAnimationFrame(drawMetricsTable);
  }

  function setStatus(status) {
    const badge = document.getElementById("run-status");
    if (!badge || !status) return;
    badge.className = `badge badge-${status}`;
    badge.textContent = status;
    badge.dataset.status = status;
    const live = document.getElementById("live-indicator");
    if (live) live.dataset.status = status; // "LIVE" only while running (run.css)
  }

  // --- Panel search -------------------------------------------------------------------

  // Text or a regular expression (case-insensitive); "/.../" forces a regex. Text that is
  // not a valid pattern is matched as plain text.
  const search = {
    text: "",
    re: null,
    active() {
      return this.text !== "";
    },
    matches(key) {
      if (!this.text) return true;
      return this.re ? this.re.test(key) : key.toLowerCase().includes(this.text.toLowerCase());
    },
    set(text) {
      this.text = text.trim();
      this.re = null;
      let invalid = false;
      if (this.text) {
        const slashed = /^\/(.+)\/$/.exec(this.text);
        try {
          this.re = new RegExp(slashed ? slashed[1] : this.text, "i");
        } catch (e) {
          invalid = Boolean(slashed);
        }
      }
      return invalid;
    },
  };

  function chartMatches(spec) {
    return !search.active() || search.matches(spec.title) || spec.keys.some((k) => search.matches(k));
  }

  // --- Sections -----------------------------------------------------------------------

  const internal = page.internalPrefixes || [];
  const splits = new Set(page.splits || []);
  const sections = new Map(); // namespace ("" for the learning curves) -> section

  function loadOpen() {
    try {
      const stored = JSON.parse(window.localStorage.getItem(SECTIONS_KEY) || "{}");
      return stored && typeof stored === "object" ? stored : {};
    } catch (e) {
      return {};
    }
  }
  const opened = loadOpen();
  const searchOpened = new Map(); // while searching: the reader's toggles, not remembered

  function saveOpen() {
    try {
      window.localStorage.setItem(SECTIONS_KEY, JSON.stringify(opened));
    } catch (e) {
      // Storage disabled: sections reset on reload, nothing else breaks.
    }
  }

  function isOpen(section) {
    if (search.active() && searchOpened.has(section.name)) return searchOpened.get(section.name);
    if (search.active()) return true; // a search shows its matches wherever they are
    if (section.name in opened) return Boolean(opened[section.name]);
    return !section.internal;
  }

  // Where a key's chart lives: the learning curves ("" section, charts by name, splits
  // merged), or its namespace's section, one chart per key. As dashboard/views/runs.py.
  function placeOf(key) {
    const i = key.indexOf("/");
    const space = i < 0 ? "" : key.slice(0, i);
    if (i < 0 || splits.has(space)) return { section: "", name: chartName(key) };
    return { section: space, name: key };
  }

  function makeSection(spec) {
    const el = document.createElement("section");
    el.className = "panel-section";
    el.dataset.section = spec.name;
    el.innerHTML = '<div class="panel-section-head"><button type="button" class="panel-section-toggle">' +
      '<span class="panel-section-title"></span><span class="panel-section-count muted small"></span></button>' +
      '<span class="panel-section-internal muted" hidden>internal</span></div>' +
      '<div class="panel-section-body"><div class="chart-grid"></div><div class="panel-section-sentinel"></div>' +
      '<button type="button" class="btn btn-small panel-section-more" hidden></button></div>';
    el.querySelector(".panel-section-title").textContent = spec.title;
    el.querySelector(".panel-section-internal").hidden = !spec.internal;
    const section = {
      name: spec.name, title: spec.title, internal: Boolean(spec.internal), el: el,
      toggle: el.querySelector(".panel-section-toggle"), countEl: el.querySelector(".panel-section-count"),
      body: el.querySelector(".panel-section-body"), grid: el.querySelector(".chart-grid"),
      sentinel: el.querySelector(".panel-section-sentinel"), more: el.querySelector(".panel-section-more"),
      specs: [], byName: new Map(), built: new Map(), matching: 0, limit: SECTION_PAGE,
    };
    section.more.addEventListener("click", () => {
      section.limit += SECTION_PAGE * 4;
      applySection(section);
      scheduleBuild();
    });
    el.__section = section;
    section.toggle.addEventListener("click", () => {
      const open = !isOpen(section);
      if (search.active()) searchOpened.set(section.name, open);
      else {
        opened[section.name] = open;
        saveOpen();
      }
      applySection(section);
      scheduleBuild();
    });
    (spec.charts || []).forEach((chartSpec) => addSpec(section, chartSpec));
    (spec.keys || []).forEach((key) => addSpec(section, { name: key, title: key, keys: [key] }));
    sections.set(spec.name, section);
    return section;
  }

  function addSpec(section, spec) {
    const entry = { name: spec.name, title: spec.title, keys: spec.keys.slice() };
    section.specs.push(entry);
    section.byName.set(spec.name, entry);
    return entry;
  }

  function insertSection(section) {
    // Learning curves first, then namespaces in page order, internal ones last.
    const after = [...grid.querySelectorAll(":scope > .panel-section")].find((other) => {
      const o = other.__section;
      if (section.name === "") return true;
      if (o.name === "") return false;
      if (o.internal !== section.internal) return o.internal;
      return o.name.localeCompare(section.name, undefined, { numeric: true }) > 0;
    });
    grid.insertBefore(section.el, after || null);
    markSingle();
  }

  function markSingle() {
    const all = [...sections.values()];
    all.forEach((s) => s.el.toggleAttribute("data-single", all.length === 1 && s.name === ""));
  }

  // Show or hide a section and its built cards for the search and its open state.
  function applySection(section) {
    const matching = section.specs.filter(chartMatches);
    section.matching = matching.length;
    const open = isOpen(section);
    section.el.hidden = search.active() && !matching.length;
    section.toggle.setAttribute("aria-expanded", String(open));
    section.body.hidden = !open;
    const total = section.specs.length;
    const noun = total === 1 ? "chart" : "charts";
    section.countEl.textContent = search.active() ? `${matching.length.toLocaleString()} of ${total.toLocaleString()} ${noun}`
      : `${total.toLocaleString()} ${noun}`;
    // The first `limit` matching charts; the rest behind the section's "Show more".
    const shown = new Set(matching.slice(0, section.limit).map((spec) => spec.name));
    section.built.forEach((chart, name) => {
      chart.figure.hidden = !shown.has(name);
    });
    const rest = matching.length - shown.size;
    section.more.hidden = rest <= 0;
    section.more.textContent = `Show ${Math.min(rest, SECTION_PAGE * 4).toLocaleString()} more of ${section.title}` +
      ` (${rest.toLocaleString()} not shown)`;
  }

  // Build the next cards of the open sections whose end is near the viewport, a batch at
  // a time, until the viewport (and BUILD_MARGIN below it) is filled.
  let buildFrame = 0;
  function scheduleBuild() {
    if (buildFrame) return;
    buildFrame = window.requestAnimationFrame(() => {
      buildFrame = 0;
      build();
    });
  }

  function build() {
    const limit = window.innerHeight + BUILD_MARGIN;
    let added = 0;
    for (const el of grid.querySelectorAll(":scope > .panel-section")) {
      const section = el.__section;
      if (section.el.hidden || section.body.hidden) continue;
      const top = section.sentinel.getBoundingClientRect().top;
      if (top > limit) break; // sections below are further down still
      const next = section.specs.filter(chartMatches).slice(0, section.limit)
        .filter((spec) => !section.built.has(spec.name)).slice(0, BUILD_BATCH);
      next.forEach((spec) => buildCard(section, spec));
      added += next.length;
      if (next.length) break; // lay out, then look again
    }
    if (added) scheduleBuild();
  }

  function buildCard(section, spec) {
    const figure = document.createElement("figure");
    figure.className = "card chart-card";
    figure.dataset.chart = spec.name;
    figure.innerHTML = '<figcaption><span class="chart-title"></span><span class="chart-note muted small"></span>' +
      '</figcaption><div class="chart"><div class="chart-loading muted">Loading…</div></div>';
    figure.querySelector(".chart-title").textContent = spec.keys.length > 1 ? spec.name : spec.keys[0];
    // In page order: before the next card already built.
    const index = section.specs.indexOf(spec);
    let before = null;
    for (let i = index + 1; i < section.specs.length && !before; i += 1) {
      const other = section.built.get(section.specs[i].name);
      if (other) before = other.figure;
    }
    section.grid.insertBefore(figure, before);
    const chart = register(section, spec, figure);
    section.built.set(spec.name, chart);
    return chart;
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

  // Sections' ends coming into view build more cards.
  const sentinels = "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) scheduleBuild();
    }, { rootMargin: `${BUILD_MARGIN}px` })
    : null;

  function register(section, spec, figure) {
    const el = figure.querySelector(".chart");
    const chart = {
      name: spec.name, keys: spec.keys, el: el, figure: figure, noteEl: figure.querySelector(".chart-note"),
      series: {}, range: null, loaded: false, visible: !observer, stale: false,
      inflight: false, pending: false, timer: null, lastFetch: 0, bound: false, spec: spec,
    };
    el.__chart = chart;
    figure.__chart = chart;
    charts.set(`${section.name}\u0000${spec.name}`, chart);
    if (observer) observer.observe(figure);
    else fetchChart(chart);
    return chart;
  }

  function onPoints(keys) {
    const touched = new Set();
    const laidOut = new Set(); // sections given a new chart or key
    for (const key of keys) {
      const place = placeOf(key);
      let section = sections.get(place.section);
      if (!section) {
        const space = place.section;
        section = makeSection({
          name: space, title: space ? `${space}/` : "Learning curves",
          internal: internal.some((prefix) => prefix === `${space}/`), charts: [],
        });
        insertSection(section);
        if (sentinels) sentinels.observe(section.sentinel);
      }
      let spec = section.byName.get(place.name);
      if (!spec) {
        spec = addSpec(section, { name: place.name, title: key, keys: [key] });
        laidOut.add(section);
      } else if (!spec.keys.includes(key)) {
        spec.keys = [...spec.keys, key].sort();
        spec.title = place.name;
        laidOut.add(section);
        const built = section.built.get(place.name);
        if (built) {
          built.keys = spec.keys;
          built.figure.querySelector(".chart-title").textContent = place.name;
        }
      }
      const chart = section.built.get(place.name);
      if (chart) touched.add(chart);
    }
    const empty = grid.querySelector(":scope > .empty");
    if (empty && keys.length) empty.remove();
    laidOut.forEach(applySection);
    if (laidOut.size) scheduleBuild();
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
      loadXMetric();
      showOpenedAt();
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

  function onSearch(input) {
    const invalid = search.set(input.value);
    input.setAttribute("aria-invalid", String(invalid));
    input.title = invalid ? "Not a valid regular expression" : "";
    searchOpened.clear();
    sections.forEach((section) => { section.limit = SECTION_PAGE; });
    let matching = 0;
    let total = 0;
    sections.forEach((section) => {
      applySection(section);
      matching += section.matching;
      total += section.specs.length;
    });
    document.getElementById("panel-search-count").textContent = search.active()
      ? `${matching.toLocaleString()} of ${total.toLocaleString()} panels` : "";
    metricLimit = METRIC_ROWS;
    drawMetricsTable();
    scheduleBuild();
  }

  function start() {
    // A restored scroll position lies below cards not built yet: building down to it
    // would build hundreds. The page opens at its top.
    if ("scrollRestoration" in window.history) window.history.scrollRestoration = "manual";
    (page.sections || [{ name: "", title: "Learning curves", internal: false, charts: page.charts }]).forEach((spec) => {
      const section = makeSection(spec);
      grid.append(section.el);
      if (sentinels) sentinels.observe(section.sentinel);
    });
    markSingle();
    showOpenedAt();
    sections.forEach(applySection);
    drawMetricsTable();
    scheduleBuild();
    window.addEventListener("resize", scheduleBuild);
    const input = document.getElementById("panel-search");
    if (input) {
      let frame = 0;
      input.addEventListener("input", () => {
        window.cancelAnimationFrame(frame);
        frame = window.requestAnimationFrame(() => onSearch(input));
      });
      if (input.value) onSearch(input); // restored by the browser on back/forward
    }
    const more = document.getElementById("metrics-more");
    if (more) {
      more.addEventListener("click", () => {
        metricLimit += METRIC_ROWS * 5;
        drawMetricsTable();
      });
    }
    setStatus(page.status);
    loadXMetric();
    TrackerLive.on("points", (message) => {
      const keys = message.keys || [];
      if (xMetricKey() && keys.includes(xMetricKey()) && !xMetric.loading) {
        xMetric.key = null; // it grew: read it again, then redraw
        loadXMetric();
      }
      onPoints(keys);
    });
    TrackerLive.on("status", (message) => setStatus(message.status));
    TrackerLive.onReconnect(refreshAll); // points may have arrived while we were away
    TrackerLive.connect(page.wsPath, { indicator: "live-indicator" });
  }

  start();
})();
