#!/usr/bin/env bash
# The suite's load-proofing checks (not part of `make test`; run before a release or after touching the sweep,
# the store or the executors):
#
#   tools/stress_tests.sh kill [N]   the process-killing tests N times in a row (default 5): random SIGKILLs of a
#                                    sweep, simultaneous sweeps, a killed driver / pool worker / Ray worker, a
#                                    requeued Slurm job, SIGTERM to `largelr run` and during ray.init, the lease race
#   tools/stress_tests.sh loaded     `make test` while two CPU-bound processes keep both cores busy
#
# Both stop at the first failure and print the load average at each start.
set -euo pipefail
cd "$(dirname "$0")/.."
KILL_TESTS="sigkill or two_sweeps_started or driver_is_killed or killed_pool_worker or serial_sweep_stops or sigterm \
or ray_worker_killed or requeued_slurm or simultaneous_claims"
case "${1:-}" in
  kill)
    make .venv/.installed >/dev/null
    for i in $(seq 1 "${2:-5}"); do
      echo "=== repeat $i $(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg)"
      .venv/bin/pytest -q -rs -p no:cacheprovider tests/test_sweep_safety.py tests/test_checkpoint.py \
        tests/test_executors_cluster.py tests/test_leases.py tests/test_ray_connect.py -k "$KILL_TESTS"
    done ;;
  loaded)
    python3 -c 'while True: pass' & l1=$!
    python3 -c 'while True: pass' & l2=$!
    trap 'kill $l1 $l2' EXIT
    echo "=== make test with both cores kept busy (pids $l1 $l2), $(date +%T)"
    make test ;;
  *)
    echo "usage: tools/stress_tests.sh kill [N] | loaded" >&2; exit 2 ;;
esac
