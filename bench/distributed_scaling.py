#!/usr/bin/env python3
"""Data-parallel scaling of `plural train`: pairs/s on 1, 2 and 4 processes of this machine, the measured all-reduce
cost per step, and a projection to 8, 64 and 512 ranks on a 10-million-comparison set (docs/distributed.md).

    /usr/bin/python3 bench/distributed_scaling.py --plural build/plural [--json]

Each rank of the projection is a machine like this one (2 cores); the network is an assumption (--gbps, --alpha-us),
everything else is measured here: compute per pair from the 1-process run, floats per all-reduce from the model.
"""
import argparse, json, os, socket, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
    return out.stdout


def train(args, work, model, procs, threads):
    base = [args.plural, "train", "--data", f"{work}/data.h5", "--cache", f"{work}/cache.h5", "--encoder",
            args.encoder, "--model", model, "--epochs", str(args.epochs), "--patience", "0", "--batch-size",
            str(args.batch), "--threads", str(threads), "--json", "-q", "-o", f"{work}/{model}.{procs}.pt"]
    if procs == 1:
        out = run(base)
    else:
        out = run(["torchrun", "--no_python", "--redirects", "1", "--tee", "1", "--nproc_per_node", str(procs),
                   "--master_addr", "127.0.0.1", "--master_port", str(free_port())] + base)
    line = next(l for l in out.splitlines() if "{" in l and "pairs_per_second" in l)
    return json.loads(line[line.index("{"):])


def allreduce_seconds(floats, ranks, gbps, alpha_us):
    """Ring all-reduce: 2(R-1)/R of the gradient bytes cross each link, in 2(R-1) latency-bound messages."""
    if ranks == 1:
        return 0.0
    return 2 * (ranks - 1) / ranks * floats * 4 / (gbps * 1e9 / 8) + 2 * (ranks - 1) * alpha_us * 1e-6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plural", default=os.path.join(ROOT, "build", "plural"))
    ap.add_argument("--models", default="pal-b,vpl")
    ap.add_argument("--users", type=int, default=400)
    ap.add_argument("--pairs", type=int, default=250, help="train pairs per user")
    ap.add_argument("--encoder", default="hashed:dim=384", help="MiniLM's width, without encoding cost")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4096, help="global batch of the measured runs")
    ap.add_argument("--gbps", type=float, default=10.0, help="assumed network bandwidth per rank (Gbit/s)")
    ap.add_argument("--alpha-us", type=float, default=50.0, help="assumed per-message latency (µs)")
    ap.add_argument("--comparisons", type=float, default=1e7, help="size of the projected data set")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as work:
        run([args.plural, "import", "persona-k", "--statements", f"{ROOT}/data/persona/statements.tsv.gz", "--k", "4",
             "--seen-users", str(args.users), "--unseen-users", "2", "--train-pairs", str(args.pairs), "--val-pairs",
             "5", "--test-pairs", "2", "--seed", "11", "-o", f"{work}/data.h5"])
        run([args.plural, "encode", "--data", f"{work}/data.h5", "--cache", f"{work}/cache.h5", "--encoder",
             args.encoder, "-q"])
        measured, projected = [], []
        for model in args.models.split(","):
            runs = {}
            for procs in (1, 2, 4):
                r = train(args, work, model, procs, max(1, cores // procs))
                runs[procs] = r
                per_step = r["comm_seconds"] / max(r["steps"], 1)
                measured.append({"model": model, "processes": procs, "threads": max(1, cores // procs),
                                 "pairs_per_second": r["pairs_per_second"],
                                 "speedup": r["pairs_per_second"] / runs[1]["pairs_per_second"],
                                 "allreduce_ms_per_step": 1e3 * per_step,
                                 "allreduce_floats": r["allreduce_floats"] or runs.get(2, {}).get("allreduce_floats", 0)})
            floats = runs[2]["allreduce_floats"]
            compute_per_pair = 1.0 / runs[1]["pairs_per_second"]  # one 2-core rank, no communication
            for ranks in (1, 8, 64, 512):
                for label, batch in (("global 4096", 4096), ("4096 per rank", 4096 * ranks)):
                    step = compute_per_pair * batch / ranks + allreduce_seconds(floats, ranks, args.gbps, args.alpha_us)
                    rate = batch / step
                    projected.append({"model": model, "ranks": ranks, "batch": label, "pairs_per_second": rate,
                                      "efficiency": rate / (ranks / compute_per_pair),
                                      "epoch_seconds": args.comparisons / rate})
    result = {"measured": measured, "projected": projected,
              "assumptions": {"gbps": args.gbps, "alpha_us": args.alpha_us, "comparisons": args.comparisons,
                              "rank": f"{cores} cores like this machine", "encoder": args.encoder,
                              "users": args.users, "pairs_per_user": args.pairs, "batch": args.batch}}
    if args.json:
        print(json.dumps(result))
        return
    print("measured on this machine (global batch %d, %s features)" % (args.batch, args.encoder))
    print("| model | processes × threads | pairs/s | vs 1 process | all-reduce ms/step | floats/step |")
    print("|---|---|---|---|---|---|")
    for m in measured:
        print(f"| {m['model']} | {m['processes']} × {m['threads']} | {m['pairs_per_second']:.0f} | {m['speedup']:.2f} | "
              f"{m['allreduce_ms_per_step']:.2f} | {m['allreduce_floats']} |")
    print(f"\nprojected: ranks of {cores} cores, {args.gbps:g} Gbit/s, {args.alpha_us:g} µs per message, "
          f"{args.comparisons:.0e} comparisons")
    print("| model | ranks | batch | pairs/s | scaling efficiency | epoch |")
    print("|---|---|---|---|---|---|")
    for p in projected:
        print(f"| {p['model']} | {p['ranks']} | {p['batch']} | {p['pairs_per_second']:.3g} | {p['efficiency']:.2f} | "
              f"{p['epoch_seconds']:.3g} s |")


if __name__ == "__main__":
    main()
