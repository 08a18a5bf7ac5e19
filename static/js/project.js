// Project runs table: remembers the chosen columns per project (localStorage), filters
// rows as you type, and follows the page's socket: new runs appear, status badges
// change, and runs with new points get their rows refetched from rows.json (at most one
// request a second). Sorting and column choice stay server-side (query string); every
// row carries the value it is sorted by, so a fetched row goes where the server put it.
(function () {
  "use strict";

  const page = JSON.parse(document.getElementById("page-data").textContent);
  const storeKey = "tracker:columns:" + page.project;
  const params = new URLSearchParams(window.location.search);
  const REFRESH_MS = 1000; // at most one rows request per second
  const STATUS_ORDER = ["running", "finished", "failed", "crashed"]; // as the server counts

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
    save({ c: params.getAll("c"), m: params.getAll("m"), s: params.getAll("s") });
  } else {
    const saved = load();
    if (saved) {
      const next = new URLSearchParams();
      next.append("cols", "1");
      saved.c.forEach((k) => next.append("c", k));
      saved.m.forEach((k) => next.append("m", k));
      // Which figures each metric column shows (last, best, min, max): the URL's, else saved.
      (params.has("s") ? params.getAll("s") : saved.s || []).forEach((k) => next.append("s", k));
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

  let tbody = document.querySelector("#runs-table tbody");
  const filter = document.getElementById("run-filter");

  function tableRows() {
    return Array.from(tbody.querySelectorAll("tr[data-run]"));
  }
  function rowOf(id) {
    return tbody.querySelector(`tr[data-run="${Number(id)}"]`);
  }

  // --- Filter ---------------------------------------------------------------------

  function applyFilter(rows) {
    const words = filter ? filter.value.toLowerCase().split(/\s+/).filter(Boolean) : [];
    for (const row of rows || tableRows()) {
      const text = row.dataset.search || "";
      row.hidden = !words.every((w) => text.includes(w));
    }
  }
  if (filter) {
    filter.addEventListener("input", () => applyFilter());
    if (filter.value) applyFilter();
  }

  // --- Order: the rule of experiments.tables._sorted_rows -------------------------

  const descending = page.sort.startsWith("-");

  // [rank, number, text]; rank 3 is "missing". ±inf come as strings (JSON has no inf).
  function sortValue(row) {
    const v = JSON.parse(row.dataset.sort || '[3, 0, ""]');
    return [v[0], Number(v[1]), v[2]];
  }
  function compareValues(a, b) {
    for (let i = 0; i < 3; i += 1) {
      if (a[i] < b[i]) return -1;
      if (a[i] > b[i]) return 1;
    }
    return 0;
  }
  // Negative when a row valued `a` goes above one valued `b`. Missing values stay last
  // in both directions.
  function order(a, b) {
    if (!descending) return compareValues(a, b);
    const missingA = a[0] >= 3;
    const missingB = b[0] >= 3;
    if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1;
    return compareValues(b, a);
  }
  function inPlace(row) {
    const value = sortValue(row);
    const prev = row.previousElementSibling;
    const next = row.nextElementSibling;
    return (!prev || !prev.dataset.run || order(sortValue(prev), value) <= 0) &&
      (!next || !next.dataset.run || order(value, sortValue(next)) <= 0);
  }
  // Below the rows it ties with, as a stable sort would leave a row that came last.
  function place(row) {
    row.remove();
    const value = sortValue(row);
    const before = tableRows().find((other) => order(value, sortValue(other)) < 0);
    tbody.insertBefore(row, before || null);
  }

  // --- Page parts -------------------------------------------------------------------

  function updateCounts() {
    const box = document.getElementById("status-counts");
    // One page of many: the server's counts cover every page; rows on screen do not.
    if (!box || page.paged) return;
    const rows = tableRows();
    const counts = new Map();
    rows.forEach((row) => counts.set(row.dataset.status, (counts.get(row.dataset.status) || 0) + 1));
    const others = Array.from(counts.keys()).filter((s) => !STATUS_ORDER.includes(s)).sort();
    const total = document.createElement("span");
    total.className = "muted";
    total.textContent = `${rows.length} run${rows.length === 1 ? "" : "s"}`;
    const badges = [...STATUS_ORDER, ...others].filter((s) => counts.get(s)).map((status) => {
      const badge = document.createElement("span");
      badge.className = `badge badge-${status}`;
      badge.textContent = `${counts.get(status)} ${status}`;
      return badge;
    });
    box.replaceChildren(total, ...badges);
  }

  function setStatus(id, status) {
    const row = rowOf(id);
    if (!row || !status) return;
    const badge = row.querySelector(".badge");
    if (badge) {
      badge.className = `badge badge-${status}`;
      badge.textContent = status;
    }
    row.dataset.status = status;
    updateCounts();
  }

  // --- Column menu search: entries whose key contains every word typed ----------------

  const columnSearch = document.getElementById("columns-search");

  function applyColumnSearch() {
    if (!columnSearch) return;
    const words = columnSearch.value.toLowerCase().split(/\s+/).filter(Boolean);
    const form = document.getElementById("columns-form");
    let any = false;
    for (const label of form.querySelectorAll(".menu-cols label")) {
      const input = label.querySelector("input");
      const key = (input ? input.value : label.textContent).toLowerCase();
      label.hidden = !words.every((w) => key.includes(w));
      if (!label.hidden) any = true;
    }
    for (const group of form.querySelectorAll("details.menu-group")) {
      if (!("wasOpen" in group.dataset)) group.dataset.wasOpen = group.open ? "1" : "";
      const visible = Array.from(group.querySelectorAll("label")).some((l) => !l.hidden);
      group.hidden = words.length > 0 && !visible;
      // While searching every group with a match is open; cleared, each is as it was.
      group.open = words.length ? visible : group.dataset.wasOpen === "1";
      if (!words.length) delete group.dataset.wasOpen;
    }
    for (const fieldset of form.querySelectorAll(".menu-cols fieldset")) {
      fieldset.hidden = words.length > 0 && !Array.from(fieldset.querySelectorAll("label")).some((l) => !l.hidden);
    }
    const none = document.getElementById("columns-none");
    if (none) none.hidden = !words.length || any;
  }
  if (columnSearch) {
    columnSearch.addEventListener("input", applyColumnSearch);
    // Enter in the search box must not apply the menu half-chosen.
    columnSearch.addEventListener("keydown", (event) => {
      if (event.key === "Enter") event.preventDefault();
    });
  }
  if (menu && columnSearch) {
    menu.addEventListener("toggle", () => {
      if (menu.open) columnSearch.focus();
    });
  }

  // The menu group a metric key belongs to: an internal namespace, else "other" (the
  // server files a new main metric properly when it next renders the menu).
  function metricGroupOf(key) {
    for (const [group, prefixes] of page.internalGroups || []) {
      if (prefixes.some((prefix) => key.startsWith(prefix))) return group;
    }
    return "other";
  }

  const GROUP_LABELS = { other: "Other metrics", layers: "Layer statistics (watch)", lr: "Learning rates", system: "System" };

  function menuGroup(fieldset, group) {
    let details = fieldset.querySelector(`details.menu-group[data-group="${group}"]`);
    if (details) return details;
    details = document.createElement("details");
    details.className = "menu-group";
    details.dataset.group = group;
    if (group !== "other") details.dataset.internal = "1";
    else details.open = true;
    const summary = document.createElement("summary");
    const count = document.createElement("span");
    count.className = "muted small";
    count.dataset.count = "";
    summary.append((GROUP_LABELS[group] || group) + " ", count);
    details.append(summary);
    // "other" right after "main"; internal groups at the end.
    const main = fieldset.querySelector('details.menu-group[data-group="main"]');
    if (group === "other" && main) main.after(details);
    else fieldset.append(details);
    return details;
  }

  // Adds keys the column menu lacks. Returns true when the page shows the default
  // columns and they may change: the server should choose them again.
  function addKeys(kind, keys) {
    const known = kind === "c" ? page.allConfigKeys : page.allMetricKeys;
    const fresh = (keys || []).filter((k) => !known.includes(k));
    if (!fresh.length) return false;
    known.push(...fresh);
    known.sort();
    const fieldset = document.querySelector(`#columns-form fieldset[data-kind="${kind}"]`);
    if (fieldset) {
      const empty = fieldset.querySelector("p");
      if (empty) empty.remove();
      for (const key of fresh) {
        const label = document.createElement("label");
        const input = document.createElement("input");
        input.type = "checkbox";
        input.name = kind;
        input.value = key;
        label.append(input, " " + key);
        const box = kind === "m" ? menuGroup(fieldset, metricGroupOf(key)) : fieldset;
        const after = Array.from(box.querySelectorAll("label")).find((l) => l.querySelector("input").value > key);
        box.insertBefore(label, after || null);
        const count = box.querySelector("[data-count]");
        if (count) count.textContent = String(box.querySelectorAll("label").length);
      }
      applyColumnSearch();
    }
    if (page.chosen) return false;
    if (kind === "c") return page.configKeys.length < page.defaultColumns.config;
    // Default metric columns are the main metrics: a new metric of the user's may be one.
    return fresh.some((k) => metricGroupOf(k) === "other");
  }

  function rowFromHtml(html) {
    const holder = document.createElement("tbody");
    holder.innerHTML = html;
    TrackerFmt.localizeTimes(holder); // the one date format, in the reader's time zone
    return holder.firstElementChild;
  }

  function applyRows(body) {
    // Runs that no longer match the page's filter (a status changed, a metric moved).
    for (const id of body.gone || []) {
      const old = rowOf(id);
      if (old) old.remove();
    }
    for (const item of body.rows) {
      const fresh = rowFromHtml(item.html);
      if (!fresh) continue;
      const old = rowOf(item.run);
      if (old) {
        Array.from(fresh.cells).forEach((cell, i) => {
          const before = old.cells[i];
          if (before && before.textContent !== cell.textContent) cell.classList.add("updated");
        });
        old.replaceWith(fresh);
      } else {
        const placeholder = document.getElementById("no-runs");
        if (placeholder) placeholder.remove();
        fresh.classList.add("row-new");
        tbody.appendChild(fresh);
      }
      if (!inPlace(fresh)) place(fresh);
      applyFilter([fresh]);
    }
    // Both calls: each adds its keys to the menu.
    const configRoom = addKeys("c", body.config_keys);
    const metricRoom = addKeys("m", body.metric_keys);
    if (configRoom || metricRoom) requestTable();
    updateCounts();
  }

  // --- Fetching ---------------------------------------------------------------------

  async function getResponse(url, accept) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: accept } });
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || response.redirected || !type.includes(accept)) {
      throw new Error(response.redirected ? "session expired: reload the page" : `HTTP ${response.status}`);
    }
    return response;
  }

  async function fetchRows(ids) {
    const query = new URLSearchParams();
    ids.forEach((id) => query.append("run", String(id)));
    query.append("cols", "1");
    page.configKeys.forEach((k) => query.append("c", k));
    page.metricKeys.forEach((k) => query.append("m", k));
    (page.summaries || []).forEach((k) => query.append("s", k));
    query.append("sort", page.sort);
    if (page.query) query.append("q", page.query);
    const response = await getResponse(`${page.rowsUrl}?${query}`, "application/json");
    applyRows(await response.json());
  }

  // The whole table again, from the page itself: after a reconnect (events may have been
  // missed) or when default columns should be chosen again. The menu is only added to,
  // so choices being made in it survive.
  async function fetchTable() {
    const response = await getResponse(window.location.href, "text/html");
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = JSON.parse(doc.getElementById("page-data").textContent);
    const table = doc.getElementById("runs-table");
    const known = new Set(tableRows().map((row) => row.dataset.run));
    const newBody = table.tBodies[0];
    newBody.querySelectorAll("tr[data-run]").forEach((row) => {
      if (!known.has(row.dataset.run)) row.classList.add("row-new");
    });
    document.querySelector("#runs-table thead").replaceWith(table.tHead);
    tbody.replaceWith(newBody);
    tbody = newBody;
    page.configKeys = fresh.configKeys;
    page.metricKeys = fresh.metricKeys;
    page.summaries = fresh.summaries;
    const freshMenu = doc.querySelector("#columns-form .menu-cols");
    const oldMenu = document.querySelector("#columns-form .menu-cols");
    if (menu && !menu.open && freshMenu && oldMenu) {
      // Closed: the server's menu, its groups and checks as the new columns are.
      oldMenu.replaceWith(freshMenu);
      page.allConfigKeys = fresh.allConfigKeys;
      page.allMetricKeys = fresh.allMetricKeys;
      applyColumnSearch();
    } else {
      addKeys("c", fresh.allConfigKeys);
      addKeys("m", fresh.allMetricKeys);
    }
    applyFilter();
    updateCounts();
  }

  const pending = new Set(); // run ids whose rows are stale
  let wholeTable = false;
  let inflight = false;
  let timer = null;
  let lastFetch = 0;
  let failures = 0;

  function want(ids) {
    ids.forEach((id) => pending.add(Number(id)));
    schedule();
  }
  function requestTable() {
    wholeTable = true;
    schedule();
  }

  // Throttled: immediately when the last request is over a second old, else once at the
  // end of that second, however many events arrive meanwhile.
  function schedule() {
    if (timer || inflight || (!wholeTable && !pending.size)) return;
    const wait = Math.max(0, lastFetch + REFRESH_MS - Date.now());
    timer = window.setTimeout(() => {
      timer = null;
      refresh();
    }, wait);
  }

  async function refresh() {
    if (!wholeTable && !pending.size) return; // a whole-table refresh took them meanwhile
    inflight = true;
    lastFetch = Date.now();
    let ids = [];
    const whole = wholeTable;
    try {
      if (whole) {
        wholeTable = false;
        pending.clear();
        await fetchTable();
      } else {
        ids = Array.from(pending).slice(0, page.maxRowsPerRequest);
        ids.forEach((id) => pending.delete(id));
        await fetchRows(ids);
      }
      failures = 0;
    } catch (error) {
      if (whole) wholeTable = true;
      ids.forEach((id) => pending.add(id));
      failures += 1;
      // Back off: 2 s, 4 s, ... 30 s between attempts while the server says no.
      lastFetch = Date.now() + Math.min(30000, REFRESH_MS * Math.pow(2, failures)) - REFRESH_MS;
      window.console.warn("runs table update failed:", error.message);
    } finally {
      inflight = false;
      schedule();
    }
  }

  // --- Live updates ---------------------------------------------------------------

  TrackerLive.on("created", (message) => want([message.run]));
  TrackerLive.on("edited", (message) => want([message.run]));
  TrackerLive.on("deleted", (message) => {
    const row = rowOf(message.run);
    if (row) row.remove();
    updateCounts();
  });
  TrackerLive.on("runs", (message) => want(message.runs || []));
  TrackerLive.on("status", (message) => {
    setStatus(message.run, message.status);
    want([message.run]); // its duration, and its place when sorted by status
  });
  TrackerLive.onReconnect(requestTable); // runs may have come and changed while we were away
  TrackerLive.connect(page.wsPath, { indicator: "live-indicator" });
})();
