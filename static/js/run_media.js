// Run page, media sections: confusion matrix and per-class metrics, ROC/PR curves, model
// internals (per-layer statistics, distributions, model summary), system metrics and
// checkpoints. Fills templates/runs/_media.html from media.json and series.json, and
// follows the page's socket for new media and points.
(function () {
  "use strict";

  const root = document.getElementById("run-media");
  if (!root) return;
  const INDEX_URL = root.dataset.indexUrl;
  const SERIES_URL = root.dataset.seriesUrl;
  const STARTED_AT = Number(root.dataset.startedAt) || 0;
  const PALETTE = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#ca8a04",
    "#4f46e5", "#dc2626", "#0d9488", "#7c3aed"];
  const CONFIG = { responsive: true, displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"] };
  const GIB = 1024 * 1024 * 1024;
  const PREFIXES = ["grad/", "param/", "update/", "act/", "lr/", "sys/"];
  const $ = (id) => document.getElementById(id);

  const state = {
    index: null,
    cm: { split: null, at: -1, normalised: false, data: null },
    curves: { roc: { split: null, step: null }, pr: { split: null, step: null } },
    dist: { name: null, data: null, at: -1 },
    charts: new Map(), // id -> scalar chart
  };

  // --- helpers ------------------------------------------------------------------------

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || !type.includes("application/json")) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }
  function query(params) {
    const q = new URLSearchParams();
    Object.entries(params).forEach(([k, v]) => {
      if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
      else if (v !== null && v !== undefined) q.set(k, String(v));
    });
    return q.toString();
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    });
    children.forEach((c) => node.append(c));
    return node;
  }
  const fmt = TrackerFmt.fixed;
  const fmtInt = TrackerFmt.integer;
  const fmtBytes = TrackerFmt.bytes;
  function layout(extra) {
    return Object.assign({
      margin: { l: 52, r: 14, t: 8, b: 36 }, height: 300,
      font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 11, color: "#4b5463" },
      paper_bgcolor: "#fff", plot_bgcolor: "#fff", hoverlabel: { bgcolor: "#fff", bordercolor: "#d0d5dd" },
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" },
      xaxis: { gridcolor: "#eef0f3", zeroline: false, linecolor: "#d0d5dd" },
      yaxis: { gridcolor: "#eef0f3", zeroline: false, linecolor: "#d0d5dd", tickformat: "~g" },
    }, extra || {});
  }
  function plot(node, traces, lay) {
    if (!window.Plotly) return;
    window.Plotly.react(node, traces, lay, CONFIG);
    node.dataset.revision = String(Number(node.dataset.revision || 0) + 1);
  }
  function fillSelect(select, values, current, label) {
    const wanted = values.includes(current) ? current : values[values.length - 1];
    select.replaceChildren(...values.map((v) => el("option", { value: String(v), text: label ? label(v) : String(v) })));
    select.value = String(wanted);
    return wanted;
  }

  // --- confusion matrix ---------------------------------------------------------------

  function cmSteps() {
    return (state.index.media.confusion_matrix || {})[state.cm.split] || [];
  }

  async function loadConfusion() {
    const steps = cmSteps();
    if (!steps.length) return;
    const step = steps[state.cm.at];
    const data = await getJSON(`${INDEX_URL}?${query({ kind: "confusion_matrix", name: state.cm.split, step })}`);
    state.cm.data = data;
    drawConfusion();
    drawReport();
  }

  function drawConfusion() {
    const d = state.cm.data;
    if (!d) return;
    const n = d.labels.length;
    const rows = d.matrix.map((row) => row.reduce((a, b) => a + b, 0));
    const z = state.cm.normalised ? d.matrix.map((row, i) => row.map((v) => (rows[i] ? v / rows[i] : 0))) : d.matrix;
    const text = d.matrix.map((row, i) => row.map((v, j) =>
      `true <b>${d.labels[i]}</b> → predicted <b>${d.labels[j]}</b><br>${v.toLocaleString()} ` +
      `(${rows[i] ? ((100 * v) / rows[i]).toFixed(1) : "0.0"}% of ${d.labels[i]})`));
    const peak = Math.max(1e-9, ...z.flat());
    const annotations = n > 20 ? [] : z.flatMap((row, i) => row.map((v, j) => ({
      x: j, y: i, xref: "x", yref: "y", showarrow: false,
      text: state.cm.normalised ? (v ? v.toFixed(2).replace(/^0/, "") : "0") : String(v),
      font: { size: n > 12 ? 9 : 11, color: v / peak > 0.55 ? "#fff" : "#1c2430" },
    })));
    const trace = {
      type: "heatmap", z: z, x: d.labels.map((_, j) => j), y: d.labels.map((_, i) => i), text: text,
      hovertemplate: "%{text}<extra></extra>", xgap: 1, ygap: 1,
      colorscale: [[0, "#f7f9ff"], [0.15, "#dbe4ff"], [0.4, "#93a9f7"], [0.7, "#4f63e0"], [1, "#27308f"]],
      zmin: 0, zmax: state.cm.normalised ? 1 : peak, colorbar: { thickness: 10, outlinewidth: 0, tickformat: "~g" },
    };
    const ticks = { tickmode: "array", tickvals: d.labels.map((_, i) => i), ticktext: d.labels, ticks: "",
      showgrid: false, zeroline: false, showline: false };
    const size = Math.max(340, Math.min(600, 80 + n * 44));
    $("cm-chart").style.height = `${size}px`;
    plot($("cm-chart"), [trace], layout({
      height: size, annotations: annotations, margin: { l: 70, r: 10, t: 6, b: 52 },
      xaxis: Object.assign({ title: { text: "predicted", standoff: 4 }, side: "bottom", constrain: "domain" }, ticks),
      yaxis: Object.assign({ title: { text: "true", standoff: 4 }, autorange: "reversed", scaleanchor: "x" }, ticks),
    }));
    $("cm-accuracy").textContent = `accuracy ${(100 * d.accuracy).toFixed(2)}% · ${d.total.toLocaleString()} samples · step ${d.step}`;
  }

  function drawReport() {
    const d = state.cm.data;
    const body = $("cm-report").tBodies[0];
    const worst = Math.min(...d.classes.map((c) => c.f1));
    body.replaceChildren(...d.classes.map((c) => el("tr", { "data-label": c.label },
      el("td", { text: c.label }),
      el("td", { class: "num", text: fmt(c.precision) }),
      el("td", { class: "num", text: fmt(c.recall) }),
      el("td", { class: `num${c.f1 === worst && d.classes.length > 1 ? " bad" : ""}`, text: fmt(c.f1) }),
      el("td", { class: "num", text: fmtInt(c.support) }))));
    const foot = $("cm-report").tFoot;
    const avg = (name, a) => el("tr", { "data-average": name }, el("th", { scope: "row", text: `${name} avg` }),
      el("td", { class: "num", text: fmt(a.precision) }), el("td", { class: "num", text: fmt(a.recall) }),
      el("td", { class: "num", text: fmt(a.f1) }), el("td", { class: "num", text: fmtInt(a.support) }));
    foot.replaceChildren(
      el("tr", { "data-average": "accuracy" }, el("th", { scope: "row", text: "accuracy" }), el("td"), el("td"),
        el("td", { class: "num", text: fmt(d.accuracy) }), el("td", { class: "num", text: fmtInt(d.total) })),
      avg("macro", d.averages.macro), avg("weighted", d.averages.weighted));
    const pairs = d.confused_pairs.slice(0, 8);
    $("cm-pairs").replaceChildren(...(pairs.length ? pairs.map((p) => el("li", {},
      el("span", { class: "pair" }, el("b", { text: p.true }), " → ", el("b", { text: p.predicted })),
      el("span", { class: "muted", text: `${p.count.toLocaleString()} · ${(100 * p.rate).toFixed(1)}% of ${p.true}` })))
      : [el("li", { class: "muted", text: "No confusions: every prediction is right." })]));
  }

  function setupConfusion() {
    const splits = Object.keys(state.index.media.confusion_matrix || {}).sort();
    $("cm-card").hidden = $("cm-report-card").hidden = !splits.length;
    if (!splits.length) return false;
    const previous = state.cm.split;
    state.cm.split = fillSelect($("cm-split"), splits, state.cm.split || (splits.includes("val") ? "val" : null));
    const steps = cmSteps();
    const slider = $("cm-step");
    const atEnd = state.cm.at < 0 || state.cm.at >= Number(slider.max) || previous !== state.cm.split;
    slider.max = String(steps.length - 1);
    if (atEnd) state.cm.at = steps.length - 1; // follow the newest matrix unless the user moved away
    slider.value = String(state.cm.at);
    $("cm-step-value").value = String(steps[state.cm.at]);
    slider.disabled = steps.length < 2;
    return atEnd || !state.cm.data;
  }

  // --- ROC / PR -----------------------------------------------------------------------

  // Curves logged without labels name classes by index ("0", "1", ...); the split's
  // confusion matrix names them. Use its names when it has as many classes.
  const classNames = new Map(); // split -> labels of its newest confusion matrix
  async function namesFor(split, count) {
    if (!((state.index.media.confusion_matrix || {})[split] || []).length) return null;
    if (!classNames.has(split)) {
      try {
        classNames.set(split, (await getJSON(`${INDEX_URL}?${query({ kind: "confusion_matrix", name: split })}`)).labels);
      } catch (error) {
        classNames.set(split, null);
      }
    }
    const names = classNames.get(split);
    return names && names.length === count ? names : null;
  }

  async function loadCurves(kind) {
    const key = kind === "roc" ? "roc_curve" : "pr_curve";
    const spec = state.curves[kind];
    const data = await getJSON(`${INDEX_URL}?${query({ kind: key, name: spec.split, step: spec.step })}`);
    if (data.curves.length > 1 && data.curves.every((c, i) => c.label === String(i))) {
      const names = await namesFor(spec.split, data.curves.length);
      if (names) data.curves.forEach((c, i) => { c.label = names[i]; });
    }
    const traces = data.curves.map((c, i) => ({
      x: c.x, y: c.y, mode: "lines", type: "scatter", line: { width: 1.8, color: PALETTE[i % PALETTE.length] },
      name: `${c.label}${c.auc === null ? "" : ` (${kind === "roc" ? "AUC" : "AP"} ${c.auc.toFixed(3)})`}`,
      customdata: c.thresholds || [], meta: { label: c.label, auc: c.auc },
      hovertemplate: `${c.label}: ${kind === "roc" ? "FPR" : "recall"} %{x:.3f}, ${kind === "roc" ? "TPR" : "precision"} %{y:.3f}` +
        (c.thresholds ? " at threshold %{customdata:.3g}" : "") + "<extra></extra>",
    }));
    if (kind === "roc") {
      traces.push({ x: [0, 1], y: [0, 1], mode: "lines", line: { dash: "dot", color: "#c0c5ce", width: 1 },
        hoverinfo: "skip", showlegend: false });
    }
    const many = data.curves.length > 1;
    plot($(`${kind}-chart`), traces, layout({
      showlegend: true, legend: many ? { orientation: "v", x: 1.02, xanchor: "left", y: 1, font: { size: 10 } }
        : { x: 0.98, xanchor: "right", y: kind === "roc" ? 0.05 : 0.95, yanchor: kind === "roc" ? "bottom" : "top" },
      margin: { l: 52, r: many ? 150 : 14, t: 8, b: 40 },
      xaxis: { title: { text: kind === "roc" ? "false positive rate" : "recall", standoff: 4 }, range: [0, 1.01], gridcolor: "#eef0f3", zeroline: false },
      yaxis: { title: { text: kind === "roc" ? "true positive rate" : "precision", standoff: 4 }, range: [0, 1.02], gridcolor: "#eef0f3", zeroline: false },
    }));
    const avg = data.average || {};
    const parts = [];
    if (avg.auc !== undefined && avg.auc !== null) parts.push(`${kind === "roc" ? "AUC" : "average precision"} ${avg.auc.toFixed(4)}`);
    if (avg.macro !== undefined && avg.macro !== null) parts.push(`macro ${avg.macro.toFixed(4)}`);
    if (avg.micro !== undefined && avg.micro !== null) parts.push(`micro ${avg.micro.toFixed(4)}`);
    $(`${kind}-note`).textContent = `${parts.join(" · ")} · step ${data.step}`;
  }

  function setupCurves(kind) {
    const all = state.index.media[kind === "roc" ? "roc_curve" : "pr_curve"] || {};
    const splits = Object.keys(all).sort();
    $(`${kind}-card`).hidden = !splits.length;
    if (!splits.length) return false;
    const spec = state.curves[kind];
    const before = `${spec.split}@${spec.step}`;
    const follow = spec.step === null || (all[spec.split] || []).slice(-1)[0] === spec.step;
    spec.split = fillSelect($(`${kind}-split`), splits, spec.split || (splits.includes("val") ? "val" : null));
    const steps = all[spec.split];
    spec.step = fillSelect($(`${kind}-step`), steps, follow ? steps[steps.length - 1] : spec.step);
    return `${spec.split}@${spec.step}` !== before;
  }

  // --- scalar charts (internals and system) -------------------------------------------

  function seriesName(key) {
    const parts = key.split("/");
    return parts.length > 2 ? parts.slice(1, -1).join("/") : parts.slice(1).join("/");
  }

  function internalsSpecs(keys) {
    const pick = (list, suffix) => list.filter((k) => k.endsWith(suffix));
    const specs = [];
    const grads = pick(keys.grad, "/norm");
    if (grads.length || keys.grad.includes("grad/global_norm")) {
      specs.push({ id: "grad-norm", title: "Gradient L2 norm per layer", keys: keys.grad.filter((k) => k.endsWith("/norm") || k === "grad/global_norm"), logY: true });
    }
    if (pick(keys.param, "/norm").length) specs.push({ id: "param-norm", title: "Parameter L2 norm per layer", keys: pick(keys.param, "/norm") });
    if (keys.update.length) specs.push({ id: "update-ratio", title: "Update ratio |ΔW| / |W| per layer", keys: keys.update, logY: true });
    if (keys.lr.length) specs.push({ id: "lr", title: "Learning rate per param group", keys: keys.lr, name: (k) => k.slice(3) });
    if (pick(keys.act, "/zero_frac").length) specs.push({ id: "act-zero", title: "Activations: fraction of zeros", keys: pick(keys.act, "/zero_frac") });
    if (pick(keys.act, "/mean").length) specs.push({ id: "act-mean", title: "Activations: mean", keys: pick(keys.act, "/mean") });
    if (pick(keys.act, "/std").length) specs.push({ id: "act-std", title: "Activations: standard deviation", keys: pick(keys.act, "/std") });
    return specs;
  }

  function systemSpecs(keys) {
    const sys = keys.sys;
    const specs = [];
    const gpus = [...new Set(sys.map((k) => (k.match(/^sys\/(gpu\d+)\//) || [])[1]).filter(Boolean))].sort();
    gpus.forEach((gpu) => {
      const mem = ["memory_allocated", "memory_reserved", "memory_peak", "memory_total"].map((m) => `sys/${gpu}/${m}`).filter((k) => sys.includes(k));
      if (mem.length) specs.push({ id: `${gpu}-memory`, title: `${gpu.toUpperCase()} memory (GiB)`, keys: mem, time: true, scale: 1 / GIB, name: (k) => k.split("/").pop().replace("memory_", "") });
    });
    const byName = (suffixes, id, title, extra) => {
      const found = sys.filter((k) => suffixes.some((s) => k.endsWith(`/${s}`)) && /^sys\/gpu\d+\//.test(k));
      if (found.length) specs.push(Object.assign({ id: id, title: title, keys: found, time: true, name: (k) => k.slice(4) }, extra));
    };
    byName(["utilization", "memory_utilization"], "gpu-util", "GPU utilisation (%)");
    byName(["temperature"], "gpu-temp", "GPU temperature (°C)");
    byName(["power"], "gpu-power", "GPU power (W)");
    const some = (list) => list.filter((k) => sys.includes(k));
    if (some(["sys/cpu_percent", "sys/process_cpu_percent"]).length) specs.push({ id: "cpu", title: "CPU (%)", keys: some(["sys/cpu_percent", "sys/process_cpu_percent"]), time: true, name: (k) => (k === "sys/cpu_percent" ? "machine" : "this process (100 = 1 core)") });
    if (some(["sys/ram_used", "sys/process_rss"]).length) specs.push({ id: "ram", title: "Memory (GiB)", keys: some(["sys/ram_used", "sys/process_rss"]), time: true, scale: 1 / GIB, name: (k) => (k === "sys/ram_used" ? "system RAM used" : "process RSS") });
    if (some(["sys/steps_per_s", "sys/samples_per_s"]).length) specs.push({ id: "throughput", title: "Throughput", keys: some(["sys/steps_per_s", "sys/samples_per_s"]), time: true, secondY: "sys/samples_per_s", name: (k) => k.slice(4).replace("_per_s", "/s") });
    return specs;
  }

  // A chart of one line per layer draws at most MAX_LINES of them (evenly picked, first
  // and last kept): a model of 1,000 layers would otherwise cost 1,000 series per chart
  // and an unreadable plot. Every key still has its own chart in the page's sections.
  const MAX_LINES = 20;

  function capLines(spec) {
    const keys = spec.keys.filter((k) => k !== "grad/global_norm");
    if (keys.length <= MAX_LINES) return spec;
    const picked = [];
    for (let i = 0; i < MAX_LINES; i += 1) picked.push(keys[Math.round((i * (keys.length - 1)) / (MAX_LINES - 1))]);
    if (spec.keys.includes("grad/global_norm")) picked.push("grad/global_norm");
    return Object.assign({}, spec, { keys: [...new Set(picked)], total: keys.length });
  }

  // Charts fetch their data when they come near the viewport, not before.
  const nearby = "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
      entries.forEach((entry) => {
        const chart = entry.target.__mediaChart;
        if (!entry.isIntersecting || !chart) return;
        chart.visible = true;
        nearby.unobserve(entry.target);
        if (chart.stale) {
          chart.stale = false;
          scheduleChart(chart);
        }
      });
    }, { rootMargin: "400px" })
    : null;

  function ensureCharts(container, specs) {
    specs.map(capLines).forEach((spec) => {
      let chart = state.charts.get(spec.id);
      if (!chart) {
        const figure = el("figure", { class: "card chart-card", "data-media-chart": spec.id },
          el("figcaption", {}, el("span", { class: "chart-title", text: spec.title }), el("span", { class: "chart-note muted small" })),
          el("div", { class: "chart" }));
        container.append(figure);
        chart = { figure: figure, node: figure.querySelector(".chart"), note: figure.querySelector(".chart-note"), timer: null, last: 0,
          visible: !nearby, stale: false };
        figure.__mediaChart = chart;
        state.charts.set(spec.id, chart);
        if (nearby) nearby.observe(figure);
      }
      chart.spec = spec;
    });
  }

  async function loadChart(chart) {
    chart.last = Date.now();
    const spec = chart.spec;
    try {
      const body = await getJSON(`${SERIES_URL}?${query({ key: spec.keys })}`);
      const byKey = new Map(body.series.map((s) => [s.key, s]));
      const traces = spec.keys.filter((k) => byKey.has(k)).map((key, i) => {
        const s = byKey.get(key);
        const scale = spec.scale || 1;
        const dashed = key === "grad/global_norm" || key.endsWith("memory_total");
        return {
          x: spec.time ? s.wall_time.map((t) => t - STARTED_AT) : s.step,
          y: s.value.map((v) => (v === null ? null : v * scale)),
          name: spec.name ? spec.name(key) : seriesName(key), mode: "lines", type: "scatter", connectgaps: false,
          yaxis: spec.secondY === key ? "y2" : "y", meta: { key: key },
          line: { width: dashed ? 2.2 : 1.6, dash: dashed ? "dash" : (spec.secondY === key ? "dot" : "solid"),
            color: key === "grad/global_norm" ? "#1c2430" : PALETTE[i % PALETTE.length] },
          hovertemplate: `${spec.name ? spec.name(key) : seriesName(key)}: %{y:.4~g}<extra></extra>`,
        };
      });
      const many = traces.length > 6;
      const lay = layout({
        hovermode: "x unified", showlegend: traces.length > 1 && traces.length <= 12,
        legend: many ? { orientation: "v", x: 1.02, xanchor: "left", y: 1, font: { size: 10 } }
          : { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" },
        margin: { l: 52, r: many && traces.length <= 12 ? 130 : (spec.secondY ? 52 : 14), t: 8, b: 36 },
        xaxis: { title: { text: spec.time ? "time (s)" : "step", standoff: 6 }, gridcolor: "#eef0f3", zeroline: false, linecolor: "#d0d5dd" },
        yaxis: { type: spec.logY ? "log" : "linear", gridcolor: "#eef0f3", zeroline: false, linecolor: "#d0d5dd", tickformat: spec.logY ? "" : "~g", exponentformat: "e" },
      });
      if (spec.secondY) {
        lay.yaxis2 = { overlaying: "y", side: "right", showgrid: false, rangemode: "tozero", tickformat: ".3~s",
          title: { text: "samples/s", standoff: 4 } };
        lay.yaxis.rangemode = "tozero";
        lay.yaxis.title = { text: "steps/s", standoff: 4 };
      }
      plot(chart.node, traces, lay);
      const sampled = body.series.filter((s) => s.downsampled);
      const notes = [];
      if (spec.total) notes.push(`${traces.length - (spec.keys.includes("grad/global_norm") ? 1 : 0)} of ${spec.total.toLocaleString()} layers`);
      if (sampled.length) notes.push("downsampled");
      chart.note.textContent = notes.join(" · ");
    } catch (error) {
      chart.note.textContent = `could not load: ${error.message}`;
    }
  }

  function scheduleChart(chart) {
    if (!chart.visible) {
      chart.stale = true;
      return;
    }
    if (chart.timer) return;
    const wait = Math.max(0, chart.last + 1500 - Date.now());
    chart.timer = window.setTimeout(() => { chart.timer = null; loadChart(chart); }, wait);
  }

  // --- distributions --------------------------------------------------------------------

  async function loadDistribution() {
    const data = await getJSON(`${INDEX_URL}?${query({ kind: "histogram", name: state.dist.name })}`);
    const follow = !state.dist.data || state.dist.data.name !== data.name || state.dist.at >= state.dist.data.steps.length - 1;
    state.dist.data = data;
    if (follow || state.dist.at < 0) state.dist.at = data.steps.length - 1;
    const slider = $("dist-step");
    slider.max = String(data.steps.length - 1);
    slider.value = String(state.dist.at);
    slider.disabled = data.steps.length < 2;
    drawDistribution();
    drawHistogram();
  }

  function drawDistribution() {
    const d = state.dist.data;
    const q = (i) => d.quantiles.map((row) => row[i]);
    const traces = [];
    const shades = ["rgba(234,88,12,0.13)", "rgba(234,88,12,0.22)", "rgba(234,88,12,0.34)", "rgba(234,88,12,0.5)"];
    for (let band = 0; band < 4; band += 1) {
      traces.push({ x: d.steps, y: q(band), mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false });
      traces.push({ x: d.steps, y: q(8 - band), mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: shades[band], hoverinfo: "skip", showlegend: false });
    }
    traces.push({ x: d.steps, y: q(4), mode: "lines", name: "median", line: { color: "#c2410c", width: 1.6 },
      customdata: d.quantiles.map((row) => [row[0], row[8]]),
      hovertemplate: "step %{x}: median %{y:.4~g} (min %{customdata[0]:.3~g}, max %{customdata[1]:.3~g})<extra></extra>" });
    const marker = d.steps[state.dist.at];
    plot($("dist-chart"), traces, layout({
      showlegend: false, hovermode: "closest",
      shapes: [{ type: "line", x0: marker, x1: marker, yref: "paper", y0: 0, y1: 1, line: { color: "#4f46e5", width: 1, dash: "dot" } }],
      xaxis: { title: { text: "step", standoff: 6 }, gridcolor: "#eef0f3", zeroline: false },
    }));
    $("dist-note").textContent = `bands: min–max, ±1.5σ, ±1σ, ±0.5σ percentiles · ${d.total_steps} logged steps`;
  }

  function drawHistogram() {
    const d = state.dist.data;
    const h = d.histograms[state.dist.at];
    const centers = h.counts.map((_, i) => (h.edges[i] + h.edges[i + 1]) / 2);
    const widths = h.counts.map((_, i) => h.edges[i + 1] - h.edges[i]);
    $("dist-step-value").value = String(d.steps[state.dist.at]);
    plot($("hist-chart"), [{ type: "bar", x: centers, y: h.counts, width: widths, marker: { color: "#ea580c", line: { width: 0 } },
      hovertemplate: "%{x:.4~g}: %{y} values<extra></extra>" }], layout({
      showlegend: false, bargap: 0,
      xaxis: { title: { text: `${d.name} at step ${d.steps[state.dist.at]}`, standoff: 6 }, gridcolor: "#eef0f3", zeroline: false },
    }));
    drawDistribution();
  }

  // --- model summary, system facts, checkpoints -----------------------------------------

  async function loadSummary() {
    const data = await getJSON(`${INDEX_URL}?${query({ kind: "model_summary" })}`);
    $("summary-totals").textContent = `· ${data.model} · ${fmtInt(data.total_params)} parameters (${fmtInt(data.trainable_params)} trainable) · ${fmtBytes(data.bytes)}`;
    $("model-summary").tBodies[0].replaceChildren(...data.rows.map((r) => {
      const name = el("td", { class: "module-name", text: r.name });
      name.style.paddingLeft = `${14 + 16 * r.depth}px`;
      return el("tr", { "data-module": r.name }, name, el("td", { class: "muted", text: r.type }),
        el("td", { class: "num", text: fmtInt(r.params) }), el("td", { class: "num", text: fmtInt(r.trainable) }),
        el("td", { class: "num", text: fmtBytes(r.bytes) }), el("td", { class: "shapes", text: r.shapes || "" }));
    }));
  }

  function drawSystemFacts(system, hasGpuKeys) {
    const noGpu = !hasGpuKeys && (system.gpu === "none" || system.gpu === null || system.gpu === undefined);
    $("no-gpu").hidden = !noGpu;
    const facts = [
      ["GPU", noGpu ? "no GPU" : system.gpu || "—"], ["GPUs", system.gpu_count === null ? "—" : String(system.gpu_count)],
      ["GPU memory", fmtBytes(system.gpu_memory_total)], ["Peak GPU memory", fmtBytes(system.gpu_peak_memory_allocated)],
      ["CPU", system.cpu_model || "—"], ["CPU cores", system.cpu_count === null ? "—" : String(system.cpu_count)],
      ["RAM", fmtBytes(system.ram_total)], ["Peak RSS", fmtBytes(system.peak_rss)],
    ];
    $("system-facts").replaceChildren(...facts.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v }))));
  }

  function drawCheckpoints(rows) {
    $("checkpoints-section").hidden = !rows.length;
    const metric = rows.map((r) => r.best_metric).filter(Boolean).pop();
    $("checkpoints-note").textContent = metric ? `best by ${metric} is marked; older ones may have been pruned by keep-best` : "";
    $("checkpoints-table").tBodies[0].replaceChildren(...rows.slice().reverse().map((r) => {
      const chips = el("div", { class: "metric-chips" });
      const metrics = el("td", {}, chips);
      Object.entries(r.metrics).forEach(([k, v]) => chips.append(el("span", { class: k === metric ? "chip strong" : "chip", text: `${k} ${Number(v).toPrecision(4)}` })));
      const step = el("td", { class: "num", text: String(r.step) });
      if (r.best) step.prepend(el("span", { class: "badge badge-finished", text: "best" }), " ");
      return el("tr", { "data-checkpoint": String(r.id) }, step, metrics, el("td", { class: "num", text: fmtBytes(r.size) }),
        el("td", {}, el("code", { title: r.sha256, text: r.sha256.slice(0, 12) })),
        el("td", { class: "muted", text: TrackerFmt.dateTime(r.created_at) }),
        el("td", {}, el("a", { class: "btn media-btn", href: r.download, download: "", text: "Download" })));
    }));
  }

  // --- images ----------------------------------------------------------------------------

  // One card per image key: the image at the chosen step (the newest unless the reader
  // moved the slider), its caption, and a slider over the steps it was logged at.
  const images = new Map(); // key -> {card, steps, at, follow, loaded}

  function imageCard(name) {
    const slider = el("input", { type: "range", min: "0", max: "0", step: "1", value: "0", "aria-label": `${name}: step` });
    const output = el("output", { text: "" });
    const img = el("img", { alt: name });
    const card = el("figure", { class: "card chart-card image-card", "data-image": name },
      el("figcaption", {}, el("span", { class: "chart-title", text: name }), el("span", { class: "chart-note muted small" })),
      el("div", { class: "media-controls" }, el("label", { class: "control step-control" }, "Step", slider, output)),
      el("div", { class: "image-frame" }, img),
      el("p", { class: "image-caption muted small" }));
    const entry = { card: card, slider: slider, output: output, img: img, steps: [], at: -1, follow: true, shown: null };
    slider.addEventListener("input", () => {
      entry.at = Number(slider.value);
      entry.follow = entry.at === entry.steps.length - 1;
      output.value = String(entry.steps[entry.at]);
      loadImage(name, entry);
    });
    return entry;
  }

  async function loadImage(name, entry) {
    // While the slider is dragged, fetch once it rests (~60 ms), not at every position.
    window.clearTimeout(entry.timer);
    entry.timer = window.setTimeout(async () => {
      const step = entry.steps[entry.at];
      if (entry.shown === step) return;
      try {
        const data = await getJSON(`${INDEX_URL}?${query({ kind: "image", name: name, step: step })}`);
        if (entry.steps[entry.at] !== data.step) return; // the slider moved on meanwhile
        entry.img.src = data.src;
        entry.img.width = data.width;
        entry.img.height = data.height;
        entry.img.alt = `${name} at step ${data.step}`;
        entry.card.querySelector(".image-caption").textContent = data.caption || "";
        entry.card.querySelector(".chart-note").textContent = `${data.width}×${data.height} · step ${data.step}`;
        entry.shown = data.step;
        entry.card.dataset.step = String(data.step);
      } catch (error) {
        entry.card.querySelector(".chart-note").textContent = `could not load: ${error.message}`;
      }
    }, 60);
  }

  function refreshImages(index) {
    const all = index.media.image || {};
    const names = Object.keys(all).sort();
    $("images-section").hidden = !names.length;
    names.forEach((name) => {
      let entry = images.get(name);
      if (!entry) {
        entry = imageCard(name);
        images.set(name, entry);
        $("image-grid").append(entry.card);
      }
      const steps = all[name];
      const changed = steps.length !== entry.steps.length;
      entry.steps = steps;
      entry.slider.max = String(steps.length - 1);
      entry.slider.disabled = steps.length < 2;
      if (entry.follow) entry.at = steps.length - 1; // follow the newest unless moved away
      entry.slider.value = String(entry.at);
      entry.output.value = String(steps[entry.at]);
      if (changed || entry.shown === null) loadImage(name, entry);
    });
  }

  // --- text series -----------------------------------------------------------------------

  let textSignature = null; // the text index last drawn (the server drew the first one)

  function renderText(series) {
    $("text-section").hidden = !series.length;
    $("text-series").replaceChildren(...series.map((s) => {
      const more = s.total > s.rows.length ? ` · newest ${s.rows.length} of ${s.total} steps` : "";
      return el("section", { class: "card card-flush text-series", "data-text-key": s.name },
        el("h3", { class: "card-title" }, `${s.name} `,
          el("span", { class: "muted small", text: `latest at step ${s.latest ? s.latest.step : "—"}${more}` })),
        el("pre", { class: "text-latest", text: s.latest ? s.latest.value : "" }),
        el("div", { class: "table-scroll" }, el("table", { class: "table compact text-table" },
          el("thead", {}, el("tr", {}, el("th", { class: "num", text: "Step" }), el("th", { text: "Value" }))),
          el("tbody", {}, ...s.rows.map((r) => el("tr", {}, el("td", { class: "num", text: String(r.step) }),
            el("td", { class: "text-cell", text: r.value })))))));
    }));
  }

  async function refreshText(index) {
    const signature = JSON.stringify(index.media.text || {});
    if (textSignature === null) {
      textSignature = signature; // as the server rendered it
      return;
    }
    if (signature === textSignature) return;
    textSignature = signature;
    const data = await getJSON(`${INDEX_URL}?${query({ kind: "text" })}`);
    renderText(data.text || []);
  }

  // --- index and live updates -----------------------------------------------------------

  async function refresh() {
    let index;
    try {
      index = await getJSON(INDEX_URL);
    } catch (error) {
      return;
    }
    state.index = index;
    classNames.clear(); // a new confusion matrix may name the classes anew
    const m = index.media;
    const jobs = [refreshText(index)];
    refreshImages(index);
    if (setupConfusion()) jobs.push(loadConfusion());
    ["roc", "pr"].forEach((kind) => { if (setupCurves(kind)) jobs.push(loadCurves(kind)); });
    $("evaluation-section").hidden = $("cm-card").hidden && $("roc-card").hidden && $("pr-card").hidden;

    const internals = internalsSpecs(index.keys);
    ensureCharts($("internals-charts"), internals);
    const names = Object.keys(m.histogram || {}).sort();
    $("dist-card").hidden = !names.length;
    if (names.length) {
      const previous = state.dist.name;
      state.dist.name = fillSelect($("dist-name"), names, state.dist.name || names.find((n) => n.startsWith("grad/")) || names[0]);
      const count = m.histogram[state.dist.name]; // histograms are counted, not listed
      if (previous !== state.dist.name || !state.dist.data || state.dist.data.total_steps !== count) jobs.push(loadDistribution());
    }
    const hasSummary = Object.keys(m.model_summary || {}).length > 0;
    $("summary-card").hidden = !hasSummary;
    if (hasSummary) jobs.push(loadSummary());
    $("internals-section").hidden = !internals.length && !names.length && !hasSummary;

    const system = systemSpecs(index.keys);
    ensureCharts($("system-charts"), system);
    const hasGpuKeys = index.keys.sys.some((k) => /^sys\/gpu\d+\//.test(k));
    $("system-section").hidden = !system.length && index.system.cpu_count === null;
    drawSystemFacts(index.system, hasGpuKeys);
    drawCheckpoints(index.checkpoints);
    state.charts.forEach((chart) => scheduleChart(chart));
    await Promise.allSettled(jobs);
    root.dataset.ready = String(Number(root.dataset.ready || 0) + 1);
  }

  let refreshTimer = null;
  function scheduleRefresh() {
    if (refreshTimer) return;
    refreshTimer = window.setTimeout(() => { refreshTimer = null; refresh(); }, 1000);
  }

  function onPoints(keys) {
    const ours = keys.filter((k) => PREFIXES.some((p) => k.startsWith(p)));
    if (!ours.length) return;
    const known = new Set();
    state.charts.forEach((chart) => chart.spec.keys.forEach((k) => known.add(k)));
    if (ours.some((k) => !known.has(k))) scheduleRefresh(); // a new layer or device: lay out again
    state.charts.forEach((chart) => { if (chart.spec.keys.some((k) => ours.includes(k))) scheduleChart(chart); });
  }

  // --- controls -------------------------------------------------------------------------

  function bind() {
    $("cm-split").addEventListener("change", () => { state.cm.split = $("cm-split").value; state.cm.at = -1; setupConfusion(); loadConfusion(); });
    $("cm-step").addEventListener("input", () => {
      state.cm.at = Number($("cm-step").value);
      $("cm-step-value").value = String(cmSteps()[state.cm.at]);
      loadConfusion();
    });
    const toggle = (normalised) => {
      state.cm.normalised = normalised;
      $("cm-counts").setAttribute("aria-pressed", String(!normalised));
      $("cm-normalised").setAttribute("aria-pressed", String(normalised));
      drawConfusion();
    };
    $("cm-counts").addEventListener("click", () => toggle(false));
    $("cm-normalised").addEventListener("click", () => toggle(true));
    ["roc", "pr"].forEach((kind) => {
      $(`${kind}-split`).addEventListener("change", () => { state.curves[kind] = { split: $(`${kind}-split`).value, step: null }; setupCurves(kind); loadCurves(kind); });
      $(`${kind}-step`).addEventListener("change", () => { state.curves[kind].step = Number($(`${kind}-step`).value); loadCurves(kind); });
    });
    $("dist-name").addEventListener("change", () => { state.dist.name = $("dist-name").value; state.dist.at = -1; loadDistribution(); });
    $("dist-step").addEventListener("input", () => { state.dist.at = Number($("dist-step").value); drawHistogram(); });
  }

  bind();
  TrackerLive.on("media", scheduleRefresh);
  TrackerLive.on("points", (message) => onPoints(message.keys || []));
  TrackerLive.on("status", scheduleRefresh); // summary facts land at finish
  TrackerLive.onReconnect(scheduleRefresh);
  refresh();
})();
