// Light and dark pages. The page follows the reader's system setting
// (prefers-color-scheme) until they press the header's toggle; their choice is kept in
// localStorage and set as <html data-theme="light|dark"> (static/css/app.css gives every
// colour a light and a dark value). Loaded in <head> without `defer`, so the choice is
// applied before the first paint (no white flash on a dark page).
//
// Charts: every colour comes from the same CSS variables.
//   Plotly.react(el, traces, TrackerTheme.layout(layout), config)  // fills in the colours
//   TrackerTheme.colors()          // {paper, text, muted, grid, line, ...} as rgb() strings
//   TrackerTheme.onChange(redraw)  // called after the theme changes
// plotly_local.js passes every Plotly.newPlot / Plotly.react layout through
// TrackerTheme.layout() and re-colours drawn charts on a change, so a page script that
// names its own light colours still follows the theme.
(function () {
  "use strict";

  const KEY = "tracker:theme";
  const root = document.documentElement;
  const system = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  const listeners = [];
  let cached = null;
  let memo = null; // the choice when localStorage is disabled

  function stored() {
    try {
      const value = window.localStorage.getItem(KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch (error) {
      return memo;
    }
  }

  function systemTheme() {
    return system && system.matches ? "dark" : "light";
  }

  // "dark" or "light": what the page shows now.
  function current() {
    return stored() || systemTheme();
  }

  function apply() {
    const choice = stored();
    if (choice) root.dataset.theme = choice;
    else delete root.dataset.theme;
    root.dataset.themeShown = current();
    cached = null;
    const button = document.getElementById("theme-toggle");
    if (button) {
      const dark = current() === "dark";
      button.setAttribute("aria-pressed", dark ? "true" : "false");
      button.title = `${dark ? "Dark" : "Light"} theme (${choice ? "your choice" : "as your system"}): switch to ${dark ? "light" : "dark"}`;
    }
  }

  function notify() {
    listeners.slice().forEach((fn) => {
      try {
        fn(current());
      } catch (error) {
        window.setTimeout(() => {
          throw error;
        });
      }
    });
  }

  // Pressing the toggle shows the other theme; choosing the system's own theme goes back
  // to following the system.
  function set(theme) {
    try {
      if (theme === systemTheme()) window.localStorage.removeItem(KEY);
      else window.localStorage.setItem(KEY, theme);
    } catch (error) {
      memo = theme === systemTheme() ? null : theme; // storage disabled: this page only
    }
    apply();
    notify();
  }

  function toggle() {
    set(current() === "dark" ? "light" : "dark");
  }

  // Resolved colours of the CSS variables (light-dark() resolves only on a real property).
  function colors() {
    if (cached) return cached;
    const probe = document.createElement("span");
    probe.hidden = true;
    (document.body || root).appendChild(probe);
    const read = (name) => {
      probe.style.color = `var(${name})`;
      return window.getComputedStyle(probe).color;
    };
    cached = {
      paper: read("--card"),
      text: read("--text"),
      text2: read("--text-2"),
      muted: read("--muted"),
      faint: read("--faint"),
      grid: read("--grid"),
      line: read("--border-strong"),
      border: read("--border"),
      accent: read("--accent"),
    };
    probe.remove();
    return cached;
  }

  function axis(value, c) {
    const out = Object.assign({}, value || {});
    out.gridcolor = c.grid;
    out.linecolor = c.line;
    out.tickcolor = c.line;
    if (out.zerolinecolor !== undefined) out.zerolinecolor = c.faint;
    out.tickfont = Object.assign({}, out.tickfont, { color: c.muted });
    if (out.title && typeof out.title === "object") {
      out.title = Object.assign({}, out.title, { font: Object.assign({}, out.title.font, { color: c.muted }) });
    }
    return out;
  }

  // A copy of ``layout`` with the theme's colours for the page, the plot, text, axes,
  // hover labels, the legend and the mode bar; everything else (sizes, traces' colours,
  // shapes) kept.
  function layout(base) {
    const c = colors();
    const out = Object.assign({}, base || {});
    out.paper_bgcolor = c.paper;
    out.plot_bgcolor = c.paper;
    out.font = Object.assign({}, out.font, { color: c.text2 });
    out.hoverlabel = Object.assign({}, out.hoverlabel, {
      bgcolor: c.paper, bordercolor: c.line, font: Object.assign({}, (out.hoverlabel || {}).font, { color: c.text }),
    });
    if (out.legend) out.legend = Object.assign({}, out.legend, { font: Object.assign({}, out.legend.font, { color: c.text2 }) });
    out.modebar = Object.assign({}, out.modebar, { bgcolor: "rgba(0,0,0,0)", color: c.faint, activecolor: c.text });
    Object.keys(out).forEach((name) => {
      if (/^[xy]axis\d*$/.test(name)) out[name] = axis(out[name], c);
    });
    if (!out.xaxis) out.xaxis = axis(null, c);
    if (!out.yaxis) out.yaxis = axis(null, c);
    return out;
  }

  function onChange(fn) {
    listeners.push(fn);
  }

  apply();
  if (system) {
    const follow = () => {
      if (!stored()) {
        apply();
        notify();
      }
    };
    if (system.addEventListener) system.addEventListener("change", follow);
    else if (system.addListener) system.addListener(follow);
  }
  // Another tab changed it.
  window.addEventListener("storage", (event) => {
    if (event.key === KEY) {
      apply();
      notify();
    }
  });
  document.addEventListener("DOMContentLoaded", () => {
    const button = document.getElementById("theme-toggle");
    if (button) button.addEventListener("click", toggle);
    apply();
  });

  window.TrackerTheme = Object.freeze({
    current: current, set: set, toggle: toggle, colors: colors, layout: layout, onChange: onChange,
  });
})();
