"""Regenerate tests/golden/predict.json: `python tests/golden/regenerate.py`.

Goldens pin the model's own output so that a change in physics is noticed; a commit that moves
one must say why (they are not measurements: validation/ holds those).
"""

from __future__ import annotations

import json
from pathlib import Path

from roofline.api import predict
from roofline.model.workload import Workload

CASES = [
    ("jetson-orin-nano-8gb", "olmoe-1b-7b", "tg128", 0, 1, None),
    ("jetson-orin-nano-8gb", "llama-3.2-1b", "tg128", 0, 1, None),
    ("jetson-orin-nano-8gb", "olmoe-1b-7b", "tg128", 0, 1, "llama.cpp-cuda-b4404"),
    ("jetson-orin-nano-8gb", "qwen2.5-1.5b", "pp512", 0, 1, None),
    ("jetson-orin-nano-8gb", "qwen3-30b-a3b", "tg128", 0, 1, None),
    ("apple-m2-pro", "olmoe-1b-7b", "tg128", 0, 1, None),
    ("apple-m2-pro", "gemma-2-2b", "pp512", 2048, 1, None),
    ("apple-m4-max", "qwen3-30b-a3b", "tg128", 4096, 1, None),
    ("apple-m3-ultra", "deepseek-v3", "tg128", 0, 1, None),
    ("rtx-4090", "llama-3.1-8b", "tg128", 0, 1, None),
    ("rtx-4090", "mixtral-8x7b", "tg128", 0, 1, None),
    ("rtx-3090", "llama-3.1-8b", "pp512", 0, 1, None),
    ("rtx-5090", "gpt-oss-20b", "tg128", 0, 4, None),
    ("h100-sxm-80gb", "qwen3-30b-a3b", "tg128", 1024, 64, "vllm"),
    ("h200-sxm-141gb", "llama-3.1-70b", "pp512", 0, 8, "vllm"),
    ("a100-sxm-80gb", "mixtral-8x7b", "tg128", 0, 16, "hf-transformers"),
    ("ryzen-9-7950x", "olmoe-1b-7b", "tg128", 0, 1, None),
    ("ryzen-9-7950x", "llama-3.2-3b", "pp512", 0, 1, None),
    ("raspberry-pi-5-8gb", "llama-3.2-1b", "tg128", 0, 1, None),
    ("snapdragon-x-elite", "qwen3-4b", "tg128", 0, 1, None),
    ("dgx-spark-gb10", "gpt-oss-120b", "tg128", 0, 1, None),
    ("ryzen-ai-max-plus-395", "llama-4-scout", "tg128", 0, 1, None),
    ("radeon-rx-7900-xtx", "qwen3-14b", "tg128", 0, 1, None),
    ("jetson-agx-orin-64gb", "deepseek-v2-lite", "tg128", 512, 1, None),
    ("intel-core-ultra-7-258v", "granite-3.1-3b-a800m", "tg128", 0, 1, None),
]


def snapshot() -> list[dict]:
    out = []
    for device, model, test, depth, batch, engine in CASES:
        p = predict(device, model, Workload(test=test, depth=depth, batch=batch), engine=engine)
        j = p.to_json()
        out.append(
            {
                "args": [device, model, test, depth, batch, engine],
                "tokens_per_second": j["tokens_per_second"],
                "bound": j["bound"],
                "memory_total_bytes": j["memory"]["total_bytes"],
                "fits": j["memory"]["fits"],
                "joules_per_token": j["energy"]["joules_per_token"],
                "ops": {o["op"]: o["seconds"] for o in j["breakdown"]},
            }
        )
    return out


if __name__ == "__main__":
    path = Path(__file__).with_name("predict.json")
    path.write_text(json.dumps(snapshot(), indent=1) + "\n")
    print(f"wrote {path}")
