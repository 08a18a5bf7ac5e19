// Analysis page: which config keys mattered for a metric over a set of runs (a filter, a
// group, a sweep). Fetches data.json (experiments.analysis) for the form's q / metric /
// agg / importance and draws: parallel coordinates coloured by the metric, whose axis
// brushes select runs; each parameter's importance beside its Spearman correlation and
// 95% interval; a scatter of one parameter against the metric; the parameter table.
(function () {
  "use strict";

  const page = JSON.parse(document.getElementById("page-data").textContent);
  const PLOT_CONFIG = { responsive: true, displaylogo: false };
  const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 11 };
  const $ = (id) => document.getElementById(id);
  const form = $("analysis-form");
  const inputs = { q: $("analysis-q"), metric: $("analysis-metric"), agg: $("analysis-agg"), importance: $("analysis-importance") };
  const fmt = (v) => (v === null || v === undefined ? "—" : window.TrackerFmt ? TrackerFmt.number(v) : String(v));
  let data = null;
  let request = 0;

  // --- Fetching -----------------------------------------------------------------------

  function params() {
    const out = new URLSearchParams();
    Object.entries(inputs).forEach(([name, input]) => {
      if (input.value) out.set(name, input.value);
    });
    return out;
  }

  async function load() {
    const mine = ++request;
    const query = params();
    history.replaceState(null, "", `${location.pathname}?${query}`);
    $("analysis-counts").textContent = "Analysing…";
    let response;
    try {
      response = await fetch(`${page.dataUrl}?${query}`, { headers: { Accept: "application/json" } });
    } catch (error) {
      if (mine === request) showError({ error: `the server could not be reached: ${error.message}` });
      return;
    }
    const body = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
    if (mine !== request) return; // a newer request is on its way
    if (!response.ok) {
      showError(body);
      return;
    }
    showError(null);
    data = body;
    render();
  }

  function showError(error) {
    const box = $("analysis-error");
    box.hidden = !error;
    inputs.q.removeAttribute("aria-invalid");
    if (!error) return;
    $("analysis-counts").textContent = "";
    $("analysis-error-message").textContent = error.reason || error.error;
    const where = error.column ? ` at column ${error.column}` : error.field ? ` (${error.field})` : "";
    $("analysis-error-where").textContent = where;
    // The query with a caret under the column that is wrong.
    $("analysis-error-caret").textContent = error.column ? `${inputs.q.value}\n${" ".repeat(error.column - 1)}^` : "";
    if (error.field === "q") inputs.q.setAttribute("aria-invalid", "true");
  }

  // --- Drawing --------------------------------------------------------------------------

  function render() {
    const runs = data.runs;
    let counts = `${runs.analysed} run${runs.analysed === 1 ? "" : "s"} analysed`;
    if (runs.without_metric) counts += `, ${runs.without_metric} without a finite ${data.agg} ${data.metric}`;
    if (runs.truncated) counts += ` (the newest ${runs.read} of ${runs.matching}: narrow the filter)`;
    $("analysis-counts").textContent = counts;
    const note = $("analysis-note");
    const info = data.importance;
    note.hidden = !info.note && !info.sampled;
    note.textContent = info.note ? `Importance: ${info.note}.` : info.sampled ? `Importance estimated on a sample of ${info.runs} runs; correlations use all.` : "";
    fillMetrics();
    fillScatterChoices();
    drawParcoords();
    drawImportance();
    drawScatter();
    fillTable();
  }

  function fillMetrics() {
    const select = inputs.metric;
    select.replaceChildren(
      ...data.metrics.map((key) => new Option(key, key, key === data.metric, key === data.metric))
    );
  }

  function varying() {
    return data.params.filter((p) => p.distinct >= 2 && (p.kind === "numeric" || p.distinct <= 30));
  }

  function decadeTicks(low, high) {
    const vals = [];
    for (let e = Math.floor(Math.log10(low)); e <= Math.ceil(Math.log10(high)); e++) vals.push(e);
    return { tickvals: vals, ticktext: vals.map((e) => `1e${e}`) };
  }

  // One parcoords axis per parameter every analysed run sets (most important first),
  // then the metric.
  function dimensions() {
    const n = data.rows.id.length;
    const dims = [];
    varying()
      .filter((p) => p.present === n)
      .slice(0, 12)
      .forEach((p) => {
        const values = data.rows.values[p.key];
        if (p.kind === "categorical") {
          const index = new Map(p.choices.map((c, i) => [c, i]));
          dims.push({ label: p.key, values: values.map((v) => index.get(v)), tickvals: p.choices.map((c, i) => i), ticktext: p.choices, meta: p.key });
        } else if (p.log) {
          dims.push(Object.assign({ label: `${p.key} (log)`, values: values.map(Math.log10), meta: p.key }, decadeTicks(p.low, p.high)));
        } else {
          dims.push({ label: p.key, values, meta: p.key });
        }
      });
    dims.push({ label: `${data.metric} (${data.agg})`, values: data.rows.metric, meta: "__metric__" });
    return dims;
  }

  function drawParcoords() {
    const el = $("parcoords-chart");
    if (!data.rows.id.length) {
      Plotly.purge(el);
      el.textContent = "No run here has a value of this metric.";
      $("brush-summary").textContent = "";
      return;
    }
    el.textContent = "";
    const trace = {
      type: "parcoords",
      dimensions: dimensions(),
      line: {
        color: data.rows.metric,
        colorscale: "Viridis",
        reversescale: data.direction === "min", // the better runs bright either way
        showscale: true,
        colorbar: { title: { text: data.metric, side: "right" }, thickness: 12 },
      },
      labelfont: FONT,
      tickfont: FONT,
      meta: { kind: "parcoords" },
    };
    const layout = { margin: { l: 70, r: 70, t: 50, b: 24 }, font: FONT, height: 420 };
    Plotly.react(el, [trace], layout, PLOT_CONFIG).then(() => {
      if (!el._brushing) {
        el.on("plotly_restyle", summariseBrush);
        el._brushing = true;
      }
      summariseBrush();
    });
  }

  // The runs inside every axis's brushed range(s), best first.
  function brushed() {
    const el = $("parcoords-chart");
    const dims = el.data[0].dimensions;
    const inRange = (v, range) => {
      if (!range) return true;
      const ranges = Array.isArray(range[0]) ? range : [range];
      return ranges.some(([lo, hi]) => v >= lo && v <= hi);
    };
    const picked = [];
    for (let i = 0; i < data.rows.id.length; i++) {
      if (dims.every((d) => inRange(d.values[i], d.constraintrange))) picked.push(i);
    }
    const sign = data.direction === "min" ? 1 : -1;
    return picked.sort((a, b) => sign * (data.rows.metric[a] - data.rows.metric[b]));
  }

  function summariseBrush() {
    const box = $("brush-summary");
    const picked = brushed();
    const total = data.rows.id.length;
    box.replaceChildren();
    const head = document.createElement("span");
    head.id = "brush-count";
    head.dataset.selected = String(picked.length);
    head.textContent = picked.length === total ? `All ${total} runs; drag along an axis to select some.` : `${picked.length} of ${total} runs selected; best:`;
    box.append(head);
    if (picked.length === total) return;
    picked.slice(0, 8).forEach((i) => {
      const link = document.createElement("a");
      link.href = page.runUrl.replace("/0/", `/${data.rows.id[i]}/`);
      link.textContent = `${data.rows.name[i]} (${fmt(data.rows.metric[i])})`;
      box.append(" ", link);
    });
  }

  function drawImportance() {
    const el = $("importance-chart");
    const ranked = data.params.filter((p) => p.importance !== null);
    const shown = ranked.length ? ranked : data.params.filter((p) => p.spearman);
    $("importance-caption").textContent = ranked.length
      ? `${data.importance.evaluator === "fanova" ? "fANOVA" : "random forest (MDI)"} over ${data.importance.runs} runs; Spearman ρ with 95% CI`
      : data.importance.note || "";
    const keys = shown.map((p) => p.key).reverse(); // the most important at the top
    const byKey = new Map(shown.map((p) => [p.key, p]));
    const corr = keys.map((k) => byKey.get(k).spearman);
    const traces = [
      {
        type: "bar",
        orientation: "h",
        y: keys,
        x: keys.map((k) => byKey.get(k).importance || 0),
        marker: { color: "#4f46e5" },
        hovertemplate: "%{y}: %{x:.1%}<extra>importance</extra>",
        name: "importance",
        meta: { kind: "importance" },
      },
      {
        type: "scatter",
        mode: "markers",
        y: keys,
        x: corr.map((c) => (c ? c.r : null)),
        error_x: {
          type: "data",
          symmetric: false,
          array: corr.map((c) => (c ? c.high - c.r : null)),
          arrayminus: corr.map((c) => (c ? c.r - c.low : null)),
          color: "#ea580c",
          thickness: 1.5,
        },
        marker: { color: "#ea580c", size: 8 },
        xaxis: "x2",
        hovertemplate: "%{y}: ρ = %{x:.3f}<extra>Spearman</extra>",
        name: "Spearman ρ",
        meta: { kind: "correlation" },
      },
    ];
    const layout = {
      font: FONT,
      height: Math.max(260, 60 + 26 * keys.length),
      margin: { l: 120, r: 16, t: 30, b: 36 },
      showlegend: false,
      xaxis: { domain: [0, 0.52], range: [0, 1], tickformat: ".0%", title: { text: "importance" } },
      xaxis2: { domain: [0.6, 1], range: [-1.05, 1.05], zeroline: true, title: { text: "Spearman ρ (95% CI)" } },
      yaxis: { automargin: true },
    };
    Plotly.react(el, traces, layout, PLOT_CONFIG);
  }

  function fillScatterChoices() {
    const select = $("scatter-param");
    const current = select.value;
    const choices = varying().map((p) => p.key);
    const chosen = choices.includes(current) ? current : choices[0];
    select.replaceChildren(...choices.map((k) => new Option(k, k, k === chosen, k === chosen)));
  }

  function drawScatter() {
    const el = $("scatter-chart");
    const key = $("scatter-param").value;
    const param = data.params.find((p) => p.key === key);
    if (!param) {
      Plotly.purge(el);
      return;
    }
    const xs = data.rows.values[key];
    const trace = {
      type: "scatter",
      mode: "markers",
      x: xs,
      y: data.rows.metric,
      text: data.rows.name,
      customdata: data.rows.id,
      marker: { color: data.rows.metric, colorscale: "Viridis", reversescale: data.direction === "min", size: 7, opacity: 0.85 },
      hovertemplate: `%{text}<br>${key} = %{x}<br>${data.metric} = %{y}<extra></extra>`,
      meta: { kind: "scatter", key },
    };
    const layout = {
      font: FONT,
      height: 340,
      margin: { l: 60, r: 16, t: 16, b: 44 },
      xaxis: { title: { text: key }, type: param.kind === "categorical" ? "category" : param.log ? "log" : "linear" },
      yaxis: { title: { text: `${data.metric} (${data.agg})` } },
    };
    Plotly.react(el, [trace], layout, PLOT_CONFIG).then(() => {
      if (!el._clicks) {
        el.on("plotly_click", (event) => {
          const id = event.points && event.points[0] && event.points[0].customdata;
          if (id) location.href = page.runUrl.replace("/0/", `/${id}/`);
        });
        el._clicks = true;
      }
    });
  }

  function interval(c) {
    return c ? `${c.r.toFixed(3)} [${c.low.toFixed(2)}, ${c.high.toFixed(2)}]` : "—";
  }

  function fillTable() {
    const body = $("params-table").tBodies[0];
    body.replaceChildren(
      ...data.params.map((p) => {
        const row = document.createElement("tr");
        row.dataset.key = p.key;
        const kind = p.kind === "categorical" ? "categorical" : `${p.integer ? "integer" : "number"}${p.log ? ", log" : ""}`;
        const values = p.kind === "categorical" ? p.choices.slice(0, 6).join(", ") + (p.choices.length > 6 ? ", …" : "") : `${fmt(p.low)} – ${fmt(p.high)}`;
        const cells = [
          [p.key, "mono"],
          [kind, ""],
          [String(p.present), "num"],
          [values, "values"],
          [p.importance === null ? "—" : `${(100 * p.importance).toFixed(1)}%`, "num"],
          [interval(p.spearman), "num"],
          [interval(p.pearson), "num"],
          [p.note, "muted small"],
        ];
        cells.forEach(([text, cls]) => {
          const cell = document.createElement("td");
          cell.textContent = text;
          if (cls) cell.className = cls;
          row.append(cell);
        });
        return row;
      })
    );
  }

  // --- Wiring -----------------------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  [inputs.metric, inputs.agg, inputs.importance].forEach((input) => input.addEventListener("change", load));
  $("scatter-param").addEventListener("change", () => data && drawScatter());
  load();
})();
