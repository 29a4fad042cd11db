#!/usr/bin/env bash
# Bench: the allreduce of the book MLP's 1.6 MB of gradients between two MPI ranks in two
# network namespaces joined by a veth pair shaped to 1 Gbit/s (tc tbf): a two-node cluster
# on one machine.  Needs root and iproute2; creates only its own namespaces and removes
# them at the end.  Run from the repository root in the virtual environment:
#     sudo bash bench/mpi_netns.sh [RATE]        (default 1gbit)
# Two environment variables keep MPICH off shared memory (the namespaces share /dev/shm):
# MPIR_CVAR_NOLOCAL=1 (treat every rank as remote) and UCX_TLS=tcp (the UCX netmod's TCP
# transport), with UCX_NET_DEVICES naming each rank's end of the veth pair.
set -euo pipefail
rate="${1:-1gbit}"
rate_bits="$(python -c "import sys; r = sys.argv[1].lower(); u = {'gbit': 1e9, 'mbit': 1e6, 'kbit': 1e3}; print(next(float(r[:-len(k)]) * v for k, v in u.items() if r.endswith(k)))" "$rate")"
python="$(command -v python)"
mpiexec="$(dirname "$python")/mpiexec"
a=tgbench-a b=tgbench-b

cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add "$a"
ip netns add "$b"
ip link add tgbench-va type veth peer name tgbench-vb
ip link set tgbench-va netns "$a"
ip link set tgbench-vb netns "$b"
ip -n "$a" addr add 10.78.0.1/24 dev tgbench-va
ip -n "$b" addr add 10.78.0.2/24 dev tgbench-vb
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set tgbench-va up
ip -n "$b" link set tgbench-vb up
# a small burst (32 KB), so that the rate holds within one allreduce and not only on average
ip netns exec "$a" tc qdisc add dev tgbench-va root tbf rate "$rate" burst 32kb latency 50ms
ip netns exec "$b" tc qdisc add dev tgbench-vb root tbf rate "$rate" burst 32kb latency 50ms

"$mpiexec" -genv MPIR_CVAR_NOLOCAL 1 -genv UCX_TLS tcp \
    -n 1 -env UCX_NET_DEVICES tgbench-va ip netns exec "$a" "$python" bench/mpi_epoch.py allreduce "$rate_bits" : \
    -n 1 -env UCX_NET_DEVICES tgbench-vb ip netns exec "$b" "$python" bench/mpi_epoch.py allreduce "$rate_bits"
ip netns exec "$a" tc -s qdisc show dev tgbench-va | sed -n 2p | sed 's/^/veth a: /'
