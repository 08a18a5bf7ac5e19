// Runs table: actions on the runs ticked for comparison (compare_select.js adds the
// boxes): add or remove a tag, archive or restore, delete (admins). One request for all of them
// (POST /api/v1/runs/bulk); the table follows through its live events ("edited",
// "deleted"), and this script also removes deleted rows at once.
(function () {
  "use strict";

  const bar = document.getElementById("bulk-bar");
  const table = document.getElementById("runs-table");
  if (!bar || !table) return;
  const count = document.getElementById("bulk-count");
  const message = document.getElementById("bulk-message");
  const tagInput = document.getElementById("bulk-tag");
  const csrf = bar.querySelector("input[name=csrfmiddlewaretoken]");

  function ticked() {
    return Array.from(table.querySelectorAll("input.pick-run:checked")).map((box) => Number(box.value));
  }

  function refresh() {
    const ids = ticked();
    bar.hidden = ids.length === 0;
    count.textContent = `${ids.length} run${ids.length === 1 ? "" : "s"} ticked`;
  }

  async function send(action, extra) {
    const ids = ticked();
    if (!ids.length) return;
    message.textContent = "…";
    try {
      const response = await fetch(bar.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": csrf ? csrf.value : "",
        },
        body: JSON.stringify({ action: action, runs: ids, ...extra }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
      if (action === "delete") {
        (body.deleted || []).forEach((id) => {
          const row = table.querySelector(`tbody tr[data-run="${Number(id)}"]`);
          if (row) row.remove();
        });
        message.textContent = `Deleted ${(body.deleted || []).length} run(s).`;
      } else if (action === "archive" || action === "restore") {
        // They leave this list (archived runs are listed apart).
        (body.changed || []).forEach((id) => {
          const row = table.querySelector(`tbody tr[data-run="${Number(id)}"]`);
          if (row) row.remove();
        });
        const verb = action === "archive" ? "Archived" : "Restored";
        message.textContent = `${verb} ${(body.changed || []).length} run(s).`;
      } else {
        message.textContent = `Changed ${(body.changed || []).length} run(s).`;
      }
      refresh();
    } catch (error) {
      message.textContent = String(error.message || error);
    }
  }

  function tag(action) {
    const value = tagInput.value.trim();
    if (!value) {
      message.textContent = "Type a tag first.";
      tagInput.focus();
      return;
    }
    send(action, { tag: value });
  }

  document.getElementById("bulk-add-tag").addEventListener("click", () => tag("tag"));
  document.getElementById("bulk-remove-tag").addEventListener("click", () => tag("untag"));
  ["archive", "restore"].forEach((action) => {
    const button = document.getElementById(`bulk-${action}`);
    if (button) button.addEventListener("click", () => send(action, {}));
  });
  const remove = document.getElementById("bulk-delete");
  if (remove) {
    remove.addEventListener("click", () => {
      const n = ticked().length;
      if (window.confirm(`Delete ${n} run${n === 1 ? "" : "s"} with all their points, media and checkpoints?`)) {
        send("delete", {});
      }
    });
  }
  table.addEventListener("change", (event) => {
    if (event.target.classList && event.target.classList.contains("pick-run")) refresh();
  });
  new MutationObserver(refresh).observe(table, { childList: true, subtree: true });
  refresh();
})();
