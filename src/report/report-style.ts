/**
 * The report's stylesheet, inlined into the HTML. System fonts only (no web fonts to fetch), print
 * rules that keep sections and table rows whole, and colours that survive grayscale printing because
 * every state also has a label, a pattern or a position.
 */
export const REPORT_CSS = `
:root { --ink:#1c2530; --muted:#5f6b7a; --line:#dde3ea; --bg:#f6f8fa; --accent:#0b5cad; --ok:#2e7d32; --warn:#f9a825; --bad:#c62828; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 28px 32px 40px; }
.head { border-bottom: 3px solid var(--accent); padding-bottom: 14px; margin-bottom: 20px; }
.eyebrow { text-transform: uppercase; letter-spacing: .08em; font-size: 11px; color: var(--accent); font-weight: 600; }
h1 { font-size: 26px; margin: 4px 0 6px; }
h2 { font-size: 18px; margin: 0 0 6px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 16px 0 6px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.meta, .lead, .muted, .desc { color: var(--muted); }
.lead { margin: 4px 0 10px; }
.desc { font-size: 12px; margin-top: 2px; max-width: 420px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 18px 20px; margin: 0 0 18px; }
.kpis { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; background: none; border: 0; padding: 0; }
.kpi { background: #fff; border: 1px solid var(--line); border-top: 4px solid var(--accent); border-radius: 8px; padding: 12px 14px; }
.notice { border-left: 4px solid var(--warn); background: #fff8e1; padding: .6em 1em; margin: 0 0 1em; }
.kpi.ok { border-top-color: var(--ok); } .kpi.warn { border-top-color: var(--warn); } .kpi.bad { border-top-color: var(--bad); }
.kpi-value { font-size: 26px; font-weight: 700; font-variant-numeric: tabular-nums; }
.kpi-label { font-weight: 600; }
.kpi-note { color: var(--muted); font-size: 12px; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
table.narrow { width: auto; min-width: 420px; }
th { text-align: left; font-weight: 600; color: var(--muted); border-bottom: 2px solid var(--line); padding: 6px 8px; font-size: 12px; }
td { border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; }
tbody tr:nth-child(even) td { background: #fafbfc; }
table.cov td:nth-child(5) { width: 28%; }
.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: anywhere; }
.when { font: 11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--muted); white-space: nowrap; }
.small { font-size: 11px; color: var(--muted); }
.strong { font-weight: 700; }
.bar { height: 10px; background: #eceff1; border-radius: 5px; overflow: hidden; min-width: 120px; margin-top: 4px; }
.bar.track-bad { background: #fdecea; box-shadow: inset 0 0 0 1px #f5c2c0; }
.fill { height: 100%; } .fill.ok { background: var(--ok); } .fill.warn { background: var(--warn); } .fill.bad { background: var(--bad); }
.sev { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 11px; font-weight: 700; text-transform: uppercase; border: 1px solid; }
.sev-critical { color: #fff; background: #7f0000; border-color: #7f0000; }
.sev-high { color: #fff; background: var(--bad); border-color: var(--bad); }
.sev-medium { color: #7a4f00; background: #fff3cd; border-color: #e0b000; }
.sev-low { color: #0b4a80; background: #e3f2fd; border-color: #90caf9; }
.sev-info { color: var(--muted); background: #f1f3f5; border-color: var(--line); }
.ctl { display: inline-block; font: 600 11px ui-monospace, Menlo, Consolas, monospace; padding: 1px 6px; border-radius: 4px; background: #e8eef6; color: #0b3d73; margin: 0 2px 2px 0; }
.tag { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 4px; background: #f1f3f5; border: 1px solid var(--line); margin: 0 2px 2px 0; }
.example { font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 18px; margin: 4px 0 10px; font-size: 12px; color: var(--muted); }
.legend-item { display: inline-flex; align-items: center; gap: 6px; }
svg.graph { display: block; max-height: 760px; }
.node-label { font: 600 12px system-ui, sans-serif; fill: var(--ink); }
.node-sub { font: 10px system-ui, sans-serif; fill: var(--muted); }
footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 10px; }
@media (max-width: 900px) { .kpis { grid-template-columns: repeat(2, 1fr); } }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { background: #fff; font-size: 11px; }
  main { max-width: none; padding: 0; }
  section, .kpi { break-inside: avoid; border-color: #bbb; }
  section.graph-section { break-before: page; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
}
`
