// Every chart on every page stays on this server: Plotly.js 4 offers "Share chart"
// (an upload to Plotly's cloud) and "Edit in Chart Studio" unless told not to. Loaded
// right after plotly.min.js, before any page script draws.
(function () {
  "use strict";
  window.Plotly.setPlotConfig({
    showSendToCloud: false,
    showEditInChartStudio: false,
    showLink: false,
    sendData: false,
    plotlyServerURL: "",
    displaylogo: false,
  });
})();
