# shellcheck shell=bash
# scripts/lib/load-verdict.bash — what a script says of `keygate load`'s
# exit status (docs/cli.md, "Exit codes"), sourced by scripts/demo and
# tests/integration/demo_load_verdict.sh:
#
#   kg_load_verdict RC   0 for RC 0; else print one "FAILED: ..." line on
#                        stdout naming what RC means and return 1: 1 a
#                        threshold violated, 2 a run that could not happen
#                        (keygate's own line on stderr says why), 130/143
#                        a run cut short by SIGINT/SIGTERM.
kg_load_verdict() {
  case "$1" in
  0) return 0 ;;
  1) echo "FAILED: keygate load exited 1 (a threshold was violated: see its table above)" ;;
  2) echo "FAILED: keygate load exited 2 (the run could not happen: see its error line above)" ;;
  130 | 143) echo "FAILED: keygate load exited $1 (cut short by a signal)" ;;
  *) echo "FAILED: keygate load exited $1" ;;
  esac
  return 1
}
