// Chart controls (a smoothing slider, checkboxes, selects) bound to one state object that
// is kept in localStorage under the page's key, so a reload keeps the reader's choices.
//
//   const controls = TrackerControls.bind({
//     storageKey: "tracker:run-controls",
//     defaults: { smoothing: 0.6, logY: false, xAxis: "step" },
//     inputs: { smoothing: "smoothing", logY: "log-y", xAxis: "x-axis" }, // state name -> element id
//     onChange: (name, state) => redraw(),
//   });
//   controls.state.smoothing
//
// A range input's <output for="id"> shows its value; the range calls onChange once per
// animation frame while dragged. A stored value a select no longer offers falls back to
// the default. Without storage (disabled, private mode) the choices last until a reload.
(function () {
  "use strict";

  function load(key) {
    try {
      const stored = JSON.parse(window.localStorage.getItem(key) || "{}");
      return stored && typeof stored === "object" ? stored : {};
    } catch (e) {
      return {};
    }
  }

  function save(key, state) {
    try {
      window.localStorage.setItem(key, JSON.stringify(state));
    } catch (e) {
      // Storage disabled: the controls reset on reload, nothing else breaks.
    }
  }

  function decimals(input) {
    return (String(input.step).split(".")[1] || "").length;
  }

  function bind(options) {
    const state = Object.assign({}, options.defaults, load(options.storageKey));
    const changed = (name) => {
      save(options.storageKey, state);
      if (options.onChange) options.onChange(name, state);
    };

    Object.entries(options.inputs).forEach(([name, id]) => {
      const input = document.getElementById(id);
      if (!input) return;
      if (input.type === "checkbox") {
        input.checked = Boolean(state[name]);
        input.addEventListener("change", () => {
          state[name] = input.checked;
          changed(name);
        });
      } else if (input.type === "range") {
        const low = Number(input.min);
        const high = Number(input.max);
        const clamp = (value) => Math.min(high, Math.max(low, Number(value) || 0));
        const output = document.querySelector(`output[for="${CSS.escape(id)}"]`);
        const show = () => {
          if (output) output.value = state[name].toFixed(decimals(input));
        };
        state[name] = clamp(state[name]);
        input.value = String(state[name]);
        show();
        let frame = 0;
        input.addEventListener("input", () => {
          state[name] = clamp(input.value);
          show();
          save(options.storageKey, state);
          window.cancelAnimationFrame(frame);
          frame = window.requestAnimationFrame(() => {
            if (options.onChange) options.onChange(name, state);
          });
        });
      } else {
        input.value = String(state[name]);
        if (input.value !== String(state[name])) {
          state[name] = options.defaults[name];
          input.value = String(state[name]);
        }
        input.addEventListener("change", () => {
          state[name] = input.value;
          changed(name);
        });
      }
    });
    return { state: state };
  }

  window.TrackerControls = Object.freeze({ bind: bind });
})();
