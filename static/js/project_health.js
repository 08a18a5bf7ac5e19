// Project page: a badge per run with findings in the runs table (worst severity, count,
// titles on hover; a click opens the run's Health panel). Reads the project's findings
// API; rows that project.js replaces get their badge back; refreshed when the page's
// socket says a run's findings changed.
(function () {
  "use strict";

  const table = document.getElementById("runs-table");
  const pageData = document.getElementById("page-data");
  if (!table || !pageData) return;
  const page = JSON.parse(pageData.textContent);
  const url = `/api/v1/projects/${encodeURIComponent(page.project)}/findings`;
  const REFRESH_MS = 1000;
  let health = {}; // run id -> {counts, worst, titles}
  let timer = null;
  let lastFetch = 0;

  function badgeFor(runId) {
    const item = health[String(runId)];
    if (!item) return null;
    const count = item.counts.critical + item.counts.warning + item.counts.info;
    const badge = document.createElement("a");
    badge.className = `health-badge health-badge-${item.worst}`;
    badge.href = `/runs/${Number(runId)}/#health`;
    badge.textContent = String(count);
    badge.title = item.titles.join("\n");
    badge.setAttribute("aria-label", `${count} finding${count === 1 ? "" : "s"}: ${item.titles.join("; ")}`);
    badge.dataset.worst = item.worst;
    return badge;
  }

  function decorate(row) {
    const cell = row.querySelector("td.name");
    if (!cell) return;
    const old = cell.querySelector(".health-badge");
    const fresh = badgeFor(row.dataset.run);
    if (old && fresh && old.title === fresh.title && old.textContent === fresh.textContent) return;
    if (old) old.remove();
    if (!fresh) return;
    const name = cell.querySelector("a");
    if (name) name.after(fresh);
    else cell.append(fresh);
  }

  function decorateAll() {
    table.querySelectorAll("tbody tr[data-run]").forEach(decorate);
  }

  async function refresh() {
    lastFetch = Date.now();
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      health = (await response.json()).runs;
      decorateAll();
    } catch (error) {
      window.console.warn("run health badges:", error.message);
    }
  }

  function schedule() {
    if (timer) return;
    timer = window.setTimeout(() => {
      timer = null;
      refresh();
    }, Math.max(0, lastFetch + REFRESH_MS - Date.now()));
  }

  // project.js replaces rows (and sometimes the whole body) as runs change.
  new MutationObserver(decorateAll).observe(table, { childList: true, subtree: true });

  TrackerLive.on("findings", (message) => {
    if (message.changed !== false) schedule();
  });
  TrackerLive.onReconnect(schedule);
  refresh();
})();
