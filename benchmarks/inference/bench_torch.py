"""PyTorch side of the inference benchmark: same bundle, same timings as `ecg2cmr bench`.

    python benchmarks/inference/bench_torch.py --model DIR --threads 2 [--iterations 20]

Prints one JSON object: encoderMilliseconds (encoder + all heads, one ECG, no_grad),
encoderBatchECGPerSecond (the same on batches of --batch distinct ECGs, as `ecg2cmr bench`),
gradCAMMilliseconds (one head, autograd), generationMilliseconds (DDIM + SAX and LAX frames).
Medians after one warm-up run.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../training"))
from ecg2cmr_train.bundle import load_bundle, synthetic_inputs  # noqa: E402
from ecg2cmr_train.beats import batch_beat_features, beat_features  # noqa: E402
from ecg2cmr_train.model import (DiffusionSchedule, beat_gradcam, ddim_sample, generate_cine, gradcam,  # noqa: E402
                                 seeded_gaussian)


def timed(n, fn):
    fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--batch", type=int, default=16, help="ECGs per batch for the throughput figure")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    enc, gen, manifest = load_bundle(args.model)
    inp = manifest["input"]
    x = torch.from_numpy(synthetic_inputs(len(inp["leads"]), inp["sampleCount"], inp["samplingRate"], 1)[0])
    out = {"modelID": manifest["id"], "torchThreads": torch.get_num_threads(), "torchVersion": torch.__version__}

    beat_aware = manifest["encoder"]["type"] == "beatvit1d"

    # A beat-aware bundle reads R peaks and median beats (beats.py, the engine's algorithm). They
    # are computed once, outside the timing: PyTorch is timed on the network alone, while the
    # engine's figure also includes its beat extraction, so the ratio does not flatter the engine.
    beat_cache = {}

    def beat_input():
        if not beat_cache:
            f = beat_features(x.numpy(), inp["leads"], inp["samplingRate"], manifest["encoder"]["beats"])
            beat_cache["v"] = (f, torch.from_numpy(f["median_beat"]).float(), torch.from_numpy(f["rhythm"]).float())
        return beat_cache["v"]

    def forward():
        with torch.no_grad():
            if beat_aware:
                _, beats, rhythm = beat_input()
                return enc({"beats": beats.unsqueeze(0), "rhythm": rhythm.unsqueeze(0)})
            return enc(x.unsqueeze(0))
    out["encoderMilliseconds"] = timed(args.iterations, forward)

    # Throughput on batches of distinct ECGs (as `ecg2cmr bench --batch`), with as many timed runs as there.
    xs = torch.from_numpy(synthetic_inputs(len(inp["leads"]), inp["sampleCount"], inp["samplingRate"], args.batch, seed=1))
    if beat_aware:
        f = batch_beat_features(xs.numpy(), inp["leads"], inp["samplingRate"], manifest["encoder"]["beats"])
        batch_in = {"beats": torch.from_numpy(f["median_beat"]).float(), "rhythm": torch.from_numpy(f["rhythm"]).float()}
    else:
        batch_in = xs

    def forward_batch():
        with torch.no_grad():
            return enc(batch_in)
    out["encoderBatchECGPerSecond"] = args.batch / (timed(max(3, args.iterations // 4), forward_batch) / 1000)
    if manifest["heads"]:
        h = manifest["heads"][0]["name"]
        if beat_aware:
            def cam():
                f, beats, rhythm = beat_input()
                beat_gradcam(enc, beats, rhythm, f["peaks"], x.shape[1], manifest["encoder"]["beats"]["preSamples"],
                             manifest["gradcam"]["layer"], h, 0)
            out["gradCAMMilliseconds"] = timed(args.iterations, cam)
        else:
            out["gradCAMMilliseconds"] = timed(args.iterations, lambda: gradcam(enc, x, manifest["gradcam"]["layer"], h, 0))
    if gen is not None and beat_aware:
        g = manifest["generator"]
        sched = DiffusionSchedule(g["diffusion"]["steps"], g["diffusion"]["betaStart"], g["diffusion"]["betaEnd"])
        o = forward()
        phases = torch.arange(args.frames, dtype=torch.float32) / args.frames
        out["generationMilliseconds"] = timed(max(1, args.iterations // 5), lambda: generate_cine(
            gen.eval(), sched, g["diffusion"]["samplingSteps"], float(g["guidance"]), o["heads"][g["anatomy"]["head"]][0],
            o["embedding"][0], 1, phases, g["pose"]["rotationDegrees"], g["pose"]["shiftPixels"]))
    elif gen is not None:
        g = manifest["generator"]
        sched = DiffusionSchedule(g["diffusion"]["steps"], g["diffusion"]["betaStart"], g["diffusion"]["betaEnd"])
        with torch.no_grad():
            emb = enc(x.unsqueeze(0))["embedding"]
        phases = torch.arange(args.frames, dtype=torch.float32) / args.frames

        def generate():
            with torch.no_grad():
                noise = torch.from_numpy(seeded_gaussian(1, gen.latent * 2)).reshape(1, -1)
                z = gen.destandardise(ddim_sample(gen.prior, sched, emb, noise, g["diffusion"]["samplingSteps"]))[0]
                zs = gen.split(z)
                for v in gen.view_names:
                    gen.decode(v, zs[v], phases)
        out["generationMilliseconds"] = timed(max(1, args.iterations // 5), generate)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
