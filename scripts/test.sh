#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (unit + model tests) with CTest.
# Every file a test reads is required: QUIP_REQUIRE_FILES=1 turns a missing one into a
# failure naming it (tests/testing/tiny_model.h). After CTest's summary, the tests that
# skipped are listed with their reasons.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
junit=ctest-results.xml
rm -f "$junit"
status=0
# One BLAS/OpenMP thread per test process; CTest runs as many processes as cores.
QUIP_REQUIRE_FILES=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
  ctest --output-on-failure -j"$(nproc)" --timeout 900 --output-junit "$junit" "$@" || status=$?
# Skipped tests and why (the "Skipped" line GoogleTest prints with the GTEST_SKIP message).
/usr/bin/python3 - "$junit" <<'PY'
import re, sys, xml.etree.ElementTree as ET
try:
    cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
except (OSError, ET.ParseError) as e:
    sys.exit(f"test.sh: cannot read CTest's JUnit output: {e}")
skipped = [c for c in cases if c.get("status") in ("notrun", "disabled") or c.find("skipped") is not None]
print(f"{len(skipped)} test{'' if len(skipped) == 1 else 's'} skipped" + (":" if skipped else ""))
for c in skipped:
    out = c.findtext("system-out") or ""
    reasons = re.findall(r"Skipped\s*\n?(.*)", out)
    reason = next((r.strip() for r in reasons if r.strip()), None)
    if reason is None:
        s = c.find("skipped")
        reason = s.get("message", "") if s is not None else c.get("status", "")
    print(f"  {c.get('name')}: {reason}")
PY
exit "$status"
