// Sweep page: Optuna's figures (Plotly JSON from data.json) and the trials table,
// refreshed every few seconds while the sweep runs, once more when it ends.
(function () {
  "use strict";

  const page = JSON.parse(document.getElementById("page-data").textContent);
  const REFRESH_MS = 3000;
  const ACTIVE = new Set(["running", "stopping"]);
  const PLOT_CONFIG = { responsive: true, displaylogo: false };
  let status = page.status;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => c && node.appendChild(c));
    return node;
  }

  function drawFigure(card, data) {
    const box = card.querySelector(".chart");
    const previous = box.querySelector(".chart-loading, .chart-message");
    if (previous) previous.remove();
    if (data.figure) {
      card.dataset.drawn = "true";
      window.Plotly.react(box, data.figure.data, Object.assign({}, data.figure.layout, { autosize: true }), PLOT_CONFIG);
    } else {
      if (card.dataset.drawn) window.Plotly.purge(box);
      delete card.dataset.drawn;
      box.appendChild(el("div", { class: "chart-message muted", text: data.message || "Not available yet." }));
    }
  }

  function badge(state, text) {
    return el("span", { class: "badge badge-" + state, text: text || state });
  }

  function shorten(text, n) {
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }

  function row(t) {
    const exact = Object.entries(t.params).map(([k, v]) => k + "=" + v).join(" ");
    const run = t.run_url ? el("a", { href: t.run_url, text: "run " + t.run_id }) : null;
    let error = null;
    if (t.error) {
      error = el("details", {}, [
        // The exception's "Type: message" (the server's error_summary), not the traceback's head.
        el("summary", { class: "bad", title: t.error_summary, text: shorten(t.error_summary || t.error, 80) }),
        el("pre", { class: "traceback", text: t.error }),
      ]);
    }
    const stateCell = el("td", {}, [badge(t.state)]);
    if (t.note) stateCell.append(" ", el("span", { class: "muted small", text: t.note }));
    const tr = el("tr", { "data-trial": t.number === null ? "" : String(t.number) }, [
      el("td", { class: "num", text: t.number === null ? "…" : String(t.number) }),
      stateCell,
      el("td", { class: "num", text: t.value_text }),
      el("td", { class: "params", text: t.params_text, title: exact }),
      el("td", { class: "num", text: String(t.steps) }),
      el("td", { class: "num", text: t.duration_text }),
      el("td", { class: "num", text: t.peak_rss_text }),
      el("td", { class: "num", text: t.peak_gpu_text }),
      el("td", {}, [run]),
      el("td", { class: "muted small", text: t.worker + (t.worker_pid ? ":" + t.worker_pid : "") }),
      el("td", {}, [error]),
    ]);
    if (t.is_best) tr.className = "best-row";
    return tr;
  }

  function render(data) {
    status = data.status;
    const statusBadge = document.getElementById("sweep-status");
    statusBadge.className = "badge badge-" + status;
    statusBadge.textContent = status;
    statusBadge.dataset.status = status;
    Object.entries(data.progress).forEach(([state, n]) => {
      const b = document.querySelector('#progress [data-state="' + state + '"]');
      if (b) b.textContent = n + " " + state;
    });
    const best = document.getElementById("best");
    best.textContent = "";
    if (data.best) {
      best.append(Number(data.best.value).toPrecision(4) + " (trial " + data.best.number);
      if (data.best.run_id) best.append(", ", el("a", { href: "/runs/" + data.best.run_id + "/", text: "run" }));
      best.append(")");
    } else {
      best.textContent = "—";
    }
    const errorBox = document.getElementById("sweep-error");
    errorBox.hidden = !data.error;
    errorBox.textContent = data.error || "";
    const body = document.querySelector("#trials-table tbody");
    body.replaceChildren(...(data.trials.length ? data.trials.map(row) : [
      el("tr", {}, [el("td", { colspan: "11", class: "empty-row", text: "No trials yet." })]),
    ]));
    document.querySelectorAll("[data-figure]").forEach((card) => {
      const figure = data.figures[card.dataset.figure];
      if (figure) drawFigure(card, figure);
    });
    document.getElementById("refresh-note").textContent = ACTIVE.has(status)
      ? "Updating every " + REFRESH_MS / 1000 + " s while the sweep runs"
      : "";
  }

  async function refresh() {
    try {
      const response = await fetch(page.dataUrl, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      render(await response.json());
    } catch (e) {
      document.getElementById("refresh-note").textContent = "Could not refresh: " + e.message;
    }
    if (ACTIVE.has(status)) window.setTimeout(refresh, REFRESH_MS);
  }

  window.addEventListener("DOMContentLoaded", refresh);
})();
