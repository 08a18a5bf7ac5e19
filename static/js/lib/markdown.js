// A small, safe Markdown renderer for run notes: the text is HTML-escaped first, then
// headings (#), paragraphs, lists (- * 1.), fenced and inline code, **bold**, *italic*,
// links to http(s) or relative URLs only. Nothing a user writes can add markup of its
// own, so notes cannot carry scripts. window.trackerMarkdown(text) -> HTML string;
// elements with data-markdown are rendered in place on load.
(function () {
  "use strict";

  function escape(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function safeUrl(url) {
    // Escaped already; only web links and paths on this server.
    return /^(https?:\/\/|\/(?!\/)|#)/i.test(url) ? url : null;
  }

  function inline(text) {
    const codes = [];
    let html = text.replace(/`([^`]+)`/g, (_, code) => {
      codes.push(`<code>${code}</code>`);
      return `\u0000${codes.length - 1}\u0000`;
    });
    html = html
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (whole, label, url) => {
        const href = safeUrl(url);
        return href ? `<a href="${href}" rel="noopener noreferrer">${label}</a>` : whole;
      })
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>");
    return html.replace(/\u0000(\d+)\u0000/g, (_, i) => codes[Number(i)]);
  }

  function render(source) {
    const lines = escape(String(source).replace(/\r\n?/g, "\n")).split("\n");
    const out = [];
    let paragraph = [];
    let list = null; // "ul" | "ol"
    const flush = () => {
      if (paragraph.length) out.push(`<p>${inline(paragraph.join(" "))}</p>`);
      paragraph = [];
    };
    const closeList = () => {
      if (list) out.push(`</${list}>`);
      list = null;
    };
    for (let i = 0; i < lines.length; i += 1) {
      const line = lines[i];
      if (/^```/.test(line)) {
        flush();
        closeList();
        const code = [];
        for (i += 1; i < lines.length && !/^```/.test(lines[i]); i += 1) code.push(lines[i]);
        out.push(`<pre><code>${code.join("\n")}</code></pre>`);
        continue;
      }
      const heading = /^(#{1,4})\s+(.*)$/.exec(line);
      const bullet = /^\s*[-*]\s+(.*)$/.exec(line);
      const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
      if (heading) {
        flush();
        closeList();
        const level = heading[1].length + 2; // h3..h6 inside a page that has its own h1/h2
        out.push(`<h${level}>${inline(heading[2])}</h${level}>`);
      } else if (bullet || numbered) {
        flush();
        const kind = bullet ? "ul" : "ol";
        if (list !== kind) {
          closeList();
          out.push(`<${kind}>`);
          list = kind;
        }
        out.push(`<li>${inline((bullet || numbered)[1])}</li>`);
      } else if (!line.trim()) {
        flush();
        closeList();
      } else {
        closeList();
        paragraph.push(line.trim());
      }
    }
    flush();
    closeList();
    return out.join("");
  }

  window.trackerMarkdown = render;
  document.querySelectorAll("[data-markdown]").forEach((el) => {
    el.innerHTML = render(el.textContent);
  });
})();
