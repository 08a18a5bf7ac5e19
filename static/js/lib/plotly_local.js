// Every chart on every page stays on this server: Plotly.js 4 offers "Share chart"
// (an upload to Plotly's cloud) and "Edit in Chart Studio" unless told not to. Loaded
// right after plotly.min.js, before any page script draws.
//
// Every chart also follows the page's light or dark theme (static/js/lib/theme.js): each
// layout given to Plotly.newPlot / Plotly.react gets the theme's colours, and charts
// already drawn are re-coloured when the theme changes.
(function () {
  "use strict";
  const Plotly = window.Plotly;
  Plotly.setPlotConfig({
    showSendToCloud: false,
    showEditInChartStudio: false,
    showLink: false,
    sendData: false,
    plotlyServerURL: "",
    displaylogo: false,
  });

  const theme = window.TrackerTheme;
  if (!theme) return;

  function themed(draw) {
    return function (gd, data, layout, config) {
      if (data && !Array.isArray(data) && typeof data === "object" && data.data) {
        // The one-argument form: Plotly.react(gd, {data, layout, config}).
        return draw.call(this, gd, Object.assign({}, data, { layout: theme.layout(data.layout) }));
      }
      return draw.call(this, gd, data, theme.layout(layout), config);
    };
  }

  Plotly.newPlot = themed(Plotly.newPlot);
  Plotly.react = themed(Plotly.react);

  theme.onChange(() => {
    document.querySelectorAll(".js-plotly-plot").forEach((gd) => {
      if (gd.layout) Plotly.relayout(gd, theme.layout(gd.layout));
    });
  });
})();
