// Curve smoothing shared by the run and compare pages.
//
//   TrackerSmooth.ema(values, 0.6)        // -> smoothed values, gaps (null, NaN, ±inf) kept as null
//   TrackerSmooth.weightFor(0.6, 15)      // -> 0: the weight to use on a series of 15 points
(function () {
  "use strict";

  // Points per EMA "window" (1 / (1 - weight)) a series must have to be smoothed at all:
  // an average over a few points of a 15-point epoch series bends it away from its values.
  const POINTS_PER_WINDOW = 20;

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

  // The weight to smooth a series of `n` points with: the reader's `weight`, lowered so
  // that the average spans at most n / POINTS_PER_WINDOW points; 0 (no smoothing) below
  // 2 * POINTS_PER_WINDOW points. The default 0.6 applies whole from 50 points on.
  function weightFor(weight, n) {
    const window = n / POINTS_PER_WINDOW;
    if (!(weight > 0) || window < 2) return 0;
    return Math.min(weight, 1 - 1 / window);
  }

  window.TrackerSmooth = Object.freeze({ ema: ema, weightFor: weightFor });
})();
