// The sweep admin's search-space editor (tuning/templates/tuning/widgets/space.html).
// "Add a parameter": copy the last row with the next index. Without JavaScript the form
// still offers two blank rows; save and continue to get more.
(function () {
  "use strict";

  function wire(editor) {
    editor.querySelector(".space-add").addEventListener("click", function () {
      const count = editor.querySelector(".space-count");
      const rows = editor.querySelectorAll(".space-row");
      const last = rows[rows.length - 1];
      const copy = last.cloneNode(true);
      const index = Number(count.value);
      copy.querySelectorAll("input, select").forEach(function (input) {
        input.name = input.name.replace(/-\d+-(\w+)$/, "-" + index + "-$1");
        if (input.type === "checkbox") input.checked = false;
        else if (input.tagName === "SELECT") input.value = "float";
        else input.value = "";
      });
      last.parentNode.appendChild(copy);
      count.value = String(index + 1);
    });
  }

  document.querySelectorAll(".space-editor").forEach(wire);
})();
