// Runs table: tick runs to compare them (one against the baseline, several side by
// side), a "vs baseline" link on every row, and a marker on the baseline's rows. Rows are
// replaced live by project.js, so every row that appears is decorated again.
(function () {
  "use strict";

  const tools = document.getElementById("compare-tools");
  const table = document.getElementById("runs-table");
  if (!tools || !table) return;
  const button = document.getElementById("compare-selected");
  const picked = new Set();
  let baseline = null;

  function compareUrl(ids) {
    const params = new URLSearchParams();
    ids.forEach((id) => params.append("s", id));
    return `${tools.dataset.compareUrl}?${params}`;
  }

  function refreshButton() {
    const ids = Array.from(picked);
    button.classList.toggle("is-disabled", ids.length === 0);
    button.setAttribute("aria-disabled", ids.length === 0 ? "true" : "false");
    if (ids.length === 0) {
      button.textContent = "Compare";
      button.title = "Tick runs to compare them";
      button.removeAttribute("href");
    } else {
      button.textContent = ids.length === 1 ? "Compare with baseline" : `Compare ${ids.length} runs`;
      button.title = ids.length === 1 ? "The ticked run against the project's baseline" : "Side by side, against the first ticked";
      button.href = compareUrl(ids);
    }
  }

  function isBaseline(row) {
    if (!baseline) return false;
    if (baseline.kind === "run") return row.dataset.run === String(baseline.run);
    const group = row.cells[2] ? row.cells[2].textContent.trim() : "";
    return group !== "" && group === baseline.group;
  }

  function decorate(row) {
    if (!row.dataset.run) return;
    const cell = row.querySelector("td.name");
    if (!cell || cell.querySelector(".pick-run")) return;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "pick-run";
    box.value = row.dataset.run;
    box.checked = picked.has(row.dataset.run);
    box.setAttribute("aria-label", "Select for comparison");
    box.style.marginRight = "8px";
    box.addEventListener("change", () => {
      if (box.checked) picked.add(box.value);
      else picked.delete(box.value);
      refreshButton();
    });
    cell.prepend(box);
    // Labels come from CSS (::after), so the cell's text stays the server's and the live
    // table does not flash the name cell as "changed" on every update.
    if (isBaseline(row)) {
      const mark = document.createElement("span");
      mark.className = "row-baseline";
      mark.title = "The project's baseline";
      cell.appendChild(mark);
    } else {
      const link = document.createElement("a");
      link.className = "row-compare";
      link.href = tools.dataset.runCompare.replace("999999999", row.dataset.run);
      link.setAttribute("aria-label", "Compare with the baseline");
      link.title = "Compare this run with the project's baseline";
      cell.appendChild(link);
    }
  }

  function decorateAll() {
    table.querySelectorAll("tbody tr[data-run]").forEach(decorate);
  }

  // Rows are replaced one by one (live updates) or with the whole body (a reload of the
  // table): watch the table, not one tbody.
  new MutationObserver((records) => {
    for (const record of records) {
      record.addedNodes.forEach((node) => {
        if (node.nodeType !== 1) return;
        if (node.matches("tr[data-run]")) decorate(node);
        else node.querySelectorAll("tr[data-run]").forEach(decorate);
      });
    }
  }).observe(table, { childList: true, subtree: true });

  async function loadBaseline() {
    try {
      const response = await fetch(tools.dataset.baselineApi, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) baseline = (await response.json()).baseline;
    } catch (e) {
      baseline = null; // the table works without the marker
    }
    const label = document.getElementById("baseline-label");
    if (label && baseline) {
      label.textContent = baseline.kind === "group" ? `group ${baseline.group}` : baseline.label;
      label.parentElement.hidden = false;
    }
    table.querySelectorAll("tbody tr[data-run] td.name").forEach((cell) => {
      cell.querySelectorAll(".pick-run, .row-baseline, .row-compare").forEach((el) => el.remove());
    });
    decorateAll();
  }

  button.addEventListener("click", (event) => {
    if (picked.size === 0) event.preventDefault();
  });
  refreshButton();
  decorateAll();
  loadBaseline();
})();
