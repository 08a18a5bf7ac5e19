// The run page's Edit panel (members): name, tags and Markdown notes through
// PATCH /api/v1/runs/<id>; Archive / Restore; Delete (admins), which returns to the
// project. The API names the field it refuses; the message says so and the form keeps
// what was typed.
(function () {
  "use strict";

  const panel = document.getElementById("run-edit");
  if (!panel) return;
  const form = document.getElementById("run-edit-form");
  const message = document.getElementById("run-edit-message");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]");

  async function call(method, body) {
    message.textContent = "…";
    const response = await fetch(panel.dataset.url, {
      method: method,
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrf ? csrf.value : "",
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const field = data.field ? `${data.field}: ` : "";
      throw new Error(`${field}${data.error || `HTTP ${response.status}`}`);
    }
    return data;
  }

  function fail(error) {
    message.textContent = String(error.message || error);
    message.classList.add("bad");
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const tags = form.elements.tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    call("PATCH", { name: form.elements.name.value.trim(), tags: tags, notes: form.elements.notes.value })
      .then(() => window.location.reload())
      .catch(fail);
  });

  [["run-archive", true], ["run-restore", false]].forEach(([id, archived]) => {
    const button = document.getElementById(id);
    if (button) {
      button.addEventListener("click", () => {
        call("PATCH", { archived: archived }).then(() => window.location.reload()).catch(fail);
      });
    }
  });

  const remove = document.getElementById("run-delete");
  if (remove) {
    remove.addEventListener("click", () => {
      const name = form.elements.name.defaultValue;
      if (!window.confirm(`Delete run “${name}” with all its points, media and checkpoints?`)) return;
      call("DELETE").then(() => window.location.assign(panel.dataset.projectUrl)).catch(fail);
    });
  }
})();
