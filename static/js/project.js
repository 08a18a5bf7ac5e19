// Project runs table: remembers the chosen columns per project (localStorage) and
// filters rows as you type. Sorting and column choice are server-side (query string).
(function () {
  "use strict";

  const page = JSON.parse(document.getElementById("page-data").textContent);
  const storeKey = "tracker:columns:" + page.project;
  const params = new URLSearchParams(window.location.search);

  function load() {
    try {
      return JSON.parse(window.localStorage.getItem(storeKey) || "null");
    } catch (e) {
      return null;
    }
  }
  function save(value) {
    try {
      if (value === null) window.localStorage.removeItem(storeKey);
      else window.localStorage.setItem(storeKey, JSON.stringify(value));
    } catch (e) {
      // Storage disabled: the choice still lives in the URL.
    }
  }

  if (params.has("cols")) {
    save({ c: params.getAll("c"), m: params.getAll("m") });
  } else {
    const saved = load();
    if (saved) {
      const next = new URLSearchParams();
      next.append("cols", "1");
      saved.c.forEach((k) => next.append("c", k));
      saved.m.forEach((k) => next.append("m", k));
      if (params.has("sort")) next.append("sort", params.get("sort"));
      window.location.replace("?" + next.toString());
      return;
    }
  }

  const reset = document.getElementById("columns-reset");
  if (reset) reset.addEventListener("click", () => save(null));

  const menu = document.getElementById("columns-menu");
  document.addEventListener("click", (event) => {
    if (menu && menu.open && !menu.contains(event.target)) menu.open = false;
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu) menu.open = false;
  });

  const filter = document.getElementById("run-filter");
  const rows = Array.from(document.querySelectorAll("#runs-table tbody tr[data-search]"));
  function applyFilter() {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const row of rows) {
      const text = row.dataset.search;
      row.hidden = !words.every((w) => text.includes(w));
    }
  }
  if (filter) {
    filter.addEventListener("input", applyFilter);
    if (filter.value) applyFilter();
  }
})();
