#!/usr/bin/env bash
# Regenerates docs/images/report-*.png: the browser tests of tests/VtdSim.Report.Tests load each built-in scenario's
# report (and the demo's) in headless chromium and save a screenshot where VTDSIM_SCREENSHOTS says (docs/report.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x /usr/bin/chromium ] || { echo "needs /usr/bin/chromium (.ci/install-deps installs it)" >&2; exit 1; }
VTDSIM_SCREENSHOTS="$PWD/docs/images" dotnet test tests/VtdSim.Report.Tests --filter "FullyQualifiedName~BrowserTests"
ls -l docs/images/report-*.png
