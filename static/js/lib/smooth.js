// Curve smoothing shared by the run and compare pages.
//
//   TrackerSmooth.ema(values, 0.6)   // -> smoothed values, gaps (null, NaN, ±inf) kept as null
(function () {
  "use strict";

  // TensorBoard's smoothing: an EMA debiased for its zero start, so the first points are
  // not dragged towards 0. Gaps stay gaps and do not reset the average.
  function ema(values, weight) {
    let last = 0;
    let n = 0;
    return values.map((y) => {
      if (y === null || !isFinite(y)) return null;
      last = last * weight + (1 - weight) * y;
      n += 1;
      return weight === 0 ? y : last / (1 - Math.pow(weight, n));
    });
  }

  window.TrackerSmooth = Object.freeze({ ema: ema });
})();
