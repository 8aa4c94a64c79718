namespace VtdSim.Report;

/// <summary>The report's inline style sheet and script (no external font, image or script).</summary>
internal static class ReportStyle
{
    public const string Css = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:1.5rem;color:#1a1a1a;background:#fff;line-height:1.4;font-size:14px}
h1{font-size:1.6rem;margin:0 0 .3rem}h2{font-size:1.3rem;border-bottom:2px solid #333;margin-top:2rem}h3{font-size:1.1rem;margin-top:1.5rem}h4{font-size:1rem;margin:1rem 0 .4rem}
.gen,.note{color:#444}code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.92em}
table{border-collapse:collapse;margin:.4rem 0 1rem}th,td{border:1px solid #999;padding:.2rem .4rem;vertical-align:top;text-align:left}
caption{text-align:left;font-weight:600;padding:.2rem 0;color:#333}thead th{background:#eee}
.legend{display:flex;flex-wrap:wrap;gap:2rem}
.swatch{display:inline-block;width:2.2rem;height:1rem;border:1px solid #333;vertical-align:middle}
.st-rw{background:#2e7d32}
.st-ro{background:repeating-linear-gradient(45deg,#2e7d32 0 3px,#c8e6c9 3px 7px)}
.st-wr{background:repeating-linear-gradient(-45deg,#e65100 0 4px,#ffe0b2 4px 8px)}
.st-by{background:repeating-linear-gradient(90deg,#616161 0 2px,#e0e0e0 2px 6px)}
.st-rf{background:repeating-linear-gradient(45deg,#b71c1c 0 2px,transparent 2px 6px),repeating-linear-gradient(-45deg,#b71c1c 0 2px,#ffcdd2 2px 6px)}
.st-nm{background:#f5f5f5}
.st-gap{background:#fff;border-style:dashed}
.bar{display:flex;width:100%;min-height:2.4rem;border:2px solid #333;margin:.3rem 0 .6rem}
.seg{display:flex;align-items:center;justify-content:center;min-width:.6rem;border-right:1px solid #333;overflow:hidden}
.seg.st-gap{border-top:0;border-bottom:0;border-left:0;border-right:1px dashed #777}
.lbl{background:#fff;border:1px solid #333;font-size:.7rem;padding:0 .15rem;white-space:nowrap}
.grid td,.grid th{min-width:5.5rem}.grid .cell.empty{color:#999;text-align:center}
.ref{display:block;border:1px solid #555;border-radius:3px;padding:0 .25rem;margin:.1rem 0;background:#fff;white-space:nowrap}
.ref b{display:inline-block;min-width:1.4rem;text-align:right;margin-right:.2rem}
.k-ad{background:#e3f2fd;border-style:dashed}
.k-erratum{background:#d50000;color:#fff;border:2px solid #000;font-weight:700}
.cell.erratum{background:#ffcdd2;outline:3px solid #d50000}
.cell.fault{outline:3px double #000;background:#fff8e1}
.is-fault{border:2px solid #000}
.fault-tag{display:inline-block;background:#000;color:#fff;padding:0 .3rem;font-weight:700;white-space:normal}
.bad{color:#b71c1c}
tr.erratum td{background:#ffcdd2}tr.fault td{background:#fff8e1}tr.hl td{outline:2px solid #1565c0}
tr.pass td:first-child{color:#1b5e20}tr.fail td:first-child{color:#b71c1c}
.timeline td{min-width:14rem;max-width:38rem}.timeline ul{margin:0;padding-left:1rem}
.lv-l0{border-top:4px solid #1565c0}.lv-l1{border-top:4px solid #6a1b9a}.lv-l2{border-top:4px solid #00838f}
.ev-fault,.ev-error,.ev-guest-table-write{color:#b71c1c}
.question{border-left:4px solid #1565c0;background:#f3f7fc;margin:.5rem 0;padding:.3rem .8rem;white-space:pre-line}.q-h{font-weight:600;margin:.2rem 0;white-space:normal}
.hazard-tag{display:inline-block;background:#d50000;color:#fff;border:2px solid #000;font-weight:700;padding:0 .3rem;white-space:nowrap}
.finding-tag{display:inline-block;background:#000;color:#fff;font-weight:700;padding:0 .3rem}
tr.finding td,tr.marked td{background:#fff8e1}tr.hazard td{background:#ffcdd2}tr.hazard td:first-child{outline:3px solid #d50000}details.hazard>summary{background:#ffcdd2;outline:3px solid #d50000}
.src{color:#555}table.pages td:nth-child(6){font-size:.78em;max-width:40rem}
.unit{display:inline-block;border:1px solid #333;border-left-width:6px;padding:0 .3rem;margin-right:.3rem;font-size:.85em;background:#fafafa}
.unit.lv-l0{border-left-color:#1565c0}.unit.lv-l1{border-left-color:#6a1b9a}.unit.lv-l2{border-left-color:#00838f}
table.plain td.warn{background:#fff3e0;font-weight:600}table.plain td.bad{background:#ffcdd2;color:#b71c1c;font-weight:700}
details{margin:.3rem 0}summary{cursor:pointer}
@media print{details{display:block}}
""";

    /// <summary>
    /// Clicking a numbered reference in a grid highlights its row in the list below it. Marks the body when it ran, so a
    /// browser test can tell the script ran without error.
    /// </summary>
    public const string Script = """
(function () {
  'use strict';
  document.querySelectorAll('article.walk').forEach(function (walk) {
    walk.querySelectorAll('.grid .ref[data-n]').forEach(function (ref) {
      ref.addEventListener('click', function () {
        walk.querySelectorAll('tr.hl').forEach(function (r) { r.classList.remove('hl'); });
        var row = walk.querySelector('table.refs tr[data-n="' + ref.getAttribute('data-n') + '"]');
        if (row) { row.classList.add('hl'); row.closest('details').open = true; }
      });
    });
  });
  document.body.setAttribute('data-ready', 'yes');
})();
""";
}
