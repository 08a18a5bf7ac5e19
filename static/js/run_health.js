// Run page, Health panel (templates/runs/_health.html): the analyzers' findings from the
// findings API, most pressing first, with "what to try next"; each finding's steps shaded
// on the charts of its metrics (run.js draws them and tags each trace with its metric's
// key; shapes are put back after each redraw); refreshed when the page's socket says
// "findings"; dismiss / restore per finding.
(function () {
  "use strict";

  const panel = document.getElementById("health");
  if (!panel) return;
  const findingsUrl = panel.dataset.findingsUrl;
  const dismissUrl = (id) => panel.dataset.dismissUrl.replace("999999999", String(id));
  const csrfInput = panel.querySelector("input[name=csrfmiddlewaretoken]");
  const SEVERITY_LABEL = { critical: "Critical", warning: "Warning", info: "Note" };
  const SEVERITY_COLOR = { critical: "#dc2626", warning: "#d97706", info: "#2563eb" };
  const SHAPE_PREFIX = "health:";
  const REFRESH_MS = 1000;

  const state = {
    health: null, showDismissed: false, lastFetch: 0, timer: null, inflight: false,
    open: new Set(), closed: new Set(), // findings the user opened or closed
  };

  // --- Formatting -------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  const number = TrackerFmt.number;

  // Evidence names carry their unit: *_pct, *_bytes, *_step(s).
  function evidenceItem(name, value) {
    let label = name;
    let text;
    if (Array.isArray(value)) {
      text = value.map((v) => (typeof v === "number" ? number(v) : String(v))).join(", ");
    } else if (name.endsWith("_pct") && typeof value === "number") {
      label = name.slice(0, -4);
      text = `${number(value)}%`;
    } else if (name.endsWith("_bytes") && typeof value === "number") {
      label = name.slice(0, -6);
      text = `${(value / 2 ** 30).toFixed(1)} GiB`;
    } else {
      text = typeof value === "number" ? number(value) : String(value);
    }
    return { label: label.replace(/_/g, " "), text: text };
  }

  // Code in a remedy (calls, NAME=value settings) set in monospace: the parts to copy.
  const CODE = /(\b[A-Za-z_][\w.]*\((?:[^()]|\([^()]*\))*\)|\b[A-Z][A-Z_]+=[^\s,;]+)/g;
  function withCode(text) {
    const node = document.createDocumentFragment();
    let at = 0;
    for (const match of text.matchAll(CODE)) {
      if (match.index > at) node.append(text.slice(at, match.index));
      node.append(el("code", null, match[0]));
      at = match.index + match[0].length;
    }
    node.append(text.slice(at));
    return node;
  }

  function steps(finding) {
    const a = finding.step_start;
    const b = finding.step_end;
    if (a === null || a === undefined) return "";
    return a === b || b === null || b === undefined ? `step ${number(a)}` : `steps ${number(a)}–${number(b)}`;
  }

  // --- Rendering --------------------------------------------------------------------

  function renderVerdict(health) {
    const verdict = document.getElementById("health-verdict");
    const counts = health.counts;
    let text;
    let stateName;
    if (!health.diagnosed_at) {
      text = "Not checked yet";
      stateName = "pending";
    } else if (!health.total) {
      text = "No problems found";
      stateName = "ok";
    } else {
      const parts = [];
      if (counts.critical) parts.push(`${counts.critical} critical`);
      if (counts.warning) parts.push(`${counts.warning} warning${counts.warning === 1 ? "" : "s"}`);
      if (counts.info) parts.push(`${counts.info} note${counts.info === 1 ? "" : "s"}`);
      text = parts.join(" · ");
      stateName = counts.critical ? "critical" : counts.warning ? "warning" : "info";
    }
    verdict.textContent = text;
    verdict.dataset.state = stateName;
    const checked = document.getElementById("health-checked");
    checked.textContent = health.diagnosed_at
      ? `checked ${health.diagnosed_step !== null ? `at step ${number(health.diagnosed_step)}, ` : ""}` +
        `${TrackerFmt.ago(health.diagnosed_at)}${health.status === "running" ? " · re-checked as points arrive" : ""}`
      : health.status === "running" ? "the analyzers run as points arrive" : "";
    checked.dataset.at = health.diagnosed_at || "";
  }

  function renderNext(health) {
    const box = document.getElementById("health-next");
    const list = document.getElementById("health-next-list");
    list.replaceChildren(
      ...health.next.map((item) => {
        const li = el("li", `next-${item.severity}`);
        const action = el("a", "next-action");
        action.append(withCode(item.action));
        action.href = `#finding-${item.finding}`;
        action.addEventListener("click", () => {
          state.open.add(item.finding);
          state.closed.delete(item.finding);
          render();
        });
        li.append(action, el("span", "next-why muted", item.title));
        return li;
      })
    );
    box.hidden = !health.next.length;
  }

  // A consequence (caused_by set) folds under its root cause: closed until asked, and
  // headed by what explains it.
  function renderFinding(finding, index) {
    const folded = Boolean(finding.caused_by);
    const card = el("article", `finding finding-${finding.severity}${folded ? " is-consequence" : ""}`);
    // The most pressing findings open; the rest (and notes) as one line until asked.
    const open = state.open.has(finding.id) ||
      (!state.closed.has(finding.id) && !folded && index < 2 && finding.severity !== "info");
    card.classList.toggle("is-collapsed", !open);
    card.id = `finding-${finding.id}`;
    card.dataset.kind = finding.kind;
    card.dataset.id = String(finding.id);
    if (finding.dismissed) card.classList.add("is-dismissed");

    const head = el("header", "finding-head");
    head.append(el("span", `sev sev-${finding.severity}`, SEVERITY_LABEL[finding.severity] || finding.severity));
    head.append(el("h3", "finding-title", finding.title));
    const range = steps(finding);
    if (range) head.append(el("span", "finding-steps", range));
    const button = el("button", "btn btn-small btn-quiet finding-dismiss", finding.dismissed ? "Restore" : "Dismiss");
    button.type = "button";
    button.title = finding.dismissed ? "Show this finding again" : "Not a problem for this run: hide it, also on later checks";
    button.addEventListener("click", () => dismiss(finding, !finding.dismissed, button));
    const more = el("button", "btn btn-small btn-quiet finding-more", open ? "Collapse" : "Details");
    more.type = "button";
    more.setAttribute("aria-expanded", String(open));
    more.addEventListener("click", () => {
      const opening = card.classList.contains("is-collapsed");
      card.classList.toggle("is-collapsed", !opening);
      more.textContent = opening ? "Collapse" : "Details";
      more.setAttribute("aria-expanded", String(opening));
      (opening ? state.open : state.closed).add(finding.id);
      (opening ? state.closed : state.open).delete(finding.id);
    });
    head.append(more, button);
    card.append(head);
    if (folded) {
      const cause = finding.caused_by;
      const line = el("p", "finding-cause small", "Explained by ");
      const link = el("a", null, cause.title);
      link.href = `#finding-${cause.id}`;
      line.append(link, cause.why ? `: ${cause.why}.` : ".");
      card.append(line);
    }

    const body = el("div", "finding-body");
    const left = el("div", "finding-main");
    left.append(el("p", "finding-summary", finding.summary));
    const evidence = Object.entries(finding.evidence || {}).filter(([, v]) => v !== null && v !== "" && !(Array.isArray(v) && !v.length));
    if (evidence.length) {
      const dl = el("dl", "evidence");
      for (const [name, value] of evidence) {
        const item = evidenceItem(name, value);
        const div = el("div");
        div.append(el("dt", null, item.label), el("dd", null, item.text));
        dl.append(div);
      }
      left.append(dl);
    }
    const why = el("details", "finding-why");
    why.append(el("summary", null, "Why this reading"), el("p", null, finding.explanation));
    left.append(why);
    if (finding.dismissed && finding.dismissed_by) {
      const note = finding.dismiss_note ? `: “${finding.dismiss_note}”` : "";
      left.append(el("p", "muted small", `Dismissed by ${finding.dismissed_by}${note}`));
    }
    const right = el("div", "finding-remedies");
    right.append(el("h4", null, "What to try"));
    const remedies = el("ol");
    finding.remedies.forEach((text) => {
      const li = el("li");
      li.append(withCode(text));
      remedies.append(li);
    });
    right.append(remedies);
    body.append(left, right);
    card.append(body);
    return card;
  }

  function render() {
    const health = state.health;
    if (!health) return;
    renderVerdict(health);
    renderNext(health);
    const control = document.getElementById("health-dismissed-control");
    control.hidden = !health.dismissed;
    document.getElementById("health-dismissed-count").textContent = String(health.dismissed);
    const shown = health.findings.filter((f) => state.showDismissed || !f.dismissed);
    const list = document.getElementById("health-findings");
    // Root causes (and findings on their own) as cards; the findings a root explains
    // folded inside its card, under "Also explained by this". The API sends each root
    // before what it explains.
    const cards = [];
    const byId = new Map();
    for (const finding of shown) {
      const root = finding.caused_by ? byId.get(finding.caused_by.root) : null;
      if (root) {
        let box = root.querySelector(":scope > .finding-consequences");
        if (!box) {
          box = el("div", "finding-consequences");
          box.append(el("h4", null, "Also explained by this"));
          root.append(box);
        }
        box.append(renderFinding(finding, cards.length));
        continue;
      }
      const card = renderFinding(finding, cards.length);
      byId.set(finding.id, card);
      cards.push(card);
    }
    list.replaceChildren(...cards);
    const errors = document.getElementById("health-errors");
    const failed = Object.keys(health.analyzer_errors || {});
    errors.hidden = !failed.length;
    errors.textContent = failed.length ? `Could not run: ${failed.join(", ")} (their earlier findings are kept).` : "";
    markCharts();
  }

  // --- Chart marks ------------------------------------------------------------------

  // The run's metric charts that Plotly has drawn (run.js draws them).
  function chartsOnPage() {
    return Array.from(document.querySelectorAll("#charts .chart-card[data-chart] .chart")).filter((el) => el.data);
  }

  // The metrics a chart shows: run.js tags each of its traces with its metric's key.
  function chartKeys(node) {
    return node.data.map((trace) => trace.meta && trace.meta.key).filter(Boolean);
  }

  // Steps mean nothing on a time axis: no marks there.
  function onStepAxis() {
    const xAxis = document.getElementById("x-axis");
    return !xAxis || xAxis.value === "step";
  }

  function shapesFor(node) {
    if (!state.health || !onStepAxis()) return [];
    const keys = chartKeys(node);
    const shapes = [];
    const annotations = [];
    for (const finding of state.health.findings) {
      if (finding.dismissed || finding.step_start === null || finding.step_start === undefined) continue;
      if (!finding.keys.some((key) => keys.includes(key))) continue;
      const color = SEVERITY_COLOR[finding.severity] || "#6b7482";
      const name = `${SHAPE_PREFIX}${finding.id}`;
      const end = finding.step_end === null || finding.step_end === undefined ? finding.step_start : finding.step_end;
      if (end > finding.step_start) {
        shapes.push({
          type: "rect", name: name, xref: "x", yref: "paper", x0: finding.step_start, x1: end, y0: 0, y1: 1,
          fillcolor: color, opacity: 0.07, line: { width: 0 }, layer: "below",
        });
      }
      shapes.push({
        type: "line", name: name, xref: "x", yref: "paper", x0: finding.step_start, x1: finding.step_start,
        y0: 0, y1: 1, line: { color: color, width: 1, dash: "dot" }, layer: "below",
      });
      for (const mark of finding.marks || []) {
        shapes.push({
          type: "line", name: name, xref: "x", yref: "paper", x0: mark.step, x1: mark.step, y0: 0, y1: 1,
          line: { color: color, width: 1.5, dash: "dash" },
        });
      }
      annotations.push({
        name: name, xref: "x", yref: "paper", x: finding.step_start, y: 1, xanchor: "left", yanchor: "top",
        text: finding.kind.replace(/_/g, " "), showarrow: false, font: { size: 10, color: color },
        bgcolor: "rgba(255,255,255,0.8)", captureevents: false,
      });
    }
    return { shapes: shapes, annotations: annotations };
  }

  function signature(items) {
    return JSON.stringify(items.map((s) => [s.name, s.type, s.x0, s.x1, s.x, s.text]));
  }

  function markChart(node) {
    if (!node || !node._fullLayout || !window.Plotly) return;
    if (!node.__healthBound && node.on) {
      node.__healthBound = true;
      node.on("plotly_afterplot", () => window.requestAnimationFrame(() => markChart(node)));
    }
    const wanted = shapesFor(node);
    const wantedShapes = wanted.shapes || [];
    const wantedNotes = wanted.annotations || [];
    const layout = node.layout || {};
    const ours = (item) => typeof item.name === "string" && item.name.startsWith(SHAPE_PREFIX);
    const haveShapes = (layout.shapes || []).filter(ours);
    const haveNotes = (layout.annotations || []).filter(ours);
    if (signature(haveShapes) === signature(wantedShapes) && signature(haveNotes) === signature(wantedNotes)) return;
    const others = (layout.shapes || []).filter((s) => !ours(s));
    const otherNotes = (layout.annotations || []).filter((a) => !ours(a));
    window.Plotly.relayout(node, {
      shapes: [...others, ...wantedShapes],
      annotations: [...otherNotes, ...wantedNotes],
    });
  }

  let markFrame = 0;
  function markCharts() {
    window.cancelAnimationFrame(markFrame);
    markFrame = window.requestAnimationFrame(() => chartsOnPage().forEach(markChart));
  }

  // --- Fetching and actions -------------------------------------------------------------

  async function fetchHealth() {
    if (state.inflight) {
      state.again = true;
      return;
    }
    state.inflight = true;
    state.lastFetch = Date.now();
    try {
      const response = await fetch(findingsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const type = response.headers.get("Content-Type") || "";
      if (!response.ok || !type.includes("application/json")) throw new Error(`HTTP ${response.status}`);
      state.health = await response.json();
      render();
    } catch (error) {
      const verdict = document.getElementById("health-verdict");
      verdict.textContent = `Could not load the findings (${error.message})`;
      verdict.dataset.state = "error";
    } finally {
      state.inflight = false;
      if (state.again) {
        state.again = false;
        schedule();
      }
    }
  }

  function schedule() {
    if (state.timer) return;
    const wait = Math.max(0, state.lastFetch + REFRESH_MS - Date.now());
    state.timer = window.setTimeout(() => {
      state.timer = null;
      fetchHealth();
    }, wait);
  }

  async function dismiss(finding, dismissed, button) {
    button.disabled = true;
    try {
      const response = await fetch(dismissUrl(finding.id), {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": csrfInput ? csrfInput.value : "",
        },
        body: JSON.stringify({ dismissed: dismissed }),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      await fetchHealth();
    } catch (error) {
      button.disabled = false;
      button.textContent = `Failed (${error.message})`;
    }
  }

  function start() {
    const toggle = document.getElementById("health-show-dismissed");
    toggle.addEventListener("change", () => {
      state.showDismissed = toggle.checked;
      render();
    });
    // Charts appear lazily (scrolled into view, or live for new metrics): mark them as
    // Plotly first draws them; later redraws are caught by plotly_afterplot.
    const grid = document.getElementById("charts");
    if (grid && "MutationObserver" in window) {
      new MutationObserver(markCharts).observe(grid, { childList: true, subtree: true });
    }
    const xAxis = document.getElementById("x-axis");
    if (xAxis) xAxis.addEventListener("change", markCharts);
    window.setInterval(() => {
      if (state.health) renderVerdict(state.health);
    }, 15000);
    TrackerLive.on("findings", schedule);
    TrackerLive.on("status", (message) => {
      if (!state.health) return;
      state.health.status = message.status;
      renderVerdict(state.health);
    });
    TrackerLive.onReconnect(schedule); // findings may have changed while we were away
    fetchHealth();
  }

  start();
})();
