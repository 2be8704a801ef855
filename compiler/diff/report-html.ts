/**
 * The diff report as one self-contained HTML page: summary, output agreement, findings, a divergence plot
 * (inline SVG: SQNR of every paired value along the source's topological order, jumps marked) and the
 * layer table. No scripts, fonts or other external assets, so the file opens anywhere and can be archived.
 */
import type { DiffReport, LayerReport } from "./diff.ts";

function esc(s: unknown): string {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

function num(x: number): string {
  return Number.isFinite(x) ? x.toExponential(3) : String(x);
}

function db(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(1)} dB` : x > 0 ? "∞" : "−∞";
}

const TOP = 160, BOTTOM = -20;

/** SQNR per pair as an SVG line chart; identical values (infinite SQNR) sit on the top edge. */
export function divergencePlot(layers: readonly LayerReport[], divergence: number | undefined): string {
  const w = 960, h = 320, left = 56, right = 16, top = 16, bottom = 40;
  const pw = w - left - right, ph = h - top - bottom;
  const n = Math.max(layers.length - 1, 1);
  const x = (i: number) => left + (pw * i) / n;
  const clamp = (v: number) => (Number.isNaN(v) ? BOTTOM : Math.max(BOTTOM, Math.min(TOP, v)));
  const y = (v: number) => top + ph * (1 - (clamp(v) - BOTTOM) / (TOP - BOTTOM));
  const pts = layers.map((l, i) => `${x(i).toFixed(1)},${y(l.sqnrDb).toFixed(1)}`).join(" ");
  const ticks: string[] = [];
  for (let v = BOTTOM; v <= TOP; v += 20) {
    ticks.push(`<line x1="${left}" x2="${w - right}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`);
    ticks.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v === TOP ? "≥" + v : v}</text>`);
  }
  const step = Math.max(1, Math.ceil(layers.length / 16));
  for (let i = 0; i < layers.length; i += step) {
    ticks.push(`<text x="${x(i)}" y="${h - bottom + 16}" text-anchor="middle">${i}</text>`);
  }
  const marks = layers.map((l, i) =>
    `<circle cx="${x(i).toFixed(1)}" cy="${y(l.sqnrDb).toFixed(1)}" r="${l.jump ? 5 : 2.5}" class="${
      l.jump ? "jump" : "pt"
    }"><title>${
      esc(
        `#${i} ${l.source.op} ${l.source.node ?? l.source.value} / ${l.target.op} ${
          l.target.node ?? l.target.value
        }: SQNR ${db(l.sqnrDb)}, rel L2 ${num(l.relL2)}`,
      )
    }</title></circle>`
  ).join("");
  const div = divergence === undefined
    ? ""
    : `<line x1="${x(divergence)}" x2="${x(divergence)}" y1="${top}" y2="${
      h - bottom
    }" class="div"/><text x="${x(divergence) + 4}" y="${top + 12}" class="divt">divergence starts</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="100%" role="img" aria-label="SQNR per matched value">
<style>.grid{stroke:#ddd;stroke-width:1}.ln{fill:none;stroke:#2a6fdb;stroke-width:1.5}.pt{fill:#2a6fdb}.jump{fill:#d33}.div{stroke:#d33;stroke-dasharray:4 3}.divt{fill:#d33}text{font:11px sans-serif;fill:#444}</style>
${ticks.join("\n")}
<line x1="${left}" x2="${left}" y1="${top}" y2="${h - bottom}" stroke="#888"/>
<line x1="${left}" x2="${w - right}" y1="${h - bottom}" y2="${h - bottom}" stroke="#888"/>
<text x="${left + pw / 2}" y="${h - 6}" text-anchor="middle">matched value (source topological order)</text>
<text x="14" y="${top + ph / 2}" text-anchor="middle" transform="rotate(-90 14 ${
    top + ph / 2
  })">SQNR (dB)</text>
<polyline points="${pts}" class="ln"/>
${marks}
${div}
</svg>`;
}

export function renderDiffHtml(r: DiffReport): string {
  const d = r.localization.divergence;
  const outputs = r.outputs.map((o) =>
    `<tr><td>${esc(o.source)}</td><td>${esc(o.target)}</td><td>${esc(o.relation)}</td><td>${
      o.top1Agreement === null ? "n/a" : (100 * o.top1Agreement).toFixed(1) + "%"
    }</td><td>${
      o.kendallTau ? o.kendallTau.mean.toFixed(4) + " (min " + o.kendallTau.min.toFixed(4) + ")" : "n/a"
    }</td><td>${o.kendallTau ? (100 * o.kendallTau.fixedFraction).toFixed(1) + "%" : "n/a"}</td><td>${
      num(o.maxAbs)
    }</td><td>${num(o.maxRel)}</td><td>${db(o.sqnrDb)}</td></tr>`
  ).join("\n");
  const findings = r.localization.findings.length
    ? `<ul>${
      r.localization.findings.map((f) =>
        `<li><b>${esc(f.kind)}/${esc(f.fault)}</b> at pair ${f.pair}: ${esc(f.message)}<br><small>${
          esc(f.evidence.metric)
        }: ${num(f.evidence.before)} → ${num(f.evidence.after)}${
          f.evidence.detail ? "; " + esc(JSON.stringify(f.evidence.detail)) : ""
        }</small></li>`
      ).join("\n")
    }</ul>`
    : "<p>No divergence: every matched value agrees within the tolerance.</p>";
  const regions = r.match.regions.map((g) =>
    `<tr><td>${g.before ?? "end"}</td><td>${
      esc(g.source.map((x) => `${x.op} ${x.node}`).join(", ") || "–")
    }</td><td>${esc(g.target.map((x) => `${x.op} ${x.node}`).join(", ") || "–")}</td><td>${
      esc(g.explained ?? "")
    }</td></tr>`
  ).join("\n");
  const layers = r.layers.map((l) =>
    `<tr class="${l.jump ? "jumprow" : ""}"><td>${l.index}</td><td>${esc(l.source.op)}</td><td>${
      esc(l.source.node ?? l.source.value)
    }</td><td>${esc(l.target.op)}</td><td>${esc(l.target.node ?? l.target.value)}</td><td>${
      esc(l.incompatible ?? l.relation)
    }</td><td>${num(l.relL2)}</td><td>${db(l.sqnrDb)}</td><td>${num(l.maxAbs)}</td><td>${
      l.jump ? "jump" : ""
    }</td></tr>`
  ).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lathe diff: ${esc(r.source.path)} vs ${
    esc(r.target.path)
  }</title>
<style>body{font:14px/1.4 sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;font-size:12px}
th{background:#f3f3f3}.ok{color:#187a2f}.bad{color:#c22}.jumprow{background:#fde8e8}small{color:#555}</style></head><body>
<h1>Lathe diff</h1>
<p><b>source</b> ${esc(r.source.path)} (${esc(r.source.format)}, ${r.source.nodes} nodes, run in ${
    esc(r.source.runtime)
  })<br>
<b>target</b> ${esc(r.target.path)} (${esc(r.target.format)}, ${r.target.nodes} nodes, run in ${
    esc(r.target.runtime)
  })<br>
<b>inputs</b> ${esc(r.inputs.description)}</p>
<p class="${r.agree ? "ok" : "bad"}"><b>${r.agree ? "The models agree." : "The models disagree."}</b>${
    d
      ? ` Divergence starts at pair ${d.index}: ${esc(d.source.op)} ${
        esc(d.source.node ?? d.source.value)
      } / ${esc(d.target.op)} ${esc(d.target.node ?? d.target.value)}.`
      : ""
  }</p>
<h2>Outputs</h2>
<table><tr><th>source</th><th>target</th><th>layout</th><th>top-1 agreement</th><th>Kendall τ top-${r.topK}</th><th>τ ≥ 0.98</th><th>max abs</th><th>max rel</th><th>SQNR</th></tr>
${outputs}</table>
${
    r.failures.map((f) => `<p class="bad">The ${f.side} failed on sample ${f.sample}: ${esc(f.message)}</p>`)
      .join("\n")
  }
${
    r.runtimeChecks.map((c) =>
      `<p>Lathe vs ${esc(c.runtime)} on the ${c.model}: max abs ${num(c.maxAbs)}, rel L2 ${num(c.relL2)}</p>`
    ).join("\n")
  }
<h2>Divergence along matched values</h2>
${divergencePlot(r.layers, d?.index)}
<h2>Findings</h2>
${findings}
<h2>Unmatched regions</h2>
${
    r.match.regions.length
      ? `<table><tr><th>before pair</th><th>source only</th><th>target only</th><th>explanation</th></tr>${regions}</table>`
      : "<p>None: every op has a counterpart.</p>"
  }
<h2>Matched values (${r.layers.length})</h2>
<table><tr><th>#</th><th>source op</th><th>source node</th><th>target op</th><th>target node</th><th>layout</th><th>rel L2</th><th>SQNR</th><th>max abs</th><th></th></tr>
${layers}</table>
<p><small>Tolerance: rel L2 ${r.localization.tolerance}; a jump is ${r.localization.jumpFactor}× the inputs' error. ${
    r.ms.total.toFixed(0)
  } ms.</small></p>
</body></html>
`;
}
