// Number and date formatting for the pages' scripts. Values the server already formats
// (table cells, metric stats) are shown as sent; these are for what scripts draw.
//
//   TrackerFmt.number(0.000123)    // "1.23e-4": compact, for evidence and step numbers
//   TrackerFmt.fixed(0.91234)      // "0.912" (three decimals unless told); "—" when missing
//   TrackerFmt.integer(12345)      // "12,345"; "—" when missing
//   TrackerFmt.bytes(3 * 2 ** 30)  // "3.00 GiB"; "—" when missing (as fmt_bytes on the server)
//   TrackerFmt.ago(iso)            // "12 s ago", "5 min ago", "3 h ago", then the date
//   TrackerFmt.dateTime(iso)       // "2026-11-27 17:53" in the reader's time zone
//   TrackerFmt.localizeTimes(root) // every <time datetime> under root in that format
//
// One date format everywhere (experiments/formatting.py fmt_datetime): the server renders
// "2026-11-27 17:53" in its time zone; on load every <time datetime> on the page is
// rewritten in the reader's, with the ISO time as its tooltip. <time data-relative>
// ("5 min ago") keeps its text.
(function () {
  "use strict";

  const MISSING = "—";
  const missing = (value) => value === null || value === undefined;

  // Integers in full with separators, very small or large numbers in exponent form,
  // others to four significant digits; non-numbers as text.
  function number(value) {
    if (typeof value !== "number") return String(value);
    const abs = Math.abs(value);
    if (Number.isInteger(value) && abs < 1e15) return value.toLocaleString("en-US");
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
    return String(Number(value.toPrecision(4)));
  }

  function fixed(value, digits) {
    return missing(value) ? MISSING : Number(value).toFixed(digits === undefined ? 3 : digits);
  }

  function integer(value) {
    return missing(value) ? MISSING : Number(value).toLocaleString();
  }

  function bytes(value) {
    if (missing(value)) return MISSING;
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    let n = Math.abs(Number(value));
    const sign = Number(value) < 0 ? "-" : "";
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    if (i === 0) return `${sign}${Math.trunc(n)} B`;
    return `${sign}${n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)} ${units[i]}`;
  }

  const pad = (n) => String(n).padStart(2, "0");

  function dateTime(value) {
    if (missing(value) || value === "") return MISSING;
    const d = value instanceof Date ? value : new Date(value);
    if (Number.isNaN(d.getTime())) return String(value);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function localizeTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach((el) => {
      const iso = el.getAttribute("datetime");
      const d = new Date(iso);
      if (Number.isNaN(d.getTime())) return;
      if (!el.title) el.title = d.toISOString();
      if (!el.hasAttribute("data-relative") && iso.includes("T")) el.textContent = dateTime(d);
    });
  }

  function ago(iso) {
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 60) return `${Math.round(seconds)} s ago`;
    if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
    return dateTime(iso);
  }

  window.TrackerFmt = Object.freeze({
    number: number, fixed: fixed, integer: integer, bytes: bytes, dateTime: dateTime, ago: ago,
    localizeTimes: localizeTimes,
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => localizeTimes());
  else localizeTimes();
})();
