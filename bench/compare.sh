#!/usr/bin/env bash
# Switchyard against the PyTorch reference, side by side, in one invocation.
#
#   bench/compare.sh [--routers "dense switch expert-choice"] [--steps 50] [--repetitions 3]
#                    [--warmup 10] [--threads 2] [--preset fmnist-small]
#                    [--route-routers "switch expert-choice"] [--tokens 1000,10000,100000]
#                    [--experts 2,8,32,128] [--width 64] [--route-repetitions 5] [--no-route]
#                    [--openblas-core NAME|detect] [--no-build] [--out DIR]
#
# Builds the release binary (make release), checks that python3 can import torch, then for
# each router runs `switchyard bench train` and `bench/torch_reference.py train` alternately,
# --repetitions times each (the side that goes first alternates too), and the same for the
# routing grid (`switchyard bench route` and `torch_reference.py route`). Prints markdown
# tables of the medians over the repetitions and the ratios Switchyard / PyTorch (throughput:
# images/s, or tokens/s for routing, so > 1 means Switchyard is faster). Raw JSON of every run
# stays in --out (default: a new temporary directory, printed at the end).
#
# --openblas-core NAME runs the Switchyard side with OPENBLAS_CORETYPE=NAME (e.g. SkylakeX, OpenBLAS's
# AVX-512 kernels; see docs/performance.md for when that is safe); --openblas-core detect runs
# it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE both unset, so that OpenBLAS picks its kernels
# for the CPU itself (the heading then names what it picked). The PyTorch side, whose BLAS is
# MKL, keeps the environment as it is. The kernel set each run used is in its JSON
# (blasKernels) and in the table heading.
#
# Routers on both sides (`switchyard routers` describes them; bench/torch_reference.py's docstring
# says how the PyTorch side matches each at Switchyard's defaults): --routers takes dense, switch,
# expert-choice, noisy-top-k, top-2, loss-free, top-p, sinkhorn and soft-moe; --route-routers the
# same without dense and soft-moe (Soft MoE mixes each image's tokens into slots: no per-token
# dispatch to time). `python3 bench/torch_reference.py selftest` checks the PyTorch side of the
# last four (loss-free's bias, top-p's prefix, Sinkhorn's balanced matrix, Soft MoE's D and C).
#
# The routing grid stops at 10^5 tokens by default: at 10^6, PyTorch takes seconds per call
# (Expert Choice), and the run would take most of an hour; add it with --tokens ...,1000000.
#
# Examples:
#   make bench-torch                                           # the defaults above
#   bench/compare.sh --routers "switch" --steps 20 --repetitions 1 --no-route
#   bench/compare.sh --routers "loss-free top-p sinkhorn soft-moe" --no-route
#   bench/compare.sh --routers "" --route-routers "loss-free top-p sinkhorn" --experts 4,32
#   bench/compare.sh --routers "" --route-routers "expert-choice" --tokens 1000,100000 --experts 4,64
#   bench/compare.sh --no-route --openblas-core SkylakeX
#   bench/compare.sh --no-route --openblas-core detect
#
# Needs PyTorch (optional for Switchyard; never needed by its tests):
#   pip install torch --index-url https://download.pytorch.org/whl/cpu
set -euo pipefail

ROUTERS="dense switch expert-choice"
STEPS=50
WARMUP=10
REPETITIONS=3
THREADS=2
PRESET=fmnist-small
ROUTE_ROUTERS="switch expert-choice"
TOKENS=1000,10000,100000
EXPERTS=2,8,32,128
WIDTH=64
ROUTE_REPETITIONS=5
ROUTE=1
BUILD=1
OUT=""
OPENBLAS_CORE=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --routers) ROUTERS="$2"; shift 2 ;;
        --steps) STEPS="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --repetitions) REPETITIONS="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --preset) PRESET="$2"; shift 2 ;;
        --route-routers) ROUTE_ROUTERS="$2"; shift 2 ;;
        --tokens) TOKENS="$2"; shift 2 ;;
        --experts) EXPERTS="$2"; shift 2 ;;
        --width) WIDTH="$2"; shift 2 ;;
        --route-repetitions) ROUTE_REPETITIONS="$2"; shift 2 ;;
        --no-route) ROUTE=0; shift ;;
        --no-build) BUILD=0; shift ;;
        --openblas-core) OPENBLAS_CORE="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

for number in "$STEPS" "$WARMUP" "$REPETITIONS" "$THREADS" "$WIDTH" "$ROUTE_REPETITIONS"; do
    case "$number" in
        ''|*[!0-9]*) echo "compare.sh: '$number' is not a whole number (--steps, --warmup, --repetitions, --threads, --width, --route-repetitions)" >&2; exit 2 ;;
    esac
done
if [ "$REPETITIONS" -lt 1 ] || [ "$STEPS" -lt 1 ]; then
    echo "compare.sh: --repetitions and --steps must be at least 1" >&2; exit 2
fi

TRAIN_ROUTERS="dense switch expert-choice noisy-top-k top-2 loss-free top-p sinkhorn soft-moe"
TOKEN_ROUTERS="switch expert-choice noisy-top-k top-2 loss-free top-p sinkhorn"
for router in $ROUTERS; do
    case " $TRAIN_ROUTERS " in
        *" $router "*) ;;
        *) echo "compare.sh: --routers: no PyTorch reference for '$router'; routers: $TRAIN_ROUTERS" >&2; exit 2 ;;
    esac
done
[ "$ROUTE" = 1 ] || ROUTE_ROUTERS=""
for router in $ROUTE_ROUTERS; do
    case " $TOKEN_ROUTERS " in
        *" $router "*) ;;
        *) echo "compare.sh: --route-routers: '$router' cannot be timed by bench route here; routers: $TOKEN_ROUTERS" \
               "(dense does not route; soft-moe has no per-token dispatch: compare it with --routers)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
BIN=.build/release/switchyard
REFERENCE=bench/torch_reference.py

if ! python3 -c 'import torch' 2>/dev/null; then
    cat >&2 <<'EOF'
compare.sh: python3 cannot import torch. PyTorch is an optional dependency of the benchmarks
(never of the tests); install the CPU build with
    pip install torch --index-url https://download.pytorch.org/whl/cpu
(in a virtual environment if you prefer: python3 -m venv .venv && . .venv/bin/activate first).
EOF
    exit 3
fi

if [ "$BUILD" = 1 ]; then
    echo "compare.sh: building the release binary (make release)" >&2
    make release >&2
fi
[ -x "$BIN" ] || { echo "compare.sh: $BIN is missing; run make release" >&2; exit 2; }
KNOWN=$("$BIN" routers | sed -n 's/^\([a-z0-9][a-z0-9-]*\)$/\1/p')
for router in $ROUTERS $ROUTE_ROUTERS; do
    printf '%s\n' "$KNOWN" | grep -qx -- "$router" \
        || { echo "compare.sh: $BIN has no router '$router' (switchyard routers lists its routers)" >&2; exit 2; }
done

# The Switchyard side's command prefix: OpenBLAS's kernel set when --openblas-core names one.
SY=("$BIN")
if [ -n "$OPENBLAS_CORE" ]; then
    case "$OPENBLAS_CORE" in
        *[!A-Za-z0-9]*) echo "compare.sh: --openblas-core '$OPENBLAS_CORE' is not a core name (e.g. Haswell, SkylakeX)" >&2; exit 2 ;;
    esac
    if [ "$OPENBLAS_CORE" = detect ]; then
        SY=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$BIN")
    else
        SY=(env "OPENBLAS_CORETYPE=$OPENBLAS_CORE" "$BIN")
    fi
fi

if [ -z "$OUT" ]; then OUT=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-compare.XXXXXX"); fi
mkdir -p "$OUT"

# Runs "switchyard first" on odd repetitions and "PyTorch first" on even ones.
alternate() {  # alternate REPETITION SWITCHYARD_FUNCTION PYTORCH_FUNCTION
    if [ $(( $1 % 2 )) -eq 1 ]; then "$2"; "$3"; else "$3"; "$2"; fi
}

for router in $ROUTERS; do
    for rep in $(seq 1 "$REPETITIONS"); do
        echo "compare.sh: train $router, repetition $rep of $REPETITIONS" >&2
        sy_train() {
            "${SY[@]}" bench train --preset "$PRESET" --router "$router" --steps "$STEPS" --warmup "$WARMUP" \
                --threads "$THREADS" --quiet --json "$OUT/train-$router-switchyard-$rep.json" > /dev/null
        }
        pt_train() {
            python3 "$REFERENCE" train --preset "$PRESET" --router "$router" --steps "$STEPS" --warmup "$WARMUP" \
                --threads "$THREADS" > "$OUT/train-$router-pytorch-$rep.jsonl" 2> /dev/null
        }
        alternate "$rep" sy_train pt_train
    done
done

if [ "$ROUTE" = 1 ]; then
    for router in $ROUTE_ROUTERS; do
        for rep in $(seq 1 "$REPETITIONS"); do
            echo "compare.sh: route $router, repetition $rep of $REPETITIONS" >&2
            sy_route() {
                "${SY[@]}" bench route --router "$router" --tokens "$TOKENS" --experts "$EXPERTS" --width "$WIDTH" \
                    --repetitions "$ROUTE_REPETITIONS" --threads "$THREADS" --quiet \
                    --json "$OUT/route-$router-switchyard-$rep.json" > /dev/null
            }
            pt_route() {
                python3 "$REFERENCE" route --router "$router" --tokens "$TOKENS" --experts "$EXPERTS" --width "$WIDTH" \
                    --repetitions "$ROUTE_REPETITIONS" --threads "$THREADS" > "$OUT/route-$router-pytorch-$rep.jsonl" 2> /dev/null
            }
            alternate "$rep" sy_route pt_route
        done
    done
fi

python3 - "$OUT" "$PRESET" "$STEPS" "$WARMUP" "$THREADS" "$REPETITIONS" "$ROUTERS" "$ROUTE_ROUTERS" "$ROUTE" <<'PY'
import glob, json, os, platform, statistics, sys

out, preset, steps, warmup, threads, reps, routers, route_routers, route = sys.argv[1:]
routers, route_routers = routers.split(), route_routers.split()

def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip().startswith("{")]

def fmt(x, digits=1):
    return "—" if x is None else f"{x:.{digits}f}"

try:
    import torch
    torch_version = torch.__version__
except Exception:
    torch_version = "?"
print(f"## Switchyard vs PyTorch {torch_version}: preset {preset}, {threads} threads, {steps} timed steps after "
      f"{warmup} warm-up, median of {reps} alternating repetitions ({platform.machine()}, {os.cpu_count()} cores)\n")
kernels = sorted({json.load(open(p)).get("blasKernels", "?") for p in glob.glob(f"{out}/*-switchyard-*.json")})
if kernels:
    print(f"Switchyard's OpenBLAS kernels: {', '.join(kernels)}.\n")

if routers:
    print("| router | Switchyard images/s | PyTorch images/s | Switchyard / PyTorch | Switchyard model GFLOP/s | "
          "share of sgemm peak | PyTorch model GFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    for router in routers:
        sy = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/train-{router}-switchyard-*.json"))]
        pt = [l for p in sorted(glob.glob(f"{out}/train-{router}-pytorch-*.jsonl")) for l in lines(p)]
        sy_rate = statistics.median(r["medianImagesPerSecond"] for r in sy) if sy else None
        pt_rate = statistics.median(r["median_images_per_second"] for r in pt) if pt else None
        ratio = sy_rate / pt_rate if sy_rate and pt_rate else None
        gflops = statistics.median(r["modelGFLOPS"] for r in sy) if sy else None
        shares = [r["shareOfPeak"] for r in sy if r.get("shareOfPeak") is not None]
        share = f"{statistics.median(shares) * 100:.1f}%" if shares else "—"
        pt_gflops = statistics.median(r["model_gflops"] for r in pt) if pt else None
        print(f"| {router} | {fmt(sy_rate)} | {fmt(pt_rate)} | {fmt(ratio, 2)}× | {fmt(gflops)} | {share} | {fmt(pt_gflops)} |")
    print("\nTargets: Switchyard / PyTorch ≥ 2 for switch, expert-choice and dense; share of the sgemm peak ≥ 40%. "
          "Model FLOPs: analytic, training = 3 × forward (docs/performance.md).\n")

if route == "1" and route_routers:
    print("| router | n | E | k | Switchyard ns/token | PyTorch ns/token | Switchyard / PyTorch (tokens/s) |")
    print("|---|---|---|---|---|---|---|")
    for router in route_routers:
        cells = {}
        for p in sorted(glob.glob(f"{out}/route-{router}-switchyard-*.json")):
            for c in json.load(open(p))["cells"]:
                if c.get("skipped") is None:
                    cells.setdefault((c["tokens"], c["experts"], c["k"]), ([], []))[0].append(c["totalNanosecondsPerToken"])
        for p in sorted(glob.glob(f"{out}/route-{router}-pytorch-*.jsonl")):
            for c in lines(p):
                if c.get("skipped") is None:
                    cells.setdefault((c["tokens"], c["experts"], c["k"]), ([], []))[1].append(c["total_ns_per_token"])
        for (n, e, k), (sy, pt) in sorted(cells.items()):
            s = statistics.median(sy) if sy else None
            t = statistics.median(pt) if pt else None
            ratio = t / s if s and t else None
            print(f"| {router} | {n} | {e} | {k} | {fmt(s)} | {fmt(t)} | {fmt(ratio, 2)}× |")
    print("\nRoute + dispatch + combine, forward and backward, per MoE layer call; expert compute excluded "
          "(identity experts). Target: Switchyard / PyTorch ≥ 3.\n")
print(f"Raw results: {out}")
PY
