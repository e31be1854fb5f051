# Loads an exported tiny-r1 directory (config.json + model.safetensors) into the PyTorch model with
# the stored values upcast to float32, so evaluations see exactly what the C++ engine reads.
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
import safetensors_io  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MODEL = os.path.join(REPO, "models", "tiny-r1")


def load_exported(model_dir):
    cfg = M.Config(json.load(open(os.path.join(model_dir, "config.json"))))
    model = M.DeepseekV3(cfg)
    tensors = safetensors_io.load(os.path.join(model_dir, "model.safetensors"))
    sd = model.state_dict()
    missing = set(sd) - set(tensors)
    extra = set(tensors) - set(sd)
    if missing or extra:
        raise ValueError("tensor names differ: missing %s, unexpected %s" % (sorted(missing)[:5], sorted(extra)[:5]))
    model.load_state_dict({k: v for k, (v, _) in tensors.items()})
    model.eval()
    return model
