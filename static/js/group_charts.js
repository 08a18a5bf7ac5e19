// The runs table grouped by a key: a chart per metric column with one line per group
// (the mean of its runs, step by step) and a band around it (standard deviation,
// standard error or min–max, chosen above the charts), and each run's own curve when
// "Show runs" is ticked. Data: GET groups.json?group_by=…&key=…(&q=…), one per chart.
(function () {
  "use strict";

  const root = document.getElementById("group-charts");
  const dataEl = document.getElementById("page-data");
  if (!root || !dataEl || !window.Plotly) return;
  const page = JSON.parse(dataEl.textContent);
  const bandSelect = document.getElementById("group-band");
  const membersBox = document.getElementById("group-members");
  const grid = root.querySelector(".group-chart-grid");
  const palette = ["#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5",
    "#9c6b4e", "#9498a0", "#1f77b4", "#d62728"];
  const charts = [];

  function rgba(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  function bandOf(group, kind) {
    if (kind === "minmax") return group.min && group.max ? [group.min, group.max] : null;
    const spread = kind === "sem" ? group.sem : group.std;
    if (!spread) return null;
    return [
      group.mean.map((m, i) => (m === null || spread[i] === null ? null : m - spread[i])),
      group.mean.map((m, i) => (m === null || spread[i] === null ? null : m + spread[i])),
    ];
  }

  function traces(data) {
    const kind = bandSelect.value;
    const out = [];
    data.groups.forEach((group, index) => {
      const colour = palette[index % palette.length];
      if (!group.step.length) return; // none of its runs logged this metric
      const band = kind === "none" ? null : bandOf(group, kind);
      if (band) {
        out.push({ x: group.step, y: band[0], mode: "lines", line: { width: 0 }, hoverinfo: "skip",
          showlegend: false, meta: { kind: "band-low", group: group.label } });
        out.push({ x: group.step, y: band[1], mode: "lines", line: { width: 0 }, fill: "tonexty",
          fillcolor: rgba(colour, 0.18), hoverinfo: "skip", showlegend: false,
          meta: { kind: "band-high", group: group.label } });
      }
      if (membersBox.checked) {
        group.members.forEach((member) => {
          out.push({ x: member.step, y: member.value, mode: "lines", line: { color: rgba(colour, 0.35), width: 1 },
            name: member.name, showlegend: false, meta: { kind: "member", group: group.label, run: member.id },
            hovertemplate: `${member.name}<br>step %{x}: %{y:.4g}<extra></extra>` });
        });
      }
      const runs = group.with_metric === group.runs ? `${group.runs}` : `${group.with_metric} of ${group.runs}`;
      out.push({ x: group.step, y: group.mean, mode: "lines", line: { color: colour, width: 2 },
        name: `${group.label} (${runs} runs)`, meta: { kind: "mean", group: group.label },
        customdata: group.n, hovertemplate: `${group.label}: %{y:.4g} (n=%{customdata})<extra>step %{x}</extra>` });
    });
    return out;
  }

  function draw(chart) {
    if (!chart.data) return;
    const loading = chart.el.querySelector(".chart-loading");
    if (loading) loading.remove();
    // The legend sits under the axis title, at the container's foot; the chart grows by
    // its rows so that the plot keeps its height however many groups there are.
    const perRow = Math.max(1, Math.floor((chart.el.clientWidth || 560) / 170));
    const rows = Math.ceil(chart.data.groups.length / perRow);
    const layout = {
      margin: { l: 50, r: 12, t: 8, b: 44 + 20 * rows }, height: 240 + 20 * rows, hovermode: "closest",
      xaxis: { title: { text: "step" } },
      legend: { orientation: "h", yref: "container", y: 0, yanchor: "bottom" },
    };
    chart.el.style.height = `${layout.height}px`;
    window.Plotly.react(chart.el, traces(chart.data), layout, { responsive: true });
    const read = Math.max(0, ...chart.data.groups.map((g) => g.read));
    chart.note.textContent = chart.data.groups.some((g) => g.read < g.runs)
      ? `Each group's curve is read from its newest ${read} runs.` : "";
  }

  async function load(chart) {
    const params = new URLSearchParams({ group_by: page.groupBy, key: chart.key });
    if (page.query) params.set("q", page.query);
    if (page.archived) params.set("archived", "1");
    try {
      const response = await fetch(`${page.groupCurvesUrl}?${params}`, { credentials: "same-origin" });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
      chart.data = body;
      draw(chart);
    } catch (error) {
      chart.el.textContent = `Could not load: ${error.message || error}`;
    }
  }

  (page.metricKeys || []).slice(0, 8).forEach((key) => {
    const figure = document.createElement("figure");
    figure.className = "card chart-card";
    figure.dataset.groupChart = key;
    figure.innerHTML = '<figcaption><span class="chart-title"></span> <span class="chart-note muted small"></span></figcaption>' +
      '<div class="chart"><div class="chart-loading muted">Loading…</div></div>';
    figure.querySelector(".chart-title").textContent = key;
    grid.appendChild(figure);
    const chart = { key: key, el: figure.querySelector(".chart"), note: figure.querySelector(".chart-note"), data: null };
    charts.push(chart);
    load(chart);
  });
  bandSelect.addEventListener("change", () => charts.forEach(draw));
  membersBox.addEventListener("change", () => charts.forEach(draw));
})();
