// The page's stylesheet, served as a same-origin file (the CSP allows no inline style).
// Kept as a string module so the build needs no file copies. System fonts only: nothing is
// fetched from anywhere else. Text colours keep a contrast ratio of at least 4.5:1 (WCAG AA)
// against their backgrounds, in both colour schemes.

export const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1f24; --muted: #505a64; --line: #c9d1d9; --panel: #f4f6f8;
  --accent: #0b5cad; --accent-fg: #ffffff; --ok: #116329; --ok-bg: #e6f4ea; --bad: #a40e26; --bad-bg: #ffebe9;
  --warn: #7a4a00; --warn-bg: #fff4d6;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #a4aeb8; --line: #3d444d; --panel: #161b22;
    --accent: #4493f8; --accent-fg: #0d1117; --ok: #56d364; --ok-bg: #0f2a17; --bad: #ff8e86; --bad-bg: #3a1113;
    --warn: #e3b341; --warn-bg: #2e2207;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", sans-serif;
}
code, pre, input { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
code, pre { font-size: 0.9rem; }
.wrap { max-width: 56rem; margin: 0 auto; padding: 1rem; }
header.wrap { padding-top: 1.5rem; padding-bottom: 0; }
h1 { font-size: 1.6rem; margin: 0; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.75rem; padding-bottom: 0.25rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem; }
p { margin: 0.5rem 0; }
.muted { color: var(--muted); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, [tabindex]:focus-visible {
  outline: 3px solid var(--accent); outline-offset: 2px;
}
.skip { position: absolute; left: -999px; top: 0.5rem; background: var(--bg); padding: 0.5rem; }
.skip:focus { left: 0.5rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.35rem 1rem; margin: 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
.setting { display: flex; align-items: center; gap: 0.5rem; flex-wrap: wrap; }
.setting code { overflow-wrap: anywhere; }
.pill { display: inline-block; padding: 0 0.5rem; border-radius: 999px; font-size: 0.85rem; font-weight: 600; }
.pill.ok { color: var(--ok); background: var(--ok-bg); }
.pill.bad { color: var(--bad); background: var(--bad-bg); }
.pill.warn { color: var(--warn); background: var(--warn-bg); }
.notices { padding-left: 1.25rem; }
.notices li { margin: 0.35rem 0; }
.table { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
tr:last-child td { border-bottom: 0; }
th { background: var(--panel); font-weight: 600; }
td { overflow-wrap: break-word; }
td a, td code { overflow-wrap: anywhere; }
#registry-settings { margin-top: 0.75rem; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 0.75rem; margin: 0.5rem 0;
  white-space: pre-wrap; overflow-wrap: anywhere; }
button {
  font: inherit; font-weight: 600; cursor: pointer; border-radius: 6px; border: 1px solid var(--accent);
  background: var(--accent); color: var(--accent-fg); padding: 0.45rem 1rem; min-height: 2.5rem;
}
button.copy { background: var(--bg); color: var(--accent); padding: 0.1rem 0.6rem; min-height: 2rem; font-size: 0.9rem; }
button:disabled { opacity: 0.6; cursor: progress; }
form { display: grid; gap: 0.9rem; max-width: 32rem; }
.field { display: grid; gap: 0.25rem; }
label { font-weight: 600; }
input {
  font-size: 1rem; padding: 0.5rem 0.6rem; border: 1px solid var(--muted); border-radius: 6px;
  background: var(--bg); color: var(--fg); width: 100%; min-height: 2.5rem;
}
.hint { font-size: 0.9rem; color: var(--muted); margin: 0; }
#result { margin-top: 1.25rem; }
.verdicts { list-style: none; padding: 0; margin: 0.5rem 0; display: grid; gap: 0.4rem; }
.verdicts li { padding: 0.5rem 0.75rem; border-radius: 6px; border-left: 4px solid; }
.verdicts li.granted { background: var(--ok-bg); border-color: var(--ok); }
.verdicts li.denied { background: var(--bad-bg); border-color: var(--bad); }
.verdicts .verdict { font-weight: 700; margin-right: 0.4rem; }
.verdicts li.granted .verdict { color: var(--ok); }
.verdicts li.denied .verdict { color: var(--bad); }
.alert { padding: 0.6rem 0.75rem; border-radius: 6px; background: var(--bad-bg); color: var(--bad); border-left: 4px solid var(--bad); }
footer { margin-top: 2rem; border-top: 1px solid var(--line); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 40rem) {
  dl.facts { grid-template-columns: 1fr; gap: 0.1rem; }
  dl.facts dd { margin-bottom: 0.5rem; }
  h1 { font-size: 1.35rem; }
  /* The forge table becomes one card per forge, each cell labelled. */
  table, tbody, tr, td { display: block; }
  thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  tr { border-bottom: 1px solid var(--line); padding: 0.4rem 0; }
  tr:last-child { border-bottom: 0; }
  td { border: 0; padding: 0.15rem 0.6rem; }
  td::before { content: attr(data-label) ": "; font-weight: 600; }
}
`;
