#!/bin/bash
# The Locust workers of one sweep point on this load machine, and a CPU sampler per worker.
#   workers.sh start DIR HOST LOCUST LOCUSTFILE MASTER_HOST MASTER_PORT N[,N...] [LOCUST ARGS...]
#       start worker N (one per number) in the background, its rows and counters into DIR,
#       its log DIR/locust-worker-HOST-N.log, its PID DIR/worker-HOST-N.pid, and a sampler
#       writing "epoch cpu_seconds" of it every 0.5 s to DIR/cpu-worker-HOST-N.tsv
#   workers.sh sample OUT PID      (the sampler itself)
#   workers.sh stop DIR            stop what is left of the workers and samplers; one line per
#       worker: "worker HOST-N PID exited" (it had ended by itself) or "... stopped"
set -euo pipefail
action=$1

case "$action" in
  start)
    dir=$2 host=$3 locust=$4 locustfile=$5 master=$6 port=$7 numbers=$8
    shift 8
    for n in ${numbers//,/ }; do
      setsid nohup "$locust" -f "$locustfile" --worker --master-host="$master" \
        --master-port="$port" "$@" --sb-out="$dir" \
        > "$dir/locust-worker-$host-$n.log" 2>&1 < /dev/null &
      pid=$!
      echo "$pid" > "$dir/worker-$host-$n.pid"
      setsid nohup /bin/bash "$0" sample "$dir/cpu-worker-$host-$n.tsv" "$pid" \
        > /dev/null 2>&1 < /dev/null &
      echo "$!" > "$dir/sampler-$host-$n.pid"
      echo "started worker $host-$n $pid"
    done
    ;;
  sample)
    out=$2 pid=$3 hz=$(getconf CLK_TCK)
    # utime, stime, cutime, cstime: fields 14-17 of /proc/PID/stat (the name, field 2, is
    # "(locust)": no space in it)
    while [ -e "/proc/$pid" ]; do
      awk -v hz="$hz" -v t="$(date +%s.%N)" '{ printf "%s %.3f\n", t, ($14 + $15 + $16 + $17) / hz }' \
        "/proc/$pid/stat" >> "$out" 2>/dev/null || break
      sleep 0.5
    done
    ;;
  stop)
    dir=$2
    for pidfile in "$dir"/worker-*.pid; do
      [ -f "$pidfile" ] || continue
      name=$(basename "$pidfile" .pid) pid=$(cat "$pidfile")
      name=${name#worker-}
      if [ -e "/proc/$pid" ] && grep -q locust "/proc/$pid/cmdline" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 30); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        echo "worker $name $pid stopped"
      else
        echo "worker $name $pid exited"
      fi
      spid=$(cat "$dir/sampler-$name.pid" 2>/dev/null || true)
      if [ -n "$spid" ] && grep -q workers.sh "/proc/$spid/cmdline" 2>/dev/null; then
        kill -TERM "$spid" 2>/dev/null || true
      fi
    done
    ;;
  *) echo "workers.sh: unknown action '$action'" >&2; exit 2 ;;
esac
